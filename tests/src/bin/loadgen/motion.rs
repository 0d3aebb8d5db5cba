//! `loadgen motion`: what motion detection costs, against a baseline measured in the same
//! run on the same pictures (the benchmark's camera-like 720p JPEGs).
//!
//! - Per picture, on one core: the small grey decode (libjpeg-turbo at 1/8, luma only) plus
//!   the detector, against a full decode of the same JPEG (to 4:2:0 planes, the cheapest full
//!   decode: no colour conversion). For an H.264 camera: OpenH264's decode plus the
//!   shrinking and the detector, against the decode alone.
//! - Per camera, the server's CPU over 10 s with `--motion all` at `--motion-fps 5` and
//!   nobody watching, against the same camera kept running by one reader of a frame a second
//!   without motion detection.

use std::path::Path;
use std::time::{Duration, Instant};

use framecast::media::PlaneBuffer;
use framecast::media::h264::codec::{Decoder, Encoder, EncoderSettings, bitrate_for};
use framecast::media::jpeg::turbo;
use framecast::motion::detect::{Detector, Params};
use framecast_tests::process::{ServerProcess, Usage};
use serde::Serialize;

use crate::setup::{BenchFrames, bench_args};

/// Seconds each server is measured.
const SECONDS: u64 = 10;

/// Everything `loadgen motion` measured.
#[derive(Debug, Serialize)]
pub struct MotionBench {
    /// µs per picture: full JPEG decode (planes).
    pub jpeg_full_decode_us: f64,
    /// µs per picture: 1/8 grey decode + detector.
    pub jpeg_detect_us: f64,
    /// µs per picture: the 1/8 grey decode alone.
    pub jpeg_grey_us: f64,
    /// µs per picture: the detector alone (160x90).
    pub detector_us: f64,
    /// µs per picture: OpenH264 decode alone.
    pub h264_decode_us: f64,
    /// µs per picture: OpenH264 decode + shrink + detector.
    pub h264_detect_us: f64,
    /// Server CPU, % of a core: the camera kept running by one 1 frame/s reader, no motion.
    pub cpu_baseline: f64,
    /// Server CPU, % of a core: `--motion all`, nobody watching.
    pub cpu_motion: f64,
}

