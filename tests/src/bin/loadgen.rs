//! `loadgen`: load generator and benchmark driver for framecast.
//!
//! It speaks the real protocols (WebSocket with acks, MJPEG over raw HTTP) from many clients
//! in one process, and measures what each client receives. `loadgen bench` runs the whole
//! benchmark: it starts `framecast` as a separate process on 127.0.0.1, drives each scenario
//! for a bounded time, reads the server's CPU and memory from `/proc`, and prints a table plus
//! a JSON file. Only loopback is ever contacted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use framecast::config::{Settings, Size};
use framecast::source::Source;
use framecast_shared::{ClientMessage, FrameHeader, unix_micros_now};
use framecast_tests::http_client;
use framecast_tests::process::{ServerProcess, Usage};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "framecast load generator and benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmark scenarios against a framecast binary and print the table.
    Bench {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames and results.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
        /// Seconds each client scenario is measured (after one second of warm-up).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Client counts to run for each protocol.
        #[arg(long, value_delimiter = ',', default_value = "1,100")]
        clients: Vec<usize>,
    },
    /// Measure emulated-camera frames per second on one core (render + JPEG encode).
    Encode {
        /// Frame size.
        #[arg(long, default_value = "1280x720")]
        size: Size,
        /// JPEG quality.
        #[arg(long, default_value_t = 80)]
        quality: u8,
        /// How long to measure.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
    /// Start framecast and run connect/abuse/disconnect cycles against it; report its open
    /// files and memory before and after.
    Soak {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Cycles to run.
        #[arg(long, default_value_t = 10_000)]
        cycles: u64,
        /// Cycles in flight at once.
        #[arg(long, default_value_t = 16)]
        parallel: usize,
    },
    /// Connect clients to a running server and report what they receive.
    Clients {
        /// `ws` or `mjpeg`.
        #[arg(long)]
        protocol: Protocol,
        /// Server address (loopback).
        #[arg(long)]
        addr: SocketAddr,
        /// Number of clients.
        #[arg(long, default_value_t = 10)]
        clients: usize,
        /// Seconds to measure after one second of warm-up.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Read at most this many frames per second per client (a slow viewer); unlimited
        /// when absent.
        #[arg(long)]
        read_fps: Option<f64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Protocol {
    Ws,
    Mjpeg,
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let result = match cli.command {
        Command::Encode { size, quality, seconds } => {
            let r = encode_rate(size, quality, Duration::from_secs(seconds));
            println!("{}", serde_json::to_string_pretty(&r).unwrap());
            Ok(())
        }
        Command::Clients { protocol, addr, clients, seconds, read_fps } => runtime.block_on(async {
            let pace = read_fps.map(|f| Duration::from_secs_f64(1.0 / f));
            let r = run_clients(protocol, addr, clients, Duration::from_secs(seconds), pace, None).await;
            println!("{}", serde_json::to_string_pretty(&r).unwrap());
            Ok(())
        }),
        Command::Soak { server, cycles, parallel } => runtime.block_on(async {
            let report = soak(&server, cycles, parallel).await?;
            println!("{}", serde_json::to_string_pretty(&report).unwrap());
            Ok(())
        }),
        Command::Bench { server, out, seconds, clients } => {
            runtime.block_on(bench(&server, &out, Duration::from_secs(seconds), &clients))
        }
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

/// Encoder throughput of the emulated camera on the current thread.
#[derive(Debug, Serialize)]
struct EncodeResult {
    size: String,
    quality: u8,
    frames: u64,
    fps: f64,
    ms_per_frame: f64,
    bytes_per_frame: u64,
}

fn encode_rate(size: Size, quality: u8, duration: Duration) -> EncodeResult {
    let settings = Settings { size, fps: 30, quality };
    let mut camera = framecast::source::emulated::EmulatedSource.open(&settings).expect("emulated camera");
    let started = Instant::now();
    let (mut frames, mut bytes) = (0u64, 0u64);
    while started.elapsed() < duration {
        bytes += camera.grab().expect("frame").data.len() as u64;
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

/// What one client saw in the measured window.
#[derive(Debug, Default)]
struct ClientLog {
    frames: u64,
    bytes: u64,
    latencies_us: Vec<u64>,
    longest_gap: Duration,
    error: Option<String>,
}

/// Summary of one scenario.
#[derive(Debug, Serialize)]
struct ScenarioResult {
    protocol: Protocol,
    clients: usize,
    seconds: f64,
    fps_min: f64,
    fps_median: f64,
    fps_max: f64,
    /// Clients with a gap of more than 2 s between frames, or no frame at all.
    stalled: usize,
    errors: usize,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    delivered_frames: u64,
    delivered_mbit_s: f64,
    server_cpu_percent: Option<f64>,
    server_cpu_us_per_frame: Option<f64>,
    server_rss_mb: Option<f64>,
    server_rss_kb_per_client: Option<f64>,
    loadgen_cpu_percent: f64,
}

/// Runs `n` clients for one second of warm-up plus `measure`; each reads a frame at most
/// every `pace` (a slow viewer) when given; `server_pid` adds the server's CPU and memory over
/// the measured window.
async fn run_clients(
    protocol: Protocol,
    addr: SocketAddr,
    n: usize,
    measure: Duration,
    pace: Option<Duration>,
    server_pid: Option<u32>,
) -> ScenarioResult {
    let warmup = Duration::from_secs(1);
    let window_start = Instant::now() + warmup;
    let window_end = window_start + measure;
    let plan = ClientPlan { addr, window: (window_start, window_end), pace };
    let stop = Arc::new(AtomicBool::new(false));
    let baseline_rss = server_pid.and_then(|pid| Usage::of(pid).ok()).map(|u| u.rss);
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut log = ClientLog::default();
            let result = match protocol {
                Protocol::Ws => ws_client(&plan, &stop, &mut log).await,
                Protocol::Mjpeg => mjpeg_client(&plan, &stop, &mut log).await,
            };
            if let Err(e) = result {
                log.error = Some(e);
            }
            log
        }));
    }
    tokio::time::sleep_until(window_start.into()).await;
    let server_before = server_pid.and_then(|pid| Usage::of(pid).ok());
    let own_before = Usage::own().ok();
    tokio::time::sleep_until(window_end.into()).await;
    let server_after = server_pid.and_then(|pid| Usage::of(pid).ok());
    let own_after = Usage::own().ok();
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::with_capacity(n);
    for task in tasks {
        // Clients notice `stop` at their next frame; one that is stuck is abandoned.
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(log)) => logs.push(log),
            _ => logs.push(ClientLog { error: Some("client did not finish".into()), ..Default::default() }),
        }
    }
    summarize(
        protocol,
        n,
        measure,
        &logs,
        server_before.zip(server_after),
        own_before.zip(own_after),
        baseline_rss,
    )
}

