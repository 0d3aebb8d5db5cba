//! `GET /ws`: the viewer protocol (see `docs/protocol.md`).
//!
//! One task per viewer. It sends the newest frame whenever the credit window allows, answers
//! pings at once, reports camera status changes, and ends with a close frame at shutdown.
//! Sending never blocks another viewer: each viewer only reads the hub's newest frame.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use framecast_shared::{
    ClientMessage, ErrorCode, FrameHeader, PROTOCOL_VERSION, ServerMessage, unix_micros_now,
};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{AppState, CameraQuery};
use crate::flow::CreditWindow;
use crate::hub::{Change, Frame, Hub, Viewer};

/// Largest message accepted from a viewer (control messages are tiny).
const MAX_INCOMING: usize = 64 * 1024;

/// A send that makes no progress for this long means the viewer is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// WebSocket close code "going away", sent at shutdown.
const CLOSE_GOING_AWAY: u16 = 1001;

/// Route handler: picks the camera (an unknown one is a 404 even before the upgrade is
/// looked at), then upgrades.
pub async fn handler(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    Query(q): Query<CameraQuery>,
) -> Response {
    let hub = match state.camera(q.camera.as_deref()) {
        Ok(hub) => hub.clone(),
        Err(e) => return e.into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    ws.max_message_size(MAX_INCOMING).max_frame_size(MAX_INCOMING).on_upgrade(
        move |socket: WebSocket| async move {
            let viewer = hub.watch();
            let cameras = state.hubs.iter().map(|h| h.info()).collect();
            run_session(socket, viewer, cameras, state.shutdown.clone()).await;
        },
    )
}

/// Serves one viewer until it leaves or the server shuts down. Generic over the socket so it
/// can be driven by channels as well as by a real WebSocket.
pub async fn run_session<S>(
    socket: S,
    mut viewer: Viewer,
    cameras: Vec<framecast_shared::CameraInfo>,
    shutdown: CancellationToken,
) where
    S: Sink<Message> + Stream<Item = Result<Message, axum::Error>> + Send + Unpin,
{
    let (mut tx, mut rx) = socket.split();
    let camera = viewer.hub().id().to_string();
    let mut flow = SessionFlow::default();
    let hello = ServerMessage::Hello {
        protocol: PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        camera: camera.clone(),
        window: flow.credit.window(),
        cameras,
    };
    // The hello already describes the current status.
    viewer.mark_seen();
    if !send(&mut tx, text(&hello), &shutdown).await {
        return;
    }
    loop {
        let may_send = flow.credit.can_send() && flow.rate_allows();
        if may_send && let Some(frame) = viewer.newest().filter(|f| flow.credit.is_new(f.seq)) {
            // Only an absurdly long camera id could make this fail; refuse to loop on it.
            let Some(message) = frame_message(&frame, &camera) else { break };
            if !send(&mut tx, message, &shutdown).await {
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
                let close = CloseFrame { code: CLOSE_GOING_AWAY, reason: "server shutting down".into() };
                let _ = tokio::time::timeout(Duration::from_millis(200), tx.send(Message::Close(Some(close)))).await;
                break;
            }
            _ = tokio::time::sleep_until(wake_at), if rate_wait => None,
            change = viewer.changed(flow.credit.can_send() && flow.rate_allows()) => match change {
                None => break,
                // The loop's top sends it.
                Some(Change::Frame) => None,
                Some(Change::Status) => {
                    viewer.mark_seen();
                    Some(ServerMessage::State { camera: viewer.hub().info() })
                }
            },
            incoming = rx.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(t))) => handle_text(t.as_str(), &mut flow, viewer.hub()),
                Some(Ok(Message::Binary(_))) => {
                    Some(error(ErrorCode::NotText, "binary messages are not accepted; send JSON text"))
                }
                // Protocol-level pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
            },
        };
        if let Some(reply) = reply
            && !send(&mut tx, text(&reply), &shutdown).await
        {
            break;
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

/// Acts on one client text message; returns the reply, if any.
fn handle_text(text: &str, flow: &mut SessionFlow, hub: &Hub) -> Option<ServerMessage> {
    match ClientMessage::parse(text) {
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

fn text(message: &ServerMessage) -> Message {
    Message::Text(message.to_json().into())
}

/// The binary frame message, stamped with the send time.
fn frame_message(frame: &Frame, camera: &str) -> Option<Message> {
    let header = FrameHeader {
        seq: frame.seq,
        camera: camera.to_string(),
        width: frame.width,
        height: frame.height,
        captured_us: frame.captured_us,
        sent_us: unix_micros_now(),
    };
    match header.encode_message(&frame.jpeg) {
        Ok(bytes) => Some(Message::Binary(bytes.into())),
        Err(e) => {
            tracing::error!("cannot build frame message: {e}");
            None
        }
    }
}

/// Sends one message; false when the viewer is gone, stuck, or the server is shutting down.
async fn send<T>(tx: &mut T, message: Message, shutdown: &CancellationToken) -> bool
where
    T: Sink<Message> + Unpin,
{
    tokio::select! {
        _ = shutdown.cancelled() => false,
        sent = tokio::time::timeout(SEND_TIMEOUT, tx.send(message)) => matches!(sent, Ok(Ok(()))),
    }
}
