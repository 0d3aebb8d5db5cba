//! framecast browser client.
//!
//! Layout:
//! - [`app`]: the page — canvas, timeline, controls, keyboard shortcuts — composed of the
//!   [`components`] (timeline, control bar, overlay, settings, token form, camera grid).
//! - [`stream`]: the frame pipeline: WebSocket → decoder (today `createImageBitmap`) → canvas
//!   → ack, plus reconnect, pause and the figures for the overlay; one submodule each for the
//!   socket, the decoder, drawing, the figures and the view state.
//! - [`clock`]: clock offset to the server from ping/pong (for true latency).
//! - [`stats`]: rolling one-second figures (median/worst latency, rates, skipped frames), the
//!   windows the stream's overlay figures are kept in.
//! - [`token`]: the access token, asked for once and remembered on the device.
//! - [`recordings`]: the recorded spans (`/api/recordings`) and export links.
//! - [`timefmt`]: clock times and "12 min behind live" in words.
//!
//! `clock` and `stats` are pure and unit-tested with `wasm-bindgen-test`.

pub mod app;
pub mod clock;
pub mod components;
pub mod recordings;
pub mod stats;
pub mod stream;
pub mod timefmt;
pub mod token;

/// Mounts the app on `<body>`.
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
