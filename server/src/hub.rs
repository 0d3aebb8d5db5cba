//! Per-camera fan-out: one capture, any number of viewers, newest frame wins.
//!
//! The hub keeps exactly one frame, the newest, in a [`tokio::sync::watch`] channel. A viewer
//! reads whatever is newest when it is ready for a frame, so a slow viewer simply skips the
//! frames it had no time for and nobody ever waits for anybody else. Frames are shared as
//! `Arc<Frame>` around a [`Bytes`] buffer: fan-out copies no pixels.
//!
//! The hub also owns the camera's life cycle (see [`Hub::spawn_supervisor`]): the camera runs
//! only while someone is watching (always, when it is recorded), stops after the idle
//! timeout, and a camera that fails is reported offline and retried with backoff while
//! viewers remain.
//!
//! Two things outlive the live frame: the camera's last frame, which a snapshot of a camera
//! that went quiet still answers with (marked offline), and the recorder's tap
//! ([`FrameTap`]), which is offered every frame as it is published.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use framecast_shared::{CameraInfo, CameraStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::camera::Settings;
use crate::capture::{CaptureHandle, ControlRequest, FrameSink};
use crate::lock::Unpoisoned;
use crate::media::h264::{AccessUnit, Stream};
use crate::media::{Codec, Encoded};
use crate::source::Source;

/// One captured frame, shared by every viewer.
#[derive(Debug)]
pub struct Frame {
    /// Capture counter of the camera (+1 per frame, never reset while the server runs).
    pub seq: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Grab time, µs since the Unix epoch.
    pub captured_us: u64,
    /// The encoded picture: a JPEG file, or an H.264 access unit (AVC, see
    /// [`crate::media::h264`]).
    pub data: Bytes,
    /// For H.264: whether decoding can start here, and the stream's parameters. `None` for a
    /// JPEG.
    pub h264: Option<H264Frame>,
}

/// What an H.264 frame needs beyond its bytes.
#[derive(Debug, Clone)]
pub struct H264Frame {
    /// An IDR picture.
    pub keyframe: bool,
    /// The parameter sets it is decoded with.
    pub stream: Arc<Stream>,
}

impl Frame {
    /// A frame of `picture`.
    pub fn new(seq: u64, captured_us: u64, picture: Encoded) -> Frame {
        let (width, height) = picture.size();
        match picture {
            Encoded::Jpeg(jpeg) => Frame { seq, width, height, captured_us, data: jpeg.data, h264: None },
            Encoded::H264(unit) => Frame {
                seq,
                width,
                height,
                captured_us,
                data: unit.data,
                h264: Some(H264Frame { keyframe: unit.keyframe, stream: unit.stream }),
            },
        }
    }

    /// The frame's codec.
    pub fn codec(&self) -> Codec {
        if self.h264.is_some() { Codec::H264 } else { Codec::Jpeg }
    }

    /// Whether decoding can start at this frame: every JPEG, an H.264 IDR.
    pub fn keyframe(&self) -> bool {
        self.h264.as_ref().is_none_or(|h| h.keyframe)
    }

    /// The H.264 access unit, for an H.264 frame.
    pub fn access_unit(&self) -> Option<AccessUnit> {
        let h264 = self.h264.as_ref()?;
        Some(AccessUnit { data: self.data.clone(), keyframe: h264.keyframe, stream: h264.stream.clone() })
    }

    /// The JPEG, for a JPEG frame.
    pub fn jpeg(&self) -> Option<&Bytes> {
        self.h264.is_none().then_some(&self.data)
    }
}

/// The most H.264 frames kept since the last keyframe (10 s at 60 fps); a camera whose
/// keyframes are further apart is kept only from its newest keyframe on while it fits.
pub const MAX_GOP_FRAMES: usize = 600;

/// A lagging viewer waits for the next keyframe once this many frames are waiting for it:
/// about 0.3 s at 30 fps, more than any credit window.
pub const MAX_BACKLOG_FRAMES: u64 = 10;

/// Keyframes asked of an encoder for lagging viewers come at most this often, so one slow
/// phone cannot raise everyone's bitrate.
pub const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_secs(2);

/// Something offered every published frame (the recorder). It must never block: the
/// capture thread calls it.
pub trait FrameTap: Send + Sync + std::fmt::Debug {
    /// A new frame of this camera.
    fn offer(&self, frame: &Arc<Frame>);
}

/// Status and, when offline, the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What the camera is doing.
    pub status: CameraStatus,
    /// Why it is offline.
    pub reason: Option<String>,
}

