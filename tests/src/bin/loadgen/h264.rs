//! `loadgen h264`: what H.264 saves and what it costs, each figure against JPEG measured in
//! the same run on the same picture (the benchmark's camera-like 720p frames: the moving test
//! pattern under sensor-like noise, not the flat pattern alone).
//!
//! Two H.264 versions of that picture are measured, because H.264's size is the encoder's
//! choice: framecast's own OpenH264 (what the emulated camera and the H.264 renditions of a
//! JPEG camera send, rate-controlled at 0.05 bits per pixel), and x264 asked for a quality
//! rather than a rate (`-crf 23`, its default; `veryfast`, no B-frames, a keyframe a second,
//! as a camera's encoder would run), passed through by a `cmd:` camera as a Pi's or an IP
//! camera's H.264 would be. The x264 stream is encoded once before the measures (ffmpeg
//! copies it at the camera's pace after that), so the server's CPU figures are framecast's
//! alone.
//!
//! Measured: OpenH264's encode and decode speed at 720p on one core (against libjpeg-turbo
//! encoding the same planes); bytes per viewer and per recorded hour; a viewer on a 2 Mbit/s
//! link with `auto` taking JPEG only and taking H.264; a viewer taking one frame a second; and
//! 500 viewers of an H.264 camera against 500 of the JPEG camera (stalls, server CPU per
//! delivered frame).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use framecast::media::h264::codec::{Decoder, Encoder, EncoderSettings, bitrate_for};
use framecast::media::jpeg::turbo;
use framecast_shared::RecordedSpan;
use framecast_tests::http_client;
use framecast_tests::process::ServerProcess;
use serde::Serialize;

use crate::clients::{Protocol, Reading, ScenarioResult, run_clients};
use crate::setup::{BenchFrames, bench_args};

/// Seconds each viewer scenario is measured.
const SECONDS: u64 = 10;

/// Codec speed on one core.
#[derive(Debug, Serialize)]
pub struct CodecSpeed {
    /// libjpeg-turbo encoding the frames' 4:2:0 planes at quality 80: fps, bytes per frame.
    pub jpeg_encode: (f64, u64),
    /// OpenH264 encoding them at framecast's rate: fps, bytes per frame.
    pub h264_encode: (f64, u64),
    /// OpenH264 decoding what it encoded: fps.
    pub h264_decode: f64,
}

/// One stream's cost on the wire and on disk.
#[derive(Debug, Serialize)]
pub struct StreamBytes {
    /// What it is.
    pub what: String,
    /// One viewer's Mbit/s.
    pub viewer_mbit_s: f64,
    /// Recorded bytes per hour, when it was recorded.
    pub recorded_gb_per_hour: Option<f64>,
}

/// Everything `loadgen h264` measured.
#[derive(Debug, Serialize)]
pub struct H264Bench {
    /// Codec speed.
    pub codec: CodecSpeed,
    /// JPEG, OpenH264 and x264 bytes.
    pub bytes: Vec<StreamBytes>,
    /// One `auto` viewer on 2 Mbit/s: JPEG only, then taking H.264.
    pub slow_link: (ScenarioResult, ScenarioResult),
    /// One viewer taking a frame a second: of the JPEG camera, of the H.264 camera.
    pub one_fps: (ScenarioResult, ScenarioResult),
    /// 500 viewers: of the JPEG camera, of the H.264 camera.
    pub many: (ScenarioResult, ScenarioResult),
}

