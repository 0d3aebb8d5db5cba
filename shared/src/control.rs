//! JSON text messages on `/ws`, and the `/api/state` document.
//!
//! Every text message is one JSON object with a `"type"` tag. Unknown fields are ignored so
//! either side can add fields without breaking the other; unknown types are an error.

use serde::{Deserialize, Serialize};

/// Largest text message a client may send, in bytes. Real messages are under 100 bytes; the
/// limit keeps a hostile client from making the server parse megabytes of JSON.
pub const MAX_CLIENT_MESSAGE: usize = 4096;

/// A message from a viewer to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Optional first message: viewer preferences.
    Hello {
        /// How many frames may be sent but not yet acknowledged (1–8, default 2). 1 gives the
        /// freshest picture; more hides network round trips on slow links.
        #[serde(default)]
        window: Option<u8>,
        /// Frame-rate cap for this viewer only (e.g. a phone on weak Wi-Fi asks for 5); the
        /// server skips frames so the bytes are never sent. `0` removes the cap.
        #[serde(default)]
        max_fps: Option<f64>,
        /// The picture size for this viewer: `"auto"`, the largest the viewer's link and
        /// canvas carry (chosen by the server from the acks, see [`ServerMessage::Picture`]);
        /// `"WxH"`, frames that fit in W x H (a rendition, n/8 of the camera's size, as
        /// `?size=` on the HTTP endpoints); or `"full"`, the camera's own. Absent: as before
        /// (at first, as the `/ws?size=` URL said, else full).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<String>,
        /// The viewer's canvas in device pixels, `[width, height]`: `auto` never picks a
        /// larger picture.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        canvas: Option<[u32; 2]>,
        /// The codecs this viewer decodes, best first (`["h264", "jpeg"]`); the server picks
        /// the first it can give (see [`ServerMessage::Picture`]'s `codec`). Absent: JPEG.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accept: Option<Vec<String>>,
    },
    /// Set one of the shown camera's device controls (see [`CameraInfo::controls`]).
    Control {
        /// The control's name, as listed.
        name: String,
        /// New value, within the control's range.
        value: i64,
    },
    /// Change the shown camera's settings; every viewer of the camera sees the result (a
    /// `state` message). Absent fields stay as they are.
    Settings {
        /// New frame width (with `height`), one of the camera's `modes.sizes`.
        #[serde(default)]
        width: Option<u32>,
        /// New frame height (with `width`).
        #[serde(default)]
        height: Option<u32>,
        /// New frame rate, 1 to `modes.max_fps`.
        #[serde(default)]
        fps: Option<u32>,
        /// New JPEG quality 1–100, where `modes.quality` says the camera encodes.
        #[serde(default)]
        quality: Option<u8>,
    },
    /// "I have shown every frame up to and including `seq`." Cumulative: frames the viewer
    /// dropped unseen are acknowledged by the next ack. Each ack returns credit, and the
    /// server answers with the newest frame.
    Ack {
        /// `seq` of the newest frame the viewer has finished with.
        seq: u64,
    },
    /// Clock sync probe; answered at once with [`ServerMessage::Pong`].
    Ping {
        /// Any number of the client's choosing (its own clock), echoed back unchanged.
        t: f64,
    },
    /// Switch this viewer to the recording of its camera, from the first frame captured at or
    /// after `from_us`, at `speed` times the original pace. Other viewers are not affected.
    Play {
        /// Where to start (µs since the Unix epoch, server clock).
        from_us: u64,
        /// 1 (default), 2, 4 or 8.
        #[serde(default)]
        speed: Option<u32>,
    },
    /// Hold the recorded frame shown now.
    Pause,
    /// Play on from the frame shown, at the same speed.
    Resume,
    /// While paused: show the frame `frames` recorded frames later (negative: earlier).
    Step {
        /// How many frames to move; ±1 is the next or previous frame.
        frames: i32,
    },
    /// Back to the live picture.
    Live,
}

/// Speeds a `play` message may ask for.
pub const PLAYBACK_SPEEDS: [u32; 4] = [1, 2, 4, 8];

/// Most frames one `step` message may move.
pub const MAX_STEP: u32 = 10_000;

/// Largest side of a `hello` `canvas`, in device pixels.
pub const MAX_CANVAS_SIDE: u32 = 16_384;