impl Status {
    fn new(status: CameraStatus) -> Status {
        Status { status, reason: None }
    }
}

/// Shortest and longest wait before retrying a failed camera.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// A camera and its viewers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    id: String,
    source: Arc<dyn Source>,
    settings: watch::Sender<Settings>,
    idle_timeout: Duration,
    frame: watch::Sender<Option<Arc<Frame>>>,
    status: watch::Sender<Status>,
    viewers: watch::Sender<usize>,
    seq: AtomicU64,
    /// Bumped when what [`Hub::info`] says changes without a status change (a control).
    info_rev: watch::Sender<u64>,
    /// The running capture's control channel.
    controls: std::sync::Mutex<Option<std::sync::mpsc::Sender<ControlRequest>>>,
    /// The newest frame ever published (or recorded before a restart): kept when the camera
    /// stops or fails, unlike `frame`.
    last: std::sync::Mutex<Option<Arc<Frame>>>,
    /// What is offered every frame (the recorder, the motion detector). Set before the
    /// server runs.
    taps: std::sync::Mutex<Vec<Arc<dyn FrameTap>>>,
    /// What the recorder reports.
    recording: std::sync::Mutex<Option<framecast_shared::RecordingInfo>>,
    /// What the motion detector reports.
    motion: std::sync::Mutex<Option<framecast_shared::MotionInfo>>,
    /// H.264: the frames since the newest keyframe (it first), for viewers that start now or
    /// are a few frames behind. Empty for JPEG.
    gop: std::sync::Mutex<std::collections::VecDeque<Arc<Frame>>>,
    /// The codec of the camera's frames: known from its settings, or from its first frame.
    codec: std::sync::Mutex<Option<Codec>>,
    /// The running capture's keyframe request, and when one was last made.
    keyframes: std::sync::Mutex<KeyframeRequests>,
}

/// See [`Hub::request_keyframe`].
#[derive(Debug, Default)]
struct KeyframeRequests {
    /// The running capture's flag (set: make the next picture a keyframe).
    flag: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// When a keyframe was last asked for.
    last: Option<std::time::Instant>,
}

impl Hub {
    /// A stopped camera.
    pub fn new(id: String, source: Box<dyn Source>, settings: Settings, idle_timeout: Duration) -> Hub {
        let source_codec = source.codec(&settings);
        Hub(Arc::new(Inner {
            id,
            source: Arc::from(source),
            settings: watch::Sender::new(settings),
            idle_timeout,
            frame: watch::Sender::new(None),
            status: watch::Sender::new(Status::new(CameraStatus::Stopped)),
            viewers: watch::Sender::new(0),
            seq: AtomicU64::new(0),
            info_rev: watch::Sender::new(0),
            controls: std::sync::Mutex::new(None),
            last: std::sync::Mutex::new(None),
            taps: std::sync::Mutex::new(Vec::new()),
            recording: std::sync::Mutex::new(None),
            motion: std::sync::Mutex::new(None),
            gop: std::sync::Mutex::new(std::collections::VecDeque::new()),
            codec: std::sync::Mutex::new(source_codec),
            keyframes: std::sync::Mutex::new(KeyframeRequests::default()),
        }))
    }

    /// Attaches the recorder or the motion detector: from now on it is offered every frame,
    /// and the camera runs whether or not anyone watches. Call before
    /// [`Hub::spawn_supervisor`].
    pub fn tap_into(&self, tap: Arc<dyn FrameTap>) {
        self.0.taps.locked().push(tap);
    }

    /// Whether the camera runs with nobody watching: pushed frames, or a recorded camera or
    /// one with motion detection.
    fn always_on(&self) -> bool {
        self.0.source.always_on() || !self.0.taps.locked().is_empty()
    }

    /// The motion detector's news about this camera; viewers hear when motion starts or
    /// stops.
    pub fn set_motion(&self, info: framecast_shared::MotionInfo) {
        let mut current = self.0.motion.locked();
        let changed = current.is_none_or(|c| c.active != info.active);
        *current = Some(info);
        drop(current);
        if changed {
            self.info_changed();
        }
    }

    /// The recorder's news about this camera; viewers hear of a change of state.
    pub fn set_recording(&self, info: framecast_shared::RecordingInfo) {
        let mut current = self.0.recording.locked();
        let state_changed = current.as_ref().is_none_or(|c| c.state != info.state || c.reason != info.reason);
        *current = Some(info);
        drop(current);
        if state_changed {
            self.info_changed();
        }
    }

