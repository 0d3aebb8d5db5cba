//! The renditions benchmark (`loadgen renditions`, part of `loadgen bench`): the JPEG figures
//! on one core ([`framecast_tests::codecbench`]), what serving smaller renditions costs the
//! server, what one viewer on a 2 or 5 Mbit/s link gets from each size (MJPEG, and WebSocket
//! at full size and with `auto`), and then the [`grid`](crate::grid).

use std::path::Path;
use std::time::Duration;

use framecast_tests::process::ServerProcess;
use serde::Serialize;

use crate::clients::{Protocol, Reading, run_clients};
use crate::grid::{GridResult, print_grid, run_grid};
use crate::setup::{bench_args, bench_frames};

/// Renditions: the JPEG figures, what renditions cost the server, and what a viewer on a
/// slow link gets from each size.
#[derive(Debug, Serialize)]
pub struct RenditionBench {
    codec: framecast_tests::codecbench::CodecReport,
    cost: Vec<RenditionCost>,
    links: Vec<LinkResult>,
    grid: Vec<GridResult>,
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

/// Seconds each scenario of the renditions benchmark (and of the grid) is measured.
pub const RENDITION_SECONDS: u64 = 10;

/// `loadgen renditions`: the whole renditions benchmark, grid included, and its tables.
pub async fn command(server: &Path, out: &Path) -> Result<(), String> {
    let frames = bench_frames(out)?;
    print_renditions(&run_renditions(server, &frames.camera, &frames.dir).await?);
    Ok(())
}

/// The renditions benchmark against fresh servers of `server` playing the `files` camera
/// (`frames_dir` holds its JPEGs, for the codec figures).
pub async fn run_renditions(server: &Path, files: &str, frames_dir: &Path) -> Result<RenditionBench, String> {
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

/// Prints the JPEG figures, the renditions' cost, the slow links and the grid.
pub fn print_renditions(r: &RenditionBench) {
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
