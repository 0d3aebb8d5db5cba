//! `loadgen encode`, and the encode lines of `loadgen bench`: how many frames per second
//! framecast's emulated camera (a rendered test pattern, encoded with libjpeg-turbo the way a
//! camera's MJPEG is) makes on one core, at 720p and 1080p in the benchmark. That bounds what
//! one core can capture before any client is served.

use std::time::{Duration, Instant};

use framecast::camera::{Settings, Size};
use framecast::source::Source;
use serde::Serialize;

/// Encoder throughput of the emulated camera on the current thread.
#[derive(Debug, Serialize)]
pub struct EncodeResult {
    /// Frame size, `WxH`.
    pub size: String,
    /// JPEG quality.
    pub quality: u8,
    /// Frames made in the measured time.
    pub frames: u64,
    /// Frames per second.
    pub fps: f64,
    /// Milliseconds per frame.
    pub ms_per_frame: f64,
    /// Mean JPEG size.
    pub bytes_per_frame: u64,
}

/// Renders and encodes `size` frames at `quality` on the current thread for `duration`.
pub fn encode_rate(size: Size, quality: u8, duration: Duration) -> EncodeResult {
    let settings = Settings { size, fps: 30, quality };
    let mut camera =
        framecast::source::emulated::EmulatedSource::jpeg().open(&settings).expect("emulated camera");
    let started = Instant::now();
    let (mut frames, mut bytes) = (0u64, 0u64);
    while started.elapsed() < duration {
        bytes += camera.grab().expect("frame").data().len() as u64;
        frames += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    EncodeResult {
        size: size.to_string(),
        quality,
        frames,
        fps: frames as f64 / secs,
        ms_per_frame: secs * 1000.0 / frames as f64,
        bytes_per_frame: bytes / frames.max(1),
    }
}

/// `loadgen encode`: [`encode_rate`] for `duration`, printed as JSON.
pub fn command(size: Size, quality: u8, duration: Duration) -> Result<(), String> {
    let r = encode_rate(size, quality, duration);
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    Ok(())
}
