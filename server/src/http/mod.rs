//! The HTTP surface and the accept loop.
//!
//! Layout: [`ws`] (the WebSocket viewer protocol; [`picture`] is what each viewer is shown),
//! on [`session`] (the one WebSocket session type, shared with the push ingest) over
//! [`wsconn`] (the zero-copy RFC 6455 connection); [`mjpeg`] (`multipart/x-mixed-replace`
//! stream, paced by [`backlog`]), [`mp4`] (fragmented MP4 for players), [`snapshot`] (one
//! JPEG, live or recorded), [`api`]
//! (`/api/state`), [`recordings`] (the recorded spans and `/export`), [`motion`] (events,
//! their pictures, zones), [`push`] (frames pushed
//! in), [`assets`] (the embedded web client); [`view`] reads what a URL asks to see
//! (`?camera=`, `?size=`, `?w=`, `?quality=`, `?fps=`); [`error`] is the one place that maps
//! errors to statuses. [`router`] wires the routes, including the mjpg-streamer/µStreamer
//! aliases, and puts every route but the web client's files behind [`crate::auth`]; [`serve`]
//! accepts connections within the [`connections`] caps, over [`tls`] when configured, with the
//! socket settings that keep stream latency bounded and notice vanished peers.

pub mod api;
pub mod assets;
pub mod backlog;
pub mod connections;
pub mod error;
pub mod mjpeg;
pub mod motion;
pub mod mp4;
pub mod picture;
pub mod push;
pub mod recordings;
pub mod session;
pub mod snapshot;
pub mod tls;
pub mod view;
pub mod ws;
pub mod wsconn;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::auth::{Access, Auth, OriginPolicy};
use crate::hub::Hub;
use connections::ConnectionLimits;
use error::ApiError;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Every camera; the first is the default.
    pub hubs: Arc<Vec<Hub>>,
    /// Cancelled when the server shuts down; every endless response watches it.
    pub shutdown: CancellationToken,
    /// How `push` cameras accept frames.
    pub push: PushConfig,
    /// Tokens and the failed-attempt brake.
    pub auth: Auth,
    /// Web origins allowed to open WebSockets.
    pub origins: OriginPolicy,
    /// WebSocket ping interval; three silent intervals end a viewer.
    pub keepalive: Duration,
    /// The recordings, when the server records.
    pub recordings: Option<Arc<crate::record::reader::Reader>>,
    /// The motion events, when the server looks for motion.
    pub events: Option<Arc<crate::motion::events::EventLog>>,
    /// Where the motion detectors look, when the server looks for motion.
    pub zones: Option<Arc<crate::motion::zones::Zones>>,
    /// Smaller pictures made for the viewers that ask for them.
    pub renditions: Arc<crate::rendition::Renditions>,
}

/// The client's address, attached to every request by [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

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

    /// What `q` asks to watch, as JPEG: the camera, or the rendition of it that `?size=`,
    /// `?w=` and `?quality=` name (shared with every other viewer asking for the same), or the
    /// JPEGs decoded from an H.264 camera.
    pub fn view(&self, q: &view::ViewQuery) -> Result<Hub, ApiError> {
        let camera = self.camera(q.camera.as_deref())?;
        Ok(self.renditions.view(camera, q.rendition()?, false)?)
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
    at: Option<String>,
    #[serde(flatten)]
    view: view::ViewQuery,
}

/// All routes. Everything showing a camera needs viewer rights ([`require_viewer`]); push
/// endpoints check their own token; `/` and the client's files are public.
pub fn router(state: AppState) -> Router {
    let guarded = Router::new()
        .route("/ws", get(ws::handler))
        .route("/stream.mjpg", get(mjpeg::handler))
        .route("/stream", get(mjpeg::handler))
        .route("/stream.mp4", get(mp4::handler))
        .route("/snapshot.jpg", get(snapshot::handler))
        .route("/snapshot", get(snapshot::handler))
        .route("/api/state", get(api::state))
        .route("/api/recordings", get(recordings::list))
        .route("/api/events", get(motion::events))
        .route("/api/events/{id}/thumbnail.jpg", get(motion::thumbnail))
        .route("/api/motion/zone", get(motion::zone).put(motion::set_zone))
        .route("/export", get(recordings::export))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), require_viewer));
    Router::new()
        .merge(guarded)
        .route("/", get(root))
        .route(
            "/api/cameras/{name}/frame",
            axum::routing::post(push::frame)
                .layer(axum::extract::DefaultBodyLimit::max(state.push.max_bytes)),
        )
        .route("/api/cameras/{name}/ingest", get(push::ingest))
        .fallback(assets::handler)
        .layer(axum::middleware::map_response(safety_headers))
        .with_state(state)
}

