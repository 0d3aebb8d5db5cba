//! Frames pushed from elsewhere into `push` cameras: `POST /api/cameras/NAME/frame` with a
//! JPEG body, or binary JPEG messages on the `/api/cameras/NAME/ingest` WebSocket. Both need
//! `Authorization: Bearer TOKEN` (the `--push-token`), compared in constant time. A refused
//! body (not a JPEG, truncated, too large) gets a 4xx with the reason and never replaces the
//! last good frame.
//!
//! The ingest runs on the server's one WebSocket stack ([`WsConn`]), like the viewers: a
//! pushed JPEG is unmasked in place and reaches the hub as the same `Bytes`, and close
//! frames are answered as RFC 6455 says.

use axum::body::Bytes;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::wsconn::{self, Incoming, WsConn, close_code};
use super::{AppState, PeerAddr};
use crate::auth::token_matches;
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
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<PeerAddr>>,
    mut request: Request,
) -> Response {
    let source = match push_target(&state, &name, request.headers(), peer) {
        Ok(source) => source,
        Err(e) => return e.into_response(),
    };
    let shutdown = state.shutdown.clone();
    wsconn::upgrade(&mut request, state.push.max_bytes, move |conn| run_ingest(conn, source, shutdown))
}

/// Takes binary JPEG messages until the sender closes or the server shuts down. Each refused
/// message gets an `error` text message; [`MAX_BAD_MESSAGES`] in a row end the connection.
async fn run_ingest<S>(mut conn: WsConn<S>, source: PushSource, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut bad = 0;
    loop {
        let incoming = tokio::select! {
            _ = shutdown.cancelled() => {
                conn.close(close_code::GOING_AWAY, "server shutting down").await;
                return;
            }
            incoming = conn.next() => incoming,
        };
        let refusal = match incoming {
            None => return,
            Some(Err(e)) => {
                tracing::debug!("push sender dropped: {e}");
                conn.close_for_error(&e).await;
                return;
            }
            Some(Ok(Incoming::Close(code))) => {
                conn.answer_close(code).await;
                return;
            }
            Some(Ok(Incoming::Binary(jpeg))) => match source.push(jpeg) {
                Ok(_) => {
                    bad = 0;
                    continue;
                }
                Err(e) => e.to_string(),
            },
            Some(Ok(Incoming::Text(_))) => "send frames as binary JPEG messages".to_string(),
            Some(Ok(Incoming::Control)) => continue,
        };
        bad += 1;
        let error = framecast_shared::ServerMessage::Error {
            code: framecast_shared::ErrorCode::BadMessage,
            message: refusal,
        };
        if conn.send_text(&error.to_json()).await.is_err() {
            return;
        }
        if bad >= MAX_BAD_MESSAGES {
            conn.close(close_code::POLICY, "too many bad messages").await;
            return;
        }
    }
}
