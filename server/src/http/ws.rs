//! `GET /ws`: the viewer protocol (see `docs/protocol.md`).
//!
//! One task per viewer. It sends the newest frame whenever the credit window allows, answers
//! pings at once, reports camera status changes, and ends with a close frame at shutdown.
//! Sending never blocks another viewer: each viewer only reads the hub's newest frame.
//!
//! A viewer can also switch to the recording (`play`, `pause`, `resume`, `step`, `live`):
//! its frames then come from a [`Player`] through the same credit window, so a slow viewer
//! skips recorded frames exactly as it skips live ones. Other viewers are not affected.
//!
//! A viewer may be shown a rendition of the camera instead of its own picture ([`Picture`]:
//! `?size=` on the URL, `size` in `hello`, or `"auto"`, sized to what its link carries),
//! switching at any time; what it is told about the camera (status, settings) stays the
//! camera's.
//!
//! Hostile or broken clients: the upgrade is refused for pages of other sites (`Origin`);
//! each bad message gets an `error` and the connection stays usable, but a client that keeps
//! sending them is closed ([`AbuseCounter`]); settings and controls need admin rights; a
//! client that stops answering WebSocket pings for three keepalive intervals is dropped.

use std::time::Duration;

use axum::extract::{Extension, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use framecast_shared::{
    CameraStatus, ClientMessage, ErrorCode, FrameHeader, PLAYBACK_SPEEDS, PROTOCOL_VERSION, PlaybackEvent,
    PlaybackMode, ServerMessage, unix_micros_now,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::error::ApiError;
use super::picture::{Picture, SizeChoice, camera_changed};
use super::view::{ViewQuery, parse_size};
use super::wsconn::{self, Incoming, WsConn, close_code};
use crate::auth::Access;
use crate::flow::CreditWindow;
use crate::hub::{Change, Frame, Hub};
use crate::record::playback::{Due, Player};
use crate::record::reader::Reader;

/// Largest message accepted from a viewer (control messages are tiny).
const MAX_INCOMING: usize = 64 * 1024;

/// A send that makes no progress for this long means the viewer is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Bad messages within [`ABUSE_WINDOW`] after which the connection is closed.
const MAX_BAD_MESSAGES: u32 = 10;
const ABUSE_WINDOW: Duration = Duration::from_secs(10);

/// Keepalive intervals without a word from the client after which it counts as gone.
const SILENT_INTERVALS: u32 = 3;

/// How often an `auto` viewer's size is reconsidered.
const AUTO_TICK: Duration = Duration::from_millis(500);

/// What a session is allowed and how it is kept alive.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// May send `settings` and `control`.
    pub admin: bool,
    /// Ping interval; [`SILENT_INTERVALS`] of silence end the session.
    pub keepalive: Duration,
}

/// Route handler: checks the origin, picks the camera (an unknown one is a 404 even before
/// the upgrade is looked at), then upgrades to a [`WsConn`].
pub async fn handler(
    State(state): State<AppState>,
    Query(q): Query<ViewQuery>,
    access: Option<Extension<Access>>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    if !state.origins.allows(headers) {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("?");
        return ApiError::ForeignOrigin(origin.chars().take(100).collect()).into_response();
    }
    let policy = SessionPolicy {
        admin: access.is_some_and(|Extension(a)| a == Access::Admin),
        keepalive: state.keepalive,
    };
    let chosen = state.camera(q.camera.as_deref()).and_then(|camera| {
        let quality = q.rendition()?.and_then(|want| want.quality);
        Ok((camera.clone(), state.view(&q)?, quality))
    });
    let (camera, shown, quality) = match chosen {
        Ok(chosen) => chosen,
        Err(e) => return e.into_response(),
    };
    wsconn::upgrade(&mut request, MAX_INCOMING, move |conn| async move {
        let picture = Picture::new(camera, &shown, quality, state.renditions.clone());
        let cameras = state.hubs.iter().map(|h| h.info()).collect();
        run_session(conn, picture, cameras, policy, state.recordings.clone(), state.shutdown.clone()).await;
    })
}

/// Serves one viewer until it leaves or the server shuts down. Generic over the byte stream
/// (a TCP or TLS connection, or an in-memory pipe in tests).
pub async fn run_session<S>(
    mut conn: WsConn<S>,
    mut picture: Picture,
    cameras: Vec<framecast_shared::CameraInfo>,
    policy: SessionPolicy,
    recordings: Option<Arc<Reader>>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let camera = picture.camera.id().to_string();
    let mut flow = SessionFlow::default();
    let hello = ServerMessage::Hello {
        protocol: PROTOCOL_VERSION,
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        camera: camera.clone(),
        window: flow.credit.window(),
        cameras,
        admin: policy.admin,
    };
    // The hello already describes the current status.
    picture.viewer.mark_seen();
    if !send(conn.send_text(&hello.to_json()), &shutdown).await {
        return;
    }
    // A camera that is not running still shows its last frame (marked by its status).
    let live_now = picture.viewer.hub().info().status == CameraStatus::Running;
    if !live_now && let Some(last) = picture.viewer.hub().last_frame() {
        let wire = flow.seq.live(last.seq);
        let sent = match frame_prefix(&FrameMeta::live(&last, wire), &camera) {
            Some(prefix) => send(conn.send_binary(&[&prefix, &last.jpeg]), &shutdown).await,
            None => false,
        };
        if !sent {
            return;
        }
        flow.on_sent(wire, last.jpeg.len());
    }
    let mut mode = Mode::Live;
    let mut abuse = AbuseCounter::default();
    let mut keepalive = tokio::time::interval_at(Instant::now() + policy.keepalive, policy.keepalive);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    // `auto` measures and decides twice a second.
    let mut auto_tick = tokio::time::interval(AUTO_TICK);
    auto_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let may_send = flow.credit.can_send() && flow.rate_allows();
        // When a recorded frame is due next.
        let mut playback_wake = None;
        let mut reply = None;
        match &mut mode {
            Mode::Live => {
                if may_send
                    && let Some(frame) =
                        picture.viewer.newest().filter(|f| flow.credit.is_new(flow.seq.live(f.seq)))
                {
                    let wire = flow.seq.live(frame.seq);
                    // Only an absurdly long camera id could make this fail; refuse to loop on it.
                    let Some(prefix) = frame_prefix(&FrameMeta::live(&frame, wire), &camera) else { break };
                    if !send(conn.send_binary(&[&prefix, &frame.jpeg]), &shutdown).await {
                        break;
                    }
                    flow.on_sent(wire, frame.jpeg.len());
                }
            }
            Mode::Playback(player) if may_send && (!player.paused() || player.has_still()) => {
                match player.poll(Instant::now()).await {
                    Ok(Due::Frame(frame)) => {
                        let wire = flow.seq.recorded(frame.skipped);
                        let meta = FrameMeta {
                            seq: wire,
                            width: frame.width,
                            height: frame.height,
                            captured_us: frame.captured_us,
                            recorded: true,
                        };
                        let Some(prefix) = frame_prefix(&meta, &camera) else { break };
                        if !send(conn.send_binary(&[&prefix, &frame.jpeg]), &shutdown).await {
                            break;
                        }
                        flow.on_sent(wire, frame.jpeg.len());
                        continue;
                    }
                    Ok(Due::Wait(at)) => playback_wake = Some(at),
                    Ok(Due::Gap { from_us, to_us }) => {
                        reply =
                            Some(playback_state(&camera, &mode, Some(PlaybackEvent::Gap { from_us, to_us })));
                    }
                    Ok(Due::End) => {
                        mode = Mode::Live;
                        flow.seq.enter_live(picture.viewer.hub().info().frames);
                        reply = Some(playback_state(&camera, &mode, Some(PlaybackEvent::LiveEdge)));
                    }
                    Err(e) => {
                        tracing::warn!(camera = %camera, "playback failed: {e}");
                        mode = Mode::Live;
                        flow.seq.enter_live(picture.viewer.hub().info().frames);
                        reply = Some(error(ErrorCode::NoRecording, &format!("playback stopped: {e}")));
                    }
                }
            }
            Mode::Playback(_) => {}
        }
        if let Some(reply) = reply {
            if !send(conn.send_text(&reply.to_json()), &shutdown).await {
                break;
            }
            continue;
        }
        let live = matches!(mode, Mode::Live);
        // Waiting for this viewer's frame-rate cap: wake when it allows the next frame.
        let rate_wait = flow.credit.can_send() && !flow.rate_allows();
        let wake_at = flow.ready_at().unwrap_or_else(Instant::now);
        let reply = tokio::select! {
            _ = shutdown.cancelled() => {
                conn.close(close_code::GOING_AWAY, "server shutting down").await;
                break;
            }
            _ = tokio::time::sleep_until(wake_at), if rate_wait => None,
            _ = tokio::time::sleep_until(playback_wake.unwrap_or_else(Instant::now)), if playback_wake.is_some() => None,
            _ = keepalive.tick() => {
                if last_heard.elapsed() >= policy.keepalive * SILENT_INTERVALS {
                    tracing::debug!("viewer silent for {:?}; dropping it", last_heard.elapsed());
                    break;
                }
                if !send(conn.send_ping(), &shutdown).await {
                    break;
                }
                None
            }
            change = picture.viewer.changed(live && flow.credit.can_send() && flow.rate_allows()) => match change {
                None => break,
                // The loop's top sends it.
                Some(Change::Frame) => None,
                Some(Change::Status) => {
                    picture.viewer.mark_seen();
                    Some(ServerMessage::State { camera: Box::new(picture.camera.info()) })
                }
            },
            _ = auto_tick.tick(), if live && picture.is_auto() => {
                match picture.tick(flow.max_fps()) {
                    Ok((changed, message)) => {
                        if changed {
                            flow.seq.switch_picture(picture.viewer.hub().frames());
                        }
                        message
                    }
                    Err(e) => Some(error(ErrorCode::NotNow, &e.to_string())),
                }
            }
            () = camera_changed(&mut picture.observer) => Some(ServerMessage::State { camera: Box::new(picture.camera.info()) }),
            incoming = conn.next() => {
                last_heard = Instant::now();
                match incoming {
                    None => break,
                    Some(Err(e)) => {
                        tracing::debug!("viewer dropped: {e}");
                        conn.close_for_error(&e).await;
                        break;
                    }
                    Some(Ok(Incoming::Close(code))) => {
                        conn.answer_close(code).await;
                        break;
                    }
                    Some(Ok(Incoming::Text(t))) => {
                        let handled = handle_text(&t, &mut flow, &picture.camera, policy.admin);
                        let (frames, bytes) = flow.take_acked();
                        if frames > 0 {
                            picture.on_acked(frames, bytes);
                        }
                        match handled {
                            Handled::Reply(reply) => reply.map(|r| *r),
                            Handled::Playback(request) => {
                                let answer =
                                    playback_request(request, &mut mode, &mut flow, &picture, recordings.as_ref())
                                        .await;
                                picture.pause_measuring();
                                Some(answer)
                            }
                            Handled::Choose { size, canvas } => match picture.choose(size, canvas) {
                                Ok(changed) => {
                                    if changed {
                                        flow.seq.switch_picture(picture.viewer.hub().frames());
                                    }
                                    size.is_some().then(|| picture.describe())
                                }
                                Err(e) => Some(error(ErrorCode::NotNow, &e.to_string())),
                            },
                        }
                    }
                    Some(Ok(Incoming::Binary(_))) => {
                        Some(error(ErrorCode::NotText, "binary messages are not accepted; send JSON text"))
                    }
                    // Pings are answered by the connection itself.
                    Some(Ok(Incoming::Control)) => None,
                }
            }
        };
        if let Some(reply) = reply {
            let refused = matches!(reply, ServerMessage::Error { .. });
            if !send(conn.send_text(&reply.to_json()), &shutdown).await {
                break;
            }
            if refused && abuse.count(Instant::now()) {
                conn.close(close_code::POLICY, "too many bad messages").await;
                break;
            }
        }
    }
}

