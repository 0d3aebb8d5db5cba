//! The HTTP surface and the accept loop.
//!
//! Layout: [`ws`] (the WebSocket viewer protocol), [`mjpeg`] (`multipart/x-mixed-replace`
//! stream), [`snapshot`] (one JPEG), [`api`] (`/api/state`), [`assets`] (the embedded web
//! client). [`router`] wires the routes, including the mjpg-streamer/µStreamer aliases;
//! [`serve`] accepts connections with the socket settings that keep stream latency bounded.

pub mod api;
pub mod assets;
pub mod mjpeg;
pub mod push;
pub mod snapshot;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::ApiError;
use crate::hub::Hub;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Every camera; the first is the default.
    pub hubs: Arc<Vec<Hub>>,
    /// Cancelled when the server shuts down; every endless response watches it.
    pub shutdown: CancellationToken,
    /// How `push` cameras accept frames.
    pub push: PushConfig,
}

/// Settings of the push endpoints.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Bearer token senders must present; `None` when there are no push cameras.
    pub token: Option<Arc<str>>,
    /// Largest body accepted.
    pub max_bytes: usize,
}

impl AppState {
    /// The camera `?camera=ID` asks for, or the default one.
    pub fn camera(&self, id: Option<&str>) -> Result<&Hub, ApiError> {
        match id {
            None | Some("") => self
                .hubs
                .first()
                .ok_or_else(|| ApiError::UnknownCamera { requested: String::new(), known: String::new() }),
            Some(id) => self.hubs.iter().find(|h| h.id() == id).ok_or_else(|| ApiError::UnknownCamera {
                requested: id.to_string(),
                known: self.hubs.iter().map(|h| h.id()).collect::<Vec<_>>().join(", "),
            }),
        }
    }
}

/// `?camera=ID`, accepted by every endpoint that shows a camera.
#[derive(Debug, Default, Deserialize)]
pub struct CameraQuery {
    /// Camera id; the first camera when absent.
    pub camera: Option<String>,
}

/// `/?action=stream|snapshot` as mjpg-streamer and µStreamer spell it.
#[derive(Debug, Default, Deserialize)]
struct RootQuery {
    action: Option<String>,
    camera: Option<String>,
}

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/ws", get(ws::handler))
        .route("/stream.mjpg", get(mjpeg::handler))
        .route("/stream", get(mjpeg::handler))
        .route("/snapshot.jpg", get(snapshot::handler))
        .route("/snapshot", get(snapshot::handler))
        .route("/api/state", get(api::state))
        .route(
            "/api/cameras/{name}/frame",
            axum::routing::post(push::frame)
                .layer(axum::extract::DefaultBodyLimit::max(state.push.max_bytes)),
        )
        .route("/api/cameras/{name}/ingest", get(push::ingest))
        .fallback(assets::handler)
        .with_state(state)
}

async fn root(State(state): State<AppState>, Query(q): Query<RootQuery>) -> Response {
    match q.action.as_deref() {
        None => assets::index(),
        Some("stream") => mjpeg::respond(&state, q.camera.as_deref()).into_response(),
        Some("snapshot") => snapshot::respond(&state, q.camera.as_deref()).await.into_response(),
        Some(other) => (
            StatusCode::BAD_REQUEST,
            format!("unknown action '{other}'; use ?action=stream or ?action=snapshot\n"),
        )
            .into_response(),
    }
}

/// Largest buffer hyper keeps per connection: bounds request headers, and how much of a
/// stream response hyper holds before asking the body for more. Small, so a slow MJPEG
/// reader is handed the newest frame when it catches up instead of a backlog.
const MAX_CONNECTION_BUFFER: usize = 64 * 1024;

/// Unsent bytes the kernel may hold per socket before it stops reporting the socket writable
/// (`TCP_NOTSENT_LOWAT`). Without it the send buffer grows to megabytes and a slow MJPEG
/// reader falls seconds behind before the server notices; with it the backlog stays near one
/// frame while the congestion window still grows freely.
const NOTSENT_LOWAT: u32 = 128 * 1024;

/// A request whose headers have not arrived in this time is dropped (slow-loris defence).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long shutdown waits for open responses before returning anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(900);

/// Accepts connections until `shutdown`, then lets open responses end (every stream and
/// WebSocket watches `shutdown` too) for at most [`SHUTDOWN_GRACE`].
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    let connections = TaskTracker::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_CONNECTION_BUFFER);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tune_socket(&stream);
        let service = TowerToHyperService::new(app.clone());
        let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = shutdown.cancelled() => {
                    // Finish the response in flight (streams end on `shutdown` themselves),
                    // then close; idle keep-alive connections close at once.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait()).await.is_err() {
        tracing::warn!("some connections were still open at shutdown");
    }
    Ok(())
}

/// Low latency over throughput: no Nagle delay, and a bounded unsent backlog.
fn tune_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    set_notsent_lowat(stream, NOTSENT_LOWAT);
}

#[allow(unsafe_code)]
fn set_notsent_lowat(stream: &TcpStream, bytes: u32) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let value = bytes as libc::c_int;
        // SAFETY: the fd is open for the lifetime of `stream`, and `value` is a c_int that
        // outlives the call; setsockopt only reads `size_of::<c_int>()` bytes from it.
        let rc = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            tracing::debug!("TCP_NOTSENT_LOWAT not set: {}", std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (stream, bytes);
}
