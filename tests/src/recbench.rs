//! The recording benchmark (`loadgen record`, part of `cargo xtask bench`): what recording
//! costs and how fast the past comes back.
//!
//! With camera-like 720p JPEGs at 30 fps and one WebSocket viewer (so the camera runs the
//! same in both runs): server CPU without and with `--record-dir` (the difference per
//! recorded frame), MB written per hour and index size per hour; seek to the first recorded
//! frame (`play` from random moments, first frame received); delivered fps and recording-time
//! ratio of playback at 8x; and RSS sampled while recording for `minutes`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use framecast_shared::{ClientMessage, FrameHeader, ServerMessage, unix_micros_now};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::percentile_ms;
use crate::process::{ServerProcess, Usage};

/// What the recording benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct RecordReport {
    /// Seconds each CPU figure was measured.
    pub cpu_seconds: f64,
    /// Server CPU (% of one core) with one viewer, not recording.
    pub cpu_without_pct: f64,
    /// The same, recording.
    pub cpu_with_pct: f64,
    /// Frames recorded in the measured window.
    pub frames_recorded: u64,
    /// Extra server CPU per recorded frame, µs.
    pub us_per_recorded_frame: f64,
    /// Segment bytes written per hour, MB.
    pub mb_per_hour: f64,
    /// Index (SQLite + its WAL) growth per hour over the 20 s CPU window, KB. This counts the
    /// WAL filling up, which SQLite then reuses at about 4 MB.
    pub index_kb_per_hour: f64,
    /// The SQLite file alone (checkpointed, without the WAL) per hour of the whole run, KB:
    /// what an hour of recording leaves in the index.
    pub index_db_kb_per_hour: f64,
    /// `play` to first recorded frame, ms: median, 90th percentile, worst, of `seek_samples`.
    pub seek_ms: (f64, f64, f64),
    /// How many seeks were timed.
    pub seek_samples: usize,
    /// Playback at 8x: frames received per second by a viewer that acks at once.
    pub playback_8x_fps: f64,
    /// Playback at 8x: seconds of recording per second.
    pub playback_8x_ratio: f64,
    /// RSS while recording: at the start, at the end, and the highest sample, MB.
    pub rss_mb: (f64, f64, f64),
    /// Minutes the memory was watched.
    pub rss_minutes: f64,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: SocketAddr) -> Result<Ws, String> {
    let (ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.map_err(|e| e.to_string())?;
    Ok(ws)
}

/// A viewer that acks every frame until `until`; returns the recorded frames' headers with
/// their arrival times.
async fn watch(ws: &mut Ws, until: Instant) -> Result<Vec<(FrameHeader, Instant)>, String> {
    let mut seen = Vec::new();
    while let Ok(message) = tokio::time::timeout_at(until.into(), ws.next()).await {
        let Some(message) = message else { return Err("connection closed".into()) };
        if let Message::Binary(bytes) = message.map_err(|e| e.to_string())? {
            let (header, _) = FrameHeader::decode_message(&bytes).map_err(|e| e.to_string())?;
            send(ws, &ClientMessage::Ack { seq: header.seq }).await?;
            seen.push((header, Instant::now()));
        }
    }
    Ok(seen)
}

async fn send(ws: &mut Ws, message: &ClientMessage) -> Result<(), String> {
    ws.send(Message::Text(message.to_json().into())).await.map_err(|e| e.to_string())
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.metadata().map(|m| m.len()).unwrap_or(0)).sum())
        .unwrap_or(0)
}

