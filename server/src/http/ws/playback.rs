//! The viewer's way back in time, as its session sees it: `play`, `pause`, `resume`, `step`
//! and `live` switch the connection between the camera and a [`Player`] over the recording,
//! and each is answered with a `playback` message (or an `error`). The frames themselves go
//! out through the same credit window as live ones (see the session loop).

use std::sync::Arc;

use framecast_shared::{ErrorCode, PlaybackEvent, PlaybackMode, ServerMessage};

use super::delivery::SessionFlow;
use super::error;
use crate::http::picture::Picture;
use crate::record::playback::Player;
use crate::record::reader::Reader;

/// Whether the viewer sees the camera now or its recording.
#[derive(Debug)]
pub(super) enum Mode {
    Live,
    Playback(Box<Player>),
}

/// A playback message from the viewer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum PlaybackRequest {
    Play { from_us: u64, speed: u32 },
    Pause,
    Resume,
    Step(i32),
    Live,
}

/// The `playback` message describing `mode`.
pub(super) fn playback_state(camera: &str, mode: &Mode, event: Option<PlaybackEvent>) -> ServerMessage {
    let (mode, position_us, speed) = match mode {
        Mode::Live => (PlaybackMode::Live, 0, 1),
        Mode::Playback(p) => (
            if p.paused() { PlaybackMode::Paused } else { PlaybackMode::Playing },
            p.position_us(),
            p.speed(),
        ),
    };
    ServerMessage::Playback { camera: camera.to_string(), mode, position_us, speed, event }
}

/// Carries out a playback request; the answer is a `playback` message or an `error`.
pub(super) async fn playback_request(
    request: PlaybackRequest,
    mode: &mut Mode,
    flow: &mut SessionFlow,
    picture: &Picture,
    recordings: Option<&Arc<Reader>>,
) -> ServerMessage {
    let camera = picture.camera.id();
    let moved = Some(PlaybackEvent::Moved);
    match (request, &mut *mode) {
        (PlaybackRequest::Play { from_us, speed }, _) => {
            let Some(reader) = recordings else {
                return error(
                    ErrorCode::NoRecording,
                    "this server does not record (start it with --record-dir)",
                );
            };
            match Player::start(reader.clone(), camera, from_us, speed).await {
                Ok(Some(player)) => {
                    *mode = Mode::Playback(Box::new(player));
                    playback_state(camera, mode, Some(PlaybackEvent::Started))
                }
                Ok(None) => error(
                    ErrorCode::NoRecording,
                    &format!(
                        "nothing of camera '{camera}' is recorded at or after {}",
                        crate::clock::seconds(from_us)
                    ),
                ),
                Err(e) => error(ErrorCode::NoRecording, &format!("cannot play: {e}")),
            }
        }
        (PlaybackRequest::Live, _) => {
            *mode = Mode::Live;
            flow.back_to_live(picture.viewer.hub().info().frames);
            playback_state(camera, mode, Some(PlaybackEvent::Live))
        }
        (PlaybackRequest::Pause, Mode::Playback(player)) => {
            player.pause();
            playback_state(camera, mode, moved)
        }
        (PlaybackRequest::Resume, Mode::Playback(player)) => {
            player.resume();
            playback_state(camera, mode, moved)
        }
        (PlaybackRequest::Step(frames), Mode::Playback(player)) if player.paused() => {
            match player.step(frames).await {
                Ok(()) => playback_state(camera, mode, moved),
                Err(e) => error(ErrorCode::NoRecording, &format!("cannot step: {e}")),
            }
        }
        (PlaybackRequest::Step(_), Mode::Playback(_)) => error(ErrorCode::NotNow, "step works while paused"),
        (_, Mode::Live) => error(
            ErrorCode::NotNow,
            "pause, resume and step work during playback; send play first (the live picture is paused in the viewer)",
        ),
    }
}