fn summarize(
    protocol: Protocol,
    n: usize,
    measure: Duration,
    logs: &[ClientLog],
    server: Option<(Usage, Usage)>,
    own: Option<(Usage, Usage)>,
    baseline_rss: Option<u64>,
) -> ScenarioResult {
    let secs = measure.as_secs_f64();
    let mut fps: Vec<f64> = logs.iter().map(|l| l.frames as f64 / secs).collect();
    fps.sort_by(f64::total_cmp);
    let mut latencies: Vec<u64> = logs.iter().flat_map(|l| l.latencies_us.iter().copied()).collect();
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i] as f64 / 1000.0
    };
    let delivered: u64 = logs.iter().map(|l| l.frames).sum();
    let bytes: u64 = logs.iter().map(|l| l.bytes).sum();
    let cpu_percent = |(a, b): (Usage, Usage)| (b.cpu - a.cpu).as_secs_f64() / secs * 100.0;
    let server_cpu = server.map(cpu_percent);
    ScenarioResult {
        protocol,
        clients: n,
        seconds: secs,
        fps_min: fps.first().copied().unwrap_or(0.0),
        fps_median: fps.get(fps.len() / 2).copied().unwrap_or(0.0),
        fps_max: fps.last().copied().unwrap_or(0.0),
        stalled: logs.iter().filter(|l| l.frames == 0 || l.longest_gap > Duration::from_secs(2)).count(),
        errors: logs.iter().filter(|l| l.error.is_some()).count(),
        latency_ms_p50: pct(0.5),
        latency_ms_p99: pct(0.99),
        latency_ms_max: pct(1.0),
        delivered_frames: delivered,
        delivered_mbit_s: bytes as f64 * 8.0 / secs / 1e6,
        server_cpu_percent: server_cpu,
        server_cpu_us_per_frame: server
            .map(|(a, b)| (b.cpu - a.cpu).as_secs_f64() * 1e6 / delivered.max(1) as f64),
        server_rss_mb: server.map(|(_, b)| b.rss as f64 / 1e6),
        server_rss_kb_per_client: server
            .zip(baseline_rss)
            .map(|((_, b), base)| (b.rss as f64 - base as f64) / 1024.0 / n.max(1) as f64),
        loadgen_cpu_percent: own.map(cpu_percent).unwrap_or(f64::NAN),
    }
}

