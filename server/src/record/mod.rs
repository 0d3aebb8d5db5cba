//! Recording: every frame of the recorded cameras, kept on disk within the limits given.
//!
//! The data path: a camera's hub offers each published frame to the [`Recorder`] (its
//! [`crate::hub::FrameTap`]) through a bounded queue, and one recorder thread appends the
//! JPEGs to segment files and indexes them ([`store`]). The queue holds about two seconds of
//! frames, so a disk that stalls briefly loses nothing; one that stalls longer drops frames
//! (counted in the camera's `recording.dropped`) and never slows the camera or its viewers.
//! Reading the recordings back is [`store::Reader`]'s job ([`playback`], the HTTP
//! endpoints).
//!
//! Every [`FLUSH_INTERVAL`] the thread syncs the open segments and commits their rows (the
//! most a crash can lose), then enforces retention ([`retention`]): `--retain-age`, then
//! `--retain-size`, then the free-space floor `--min-free`, always deleting the oldest
//! segments first and never the ones being written. When the floor cannot be kept by
//! deleting recordings (something else filled the disk), or writing fails, recording pauses
//! with the reason in `/api/state` and resumes by itself once it can. Live viewing never
//! depends on any of it.
//!
//! Layout: [`store`] (segment files + SQLite index), [`frame_index`] (the per-frame table),
//! [`retention`] (what to delete), [`disk`] (free space).

pub mod disk;
pub mod export;
pub mod frame_index;
pub mod playback;
pub mod retention;
pub mod store;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framecast_shared::{RecordingInfo, RecordingState};

use crate::config::RecordConfig;
use crate::hub::{Frame, FrameTap, Hub};
use crate::lock::Unpoisoned;
use disk::DiskProbe;
use frame_index::FrameIndexBuilder;
use store::{SegmentUpdate, Store, StoreError};

/// How often open segments are synced and indexed: the most a crash or power cut loses.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// Longest segment.
pub const SEGMENT_LENGTH: Duration = Duration::from_secs(60);

/// Frames queued for the recorder thread per camera (about two seconds at 30 fps).
const QUEUE_FRAMES: usize = 64;

/// A camera silent this long ends its segment; the next frame starts a new span.
const GAP: Duration = Duration::from_secs(3);

enum Msg {
    Frame(usize, Arc<Frame>),
    Stop,
}

/// The recorder's side of one camera's hub: queues frames for the thread.
#[derive(Debug)]
struct Tap {
    camera: usize,
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl FrameTap for Tap {
    fn offer(&self, frame: &Arc<Frame>) {
        match self.tx.try_send(Msg::Frame(self.camera, frame.clone())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The recorder has stopped (shutdown): nothing to do.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The recording thread and its handle.
#[derive(Debug)]
pub struct Recorder {
    tx: SyncSender<Msg>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    reader: Arc<store::Reader>,
}

/// Why recording cannot start.
#[derive(Debug, thiserror::Error)]
#[error("--record-dir {dir}: {source}")]
pub struct RecordError {
    dir: String,
    source: StoreError,
}

impl Recorder {
    /// Opens the recordings (mending what a crash left), restores each recorded camera's last
    /// frame, attaches to their hubs and starts the thread.
    pub fn start(
        config: RecordConfig,
        hubs: &[Hub],
        probe: Box<dyn DiskProbe>,
    ) -> Result<Recorder, RecordError> {
        let dir = config.dir.display().to_string();
        let err = |source| RecordError { dir: dir.clone(), source };
        let (mut store, repair) = Store::open(&config.dir).map_err(err)?;
        if repair.any() {
            tracing::warn!(
                "recordings mended after an unclean stop: {} files cut back to their index, {} shortened, \
                 {} rows dropped, {} unknown files removed",
                repair.files_cut,
                repair.rows_shortened,
                repair.rows_dropped,
                repair.unknown_files_removed
            );
        }
        let reader = Arc::new(store::Reader::new(&config.dir));
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_FRAMES * hubs.len().max(1));
        let mut cameras = Vec::new();
        for hub in hubs.iter().filter(|h| config.records(h.id())) {
            let camera_id = store.camera_id(hub.id()).map_err(err)?;
            if let Ok(Some(frame)) = last_recorded_frame(&reader, hub.id()) {
                hub.restore_last_frame(frame);
            }
            let dropped = Arc::new(AtomicU64::new(0));
            hub.record_into(Arc::new(Tap {
                camera: cameras.len(),
                tx: tx.clone(),
                dropped: dropped.clone(),
            }));
            cameras.push(CameraRecording::new(hub.clone(), camera_id, dropped));
        }
        let thread_state = Thread { config, store, reader: reader.clone(), probe, cameras, paused: None };
        thread_state.report();
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || thread_state.run(rx))
            .map_err(|e| err(StoreError::Io { path: "recorder thread".into(), source: e }))?;
        Ok(Recorder { tx, thread: Mutex::new(Some(thread)), reader })
    }

    /// Read access for playback, snapshots and export.
    pub fn reader(&self) -> Arc<store::Reader> {
        self.reader.clone()
    }

    /// Writes out and indexes everything queued, then stops the thread.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(thread) = self.thread.locked().take() {
            let _ = thread.join();
        }
    }
}

