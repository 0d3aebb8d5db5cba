//! The baseline (`loadgen copy-server`, the **copy** rows of `loadgen bench`): a trivial MJPEG
//! server that copies the same prebuilt part to every client, so that framecast's CPU per
//! delivered frame can be compared with what copying frames into sockets costs on this
//! machine. `loadgen bench` starts this binary again with that subcommand.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use framecast_shared::unix_micros_now;

/// The first JPEG of the bench's frame folder (what the copy server sends).
pub fn first_jpeg(dir: &Path) -> Result<PathBuf, String> {
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
pub fn command(listen: SocketAddr, frame: &Path, fps: u32) -> Result<(), String> {
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
