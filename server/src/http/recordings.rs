//! The recordings over HTTP: `GET /api/recordings` (the recorded spans, for timelines) and
//! `GET /export` (a stretch as a Matroska or MP4 file, streamed from the segment files, see
//! [`crate::record::export`]).
//!
//! Times are µs since the Unix epoch or RFC 3339 (`2026-12-02T14:02:31Z`, any offset).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::record::export;

/// `?camera=ID&from=T&to=T&format=mkv`.
#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    /// Camera id; the first camera when absent.
    pub camera: Option<String>,
    /// Start of the range.
    pub from: Option<String>,
    /// End of the range.
    pub to: Option<String>,
    /// Export format (`mkv`, `mp4`).
    pub format: Option<String>,
}

/// A query time (see [`crate::clock::parse`]); a bad one is a 400 that says what to write.
pub fn parse_time(name: &str, value: &str) -> Result<u64, ApiError> {
    crate::clock::parse(name, value).map_err(ApiError::BadRequest)
}

/// `from` and `to` of `q` (the beginning and no end when absent), checked in order.
pub fn range(q: &RangeQuery) -> Result<(u64, u64), ApiError> {
    let from = q.from.as_deref().map(|v| parse_time("from", v)).transpose()?.unwrap_or(0);
    let to = q.to.as_deref().map(|v| parse_time("to", v)).transpose()?.unwrap_or(u64::MAX);
    if from > to {
        return Err(ApiError::BadRequest("from is after to".into()));
    }
    Ok((from, to))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::BadRequest(format!("lookup failed: {e}")))?
}

/// `GET /api/recordings`: `[{"start_us","end_us","frames","bytes"}]`, oldest first.
pub async fn list(State(state): State<AppState>, Query(q): Query<RangeQuery>) -> Result<Response, ApiError> {
    let hub = state.camera(q.camera.as_deref())?;
    let reader = state.recordings.clone().ok_or(ApiError::RecordingOff)?;
    let (from, to) = range(&q)?;
    let camera = hub.id().to_string();
    let spans = blocking(move || Ok(reader.spans(&camera, from, to)?)).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(spans)).into_response())
}

/// `GET /export`: the frames of `from..=to` as a Matroska (`format=mkv`, the default) or MP4
/// (`format=mp4`, H.264 recordings) file, streamed. `X-Export-End` gives the capture time of
/// the last frame, and `X-Export-Ends-At-Format-Change: true` says the stretch asked for
/// goes on in another format (export again from there).
pub async fn export(
    State(state): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let hub = state.camera(q.camera.as_deref())?;
    let reader = state.recordings.clone().ok_or(ApiError::RecordingOff)?;
    let format_name = q.format.as_deref().unwrap_or("mkv");
    let format = export::Format::parse(format_name)
        .ok_or_else(|| ApiError::BadRequest(format!("format={format_name}: mkv and mp4 are offered")))?;
    if q.from.is_none() || q.to.is_none() {
        return Err(ApiError::BadRequest("export needs from=T and to=T".into()));
    }
    let (from, to) = range(&q)?;
    let camera = hub.id().to_string();
    let plan = {
        let (reader, camera) = (reader.clone(), camera.clone());
        blocking(move || {
            export::plan(&reader, &camera, from, to, format).map_err(|e| match e {
                export::ExportError::Store(e) => ApiError::Store(e),
                e @ export::ExportError::Mp4NeedsH264 => ApiError::BadRequest(e.to_string()),
            })
        })
        .await?
    };
    let Some(plan) = plan else {
        return Err(ApiError::NotRecorded(format!(
            "nothing of camera '{camera}' is recorded between {} and {}",
            crate::clock::seconds(from),
            crate::clock::seconds(to.min(i64::MAX as u64))
        )));
    };
    let file_name =
        format!("framecast-{camera}-{}.{}", crate::clock::file_name_time(plan.start_us), format.extension());
    let end = HeaderValue::from(plan.end_us);
    let changes = HeaderValue::from_static(if plan.ends_at_format_change { "true" } else { "false" });
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let shutdown = state.shutdown.clone();
    tokio::task::spawn_blocking(move || {
        let send = |chunk: Bytes| tx.blocking_send(Ok(chunk)).is_ok() && !shutdown.is_cancelled();
        if let Err(e) = export::write(&reader, &camera, &plan, to, format, send) {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(format.mime_type())),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::HeaderName::from_static("x-export-end"), end),
            (header::HeaderName::from_static("x-export-ends-at-format-change"), changes),
        ],
        body,
    )
        .into_response())
}
