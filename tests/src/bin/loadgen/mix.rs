//! The slow-viewer mix (`loadgen mix`, part of `loadgen bench`): normal viewers measured alone,
//! then for a minute next to viewers reading 1 frame/s and viewers on a 2 Mbit/s link (for
//! MJPEG, also 1 frame/s readers that ask for `?fps=1`). It shows whether slow viewers slow
//! the others down, whether their own latency grows over the run, and what the server's
//! memory does meanwhile.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use framecast_tests::percentile_ms;
use framecast_tests::process::{ServerProcess, Usage};
use serde::Serialize;

use crate::clients::{ClientLog, ClientPlan, Protocol, Reading, run_client, run_clients, summarize};
use crate::setup::{bench_args, bench_frames};

/// Seconds the normal and slow viewers run together.
pub const MIX_SECONDS: u64 = 60;
/// Normal viewers.
const MIX_NORMAL: usize = 50;
/// Slow viewers of each kind.
const MIX_SLOW_EACH: usize = 5;
/// 2 Mbit/s.
const SLOW_LINK_BYTES_PER_SECOND: u64 = 250_000;

/// Normal viewers next to slow ones.
#[derive(Debug, Serialize)]
pub struct MixResult {
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

/// What one kind of slow viewer got.
#[derive(Debug, Serialize)]
struct SlowLatency {
    fps: f64,
    first_10s_p50: f64,
    last_10s_p50: f64,
    p99: f64,
    max: f64,
}

/// `loadgen mix`: the mix for both protocols, each against a fresh server, and its table.
pub async fn command(server: &Path, out: &Path) -> Result<(), String> {
    let frames = bench_frames(out)?;
    let mut mixes = Vec::new();
    for protocol in [Protocol::Ws, Protocol::Mjpeg] {
        let process = ServerProcess::start(server, &bench_args(&frames.camera)).map_err(|e| e.to_string())?;
        mixes.push(run_mix(protocol, process.addr, process.pid()).await);
    }
    print_mixes(&mixes);
    Ok(())
}

/// The mix for one protocol against the server at `addr` (process `pid`): the normal viewers
/// alone for 10 s, then everyone together for [`MIX_SECONDS`].
pub async fn run_mix(protocol: Protocol, addr: SocketAddr, pid: u32) -> MixResult {
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
    let base = ClientPlan {
        addr,
        window,
        pace: None,
        rate: None,
        path: "/stream.mjpg",
        auto: None,
        camera: None,
        accept_h264: false,
    };
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

/// Prints the mix's table, one row per protocol.
pub fn print_mixes(mixes: &[MixResult]) {
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