/// A message from the server to a viewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message on every connection.
    Hello {
        /// [`crate::PROTOCOL_VERSION`] of the server.
        protocol: u32,
        /// The server's program version.
        server_version: String,
        /// Id of the camera this connection shows.
        camera: String,
        /// Credit window in force (see [`ClientMessage::Hello`]).
        window: u8,
        /// Every camera the server has, with current settings and status.
        cameras: Vec<CameraInfo>,
        /// Whether this connection may send `settings` and `control` (see `--admin-token`).
        #[serde(default)]
        admin: bool,
    },
    /// The shown camera changed status or settings.
    State {
        /// The camera's current description (boxed: it is by far the largest message).
        camera: Box<CameraInfo>,
    },
    /// Answer to [`ClientMessage::Ping`].
    Pong {
        /// The client's `t`, unchanged.
        t: f64,
        /// Server clock (µs since the Unix epoch) when the ping was answered.
        server_us: u64,
    },
    /// Where this viewer is in time: sent when playback starts, pauses, resumes, steps, jumps
    /// a gap in the recording, and when it returns to live (by request or at the live edge).
    Playback {
        /// Id of the camera.
        camera: String,
        /// Live, playing the recording, or paused in it.
        mode: PlaybackMode,
        /// Capture time of the recorded frame shown or about to be shown (0 when live).
        position_us: u64,
        /// Playback speed (1 when live).
        speed: u32,
        /// What just happened, for the viewer to say so.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<PlaybackEvent>,
    },
    /// The picture this viewer is shown, after a `hello` with `size` and whenever `auto`
    /// changes it (and every few seconds in `auto`, with the link's measure).
    Picture {
        /// How the size is chosen.
        mode: PictureMode,
        /// Frame width in pixels.
        width: u32,
        /// Frame height in pixels.
        height: u32,
        /// `auto`: what the link carried for this viewer lately, bits per second.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link_bps: Option<u64>,
        /// `auto`: why this size (`link`, `canvas`, `probe`, `best`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The codec of the frames that follow (`jpeg`, `h264`); absent: `jpeg`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        codec: Option<String>,
    },
    /// The last client message was refused; the connection stays usable.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
    },
}

/// Machine-readable error reasons in [`ServerMessage::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, unknown `type`, or a field of the wrong type.
    BadMessage,
    /// Longer than [`MAX_CLIENT_MESSAGE`].
    TooLarge,
    /// A binary message where only text is accepted.
    NotText,
    /// A value outside its allowed range (e.g. window 0).
    OutOfRange,
    /// An ack for a frame that was never sent.
    BadAck,
    /// Settings the camera cannot take.
    BadSettings,
    /// This connection's token does not allow the request (settings need the admin token).
    Forbidden,
    /// Nothing is recorded for this camera (or nothing at the time asked for).
    NoRecording,
    /// A playback message that does not fit the current mode (`step` while not paused).
    NotNow,
}

/// Whether a viewer sees the present or the past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaybackMode {
    /// The camera's newest frames.
    Live,
    /// Recorded frames at their original pace (times `speed`).
    Playing,
    /// One recorded frame held.
    Paused,
}

/// What happened in playback, in a [`ServerMessage::Playback`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlaybackEvent {
    /// Playback started (or moved) after a `play`; `position_us` is the first frame.
    Started,
    /// The recording had a gap (camera off or offline): playback jumped over it.
    Gap {
        /// Capture time of the last frame before the gap.
        from_us: u64,
        /// Capture time of the first frame after it.
        to_us: u64,
    },
    /// Playback reached the newest recorded frame and switched to live.
    LiveEdge,
    /// Back to live because the viewer asked (`live`).
    Live,
    /// Paused, resumed or stepped as asked.
    Moved,
}

/// Whether and how a camera is being recorded (`--record-dir`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingInfo {
    /// What the recorder is doing.
    pub state: RecordingState,
    /// Why recording is paused, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Bytes of this camera's recordings on disk.
    pub bytes: u64,
    /// Capture time of the oldest recorded frame kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_us: Option<u64>,
    /// Capture time of the newest recorded frame (up to the last flush, a few seconds ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_us: Option<u64>,
    /// Frames the recorder could not keep up with (the disk stalled), since the start.
    #[serde(default)]
    pub dropped: u64,
}

