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
use framecast::camera::{Settings, Size};
use framecast::source::Source;
use framecast_shared::{ClientMessage, FrameHeader, unix_micros_now};
use framecast_tests::process::{ServerProcess, Usage};
use framecast_tests::{http_client, percentile_ms};
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
        #[arg(long, value_delimiter = ',', default_value = "1,100,500,1000")]
        clients: Vec<usize>,
        /// Minutes the recording benchmark watches memory.
        #[arg(long, default_value_t = 10.0)]
        record_minutes: f64,
    },
    /// Only the renditions benchmark: JPEG speed, what renditions cost the server, what a
    /// viewer on a slow link gets from each size.
    Renditions {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// Only the grid part of the renditions benchmark: four cameras on a phone's grid against
    /// four full streams.
    Grid {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// Only the recording benchmark: cost, seek time, 8x playback, memory over time.
    Record {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames, recordings and results.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
        /// Minutes to watch memory while recording.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
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
    /// The baseline: a trivial MJPEG server that copies the same JPEG to every client at
    /// `--fps` (one task per client, `write_all` of a prebuilt part). What framecast's
    /// per-frame cost is compared against.
    CopyServer {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// The JPEG to send.
        #[arg(long)]
        frame: PathBuf,
        /// Frames per second.
        #[arg(long, default_value_t = 30)]
        fps: u32,
    },
    /// Only the slow-viewer mix (normal viewers next to 1 frame/s and 2 Mbit/s readers), for
    /// both protocols, against the benchmark's 720p camera.
    Mix {
        /// The framecast binary to start.
        #[arg(long)]
        server: PathBuf,
        /// Where to write frames.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
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
    /// MJPEG from the baseline copy server (`loadgen copy-server`).
    Copy,
}

fn main() {
    let cli = Cli::parse();
    // A thousand clients need more than the usual 1024 descriptors: as many as allowed.
    framecast::sys::raise_open_file_limit(u64::MAX);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let result = match cli.command {
        Command::Encode { size, quality, seconds } => {
            let r = encode_rate(size, quality, Duration::from_secs(seconds));
            println!("{}", serde_json::to_string_pretty(&r).unwrap());
            Ok(())
        }
        Command::Clients { protocol, addr, clients, seconds, read_fps } => runtime.block_on(async {
            let pace = read_fps.map(|f| Duration::from_secs_f64(1.0 / f));
            let reading = Reading { pace, ..Reading::FULL };
            let r = run_clients(protocol, addr, clients, Duration::from_secs(seconds), reading, None).await;
            println!("{}", serde_json::to_string_pretty(&r).unwrap());
            Ok(())
        }),
        Command::CopyServer { listen, frame, fps } => copy_server(listen, &frame, fps),
        Command::Soak { server, cycles, parallel } => runtime.block_on(async {
            let report = soak(&server, cycles, parallel).await?;
            println!("{}", serde_json::to_string_pretty(&report).unwrap());
            Ok(())
        }),
        Command::Bench { server, out, seconds, clients, record_minutes } => {
            runtime.block_on(bench(&server, &out, Duration::from_secs(seconds), &clients, record_minutes))
        }
        Command::Mix { server, out } => runtime.block_on(async {
            let frames = bench_frames(&out)?;
            let mut mixes = Vec::new();
            for protocol in [Protocol::Ws, Protocol::Mjpeg] {
                let process =
                    ServerProcess::start(&server, &bench_args(&frames.camera)).map_err(|e| e.to_string())?;
                mixes.push(run_mix(protocol, process.addr, process.pid()).await);
            }
            print_mixes(&mixes);
            Ok(())
        }),
        Command::Renditions { server, out } => runtime.block_on(async {
            let frames = bench_frames(&out)?;
            print_renditions(&run_renditions(&server, &frames.camera, &frames.dir).await?);
            Ok(())
        }),
        Command::Grid { server, out } => runtime.block_on(async {
            let frames = bench_frames(&out)?;
            print_grid(&run_grid(&server, &frames.camera, Duration::from_secs(RENDITION_SECONDS)).await?);
            Ok(())
        }),
        Command::Record { server, out, minutes } => runtime.block_on(async {
            let frames = bench_frames(&out)?;
            let report = framecast_tests::recbench::run(&server, &frames.camera, &out, minutes).await?;
            framecast_tests::recbench::print(&report);
            std::fs::write(out.join("record.json"), serde_json::to_string_pretty(&report).unwrap())
                .map_err(|e| e.to_string())
        }),
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

/// How every client of a scenario reads.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// At most one frame per `pace` (a slow viewer).
    pace: Option<Duration>,
    /// At most this many bytes per second (a slow link).
    rate: Option<u64>,
    /// What an MJPEG client asks for.
    path: &'static str,
    /// A WebSocket client asks for `"size":"auto"` with this canvas (device pixels).
    auto: Option<[u32; 2]>,
    /// The camera a WebSocket client watches (`?camera=`; the first when absent).
    camera: Option<&'static str>,
}

impl Reading {
    /// As fast as it comes, the camera's own picture.
    const FULL: Reading = Reading { pace: None, rate: None, path: "/stream.mjpg", auto: None, camera: None };
}

/// Runs `n` clients for one second of warm-up plus `measure`, each reading as `reading` says;
/// `server_pid` adds the server's CPU and memory over the measured window.
async fn run_clients(
    protocol: Protocol,
    addr: SocketAddr,
    n: usize,
    measure: Duration,
    reading: Reading,
    server_pid: Option<u32>,
) -> ScenarioResult {
    let warmup = Duration::from_secs(1);
    let window_start = Instant::now() + warmup;
    let window_end = window_start + measure;
    let Reading { pace, rate, path, auto, camera } = reading;
    let plan = ClientPlan { addr, window: (window_start, window_end), pace, rate, path, auto, camera };
    let stop = Arc::new(AtomicBool::new(false));
    let baseline_rss = server_pid.and_then(|pid| Usage::of(pid).ok()).map(|u| u.rss);
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut log = ClientLog::default();
            let result = run_client(protocol, &plan, &stop, &mut log).await;
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
    let pct = |p: f64| percentile_ms(&latencies, p);
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
    /// Read at most this many bytes per second (a viewer on a slow link).
    rate: Option<u64>,
    /// What an MJPEG client asks for.
    path: &'static str,
    /// A WebSocket client asks for `"size":"auto"` with this canvas.
    auto: Option<[u32; 2]>,
    /// The camera a WebSocket client watches.
    camera: Option<&'static str>,
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

/// One client of `protocol` following `plan` until `stop`.
async fn run_client(
    protocol: Protocol,
    plan: &ClientPlan,
    stop: &AtomicBool,
    log: &mut ClientLog,
) -> Result<(), String> {
    match protocol {
        Protocol::Ws => {
            let url = match plan.camera {
                Some(id) => format!("ws://{}/ws?camera={id}", plan.addr),
                None => format!("ws://{}/ws", plan.addr),
            };
            let tcp = tokio::net::TcpStream::connect(plan.addr).await.map_err(|e| e.to_string())?;
            let _ = tcp.set_nodelay(true);
            match plan.rate {
                None => {
                    let (ws, _) =
                        tokio_tungstenite::client_async(url, tcp).await.map_err(|e| e.to_string())?;
                    ws_client(ws, plan, stop, log).await
                }
                Some(rate) => {
                    let slow = framecast_tests::throttle::Throttled::new(tcp, rate);
                    let (ws, _) =
                        tokio_tungstenite::client_async(url, slow).await.map_err(|e| e.to_string())?;
                    ws_client(ws, plan, stop, log).await
                }
            }
        }
        Protocol::Mjpeg | Protocol::Copy => mjpeg_client(plan, stop, log).await,
    }
}

async fn ws_client<S>(
    mut ws: tokio_tungstenite::WebSocketStream<S>,
    plan: &ClientPlan,
    stop: &AtomicBool,
    log: &mut ClientLog,
) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let ClientPlan { window, pace, auto, .. } = *plan;
    if let Some(canvas) = auto {
        let size = Some("auto".to_string());
        let hello = ClientMessage::Hello { window: None, max_fps: None, size, canvas: Some(canvas) };
        ws.send(Message::Text(hello.to_json().into())).await.map_err(|e| e.to_string())?;
    }
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
    let ClientPlan { addr, window, pace, rate, path, .. } = *plan;
    let mut response = http_client::get(addr, path).await.map_err(|e| e.to_string())?;
    if response.status != 200 {
        return Err(format!("status {}", response.status));
    }
    response.body.throttle = rate.map(framecast_tests::throttle::Throttle::new);
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

/// The benchmark's camera: 30 camera-like 1280x720 JPEGs (see
/// [`framecast_tests::codecbench::write_camera_like_frames`]) in `OUT/frames-1280x720`.
struct BenchFrames {
    dir: PathBuf,
    /// The `files:` camera that plays them.
    camera: String,
    /// Their mean size.
    bytes: u64,
}

fn bench_frames(out: &Path) -> Result<BenchFrames, String> {
    let dir = out.join("frames-1280x720");
    eprintln!("==> generating 30 camera-like 1280x720 frames in {}", dir.display());
    let bytes = framecast_tests::codecbench::write_camera_like_frames(&dir, 30, 1280, 720, 82)
        .map_err(|e| e.to_string())?;
    let camera = format!("files:{}", dir.display());
    Ok(BenchFrames { dir, camera, bytes })
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
    mixes: Vec<MixResult>,
    churn: ChurnResult,
    soak: framecast_tests::soak::SoakReport,
    recording: framecast_tests::recbench::RecordReport,
    renditions: RenditionBench,
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

async fn bench(
    server: &Path,
    out: &Path,
    measure: Duration,
    client_counts: &[usize],
    record_minutes: f64,
) -> Result<(), String> {
    let size = Size { width: 1280, height: 720 };
    let fps = 30;
    let frames = bench_frames(out)?;

    eprintln!("==> encode speed of the emulated camera (one core)");
    let encode = vec![
        encode_rate(size, 80, Duration::from_secs(3)),
        encode_rate(Size { width: 1920, height: 1080 }, 80, Duration::from_secs(3)),
    ];

    let args = bench_args(&frames.camera);

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
    // The baseline first: the same frames copied to every client by a trivial server.
    let loadgen = std::env::current_exe().map_err(|e| e.to_string())?;
    let first_frame_file = first_jpeg(&frames.dir)?;
    let copy_args = ["copy-server", "--frame", first_frame_file.to_str().unwrap_or_default(), "--fps", "30"];
    for protocol in [Protocol::Copy, Protocol::Ws, Protocol::Mjpeg] {
        for &n in client_counts {
            eprintln!("==> {n} {protocol:?} clients, {measure:?}");
            // A fresh server per scenario, so memory figures are not mixed up.
            let process = match protocol {
                Protocol::Copy => ServerProcess::start(&loadgen, &copy_args),
                _ => ServerProcess::start(server, &args),
            }
            .map_err(|e| e.to_string())?;
            let result =
                run_clients(protocol, process.addr, n, measure, Reading::FULL, Some(process.pid())).await;
            scenarios.push(result);
        }
    }
    let mut mixes = Vec::new();
    for protocol in [Protocol::Ws, Protocol::Mjpeg] {
        eprintln!(
            "==> {protocol:?}: 50 viewers alone, then with 5 at 1 frame/s and 5 at 2 Mbit/s for {MIX_SECONDS} s"
        );
        let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
        mixes.push(run_mix(protocol, process.addr, process.pid()).await);
    }
    eprintln!("==> churn: {CHURN_CLIENTS} clients connecting and leaving for {CHURN_SECONDS} s");
    let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
    let churn = run_churn(process.addr, process.pid()).await;
    drop(process);
    let soak = soak(server, 10_000, 16).await?;
    let recording = framecast_tests::recbench::run(server, &frames.camera, out, record_minutes).await?;
    let renditions = run_renditions(server, &frames.camera, &frames.dir).await?;

    let report = BenchReport {
        machine: format!("{} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)),
        frame_size: size.to_string(),
        frame_bytes: frames.bytes,
        camera_fps: fps,
        encode,
        startup_ms: startup.as_secs_f64() * 1000.0,
        first_frame_ms: first_frame.as_secs_f64() * 1000.0,
        scenarios,
        mixes,
        churn,
        soak,
        recording,
        renditions,
    };
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let json_path = out.join("results.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report).unwrap()).map_err(|e| e.to_string())?;
    print_table(&report);
    print_mixes(&report.mixes);
    print_churn(&report.churn);
    print_soak(&report.soak);
    print_renditions(&report.renditions);
    framecast_tests::recbench::print(&report.recording);
    println!("\nJSON: {}", json_path.display());
    Ok(())
}

/// The server's arguments for the benchmark: `camera` at 30 fps, and since one address opens
/// all the clients here, no per-address cap.
fn bench_args(camera: &str) -> Vec<&str> {
    let mut args = vec!["--camera", camera, "--fps", "30", "--idle-timeout", "60"];
    args.extend(["--max-connections-per-address", "8192", "--max-connections", "8192"]);
    args
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
    // CPU per delivered frame relative to the copy baseline at the same client count.
    let copy_cost = |clients: usize| {
        r.scenarios
            .iter()
            .find(|c| c.protocol == Protocol::Copy && c.clients == clients)
            .and_then(|c| c.server_cpu_us_per_frame)
    };
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
        if s.protocol != Protocol::Copy
            && let (Some(own), Some(copy)) = (s.server_cpu_us_per_frame, copy_cost(s.clients))
        {
            println!("{:>16} CPU per frame = {:.2}x the copy baseline", "", own / copy);
        }
    }
}

/// The first JPEG of the bench's frame folder (what the copy server sends).
fn first_jpeg(dir: &Path) -> Result<PathBuf, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    files.sort();
    files.into_iter().next().ok_or_else(|| format!("no JPEG in {}", dir.display()))
}

/// `loadgen copy-server`: every client gets the same prebuilt MJPEG part at `fps`, with a
/// fresh `X-Timestamp`; no flow control, no newest-frame logic, no per-client state. It
/// measures what copying frames into sockets costs on this machine.
fn copy_server(listen: SocketAddr, frame: &Path, fps: u32) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let jpeg = std::fs::read(frame).map_err(|e| format!("{}: {e}", frame.display()))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| e.to_string())?;
        println!("listening on http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let (tx, rx) = tokio::sync::watch::channel(bytes::Bytes::new());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps)));
            loop {
                tick.tick().await;
                let now = unix_micros_now();
                let head = format!(
                    "Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}.{:06}\r\n\r\n",
                    jpeg.len(),
                    now / 1_000_000,
                    now % 1_000_000
                );
                let mut part = Vec::with_capacity(head.len() + jpeg.len() + 16);
                part.extend_from_slice(head.as_bytes());
                part.extend_from_slice(&jpeg);
                part.extend_from_slice(b"\r\n--framecast\r\n");
                if tx.send(part.into()).is_err() {
                    break;
                }
            }
        });
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { continue };
            let _ = socket.set_nodelay(true);
            let mut rx = rx.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=framecast\r\n\
                            Cache-Control: no-cache\r\nConnection: close\r\n\r\n--framecast\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                while rx.changed().await.is_ok() {
                    let part = rx.borrow_and_update().clone();
                    if socket.write_all(&part).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

const MIX_SECONDS: u64 = 60;
const MIX_NORMAL: usize = 50;
const MIX_SLOW_EACH: usize = 5;
/// 2 Mbit/s.
const SLOW_LINK_BYTES_PER_SECOND: u64 = 250_000;

/// Normal viewers next to slow ones.
#[derive(Debug, Serialize)]
struct MixResult {
    protocol: Protocol,
    /// The normal viewers alone (10 s), then with the slow ones.
    normal_fps_alone: f64,
    normal_fps_with_slow: f64,
    normal_stalled: usize,
    /// Slow viewers' latency (ms) in the first and last 10 s of the run, and over all of it.
    one_fps: SlowLatency,
    /// MJPEG readers at 1 frame/s that ask for `?fps=1`.
    one_fps_capped: Option<SlowLatency>,
    slow_link: SlowLatency,
    server_rss_mb_start: f64,
    server_rss_mb_end: f64,
}

#[derive(Debug, Serialize)]
struct SlowLatency {
    fps: f64,
    first_10s_p50: f64,
    last_10s_p50: f64,
    p99: f64,
    max: f64,
}

async fn run_mix(protocol: Protocol, addr: SocketAddr, pid: u32) -> MixResult {
    let alone = run_clients(protocol, addr, MIX_NORMAL, Duration::from_secs(10), Reading::FULL, None).await;
    let measure = Duration::from_secs(MIX_SECONDS);
    let start = Instant::now() + Duration::from_secs(1);
    let window = (start, start + measure);
    let stop = Arc::new(AtomicBool::new(false));
    let spawn = |plan: ClientPlan| {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut log = ClientLog::default();
            if let Err(e) = run_client(protocol, &plan, &stop, &mut log).await {
                log.error = Some(e);
            }
            log
        })
    };
    let base =
        ClientPlan { addr, window, pace: None, rate: None, path: "/stream.mjpg", auto: None, camera: None };
    let normal: Vec<_> = (0..MIX_NORMAL).map(|_| spawn(base)).collect();
    let one_fps: Vec<_> = (0..MIX_SLOW_EACH)
        .map(|_| spawn(ClientPlan { pace: Some(Duration::from_secs(1)), ..base }))
        .collect();
    // The same readers asking for what they take (MJPEG only: a WebSocket viewer's acks do it).
    let one_fps_capped: Vec<_> = match protocol {
        Protocol::Mjpeg => (0..MIX_SLOW_EACH)
            .map(|_| {
                spawn(ClientPlan { pace: Some(Duration::from_secs(1)), path: "/stream.mjpg?fps=1", ..base })
            })
            .collect(),
        _ => Vec::new(),
    };
    let slow_link: Vec<_> = (0..MIX_SLOW_EACH)
        .map(|_| spawn(ClientPlan { rate: Some(SLOW_LINK_BYTES_PER_SECOND), ..base }))
        .collect();
    tokio::time::sleep_until(start.into()).await;
    let rss_start = Usage::of(pid).map(|u| u.rss).unwrap_or(0);
    tokio::time::sleep_until(window.1.into()).await;
    let rss_end = Usage::of(pid).map(|u| u.rss).unwrap_or(0);
    stop.store(true, Ordering::Relaxed);
    let collect = |tasks: Vec<tokio::task::JoinHandle<ClientLog>>| async move {
        let mut logs = Vec::new();
        for task in tasks {
            if let Ok(Ok(log)) = tokio::time::timeout(Duration::from_secs(5), task).await {
                logs.push(log);
            }
        }
        logs
    };
    let normal = collect(normal).await;
    let with_slow = summarize(protocol, MIX_NORMAL, measure, &normal, None, None, None);
    MixResult {
        protocol,
        normal_fps_alone: alone.fps_median,
        normal_fps_with_slow: with_slow.fps_median,
        normal_stalled: with_slow.stalled,
        one_fps: slow_latency(&collect(one_fps).await, measure),
        one_fps_capped: match protocol {
            Protocol::Mjpeg => Some(slow_latency(&collect(one_fps_capped).await, measure)),
            _ => None,
        },
        slow_link: slow_latency(&collect(slow_link).await, measure),
        server_rss_mb_start: rss_start as f64 / 1e6,
        server_rss_mb_end: rss_end as f64 / 1e6,
    }
}

/// Latency of slow viewers: per client, its samples are in time order, so the first and
/// last sixth of a 60 s run are its first and last 10 s.
fn slow_latency(logs: &[ClientLog], measure: Duration) -> SlowLatency {
    let mut first = Vec::new();
    let mut last = Vec::new();
    let mut all = Vec::new();
    for log in logs {
        let n = log.latencies_us.len();
        let sixth = (n / 6).max(1).min(n);
        first.extend_from_slice(&log.latencies_us[..sixth]);
        last.extend_from_slice(&log.latencies_us[n - sixth..]);
        all.extend_from_slice(&log.latencies_us);
    }
    for v in [&mut first, &mut last, &mut all] {
        v.sort_unstable();
    }
    let frames: u64 = logs.iter().map(|l| l.frames).sum();
    SlowLatency {
        fps: frames as f64 / measure.as_secs_f64() / logs.len().max(1) as f64,
        first_10s_p50: percentile_ms(&first, 0.5),
        last_10s_p50: percentile_ms(&last, 0.5),
        p99: percentile_ms(&all, 0.99),
        max: percentile_ms(&all, 1.0),
    }
}

/// Renditions: the JPEG figures, what renditions cost the server, and what a viewer on a
/// slow link gets from each size.
#[derive(Debug, Serialize)]
struct RenditionBench {
    codec: framecast_tests::codecbench::CodecReport,
    cost: Vec<RenditionCost>,
    links: Vec<LinkResult>,
    grid: Vec<GridResult>,
}

/// Four cameras watched at once, by one viewer each.
#[derive(Debug, Serialize)]
struct GridResult {
    label: &'static str,
    /// The four viewers together.
    total_mbit_s: f64,
    /// The slowest viewer's frame rate.
    fps_min: f64,
    /// The worst viewer's median latency.
    latency_ms_p50_max: f64,
    server_cpu_percent: f64,
}

/// Server CPU with `clients` MJPEG viewers of `path`.
#[derive(Debug, Serialize)]
struct RenditionCost {
    path: &'static str,
    clients: usize,
    server_cpu_percent: f64,
    fps_median: f64,
    mbit_s: f64,
}

/// One MJPEG viewer of `path` on a link of `mbit` Mbit/s.
#[derive(Debug, Serialize)]
struct LinkResult {
    mbit: f64,
    path: &'static str,
    fps: f64,
    latency_ms_p50: f64,
    latency_ms_p99: f64,
}

const RENDITION_SECONDS: u64 = 10;

async fn run_renditions(server: &Path, files: &str, frames_dir: &Path) -> Result<RenditionBench, String> {
    eprintln!("==> JPEG on one core: libjpeg-turbo vs jpeg-encoder; renditions of the 720p frames");
    let codec = framecast_tests::codecbench::run(frames_dir, Duration::from_secs(3))?;
    let measure = Duration::from_secs(RENDITION_SECONDS);
    let mut cost = Vec::new();
    for (path, clients) in [
        ("/stream.mjpg", 1),
        ("/stream.mjpg?size=640x360", 1),
        ("/stream.mjpg?size=640x360", 20),
        ("/stream.mjpg?size=320x180", 1),
        ("/stream.mjpg?size=320x180", 20),
    ] {
        eprintln!("==> {clients} MJPEG viewers of {path}, {measure:?}");
        // A fresh server each time: an earlier rendition would still be running.
        let process = ServerProcess::start(server, &bench_args(files)).map_err(|e| e.to_string())?;
        let reading = Reading { path, ..Reading::FULL };
        let r =
            run_clients(Protocol::Mjpeg, process.addr, clients, measure, reading, Some(process.pid())).await;
        cost.push(RenditionCost {
            path,
            clients,
            server_cpu_percent: r.server_cpu_percent.unwrap_or(f64::NAN),
            fps_median: r.fps_median,
            mbit_s: r.delivered_mbit_s / clients as f64,
        });
    }
    // One viewer on each link: MJPEG of each size, then WebSocket at full size and auto.
    let mut cases: Vec<(Protocol, &'static str, Reading)> = Vec::new();
    for path in ["/stream.mjpg", "/stream.mjpg?size=640x360", "/stream.mjpg?size=320x180"] {
        cases.push((Protocol::Mjpeg, path, Reading { path, ..Reading::FULL }));
    }
    cases.push((Protocol::Ws, "ws full size", Reading::FULL));
    cases.push((Protocol::Ws, "ws auto", Reading { auto: Some([1280, 720]), ..Reading::FULL }));
    let mut links = Vec::new();
    for (protocol, label, reading) in cases {
        for (mbit, bytes_per_second) in [(2.0, 250_000), (5.0, 625_000)] {
            eprintln!("==> one {protocol:?} viewer, {label}, on a {mbit} Mbit/s link, {measure:?}");
            let process = ServerProcess::start(server, &bench_args(files)).map_err(|e| e.to_string())?;
            let reading = Reading { rate: Some(bytes_per_second), ..reading };
            let r = run_clients(protocol, process.addr, 1, measure, reading, None).await;
            links.push(LinkResult {
                mbit,
                path: label,
                fps: r.fps_median,
                latency_ms_p50: r.latency_ms_p50,
                latency_ms_p99: r.latency_ms_p99,
            });
        }
    }
    let grid = run_grid(server, files, measure).await?;
    Ok(RenditionBench { codec, cost, links, grid })
}

/// The four cameras of the grid benchmark.
const GRID_CAMERAS: [&str; 4] = ["c1", "c2", "c3", "c4"];

/// A 4-camera grid on a phone against four full streams: one WebSocket viewer per camera,
/// asking `auto` with the canvas of a grid tile on a 390 px wide phone (374 CSS px of tile at
/// the grid's 2 device pixels per CSS pixel: 748x421), or at full size; then the tiles on a
/// 2 Mbit/s phone link, approximated as four 0.5 Mbit/s links.
async fn run_grid(server: &Path, files: &str, measure: Duration) -> Result<Vec<GridResult>, String> {
    let specs: Vec<String> = GRID_CAMERAS.iter().map(|id| format!("{id}={files}")).collect();
    let mut args: Vec<&str> = specs.iter().flat_map(|spec| ["--camera", spec.as_str()]).collect();
    args.extend(bench_args(files).into_iter().skip(2));
    let mut results = Vec::new();
    let tile = Some([748, 421]);
    // A phone's 2 Mbit/s link, shared evenly by its four sockets (each throttled alone).
    let shared_link = Some(62_500);
    for (label, auto, rate) in [
        ("4 full streams", None, None),
        ("4 phone tiles (748x421)", tile, None),
        ("4 tiles on 2 Mbit/s, shared", tile, shared_link),
    ] {
        eprintln!("==> {label}: one WebSocket viewer per camera, {measure:?}");
        let process = ServerProcess::start(server, &args).map_err(|e| e.to_string())?;
        let viewers = GRID_CAMERAS.iter().enumerate().map(|(i, &camera)| {
            let reading = Reading { auto, rate, camera: Some(camera), ..Reading::FULL };
            // The server's CPU once, over the same window as the others.
            let pid = (i == 0).then(|| process.pid());
            run_clients(Protocol::Ws, process.addr, 1, measure, reading, pid)
        });
        let each = futures_util::future::join_all(viewers).await;
        let errors: usize = each.iter().map(|r| r.errors).sum();
        if errors > 0 {
            return Err(format!("{label}: {errors} viewers failed"));
        }
        results.push(GridResult {
            label,
            total_mbit_s: each.iter().map(|r| r.delivered_mbit_s).sum(),
            fps_min: each.iter().map(|r| r.fps_median).fold(f64::INFINITY, f64::min),
            latency_ms_p50_max: each.iter().map(|r| r.latency_ms_p50).fold(0.0, f64::max),
            server_cpu_percent: each[0].server_cpu_percent.unwrap_or(f64::NAN),
        });
    }
    Ok(results)
}

fn print_renditions(r: &RenditionBench) {
    framecast_tests::codecbench::print(&r.codec);
    println!(
        "
renditions of the 720p30 camera, MJPEG viewers, {RENDITION_SECONDS} s each (server CPU, % of one core):"
    );
    let base = r.cost.first().map(|c| c.server_cpu_percent).unwrap_or(f64::NAN);
    for c in &r.cost {
        println!(
            "  {:>2} x {:<28} server CPU {:5.1}% ({:+5.1} vs one full-size viewer)  fps {:4.1}  {:5.1} Mbit/s each",
            c.clients,
            c.path,
            c.server_cpu_percent,
            c.server_cpu_percent - base,
            c.fps_median,
            c.mbit_s
        );
    }
    println!(
        "
one viewer on a slow link:"
    );
    for l in &r.links {
        println!(
            "  {:3.0} Mbit/s  {:<28} {:5.1} fps  latency p50 {:7.0} ms  p99 {:7.0} ms",
            l.mbit, l.path, l.fps, l.latency_ms_p50, l.latency_ms_p99
        );
    }
    print_grid(&r.grid);
}

fn print_grid(grid: &[GridResult]) {
    println!(
        "
a 4-camera grid on a phone (720p30 cameras, one WebSocket viewer each):"
    );
    let full = grid.first().map(|g| g.total_mbit_s).unwrap_or(f64::NAN);
    for g in grid {
        println!(
            "  {:<26} {:6.1} Mbit/s in all ({:.2}x four full streams)  slowest {:4.1} fps  latency p50 <= {:4.0} ms  server CPU {:5.1}%",
            g.label,
            g.total_mbit_s,
            g.total_mbit_s / full,
            g.fps_min,
            g.latency_ms_p50_max,
            g.server_cpu_percent
        );
    }
}

const CHURN_CLIENTS: usize = 200;
const CHURN_SECONDS: u64 = 60;

/// Clients that connect, take a frame or two, and leave, over and over.
#[derive(Debug, Serialize)]
struct ChurnResult {
    cycles: u64,
    failures: u64,
    fds_before: usize,
    fds_after: usize,
    rss_mb_before: f64,
    rss_mb_peak: f64,
    rss_mb_after: f64,
}

async fn run_churn(addr: SocketAddr, pid: u32) -> ChurnResult {
    use std::sync::atomic::AtomicU64;
    // Warm the camera and allocator first, so "before" is the idle steady state.
    let _ = run_clients(Protocol::Ws, addr, 10, Duration::from_secs(1), Reading::FULL, None).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = Usage::of(pid).ok();
    let deadline = Instant::now() + Duration::from_secs(CHURN_SECONDS);
    let cycles = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CHURN_CLIENTS)
        .map(|i| {
            let (cycles, failures) = (cycles.clone(), failures.clone());
            tokio::spawn(async move {
                let mut n = i as u64;
                while Instant::now() < deadline {
                    let protocol = if n.is_multiple_of(2) { Protocol::Ws } else { Protocol::Mjpeg };
                    n += 1;
                    let ok = tokio::time::timeout(Duration::from_secs(5), one_visit(protocol, addr)).await;
                    if matches!(ok, Ok(Ok(()))) {
                        cycles.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut peak = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak = peak.max(Usage::of(pid).map(|u| u.rss).unwrap_or(0));
    }
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = Usage::of(pid).ok();
    ChurnResult {
        cycles: cycles.load(Ordering::Relaxed),
        failures: failures.load(Ordering::Relaxed),
        fds_before: before.map(|u| u.fds).unwrap_or(0),
        fds_after: after.map(|u| u.fds).unwrap_or(0),
        rss_mb_before: before.map(|u| u.rss as f64 / 1e6).unwrap_or(f64::NAN),
        rss_mb_peak: peak as f64 / 1e6,
        rss_mb_after: after.map(|u| u.rss as f64 / 1e6).unwrap_or(f64::NAN),
    }
}

/// Connects, receives one frame, leaves.
async fn one_visit(protocol: Protocol, addr: SocketAddr) -> Result<(), String> {
    match protocol {
        Protocol::Ws => {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .map_err(|e| e.to_string())?;
            while let Some(message) = ws.next().await {
                if message.map_err(|e| e.to_string())?.is_binary() {
                    return Ok(());
                }
            }
            Err("closed before a frame".into())
        }
        _ => {
            let mut response = http_client::get(addr, "/stream.mjpg").await.map_err(|e| e.to_string())?;
            response.body.read_until(b"--framecast\r\n").await.map_err(|e| e.to_string())?;
            http_client::read_part(&mut response.body, "framecast", false)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
    }
}

fn print_mixes(mixes: &[MixResult]) {
    println!(
        "\nslow viewers, {MIX_SECONDS} s: {MIX_NORMAL} normal viewers + {MIX_SLOW_EACH} reading 1 frame/s + {MIX_SLOW_EACH} reading at 2 Mbit/s"
    );
    println!(
        "{:<6} | {:>22} | {:>38} | {:>38} | {:>14}",
        "proto",
        "normal fps alone/with",
        "1 frame/s: fps, p50 first/last 10 s, p99",
        "2 Mbit/s: fps, p50 first/last 10 s, p99",
        "RSS MB start/end"
    );
    for m in mixes {
        let slow = |s: &SlowLatency| {
            format!("{:4.1} fps, {:6.0}/{:6.0} ms, {:6.0} ms", s.fps, s.first_10s_p50, s.last_10s_p50, s.p99)
        };
        println!(
            "{:<6} | {:>9.1}/{:>5.1} ({:+.1}%) | {:>38} | {:>38} | {:>6.1}/{:>6.1}",
            format!("{:?}", m.protocol).to_lowercase(),
            m.normal_fps_alone,
            m.normal_fps_with_slow,
            (m.normal_fps_with_slow / m.normal_fps_alone - 1.0) * 100.0,
            slow(&m.one_fps),
            slow(&m.slow_link),
            m.server_rss_mb_start,
            m.server_rss_mb_end
        );
        if let Some(capped) = &m.one_fps_capped {
            println!(
                "{:<6} | {:>22} | {:>38} | (the 1 frame/s readers asking for ?fps=1)",
                "",
                "",
                slow(capped)
            );
        }
    }
}

fn print_churn(c: &ChurnResult) {
    println!(
        "\nchurn: {CHURN_CLIENTS} clients connecting, taking a frame and leaving for {CHURN_SECONDS} s: {} visits ({} failed); \
         server open files {} -> {}, RSS {:.1} MB -> peak {:.1} -> {:.1} MB after",
        c.cycles, c.failures, c.fds_before, c.fds_after, c.rss_mb_before, c.rss_mb_peak, c.rss_mb_after
    );
}
