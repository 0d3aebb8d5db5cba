//! `GET /ws`: the viewer protocol (see `docs/protocol.md`).
//!
//! One task per viewer. It sends the newest frame whenever the credit window allows, answers
//! pings at once, reports camera status changes, and ends with a close frame at shutdown.
//! Sending never blocks another viewer: each viewer only reads the hub's newest frame.
//!
//! Hostile or broken clients: the upgrade is refused for pages of other sites (`Origin`);
//! each bad message gets an `error` and the connection stays usable, but a client that keeps
//! sending them is closed ([`AbuseCounter`]); settings and controls need admin rights; a
//! client that stops answering WebSocket pings for three keepalive intervals is dropped.

use std::time::Duration;

use axum::extract::{Extension, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use framecast_shared::{
    ClientMessage, ErrorCode, FrameHeader, PROTOCOL_VERSION, ServerMessage, unix_micros_now,
};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::wsconn::{self, Incoming, WsConn};
use super::{AppState, CameraQuery};
use crate::auth::Access;
use crate::error::ApiError;
use crate::flow::CreditWindow;
use crate::hub::{Change, Frame, Hub, Viewer};

/// Largest message accepted from a viewer (control messages are tiny).
const MAX_INCOMING: usize = 64 * 1024;

/// A send that makes no progress for this long means the viewer is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a close frame may take to go out before the connection is dropped anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(200);

/// WebSocket close code "normal", the answer to a client's close.
const CLOSE_NORMAL: u16 = 1000;

/// WebSocket close code "going away", sent at shutdown.
const CLOSE_GOING_AWAY: u16 = 1001;

/// WebSocket close code "policy violation", sent to a client that keeps sending bad messages.
const CLOSE_POLICY: u16 = 1008;

/// Bad messages within [`ABUSE_WINDOW`] after which the connection is closed.
const MAX_BAD_MESSAGES: u32 = 10;
const ABUSE_WINDOW: Duration = Duration::from_secs(10);

/// Keepalive intervals without a word from the client after which it counts as gone.
const SILENT_INTERVALS: u32 = 3;

/// What a session is allowed and how it is kept alive.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// May send `settings` and `control`.
    pub admin: bool,
    /// Ping interval; [`SILENT_INTERVALS`] of silence end the session.
    pub keepalive: Duration,
}

/// Route handler: checks the origin, picks the camera (an unknown one is a 404 even before
/// the upgrade is looked at), then upgrades to a [`WsConn`].
pub async fn handler(
    State(state): State<AppState>,
    Query(q): Query<CameraQuery>,
    access: Option<Extension<Access>>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    if !state.origins.allows(headers) {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("?");
        return ApiError::ForeignOrigin(origin.chars().take(100).collect()).into_response();
    }
    let policy = SessionPolicy {
        admin: access.is_some_and(|Extension(a)| a == Access::Admin),
        keepalive: state.keepalive,
    };
    let hub = match state.camera(q.camera.as_deref()) {
        Ok(hub) => hub.clone(),
        Err(e) => return e.into_response(),
    };
    let accept = match wsconn::accept(request.method(), headers) {
        Ok(accept) => accept,
        Err(e) => return wsconn::refusal(&e).into_response(),
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let conn = WsConn::new(TokioIo::new(upgraded), MAX_INCOMING);
                let viewer = hub.watch();
                let cameras = state.hubs.iter().map(|h| h.info()).collect();
                run_session(conn, viewer, cameras, policy, state.shutdown.clone()).await;
            }
            Err(e) => tracing::debug!("WebSocket upgrade failed: {e}"),
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}