/// `loadgen h264` (also part of `loadgen bench`).
pub async fn run(server: &Path, frames: &BenchFrames, out: &Path) -> Result<H264Bench, String> {
    eprintln!("==> H.264: OpenH264 speed at 720p on one core");
    let codec = codec_speed(frames, Duration::from_secs(3))?;
    eprintln!("==> H.264: encoding the frames once with x264 -crf 23 (ffmpeg)");
    let x264 = encode_x264(&frames.dir, out)?;
    let h264_camera = format!(
        "cmd:ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i {} -c copy -f h264 -",
        x264.display()
    );
    let jpeg_camera = format!("jpeg={}", frames.camera);
    let h264_camera = format!("h264={h264_camera}");
    let measure = Duration::from_secs(SECONDS);

    eprintln!("==> H.264: bytes per viewer and per recorded hour, {measure:?}");
    let record_dir = out.join("h264-recordings");
    let _ = std::fs::remove_dir_all(&record_dir);
    let record = record_dir.display().to_string();
    let mut args = bench_args(&jpeg_camera);
    args.extend(["--camera", &h264_camera, "--record-dir", &record]);
    let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let jpeg_viewer = Reading { camera: Some("jpeg"), ..Reading::FULL };
    let jpeg = run_clients(Protocol::Ws, process.addr, 1, measure, jpeg_viewer, None).await;
    let h264_viewer = Reading { camera: Some("h264"), accept_h264: true, ..Reading::FULL };
    let x264_view = run_clients(Protocol::Ws, process.addr, 1, measure, h264_viewer, None).await;
    let openh264 = stream_mbit_s(process.addr, "/stream.mp4?camera=jpeg", measure).await?;
    // Both cameras were recorded the whole time.
    if started.elapsed() < Duration::from_secs(25) {
        tokio::time::sleep(Duration::from_secs(25) - started.elapsed()).await;
    }
    let jpeg_hour = recorded_gb_per_hour(process.addr, "jpeg").await?;
    let x264_hour = recorded_gb_per_hour(process.addr, "h264").await?;
    drop(process);
    let bytes = vec![
        StreamBytes {
            what: "JPEG (the camera's own, quality 82)".into(),
            viewer_mbit_s: jpeg.delivered_mbit_s,
            recorded_gb_per_hour: Some(jpeg_hour),
        },
        StreamBytes {
            what: "H.264 by OpenH264 (framecast's rate)".into(),
            viewer_mbit_s: openh264,
            recorded_gb_per_hour: None,
        },
        StreamBytes {
            what: "H.264 by x264 -crf 23 (quality asked)".into(),
            viewer_mbit_s: x264_view.delivered_mbit_s,
            recorded_gb_per_hour: Some(x264_hour),
        },
    ];

    eprintln!("==> H.264: one auto viewer on a 2 Mbit/s link, JPEG only and taking H.264");
    let link = |accept_h264| Reading {
        rate: Some(250_000),
        auto: Some([1280, 720]),
        accept_h264,
        warmup: Duration::from_secs(8),
        ..Reading::FULL
    };
    let process = ServerProcess::start(server, &bench_args(&frames.camera)).map_err(|e| e.to_string())?;
    let slow_jpeg = run_clients(Protocol::Ws, process.addr, 1, measure, link(false), None).await;
    drop(process);
    let process = ServerProcess::start(server, &bench_args(&frames.camera)).map_err(|e| e.to_string())?;
    let slow_h264 = run_clients(Protocol::Ws, process.addr, 1, measure, link(true), None).await;
    drop(process);

    eprintln!("==> H.264: one viewer taking a frame a second, 20 s each");
    let mut args = bench_args(&jpeg_camera);
    args.extend(["--camera", &h264_camera]);
    let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
    let slow = |camera, accept_h264| Reading {
        pace: Some(Duration::from_secs(1)),
        camera: Some(camera),
        accept_h264,
        warmup: Duration::from_secs(3),
        ..Reading::FULL
    };
    let twenty = Duration::from_secs(20);
    let one_jpeg = run_clients(Protocol::Ws, process.addr, 1, twenty, slow("jpeg", false), None).await;
    let one_h264 = run_clients(Protocol::Ws, process.addr, 1, twenty, slow("h264", true), None).await;
    drop(process);

    eprintln!("==> H.264: 500 viewers of the JPEG camera, then of the H.264 camera");
    let process = ServerProcess::start(server, &bench_args(&frames.camera)).map_err(|e| e.to_string())?;
    let many_jpeg =
        run_clients(Protocol::Ws, process.addr, 500, measure, Reading::FULL, Some(process.pid())).await;
    drop(process);
    let only_h264 = h264_camera.trim_start_matches("h264=").to_string();
    let process = ServerProcess::start(server, &bench_args(&only_h264)).map_err(|e| e.to_string())?;
    let reading = Reading { accept_h264: true, ..Reading::FULL };
    let many_h264 = run_clients(Protocol::Ws, process.addr, 500, measure, reading, Some(process.pid())).await;
    drop(process);

    Ok(H264Bench {
        codec,
        bytes,
        slow_link: (slow_jpeg, slow_h264),
        one_fps: (one_jpeg, one_h264),
        many: (many_jpeg, many_h264),
    })
}

