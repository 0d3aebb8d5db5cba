//! `GET /snapshot.jpg`: the newest frame as one JPEG. Starts the camera when needed and waits
//! for its first frame. A camera that went quiet (offline) answers with the last frame it
//! gave, marked `X-Camera-Status: offline`; only one that never gave a frame answers 503.
//! With `?at=T` (µs or RFC 3339) it answers the recorded frame at or just before `T`.
//! `?size=`, `?w=` and `?quality=` ask for a smaller picture (a rendition, see
//! [`crate::rendition`]; a recorded frame is scaled on its own).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use framecast_shared::CameraStatus;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::recordings::parse_time;
use super::view::ViewQuery;
use crate::hub::Frame;
use crate::rendition::RenditionRequest;

/// How long to wait for a starting camera's first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// `?camera=ID&at=T` and the size of [`ViewQuery`].
#[derive(Debug, Default, Deserialize)]
pub struct SnapshotQuery {
    /// A recorded moment instead of now.
    pub at: Option<String>,
    #[serde(flatten)]
    view: ViewQuery,
}

/// `GET /snapshot.jpg` (and `/snapshot`): the newest frame, or with `?at=` the recorded one at
/// that time.
pub async fn handler(State(state): State<AppState>, Query(q): Query<SnapshotQuery>) -> Response {
    respond(&state, &q.view, q.at.as_deref()).await.into_response()
}

/// The snapshot `q` asks for, now or recorded at `at`.
pub async fn respond(state: &AppState, q: &ViewQuery, at: Option<&str>) -> Result<Response, ApiError> {
    if let Some(at) = at {
        let camera = state.camera(q.camera.as_deref())?;
        let want = q.rendition()?.map(|want| (want, camera.info().quality));
        return recorded(state, camera.id(), parse_time("at", at)?, want).await;
    }
    let mut hub = state.view(q)?;
    let id = hub.id().to_string();
    let mut viewer = hub.watch();
    let wait = async {
        loop {
            let status = viewer.status();
            if status.status == CameraStatus::Offline {
                return match hub.last_frame().filter(|f| f.jpeg().is_some()) {
                    Some(last) => Ok((last, "offline")),
                    None => Err(ApiError::CameraOffline {
                        id: hub.id().to_string(),
                        reason: status.reason.unwrap_or_default(),
                    }),
                };
            }
            // Only a running camera's frame is current: while a failed camera restarts, the
            // frame it left behind is old.
            if status.status == CameraStatus::Running
                && let Some(frame) = viewer.newest()
            {
                if frame.jpeg().is_some() {
                    return Ok((frame, "running"));
                }
                // A command's H.264, known only once it ran: a JPEG decoded from it instead.
                hub = state.view(q)?;
                viewer = hub.watch();
                continue;
            }
            tokio::select! {
                _ = state.shutdown.cancelled() => return Err(ApiError::ShuttingDown),
                change = viewer.changed(true) => if change.is_none() { return Err(ApiError::ShuttingDown) },
            }
        }
    };
    let (frame, status) =
        tokio::time::timeout(FIRST_FRAME_TIMEOUT, wait).await.map_err(|_| ApiError::NoFrame(id))??;
    Ok(jpeg_response(&frame, status))
}

/// The recorded frame of camera `id` at or just before `at_us`, scaled as `want` says (with
/// the camera's quality unless it names one).
async fn recorded(
    state: &AppState,
    id: &str,
    at_us: u64,
    want: Option<(RenditionRequest, u8)>,
) -> Result<Response, ApiError> {
    let reader = state.recordings.clone().ok_or(ApiError::RecordingOff)?;
    let camera = id.to_string();
    let found = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let Some((segment, i)) = reader.frame_at(&camera, at_us)? else { return Ok(None) };
        let entry = segment.frames[i];
        let file = crate::record::reader::open_segment(&segment.path)?;
        // H.264 is decoded from the keyframe before it.
        let jpeg = crate::record::pictures::RecordedPictures::new().jpeg(&segment, &file, i)?;
        let (width, height) = (segment.format.width, segment.format.height);
        let frame = Frame { seq: 0, width, height, captured_us: entry.captured_us, data: jpeg, h264: None };
        match want {
            None => Ok(Some(frame)),
            Some((want, camera_quality)) => {
                let eighths = want.size.map_or(8, |size| crate::rendition::eighths_for(width, height, size));
                let quality = want.quality.unwrap_or(camera_quality);
                let scaled =
                    crate::media::jpeg::turbo::Scaler::new()?.scale(&frame.data, eighths, quality)?;
                Ok(Some(Frame { width: scaled.width, height: scaled.height, data: scaled.data, ..frame }))
            }
        }
    })
    .await
    .map_err(|e| ApiError::BadRequest(format!("snapshot lookup failed: {e}")))??;
    match found {
        Some(frame) => Ok(jpeg_response(&Arc::new(frame), "recorded")),
        None => Err(ApiError::NotRecorded(format!(
            "nothing of camera '{id}' is recorded at or before {}",
            crate::clock::seconds(at_us)
        ))),
    }
}

/// The JPEG with its capture time (`X-Timestamp`, `Last-Modified`) and what it is
/// (`X-Camera-Status`: running, offline or recorded).
fn jpeg_response(frame: &Arc<Frame>, status: &'static str) -> Response {
    let captured = std::time::UNIX_EPOCH + Duration::from_micros(frame.captured_us);
    (
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::LAST_MODIFIED, httpdate::fmt_http_date(captured)),
            (header::HeaderName::from_static("x-timestamp"), crate::clock::seconds(frame.captured_us)),
            (header::HeaderName::from_static("x-camera-status"), status.to_string()),
        ],
        Bytes::clone(&frame.data),
    )
        .into_response()
}