/// Serves one viewer until it leaves or the server shuts down. Generic over the byte stream
/// (a TCP or TLS connection, or an in-memory pipe in tests).
pub async fn run_session<S>(
    mut conn: WsConn<S>,
    mut viewer: Viewer,
    cameras: Vec<framecast_shared::CameraInfo>,
    policy: SessionPolicy,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let camera = viewer.hub().id().to_string();
    let mut flow = SessionFlow::default();
    let hello = ServerMessage::Hello {
        protocol: PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        camera: camera.clone(),
        window: flow.credit.window(),
        cameras,
        admin: policy.admin,
    };
    // The hello already describes the current status.
    viewer.mark_seen();
    if !send(conn.send_text(&hello.to_json()), &shutdown).await {
        return;
    }
    let mut abuse = AbuseCounter::default();
    let mut keepalive = tokio::time::interval_at(Instant::now() + policy.keepalive, policy.keepalive);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        let may_send = flow.credit.can_send() && flow.rate_allows();
        if may_send && let Some(frame) = viewer.newest().filter(|f| flow.credit.is_new(f.seq)) {
            // Only an absurdly long camera id could make this fail; refuse to loop on it.
            let Some(prefix) = frame_prefix(&frame, &camera) else { break };
            if !send(conn.send_binary(&[&prefix, &frame.jpeg]), &shutdown).await {
                break;
            }
            flow.credit.on_sent(frame.seq);
            flow.last_sent = Some(Instant::now());
        }
        // Waiting for this viewer's frame-rate cap: wake when it allows the next frame.
        let rate_wait = flow.credit.can_send() && !flow.rate_allows();
        let wake_at = flow.ready_at().unwrap_or_else(Instant::now);
        let reply = tokio::select! {
            _ = shutdown.cancelled() => {
                close(&mut conn, CLOSE_GOING_AWAY, "server shutting down").await;
                break;
            }
            _ = tokio::time::sleep_until(wake_at), if rate_wait => None,
            _ = keepalive.tick() => {
                if last_heard.elapsed() >= policy.keepalive * SILENT_INTERVALS {
                    tracing::debug!("viewer silent for {:?}; dropping it", last_heard.elapsed());
                    break;
                }
                if !send(conn.send_ping(), &shutdown).await {
                    break;
                }
                None
            }
            change = viewer.changed(flow.credit.can_send() && flow.rate_allows()) => match change {
                None => break,
                // The loop's top sends it.
                Some(Change::Frame) => None,
                Some(Change::Status) => {
                    viewer.mark_seen();
                    Some(ServerMessage::State { camera: viewer.hub().info() })
                }
            },
            incoming = conn.next() => {
                last_heard = Instant::now();
                match incoming {
                    None => break,
                    Some(Err(e)) => {
                        tracing::debug!("viewer dropped: {e}");
                        if let Some(code) = e.code() {
                            close(&mut conn, code, &e.to_string()).await;
                        }
                        break;
                    }
                    Some(Ok(Incoming::Close(_))) => {
                        close(&mut conn, CLOSE_NORMAL, "").await;
                        break;
                    }
                    Some(Ok(Incoming::Text(t))) => handle_text(&t, &mut flow, viewer.hub(), policy.admin),
                    Some(Ok(Incoming::Binary(_))) => {
                        Some(error(ErrorCode::NotText, "binary messages are not accepted; send JSON text"))
                    }
                    // Pings are answered by the connection itself.
                    Some(Ok(Incoming::Control)) => None,
                }
            }
        };
        if let Some(reply) = reply {
            let refused = matches!(reply, ServerMessage::Error { .. });
            if !send(conn.send_text(&reply.to_json()), &shutdown).await {
                break;
            }
            if refused && abuse.count(Instant::now()) {
                close(&mut conn, CLOSE_POLICY, "too many bad messages").await;
                break;
            }
        }
    }
}

/// Per-viewer flow state: credit, and the viewer's own frame-rate cap.
#[derive(Debug, Default)]
struct SessionFlow {
    credit: CreditWindow,
    /// Shortest time between two frames to this viewer (its `max_fps`).
    min_interval: Option<Duration>,
    last_sent: Option<Instant>,
}

impl SessionFlow {
    /// When the viewer's frame-rate cap allows the next frame.
    fn ready_at(&self) -> Option<Instant> {
        self.min_interval.zip(self.last_sent).map(|(interval, last)| last + interval)
    }

    fn rate_allows(&self) -> bool {
        self.ready_at().is_none_or(|at| Instant::now() >= at)
    }
}

/// Counts refused messages; a client over [`MAX_BAD_MESSAGES`] within [`ABUSE_WINDOW`] is
/// closed. Honest clients make a mistake now and then; a flood is not a mistake.
#[derive(Debug, Default)]
struct AbuseCounter {
    count: u32,
    since: Option<Instant>,
}

