//! What a pipeline is doing, as the UI is told it: the status line ([`ViewState`]), the
//! position in time ([`Playback`]) and the server's cameras ([`Cameras`]). The pipeline keeps
//! the pieces in a [`View`] (the user's pause, the tab's visibility, what the server last said
//! of the camera and the playback); [`refresh_state`] makes one status out of them and
//! reports it when it changed.

use framecast_shared::{CameraInfo, CameraStatus, FrameHeader, PlaybackMode};

use super::{Shared, now_ms};

/// What the viewer is doing, for the status line.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewState {
    /// Opening the WebSocket.
    Connecting,
    /// Frames are being drawn.
    Live,
    /// The camera is starting (no frame yet).
    CameraStarting,
    /// The camera failed; the last frame stays, dimmed.
    CameraOffline {
        /// Why, as the server says.
        reason: String,
        /// How long ago the last frame was captured, when known.
        last_frame_ago_ms: Option<f64>,
        /// Local clock time of that frame.
        last_frame_at: Option<String>,
    },
    /// Showing the recording, not the live picture.
    Recorded {
        /// Held on one frame.
        paused: bool,
        /// Local clock time of the frame shown.
        at: String,
        /// How far behind live it is.
        behind_ms: f64,
        /// Playback speed.
        speed: u32,
    },
    /// The connection dropped; retrying.
    Reconnecting,
    /// Paused by the user.
    Paused,
    /// The tab is hidden.
    Hidden,
    /// The server wants a token this device does not have (`rejected`: the remembered one
    /// was refused).
    NeedsToken {
        /// Whether a remembered token was refused.
        rejected: bool,
    },
    /// Too many wrong tokens from this address; retrying after this many seconds.
    LockedOut(u32),
    /// Something the browser cannot do.
    Unsupported(String),
}

impl ViewState {
    /// Text for the status line.
    pub fn label(&self) -> String {
        match self {
            ViewState::Connecting => "connecting".into(),
            ViewState::Live => "live".into(),
            ViewState::CameraStarting => "camera starting".into(),
            ViewState::CameraOffline { reason, last_frame_ago_ms, last_frame_at } => {
                let mut text = format!("camera offline: {reason}");
                if let (Some(ago), Some(at)) = (last_frame_ago_ms, last_frame_at) {
                    text.push_str(&format!(" · last frame {at} ({})", crate::timefmt::ago_text(*ago)));
                }
                text
            }
            ViewState::Recorded { paused, at, behind_ms, speed } => {
                let mut text = format!("recorded · {at} · {}", crate::timefmt::behind_text(*behind_ms));
                if *paused {
                    text.push_str(" · paused");
                } else if *speed > 1 {
                    text.push_str(&format!(" · {speed}×"));
                }
                text
            }
            ViewState::Reconnecting => "reconnecting".into(),
            ViewState::Paused => "paused".into(),
            ViewState::Hidden => "paused (tab hidden)".into(),
            ViewState::NeedsToken { rejected: false } => "this camera needs a token".into(),
            ViewState::NeedsToken { rejected: true } => "the token was not accepted".into(),
            ViewState::LockedOut(secs) => format!("too many wrong tokens; retrying in {secs} s"),
            ViewState::Unsupported(what) => what.clone(),
        }
    }

    /// Whether the picture on screen is neither live nor a recording being shown (dimmed).
    pub fn is_stale(&self) -> bool {
        !matches!(self, ViewState::Live | ViewState::Recorded { .. })
    }

    /// Whether the picture is from the recording.
    pub fn is_recorded(&self) -> bool {
        matches!(self, ViewState::Recorded { .. })
    }
}

/// Where this viewer is in time, as the server last said, for the timeline and controls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Playback {
    /// Live, playing the recording, or paused in it.
    pub mode: PlaybackMode,
    /// Capture time of the recorded frame shown (0 when live).
    pub position_us: u64,
    /// Playback speed.
    pub speed: u32,
}

impl Default for Playback {
    fn default() -> Self {
        Playback { mode: PlaybackMode::Live, position_us: 0, speed: 1 }
    }
}

/// Every camera of the server, and which one this page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cameras {
    /// All cameras, as the server last described them.
    pub all: Vec<CameraInfo>,
    /// Id of the shown camera.
    pub shown: String,
    /// Whether this device may change the cameras (its token has admin rights).
    pub admin: bool,
}

impl Cameras {
    /// The shown camera.
    pub fn current(&self) -> Option<&CameraInfo> {
        self.all.iter().find(|c| c.id == self.shown)
    }
}

