//! The recorder thread: takes the frames the hubs offer, appends them to segment files,
//! indexes them every [`super::FLUSH_INTERVAL`], ends segments by the rules of [`super::cut`],
//! keeps within the retention limits, and pauses (with the reason) when the disk is full or
//! writing fails, resuming by itself once it can.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use framecast_shared::{RecordingInfo, RecordingState};

use super::cut::{self, Decision};
use super::disk::DiskProbe;
use super::frame_index::FrameIndexBuilder;
use super::reader::Reader;
use super::schema::StoreError;
use super::store::{SegmentFormat, SegmentUpdate, Store};
use super::{FLUSH_INTERVAL, GAP, Msg, SEGMENT_LENGTH, retention};
use crate::config::RecordConfig;
use crate::hub::{Frame, Hub};

/// One camera as the recorder thread sees it.
pub(super) struct CameraRecording {
    hub: Hub,
    camera_id: i64,
    open: Option<OpenSegment>,
    /// When the last frame arrived (gap detection).
    last_arrival: Option<Instant>,
    /// Capture time of the last frame written (`--record-fps`).
    last_written_us: Option<u64>,
    /// Camera `seq` of the last frame written (an H.264 picture needs the one before it).
    last_written_seq: Option<u64>,
    dropped: Arc<AtomicU64>,
}

impl CameraRecording {
    pub(super) fn new(hub: Hub, camera_id: i64, dropped: Arc<AtomicU64>) -> CameraRecording {
        CameraRecording {
            hub,
            camera_id,
            open: None,
            last_arrival: None,
            last_written_us: None,
            last_written_seq: None,
            dropped,
        }
    }
}

/// A segment being written.
struct OpenSegment {
    id: i64,
    path: PathBuf,
    file: BufWriter<File>,
    table: FrameIndexBuilder,
    start_us: u64,
    width: u32,
    height: u32,
    /// Fingerprint of its codec and parameter sets ([`stream_fingerprint`]).
    stream: u64,
    /// Bytes of the file the index already covers (what a failed write is cut back to).
    committed_bytes: u64,
}

/// The recorder thread's state: every recorded camera's open segment, the index's write
/// handle, and whether recording is paused and why.
pub(super) struct Writer {
    pub(super) config: RecordConfig,
    pub(super) store: Store,
    pub(super) reader: Arc<Reader>,
    pub(super) probe: Box<dyn DiskProbe>,
    pub(super) cameras: Vec<CameraRecording>,
    /// Why recording is paused, when it is.
    pub(super) paused: Option<String>,
    /// An H.264 picture as Annex B, as it goes into its file.
    pub(super) annexb: Vec<u8>,
}

/// A fingerprint of a frame's codec and parameter sets: 0 for a JPEG, a hash of the `avcC`
/// for H.264 (never 0). Equal parameter sets give equal fingerprints even when a restarted
/// camera sends them anew.
fn stream_fingerprint(frame: &Frame) -> u64 {
    use std::hash::{Hash, Hasher};
    match &frame.h264 {
        None => 0,
        Some(h264) => {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            h264.stream.avcc.hash(&mut hasher);
            hasher.finish() | 1
        }
    }
}

impl Writer {
    /// Writes what arrives on `rx` until [`Msg::Stop`] or until every sender is gone, then
    /// writes out what is queued and closes every segment.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        let mut next_flush = Instant::now() + FLUSH_INTERVAL;
        loop {
            match rx.recv_timeout(next_flush.saturating_duration_since(Instant::now())) {
                Ok(Msg::Frame(camera, frame)) => self.on_frame(camera, &frame),
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_flush {
                self.flush();
                next_flush = Instant::now() + FLUSH_INTERVAL;
            }
        }
        // Everything still queued was offered before the stop: keep it.
        while let Ok(Msg::Frame(camera, frame)) = rx.try_recv() {
            self.on_frame(camera, &frame);
        }
        for camera in 0..self.cameras.len() {
            self.close_segment(camera);
        }
        tracing::info!("recorder stopped");
    }