/// What every client of a scenario does: where it connects, when it measures, how fast it
/// reads.
#[derive(Debug, Clone, Copy)]
struct ClientPlan {
    addr: SocketAddr,
    /// Start and end of the measured window (after the warm-up).
    window: (Instant, Instant),
    /// Read at most one frame per `pace` (a slow viewer).
    pace: Option<Duration>,
}

/// Records one received frame if it falls in the measured window.
fn record(
    log: &mut ClientLog,
    window: (Instant, Instant),
    last: &mut Option<Instant>,
    bytes: usize,
    captured_us: u64,
) {
    let now = Instant::now();
    if now < window.0 || now > window.1 {
        *last = Some(now);
        return;
    }
    if let Some(prev) = *last {
        log.longest_gap = log.longest_gap.max(now - prev);
    }
    *last = Some(now);
    log.frames += 1;
    log.bytes += bytes as u64;
    log.latencies_us.push(unix_micros_now().saturating_sub(captured_us));
}

async fn ws_client(plan: &ClientPlan, stop: &AtomicBool, log: &mut ClientLog) -> Result<(), String> {
    let ClientPlan { addr, window, pace } = *plan;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.map_err(|e| e.to_string())?;
    let mut last = None;
    while !stop.load(Ordering::Relaxed) {
        let message = tokio::time::timeout(Duration::from_secs(3), ws.next()).await;
        let message = match message {
            Err(_) => {
                if Instant::now() > window.1 {
                    break;
                }
                continue;
            }
            Ok(None) => return Err("connection closed".into()),
            Ok(Some(m)) => m.map_err(|e| e.to_string())?,
        };
        if let Message::Binary(bytes) = message {
            let (header, offset): (FrameHeader, usize) =
                FrameHeader::decode_message(&bytes).map_err(|e| e.to_string())?;
            record(log, window, &mut last, bytes.len() - offset, header.captured_us);
            if let Some(pace) = pace {
                tokio::time::sleep(pace).await;
            }
            let ack = ClientMessage::Ack { seq: header.seq }.to_json();
            ws.send(Message::Text(ack.into())).await.map_err(|e| e.to_string())?;
        }
    }
    let _ = ws.close(None).await;
    Ok(())
}