/// Whether the viewer sees the camera now or its recording.
#[derive(Debug)]
enum Mode {
    Live,
    Playback(Box<Player>),
}

/// A playback message from the viewer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PlaybackRequest {
    Play { from_us: u64, speed: u32 },
    Pause,
    Resume,
    Step(i32),
    Live,
}

/// What [`handle_text`] made of a message.
#[derive(Debug)]
enum Handled {
    /// Done; this is the answer, if any.
    Reply(Option<Box<ServerMessage>>),
    /// A playback request for the session loop.
    Playback(PlaybackRequest),
    /// Choose the picture anew (`hello` with `size` or `canvas`).
    Choose { size: Option<SizeChoice>, canvas: Option<[u32; 2]> },
}

/// The `playback` message describing `mode`.
fn playback_state(camera: &str, mode: &Mode, event: Option<PlaybackEvent>) -> ServerMessage {
    let (mode, position_us, speed) = match mode {
        Mode::Live => (PlaybackMode::Live, 0, 1),
        Mode::Playback(p) => (
            if p.paused() { PlaybackMode::Paused } else { PlaybackMode::Playing },
            p.position_us(),
            p.speed(),
        ),
    };
    ServerMessage::Playback { camera: camera.to_string(), mode, position_us, speed, event }
}