/// One gapless stretch of recording: an entry of `GET /api/recordings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedSpan {
    /// Capture time of the first frame.
    pub start_us: u64,
    /// Capture time of the last frame.
    pub end_us: u64,
    /// Frames recorded.
    pub frames: u64,
    /// JPEG bytes recorded.
    pub bytes: u64,
}

/// Motion detection on a camera (`--motion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotionInfo {
    /// An event is open: something is moving now.
    pub active: bool,
    /// Events since the server started.
    pub events: u64,
}

/// Where a camera looks for motion (`GET`/`PUT /api/motion/zone`): a grid over the picture,
/// each cell watched or ignored (a tree, a road, a timestamp burned into the picture).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotionZone {
    /// Cells across.
    pub columns: u16,
    /// Cells down.
    pub rows: u16,
    /// One character per cell, row by row from the top left: `1` ignored, `0` watched.
    pub ignored: String,
    /// How faint a change counts, 1 (only strong ones) to 100 (the faintest); when absent,
    /// `--motion-sensitivity`. The server always says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<u8>,
    /// The share of the watched picture (0.0–0.9) that must change to be motion; when absent,
    /// `--motion-min-area`. The server always says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_area: Option<f32>,
}

impl MotionZone {
    /// The grid the web client paints: cells of 40x40 pixels of a 1280x720 picture.
    pub const COLUMNS: u16 = 32;
    /// See [`MotionZone::COLUMNS`].
    pub const ROWS: u16 = 18;
    /// Largest grid taken.
    pub const MAX_SIDE: u16 = 128;

    /// Every cell watched.
    pub fn everywhere() -> MotionZone {
        let cells = usize::from(Self::COLUMNS) * usize::from(Self::ROWS);
        MotionZone {
            columns: Self::COLUMNS,
            rows: Self::ROWS,
            ignored: "0".repeat(cells),
            sensitivity: None,
            min_area: None,
        }
    }

    /// Whether the zone is one that can be used; the error says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=Self::MAX_SIDE).contains(&self.columns) || !(1..=Self::MAX_SIDE).contains(&self.rows) {
            return Err(format!("a zone has 1 to {} columns and rows", Self::MAX_SIDE));
        }
        let cells = usize::from(self.columns) * usize::from(self.rows);
        if self.ignored.len() != cells || !self.ignored.bytes().all(|b| b == b'0' || b == b'1') {
            return Err(format!("ignored: give {cells} characters, each 0 (watched) or 1 (ignored)"));
        }
        if self.sensitivity.is_some_and(|s| !(1..=100).contains(&s)) {
            return Err("sensitivity: give 1 to 100".into());
        }
        if self.min_area.is_some_and(|a| !(a.is_finite() && (0.0..=0.9).contains(&a))) {
            return Err("min_area: give a share of the picture from 0.0 to 0.9".into());
        }
        Ok(())
    }

    /// Whether the point at `x`, `y` (0.0–1.0 of the picture's width and height) is ignored.
    pub fn ignores(&self, x: f32, y: f32) -> bool {
        let column =
            ((x * f32::from(self.columns)) as usize).min(usize::from(self.columns).saturating_sub(1));
        let row = ((y * f32::from(self.rows)) as usize).min(usize::from(self.rows).saturating_sub(1));
        self.ignored.as_bytes().get(row * usize::from(self.columns) + column) == Some(&b'1')
    }

    /// Whether any cell is ignored.
    pub fn ignores_any(&self) -> bool {
        self.ignored.contains('1')
    }
}

/// One motion event: an entry of `GET /api/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotionEvent {
    /// Unique while the server runs; `/api/events/ID/thumbnail.jpg`.
    pub id: u64,
    /// The camera's id.
    pub camera: String,
    /// Capture time of the first picture that showed the motion (µs since the Unix epoch).
    pub start_us: u64,
    /// Capture time of the last picture that showed it; `None` while the event is open.
    #[serde(default)]
    pub end_us: Option<u64>,
    /// At the peak: the share of the watched picture that changed (0.0–1.0).
    pub area: f32,
    /// At the peak: how strong the change was, the mean luma difference (0–255) of the
    /// changed pixels from the background.
    pub score: f32,
    /// The picture with the most motion, as a JPEG.
    pub thumbnail: String,
}

