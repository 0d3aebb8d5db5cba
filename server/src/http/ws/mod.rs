//! `GET /ws`: the viewer protocol (see `docs/protocol.md`).
//!
//! One task per viewer, a [`ViewerSession`] on the server's one WebSocket session type
//! ([`Session`]). It sends the newest frame whenever the credit window allows, answers
//! messages, reports camera status changes, and ends with a close frame at shutdown. Sending
//! never blocks another viewer: each viewer only reads the hub's newest frame.
//!
//! A viewer can also switch to the recording (`play`, `pause`, `resume`, `step`, `live`,
//! see [`playback`]): its frames then come from a
//! [`Player`](crate::record::playback::Player) through the same credit window,
//! so a slow viewer skips recorded frames exactly as it skips live ones. Other viewers are
//! not affected.
//!
//! A viewer may be shown a rendition of the camera instead of its own picture ([`Picture`]:
//! `?size=` on the URL, `size` in `hello`, or `"auto"`, sized to what its link carries),
//! switching at any time; what it is told about the camera (status, settings) stays the
//! camera's.
//!
//! Hostile or broken clients: the upgrade is refused for pages of other sites (`Origin`);
//! each bad message gets an `error` and the connection stays usable, but a client that keeps
//! sending them is closed (see [`Session::refuse`]); settings and controls need admin rights;
//! a client that stops answering WebSocket pings for three keepalive intervals is dropped.
//!
//! Layout: this file (the route and the session loop), [`messages`] (what a text message
//! asks for), [`playback`] (switching to the recording and back), [`delivery`] (credit, rate
//! cap and frame numbering of one viewer).

mod delivery;
mod messages;
mod playback;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use framecast_shared::{
    CameraInfo, CameraStatus, ErrorCode, FrameHeader, PROTOCOL_VERSION, PlaybackEvent, ServerMessage,
    VideoConfig,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::error::ApiError;
use super::picture::{Picture, camera_changed};
use super::session::{Ended, Message, Session};
use super::view::ViewQuery;
use super::wsconn::{self, WsConn};
use crate::auth::Access;
use crate::hub::{Change, H264Frame};
use crate::media::Codec;
use crate::record::playback::Due;
use crate::record::reader::Reader;
use delivery::SessionFlow;
use messages::{Handled, handle_text};
use playback::{Mode, playback_request, playback_state};

/// Largest message accepted from a viewer (control messages are tiny).
const MAX_INCOMING: usize = 64 * 1024;

/// How often an `auto` viewer's size is reconsidered.
const AUTO_TICK: Duration = Duration::from_millis(500);

/// What a session is allowed and how it is kept alive.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// May send `settings` and `control`.
    pub admin: bool,
    /// Ping interval; three intervals of silence end the session.
    pub keepalive: Duration,
}

/// Route handler: checks the origin, picks the camera (an unknown one is a 404 even before
/// the upgrade is looked at), then upgrades to a
/// WebSocket and runs a [`ViewerSession`] on it.
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
    let h264 = q.accepts_h264();
    let picture = state
        .camera(q.camera.as_deref())
        .and_then(|camera| Ok(Picture::new(camera.clone(), q.rendition()?, state.renditions.clone(), h264)?));
    let picture = match picture {
        Ok(picture) => picture,
        Err(e) => return e.into_response(),
    };
    wsconn::upgrade(&mut request, MAX_INCOMING, move |conn| async move {
        let cameras = state.hubs.iter().map(|h| h.info()).collect();
        run_session(conn, picture, cameras, policy, state.recordings.clone(), state.shutdown.clone()).await;
    })
}