async fn mjpeg_client(plan: &ClientPlan, stop: &AtomicBool, log: &mut ClientLog) -> Result<(), String> {
    let ClientPlan { addr, window, pace } = *plan;
    let mut response = http_client::get(addr, "/stream.mjpg").await.map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!("status {}", response.status));
    }
    response.body.read_until(b"--framecast\r\n").await.map_err(|e| e.to_string())?;
    let mut last = None;
    while !stop.load(Ordering::Relaxed) {
        let part = tokio::time::timeout(
            Duration::from_secs(3),
            http_client::read_part(&mut response.body, "framecast", false),
        );
        let part = match part.await {
            Err(_) if Instant::now() > window.1 => break,
            Err(_) => continue,
            Ok(part) => part.map_err(|e| e.to_string())?,
        };
        let stamp: f64 = http_client::header(&part.headers, "x-timestamp")
            .and_then(|v| v.parse().ok())
            .ok_or("part without X-Timestamp")?;
        record(log, window, &mut last, part.len, (stamp * 1e6) as u64);
        if let Some(pace) = pace {
            tokio::time::sleep(pace).await;
        }
    }
    Ok(())
}

/// Frames of camera-like size for the benchmark: the emulated pattern with sensor-like noise,
/// so each JPEG is about as large as a real camera's at 720p (~100 KB).
fn make_frames(dir: &Path, count: usize, size: Size, quality: u8) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut pattern = framecast::source::pattern::Pattern::new(size.width, size.height);
    let mut total = 0;
    let mut noise: u32 = 0x1234_5678;
    for i in 0..count {
        let mut rgb = pattern.render(i as u64 + 1, unix_micros_now()).to_vec();
        for px in rgb.iter_mut() {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            *px = px.saturating_add((noise % 24) as u8).saturating_sub(12);
        }
        let jpeg = framecast::source::emulated::encode_rgb(&rgb, size.width, size.height, quality, 0)
            .map_err(std::io::Error::other)?;
        total += jpeg.len() as u64;
        std::fs::write(dir.join(format!("{:03}.jpg", i + 1)), jpeg)?;
    }
    Ok(total / count as u64)
}

#[derive(Debug, Serialize)]
struct BenchReport {
    machine: String,
    frame_size: String,
    frame_bytes: u64,
    camera_fps: u32,
    encode: Vec<EncodeResult>,
    startup_ms: f64,
    first_frame_ms: f64,
    scenarios: Vec<ScenarioResult>,
    soak: framecast_tests::soak::SoakReport,
}

/// A soak run against a fresh server with a token (so wrong-token cycles are refused).
async fn soak(
    server: &Path,
    cycles: u64,
    parallel: usize,
) -> Result<framecast_tests::soak::SoakReport, String> {
    let token = "soak-token";
    let args =
        ["--token", token, "--fps", "30", "--idle-timeout", "60", "--max-connections-per-address", "4096"];
    let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
    eprintln!("==> soak: {cycles} connect/abuse/disconnect cycles, {parallel} at a time");
    let report = framecast_tests::soak::run(process.addr, process.pid(), cycles, parallel, Some(token)).await;
    Ok(report)
}