impl AbuseCounter {
    /// Counts one refused message at `now`; true when the client should be closed.
    fn count(&mut self, now: Instant) -> bool {
        if self.since.is_none_or(|since| now.duration_since(since) >= ABUSE_WINDOW) {
            *self = AbuseCounter { count: 0, since: Some(now) };
        }
        self.count += 1;
        self.count >= MAX_BAD_MESSAGES
    }
}

/// Acts on one client text message; returns the reply, if any.
fn handle_text(text: &str, flow: &mut SessionFlow, hub: &Hub, admin: bool) -> Option<ServerMessage> {
    let message = ClientMessage::parse(text);
    if !admin && matches!(message, Ok(ClientMessage::Settings { .. } | ClientMessage::Control { .. })) {
        return Some(error(
            ErrorCode::Forbidden,
            "changing the camera needs the admin token (--admin-token)",
        ));
    }
    match message {
        Err(e) => Some(error(e.code(), &e.to_string())),
        Ok(ClientMessage::Ack { seq }) => {
            flow.credit.on_ack(seq).err().map(|e| error(ErrorCode::BadAck, &e.to_string()))
        }
        Ok(ClientMessage::Ping { t }) => Some(ServerMessage::Pong { t, server_us: unix_micros_now() }),
        Ok(ClientMessage::Hello { window, max_fps }) => {
            if let Some(fps) = max_fps {
                if !(fps.is_finite() && fps >= 0.0) {
                    return Some(error(ErrorCode::OutOfRange, "max_fps must be a number from 0 up"));
                }
                flow.min_interval = (fps > 0.0).then(|| Duration::from_secs_f64(1.0 / fps.max(0.01)));
            }
            window.and_then(|w| {
                flow.credit.set_window(w).err().map(|e| error(ErrorCode::OutOfRange, &e.to_string()))
            })
        }
        Ok(ClientMessage::Settings { width, height, fps, quality }) => {
            let size = match (width, height) {
                (Some(w), Some(h)) => Some((w, h)),
                (None, None) => None,
                _ => return Some(error(ErrorCode::BadSettings, "width and height go together")),
            };
            hub.apply_settings(size, fps, quality).err().map(|e| error(ErrorCode::BadSettings, &e))
        }
        Ok(ClientMessage::Control { name, value }) => {
            hub.set_control(&name, value).err().map(|e| error(ErrorCode::BadSettings, &e))
        }
    }
}

fn error(code: ErrorCode, message: &str) -> ServerMessage {
    ServerMessage::Error { code, message: message.to_string() }
}

/// The frame message's prefix (length and JSON header, stamped with the send time); the JPEG
/// follows it on the wire straight from the hub's buffer.
fn frame_prefix(frame: &Frame, camera: &str) -> Option<Vec<u8>> {
    let header = FrameHeader {
        seq: frame.seq,
        camera: camera.to_string(),
        width: frame.width,
        height: frame.height,
        captured_us: frame.captured_us,
        sent_us: unix_micros_now(),
    };
    match header.encode_prefix() {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::error!("cannot build frame message: {e}");
            None
        }
    }
}

/// Sends a close frame, giving a stuck client at most [`CLOSE_TIMEOUT`]; the connection is
/// dropped after it either way.
async fn close<S>(conn: &mut WsConn<S>, code: u16, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.send_close(code, reason)).await;
}

/// Runs one send; false when the viewer is gone, stuck for [`SEND_TIMEOUT`], or the server
/// is shutting down.
async fn send(
    sending: impl std::future::Future<Output = std::io::Result<()>>,
    shutdown: &CancellationToken,
) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        sent = tokio::time::timeout(SEND_TIMEOUT, sending) => matches!(sent, Ok(Ok(()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_bad_messages_closes_but_an_occasional_one_does_not() {
        let t0 = Instant::now();
        let mut abuse = AbuseCounter::default();
        for i in 1..MAX_BAD_MESSAGES {
            assert!(!abuse.count(t0 + Duration::from_millis(i as u64)), "message {i}");
        }
        assert!(abuse.count(t0 + Duration::from_millis(50)));
        let mut occasional = AbuseCounter::default();
        for i in 0..100u64 {
            assert!(!occasional.count(t0 + ABUSE_WINDOW * i as u32), "mistake {i}");
        }
    }
}