/// Serves one viewer until it leaves or the server shuts down. Generic over the byte stream
/// (a TCP or TLS connection, or an in-memory pipe in tests).
pub async fn run_session<S>(
    conn: WsConn<S>,
    picture: Picture,
    cameras: Vec<CameraInfo>,
    policy: SessionPolicy,
    recordings: Option<Arc<Reader>>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut viewer = ViewerSession {
        camera: picture.camera.id().to_string(),
        session: Session::new(conn, shutdown, Some(policy.keepalive)),
        picture,
        flow: SessionFlow::default(),
        mode: Mode::Live,
        admin: policy.admin,
        recordings,
    };
    if viewer.start(cameras).await.is_ok() {
        // `auto` measures and decides twice a second.
        let mut auto_tick = tokio::time::interval(AUTO_TICK);
        auto_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        while viewer.step(&mut auto_tick).await.is_ok() {}
    }
    viewer.session.end().await;
}

/// One viewer's session: its connection, what it is shown, and where its frames come from.
#[derive(Debug)]
pub struct ViewerSession<S> {
    /// The camera's id, as frame headers name it.
    camera: String,
    session: Session<S>,
    picture: Picture,
    flow: SessionFlow,
    mode: Mode,
    /// May change the camera.
    admin: bool,
    recordings: Option<Arc<Reader>>,
}