    /// Sets the last frame known from before this start (the newest recorded one).
    pub fn restore_last_frame(&self, frame: Frame) {
        let mut last = self.0.last.locked();
        if last.is_none() {
            *last = Some(Arc::new(frame));
        }
    }

    /// The newest frame the camera ever gave, live or not.
    pub fn last_frame(&self) -> Option<Arc<Frame>> {
        self.0.last.locked().clone()
    }

    /// Frames made since the server started (the newest `seq`).
    pub fn frames(&self) -> u64 {
        self.0.seq.load(Ordering::Relaxed)
    }

    /// The camera's id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// Numbers a new frame and makes it the newest (the capture thread calls it, through
    /// [`FrameSink`]; tests call it directly).
    pub fn publish(&self, picture: Encoded, captured_us: u64) {
        let seq = self.0.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let frame = Arc::new(Frame::new(seq, captured_us, picture));
        for tap in self.0.taps.locked().iter() {
            tap.offer(&frame);
        }
        *self.0.codec.locked() = Some(frame.codec());
        if frame.h264.is_some() {
            let mut gop = self.0.gop.locked();
            if frame.keyframe() {
                gop.clear();
            }
            // Frames since the last keyframe, as long as there has been one and they fit.
            if !gop.is_empty() || frame.keyframe() {
                if gop.len() >= MAX_GOP_FRAMES {
                    gop.clear();
                } else {
                    gop.push_back(frame.clone());
                }
            }
        }
        *self.0.last.locked() = Some(frame.clone());
        self.0.frame.send_replace(Some(frame));
        self.0.status.send_if_modified(|s| {
            let changed = s.status != CameraStatus::Running;
            *s = Status::new(CameraStatus::Running);
            changed
        });
    }

    /// Becomes a viewer: the camera starts if it was stopped, and stays on while any
    /// [`Viewer`] exists (plus the idle timeout).
    pub fn watch(&self) -> Viewer {
        self.0.viewers.send_modify(|n| *n += 1);
        let mut frame = self.0.frame.subscribe();
        // Hand the current frame to the new viewer at once instead of after the next capture.
        frame.mark_changed();
        Viewer {
            hub: self.clone(),
            catching_up: false,
            frame,
            status: self.0.status.subscribe(),
            info: self.0.info_rev.subscribe(),
        }
    }

    /// Follows the camera's status and description without being a viewer (it does not keep
    /// the camera running): for a viewer shown a rendition of it.
    pub fn observe(&self) -> Observer {
        Observer { status: self.0.status.subscribe(), info: self.0.info_rev.subscribe() }
    }

    /// Whether `other` is this very hub.
    pub fn is(&self, other: &Hub) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The push camera behind this hub, if it is one.
    pub fn push_source(&self) -> Option<crate::source::push::PushSource> {
        self.0.source.as_push().cloned()
    }

    /// The codec of the camera's frames, where known (from its settings or a frame).
    pub fn codec(&self) -> Option<Codec> {
        *self.0.codec.locked()
    }

    /// Asks the camera for a keyframe soon, for a viewer that fell behind: only cameras whose
    /// encoder framecast runs can (the emulated one, H.264 renditions), and at most every
    /// [`KEYFRAME_REQUEST_EVERY`].
    pub fn request_keyframe(&self) {
        let mut requests = self.0.keyframes.locked();
        let now = std::time::Instant::now();
        if requests.last.is_some_and(|last| now.duration_since(last) < KEYFRAME_REQUEST_EVERY) {
            return;
        }
        if let Some(flag) = &requests.flag {
            flag.store(true, Ordering::Relaxed);
            requests.last = Some(now);
        }
    }

    /// The picture's size: the newest frame's, or the size asked of the camera before any.
    pub fn picture_size(&self) -> (u32, u32) {
        let newest = self.0.frame.borrow().as_ref().map(|f| (f.width, f.height));
        newest.unwrap_or_else(|| {
            let size = self.0.settings.borrow().size;
            (size.width, size.height)
        })
    }