/// The newest recorded frame of camera `name`, read back from disk.
fn last_recorded_frame(reader: &store::Reader, name: &str) -> Result<Option<Frame>, StoreError> {
    let Some(segment) = reader.newest_segment(name)? else { return Ok(None) };
    let Some(entry) = segment.frames.last() else { return Ok(None) };
    let file = store::open_segment(&segment.path)?;
    let jpeg = store::read_frame(&file, &segment.path, entry)?;
    Ok(Some(Frame {
        seq: 0,
        width: segment.width,
        height: segment.height,
        captured_us: entry.captured_us,
        jpeg,
    }))
}

/// One camera as the recorder thread sees it.
struct CameraRecording {
    hub: Hub,
    camera_id: i64,
    open: Option<OpenSegment>,
    /// When the last frame arrived (gap detection).
    last_arrival: Option<Instant>,
    /// Capture time of the last frame written (`--record-fps`).
    last_written_us: Option<u64>,
    dropped: Arc<AtomicU64>,
}

impl CameraRecording {
    fn new(hub: Hub, camera_id: i64, dropped: Arc<AtomicU64>) -> CameraRecording {
        CameraRecording { hub, camera_id, open: None, last_arrival: None, last_written_us: None, dropped }
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
    /// Bytes of the file the index already covers (what a failed write is cut back to).
    committed_bytes: u64,
}

/// The recorder thread's state.
struct Thread {
    config: RecordConfig,
    store: Store,
    reader: Arc<store::Reader>,
    probe: Box<dyn DiskProbe>,
    cameras: Vec<CameraRecording>,
    /// Why recording is paused, when it is.
    paused: Option<String>,
}

impl Thread {
    fn run(mut self, rx: Receiver<Msg>) {
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
        let config_fps = self.config.max_fps;
        let max_bytes = self.config.segment_bytes();
        let cam = &mut self.cameras[camera];
        cam.last_arrival = Some(Instant::now());
        if self.paused.is_some() {
            return;
        }
        if let (Some(fps), Some(last)) = (config_fps, cam.last_written_us) {
            // A little slack, so 30 fps recorded at --record-fps 10 keeps every third frame.
            let interval = (1e6 / fps) as u64;
            if frame.captured_us < last + interval.saturating_sub(interval / 10) {
                return;
            }
        }
        let size = frame.jpeg.len() as u64;
        let cut = cam.open.as_ref().map(|open| {
            let too_long =
                frame.captured_us.saturating_sub(open.start_us) >= SEGMENT_LENGTH.as_micros() as u64;
            let too_big = open.table.data_bytes() + size > max_bytes && open.table.frames() > 0;
            let resized = (open.width, open.height) != (frame.width, frame.height);
            // The clock was set back by more than a second: a new span, not a continuation.
            let backwards = frame.captured_us + 1_000_000 < open.table.last_us();
            (too_long || too_big || resized || backwards, !backwards)
        });
        let continues = match cut {
            Some((true, continues)) => {
                self.close_segment(camera);
                // Make room before the next segment, so disk use never passes the size plus
                // the one segment being written.
                self.enforce_retention();
                continues
            }
            Some((false, _)) => true,
            None => false,
        };
        if self.cameras[camera].open.is_none()
            && let Err(e) = self.open_segment(camera, frame, continues)
        {
            self.failed(camera, &e);
            return;
        }
        let cam = &mut self.cameras[camera];
        let open = cam.open.as_mut().expect("opened above");
        if let Err(e) = open.file.write_all(&frame.jpeg) {
            let e = StoreError::Io { path: open.path.display().to_string(), source: e };
            self.failed(camera, &e);
            return;
        }
        open.table.push(frame.captured_us, size as u32);
        cam.last_written_us = Some(frame.captured_us);
    }

    fn open_segment(&mut self, camera: usize, frame: &Frame, continues: bool) -> Result<(), StoreError> {
        let cam = &self.cameras[camera];
        let (id, path) = self.store.create_segment(
            cam.camera_id,
            frame.captured_us,
            frame.width,
            frame.height,
            continues,
        )?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::Io { path: path.display().to_string(), source: e })?;
        self.cameras[camera].open = Some(OpenSegment {
            id,
            path,
            file: BufWriter::with_capacity(256 * 1024, file),
            table: FrameIndexBuilder::new(frame.captured_us),
            start_us: frame.captured_us,
            width: frame.width,
            height: frame.height,
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
            .map(|open| SegmentUpdate {
                id: open.id,
                end_us: open.table.last_us(),
                frames: open.table.frames(),
                bytes: open.table.data_bytes(),
                frame_index: open.table.as_bytes(),
            })
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
    fn report(&self) {
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