/// Carries out a playback request; the answer is a `playback` message or an `error`.
async fn playback_request(
    request: PlaybackRequest,
    mode: &mut Mode,
    flow: &mut SessionFlow,
    picture: &Picture,
    recordings: Option<&Arc<Reader>>,
) -> ServerMessage {
    let camera = picture.camera.id();
    let moved = Some(PlaybackEvent::Moved);
    match (request, &mut *mode) {
        (PlaybackRequest::Play { from_us, speed }, _) => {
            let Some(reader) = recordings else {
                return error(
                    ErrorCode::NoRecording,
                    "this server does not record (start it with --record-dir)",
                );
            };
            match Player::start(reader.clone(), camera, from_us, speed).await {
                Ok(Some(player)) => {
                    *mode = Mode::Playback(Box::new(player));
                    playback_state(camera, mode, Some(PlaybackEvent::Started))
                }
                Ok(None) => error(
                    ErrorCode::NoRecording,
                    &format!(
                        "nothing of camera '{camera}' is recorded at or after {}",
                        crate::clock::seconds(from_us)
                    ),
                ),
                Err(e) => error(ErrorCode::NoRecording, &format!("cannot play: {e}")),
            }
        }
        (PlaybackRequest::Live, _) => {
            *mode = Mode::Live;
            flow.seq.enter_live(picture.viewer.hub().info().frames);
            playback_state(camera, mode, Some(PlaybackEvent::Live))
        }
        (PlaybackRequest::Pause, Mode::Playback(player)) => {
            player.pause();
            playback_state(camera, mode, moved)
        }
        (PlaybackRequest::Resume, Mode::Playback(player)) => {
            player.resume();
            playback_state(camera, mode, moved)
        }
        (PlaybackRequest::Step(frames), Mode::Playback(player)) if player.paused() => {
            match player.step(frames).await {
                Ok(()) => playback_state(camera, mode, moved),
                Err(e) => error(ErrorCode::NoRecording, &format!("cannot step: {e}")),
            }
        }
        (PlaybackRequest::Step(_), Mode::Playback(_)) => error(ErrorCode::NotNow, "step works while paused"),
        (_, Mode::Live) => error(
            ErrorCode::NotNow,
            "pause, resume and step work during playback; send play first (the live picture is paused in the viewer)",
        ),
    }
}