    /// The camera as described to clients.
    pub fn info(&self) -> CameraInfo {
        let status = self.0.status.borrow().clone();
        let settings = *self.0.settings.borrow();
        let (width, height) = self.picture_size();
        CameraInfo {
            id: self.0.id.clone(),
            kind: self.0.source.kind().to_string(),
            running: status.status == CameraStatus::Running,
            status: status.status,
            reason: status.reason,
            width,
            height,
            fps: settings.fps,
            quality: settings.quality,
            codec: self.codec().map(|c| c.name().to_string()),
            viewers: *self.0.viewers.borrow(),
            frames: self.0.seq.load(Ordering::Relaxed),
            modes: self.0.source.modes(&settings),
            controls: self.0.source.controls(),
            last_frame_us: self.last_frame().map(|f| f.captured_us),
            recording: self.0.recording.locked().clone(),
            motion: *self.0.motion.locked(),
            renditions: Vec::new(),
        }
    }

    /// Runs the camera's life cycle until `shutdown`: start on the first viewer, stop after the
    /// idle timeout with none, retry with backoff after a failure.
    pub fn spawn_supervisor(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut viewers = hub.0.viewers.subscribe();
            if hub.always_on() {
                // Never idle: runs (and retries) until shutdown.
                let _ = hub.run_while_watched(&mut viewers, &shutdown).await;
                return;
            }
            loop {
                let closed = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = viewers.wait_for(|n| *n > 0) => r.is_err(),
                };
                if closed {
                    return;
                }
                if hub.run_while_watched(&mut viewers, &shutdown).await.is_break() {
                    return;
                }
            }
        })
    }

    /// Keeps the camera running (and retried) until nobody has watched for the idle timeout
    /// (`Continue`; never for an always-on camera) or the server shuts down (`Break`).
    async fn run_while_watched(
        &self,
        viewers: &mut watch::Receiver<usize>,
        shutdown: &CancellationToken,
    ) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow::{Break, Continue};
        let mut retry = RETRY_MIN;
        let mut settings_rx = self.0.settings.subscribe();
        // Pushed and recorded cameras run whether or not anyone watches.
        let always_on = self.always_on();
        let mut idle = Idle::new(viewers, self.0.idle_timeout);
        loop {
            self.set_status(Status::new(CameraStatus::Starting));
            let settings = *settings_rx.borrow_and_update();
            let seq_before = self.0.seq.load(Ordering::Relaxed);
            let mut capture = CaptureHandle::start(self.clone(), self.0.source.clone(), settings);
            *self.0.controls.locked() = Some(capture.controls());
            self.0.keyframes.locked().flag = Some(capture.keyframe_flag());
            self.log_lifecycle(false, format_args!("camera started"));
            let ended = tokio::select! {
                _ = shutdown.cancelled() => Ended::Shutdown,
                _ = idle.expired(), if !always_on => Ended::Idle,
                _ = settings_rx.changed() => Ended::Reconfigured,
                result = capture.finished() => Ended::Failed(match result {
                    Err(e) => e.to_string(),
                    Ok(()) => "capture ended".to_string(),
                }),
            };
            let reason = match ended {
                Ended::Shutdown => {
                    capture.stop().await;
                    self.stopped();
                    return Break(());
                }
                Ended::Idle => {
                    capture.stop().await;
                    self.log_lifecycle(false, format_args!("camera stopped: no viewers"));
                    self.stopped();
                    return Continue(());
                }
                Ended::Reconfigured => {
                    capture.stop().await;
                    self.log_lifecycle(false, format_args!("restarting with new settings"));
                    continue;
                }
                Ended::Failed(reason) => reason,
            };
            // A camera that failed after producing frames restarts quickly; one that keeps
            // failing at once backs off.
            if self.0.seq.load(Ordering::Relaxed) > seq_before {
                retry = RETRY_MIN;
            }
            self.log_lifecycle(true, format_args!("camera offline: {reason}; retrying in {retry:?}"));
            self.set_status(Status { status: CameraStatus::Offline, reason: Some(reason) });
            tokio::select! {
                _ = shutdown.cancelled() => { self.stopped(); return Break(()); }
                _ = idle.expired(), if !always_on => { self.stopped(); return Continue(()); }
                _ = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(RETRY_MAX);
        }
    }

    /// Logs a line of the camera's life (a `warning`, or information); a rendition's only as
    /// a detail, since its camera's own lines say the same.
    fn log_lifecycle(&self, warning: bool, line: std::fmt::Arguments<'_>) {
        let id = &self.0.id;
        if self.0.source.follows_a_camera() {
            tracing::debug!(camera = %id, "{line}");
        } else if warning {
            tracing::warn!(camera = %id, "{line}");
        } else {
            tracing::info!(camera = %id, "{line}");
        }
    }

    /// Applies a client's settings change (absent fields stay), checked against what the
    /// camera offers. A running camera restarts with them; every viewer gets the new state.
    pub fn apply_settings(
        &self,
        size: Option<(u32, u32)>,
        fps: Option<u32>,
        quality: Option<u8>,
    ) -> Result<(), String> {
        let mut next = *self.0.settings.borrow();
        let modes = self.0.source.modes(&next);
        if let Some((width, height)) = size {
            if modes.sizes.is_empty() {
                return Err(format!("camera '{}' has a fixed frame size", self.0.id));
            }
            if !modes.sizes.contains(&[width, height]) {
                let offered: Vec<String> = modes.sizes.iter().map(|[w, h]| format!("{w}x{h}")).collect();
                return Err(format!("{width}x{height} is not offered; sizes: {}", offered.join(", ")));
            }
            next.size = crate::camera::Size { width, height };
        }
        if let Some(fps) = fps {
            if modes.max_fps == 0 {
                return Err(format!("camera '{}' sets its own frame rate", self.0.id));
            }
            if !(1..=modes.max_fps).contains(&fps) {
                return Err(format!("fps {fps} is outside 1..={}", modes.max_fps));
            }
            next.fps = fps;
        }
        if let Some(quality) = quality {
            if !modes.quality {
                return Err(format!("camera '{}' does not encode, so its quality is fixed", self.0.id));
            }
            if !(1..=100).contains(&quality) {
                return Err(format!("quality {quality} is outside 1..=100"));
            }
            next.quality = quality;
        }
        self.0.settings.send_if_modified(|s| {
            let changed = *s != next;
            *s = next;
            changed
        });
        Ok(())
    }

    /// Tells viewers that the camera's description changed (a device control was set).
    pub fn info_changed(&self) {
        self.0.info_rev.send_modify(|n| *n += 1);
    }

    /// Sets a device control of the running camera, checked against what it offers. Every
    /// viewer gets the new state once the device has taken it.
    pub fn set_control(&self, name: &str, value: i64) -> Result<(), String> {
        let controls = self.0.source.controls();
        let Some(control) = controls.iter().find(|c| c.name == name) else {
            let known: Vec<&str> = controls.iter().map(|c| c.name.as_str()).collect();
            return Err(if known.is_empty() {
                format!("camera '{}' has no controls", self.0.id)
            } else {
                format!("no control '{name}'; controls: {}", known.join(", "))
            });
        };
        if !(control.min..=control.max).contains(&value) {
            return Err(format!("{name} must be within {}..={}", control.min, control.max));
        }
        let sender = self.0.controls.locked().clone();
        let request = ControlRequest { name: name.to_string(), value };
        match sender {
            Some(tx) if tx.send(request).is_ok() => Ok(()),
            _ => Err(format!("camera '{}' is not running", self.0.id)),
        }
    }

    fn set_status(&self, status: Status) {
        self.0.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }

    /// The camera is off: forget the last frame so nobody is later shown a stale picture as live.
    fn stopped(&self) {
        self.0.gop.locked().clear();
        self.0.frame.send_replace(None);
        self.set_status(Status::new(CameraStatus::Stopped));
    }
}

