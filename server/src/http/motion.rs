//! Motion over HTTP: `GET /api/events?camera=ID&from=T&to=T` (the events that overlap the
//! range, oldest first; times as in `/api/recordings`), `GET /api/events/ID/thumbnail.jpg`
//! (the picture with the most motion), and `GET`/`PUT /api/motion/zone?camera=ID` (where the
//! camera looks; changing it needs admin rights).

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::CameraQuery;
use super::error::ApiError;
use super::recordings::{RangeQuery, range};
use crate::auth::Access;
use framecast_shared::MotionZone;

/// `GET /api/events`: `[MotionEvent]`, oldest first.
pub async fn events(
    State(state): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let hub = state.camera(q.camera.as_deref())?;
    let log = state.events.as_ref().ok_or(ApiError::MotionOff)?;
    let (from, to) = range(&q)?;
    let events = log.list(hub.id(), from, to);
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(events)).into_response())
}

/// `GET /api/events/ID/thumbnail.jpg`.
pub async fn thumbnail(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let log = state.events.as_ref().ok_or(ApiError::MotionOff)?;
    let id: u64 = id.parse().map_err(|_| ApiError::BadRequest(format!("'{id}' is not an event id")))?;
    let jpeg = log.thumbnail(id).ok_or(ApiError::NoEvent(id))?;
    // An event's picture changes while it is open (a new peak), never after.
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-cache")], jpeg).into_response())
}

/// `GET /api/motion/zone`: the camera's [`MotionZone`].
pub async fn zone(State(state): State<AppState>, Query(q): Query<CameraQuery>) -> Result<Response, ApiError> {
    let hub = state.camera(q.camera.as_deref())?;
    let zones = state.zones.as_ref().ok_or(ApiError::MotionOff)?;
    let zone = zones.get(hub.id()).ok_or_else(|| ApiError::NotWatched(hub.id().to_string()))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(zone)).into_response())
}

/// `PUT /api/motion/zone`: a new [`MotionZone`] (JSON), from the camera's next picture on.
/// Admin rights; `204`.
pub async fn set_zone(
    State(state): State<AppState>,
    Query(q): Query<CameraQuery>,
    access: Option<Extension<Access>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if access.is_none_or(|Extension(a)| a != Access::Admin) {
        return Err(ApiError::NotAdmin("changing the motion zone"));
    }
    let hub = state.camera(q.camera.as_deref())?;
    let zones = state.zones.clone().ok_or(ApiError::MotionOff)?;
    let zone: MotionZone = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("a zone is {{\"columns\",\"rows\",\"ignored\"}}: {e}")))?;
    let id = hub.id().to_string();
    // Saving writes a file: off the async workers.
    tokio::task::spawn_blocking(move || zones.set(&id, zone))
        .await
        .map_err(|e| ApiError::BadRequest(format!("the zone was not set: {e}")))??;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