/// See [`RecordingInfo::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Every frame (up to `--record-fps`) is written.
    Recording,
    /// Nothing is written now: the disk is full or failing (`reason`); retried by itself.
    Paused,
}

/// What a camera is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraStatus {
    /// Nobody is watching; the camera is off and starts with the first viewer.
    Stopped,
    /// Opening the device; no frame yet.
    Starting,
    /// Frames are flowing.
    Running,
    /// The camera failed; `reason` says why, and it is retried while viewers remain.
    Offline,
}

/// How a viewer's picture size is chosen (see [`ServerMessage::Picture`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PictureMode {
    /// The camera's own picture.
    Full,
    /// The size the viewer asked for.
    Fixed,
    /// Chosen by the server from what the viewer's link carries.
    Auto,
}

/// One camera as described to clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraInfo {
    /// Stable id used in `?camera=ID`.
    pub id: String,
    /// Source kind (`emulated`, `files`, ...).
    pub kind: String,
    /// Current status.
    pub status: CameraStatus,
    /// `status == running`, for tools that only want a yes/no.
    pub running: bool,
    /// Why the camera is offline, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Frame width in pixels (configured, or of the newest frame).
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Target frames per second.
    pub fps: u32,
    /// JPEG quality 1–100 where the server encodes.
    pub quality: u8,
    /// The camera's codec, `jpeg` or `h264` (`None` until a camera that could send either has
    /// sent a frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// Viewers connected now (WebSocket, MJPEG and waiting snapshots).
    pub viewers: usize,
    /// Frames captured since the server started (the newest `seq`).
    pub frames: u64,
    /// What can be changed with a `settings` message.
    #[serde(default)]
    pub modes: CameraModes,
    /// Device controls (brightness, contrast, exposure, focus...) where the camera has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<CameraControl>,
    /// Capture time of the newest frame this camera ever gave (kept while it is offline or
    /// stopped, and across restarts when it is recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame_us: Option<u64>,
    /// The recorder's state, for recorded cameras.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingInfo>,
    /// Motion detection, for cameras with it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motion: Option<MotionInfo>,
    /// Smaller or re-encoded versions of the picture made for viewers that asked for them
    /// (`?size=`, `?w=`, `?quality=`), while they exist (listed in `/api/state`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<RenditionInfo>,
}

/// One rendition of a camera: one pipeline, shared by all its viewers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenditionInfo {
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// `h264` for an H.264 rendition (of a JPEG camera, for weak links); absent for JPEG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// JPEG quality 1–100.
    pub quality: u8,
    /// Whether it is making frames now (it stops after the idle timeout unwatched).
    pub running: bool,
    /// Viewers of it now.
    pub viewers: usize,
    /// Frames it has made.
    pub frames: u64,
}

/// One adjustable device control, set with a `control` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraControl {
    /// Name as the device reports it ("Brightness").
    pub name: String,
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
    /// Step between values.
    pub step: i64,
    /// Current value.
    pub value: i64,
    /// The device's default.
    pub default: i64,
}

/// The settings a camera offers, so clients list only real choices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraModes {
    /// Frame sizes the camera can produce, `[width, height]`; empty when fixed.
    pub sizes: Vec<[u32; 2]>,
    /// Highest frame rate.
    pub max_fps: u32,
    /// Whether the JPEG quality can be set.
    pub quality: bool,
}

/// The `/api/state` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiState {
    /// [`crate::PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The server's program version.
    pub server_version: String,
    /// Every camera.
    pub cameras: Vec<CameraInfo>,
}

/// Why a client text message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Over [`MAX_CLIENT_MESSAGE`] bytes.
    #[error("message of {0} bytes exceeds the {MAX_CLIENT_MESSAGE}-byte limit")]
    TooLarge(usize),
    /// Not a valid client message.
    #[error("bad message: {0}")]
    Malformed(String),
    /// A well-formed message with a value outside its range (`window` 9, `speed` 3).
    #[error("{0}")]
    OutOfRange(String),
    /// `settings` that cannot be right whatever the camera (a width without a height).
    #[error("{0}")]
    BadSettings(String),
}