/// Per-viewer flow state: credit, the viewer's own frame-rate cap, frame numbering.
#[derive(Debug, Default)]
struct SessionFlow {
    credit: CreditWindow,
    /// Shortest time between two frames to this viewer (its `max_fps`).
    min_interval: Option<Duration>,
    last_sent: Option<Instant>,
    seq: WireSeq,
    /// Frames sent and not yet acknowledged, with their sizes (for `auto`).
    unacked: std::collections::VecDeque<(u64, u64)>,
    /// Frames and bytes acknowledged since [`SessionFlow::take_acked`].
    acked: (u64, u64),
}

/// The `seq` of frames on this connection: increasing, with a gap for every frame skipped.
/// Live frames carry the camera's capture counter (plus an offset once the viewer has played
/// a recording, so numbers never go back); recorded frames continue from the last number.
/// A switch of picture (a rendition counts its own frames) renumbers so the new picture's
/// newest frame follows the last one sent: a gap still means frames this viewer skipped.
#[derive(Debug, Default)]
struct WireSeq {
    offset: i64,
    newest: Option<u64>,
}

impl WireSeq {
    /// The number of live frame `camera_seq`.
    fn live(&self, camera_seq: u64) -> u64 {
        camera_seq.saturating_add_signed(self.offset)
    }

