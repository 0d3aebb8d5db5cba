//! `GET /stream.mp4`: a camera as fragmented MP4 over plain HTTP, for tools that play H.264
//! but speak no RTSP (ffmpeg, VLC, mpv, a browser's `<video>`).
//!
//! An H.264 camera's own pictures go out as they came; a JPEG camera is encoded once for
//! every such reader (an H.264 rendition, `?size=` picks its size). The response is an init
//! segment (`ftyp` + `moov` with the stream's `avcC`) and then one `moof`+`mdat` per picture
//! ([`framecast_shared::fmp4`]), from the newest keyframe on, every picture in order. A reader
//! that falls behind skips to the next keyframe like any viewer (its delay stays bounded);
//! the decode times stay a gap-free running sum, so players play on. If the camera's
//! parameter sets change (a new size), the response ends and the player reconnects.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use framecast_shared::fmp4::{self, Fragmenter};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::error::ApiError;
use super::view::ViewQuery;
use crate::hub::{Change, Frame, Viewer};
use crate::media::h264::Stream;

/// `GET /stream.mp4`.
pub async fn handler(State(state): State<AppState>, Query(q): Query<ViewQuery>) -> Response {
    respond(&state, &q).into_response()
}

/// The stream `q` asks for.
pub fn respond(state: &AppState, q: &ViewQuery) -> Result<Response, ApiError> {
    let camera = state.camera(q.camera.as_deref())?;
    let (width, height) = camera.picture_size();
    let eighths = match q.rendition()?.and_then(|want| want.size) {
        Some(size) => crate::rendition::eighths_for(width, height, size),
        None => 8,
    };
    let hub = state.renditions.h264_at(camera, eighths)?;
    let fragments = Fragments {
        viewer: hub.watch(),
        shutdown: state.shutdown.clone(),
        sent: None,
        stream: None,
        fragmenter: Fragmenter::new(),
        last_captured_us: None,
    };
    let body = futures_util::stream::unfold(fragments, Fragments::next);
    Ok((
        [
            (header::CONTENT_TYPE, "video/mp4"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// One reader's stream.
struct Fragments {
    viewer: Viewer,
    shutdown: CancellationToken,
    /// The camera `seq` of the last picture sent.
    sent: Option<u64>,
    /// The parameters the init segment described.
    stream: Option<Arc<Stream>>,
    fragmenter: Fragmenter,
    last_captured_us: Option<u64>,
}

impl Fragments {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Fragments)> {
        let frame = self.next_frame().await?;
        let h264 = frame.h264.as_ref()?;
        let mut out = Vec::with_capacity(frame.data.len() + 800);
        match &self.stream {
            None => {
                let stream = &h264.stream;
                out.extend(fmp4::init_segment(&stream.avcc, stream.width as u16, stream.height as u16));
                self.stream = Some(stream.clone());
            }
            // New parameter sets: a new file, which the player asks for again.
            Some(stream) if !Arc::ptr_eq(stream, &h264.stream) && stream.avcc != h264.stream.avcc => {
                return None;
            }
            Some(_) => {}
        }
        let duration_us = self.last_captured_us.map_or(33_333, |last| frame.captured_us.saturating_sub(last));
        self.last_captured_us = Some(frame.captured_us);
        self.fragmenter.fragment_header(&mut out, frame.data.len() as u32, duration_us, h264.keyframe);
        out.extend_from_slice(&frame.data);
        Some((Ok(Bytes::from(out)), self))
    }

    /// The next picture in order (a keyframe first); `None` at shutdown or when the camera
    /// is gone.
    async fn next_frame(&mut self) -> Option<Arc<Frame>> {
        loop {
            if let Some(frame) = self.viewer.next_after(self.sent) {
                // A JPEG would mean the rendition has not started yet: wait for H.264.
                if frame.h264.is_some() {
                    self.sent = Some(frame.seq);
                    return Some(frame);
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                change = self.viewer.changed(true) => match change? {
                    Change::Frame => {}
                    Change::Status => self.viewer.mark_seen(),
                },
            }
        }
    }
}
