//! Frames pushed from elsewhere into `push` cameras: `POST /api/cameras/NAME/frame` with a
//! JPEG body, or binary JPEG messages on the `/api/cameras/NAME/ingest` WebSocket. Both need
//! `Authorization: Bearer TOKEN` (the `--push-token`), compared in constant time. A refused
//! body (not a JPEG, truncated, too large) gets a 4xx with the reason and never replaces the
//! last good frame.
//!
//! The ingest runs on the server's one WebSocket session type ([`Session`]), like the
//! viewers: a pushed JPEG is unmasked in place and reaches the hub as the same `Bytes`, close
//! frames are answered as RFC 6455 says, and a sender that keeps sending what cannot be used
//! is closed.

use axum::body::Bytes;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use framecast_shared::ErrorCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::session::{Ended, Message, Session};
use super::wsconn::{self, WsConn};
use super::{AppState, PeerAddr};
use crate::auth::token_matches;
use crate::source::push::PushSource;

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
        .and_then(|source| source.push_any(body).map_err(|e| ApiError::BadFrame(e.to_string())));
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
/// message gets an `error` text message; a sender that keeps sending them is closed (see
/// [`Session::refuse`]).
async fn run_ingest<S>(conn: WsConn<S>, source: PushSource, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut session = Session::new(conn, shutdown, None);
    loop {
        let wake = session.wait().await;
        let refusal = match session.take(wake).await {
            Err(Ended) => break,
            Ok(None) => continue,
            Ok(Some(Message::Binary(frame))) => match source.push_any(frame) {
                Ok(_) => continue,
                Err(e) => e.to_string(),
            },
            Ok(Some(Message::Text(_))) => {
                "send frames as binary messages (a JPEG, or a frame message)".to_string()
            }
        };
        if session.refuse(ErrorCode::BadMessage, &refusal).await.is_err() {
            break;
        }
    }
    session.end().await;
}