    /// Live frames now come from another picture, whose newest frame is `picture_newest` (0:
    /// none yet, the first will be 1): it numbers right after everything sent.
    fn switch_picture(&mut self, picture_newest: u64) {
        if let Some(n) = self.newest {
            self.offset = (n + 1) as i64 - picture_newest.max(1) as i64;
        }
    }

    /// The number of the next recorded frame, `skipped` recorded frames after the last.
    fn recorded(&self, skipped: u64) -> u64 {
        self.newest.map_or(1, |n| n + 1 + skipped)
    }

    /// Back to live, where the camera's newest frame is `camera_newest`: it must number above
    /// everything sent, so it goes out at once.
    fn enter_live(&mut self, camera_newest: u64) {
        if self.newest.is_some_and(|n| self.live(camera_newest) <= n) {
            self.switch_picture(camera_newest);
        }
    }
}

impl SessionFlow {
    /// Records that frame `wire` went out.
    fn on_sent(&mut self, wire: u64, bytes: usize) {
        self.credit.on_sent(wire);
        self.unacked.push_back((wire, bytes as u64));
        self.seq.newest = Some(wire);
        self.last_sent = Some(Instant::now());
    }

    /// Frames and bytes acknowledged since the last call.
    fn take_acked(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.acked)
    }

    /// The acknowledgement of everything up to `seq`: returns credit, and counts what it
    /// covered for `auto`.
    fn on_ack(&mut self, seq: u64) -> Result<(), crate::flow::FlowError> {
        self.credit.on_ack(seq)?;
        while let Some(&(wire, bytes)) = self.unacked.front()
            && wire <= seq
        {
            self.unacked.pop_front();
            self.acked.0 += 1;
            self.acked.1 += bytes;
        }
        Ok(())
    }

    /// The viewer's own frame-rate cap, frames per second.
    fn max_fps(&self) -> Option<f64> {
        self.min_interval.map(|i| 1.0 / i.as_secs_f64())
    }

    /// When the viewer's frame-rate cap allows the next frame.
    fn ready_at(&self) -> Option<Instant> {
        self.min_interval.zip(self.last_sent).map(|(interval, last)| last + interval)
    }

    fn rate_allows(&self) -> bool {
        self.ready_at().is_none_or(|at| Instant::now() >= at)
    }
}

/// Counts refused messages; a client over [`MAX_BAD_MESSAGES`] within [`ABUSE_WINDOW`] is
/// closed. Honest clients make a mistake now and then; a flood is not a mistake.
#[derive(Debug, Default)]
struct AbuseCounter {
    count: u32,
    since: Option<Instant>,
}

