//! The recordings over HTTP: `GET /api/recordings` (the recorded spans, for timelines) and
//! `GET /export` (a stretch as a Matroska file, streamed from the segment files).
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
use crate::record::frame_index::FrameEntry;
use crate::record::reader::{Reader, Segment, open_segment, read_frame};

/// `?camera=ID&from=T&to=T&format=mkv`.
#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    /// Camera id; the first camera when absent.
    pub camera: Option<String>,
    /// Start of the range.
    pub from: Option<String>,
    /// End of the range.
    pub to: Option<String>,
    /// Export format (`mkv`).
    pub format: Option<String>,
}

/// A query time (see [`crate::clock::parse`]); a bad one is a 400 that says what to write.
pub fn parse_time(name: &str, value: &str) -> Result<u64, ApiError> {
    crate::clock::parse(name, value).map_err(ApiError::BadRequest)
}

fn range(q: &RangeQuery) -> Result<(u64, u64), ApiError> {
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

/// `GET /export`: the frames of `from..=to` as a Matroska file, streamed.
pub async fn export(
    State(state): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, ApiError> {
    let hub = state.camera(q.camera.as_deref())?;
    let reader = state.recordings.clone().ok_or(ApiError::RecordingOff)?;
    match q.format.as_deref().unwrap_or("mkv") {
        "mkv" => {}
        other => return Err(ApiError::BadRequest(format!("format={other}: only mkv is offered"))),
    }
    if q.from.is_none() || q.to.is_none() {
        return Err(ApiError::BadRequest("export needs from=T and to=T".into()));
    }
    let (from, to) = range(&q)?;
    let camera = hub.id().to_string();
    let plan = {
        let (reader, camera) = (reader.clone(), camera.clone());
        blocking(move || plan(&reader, &camera, from, to)).await?
    };
    let Some(plan) = plan else {
        return Err(ApiError::NotRecorded(format!(
            "nothing of camera '{camera}' is recorded between {} and {}",
            crate::clock::seconds(from),
            crate::clock::seconds(to.min(i64::MAX as u64))
        )));
    };
    let file_name = format!("framecast-{camera}-{}.mkv", crate::clock::file_name_time(plan.start_us));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let shutdown = state.shutdown.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = write_file(&reader, &camera, &plan, from, to, &tx, &shutdown) {
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
            (header::CONTENT_TYPE, HeaderValue::from_static("video/x-matroska")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// What the file's header needs, found before anything is sent.
#[derive(Debug)]
struct Plan {
    first: Segment,
    start_us: u64,
    end_us: u64,
    interval_us: u64,
}

fn in_range(frames: &[FrameEntry], from: u64, to: u64) -> std::ops::Range<usize> {
    frames.partition_point(|f| f.captured_us < from)..frames.partition_point(|f| f.captured_us <= to)
}

fn plan(reader: &Reader, camera: &str, from: u64, to: u64) -> Result<Option<Plan>, ApiError> {
    let first = match reader.segment_at(camera, from)? {
        Some(s) if s.frames.last().is_some_and(|f| f.captured_us >= from) => s,
        _ => match reader.segment_from(camera, from)? {
            Some(s) => s,
            None => return Ok(None),
        },
    };
    let range = in_range(&first.frames, from, to);
    if range.is_empty() {
        return Ok(None);
    }
    let start_us = first.frames[range.start].captured_us;
    let last = reader.frame_at(camera, to)?;
    let end_us = last.map(|(s, i)| s.frames[i].captured_us).unwrap_or(start_us).max(start_us);
    // The usual spacing of frames: the median interval of the first segment.
    let mut gaps: Vec<u64> = first.frames.windows(2).map(|w| w[1].captured_us - w[0].captured_us).collect();
    gaps.sort_unstable();
    let interval_us = gaps.get(gaps.len() / 2).copied().filter(|g| *g > 0).unwrap_or(33_333);
    Ok(Some(Plan { first, start_us, end_us, interval_us }))
}

/// Sends the file's pieces: header, then per segment its clusters, each a header and its
/// blocks with their JPEGs. Stops when the client leaves (the channel closes) or at shutdown.
fn write_file(
    reader: &Reader,
    camera: &str,
    plan: &Plan,
    from: u64,
    to: u64,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Result<(), ApiError> {
    let send = |chunk: Bytes| tx.blocking_send(Ok(chunk)).is_ok() && !shutdown.is_cancelled();
    let title = format!("{camera} {}", crate::clock::seconds(plan.start_us));
    let header = export::file_header(&export::Header {
        title: &title,
        width: plan.first.width,
        height: plan.first.height,
        start_us: plan.start_us,
        duration_us: plan.end_us - plan.start_us + plan.interval_us,
        frame_interval_us: plan.interval_us,
    });
    if !send(header) {
        return Ok(());
    }
    let mut segment = Some(plan.first.clone());
    while let Some(current) = segment {
        if current.start_us > to {
            break;
        }
        let range = in_range(&current.frames, from, to);
        let frames = &current.frames[range];
        if !frames.is_empty() {
            let file = open_segment(&current.path)?;
            for cluster in export::clusters(frames) {
                let cluster = &frames[cluster];
                if !send(export::cluster_header(plan.start_us, cluster)) {
                    return Ok(());
                }
                for frame in cluster {
                    let block = export::block_header(plan.start_us, cluster[0].captured_us, frame);
                    let jpeg = read_frame(&file, &current.path, frame)?;
                    if !send(block) || !send(jpeg) {
                        return Ok(());
                    }
                }
            }
        }
        segment = reader.segment_after(camera, &current)?;
    }
    Ok(())
}
