//! The framecast wire protocol, shared by the server and the browser client.
//!
//! Everything that crosses the network between `framecast` and its viewers is defined here
//! once, so both sides agree by construction. `docs/protocol.md` describes the same protocol
//! for people writing other clients.
//!
//! Layout:
//! - [`frame`]: the binary WebSocket message that carries one frame (a JPEG or an H.264
//!   access unit) and its header.
//! - [`control`]: JSON text messages in both directions (hello, ack, ping/pong, state, error,
//!   playback) and the `/api/state` and `/api/recordings` documents.
//! - [`fmp4`]: fragmented MP4 for H.264, written the same way by the server (`/stream.mp4`,
//!   MP4 export) and the browser client (`MediaSource`).

pub mod control;
pub mod fmp4;
pub mod frame;

pub use control::{
    ApiState, CameraControl, CameraInfo, CameraModes, CameraStatus, ClientMessage, ErrorCode,
    MAX_CANVAS_SIDE, MAX_STEP, MotionEvent, MotionInfo, MotionZone, PLAYBACK_SPEEDS, PictureMode,
    PlaybackEvent, PlaybackMode, ProtocolError, RecordedSpan, RecordingInfo, RecordingState, RenditionInfo,
    ServerMessage,
};
pub use frame::{FrameDecodeError, FrameEncodeError, FrameHeader, VideoConfig};

/// Version of the protocol described in `docs/protocol.md`; sent in the server's `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Frames a client may hold unacknowledged when it does not choose (see [`ClientMessage::Hello`]).
pub const DEFAULT_WINDOW: u8 = 2;

/// Smallest and largest credit window a client may ask for.
pub const WINDOW_RANGE: std::ops::RangeInclusive<u8> = 1..=8;

/// Microseconds since the Unix epoch on this machine's clock: the unit of every timestamp in
/// the protocol.
///
/// Not available on wasm32 (no system clock there); the browser uses `Date.now()` instead.
#[cfg(not(target_arch = "wasm32"))]
pub fn unix_micros_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