impl AbuseCounter {
    /// Counts one refused message at `now`; true when the client should be closed.
    fn count(&mut self, now: Instant) -> bool {
        if self.since.is_none_or(|since| now.duration_since(since) >= ABUSE_WINDOW) {
            *self = AbuseCounter { count: 0, since: Some(now) };
        }
        self.count += 1;
        self.count >= MAX_BAD_MESSAGES
    }
}

/// Acts on one client text message: answers it, or hands a playback request to the loop.
fn handle_text(text: &str, flow: &mut SessionFlow, hub: &Hub, admin: bool) -> Handled {
    let message = ClientMessage::parse(text);
    if !admin && matches!(message, Ok(ClientMessage::Settings { .. } | ClientMessage::Control { .. })) {
        return refuse(ErrorCode::Forbidden, "changing the camera needs the admin token (--admin-token)");
    }
    let reply = match message {
        Err(e) => Some(error(e.code(), &e.to_string())),
        Ok(ClientMessage::Ack { seq }) => {
            flow.on_ack(seq).err().map(|e| error(ErrorCode::BadAck, &e.to_string()))
        }
        Ok(ClientMessage::Ping { t }) => Some(ServerMessage::Pong { t, server_us: unix_micros_now() }),
        Ok(ClientMessage::Hello { window, max_fps, size, canvas }) => {
            if let Some(fps) = max_fps {
                if !(fps.is_finite() && fps >= 0.0) {
                    return refuse(ErrorCode::OutOfRange, "max_fps must be a number from 0 up");
                }
                flow.min_interval = (fps > 0.0).then(|| Duration::from_secs_f64(1.0 / fps.max(0.01)));
            }
            if let Some(refused) = window.and_then(|w| {
                flow.credit.set_window(w).err().map(|e| error(ErrorCode::OutOfRange, &e.to_string()))
            }) {
                return Handled::Reply(Some(Box::new(refused)));
            }
            if let Some([w, h]) = canvas
                && (w == 0 || h == 0 || w > 16_384 || h > 16_384)
            {
                return refuse(
                    ErrorCode::OutOfRange,
                    "canvas must be [width, height] of 1 to 16384 device pixels",
                );
            }
            let size = match size.as_deref().map(str::trim) {
                None => None,
                Some("full") => Some(SizeChoice::Full),
                Some("auto") => Some(SizeChoice::Auto),
                Some(text) => match parse_size(text) {
                    Ok(size) => Some(SizeChoice::Fixed(size)),
                    Err(e) => return refuse(ErrorCode::OutOfRange, &format!("{e}; or \"auto\" or \"full\"")),
                },
            };
            if size.is_some() || canvas.is_some() {
                return Handled::Choose { size, canvas };
            }
            None
        }
        Ok(ClientMessage::Settings { width, height, fps, quality }) => {
            let size = match (width, height) {
                (Some(w), Some(h)) => Some((w, h)),
                (None, None) => None,
                _ => {
                    return refuse(ErrorCode::BadSettings, "width and height go together");
                }
            };
            hub.apply_settings(size, fps, quality).err().map(|e| error(ErrorCode::BadSettings, &e))
        }
        Ok(ClientMessage::Control { name, value }) => {
            hub.set_control(&name, value).err().map(|e| error(ErrorCode::BadSettings, &e))
        }
        Ok(ClientMessage::Play { from_us, speed }) => {
            let speed = speed.unwrap_or(1);
            if !PLAYBACK_SPEEDS.contains(&speed) {
                return refuse(ErrorCode::OutOfRange, "speed must be 1, 2, 4 or 8");
            }
            return Handled::Playback(PlaybackRequest::Play { from_us, speed });
        }
        Ok(ClientMessage::Pause) => return Handled::Playback(PlaybackRequest::Pause),
        Ok(ClientMessage::Resume) => return Handled::Playback(PlaybackRequest::Resume),
        Ok(ClientMessage::Step { frames }) => {
            if frames == 0 || frames.unsigned_abs() > 10_000 {
                return refuse(ErrorCode::OutOfRange, "step frames must be ±1 to ±10000");
            }
            return Handled::Playback(PlaybackRequest::Step(frames));
        }
        Ok(ClientMessage::Live) => return Handled::Playback(PlaybackRequest::Live),
    };
    Handled::Reply(reply.map(Box::new))
}