impl FrameSink for Hub {
    fn id(&self) -> &str {
        &self.0.id
    }

    fn publish(&self, picture: Encoded, captured_us: u64) {
        Hub::publish(self, picture, captured_us);
    }

    fn info_changed(&self) {
        Hub::info_changed(self);
    }
}

/// Why a capture run ended.
enum Ended {
    Shutdown,
    Idle,
    Reconfigured,
    Failed(String),
}

/// The idle timeout of one run of the camera: completes once nobody has watched for the
/// timeout, counted from when the last viewer left, however often the waiting is interrupted
/// and resumed (a retry of a failed camera does not start the count again).
struct Idle<'a> {
    viewers: &'a mut watch::Receiver<usize>,
    timeout: Duration,
    /// When the viewer count last fell to zero, while it is zero.
    since: Option<tokio::time::Instant>,
}

impl<'a> Idle<'a> {
    fn new(viewers: &'a mut watch::Receiver<usize>, timeout: Duration) -> Idle<'a> {
        Idle { viewers, timeout, since: None }
    }

    /// Completes when the timeout has passed with nobody watching. Cancel-safe: the count
    /// goes on from where it was when awaited again.
    async fn expired(&mut self) {
        loop {
            if *self.viewers.borrow_and_update() > 0 {
                self.since = None;
                if self.viewers.wait_for(|n| *n == 0).await.is_err() {
                    return std::future::pending().await;
                }
                continue;
            }
            let since = *self.since.get_or_insert_with(tokio::time::Instant::now);
            tokio::select! {
                _ = tokio::time::sleep_until(since + self.timeout) => return,
                changed = self.viewers.changed() => if changed.is_err() {
                    return std::future::pending().await;
                },
            }
        }
    }
}

/// What [`Viewer::changed`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A newer frame is there.
    Frame,
    /// The camera's status changed.
    Status,
}

