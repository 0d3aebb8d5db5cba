//! The client drivers every scenario is built from: many WebSocket (with acks) or MJPEG (raw
//! HTTP) viewers in one process, each logging the frames it receives in a measured window, and
//! the summary of a run: frame rates, stalls, capture-to-receipt latency, bytes, and the
//! server's CPU and memory over the same window. `loadgen clients` runs them alone against a
//! server that is already running.
//!
//! The copy baseline ([`Protocol::Copy`]) is read exactly like framecast's MJPEG, so the two
//! are measured the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use framecast_shared::{ClientMessage, FrameHeader, unix_micros_now};
use framecast_tests::process::Usage;
use framecast_tests::{http_client, percentile_ms};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

/// The protocol a scenario's clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Ws,
    Mjpeg,
    /// MJPEG from the baseline copy server (`loadgen copy-server`).
    Copy,
}

/// What one client saw in the measured window.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// Frames received in the window.
    pub frames: u64,
    /// Their JPEG bytes.
    pub bytes: u64,
    /// Each frame's latency from capture to receipt, µs, in the order received.
    pub latencies_us: Vec<u64>,
    /// The longest wait for a frame in the window (from the frame before, even one received
    /// before the window).
    pub longest_gap: Duration,
    /// Why the client stopped early, if it did.
    pub error: Option<String>,
    /// The size of the last frame received (WebSocket).
    pub picture: Option<[u32; 2]>,
}

/// Summary of one scenario.
#[derive(Debug, Serialize)]
pub struct ScenarioResult {
    /// What the clients spoke.
    pub protocol: Protocol,
    /// How many clients there were.
    pub clients: usize,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// The slowest client's frames per second.
    pub fps_min: f64,
    /// The median client's frames per second.
    pub fps_median: f64,
    /// The fastest client's frames per second.
    pub fps_max: f64,
    /// Clients with a gap of more than 2 s between frames, or no frame at all.
    pub stalled: usize,
    /// Clients that stopped with an error or did not finish.
    pub errors: usize,
    /// Median latency from capture to receipt over every frame of every client, ms.
    pub latency_ms_p50: f64,
    /// Its 99th percentile, ms.
    pub latency_ms_p99: f64,
    /// Its maximum, ms.
    pub latency_ms_max: f64,
    /// Frames received by all the clients together.
    pub delivered_frames: u64,
    /// Their JPEG bytes, in Mbit/s.
    pub delivered_mbit_s: f64,
    /// The server's CPU over the window, % of one core (when its pid was given).
    pub server_cpu_percent: Option<f64>,
    /// The server's CPU time per delivered frame, µs.
    pub server_cpu_us_per_frame: Option<f64>,
    /// The server's RSS at the end of the window, MB.
    pub server_rss_mb: Option<f64>,
    /// The server's RSS growth since before the clients connected, KB per client.
    pub server_rss_kb_per_client: Option<f64>,
    /// loadgen's own CPU over the window, % of one core.
    pub loadgen_cpu_percent: f64,
    /// The picture size the first client was shown last (WebSocket).
    pub picture: Option<[u32; 2]>,
}

/// How every client of a scenario reads.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// At most one frame per `pace` (a slow viewer).
    pub pace: Option<Duration>,
    /// At most this many bytes per second (a slow link).
    pub rate: Option<u64>,
    /// What an MJPEG client asks for.
    pub path: &'static str,
    /// A WebSocket client asks for `"size":"auto"` with this canvas (device pixels).
    pub auto: Option<[u32; 2]>,
    /// The camera a WebSocket client watches (`?camera=`; the first when absent).
    pub camera: Option<&'static str>,
    /// A WebSocket client says it decodes H.264 (`?accept=h264,jpeg`).
    pub accept_h264: bool,
    /// How long the clients run before the measured window.
    pub warmup: Duration,
}

impl Reading {
    /// As fast as it comes, the camera's own picture.
    pub const FULL: Reading = Reading {
        pace: None,
        rate: None,
        path: "/stream.mjpg",
        auto: None,
        camera: None,
        accept_h264: false,
        warmup: Duration::from_secs(1),
    };
}

/// `loadgen clients`: `n` clients of `protocol` against the server at `addr`, measured for
/// `measure` after one second of warm-up, each reading at most `read_fps` frames per second
/// when given; prints the [`ScenarioResult`] as JSON.
pub async fn command(
    protocol: Protocol,
    addr: SocketAddr,
    n: usize,
    measure: Duration,
    read_fps: Option<f64>,
) -> Result<(), String> {
    let pace = read_fps.map(|f| Duration::from_secs_f64(1.0 / f));
    let reading = Reading { pace, ..Reading::FULL };
    let r = run_clients(protocol, addr, n, measure, reading, None).await;
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    Ok(())
}

/// Runs `n` clients for one second of warm-up plus `measure`, each reading as `reading` says;
/// `server_pid` adds the server's CPU and memory over the measured window.
pub async fn run_clients(
    protocol: Protocol,
    addr: SocketAddr,
    n: usize,
    measure: Duration,
    reading: Reading,
    server_pid: Option<u32>,
) -> ScenarioResult {
    let window_start = Instant::now() + reading.warmup;
    let window_end = window_start + measure;
    let Reading { pace, rate, path, auto, camera, accept_h264, .. } = reading;
    let plan =
        ClientPlan { addr, window: (window_start, window_end), pace, rate, path, auto, camera, accept_h264 };
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

/// The [`ScenarioResult`] of `n` clients' logs over `measure`; `server` and `own` are the
/// server's and loadgen's usage at the window's start and end, `baseline_rss` the server's
/// memory before the clients connected.
pub fn summarize(
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
        picture: logs.first().and_then(|l| l.picture),
    }
}

/// What every client of a scenario does: where it connects, when it measures, how fast it
/// reads.
#[derive(Debug, Clone, Copy)]
pub struct ClientPlan {
    /// The server.
    pub addr: SocketAddr,
    /// Start and end of the measured window (after the warm-up).
    pub window: (Instant, Instant),
    /// Read at most one frame per `pace` (a slow viewer).
    pub pace: Option<Duration>,
    /// Read at most this many bytes per second (a viewer on a slow link).
    pub rate: Option<u64>,
    /// What an MJPEG client asks for.
    pub path: &'static str,
    /// A WebSocket client asks for `"size":"auto"` with this canvas.
    pub auto: Option<[u32; 2]>,
    /// The camera a WebSocket client watches.
    pub camera: Option<&'static str>,
    /// A WebSocket client says it decodes H.264.
    pub accept_h264: bool,
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
pub async fn run_client(
    protocol: Protocol,
    plan: &ClientPlan,
    stop: &AtomicBool,
    log: &mut ClientLog,
) -> Result<(), String> {
    match protocol {
        Protocol::Ws => {
            let mut url = match plan.camera {
                Some(id) => format!("ws://{}/ws?camera={id}", plan.addr),
                None => format!("ws://{}/ws?", plan.addr),
            };
            if plan.accept_h264 {
                url.push_str("&accept=h264,jpeg");
            }
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
        let hello =
            ClientMessage::Hello { window: None, max_fps: None, size, canvas: Some(canvas), accept: None };
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
            log.picture = Some([header.width, header.height]);
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
