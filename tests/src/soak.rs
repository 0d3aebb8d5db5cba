//! Soak: many short connections that each misbehave in a different way (bad messages, abrupt
//! drops mid-frame, half-sent requests, wrong tokens, garbage), run against a live server
//! while its open files and memory are sampled. A server that leaks a descriptor, a task or a
//! buffer per bad connection shows it here as a rising line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::process::Usage;

/// What one soak run did and what it cost the server.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Cycles completed.
    pub cycles: u64,
    /// Cycles whose connection could not even be made (should be 0).
    pub connect_failures: u64,
    /// Wall time of the run.
    pub seconds: f64,
    /// Server open files before and after.
    pub fds_before: usize,
    /// See `fds_before`.
    pub fds_after: usize,
    /// Server resident memory (bytes) after warm-up and at the end.
    pub rss_before: u64,
    /// See `rss_before`.
    pub rss_after: u64,
    /// Whether the server still served a normal viewer a frame at the end.
    pub still_serving: bool,
}

/// The abuse kinds, one per cycle in turn.
const KINDS: usize = 8;

/// Runs `cycles` connect/abuse/disconnect cycles, `parallel` at a time, against the server at
/// `addr` (process `pid`), then waits for the server to settle and measures again. `token` is
/// the server's `--token`, if any (some cycles use it, some use a wrong one).
pub async fn run(
    addr: SocketAddr,
    pid: u32,
    cycles: u64,
    parallel: usize,
    token: Option<&str>,
) -> SoakReport {
    // Warm up allocator pools and the camera so "before" is the steady state.
    for kind in 0..KINDS as u64 {
        let _ = cycle(addr, kind, token).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = Usage::of(pid).unwrap_or(Usage { cpu: Duration::ZERO, rss: 0, fds: 0 });
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let token: Option<Arc<str>> = token.map(Arc::from);
    let workers: Vec<_> = (0..parallel)
        .map(|_| {
            let (next, failures, token) = (next.clone(), failures.clone(), token.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= cycles {
                        break;
                    }
                    let result =
                        tokio::time::timeout(Duration::from_secs(10), cycle(addr, n, token.as_deref())).await;
                    if !matches!(result, Ok(Ok(()))) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    // Connections closed by the client are reaped by the server within moments.
    let mut after = Usage::of(pid).unwrap_or(before);
    for _ in 0..50 {
        if after.fds <= before.fds {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = Usage::of(pid).unwrap_or(after);
    }
    let still_serving = viewer_gets_a_frame(addr, token.as_deref()).await;
    SoakReport {
        cycles,
        connect_failures: failures.load(Ordering::Relaxed),
        seconds,
        fds_before: before.fds,
        fds_after: after.fds,
        rss_before: before.rss,
        rss_after: after.rss,
        still_serving,
    }
}

fn with_token(path: &str, token: Option<&str>) -> String {
    match token {
        Some(t) => format!("{path}{}token={t}", if path.contains('?') { '&' } else { '?' }),
        None => path.to_string(),
    }
}

/// One connection that misbehaves in way `n % KINDS`.
async fn cycle(addr: SocketAddr, n: u64, token: Option<&str>) -> std::io::Result<()> {
    match n as usize % KINDS {
        // A viewer that sends every kind of bad message, then vanishes without a close.
        0 => {
            let url = format!("ws://{addr}{}", with_token("/ws", token));
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.map_err(std::io::Error::other)?;
            for bad in [
                "not json",
                r#"{"type":"nope"}"#,
                r#"{"type":"ack","seq":"x"}"#,
                r#"{"type":"hello","window":0}"#,
            ] {
                ws.send(Message::Text(bad.into())).await.map_err(std::io::Error::other)?;
            }
            ws.send(Message::Binary(vec![0u8; 100].into())).await.map_err(std::io::Error::other)?;
            // Read a little (hello, a frame, errors) and drop the socket mid-stream.
            for _ in 0..3 {
                let _ = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
            }
            Ok(())
        }
        // An MJPEG reader that leaves in the middle of a frame.
        1 => {
            let mut s = TcpStream::connect(addr).await?;
            let path = with_token("/stream.mjpg", token);
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await?;
            let mut buf = vec![0u8; 20_000];
            let _ = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
            Ok(())
        }
        // Half a request line, then gone.
        2 => {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(b"GET /snapshot.jpg HT").await?;
            Ok(())
        }
        // Garbage instead of HTTP.
        3 => {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n").await?;
            let mut buf = [0u8; 512];
            let _ = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
            Ok(())
        }
        // A wrong token (refused; when the server has none, simply served).
        4 => {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(
                b"GET /api/state HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!\r\nConnection: close\r\n\r\n",
            )
            .await?;
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
            Ok(())
        }
        // A WebSocket upgrade that never finishes its handshake.
        5 => {
            let mut s = TcpStream::connect(addr).await?;
            let path = with_token("/ws", token);
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
                    .as_bytes(),
            )
            .await?;
            Ok(())
        }
        // A snapshot, read fully (the normal case, among the abuse).
        6 => {
            let mut s = TcpStream::connect(addr).await?;
            let path = with_token("/snapshot.jpg", token);
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
                .await?;
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
            Ok(())
        }
        // An oversized header block.
        _ => {
            let mut s = TcpStream::connect(addr).await?;
            let big = "x".repeat(100 * 1024);
            let _ =
                s.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes()).await;
            let mut buf = [0u8; 512];
            let _ = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
            Ok(())
        }
    }
}

/// Whether a fresh WebSocket viewer receives a frame within 5 s.
async fn viewer_gets_a_frame(addr: SocketAddr, token: Option<&str>) -> bool {
    let url = format!("ws://{addr}{}", with_token("/ws", token));
    let attempt = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_binary() {
                return Some(());
            }
        }
        None
    };
    matches!(tokio::time::timeout(Duration::from_secs(5), attempt).await, Ok(Some(())))
}