/// One viewer of a camera. Keeps the camera running while it exists.
#[derive(Debug)]
pub struct Viewer {
    hub: Hub,
    /// H.264: started at a keyframe and not yet at the newest frame, so frames behind are a
    /// catch-up through the group, not a lag (see [`Viewer::next_after`]).
    catching_up: bool,
    frame: watch::Receiver<Option<Arc<Frame>>>,
    status: watch::Receiver<Status>,
    info: watch::Receiver<u64>,
}

impl Viewer {
    /// The camera being watched.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Waits for the next change: a frame newer than the last one taken (only when
    /// `want_frames`), or a status change. `None` when the camera is gone. Cancel-safe: use it
    /// in `select!`.
    pub async fn changed(&mut self, want_frames: bool) -> Option<Change> {
        let alive = tokio::select! {
            r = self.frame.changed(), if want_frames => r.map(|()| Change::Frame),
            r = self.status.changed() => r.map(|()| Change::Status),
            r = self.info.changed() => r.map(|()| Change::Status),
        };
        alive.ok()
    }

    /// Takes the newest frame (marking it seen), if the camera has one.
    pub fn newest(&mut self) -> Option<Arc<Frame>> {
        self.frame.borrow_and_update().clone()
    }

    /// The frame this viewer should be sent next, after `sent` (the `seq` of the last one it
    /// was sent, if any), if there is one now; marks the newest frame seen.
    ///
    /// A JPEG stands alone: the newest frame, if newer than `sent` (a slow viewer skips the
    /// frames it had no time for). H.264 frames depend on those before them back to a
    /// keyframe: a viewer starts at the newest keyframe, catches up through the frames after
    /// it, and then gets every frame in order while it keeps up; one that falls
    /// [`MAX_BACKLOG_FRAMES`] behind, or whose next frame is gone, skips to the next keyframe
    /// that is that recent (asking the camera for one, where it can).
    pub fn next_after(&mut self, sent: Option<u64>) -> Option<Arc<Frame>> {
        let newest = self.frame.borrow_and_update().clone()?;
        if newest.h264.is_none() {
            return newest_if_new(newest, sent);
        }
        let gop = self.hub.0.gop.locked();
        let keyframe = gop.front()?;
        let next = match sent {
            // A new viewer starts at the group's keyframe and catches up through the group.
            None => {
                self.catching_up = true;
                keyframe
            }
            // Frames it needed are gone (a newer group began): it goes on from that group's
            // keyframe if that is recent enough, else from the next one.
            Some(sent) if keyframe.seq > sent => {
                if newest.seq - keyframe.seq >= MAX_BACKLOG_FRAMES {
                    drop(gop);
                    self.hub.request_keyframe();
                    return None;
                }
                keyframe
            }
            Some(sent) => {
                let next = gop.get((sent + 1 - keyframe.seq) as usize)?;
                if !self.catching_up && newest.seq - next.seq >= MAX_BACKLOG_FRAMES {
                    // Fell behind: the next keyframe, not a burst of old frames.
                    drop(gop);
                    self.hub.request_keyframe();
                    return None;
                }
                next
            }
        };
        if next.seq == newest.seq {
            self.catching_up = false;
        }
        Some(next.clone())
    }

    /// Waits for the next frame not yet taken; `None` when `shutdown` fires first.
    pub async fn next_frame(&mut self, shutdown: &CancellationToken) -> Option<Arc<Frame>> {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                changed = self.frame.changed() => if changed.is_err() { return None },
            }
            if let Some(frame) = self.newest() {
                return Some(frame);
            }
        }
    }

    /// The current status, marking it seen.
    pub fn status(&mut self) -> Status {
        self.status.borrow_and_update().clone()
    }

    /// Marks the status and the description as seen (after describing the camera).
    pub fn mark_seen(&mut self) {
        self.status.borrow_and_update();
        self.info.borrow_and_update();
    }
}