/// `loadgen motion` (also part of `loadgen bench`).
pub async fn run(server: &Path, frames: &BenchFrames) -> Result<MotionBench, String> {
    eprintln!("==> motion: detection against a full decode, per 720p picture on one core");
    let jpegs = frames.jpegs()?;
    let time = Duration::from_secs(3);
    let mut planes = PlaneBuffer::default();
    let mut scaler = turbo::Scaler::new().map_err(|e| e.to_string())?;
    let jpeg_full_decode_us = per_picture(time, |i| {
        scaler.decode_i420(&jpegs[i % jpegs.len()], 8, &mut planes).map_err(|e| e.to_string())
    })?;
    let mut grey = turbo::Grey::default();
    let mut decoder = turbo::GreyDecoder::new().map_err(|e| e.to_string())?;
    let mut detector = Detector::new(160, 90, Params::default());
    let jpeg_detect_us = per_picture(time, |i| {
        decoder.decode(&jpegs[i % jpegs.len()], 160, &mut grey).map_err(|e| e.to_string())?;
        detector.detect(&grey.pixels, grey.width, i as u64 * 200_000);
        Ok(())
    })?;
    let jpeg_grey_us = per_picture(time, |i| {
        decoder.decode(&jpegs[i % jpegs.len()], 160, &mut grey).map_err(|e| e.to_string())
    })?;
    let greys = jpegs
        .iter()
        .map(|j| {
            let mut g = turbo::Grey::default();
            decoder.decode(j, 160, &mut g).map(|_| g).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut detector = Detector::new(160, 90, Params::default());
    let detector_us = per_picture(time, |i| {
        detector.detect(&greys[i % greys.len()].pixels, 160, i as u64 * 200_000);
        Ok(())
    })?;

    // The same pictures as H.264 (OpenH264 at framecast's rate), decoded in order.
    let all_planes = frames.planes()?;
    let mut encoder = Encoder::new(EncoderSettings {
        fps: 30.0,
        bitrate_bps: bitrate_for(1280, 720, 30),
        keyframe_every: 30,
        full_range: true,
    })
    .map_err(|e| e.to_string())?;
    let units = (0..90)
        .map(|i| encoder.encode_i420(all_planes[i % all_planes.len()].planes()).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut h264 = Decoder::new().map_err(|e| e.to_string())?;
    let h264_decode_us = per_picture(time, |i| {
        h264.decode(&units[i % units.len()], |_| {}).map(|_| ()).map_err(|e| e.to_string())
    })?;
    let mut h264 = Decoder::new().map_err(|e| e.to_string())?;
    let mut detector = Detector::new(160, 90, Params::default());
    let h264_detect_us = per_picture(time, |i| {
        h264.decode(&units[i % units.len()], |p| {
            framecast::motion::shrink_luma(p.y, p.strides.0, p.width, p.height, &mut grey);
            detector.detect(&grey.pixels, grey.width, i as u64 * 200_000);
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    })?;

    eprintln!("==> motion: server CPU for {SECONDS} s, the camera kept running by a 1 frame/s reader");
    let args = bench_args(&frames.camera);
    let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
    let reader = tokio::spawn(crate::clients::run_clients(
        crate::clients::Protocol::Mjpeg,
        process.addr,
        1,
        Duration::from_secs(SECONDS + 4),
        crate::clients::Reading { path: "/stream.mjpg?fps=1", ..crate::clients::Reading::FULL },
        None,
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_baseline = cpu_percent(process.pid(), Duration::from_secs(SECONDS)).await?;
    let _ = reader.await;
    drop(process);
    eprintln!("==> motion: server CPU for {SECONDS} s with --motion all, nobody watching");
    let mut args = bench_args(&frames.camera);
    args.extend(["--motion", "all"]);
    let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_motion = cpu_percent(process.pid(), Duration::from_secs(SECONDS)).await?;
    drop(process);
    Ok(MotionBench {
        jpeg_full_decode_us,
        jpeg_detect_us,
        jpeg_grey_us,
        detector_us,
        h264_decode_us,
        h264_detect_us,
        cpu_baseline,
        cpu_motion,
    })
}

/// Runs `f` (given the picture number) for about `time`: µs per picture.
fn per_picture(time: Duration, mut f: impl FnMut(usize) -> Result<(), String>) -> Result<f64, String> {
    let (per_second, _) = crate::h264::rate(time, |i| f(i).map(|()| 0))?;
    Ok(1e6 / per_second)
}

/// The process's CPU over `window`, in % of one core.
async fn cpu_percent(pid: u32, window: Duration) -> Result<f64, String> {
    let before = Usage::of(pid).map_err(|e| e.to_string())?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let after = Usage::of(pid).map_err(|e| e.to_string())?;
    Ok((after.cpu - before.cpu).as_secs_f64() / started.elapsed().as_secs_f64() * 100.0)
}

/// Prints the figures with their ratios.
pub fn print(r: &MotionBench) {
    println!("\nmotion detection, 1280x720 camera-like pictures, one core:");
    println!(
        "  JPEG camera:  1/8 grey decode + detector {:7.0} µs/picture   full decode {:7.0} µs: {:.1} % of it",
        r.jpeg_detect_us,
        r.jpeg_full_decode_us,
        r.jpeg_detect_us / r.jpeg_full_decode_us * 100.0
    );
    println!(
        "    of which the 1/8 grey decode {:7.0} µs ({:.1} % of a full decode: every coefficient is still read) and the detector {:5.0} µs",
        r.jpeg_grey_us,
        r.jpeg_grey_us / r.jpeg_full_decode_us * 100.0,
        r.detector_us
    );
    println!(
        "  H.264 camera: decode + shrink + detector {:7.0} µs/picture   decode alone {:7.0} µs: {:.2}x",
        r.h264_detect_us,
        r.h264_decode_us,
        r.h264_detect_us / r.h264_decode_us
    );
    println!(
        "  server CPU, JPEG camera at 30 fps: --motion all at 5 pictures/s, nobody watching {:.1} % of a core; \
         the camera kept running by a 1 frame/s reader without motion {:.1} %: motion adds {:.1} %",
        r.cpu_motion,
        r.cpu_baseline,
        r.cpu_motion - r.cpu_baseline
    );
}