/// A refused message's answer.
fn refuse(code: ErrorCode, message: &str) -> Handled {
    Handled::Reply(Some(Box::new(error(code, message))))
}

fn error(code: ErrorCode, message: &str) -> ServerMessage {
    ServerMessage::Error { code, message: message.to_string() }
}

/// What a frame message's header says, live or recorded.
#[derive(Debug, Clone, Copy)]
struct FrameMeta {
    seq: u64,
    width: u32,
    height: u32,
    captured_us: u64,
    recorded: bool,
}

impl FrameMeta {
    fn live(frame: &Frame, seq: u64) -> FrameMeta {
        FrameMeta {
            seq,
            width: frame.width,
            height: frame.height,
            captured_us: frame.captured_us,
            recorded: false,
        }
    }
}

/// The frame message's prefix (length and JSON header, stamped with the send time); the JPEG
/// follows it on the wire straight from the hub's (or the recording's) buffer.
fn frame_prefix(meta: &FrameMeta, camera: &str) -> Option<Vec<u8>> {
    let header = FrameHeader {
        seq: meta.seq,
        camera: camera.to_string(),
        width: meta.width,
        height: meta.height,
        captured_us: meta.captured_us,
        sent_us: unix_micros_now(),
        recorded: meta.recorded,
    };
    match header.encode_prefix() {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::error!("cannot build frame message: {e}");
            None
        }
    }
}

/// Runs one send; false when the viewer is gone, stuck for [`SEND_TIMEOUT`], or the server
/// is shutting down.
async fn send(
    sending: impl std::future::Future<Output = std::io::Result<()>>,
    shutdown: &CancellationToken,
) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        sent = tokio::time::timeout(SEND_TIMEOUT, sending) => matches!(sent, Ok(Ok(()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_of_picture_numbers_on_from_the_last_frame_sent() {
        let mut seq = WireSeq::default();
        assert_eq!(seq.live(500), 500, "the camera's own counter before anything changes");
        seq.newest = Some(500);
        seq.switch_picture(3);
        assert_eq!(seq.live(3), 501, "a young rendition follows on");
        seq.newest = Some(530);
        seq.switch_picture(560);
        assert_eq!(seq.live(560), 531, "back to the camera, whose counter ran ahead: no phantom gap");
        assert_eq!(seq.live(562), 533, "a frame skipped later is still a gap");
        seq.switch_picture(0);
        assert_eq!(seq.live(1), 531, "a rendition with no frame yet: its first follows on");
        seq.switch_picture(560);
        seq.newest = Some(533);
        seq.enter_live(600);
        assert_eq!(seq.live(600), 571, "out of playback, numbers above what was sent stay as they are");
        seq.newest = Some(700);
        seq.enter_live(601);
        assert_eq!(seq.live(601), 701, "and below them, they follow on");
    }

    #[test]
    fn a_flood_of_bad_messages_closes_but_an_occasional_one_does_not() {
        let t0 = Instant::now();
        let mut abuse = AbuseCounter::default();
        for i in 1..MAX_BAD_MESSAGES {
            assert!(!abuse.count(t0 + Duration::from_millis(i as u64)), "message {i}");
        }
        assert!(abuse.count(t0 + Duration::from_millis(50)));
        let mut occasional = AbuseCounter::default();
        for i in 0..100u64 {
            assert!(!occasional.count(t0 + ABUSE_WINDOW * i as u32), "mistake {i}");
        }
    }
}
