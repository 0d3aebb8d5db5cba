//! framecast browser client.
//!
//! Layout:
//! - [`app`]: the page — canvas, overlay, controls, keyboard shortcuts.
//! - [`stream`]: the frame pipeline: WebSocket → decode (`createImageBitmap`) → canvas → ack,
//!   plus reconnect, pause and the figures for the overlay.
//! - [`clock`]: clock offset to the server from ping/pong (for true latency).
//! - [`stats`]: rolling one-second figures (median/worst latency, rates, skipped frames).
//! - [`token`]: the access token, asked for once and remembered on the device.
//!
//! `clock` and `stats` are pure and unit-tested with `wasm-bindgen-test`.

pub mod app;
pub mod clock;
pub mod stats;
pub mod stream;
pub mod token;

/// Mounts the app on `<body>`.
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