/// What a frame message's header says, live or recorded.
#[derive(Debug, Clone)]
struct FrameMeta {
    seq: u64,
    width: u32,
    height: u32,
    captured_us: u64,
    recorded: bool,
    /// H.264 frames: keyframe and stream (its configuration goes out with each keyframe).
    h264: Option<H264Frame>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> ViewerSession<S> {
    /// The `hello`, then the camera's last frame if it is not running (marked by its status).
    async fn start(&mut self, cameras: Vec<CameraInfo>) -> Result<(), Ended> {
        let hello = ServerMessage::Hello {
            protocol: PROTOCOL_VERSION,
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            camera: self.camera.clone(),
            window: self.flow.credit.window(),
            cameras,
            admin: self.admin,
        };
        // The hello already describes the current status.
        self.picture.viewer.mark_seen();
        self.session.send(&hello).await?;
        let live_now = self.picture.viewer.hub().info().status == CameraStatus::Running;
        if !live_now && let Some(last) = self.picture.viewer.hub().last_frame() {
            let seq = self.flow.seq.live(last.seq);
            let meta = FrameMeta {
                seq,
                width: last.width,
                height: last.height,
                captured_us: last.captured_us,
                recorded: false,
                h264: last.h264.clone(),
            };
            self.send_frame(meta, &last.data).await?;
        }
        Ok(())
    }

    /// The one way a frame goes out to this viewer: its header, the payload from the hub's
    /// (or the recording's) buffer, and the credit it takes.
    async fn send_frame(&mut self, meta: FrameMeta, payload: &[u8]) -> Result<(), Ended> {
        let (codec, key, config) = match &meta.h264 {
            None => (None, false, None),
            Some(h264) => {
                let stream = &h264.stream;
                let config = h264
                    .keyframe
                    .then(|| VideoConfig::new(&stream.codec, &stream.avcc, stream.width, stream.height));
                (Some(Codec::H264.name().to_string()), h264.keyframe, config)
            }
        };
        let header = FrameHeader {
            seq: meta.seq,
            camera: self.camera.clone(),
            width: meta.width,
            height: meta.height,
            captured_us: meta.captured_us,
            sent_us: 0,
            recorded: meta.recorded,
            codec,
            key,
            config,
        };
        self.session.send_frame(header, payload).await?;
        self.flow.on_sent(meta.seq, payload.len());
        Ok(())
    }

    /// Sends what is due (a frame, or news from the playback), then waits for the next thing
    /// to happen and acts on it.
    async fn step(&mut self, auto_tick: &mut Interval) -> Result<(), Ended> {
        let may_send = self.flow.credit.can_send() && self.flow.rate_allows();
        // When a recorded frame is due next.
        let mut playback_wake = None;
        let mut notice = None;
        match &mut self.mode {
            Mode::Live => {
                let next = self.picture.viewer.next_after(self.flow.live_sent);
                if may_send && let Some(frame) = next {
                    // Frames go out in order, so this one numbers above everything sent
                    // (a viewer starting at a keyframe older than the newest frame).
                    if self.flow.seq.newest.is_some_and(|n| self.flow.seq.live(frame.seq) <= n) {
                        self.flow.seq.switch_picture(frame.seq);
                    }
                    let seq = self.flow.seq.live(frame.seq);
                    let meta = FrameMeta {
                        seq,
                        width: frame.width,
                        height: frame.height,
                        captured_us: frame.captured_us,
                        recorded: false,
                        h264: frame.h264.clone(),
                    };
                    self.send_frame(meta, &frame.data).await?;
                    self.flow.live_sent = Some(frame.seq);
                    // More may be waiting (an H.264 viewer catching up): look again at once.
                    return Ok(());
                }
            }
            Mode::Playback(player) if may_send && (!player.paused() || player.has_still()) => {
                match player.poll(Instant::now()).await {
                    Ok(Due::Frame(frame)) => {
                        let seq = self.flow.seq.recorded(frame.skipped);
                        let meta = FrameMeta {
                            seq,
                            width: frame.width,
                            height: frame.height,
                            captured_us: frame.captured_us,
                            recorded: true,
                            h264: None,
                        };
                        return self.send_frame(meta, &frame.data).await;
                    }
                    Ok(Due::Wait(at)) => playback_wake = Some(at),
                    Ok(Due::Gap { from_us, to_us }) => {
                        notice = Some(playback_state(
                            &self.camera,
                            &self.mode,
                            Some(PlaybackEvent::Gap { from_us, to_us }),
                        ));
                    }
                    Ok(Due::End) => {
                        self.back_to_live();
                        notice =
                            Some(playback_state(&self.camera, &self.mode, Some(PlaybackEvent::LiveEdge)));
                    }
                    Err(e) => {
                        tracing::warn!(camera = %self.camera, "playback failed: {e}");
                        self.back_to_live();
                        notice = Some(error(ErrorCode::NoRecording, &format!("playback stopped: {e}")));
                    }
                }
            }
            Mode::Playback(_) => {}
        }
        if let Some(notice) = notice {
            // News of the playback, not an answer to the viewer: never counted as a refusal.
            return self.session.send(&notice).await;
        }
        let live = matches!(self.mode, Mode::Live);
        // Waiting for this viewer's frame-rate cap: wake when it allows the next frame.
        let rate_wait = self.flow.credit.can_send() && !self.flow.rate_allows();
        let wake_at = self.flow.ready_at().unwrap_or_else(Instant::now);
        let wants_frames = live && self.flow.credit.can_send() && self.flow.rate_allows();
        let reply = tokio::select! {
            _ = tokio::time::sleep_until(wake_at), if rate_wait => None,
            _ = tokio::time::sleep_until(playback_wake.unwrap_or_else(Instant::now)), if playback_wake.is_some() => None,
            change = self.picture.viewer.changed(wants_frames) => match change {
                None => return Err(Ended),
                // The next step sends it.
                Some(Change::Frame) => None,
                Some(Change::Status) => {
                    self.picture.viewer.mark_seen();
                    Some(ServerMessage::State { camera: Box::new(self.picture.camera.info()) })
                }
            },
            _ = auto_tick.tick(), if live && self.picture.is_auto() => self.auto_size(),
            () = camera_changed(&mut self.picture.observer) => {
                Some(ServerMessage::State { camera: Box::new(self.picture.camera.info()) })
            }
            wake = self.session.wait() => match self.session.take(wake).await? {
                None => None,
                Some(Message::Text(text)) => self.on_text(&text).await,
                Some(Message::Binary(_)) => {
                    Some(error(ErrorCode::NotText, "binary messages are not accepted; send JSON text"))
                }
            },
        };
        match reply {
            Some(ServerMessage::Error { code, message }) => self.session.refuse(code, &message).await,
            Some(reply) => self.session.send(&reply).await,
            None => Ok(()),
        }
    }

    /// Acts on a text message; the answer, if any.
    async fn on_text(&mut self, text: &str) -> Option<ServerMessage> {
        let handled = handle_text(text, &mut self.flow, &self.picture.camera, self.admin);
        let (frames, bytes) = self.flow.take_acked();
        if frames > 0 {
            self.picture.on_acked(frames, bytes);
        }
        match handled {
            Handled::Reply(reply) => reply.map(|r| *r),
            Handled::Playback(request) => {
                let answer = playback_request(
                    request,
                    &mut self.mode,
                    &mut self.flow,
                    &self.picture,
                    self.recordings.as_ref(),
                )
                .await;
                self.picture.pause_measuring();
                Some(answer)
            }
            Handled::Choose { size, canvas, h264 } => match self.picture.choose(size, canvas, h264) {
                Ok(changed) => {
                    if changed {
                        self.flow.picture_switched(self.picture.viewer.hub().frames());
                    }
                    (size.is_some() || h264.is_some()).then(|| self.picture.describe())
                }
                Err(e) => Some(error(ErrorCode::NotNow, &e.to_string())),
            },
        }
    }

    /// `auto`, twice a second while live: maybe a new size, and the `picture` report.
    fn auto_size(&mut self) -> Option<ServerMessage> {
        match self.picture.tick(self.flow.max_fps()) {
            Ok((changed, message)) => {
                if changed {
                    self.flow.picture_switched(self.picture.viewer.hub().frames());
                }
                message
            }
            Err(e) => Some(error(ErrorCode::NotNow, &e.to_string())),
        }
    }

    /// Out of playback: live frames number on above everything sent.
    fn back_to_live(&mut self) {
        self.mode = Mode::Live;
        self.flow.back_to_live(self.picture.viewer.hub().info().frames);
    }
}

/// An `error` message.
fn error(code: ErrorCode, message: &str) -> ServerMessage {
    ServerMessage::Error { code, message: message.to_string() }
}

#[cfg(test)]
mod tests {
    //! A whole viewer session over an in-memory pipe: the test is the browser, speaking
    //! WebSocket frames by hand.

