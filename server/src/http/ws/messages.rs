//! What a viewer's text messages ask for (`docs/protocol.md`, "Client messages"): acks and
//! pings are answered at once, settings and controls go to the camera (with admin rights),
//! and playback requests and choices of picture go back to the session loop.

use std::time::Duration;

use framecast_shared::{ClientMessage, ErrorCode, ServerMessage, unix_micros_now};

use super::delivery::SessionFlow;
use super::error;
use super::playback::PlaybackRequest;
use crate::http::picture::SizeChoice;
use crate::http::view::{accepts_h264, parse_size};
use crate::hub::Hub;

/// What [`handle_text`] made of a message.
#[derive(Debug)]
pub(super) enum Handled {
    /// Done; this is the answer, if any.
    Reply(Option<Box<ServerMessage>>),
    /// A playback request for the session loop.
    Playback(PlaybackRequest),
    /// Choose the picture anew (`hello` with `size` or `canvas`).
    Choose { size: Option<SizeChoice>, canvas: Option<[u32; 2]>, h264: Option<bool> },
}

/// Acts on one client text message: answers it, or hands a playback request or a choice of
/// picture to the session loop. Values out of range were refused where the message was
/// parsed ([`ClientMessage::parse`]); what is left needs the viewer's state or the camera.
pub(super) fn handle_text(text: &str, flow: &mut SessionFlow, hub: &Hub, admin: bool) -> Handled {
    let message = ClientMessage::parse(text);
    if !admin && matches!(message, Ok(ClientMessage::Settings { .. } | ClientMessage::Control { .. })) {
        return refuse(ErrorCode::Forbidden, "changing the camera needs the admin token (--admin-token)");
    }
    let reply = match message {
        Err(e) => Some(error(e.code(), &e.to_string())),
        Ok(ClientMessage::Ack { seq }) => {
            flow.on_ack(seq).err().map(|e| error(ErrorCode::BadAck, &e.to_string()))
        }
        Ok(ClientMessage::Ping { t }) => Some(ServerMessage::Pong { t, server_us: unix_micros_now() }),
        Ok(ClientMessage::Hello { window, max_fps, size, canvas, accept }) => {
            if let Some(fps) = max_fps {
                flow.min_interval = (fps > 0.0).then(|| Duration::from_secs_f64(1.0 / fps.max(0.01)));
            }
            if let Some(refused) = window.and_then(|w| {
                flow.credit.set_window(w).err().map(|e| error(ErrorCode::OutOfRange, &e.to_string()))
            }) {
                return Handled::Reply(Some(Box::new(refused)));
            }
            let size = match size.as_deref().map(str::trim) {
                None => None,
                Some("full") => Some(SizeChoice::Full),
                Some("auto") => Some(SizeChoice::Auto),
                Some(text) => match parse_size(text) {
                    Ok(size) => Some(SizeChoice::Fixed(size)),
                    Err(e) => return refuse(ErrorCode::OutOfRange, &format!("{e}; or \"auto\" or \"full\"")),
                },
            };
            let h264 = accept.map(|codecs| codecs.iter().any(|c| accepts_h264(c)));
            if size.is_some() || canvas.is_some() || h264.is_some() {
                return Handled::Choose { size, canvas, h264 };
            }
            None
        }
        Ok(ClientMessage::Settings { width, height, fps, quality }) => {
            let size = width.zip(height);
            hub.apply_settings(size, fps, quality).err().map(|e| error(ErrorCode::BadSettings, &e))
        }
        Ok(ClientMessage::Control { name, value }) => {
            hub.set_control(&name, value).err().map(|e| error(ErrorCode::BadSettings, &e))
        }
        Ok(ClientMessage::Play { from_us, speed }) => {
            return Handled::Playback(PlaybackRequest::Play { from_us, speed: speed.unwrap_or(1) });
        }
        Ok(ClientMessage::Pause) => return Handled::Playback(PlaybackRequest::Pause),
        Ok(ClientMessage::Resume) => return Handled::Playback(PlaybackRequest::Resume),
        Ok(ClientMessage::Step { frames }) => return Handled::Playback(PlaybackRequest::Step(frames)),
        Ok(ClientMessage::Live) => return Handled::Playback(PlaybackRequest::Live),
    };
    Handled::Reply(reply.map(Box::new))
}

/// A refused message's answer.
fn refuse(code: ErrorCode, message: &str) -> Handled {
    Handled::Reply(Some(Box::new(error(code, message))))
}