/// `frame`, unless `sent` already covers it.
fn newest_if_new(frame: Arc<Frame>, sent: Option<u64>) -> Option<Arc<Frame>> {
    sent.is_none_or(|s| frame.seq > s).then_some(frame)
}

/// See [`Hub::observe`].
#[derive(Debug)]
pub struct Observer {
    status: watch::Receiver<Status>,
    info: watch::Receiver<u64>,
}

impl Observer {
    /// Waits until the status or the description changes, and marks it seen; `None` when
    /// the camera is gone. Cancel-safe.
    pub async fn changed(&mut self) -> Option<()> {
        let alive = tokio::select! {
            r = self.status.changed() => r,
            r = self.info.changed() => r,
        };
        self.status.borrow_and_update();
        self.info.borrow_and_update();
        alive.ok()
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.hub.0.viewers.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Size;
    use crate::media::jpeg::Jpeg;
    use crate::source::{Capture, SourceError};
    use framecast_shared::{CameraControl, CameraModes};

    /// A camera with one control, backed by a shared list the capture updates.
    #[derive(Debug, Default)]
    struct ControlledSource {
        controls: Arc<std::sync::Mutex<Vec<CameraControl>>>,
    }

    struct ControlledCapture {
        controls: Arc<std::sync::Mutex<Vec<CameraControl>>>,
        jpeg: Bytes,
    }

    impl Source for ControlledSource {
        fn kind(&self) -> &'static str {
            "test"
        }
        fn open(&self, _settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
            *self.controls.lock().unwrap() =
                vec![CameraControl { name: "Gain".into(), min: 0, max: 10, step: 1, value: 1, default: 1 }];
            let jpeg = crate::media::jpeg::turbo::encode_rgb(&[0; 16 * 16 * 3], 16, 16, 50)?;
            Ok(Box::new(ControlledCapture { controls: self.controls.clone(), jpeg: Bytes::from(jpeg) }))
        }
        fn modes(&self, _current: &Settings) -> CameraModes {
            CameraModes::default()
        }
        fn controls(&self) -> Vec<CameraControl> {
            self.controls.lock().unwrap().clone()
        }
    }

    impl Capture for ControlledCapture {
        fn pace(&self) -> Option<u32> {
            Some(50)
        }
        fn grab(&mut self) -> Result<crate::media::Encoded, SourceError> {
            Ok(Jpeg { data: self.jpeg.clone(), width: 16, height: 16 }.into())
        }
        fn set_control(&mut self, name: &str, value: i64) -> Result<(), SourceError> {
            let mut controls = self.controls.lock().unwrap();
            let control = controls.iter_mut().find(|c| c.name == name).expect("validated by the hub");
            control.value = value;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_control_reaches_the_running_capture_and_every_viewer_hears_of_it() {
        let settings = Settings { size: Size { width: 16, height: 16 }, fps: 50, quality: 50 };
        let hub =
            Hub::new("t".into(), Box::new(ControlledSource::default()), settings, Duration::from_secs(5));
        let shutdown = CancellationToken::new();
        let supervisor = hub.spawn_supervisor(shutdown.clone());
        assert!(hub.set_control("Gain", 3).is_err(), "no controls before the camera runs");

        let mut viewer = hub.watch();
        tokio::time::timeout(Duration::from_secs(5), viewer.next_frame(&shutdown)).await.unwrap().unwrap();
        viewer.mark_seen();
        assert!(hub.set_control("Gain", 11).unwrap_err().contains("0..=10"));
        assert!(hub.set_control("Zoom", 1).unwrap_err().contains("controls: Gain"));
        hub.set_control("Gain", 7).unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if viewer.changed(false).await == Some(Change::Status) && hub.info().controls[0].value == 7 {
                    break;
                }
            }
        })
        .await
        .expect("viewers hear of the new value");
        shutdown.cancel();
        supervisor.await.unwrap();
    }
}