/// Runs `f` (given the frame number) for about `time`: frames per second and mean bytes.
pub fn rate(time: Duration, mut f: impl FnMut(usize) -> Result<usize, String>) -> Result<(f64, u64), String> {
    let started = Instant::now();
    let (mut frames, mut bytes) = (0usize, 0u64);
    while started.elapsed() < time {
        bytes += f(frames)? as u64;
        frames += 1;
    }
    Ok((frames as f64 / started.elapsed().as_secs_f64(), bytes / frames.max(1) as u64))
}

fn codec_speed(frames: &BenchFrames, time: Duration) -> Result<CodecSpeed, String> {
    let planes = frames.planes()?;
    let mut jpeg = turbo::Encoder::new(80).map_err(|e| e.to_string())?;
    let jpeg_encode = rate(time, |i| {
        jpeg.encode_video_i420(planes[i % planes.len()].planes()).map(|j| j.len()).map_err(|e| e.to_string())
    })?;
    let mut encoder = Encoder::new(EncoderSettings {
        fps: 30.0,
        bitrate_bps: bitrate_for(1280, 720, 30),
        keyframe_every: 30,
        full_range: true,
    })
    .map_err(|e| e.to_string())?;
    let mut units = Vec::new();
    let h264_encode = rate(time, |i| {
        let unit = encoder.encode_i420(planes[i % planes.len()].planes()).map_err(|e| e.to_string())?;
        let len = unit.data.len();
        if units.len() < 300 {
            units.push(unit);
        }
        Ok(len)
    })?;
    // Decode what was encoded, in order, over and over (it starts with a keyframe).
    let mut decoder = Decoder::new().map_err(|e| e.to_string())?;
    let (h264_decode, _) = rate(time, |i| {
        let unit = &units[i % units.len()];
        let mut shown = 0;
        decoder.decode(unit, |p| shown = p.width).map_err(|e| e.to_string())?;
        Ok(shown)
    })?;
    Ok(CodecSpeed { jpeg_encode, h264_encode, h264_decode })
}

/// The frames as 10 s of H.264 by x264 at `-crf 23` (see the module doc), made once. In a
/// Matroska file, which ffmpeg can loop (a raw `.h264` cannot be rewound); copied out as Annex
/// B, each keyframe gets its SPS and PPS.
fn encode_x264(frames_dir: &Path, out: &Path) -> Result<PathBuf, String> {
    let out = std::path::absolute(out).map_err(|e| e.to_string())?;
    let file = out.join("camera-like-x264-crf23.mkv");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-framerate", "30", "-stream_loop", "9", "-i"])
        .arg(frames_dir.join("%03d.jpg"))
        .args(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", "23", "-g", "30"])
        .args(["-pix_fmt", "yuv420p", "-f", "matroska"])
        .arg(&file)
        .status()
        .map_err(|e| format!("ffmpeg (package ffmpeg, installed by `cargo xtask setup --test`): {e}"))?;
    if !status.success() {
        return Err(format!("ffmpeg could not encode the frames ({status})"));
    }
    Ok(file)
}

/// Mbit/s of one reader of `path` over `measure`, after a second of warm-up.
async fn stream_mbit_s(addr: SocketAddr, path: &str, measure: Duration) -> Result<f64, String> {
    let mut response = http_client::get(addr, path).await.map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!("{path}: status {}", response.status));
    }
    let mut read =
        async || match tokio::time::timeout(Duration::from_secs(5), response.body.read_some()).await {
            Ok(Ok(0)) => Err(format!("{path} ended")),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("{path}: nothing for 5 s")),
        };
    let warm = Instant::now() + Duration::from_secs(1);
    while Instant::now() < warm {
        read().await?;
    }
    let started = Instant::now();
    let mut bytes = 0;
    while started.elapsed() < measure {
        bytes += read().await?;
    }
    Ok(bytes as f64 * 8.0 / started.elapsed().as_secs_f64() / 1e6)
}

