//! `GET /snapshot.jpg`: the newest frame as one JPEG. Starts the camera when needed and waits
//! for its first frame; an offline camera answers 503 with the reason at once.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use framecast_shared::CameraStatus;

use super::{AppState, CameraQuery};
use crate::error::ApiError;

/// How long to wait for a starting camera's first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Route handler.
pub async fn handler(State(state): State<AppState>, Query(q): Query<CameraQuery>) -> Response {
    respond(&state, q.camera.as_deref()).await.into_response()
}

/// The snapshot of camera `id`.
pub async fn respond(state: &AppState, id: Option<&str>) -> Result<Response, ApiError> {
    let hub = state.camera(id)?;
    let mut viewer = hub.watch();
    let wait = async {
        loop {
            let status = viewer.status();
            if status.status == CameraStatus::Offline {
                return Err(ApiError::CameraOffline {
                    id: hub.id().to_string(),
                    reason: status.reason.unwrap_or_default(),
                });
            }
            // Only a running camera's frame is current: while a failed camera restarts, the
            // frame it left behind is old.
            if status.status == CameraStatus::Running
                && let Some(frame) = viewer.newest()
            {
                return Ok(frame);
            }
            tokio::select! {
                _ = state.shutdown.cancelled() => return Err(ApiError::ShuttingDown),
                change = viewer.changed(true) => if change.is_none() { return Err(ApiError::ShuttingDown) },
            }
        }
    };
    let frame = tokio::time::timeout(FIRST_FRAME_TIMEOUT, wait)
        .await
        .map_err(|_| ApiError::NoFrame(hub.id().to_string()))??;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::HeaderName::from_static("x-timestamp"), super::mjpeg::timestamp(frame.captured_us)),
        ],
        frame.jpeg.clone(),
    )
        .into_response())
}