fn index_bytes(dir: &Path) -> u64 {
    ["index.sqlite3", "index.sqlite3-wal"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// CPU % of one core of `pid` over `window`, while `ws` views (and acks).
async fn cpu_while_viewing(pid: u32, ws: &mut Ws, window: Duration) -> Result<(f64, u64), String> {
    let before = Usage::of(pid).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let frames = watch(ws, started + window).await?.len() as u64;
    let after = Usage::of(pid).map_err(|e| e.to_string())?;
    let pct = (after.cpu - before.cpu).as_secs_f64() / started.elapsed().as_secs_f64() * 100.0;
    Ok((pct, frames))
}

/// Runs the recording benchmark with `camera` (a `files:` spec of 720p frames at 30 fps).
pub async fn run(server: &Path, camera: &str, out: &Path, minutes: f64) -> Result<RecordReport, String> {
    let cpu_window = Duration::from_secs(20);
    let base = ["--camera", camera, "--fps", "30", "--idle-timeout", "60"];

    eprintln!("==> recording cost: {cpu_window:?} without, then with --record-dir");
    let plain = ServerProcess::start(server, &base).map_err(|e| e.to_string())?;
    let mut ws = connect(plain.addr).await?;
    watch(&mut ws, Instant::now() + Duration::from_secs(2)).await?;
    let (cpu_without_pct, _) = cpu_while_viewing(plain.pid(), &mut ws, cpu_window).await?;
    drop(ws);
    drop(plain);

    let dir = out.join("recordings");
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.display().to_string();
    let mut args = base.to_vec();
    args.extend(["--record-dir", &dir_arg]);
    let recording = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
    let pid = recording.pid();
    let mut ws = connect(recording.addr).await?;
    watch(&mut ws, Instant::now() + Duration::from_secs(3)).await?;
    let (segments0, index0, t0) = (dir_bytes(&dir.join("segments")), index_bytes(&dir), Instant::now());
    let frames0 = recorded_frames(recording.addr).await?;
    let (cpu_with_pct, _) = cpu_while_viewing(pid, &mut ws, cpu_window).await?;
    let frames_recorded = recorded_frames(recording.addr).await? - frames0;
    let elapsed = t0.elapsed().as_secs_f64();
    let mb_per_hour = (dir_bytes(&dir.join("segments")) - segments0) as f64 / elapsed * 3600.0 / 1e6;
    let index_kb_per_hour = index_bytes(&dir).saturating_sub(index0) as f64 / elapsed * 3600.0 / 1e3;
    let us_per_recorded_frame = (cpu_with_pct - cpu_without_pct) / 100.0 * cpu_window.as_secs_f64() * 1e6
        / frames_recorded.max(1) as f64;

    eprintln!("==> seek to the first recorded frame (30 random moments)");
    let oldest = first_span_start(recording.addr).await?;
    let newest = unix_micros_now() - 4_000_000;
    let mut seeks = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..30 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let at = oldest + rng % (newest - oldest).max(1);
        let asked = Instant::now();
        send(&mut ws, &ClientMessage::Play { from_us: at, speed: Some(1) }).await?;
        let arrived = first_recorded_frame_at_or_after(&mut ws, at).await?;
        seeks.push(arrived.duration_since(asked).as_micros() as u64);
    }
    seeks.sort_unstable();

    eprintln!("==> playback at 8x for 2 s");
    send(&mut ws, &ClientMessage::Play { from_us: oldest, speed: Some(8) }).await?;
    // Frames of the last seek's 1x playback may still be on the way: count from the first
    // frame after the server's answer to this `play`. Two seconds at 8x stay inside the
    // ~25 s recorded so far (past its end the viewer is switched to live).
    first_recorded_frame_at_or_after(&mut ws, oldest).await?;
    let frames: Vec<_> = watch(&mut ws, Instant::now() + Duration::from_secs(2))
        .await?
        .into_iter()
        .filter(|(h, _)| h.recorded)
        .collect();
    let (playback_8x_fps, playback_8x_ratio) = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) if b.1 > a.1 => {
            let wall = b.1.duration_since(a.1).as_secs_f64();
            (frames.len() as f64 / wall, (b.0.captured_us - a.0.captured_us) as f64 / 1e6 / wall)
        }
        _ => (0.0, 0.0),
    };
    send(&mut ws, &ClientMessage::Live).await?;

    eprintln!("==> memory while recording for {minutes} min");
    let rss = |pid| Usage::of(pid).map(|u| u.rss as f64 / 1e6).unwrap_or(0.0);
    let start_rss = rss(pid);
    let mut peak = start_rss;
    let watch_until = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    while Instant::now() < watch_until {
        watch(&mut ws, (Instant::now() + Duration::from_secs(15)).min(watch_until)).await?;
        peak = peak.max(rss(pid));
    }
    let end_rss = rss(pid);
    let db_bytes = std::fs::metadata(dir.join("index.sqlite3")).map(|m| m.len()).unwrap_or(0);
    let index_db_kb_per_hour = db_bytes as f64 / t0.elapsed().as_secs_f64() * 3600.0 / 1e3;
    Ok(RecordReport {
        cpu_seconds: cpu_window.as_secs_f64(),
        cpu_without_pct,
        cpu_with_pct,
        frames_recorded,
        us_per_recorded_frame,
        mb_per_hour,
        index_kb_per_hour,
        index_db_kb_per_hour,
        seek_ms: (percentile_ms(&seeks, 0.5), percentile_ms(&seeks, 0.9), percentile_ms(&seeks, 1.0)),
        seek_samples: seeks.len(),
        playback_8x_fps,
        playback_8x_ratio,
        rss_mb: (start_rss, end_rss, peak),
        rss_minutes: minutes,
    })
}

