//! Frames pushed from elsewhere into `push` cameras: `POST /api/cameras/NAME/frame` with a
//! JPEG body, or binary JPEG messages on the `/api/cameras/NAME/ingest` WebSocket. Both need
//! `Authorization: Bearer TOKEN` (the `--push-token`), compared in constant time. A refused
//! body (not a JPEG, truncated, too large) gets a 4xx with the reason and never replaces the
//! last good frame.

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AppState, PeerAddr};
use crate::auth::token_matches;
use crate::error::ApiError;
use crate::source::push::PushSource;

/// Consecutive bad messages after which an ingest connection is closed.
const MAX_BAD_MESSAGES: u32 = 10;

/// Checks the bearer token and finds the push camera `name`. Failures count towards the
/// sender's address's failed-attempt limit, shared with the viewer endpoints.
fn push_target(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    peer: Option<Extension<PeerAddr>>,
) -> Result<PushSource, ApiError> {
    let peer = peer.map(|Extension(PeerAddr(addr))| addr.ip());
    if let Some(wait) = peer.and_then(|ip| state.auth.blocked(ip)) {
        return Err(ApiError::TooManyAttempts(wait));
    }
    let expected = state.push.token.as_deref().ok_or(ApiError::Unauthorized)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !token_matches(presented.trim().as_bytes(), expected.as_bytes()) {
        if let Some(ip) = peer {
            state.auth.record_failure(ip);
        }
        return Err(ApiError::Unauthorized);
    }
    let hub = state.camera(Some(name))?;
    hub.push_source().ok_or_else(|| ApiError::NotPushCamera(name.to_string()))
}

/// `POST /api/cameras/NAME/frame`: one JPEG; 204 when taken.
pub async fn frame(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = push_target(&state, &name, &headers, peer)
        .and_then(|source| source.push(body).map_err(|e| ApiError::BadFrame(e.to_string())));
    match result {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/cameras/NAME/ingest`: a WebSocket of binary JPEG messages.
pub async fn ingest(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let source = match push_target(&state, &name, &headers, peer) {
        Ok(source) => source,
        Err(e) => return e.into_response(),
    };
    let max = state.push.max_bytes;
    let shutdown = state.shutdown.clone();
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| async move {
        run_ingest(socket, source, shutdown).await;
    })
}

async fn run_ingest(
    mut socket: WebSocket,
    source: PushSource,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut bad = 0;
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = socket.recv() => m,
        };
        let reply = match message {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Binary(body))) => match source.push(body) {
                Ok(_) => {
                    bad = 0;
                    None
                }
                Err(e) => Some(e.to_string()),
            },
            Some(Ok(Message::Text(_))) => Some("send frames as binary JPEG messages".to_string()),
            Some(Ok(_)) => None,
        };
        if let Some(reason) = reply {
            bad += 1;
            let error = framecast_shared::ServerMessage::Error {
                code: framecast_shared::ErrorCode::BadMessage,
                message: reason,
            };
            if socket.send(Message::Text(error.to_json().into())).await.is_err() || bad >= MAX_BAD_MESSAGES {
                break;
            }
        }
    }
}
