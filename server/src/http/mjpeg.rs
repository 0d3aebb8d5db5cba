//! `GET /stream.mjpg`: `multipart/x-mixed-replace` MJPEG for `<img>`, VLC, ffmpeg, OctoPrint.
//!
//! Each part is written as: headers, the JPEG (shared, not copied), then the *next* boundary
//! at once, so a browser knows the frame is complete without waiting for the next one (the
//! "one frame late" problem of streams that put the boundary in front of each part).
//! The body is pulled by hyper only as the socket drains (see [`super::serve`]), and each
//! pull takes the newest frame: a slow reader skips frames rather than queueing them. Where
//! the kernel tells how much the reader has not read yet ([`Backlog`]), the next frame also
//! waits until that is under two frames, so a slow reader stays close to live.
//! `?size=`, `?w=` and `?quality=` stream a rendition (see [`crate::rendition`]) instead of
//! the camera's own picture. `?fps=N` caps the rate for one reader (a detector that takes a frame a second): each
//! frame it gets is the newest when its turn comes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::backlog::{Backlog, SocketFd};
use super::error::ApiError;
use super::view::ViewQuery;
use crate::hub::{Frame, Viewer};

/// Multipart boundary.
pub const BOUNDARY: &str = "framecast";

/// Frames of unread backlog allowed before the next frame waits.
const BACKLOG_FRAMES: u64 = 2;

/// How often a waiting stream looks at the backlog again.
const BACKLOG_POLL: Duration = Duration::from_millis(20);

/// A wait this long relearns the reader's window (see [`Backlog::relearn`]).
const BACKLOG_MAX_WAIT: Duration = Duration::from_secs(2);

/// While waiting with nothing in flight, a probe goes out this often (at most
/// [`MAX_PROBES`] per part): a reader's kernel announces a reopened window only when it
/// acknowledges data (unless the window doubles), so without new bytes the window we see is
/// the one from before the reader read. The probe is a header line of the coming part,
/// which every multipart reader skips.
const PROBE_EVERY: Duration = Duration::from_millis(100);
const MAX_PROBES: u32 = 15;
const PROBE: &[u8] = b"X-Wait: 1\r\n";

/// `GET /stream.mjpg` (and `/stream`): the camera, or the rendition the query names, as a
/// `multipart/x-mixed-replace` stream for as long as the reader reads.
pub async fn handler(
    State(state): State<AppState>,
    Query(q): Query<ViewQuery>,
    fd: Option<Extension<SocketFd>>,
) -> Response {
    respond(&state, &q, fd.map(|Extension(fd)| fd)).into_response()
}

/// The stream `q` asks for, paced by the backlog of socket `fd` when known.
pub fn respond(state: &AppState, q: &ViewQuery, fd: Option<SocketFd>) -> Result<Response, ApiError> {
    let interval = q.frame_interval()?;
    let viewer = state.view(q)?.watch();
    let parts = Parts {
        rate: interval.map(|interval| RateCap { interval, next_due: tokio::time::Instant::now() }),
        viewer,
        state: state.clone(),
        query: q.clone(),
        shutdown: state.shutdown.clone(),
        pending: VecDeque::from([Bytes::from(format!("--{BOUNDARY}\r\n"))]),
        backlog: fd.map(Backlog::new),
        last_len: 0,
        waiting: None,
    };
    let body = futures_util::stream::unfold(parts, Parts::next);
    Ok((
        [
            (header::CONTENT_TYPE, format!("multipart/x-mixed-replace; boundary={BOUNDARY}")),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate".into()),
            (header::PRAGMA, "no-cache".into()),
            // Tell reverse proxies (nginx) not to buffer the stream.
            (header::HeaderName::from_static("x-accel-buffering"), "no".into()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

struct Parts {
    viewer: Viewer,
    /// To find the JPEG view again when the camera turns out to send H.264.
    state: AppState,
    query: ViewQuery,
    shutdown: CancellationToken,
    pending: VecDeque<Bytes>,
    backlog: Option<Backlog>,
    /// Size of the last part sent, the unit of the backlog allowance.
    last_len: u64,
    /// While waiting for the reader: since when, and probes sent.
    waiting: Option<(tokio::time::Instant, u32)>,
    /// `?fps=`: when the next frame may go.
    rate: Option<RateCap>,
}

/// At most one frame per `interval`.
struct RateCap {
    interval: Duration,
    next_due: tokio::time::Instant,
}

/// What [`Parts::wait_for_reader`] decided.
enum Wait {
    /// Send the next frame.
    Ready,
    /// Send a probe first, then wait on.
    Probe,
}

impl Parts {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Parts)> {
        if let Some(chunk) = self.pending.pop_front() {
            return Some((Ok(chunk), self));
        }
        if let Some(rate) = &self.rate {
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep_until(rate.next_due) => {}
            }
        }
        if let Wait::Probe = self.wait_for_reader().await? {
            return Some((Ok(Bytes::from_static(PROBE)), self));
        }
        let frame = loop {
            let frame = self.viewer.next_frame(&self.shutdown).await?;
            if frame.jpeg().is_some() {
                break frame;
            }
            // A command's H.264, known only once it ran: the JPEGs decoded from it instead.
            self.viewer = self.state.view(&self.query).ok()?.watch();
        };
        if let Some(rate) = &mut self.rate {
            // On schedule while the reader keeps up; from now when it was late.
            let now = tokio::time::Instant::now();
            rate.next_due = (rate.next_due + rate.interval).max(now);
        }
        self.last_len = frame.data.len() as u64;
        self.pending.push_back(frame.data.clone());
        self.pending.push_back(Bytes::from(format!("\r\n--{BOUNDARY}\r\n")));
        Some((Ok(part_head(&frame)), self))
    }
}

impl Parts {
    /// Waits while the reader has more than [`BACKLOG_FRAMES`] unread, asking for a probe
    /// when the window looks stale; `None` at shutdown.
    async fn wait_for_reader(&mut self) -> Option<Wait> {
        let Some(backlog) = self.backlog.as_mut() else { return Some(Wait::Ready) };
        let allowed = self.last_len * BACKLOG_FRAMES;
        let now = tokio::time::Instant::now();
        let (started, probes) = *self.waiting.get_or_insert((now, 0));
        while let Some((unread, in_flight)) = backlog.bytes()
            && unread > allowed
        {
            let waited = started.elapsed();
            if waited >= BACKLOG_MAX_WAIT {
                backlog.relearn();
                break;
            }
            // Nothing in flight means no acknowledgement is coming to refresh the window.
            if in_flight == 0 && probes < MAX_PROBES && waited >= PROBE_EVERY * (probes + 1) {
                self.waiting = Some((started, probes + 1));
                return Some(Wait::Probe);
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep(BACKLOG_POLL) => {}
            }
        }
        self.waiting = None;
        Some(Wait::Ready)
    }
}

/// Headers of one part.
fn part_head(frame: &Frame) -> Bytes {
    Bytes::from(format!(
        "Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}\r\n\r\n",
        frame.data.len(),
        crate::clock::seconds(frame.captured_us)
    ))
}