impl ProtocolError {
    /// The [`ErrorCode`] to report to the client.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::TooLarge(_) => ErrorCode::TooLarge,
            ProtocolError::Malformed(_) => ErrorCode::BadMessage,
            ProtocolError::OutOfRange(_) => ErrorCode::OutOfRange,
            ProtocolError::BadSettings(_) => ErrorCode::BadSettings,
        }
    }
}

impl ClientMessage {
    /// Parses one text message from a client, enforcing [`MAX_CLIENT_MESSAGE`] first and the
    /// ranges of its values after (see [`ClientMessage::check`]).
    pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
        if text.len() > MAX_CLIENT_MESSAGE {
            return Err(ProtocolError::TooLarge(text.len()));
        }
        let message: ClientMessage =
            serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
        message.check()?;
        Ok(message)
    }

    /// The ranges a message's values must be in, whatever the camera or the server's state:
    /// `window` within [`WINDOW_RANGE`](crate::WINDOW_RANGE), `max_fps` from 0 up, a `canvas`
    /// of 1 to [`MAX_CANVAS_SIDE`] device pixels a side, a `settings` size with both sides,
    /// a `play` speed of [`PLAYBACK_SPEEDS`], a `step` of ±1 to ±[`MAX_STEP`] frames. What
    /// depends on the camera (its sizes, its controls) the server checks against it.
    pub fn check(&self) -> Result<(), ProtocolError> {
        use ProtocolError::{BadSettings, OutOfRange};
        match self {
            ClientMessage::Hello { window, max_fps, canvas, .. } => {
                if let Some(fps) = max_fps
                    && !(fps.is_finite() && *fps >= 0.0)
                {
                    return Err(OutOfRange("max_fps must be a number from 0 up".into()));
                }
                if let Some(w) = window
                    && !crate::WINDOW_RANGE.contains(w)
                {
                    return Err(OutOfRange(format!("window {w} is outside 1..=8")));
                }
                if let Some([w, h]) = canvas
                    && (*w == 0 || *h == 0 || *w > MAX_CANVAS_SIDE || *h > MAX_CANVAS_SIDE)
                {
                    return Err(OutOfRange(format!(
                        "canvas must be [width, height] of 1 to {MAX_CANVAS_SIDE} device pixels"
                    )));
                }
            }
            ClientMessage::Settings { width, height, .. } if width.is_some() != height.is_some() => {
                return Err(BadSettings("width and height go together".into()));
            }
            ClientMessage::Play { speed: Some(speed), .. } if !PLAYBACK_SPEEDS.contains(speed) => {
                return Err(OutOfRange("speed must be 1, 2, 4 or 8".into()));
            }
            ClientMessage::Step { frames } if *frames == 0 || frames.unsigned_abs() > MAX_STEP => {
                return Err(OutOfRange(format!("step frames must be ±1 to ±{MAX_STEP}")));
            }
            _ => {}
        }
        Ok(())
    }

    /// Serializes for sending.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("ClientMessage always serializes")
    }
}