/// Frames in the recording so far (from the spans).
async fn recorded_frames(addr: SocketAddr) -> Result<u64, String> {
    let (_, _, body) =
        crate::http_client::get_body(addr, "/api/recordings").await.map_err(|e| e.to_string())?;
    let spans: Vec<framecast_shared::RecordedSpan> =
        serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok(spans.iter().map(|s| s.frames).sum())
}

async fn first_span_start(addr: SocketAddr) -> Result<u64, String> {
    let (_, _, body) =
        crate::http_client::get_body(addr, "/api/recordings").await.map_err(|e| e.to_string())?;
    let spans: Vec<framecast_shared::RecordedSpan> =
        serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    spans.first().map(|s| s.start_us).ok_or_else(|| "nothing recorded".to_string())
}

/// Waits for the `playback` answer, then the first recorded frame of the new position.
async fn first_recorded_frame_at_or_after(ws: &mut Ws, at: u64) -> Result<Instant, String> {
    let mut started = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| "no recorded frame within 10 s of play".to_string())?
            .ok_or("connection closed")?
            .map_err(|e| e.to_string())?;
        match message {
            Message::Text(text) => {
                if let Ok(ServerMessage::Playback { .. }) = ServerMessage::parse(&text) {
                    started = true;
                }
            }
            Message::Binary(bytes) => {
                let (h, _) = FrameHeader::decode_message(&bytes).map_err(|e| e.to_string())?;
                send(ws, &ClientMessage::Ack { seq: h.seq }).await?;
                if started && h.recorded && h.captured_us >= at {
                    return Ok(Instant::now());
                }
            }
            _ => {}
        }
    }
}

/// The report as a few lines of text.
pub fn print(r: &RecordReport) {
    println!("\nrecording, 1280x720 JPEGs of ~110 KB at 30 fps, one viewer:");
    println!(
        "  server CPU {:.1} % without, {:.1} % with recording ({:.2}x): {:.0} µs per recorded frame ({} frames in {:.0} s)",
        r.cpu_without_pct,
        r.cpu_with_pct,
        r.cpu_with_pct / r.cpu_without_pct.max(0.01),
        r.us_per_recorded_frame,
        r.frames_recorded,
        r.cpu_seconds
    );
    println!(
        "  written: {:.0} MB per hour of segments; index {:.0} KB per hour in SQLite's file over the whole run ({:.0} KB per hour with the WAL filling up in the first 20 s; the WAL is then reused at ~4 MB)",
        r.mb_per_hour, r.index_db_kb_per_hour, r.index_kb_per_hour
    );
    println!(
        "  seek to the first recorded frame: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms ({} seeks)",
        r.seek_ms.0, r.seek_ms.1, r.seek_ms.2, r.seek_samples
    );
    println!(
        "  playback at 8x: {:.1} fps delivered, {:.1} s of recording per second",
        r.playback_8x_fps, r.playback_8x_ratio
    );
    println!(
        "  RSS while recording for {} min: {:.1} MB at the start, {:.1} MB at the end, {:.1} MB at most",
        r.rss_minutes, r.rss_mb.0, r.rss_mb.1, r.rss_mb.2
    );
}
