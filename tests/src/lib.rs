//! Clients that speak framecast's protocols the way real clients do, shared by the
//! end-to-end tests (`tests/e2e/`) and the load generator (`src/bin/loadgen.rs`).
//!
//! Layout: [`process`] starts and measures a `framecast` process; [`http_client`] is a raw
//! HTTP/1.1 client with MJPEG part parsing; [`soak`] runs connect/abuse/disconnect cycles;
//! [`throttle`] holds a reader to a byte rate (a viewer on a slow link). The WebSocket side uses `tokio-tungstenite` and
//! the `framecast-shared` protocol types directly.

pub mod http_client;
pub mod process;
pub mod soak;
pub mod throttle;