async fn bench(server: &Path, out: &Path, measure: Duration, client_counts: &[usize]) -> Result<(), String> {
    let size = Size { width: 1280, height: 720 };
    let fps = 30;
    let frames_dir = out.join("frames-1280x720");
    eprintln!("==> generating 30 camera-like 1280x720 frames in {}", frames_dir.display());
    let frame_bytes = make_frames(&frames_dir, 30, size, 75).map_err(|e| e.to_string())?;

    eprintln!("==> encode speed of the emulated camera (one core)");
    let encode = vec![
        encode_rate(size, 80, Duration::from_secs(3)),
        encode_rate(Size { width: 1920, height: 1080 }, 80, Duration::from_secs(3)),
    ];

    let files = format!("files:{}", frames_dir.display());
    // One address opens all the clients here: lift the per-address cap.
    let args = [
        "--camera",
        files.as_str(),
        "--fps",
        "30",
        "--idle-timeout",
        "60",
        "--max-connections-per-address",
        "8192",
        "--max-connections",
        "8192",
    ];

    eprintln!("==> start to first frame");
    let spawned = Instant::now();
    let first = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
    let startup = first.startup;
    let (status, _, _) =
        http_client::get_body(first.addr, "/snapshot.jpg").await.map_err(|e| e.to_string())?;
    let first_frame = spawned.elapsed();
    if status != 200 {
        return Err(format!("snapshot answered {status}"));
    }
    drop(first);

    let mut scenarios = Vec::new();
    for protocol in [Protocol::Ws, Protocol::Mjpeg] {
        for &n in client_counts {
            eprintln!("==> {n} {protocol:?} clients, {measure:?}");
            // A fresh server per scenario, so memory figures are not mixed up.
            let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
            let result = run_clients(protocol, process.addr, n, measure, None, Some(process.pid())).await;
            scenarios.push(result);
        }
    }
    let soak = soak(server, 10_000, 16).await?;

    let report = BenchReport {
        machine: format!("{} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)),
        frame_size: size.to_string(),
        frame_bytes,
        camera_fps: fps,
        encode,
        startup_ms: startup.as_secs_f64() * 1000.0,
        first_frame_ms: first_frame.as_secs_f64() * 1000.0,
        scenarios,
        soak,
    };
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let json_path = out.join("results.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report).unwrap()).map_err(|e| e.to_string())?;
    print_table(&report);
    print_soak(&report.soak);
    println!("\nJSON: {}", json_path.display());
    Ok(())
}

fn print_soak(s: &framecast_tests::soak::SoakReport) {
    println!(
        "\nsoak: {} connect/abuse/disconnect cycles in {:.0} s ({} failed to connect); server open files {} -> {}, \
         RSS {:.1} -> {:.1} MB; still serving: {}",
        s.cycles,
        s.seconds,
        s.connect_failures,
        s.fds_before,
        s.fds_after,
        s.rss_before as f64 / 1e6,
        s.rss_after as f64 / 1e6,
        if s.still_serving { "yes" } else { "NO" }
    );
}

fn print_table(r: &BenchReport) {
    println!(
        "\nframecast benchmark — {} — source: {} JPEGs of {} KB at {} fps",
        r.machine,
        r.frame_size,
        r.frame_bytes / 1000,
        r.camera_fps
    );
    for e in &r.encode {
        println!(
            "encode {:>9} q{}: {:6.1} fps on one core ({:.2} ms/frame, {} KB)",
            e.size,
            e.quality,
            e.fps,
            e.ms_per_frame,
            e.bytes_per_frame / 1000
        );
    }
    println!(
        "start to listening: {:.0} ms; start to first frame served: {:.0} ms",
        r.startup_ms, r.first_frame_ms
    );
    println!(
        "\n{:<6} {:>7} | {:>17} | {:>7} | {:>8} {:>9} | {:>7} {:>9} | {:>20} | {:>8}",
        "proto",
        "clients",
        "fps min/med/max",
        "stalled",
        "srv CPU%",
        "µs/frame",
        "RSS MB",
        "KB/client",
        "latency p50/p99/max",
        "gen CPU%"
    );
    for s in &r.scenarios {
        let opt =
            |v: Option<f64>, prec: usize| v.map(|v| format!("{v:.prec$}")).unwrap_or_else(|| "-".into());
        println!(
            "{:<6} {:>7} | {:>5.1}/{:>5.1}/{:>5.1} | {:>7} | {:>8} {:>9} | {:>7} {:>9} | {:>6.1}/{:>6.1}/{:>6.1} | {:>8.1}",
            format!("{:?}", s.protocol).to_lowercase(),
            s.clients,
            s.fps_min,
            s.fps_median,
            s.fps_max,
            s.stalled,
            opt(s.server_cpu_percent, 1),
            opt(s.server_cpu_us_per_frame, 1),
            opt(s.server_rss_mb, 1),
            opt(s.server_rss_kb_per_client, 0),
            s.latency_ms_p50,
            s.latency_ms_p99,
            s.latency_ms_max,
            s.loadgen_cpu_percent
        );
    }
}