    fn on_frame(&mut self, camera: usize, frame: &Frame) {
        let rules = cut::Rules {
            segment_length: SEGMENT_LENGTH,
            segment_bytes: self.config.segment_bytes(),
            max_fps: self.config.max_fps,
        };
        let cam = &mut self.cameras[camera];
        cam.last_arrival = Some(Instant::now());
        if self.paused.is_some() {
            return;
        }
        let open = cam.open.as_ref().map(|open| cut::OpenSegment {
            start_us: open.start_us,
            last_us: open.table.last_us(),
            frames: open.table.frames(),
            bytes: open.table.data_bytes(),
            size: (open.width, open.height),
            stream: open.stream,
        });
        // The bytes that go into the file: the JPEG, or the H.264 picture as Annex B with the
        // parameter sets before a keyframe.
        let (data, picture): (&[u8], _) = match frame.access_unit() {
            None => (&frame.data, cut::Picture::Jpeg),
            Some(unit) => {
                self.annexb.clear();
                if let Err(e) = unit.write_annexb(&mut self.annexb) {
                    tracing::debug!(camera = %cam.hub.id(), "not recorded: {e}");
                    return;
                }
                let picture = if unit.keyframe {
                    cut::Picture::Key
                } else {
                    cut::Picture::Delta { follows: cam.last_written_seq.is_some_and(|s| s + 1 == frame.seq) }
                };
                (&self.annexb, picture)
            }
        };
        let offered = cut::Offered {
            captured_us: frame.captured_us,
            bytes: data.len() as u64,
            size: (frame.width, frame.height),
            stream: stream_fingerprint(frame),
            picture,
        };
        match cut::decide(&rules, open.as_ref(), cam.last_written_us, &offered) {
            Decision::Skip => return,
            Decision::Append => {}
            Decision::Start { cut, continues } => {
                if cut.is_some() {
                    self.close_segment(camera);
                    // Make room before the next segment, so disk use never passes the size
                    // plus the one segment being written.
                    self.enforce_retention();
                }
                if let Err(e) = self.open_segment(camera, frame, offered.stream, continues) {
                    self.failed(camera, &e);
                    return;
                }
            }
        }
        let data: &[u8] = if frame.h264.is_some() { &self.annexb } else { &frame.data };
        let cam = &mut self.cameras[camera];
        let Some(open) = cam.open.as_mut() else { return };
        if let Err(e) = open.file.write_all(data) {
            let e = StoreError::Io { path: open.path.display().to_string(), source: e };
            self.failed(camera, &e);
            return;
        }
        open.table.push(frame.captured_us, offered.bytes as u32, frame.keyframe());
        cam.last_written_us = Some(frame.captured_us);
        cam.last_written_seq = Some(frame.seq);
    }