impl ServerMessage {
    /// Serializes for sending.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("ServerMessage always serializes")
    }

    /// Parses a server message (used by clients and tests).
    pub fn parse(text: &str) -> Result<ServerMessage, ProtocolError> {
        serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera() -> CameraInfo {
        CameraInfo {
            id: "main".into(),
            kind: "emulated".into(),
            status: CameraStatus::Offline,
            running: false,
            reason: Some("device unplugged".into()),
            width: 640,
            height: 480,
            fps: 30,
            quality: 80,
            codec: None,
            viewers: 3,
            frames: 99,
            modes: CameraModes { sizes: vec![[640, 480], [1280, 720]], max_fps: 60, quality: true },
            controls: vec![CameraControl {
                name: "Brightness".into(),
                min: -64,
                max: 64,
                step: 1,
                value: 0,
                default: 0,
            }],
            last_frame_us: Some(5),
            recording: Some(RecordingInfo {
                state: RecordingState::Paused,
                reason: Some("disk full".into()),
                bytes: 10,
                oldest_us: Some(1),
                newest_us: Some(5),
                dropped: 0,
            }),
            motion: Some(MotionInfo { active: true, events: 3 }),
            renditions: vec![RenditionInfo {
                codec: None,
                width: 320,
                height: 240,
                quality: 60,
                running: true,
                viewers: 2,
                frames: 7,
            }],
        }
    }

    #[test]
    fn a_motion_zone_is_checked_and_maps_points_to_cells() {
        let mut zone = MotionZone::everywhere();
        assert_eq!(zone.check(), Ok(()));
        assert!(!zone.ignores_any() && !zone.ignores(0.5, 0.5));
        // Ignore the top left cell and the bottom right one.
        let mut cells = zone.ignored.clone().into_bytes();
        cells[0] = b'1';
        *cells.last_mut().unwrap() = b'1';
        zone.ignored = String::from_utf8(cells).unwrap();
        assert!(zone.ignores(0.0, 0.0) && zone.ignores(0.01, 0.02) && !zone.ignores(0.05, 0.0));
        assert!(zone.ignores(1.0, 1.0) && zone.ignores(0.99, 0.99));
        assert!(
            MotionZone { ignored: "01".into(), ..zone.clone() }
                .check()
                .unwrap_err()
                .contains("576 characters")
        );
        assert!(MotionZone { ignored: "2".repeat(576), ..zone.clone() }.check().is_err());
        assert!(MotionZone { columns: 0, ..zone.clone() }.check().is_err());
        assert!(
            MotionZone { sensitivity: Some(0), ..zone.clone() }.check().unwrap_err().contains("sensitivity")
        );
        assert!(MotionZone { min_area: Some(2.0), ..zone.clone() }.check().unwrap_err().contains("min_area"));
        assert!(MotionZone { sensitivity: Some(100), min_area: Some(0.02), ..zone }.check().is_ok());
    }

    #[test]
    fn client_messages_round_trip() {
        for msg in [
            ClientMessage::Hello {
                window: Some(4),
                max_fps: Some(5.0),
                size: Some("auto".into()),
                canvas: Some([1170, 2532]),
                accept: None,
            },
            ClientMessage::Hello { window: None, max_fps: None, size: None, canvas: None, accept: None },
            ClientMessage::Settings { width: Some(640), height: Some(480), fps: None, quality: Some(70) },
            ClientMessage::Control { name: "Exposure".into(), value: -3 },
            ClientMessage::Ack { seq: u64::MAX },
            ClientMessage::Ping { t: 1234.5 },
            ClientMessage::Play { from_us: 17, speed: Some(8) },
            ClientMessage::Play { from_us: 17, speed: None },
            ClientMessage::Pause,
            ClientMessage::Resume,
            ClientMessage::Step { frames: -3 },
            ClientMessage::Live,
        ] {
            assert_eq!(ClientMessage::parse(&msg.to_json()).unwrap(), msg);
        }
    }

    #[test]
    fn server_messages_round_trip() {
        for msg in [
            ServerMessage::Hello {
                protocol: crate::PROTOCOL_VERSION,
                server_version: "0.1.0".into(),
                camera: "main".into(),
                window: 2,
                cameras: vec![camera()],
                admin: true,
            },
            ServerMessage::State { camera: Box::new(camera()) },
            ServerMessage::Pong { t: 1.5, server_us: 7 },
            ServerMessage::Error { code: ErrorCode::BadAck, message: "no".into() },
            ServerMessage::Playback {
                camera: "main".into(),
                mode: PlaybackMode::Playing,
                position_us: 9,
                speed: 4,
                event: Some(PlaybackEvent::Gap { from_us: 1, to_us: 2 }),
            },
            ServerMessage::Playback {
                camera: "main".into(),
                mode: PlaybackMode::Live,
                position_us: 0,
                speed: 1,
                event: None,
            },
        ] {
            assert_eq!(ServerMessage::parse(&msg.to_json()).unwrap(), msg);
        }
    }

    #[test]
    fn wire_shape_matches_the_documented_protocol() {
        let ack: serde_json::Value = serde_json::from_str(&ClientMessage::Ack { seq: 5 }.to_json()).unwrap();
        assert_eq!(ack, serde_json::json!({"type": "ack", "seq": 5}));
        let pong: serde_json::Value =
            serde_json::from_str(&ServerMessage::Pong { t: 2.0, server_us: 9 }.to_json()).unwrap();
        assert_eq!(pong, serde_json::json!({"type": "pong", "t": 2.0, "server_us": 9}));
        let state: serde_json::Value =
            serde_json::from_str(&ServerMessage::State { camera: Box::new(camera()) }.to_json()).unwrap();
        assert_eq!(state["camera"]["status"], "offline");
        assert_eq!(state["camera"]["reason"], "device unplugged");
    }

    #[test]
    fn playback_messages_have_the_documented_shape() {
        let play = ClientMessage::parse(r#"{"type":"play","from_us":1700000000000000,"speed":2}"#).unwrap();
        assert_eq!(play, ClientMessage::Play { from_us: 1_700_000_000_000_000, speed: Some(2) });
        assert_eq!(ClientMessage::parse(r#"{"type":"live"}"#).unwrap(), ClientMessage::Live);
        assert_eq!(
            ClientMessage::parse(r#"{"type":"step","frames":-1}"#).unwrap(),
            ClientMessage::Step { frames: -1 }
        );
        let msg = ServerMessage::Playback {
            camera: "c".into(),
            mode: PlaybackMode::Playing,
            position_us: 5,
            speed: 1,
            event: Some(PlaybackEvent::LiveEdge),
        };
        let json: serde_json::Value = serde_json::from_str(&msg.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"playback","camera":"c","mode":"playing","position_us":5,"speed":1,
                               "event":{"kind":"live_edge"}})
        );
    }

    #[test]
    fn hello_without_window_is_accepted() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"hello"}"#).unwrap(),
            ClientMessage::Hello { window: None, max_fps: None, size: None, canvas: None, accept: None }
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let cases = [
            "",
            "not json",
            "[]",
            r#"{"seq":1}"#,
            r#"{"type":"fly"}"#,
            r#"{"type":"ack"}"#,
            r#"{"type":"ack","seq":"1"}"#,
            r#"{"type":"ack","seq":-1}"#,
            r#"{"type":"hello","window":300}"#,
        ];
        for text in cases {
            let err = ClientMessage::parse(text).unwrap_err();
            assert_eq!(err.code(), ErrorCode::BadMessage, "{text}");
        }
    }

    #[test]
    fn oversized_message_is_refused_before_parsing() {
        let text = format!(r#"{{"type":"ping","t":1,"pad":"{}"}}"#, "x".repeat(MAX_CLIENT_MESSAGE));
        assert_eq!(ClientMessage::parse(&text).unwrap_err(), ProtocolError::TooLarge(text.len()));
    }

    #[test]
    fn values_out_of_range_are_refused_where_messages_are_parsed() {
        for (text, code, words) in [
            (r#"{"type":"hello","max_fps":-1}"#, ErrorCode::OutOfRange, "max_fps"),
            (r#"{"type":"hello","window":9}"#, ErrorCode::OutOfRange, "window 9 is outside 1..=8"),
            (r#"{"type":"hello","window":0}"#, ErrorCode::OutOfRange, "window 0"),
            (r#"{"type":"hello","canvas":[0,10]}"#, ErrorCode::OutOfRange, "canvas"),
            (r#"{"type":"hello","canvas":[10,16385]}"#, ErrorCode::OutOfRange, "16384"),
            (r#"{"type":"settings","width":640}"#, ErrorCode::BadSettings, "go together"),
            (r#"{"type":"play","from_us":1,"speed":3}"#, ErrorCode::OutOfRange, "1, 2, 4 or 8"),
            (r#"{"type":"step","frames":0}"#, ErrorCode::OutOfRange, "±10000"),
            (r#"{"type":"step","frames":-10001}"#, ErrorCode::OutOfRange, "±10000"),
        ] {
            let e = ClientMessage::parse(text).unwrap_err();
            assert_eq!(e.code(), code, "{text}");
            assert!(e.to_string().contains(words), "{text}: {e}");
        }
        for fine in [
            r#"{"type":"hello","max_fps":0,"window":8,"canvas":[1,16384]}"#,
            r#"{"type":"settings","width":640,"height":480}"#,
            r#"{"type":"settings","fps":5}"#,
            r#"{"type":"play","from_us":1}"#,
            r#"{"type":"step","frames":-10000}"#,
        ] {
            assert!(ClientMessage::parse(fine).is_ok(), "{fine}");
        }
    }
}
