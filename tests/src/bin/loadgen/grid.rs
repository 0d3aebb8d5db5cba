//! The grid (`loadgen grid`, and the end of `loadgen renditions`): four 720p cameras watched
//! at once, one WebSocket viewer each, the way a phone shows its 4-camera grid: full size,
//! then `auto` at a tile's canvas, then those tiles on a shared 2 Mbit/s link. It shows what
//! `auto` saves a phone in bandwidth and what it costs the server.

use std::path::Path;
use std::time::Duration;

use framecast_tests::process::ServerProcess;
use serde::Serialize;

use crate::clients::{Protocol, Reading, run_clients};
use crate::renditions::RENDITION_SECONDS;
use crate::setup::{bench_args, bench_frames};

/// Four cameras watched at once, by one viewer each.
#[derive(Debug, Serialize)]
pub struct GridResult {
    label: &'static str,
    /// The four viewers together.
    total_mbit_s: f64,
    /// The slowest viewer's frame rate.
    fps_min: f64,
    /// The worst viewer's median latency.
    latency_ms_p50_max: f64,
    server_cpu_percent: f64,
}

/// The four cameras of the grid benchmark.
const GRID_CAMERAS: [&str; 4] = ["c1", "c2", "c3", "c4"];

/// `loadgen grid`: the grid alone, measured for [`RENDITION_SECONDS`] each, and its table.
pub async fn command(server: &Path, out: &Path) -> Result<(), String> {
    let frames = bench_frames(out)?;
    print_grid(&run_grid(server, &frames.camera, Duration::from_secs(RENDITION_SECONDS)).await?);
    Ok(())
}

/// A 4-camera grid on a phone against four full streams: one WebSocket viewer per camera,
/// asking `auto` with the canvas of a grid tile on a 390 px wide phone (374 CSS px of tile at
/// the grid's 2 device pixels per CSS pixel: 748x421), or at full size; then the tiles on a
/// 2 Mbit/s phone link, approximated as four 0.5 Mbit/s links.
pub async fn run_grid(server: &Path, files: &str, measure: Duration) -> Result<Vec<GridResult>, String> {
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

/// Prints the grid's table, each row against the four full streams.
pub fn print_grid(grid: &[GridResult]) {
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