/// What camera `id`'s recording costs per hour, from `/api/recordings`.
async fn recorded_gb_per_hour(addr: SocketAddr, id: &str) -> Result<f64, String> {
    let (status, _, body) = http_client::get_body(addr, &format!("/api/recordings?camera={id}"))
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("/api/recordings?camera={id}: status {status}"));
    }
    let spans: Vec<RecordedSpan> = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let bytes: u64 = spans.iter().map(|s| s.bytes).sum();
    let secs: f64 = spans.iter().map(|s| (s.end_us - s.start_us) as f64 / 1e6).sum();
    if secs < 5.0 {
        return Err(format!("camera {id}: only {secs:.1} s recorded"));
    }
    Ok(bytes as f64 / secs * 3600.0 / 1e9)
}

/// Prints the figures, each H.264 one with its ratio to JPEG.
pub fn print(r: &H264Bench) {
    let c = &r.codec;
    println!("\nH.264 on one core, 1280x720 camera-like frames:");
    println!(
        "  OpenH264 encode {:6.1} fps ({:5.1} KB/frame at {:.1} Mbit/s)   libjpeg-turbo encode {:6.1} fps ({:5.1} KB/frame): {:.2}x the JPEG rate",
        c.h264_encode.0,
        c.h264_encode.1 as f64 / 1000.0,
        bitrate_for(1280, 720, 30) as f64 / 1e6,
        c.jpeg_encode.0,
        c.jpeg_encode.1 as f64 / 1000.0,
        c.h264_encode.0 / c.jpeg_encode.0
    );
    println!("  OpenH264 decode {:6.1} fps", c.h264_decode);
    println!("\nthe same 720p30 picture (motion and noise), one WebSocket/HTTP viewer and the recorder:");
    let jpeg = r.bytes.first();
    for b in &r.bytes {
        let ratio = jpeg.map(|j| b.viewer_mbit_s / j.viewer_mbit_s).unwrap_or(f64::NAN);
        let hour = match (b.recorded_gb_per_hour, jpeg.and_then(|j| j.recorded_gb_per_hour)) {
            (Some(own), Some(base)) => {
                format!("{own:6.2} GB per recorded hour (1/{:.1} of JPEG)", base / own)
            }
            _ => String::new(),
        };
        println!(
            "  {:<40} {:6.2} Mbit/s per viewer (1/{:.1} of JPEG)  {hour}",
            b.what,
            b.viewer_mbit_s,
            1.0 / ratio
        );
    }
    let show = |label: &str, s: &ScenarioResult| {
        let size = s.picture.map(|[w, h]| format!("{w}x{h}")).unwrap_or_else(|| "-".into());
        println!(
            "  {label:<38} {size:>9} {:5.1} fps  {:5.2} Mbit/s  latency p50 {:6.0} ms  p99 {:6.0} ms",
            s.fps_median, s.delivered_mbit_s, s.latency_ms_p50, s.latency_ms_p99
        );
    };
    println!("\none auto viewer of the 720p30 camera on a 2 Mbit/s link (after 8 s to settle):");
    show("JPEG only", &r.slow_link.0);
    show("takes H.264", &r.slow_link.1);
    println!("\none viewer taking a frame a second (20 s):");
    show("JPEG camera", &r.one_fps.0);
    show("H.264 camera (x264), takes H.264", &r.one_fps.1);
    println!("\n500 WebSocket viewers, {SECONDS} s:");
    for (label, s) in [("JPEG camera", &r.many.0), ("H.264 camera (x264)", &r.many.1)] {
        println!(
            "  {label:<22} fps min/med {:5.1}/{:5.1}  stalled {}  server CPU {:5.1}%  {:6.1} µs per delivered frame  latency p50 {:5.0} ms p99 {:5.0} ms  {:7.1} Mbit/s in all",
            s.fps_min,
            s.fps_median,
            s.stalled,
            s.server_cpu_percent.unwrap_or(f64::NAN),
            s.server_cpu_us_per_frame.unwrap_or(f64::NAN),
            s.latency_ms_p50,
            s.latency_ms_p99,
            s.delivered_mbit_s
        );
    }
    if let (Some(j), Some(h)) = (r.many.0.server_cpu_us_per_frame, r.many.1.server_cpu_us_per_frame) {
        println!("  server CPU per delivered frame, H.264 against JPEG: {:.2}x", h / j);
    }
}
