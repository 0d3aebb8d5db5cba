//! Churn (part of `loadgen bench`): many clients, each alternating WebSocket and MJPEG, that
//! connect, take one frame and leave, over and over for a minute, with the server's open files
//! and memory before, at the peak and after. A server that keeps something per visit shows it
//! here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use framecast_tests::http_client;
use framecast_tests::process::Usage;
use futures_util::StreamExt;
use serde::Serialize;

use crate::clients::{Protocol, Reading, run_clients};

/// Clients visiting at once.
pub const CHURN_CLIENTS: usize = 200;
/// How long they keep visiting.
pub const CHURN_SECONDS: u64 = 60;

/// Clients that connect, take a frame or two, and leave, over and over.
#[derive(Debug, Serialize)]
pub struct ChurnResult {
    cycles: u64,
    failures: u64,
    fds_before: usize,
    fds_after: usize,
    rss_mb_before: f64,
    rss_mb_peak: f64,
    rss_mb_after: f64,
}

/// Churn against the server at `addr` (process `pid`), once ten ordinary viewers have warmed
/// it up.
pub async fn run_churn(addr: SocketAddr, pid: u32) -> ChurnResult {
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

/// Prints churn's line.
pub fn print_churn(c: &ChurnResult) {
    println!(
        "\nchurn: {CHURN_CLIENTS} clients connecting, taking a frame and leaving for {CHURN_SECONDS} s: {} visits ({} failed); \
         server open files {} -> {}, RSS {:.1} MB -> peak {:.1} -> {:.1} MB after",
        c.cycles, c.failures, c.fds_before, c.fds_after, c.rss_mb_before, c.rss_mb_peak, c.rss_mb_after
    );
}
