//! Recording: every frame of the recorded cameras, kept on disk within the limits given, and
//! the way back to it.
//!
//! The data path: a camera's hub offers each published frame to the [`Recorder`] (its
//! [`crate::hub::FrameTap`]) through a bounded queue, and one writer thread ([`writer`])
//! appends the pictures (JPEGs, or H.264 as the camera made it) to segment files and indexes
//! them. The queue holds about two seconds of frames, so a disk that stalls briefly loses
//! nothing; one that stalls longer drops frames (counted in the camera's
//! `recording.dropped`) and never slows the camera or its viewers.
//!
//! Every [`FLUSH_INTERVAL`] the writer syncs the open segments and commits their rows (the
//! most a crash can lose), then enforces retention ([`retention`]): `--retain-age`, then
//! `--retain-size`, then the free-space floor `--min-free`, always deleting the oldest
//! segments first and never the ones being written. When the floor cannot be kept by
//! deleting recordings (something else filled the disk), or writing fails, recording pauses
//! with the reason in `/api/state` and resumes by itself once it can. Live viewing never
//! depends on any of it.
//!
//! Layout, writing: [`writer`] (the thread), [`cut`] (when a segment ends, pure rules),
//! [`store`] (the index's write handle, crash repair), [`retention`] (what to delete),
//! [`disk`] (free space). On disk: [`schema`] (tables, files, errors), [`frame_index`] (the
//! per-frame table of a segment). Reading back: [`reader`] (pooled read access) →
//! [`pictures`] (recorded frames as JPEGs, decoding H.264 from its keyframe) → [`playback`]
//! (a viewer's walk through time); [`export`] (a Matroska or MP4 file).

pub mod cut;
pub mod disk;
pub mod export;
pub mod frame_index;
pub mod pictures;
pub mod playback;
pub mod reader;
pub mod retention;
pub mod schema;
pub mod store;
mod writer;

use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::RecordConfig;
use crate::hub::{Frame, FrameTap, Hub};
use crate::lock::Unpoisoned;
use disk::DiskProbe;
use reader::Reader;
use schema::StoreError;
use store::Store;
use writer::{CameraRecording, Writer};

/// How often open segments are synced and indexed: the most a crash or power cut loses.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// Longest segment.
pub const SEGMENT_LENGTH: Duration = Duration::from_secs(60);

/// Frames queued for the recorder thread per camera (about two seconds at 30 fps).
const QUEUE_FRAMES: usize = 64;

/// A camera silent this long ends its segment; the next frame starts a new span.
pub(crate) const GAP: Duration = Duration::from_secs(3);

/// What the hubs' taps send the writer.
pub(crate) enum Msg {
    /// A frame of the `usize`-th recorded camera.
    Frame(usize, Arc<Frame>),
    /// Write out what is queued and stop.
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
                self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    reader: Arc<Reader>,
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
        let reader = Arc::new(Reader::new(&config.dir));
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_FRAMES * hubs.len().max(1));
        let mut cameras = Vec::new();
        for hub in hubs.iter().filter(|h| config.records(h.id())) {
            let camera_id = store.camera_id(hub.id()).map_err(err)?;
            if let Ok(Some(frame)) = last_recorded_frame(&reader, hub.id()) {
                hub.restore_last_frame(frame);
            }
            let dropped = Arc::new(AtomicU64::new(0));
            hub.tap_into(Arc::new(Tap { camera: cameras.len(), tx: tx.clone(), dropped: dropped.clone() }));
            cameras.push(CameraRecording::new(hub.clone(), camera_id, dropped));
        }
        let writer = Writer {
            config,
            store,
            reader: reader.clone(),
            probe,
            cameras,
            paused: None,
            annexb: Vec::new(),
        };
        writer.report();
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| err(StoreError::Io { path: "recorder thread".into(), source: e }))?;
        Ok(Recorder { tx, thread: Mutex::new(Some(thread)), reader })
    }

    /// Read access for playback, snapshots and export.
    pub fn reader(&self) -> Arc<Reader> {
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

/// The newest recorded frame of camera `name`, read back from disk (as a JPEG).
fn last_recorded_frame(reader: &Reader, name: &str) -> Result<Option<Frame>, StoreError> {
    let Some(segment) = reader.newest_segment(name)? else { return Ok(None) };
    let Some(last) = segment.frames.len().checked_sub(1) else { return Ok(None) };
    let file = reader::open_segment(&segment.path)?;
    let jpeg = pictures::RecordedPictures::new().jpeg(&segment, &file, last)?;
    Ok(Some(Frame {
        seq: 0,
        width: segment.format.width,
        height: segment.format.height,
        captured_us: segment.frames[last].captured_us,
        data: jpeg,
        h264: None,
    }))
}
