//! `loadgen bench`, the whole benchmark (what `cargo xtask bench` runs): the emulated camera's
//! encode speed, start to first frame, the client scenarios (the copy baseline, WebSocket and
//! MJPEG at each client count), then the mix, churn, soak, recording, renditions and H.264. It writes
//! everything to `OUT/results.json` and prints the tables the README quotes.

use std::path::Path;
use std::time::{Duration, Instant};

use framecast::camera::Size;
use framecast_tests::http_client;
use framecast_tests::process::ServerProcess;
use serde::Serialize;

use crate::churn::{CHURN_CLIENTS, CHURN_SECONDS, ChurnResult, print_churn, run_churn};
use crate::clients::{Protocol, Reading, ScenarioResult, run_clients};
use crate::copy_server::first_jpeg;
use crate::encode::{EncodeResult, encode_rate};
use crate::mix::{MIX_SECONDS, MixResult, print_mixes, run_mix};
use crate::renditions::{RenditionBench, print_renditions, run_renditions};
use crate::setup::{bench_args, bench_frames};
use crate::soak::{print_soak, run_soak};

/// Everything one benchmark run measured: `OUT/results.json`.
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
    h264: crate::h264::H264Bench,
    motion: crate::motion::MotionBench,
}

/// `loadgen bench`: every scenario, each client scenario measured for `measure` at each of
/// `client_counts`, the recording for `record_minutes`; writes the JSON and prints the tables.
pub async fn command(
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
    let soak = run_soak(server, 10_000, 16).await?;
    let recording = framecast_tests::recbench::run(server, &frames.camera, out, record_minutes).await?;
    let renditions = run_renditions(server, &frames.camera, &frames.dir).await?;
    let h264 = crate::h264::run(server, &frames, out).await?;
    let motion = crate::motion::run(server, &frames).await?;

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
        h264,
        motion,
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
    crate::h264::print(&report.h264);
    crate::motion::print(&report.motion);
    println!("\nJSON: {}", json_path.display());
    Ok(())
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