    use bytes::Bytes;
    use framecast_shared::{CameraModes, ClientMessage};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::camera::{Settings, Size};
    use crate::hub::Hub;
    use crate::media::jpeg::Jpeg;
    use crate::rendition::Renditions;
    use crate::source::{Capture, Source, SourceError};

    #[derive(Debug)]
    struct Gray;

    struct GrayCapture(Bytes);

    impl Source for Gray {
        fn kind(&self) -> &'static str {
            "gray"
        }
        fn open(&self, _settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
            let jpeg = crate::media::jpeg::turbo::encode_rgb(&[99; 32 * 16 * 3], 32, 16, 50)?;
            Ok(Box::new(GrayCapture(Bytes::from(jpeg))))
        }
        fn modes(&self, _current: &Settings) -> CameraModes {
            CameraModes::default()
        }
    }

    impl Capture for GrayCapture {
        fn pace(&self) -> Option<u32> {
            Some(50)
        }
        fn grab(&mut self) -> Result<crate::media::Encoded, SourceError> {
            Ok(Jpeg { data: self.0.clone(), width: 32, height: 16 }.into())
        }
    }

    /// One message from the server: opcode and payload (server frames are never masked or
    /// fragmented).
    async fn read_message(pipe: &mut DuplexStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        pipe.read_exact(&mut head).await.unwrap();
        let len = match head[1] & 0x7F {
            126 => u64::from(pipe.read_u16().await.unwrap()),
            127 => pipe.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        pipe.read_exact(&mut payload).await.unwrap();
        (head[0] & 0x0F, payload)
    }

    /// The next text message from the server, skipping pings.
    async fn read_text(pipe: &mut DuplexStream) -> ServerMessage {
        loop {
            let (opcode, payload) = read_message(pipe).await;
            match opcode {
                0x1 => return ServerMessage::parse(std::str::from_utf8(&payload).unwrap()).unwrap(),
                0x9 => continue,
                other => panic!("expected text, got opcode {other}"),
            }
        }
    }

    /// The next frame message from the server, skipping text (camera `state` news) and pings.
    async fn read_frame(pipe: &mut DuplexStream) -> Vec<u8> {
        loop {
            let (opcode, payload) = read_message(pipe).await;
            if opcode == 0x2 {
                return payload;
            }
        }
    }

    /// Sends a masked text message, as a browser does.
    async fn send_text(pipe: &mut DuplexStream, text: &str) {
        let mask = [7u8, 1, 2, 3];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        pipe.write_all(&frame).await.unwrap();
    }

    /// `what`, or a failure after ten seconds.
    async fn within<F: std::future::Future>(what: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(10), what).await.expect("in time")
    }