/// The life cycle on tokio's paused clock: the waits (idle timeout, retry back-off) are
/// measured in virtual time, exactly, however busy the machine is.
#[cfg(test)]
mod lifecycle_tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::camera::Size;
    use crate::source::{Capture, SourceError};
    use framecast_shared::CameraModes;
    use tokio::time::Instant;

    const SETTINGS: Settings = Settings { size: Size { width: 16, height: 16 }, fps: 50, quality: 50 };

    /// A camera that cannot be opened, counting the attempts.
    #[derive(Debug, Default)]
    struct Broken {
        opens: Arc<AtomicUsize>,
    }

    impl Source for Broken {
        fn kind(&self) -> &'static str {
            "broken"
        }
        fn open(&self, _settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
            self.opens.fetch_add(1, Ordering::SeqCst);
            Err(SourceError::Device("lens cap on".into()))
        }
        fn modes(&self, _current: &Settings) -> CameraModes {
            CameraModes::default()
        }
    }

    /// A camera that gives a small frame whenever asked.
    #[derive(Debug)]
    struct Working;

    struct WorkingCapture(Bytes);

    impl Source for Working {
        fn kind(&self) -> &'static str {
            "working"
        }
        fn open(&self, _settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
            let jpeg = crate::media::jpeg::turbo::encode_rgb(&[0; 16 * 16 * 3], 16, 16, 50)?;
            Ok(Box::new(WorkingCapture(Bytes::from(jpeg))))
        }
        fn modes(&self, _current: &Settings) -> CameraModes {
            CameraModes::default()
        }
    }

    impl Capture for WorkingCapture {
        fn pace(&self) -> Option<u32> {
            Some(50)
        }
        fn grab(&mut self) -> Result<crate::media::Encoded, SourceError> {
            Ok(crate::media::jpeg::Jpeg { data: self.0.clone(), width: 16, height: 16 }.into())
        }
    }

    /// Waits until the camera's status is `want` (following it as an observer, which keeps
    /// nothing running) and returns the virtual time it took.
    async fn until_status(hub: &Hub, want: CameraStatus) -> Duration {
        let started = Instant::now();
        let mut observer = hub.observe();
        while hub.info().status != want {
            observer.changed().await.expect("hub alive");
        }
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_camera_is_retried_with_doubling_waits_up_to_ten_seconds() {
        let source = Broken::default();
        let opens = source.opens.clone();
        let hub = Hub::new("broken".into(), Box::new(source), SETTINGS, Duration::from_secs(30));
        let shutdown = CancellationToken::new();
        let supervisor = hub.spawn_supervisor(shutdown.clone());
        let _viewer = hub.watch();
        until_status(&hub, CameraStatus::Offline).await;
        assert!(hub.info().reason.unwrap().contains("lens cap on"));
        let mut waits = Vec::new();
        for _ in 0..7 {
            let started = Instant::now();
            until_status(&hub, CameraStatus::Starting).await;
            until_status(&hub, CameraStatus::Offline).await;
            waits.push(started.elapsed().as_millis());
        }
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(opens.load(Ordering::SeqCst), 8);
        shutdown.cancel();
        supervisor.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_offline_camera_nobody_watches_stops_being_retried_after_the_idle_timeout() {
        let source = Broken::default();
        let opens = source.opens.clone();
        let hub = Hub::new("broken".into(), Box::new(source), SETTINGS, Duration::from_secs(3));
        let shutdown = CancellationToken::new();
        let supervisor = hub.spawn_supervisor(shutdown.clone());
        let viewer = hub.watch();
        until_status(&hub, CameraStatus::Offline).await;
        drop(viewer);
        let stopped_after = until_status(&hub, CameraStatus::Stopped).await;
        // Counted from when the viewer left, not from the last retry (at 0.5 s and 1.5 s).
        assert_eq!(stopped_after, Duration::from_secs(3));
        let tried = opens.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(opens.load(Ordering::SeqCst), tried, "no retry once stopped");
        shutdown.cancel();
        supervisor.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_camera_stops_after_the_idle_timeout_and_a_returning_viewer_keeps_it() {
        let idle = Duration::from_secs(10);
        let hub = Hub::new("working".into(), Box::new(Working), SETTINGS, idle);
        let shutdown = CancellationToken::new();
        let supervisor = hub.spawn_supervisor(shutdown.clone());

        let mut viewer = hub.watch();
        assert!(viewer.next_frame(&shutdown).await.is_some(), "the first viewer starts it");
        until_status(&hub, CameraStatus::Running).await;
        drop(viewer);
        // Back within the timeout: the camera never stopped.
        tokio::time::sleep(idle / 2).await;
        assert_eq!(hub.info().status, CameraStatus::Running);
        let viewer = hub.watch();
        tokio::time::sleep(idle * 3).await;
        assert_eq!(hub.info().status, CameraStatus::Running, "watched: never idle");

        drop(viewer);
        assert_eq!(until_status(&hub, CameraStatus::Stopped).await, idle);
        assert!(hub.watch().newest().is_none(), "a stopped camera offers no stale frame as live");
        shutdown.cancel();
        supervisor.await.unwrap();
    }
}
