//! Clients that speak framecast's protocols the way real clients do, shared by the
//! end-to-end tests (`tests/e2e/`) and the load generator (`src/bin/loadgen/`).
//!
//! Layout: [`process`] starts and measures a `framecast` process; [`http_client`] is a raw
//! HTTP/1.1 client with MJPEG part parsing; [`soak`] runs connect/abuse/disconnect cycles;
//! [`throttle`] holds a reader to a byte rate (a viewer on a slow link); [`rtsp`] runs a real
//! RTSP server (GStreamer's) for the IP-camera tests; [`recbench`] is the
//! recording benchmark, [`codecbench`] the JPEG one. The WebSocket side uses `tokio-tungstenite` and
//! the `framecast-shared` protocol types directly.

pub mod codecbench;
pub mod http_client;
pub mod process;
pub mod recbench;
pub mod rtsp;
pub mod soak;
pub mod throttle;

/// The `p` quantile (0–1) of sorted microsecond samples, in ms; NaN when there are none.
pub fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    sorted_us[((sorted_us.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}
