//! The JPEG benchmark: what one core does with libjpeg-turbo ([`framecast::media::jpeg::turbo`]), against
//! a baseline measured in the same run — the pure-Rust `jpeg-encoder` the server used before,
//! for encoding; a full-size decode and re-encode, for scaling.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

/// One measured loop.
#[derive(Debug, Serialize)]
pub struct Figure {
    /// What was done.
    pub what: String,
    /// Frames per second on one core.
    pub fps: f64,
    /// Milliseconds per frame.
    pub ms: f64,
    /// Output bytes per frame.
    pub bytes: u64,
}

/// Every figure, encoders first.
#[derive(Debug, Serialize)]
pub struct CodecReport {
    /// Encoding RGB at 720p (the emulated camera's pattern, and camera-like with sensor
    /// noise) and 1080p (camera-like), 4:2:0, quality 80: (libjpeg-turbo, jpeg-encoder).
    pub encode: Vec<(Figure, Figure)>,
    /// Making renditions of the benchmark's 720p frames: (n/8 scale, full-size baseline).
    pub scale: Vec<Figure>,
}

/// Runs `f` for about `time` and reports its rate.
fn measure(what: String, time: Duration, mut f: impl FnMut() -> usize) -> Figure {
    // Warm up caches and the allocator.
    for _ in 0..3 {
        f();
    }
    let started = Instant::now();
    let (mut frames, mut bytes) = (0u64, 0u64);
    while started.elapsed() < time {
        bytes += f() as u64;
        frames += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    Figure { what, fps: frames as f64 / secs, ms: secs * 1000.0 / frames as f64, bytes: bytes / frames }
}

/// Frame `frame_no` of camera-like RGB: the emulated pattern with sensor-like noise (so the
/// JPEG is about as large as a real camera's: ~100 KB at 720p).
pub fn noisy_frame(width: u32, height: u32, frame_no: u64) -> Vec<u8> {
    let mut pattern = framecast::source::pattern::Pattern::new(width, height);
    let mut rgb = pattern.render(frame_no, framecast_shared::unix_micros_now()).to_vec();
    let mut noise: u32 = 0x1234_5678 ^ frame_no as u32;
    for px in rgb.iter_mut() {
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        *px = px.saturating_add((noise % 24) as u8).saturating_sub(12);
    }
    rgb
}

/// Writes `count` camera-like JPEGs (`001.jpg`...) into `dir`, for a `files:` camera whose
/// frames are about as large as a real camera's (~95 KB at 720p, quality 82); returns their
/// mean size in bytes.
pub fn write_camera_like_frames(
    dir: &Path,
    count: usize,
    width: u32,
    height: u32,
    quality: u8,
) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut total = 0;
    for i in 0..count.max(1) {
        let rgb = noisy_frame(width, height, i as u64 + 1);
        let jpeg = framecast::media::jpeg::turbo::encode_rgb(&rgb, width, height, quality)
            .map_err(std::io::Error::other)?;
        total += jpeg.len() as u64;
        std::fs::write(dir.join(format!("{:03}.jpg", i + 1)), jpeg)?;
    }
    Ok(total / count.max(1) as u64)
}

/// Measures encoding, and scaling the JPEGs in `frames_dir` (camera-like 720p).
pub fn run(frames_dir: &Path, time: Duration) -> Result<CodecReport, String> {
    let mut encode = Vec::new();
    for (w, h, noisy) in [(1280, 720, false), (1280, 720, true), (1920, 1080, true)] {
        let rgb = if noisy {
            noisy_frame(w, h, 1)
        } else {
            framecast::source::pattern::Pattern::new(w, h).render(1, 0).to_vec()
        };
        let kind = if noisy { "camera-like" } else { "test pattern" };
        let mut turbo = framecast::media::jpeg::turbo::Encoder::new(80).map_err(|e| e.to_string())?;
        let fast = measure(format!("{w}x{h} {kind} libjpeg-turbo"), time, || {
            turbo.encode_rgb(&rgb, w, h).expect("encodes").len()
        });
        let before = measure(format!("{w}x{h} {kind} jpeg-encoder"), time, || {
            let mut out = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            encoder.encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).expect("encodes");
            out.len()
        });
        encode.push((fast, before));
    }
    let mut jpegs = Vec::new();
    for entry in std::fs::read_dir(frames_dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|x| x == "jpg") {
            jpegs.push(std::fs::read(&path).map_err(|e| e.to_string())?);
        }
    }
    if jpegs.is_empty() {
        return Err(format!("no JPEGs in {}", frames_dir.display()));
    }
    let mut scaler = framecast::media::jpeg::turbo::Scaler::new().map_err(|e| e.to_string())?;
    let mut scale = Vec::new();
    for eighths in [8u8, 4, 2] {
        let (w, h) = framecast::media::jpeg::turbo::scaled_size(1280, 720, eighths);
        let mut i = 0;
        scale.push(measure(format!("720p -> {w}x{h} ({eighths}/8)"), time, || {
            i += 1;
            scaler.scale(&jpegs[i % jpegs.len()], eighths, 80).expect("scales").data.len()
        }));
    }
    Ok(CodecReport { encode, scale })
}

/// Prints the figures with their ratios to the baselines.
pub fn print(r: &CodecReport) {
    println!("\nJPEG on one core (4:2:0, quality 80):");
    for (fast, before) in &r.encode {
        println!(
            "  encode {:<40} {:6.1} fps ({:5.2} ms, {:4} KB)  vs jpeg-encoder {:6.1} fps = {:.1}x",
            fast.what,
            fast.fps,
            fast.ms,
            fast.bytes / 1000,
            before.fps,
            fast.fps / before.fps
        );
    }
    let full = r.scale.first().map(|f| f.ms).unwrap_or(f64::NAN);
    for s in &r.scale {
        println!(
            "  rendition {:<38} {:6.1} fps ({:5.2} ms, {:4} KB) = {:.2}x the CPU of a full-size decode+encode",
            s.what,
            s.fps,
            s.ms,
            s.bytes / 1000,
            s.ms / full
        );
    }
}