/// What the status line of one pipeline is made from.
pub(super) struct View {
    /// Paused by the user.
    pub(super) user_paused: bool,
    /// The tab is hidden.
    pub(super) hidden: bool,
    /// Camera (or connection) status from the server, to return to after a pause.
    pub(super) camera: ViewState,
    /// The server's cameras, for the offline camera's last frame.
    pub(super) cameras: Cameras,
    /// Live or the recording, as the server last said; the position follows the recorded
    /// frames drawn.
    pub(super) playback: Playback,
    /// The state last reported, so an unchanged state is not reported again.
    reported: Option<ViewState>,
}

impl View {
    /// Connecting, live, not paused.
    pub(super) fn new() -> View {
        View {
            user_paused: false,
            hidden: false,
            camera: ViewState::Connecting,
            cameras: Cameras::default(),
            playback: Playback::default(),
            reported: None,
        }
    }

    /// Whether no pictures are wanted: paused by the user, or the tab is hidden.
    pub(super) fn paused(&self) -> bool {
        self.user_paused || self.hidden
    }

    /// A frame was drawn: a recorded one moves the playback position.
    pub(super) fn on_drawn(&mut self, header: &FrameHeader) {
        if header.recorded && self.playback.mode != PlaybackMode::Live {
            self.playback.position_us = header.captured_us;
        }
    }

    /// The pause state if paused, the recording's position when playing it back, otherwise
    /// what the camera/connection is doing, with the server's clock at `server_now` (µs).
    fn status(&self, server_now: u64) -> ViewState {
        if self.user_paused {
            ViewState::Paused
        } else if self.hidden {
            ViewState::Hidden
        } else if self.playback.mode != PlaybackMode::Live
            && matches!(
                self.camera,
                ViewState::Live | ViewState::CameraStarting | ViewState::CameraOffline { .. }
            )
        {
            let at = self.playback.position_us;
            ViewState::Recorded {
                paused: self.playback.mode == PlaybackMode::Paused,
                at: crate::timefmt::clock_text(at, server_now),
                behind_ms: server_now.saturating_sub(at) as f64 / 1000.0,
                speed: self.playback.speed,
            }
        } else if let ViewState::CameraOffline { reason, .. } = &self.camera {
            let last = self.cameras.current().and_then(|c| c.last_frame_us);
            ViewState::CameraOffline {
                reason: reason.clone(),
                last_frame_ago_ms: last.map(|t| server_now.saturating_sub(t) as f64 / 1000.0),
                last_frame_at: last.map(|t| crate::timefmt::clock_text(t, server_now)),
            }
        } else {
            self.camera.clone()
        }
    }
}

/// What a camera's description means for the status line.
pub(super) fn camera_state(pipeline: &Shared, camera: &CameraInfo) -> ViewState {
    match camera.status {
        CameraStatus::Running => ViewState::Live,
        CameraStatus::Offline => {
            let now = server_now_us(pipeline);
            ViewState::CameraOffline {
                reason: camera.reason.clone().unwrap_or_default(),
                last_frame_ago_ms: camera.last_frame_us.map(|t| now.saturating_sub(t) as f64 / 1000.0),
                last_frame_at: camera.last_frame_us.map(|t| crate::timefmt::clock_text(t, now)),
            }
        }
        CameraStatus::Starting | CameraStatus::Stopped => ViewState::CameraStarting,
    }
}

/// The server's clock now, µs, from the pipeline's ping/pong estimate when there is one.
pub(super) fn server_now_us(pipeline: &Shared) -> u64 {
    let offset = pipeline.try_borrow().ok().and_then(|p| p.clock.offset_ms());
    ((now_ms() - offset.unwrap_or(0.0)) * 1000.0).max(0.0) as u64
}

/// Tells the UI where the viewer is in time.
pub(super) fn report_playback(pipeline: &Shared) {
    let playback = pipeline.borrow().view.playback;
    (pipeline.borrow().report.playback)(playback);
}

/// Tells the UI `state` as it is, bypassing [`refresh_state`] (for what the browser cannot do).
pub(super) fn report_state(pipeline: &Shared, state: ViewState) {
    (pipeline.borrow().report.state)(state);
}

/// Shows the pause state if paused, the recording's position when playing it back, otherwise
/// what the camera/connection is doing. Reports only changes.
pub(super) fn refresh_state(pipeline: &Shared) {
    let server_now = server_now_us(pipeline);
    let state = pipeline.borrow().view.status(server_now);
    if pipeline.borrow().view.reported.as_ref() == Some(&state) {
        return;
    }
    pipeline.borrow_mut().view.reported = Some(state.clone());
    report_state(pipeline, state);
}