/// On every response: browsers must not guess content types, and must not pass URLs (which
/// may hold `?token=`) on as referrers.
async fn safety_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", axum::http::HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", axum::http::HeaderValue::from_static("no-referrer"));
    response
}

/// Lets a request through with its [`Access`] attached, or answers 401 / 429.
async fn require_viewer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match check_access(&state, &request) {
        Ok(access) => {
            request.extensions_mut().insert(access);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

fn check_access(state: &AppState, request: &Request) -> Result<Access, ApiError> {
    let peer = request.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    let headers = request.headers();
    state.auth.check(headers, request.uri().query(), peer).map_err(|e| {
        let mode = headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok());
        ApiError::from_auth(e, matches!(mode, Some("cors" | "same-origin")))
    })
}

async fn root(State(state): State<AppState>, Query(q): Query<RootQuery>, request: Request) -> Response {
    if q.action.is_some()
        && let Err(e) = check_access(&state, &request)
    {
        return e.into_response();
    }
    match q.action.as_deref() {
        None => assets::index(request.headers()),
        Some("stream") => {
            let fd = request.extensions().get::<backlog::SocketFd>().copied();
            mjpeg::respond(&state, &q.view, fd).into_response()
        }
        Some("snapshot") => snapshot::respond(&state, &q.view, q.at.as_deref()).await.into_response(),
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

/// A TLS handshake must finish in this time.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Unacknowledged data older than this means the peer is gone (`TCP_USER_TIMEOUT`); idle
/// connections are probed by TCP keepalive on the same schedule.
const PEER_GONE_AFTER: Duration = Duration::from_secs(30);

/// How long shutdown waits for open responses before returning anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(900);

/// How connections are accepted.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Caps on open connections.
    pub limits: ConnectionLimits,
    /// Serve HTTPS with this acceptor.
    pub tls: Option<tls::Tls>,
}

/// Accepts connections until `shutdown`, then lets open responses end (every stream and
/// WebSocket watches `shutdown` too) for at most [`SHUTDOWN_GRACE`]. A connection over the
/// caps gets a 503 and is closed; every request carries its [`PeerAddr`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
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
        let permit = match options.limits.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(refused) => {
                tracing::debug!(%peer, "connection refused: {refused}");
                connections.spawn(refuse(stream, refused.to_string()));
                continue;
            }
        };
        tune_socket(&stream);
        #[cfg(unix)]
        let fd = Some(backlog::SocketFd(std::os::fd::AsRawFd::as_raw_fd(&stream)));
        #[cfg(not(unix))]
        let fd: Option<backlog::SocketFd> = None;
        let app = app.clone().map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            if let Some(fd) = fd {
                request.extensions_mut().insert(fd);
            }
            request
        });
        let service = TowerToHyperService::new(app);
        let builder = builder.clone();
        let shutdown = shutdown.clone();
        let tls = options.tls.clone();
        connections.spawn(async move {
            let _permit = permit;
            let result = match tls {
                None => serve_connection(&builder, stream, service, &shutdown).await,
                Some(tls) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.0.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(&builder, stream, service, &shutdown).await,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "TLS handshake failed: {e}");
                        Ok(())
                    }
                    Err(_) => Ok(()),
                },
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

/// Serves HTTP/1.1 (with upgrades) on one connection until it ends or `shutdown`.
async fn serve_connection<I, S>(
    builder: &hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    shutdown: &CancellationToken,
) -> hyper::Result<()>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            // Finish the response in flight (streams end on `shutdown` themselves), then
            // close; idle keep-alive connections close at once.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

/// Tells a connection over the caps why it is closed (best effort, never waits long).
async fn refuse(mut stream: TcpStream, reason: String) {
    let body = format!("{reason}\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        // Drain what the client sent, so closing does not reset the answer away.
        let mut sink = [0u8; 4096];
        while tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}

/// Low latency over throughput: no Nagle delay, and a bounded unsent backlog. A peer that
/// vanished without closing (power cut, Wi-Fi gone) is noticed within [`PEER_GONE_AFTER`]:
/// by keepalive probes when idle, by the user timeout when data stays unacknowledged.
fn tune_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    crate::sys::tune_tcp(
        std::os::fd::AsRawFd::as_raw_fd(stream),
        NOTSENT_LOWAT,
        PEER_GONE_AFTER.as_secs() as u32,
    );
}