    #[tokio::test]
    async fn a_viewer_session_runs_over_an_in_memory_pipe() {
        let shutdown = CancellationToken::new();
        let settings = Settings { size: Size { width: 32, height: 16 }, fps: 50, quality: 50 };
        let hub = Hub::new("gray".into(), Box::new(Gray), settings, Duration::from_secs(5));
        let supervisor = hub.spawn_supervisor(shutdown.clone());
        let renditions = Arc::new(Renditions::new(shutdown.clone(), Duration::from_secs(5)));
        let picture = Picture::new(hub.clone(), None, renditions, false).unwrap();
        let (mut browser, server_end) = tokio::io::duplex(64 * 1024);
        let policy = SessionPolicy { admin: false, keepalive: Duration::from_secs(10) };
        let session = tokio::spawn(run_session(
            WsConn::new(server_end, MAX_INCOMING),
            picture,
            vec![hub.info()],
            policy,
            None,
            shutdown.clone(),
        ));

        let ServerMessage::Hello { camera, window, admin, .. } = within(read_text(&mut browser)).await else {
            panic!("hello first")
        };
        assert_eq!((camera.as_str(), window, admin), ("gray", 2, false));

        // Frames come without asking, up to the window, each a JPEG behind its header.
        let mut seqs = Vec::new();
        for _ in 0..2 {
            let message = within(read_frame(&mut browser)).await;
            let (header, at) = FrameHeader::decode_message(&message).unwrap();
            assert_eq!((header.camera.as_str(), header.width, header.height), ("gray", 32, 16));
            assert_eq!(&message[at..at + 2], &[0xFF, 0xD8], "the JPEG follows the header");
            seqs.push(header.seq);
        }
        assert!(seqs[1] > seqs[0]);
        // An ack frees the window: the next frame is newer still.
        send_text(&mut browser, &ClientMessage::Ack { seq: seqs[1] }.to_json()).await;
        let message = within(read_frame(&mut browser)).await;
        assert!(FrameHeader::decode_message(&message).unwrap().0.seq > seqs[1]);

        // A bad message gets an error and the session goes on; a ping gets its pong.
        send_text(&mut browser, "not json").await;
        send_text(&mut browser, r#"{"type":"ping","t":1.5}"#).await;
        let mut answers = Vec::new();
        while answers.len() < 2 {
            let (opcode, payload) = within(read_message(&mut browser)).await;
            if opcode == 0x1 {
                match ServerMessage::parse(std::str::from_utf8(&payload).unwrap()).unwrap() {
                    ServerMessage::State { .. } => {}
                    answer => answers.push(answer),
                }
            }
        }
        assert!(
            matches!(answers[0], ServerMessage::Error { code: ErrorCode::BadMessage, .. }),
            "{answers:?}"
        );
        assert!(matches!(answers[1], ServerMessage::Pong { t, .. } if t == 1.5), "{answers:?}");

        // Shutdown: a close frame with 1001, and the session ends.
        shutdown.cancel();
        let close = within(async {
            loop {
                let (opcode, payload) = read_message(&mut browser).await;
                if opcode == 0x8 {
                    return u16::from_be_bytes([payload[0], payload[1]]);
                }
            }
        })
        .await;
        assert_eq!(close, 1001);
        drop(browser);
        within(session).await.unwrap();
        supervisor.await.unwrap();
    }

    /// Starts a session over a pipe for a camera of `source`; the browser's end and what to
    /// stop.
    fn start_session(
        source: Box<dyn Source>,
        accept_h264: bool,
    ) -> (DuplexStream, CancellationToken, tokio::task::JoinHandle<()>) {
        let shutdown = CancellationToken::new();
        let settings = Settings { size: Size { width: 320, height: 240 }, fps: 30, quality: 70 };
        let hub = Hub::new("cam".into(), source, settings, Duration::from_secs(5));
        let supervisor = hub.spawn_supervisor(shutdown.clone());
        let renditions = Arc::new(Renditions::new(shutdown.clone(), Duration::from_secs(5)));
        let picture = Picture::new(hub.clone(), None, renditions.clone(), accept_h264).unwrap();
        let (browser, server_end) = tokio::io::duplex(1024 * 1024);
        let policy = SessionPolicy { admin: false, keepalive: Duration::from_secs(10) };
        let session = run_session(
            WsConn::new(server_end, MAX_INCOMING),
            picture,
            vec![hub.info()],
            policy,
            None,
            shutdown.clone(),
        );
        let done = tokio::spawn(async move {
            session.await;
            renditions.stopped().await;
            let _ = supervisor.await;
        });
        (browser, shutdown, done)
    }

    fn h264_camera() -> Box<dyn Source> {
        let encoding = crate::camera::Encoding {
            codec: crate::media::Codec::H264,
            keyframe_interval: Duration::from_secs(1),
        };
        Box::new(crate::source::emulated::EmulatedSource::new(encoding))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_h264_viewer_starts_at_a_keyframe_and_gets_every_frame_in_order() {
        let (mut browser, shutdown, done) = start_session(h264_camera(), true);
        let mut headers = Vec::new();
        while headers.len() < 12 {
            let message = within(read_frame(&mut browser)).await;
            let (header, at) = FrameHeader::decode_message(&message).unwrap();
            let sample = &message[at..];
            let first_nal = u32::from_be_bytes(sample[..4].try_into().unwrap()) as usize;
            assert!(first_nal + 4 <= sample.len(), "AVC: a length, then the NAL unit");
            send_text(&mut browser, &ClientMessage::Ack { seq: header.seq }.to_json()).await;
            headers.push(header);
        }
        assert!(headers[0].key, "the first frame is a keyframe");
        let config = headers[0].config.as_ref().expect("a keyframe says how to decode");
        assert!(config.codec.starts_with("avc1.42"), "{}", config.codec);
        assert_eq!((config.width, config.height), (320, 240));
        assert!(config.avcc_bytes().is_some_and(|avcc| avcc[0] == 1), "an avcC record");
        assert!(headers.iter().all(|h| h.codec.as_deref() == Some("h264")));
        assert!(headers[1..].iter().all(|h| h.config.is_none() || h.key), "configuration on keyframes only");
        let seqs: Vec<u64> = headers.iter().map(|h| h.seq).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "every frame, in order: {seqs:?}");
        shutdown.cancel();
        drop(browser);
        within(done).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_jpeg_viewer_of_an_h264_camera_gets_decoded_jpegs() {
        let (mut browser, shutdown, done) = start_session(h264_camera(), false);
        for _ in 0..3 {
            let message = within(read_frame(&mut browser)).await;
            let (header, at) = FrameHeader::decode_message(&message).unwrap();
            assert_eq!(header.codec, None, "JPEG");
            assert_eq!(crate::media::jpeg::dimensions(&message[at..]), Ok((320, 240)));
            send_text(&mut browser, &ClientMessage::Ack { seq: header.seq }.to_json()).await;
        }
        shutdown.cancel();
        drop(browser);
        within(done).await.unwrap();
    }
}