    fn open_segment(
        &mut self,
        camera: usize,
        frame: &Frame,
        stream: u64,
        continues: bool,
    ) -> Result<(), StoreError> {
        let cam = &self.cameras[camera];
        let format = SegmentFormat {
            width: frame.width,
            height: frame.height,
            codec: frame.codec(),
            avcc: frame.h264.as_ref().map(|h| h.stream.avcc.clone()),
        };
        let (id, path) = self.store.create_segment(cam.camera_id, frame.captured_us, &format, continues)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::Io { path: path.display().to_string(), source: e })?;
        self.cameras[camera].open = Some(OpenSegment {
            id,
            path,
            file: BufWriter::with_capacity(256 * 1024, file),
            table: FrameIndexBuilder::new(frame.captured_us, frame.h264.is_some()),
            start_us: frame.captured_us,
            width: frame.width,
            height: frame.height,
            stream,
            committed_bytes: 0,
        });
        Ok(())
    }

    /// Writing failed: the segment ends at what is indexed, recording pauses.
    fn failed(&mut self, camera: usize, e: &StoreError) {
        tracing::warn!(camera = %self.cameras[camera].hub.id(), "recording paused: {e}");
        if let Some(open) = self.cameras[camera].open.take() {
            // The file may hold part of a frame past what the index covers: cut it back.
            let OpenSegment { id, path, file, committed_bytes, .. } = open;
            let file = file.into_parts().0;
            let _ = file.set_len(committed_bytes);
            if committed_bytes == 0 {
                let _ = self.store.delete_segment(id);
            }
            drop(path);
        }
        self.paused = Some(if e.is_disk_full() {
            "the disk is full".to_string()
        } else {
            format!("writing failed: {e}")
        });
        self.report();
    }

    /// Syncs a segment and indexes it, then forgets it (the camera's next frame opens the next).
    fn close_segment(&mut self, camera: usize) {
        if self.cameras[camera].open.is_none() {
            return;
        }
        if let Err(e) = self.sync_and_commit(&[camera]) {
            self.failed(camera, &e);
            return;
        }
        if let Some(open) = self.cameras[camera].open.take()
            && open.table.frames() == 0
        {
            let _ = self.store.delete_segment(open.id);
        }
    }

    /// Write → fsync → row, for the open segments of `cameras`.
    fn sync_and_commit(&mut self, cameras: &[usize]) -> Result<(), StoreError> {
        for &camera in cameras {
            if let Some(open) = self.cameras[camera].open.as_mut() {
                let io = |e| StoreError::Io { path: open.path.display().to_string(), source: e };
                open.file.flush().map_err(io)?;
                open.file.get_ref().sync_data().map_err(io)?;
            }
        }
        let updates: Vec<SegmentUpdate<'_>> = cameras
            .iter()
            .filter_map(|&c| self.cameras[c].open.as_ref())
            .filter(|open| open.table.frames() > 0)
            .map(|open| SegmentUpdate::of(open.id, &open.table))
            .collect();
        self.store.commit(&updates)?;
        for &camera in cameras {
            if let Some(open) = self.cameras[camera].open.as_mut() {
                open.committed_bytes = open.table.data_bytes();
            }
        }
        Ok(())
    }

    /// The periodic work: sync and index, end segments of silent cameras, retention, status.
    fn flush(&mut self) {
        let all: Vec<usize> = (0..self.cameras.len()).collect();
        if let Err(e) = self.sync_and_commit(&all) {
            // Which camera's write failed is not known here: pause them all.
            for camera in all.clone() {
                self.failed(camera, &e);
            }
        }
        for camera in all {
            let silent = self.cameras[camera].last_arrival.is_none_or(|t| t.elapsed() >= GAP);
            if silent && self.cameras[camera].open.is_some() {
                self.close_segment(camera);
            }
        }
        self.enforce_retention();
        self.report();
    }

    fn enforce_retention(&mut self) {
        let open: Vec<i64> = self.cameras.iter().filter_map(|c| c.open.as_ref().map(|o| o.id)).collect();
        let limits = retention::Limits {
            max_bytes: self.config.retain_size,
            max_age_us: self.config.retain_age.map(|a| a.as_micros() as u64),
            min_free: self.config.min_free,
        };
        let outcome = retention::enforce(
            &mut self.store,
            &*self.probe,
            &open,
            &limits,
            framecast_shared::unix_micros_now(),
        );
        match outcome {
            Ok(retention::Outcome { deleted, freed, disk_ok }) => {
                if deleted > 0 {
                    tracing::debug!("retention deleted {deleted} segments ({freed} bytes)");
                }
                match (disk_ok, &self.paused) {
                    (retention::DiskState::Ok, Some(_)) => {
                        tracing::info!("recording resumed");
                        self.paused = None;
                    }
                    (retention::DiskState::TooFull { free }, _) => {
                        let reason = format!(
                            "the disk is nearly full ({:.1} % free, --min-free {:.1} %) and no recording is left to delete",
                            free * 100.0,
                            self.config.min_free * 100.0
                        );
                        if self.paused.as_deref() != Some(reason.as_str()) {
                            tracing::warn!("recording paused: {reason}");
                            for camera in 0..self.cameras.len() {
                                self.close_segment(camera);
                            }
                            self.paused = Some(reason);
                        }
                    }
                    _ => {}
                }
            }
            Err(e) => tracing::warn!("retention: {e}"),
        }
    }

    /// Tells every recorded camera's hub how its recording stands.
    pub(super) fn report(&self) {
        for cam in &self.cameras {
            let (bytes, oldest_us, newest_us) = self.reader.summary(cam.hub.id()).unwrap_or((0, None, None));
            cam.hub.set_recording(RecordingInfo {
                state: if self.paused.is_some() { RecordingState::Paused } else { RecordingState::Recording },
                reason: self.paused.clone(),
                bytes,
                oldest_us,
                newest_us,
                dropped: cam.dropped.load(Ordering::Relaxed),
            });
        }
    }
}
