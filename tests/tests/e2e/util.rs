//! Helpers shared by the end-to-end tests: start the server, speak its protocols.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

pub use framecast_tests::http_client::{self, BodyReader, Headers, Part, header};
use framecast_tests::process::{ServerProcess, wait_for_exit};

use framecast_shared::{ClientMessage, FrameHeader, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Whether process `pid` is running; a zombie (its parent has not reaped it) counts as gone.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// The binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_framecast-under-test"))
}

/// A running `framecast` under test, killed when dropped.
pub struct Server(ServerProcess);

impl std::ops::Deref for Server {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.0
    }
}

impl Server {
    /// Starts `framecast ARGS --listen 127.0.0.1:0` and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Server {
        Server(ServerProcess::start(&binary(), args).expect("framecast starts"))
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, String)]) -> Server {
        Server(ServerProcess::start_with_env(&binary(), args, env).expect("framecast starts"))
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `ws://ADDR/PATH`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }
}

/// Runs the binary to completion (for start-up errors), with a time limit.
pub fn run_to_exit(args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(binary())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start framecast");
    let Some(status) = wait_for_exit(&mut child, limit) else {
        let _ = child.kill();
        panic!("framecast {args:?} did not exit within {limit:?}");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

/// Runs `future`, failing the test if it takes longer than `secs`.
pub async fn within<T>(secs: u64, what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within {secs} s"))
}

pub type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Sends a close frame with `code` and returns the code of the close frame the server
/// answers with (`None`: it dropped the connection without one).
pub async fn close_answer(mut ws: WsStream, code: u16) -> Option<u16> {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    ws.send(Message::Close(Some(CloseFrame { code: code.into(), reason: "".into() }))).await.unwrap();
    within(5, "the server's close frame", async {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
}

/// A WebSocket viewer speaking the framecast protocol.
pub struct Viewer {
    ws: WsStream,
}

/// One message from the server, decoded.
#[derive(Debug)]
pub enum Incoming {
    /// A binary frame message.
    Frame(FrameHeader, Vec<u8>),
    /// A JSON text message.
    Control(ServerMessage),
    /// A close frame, with its code.
    Close(Option<u16>),
}

impl Viewer {
    /// Connects to `/ws` (plus `query`) and returns the viewer with the server's hello.
    pub async fn connect(server: &Server, query: &str) -> (Viewer, ServerMessage) {
        let (ws, _) = within(
            10,
            "websocket connect",
            tokio_tungstenite::connect_async(server.ws_url(&format!("/ws{query}"))),
        )
        .await
        .expect("websocket upgrade");
        let mut viewer = Viewer { ws };
        match viewer.next(5).await {
            Incoming::Control(hello @ ServerMessage::Hello { .. }) => (viewer, hello),
            other => panic!("expected hello first, got {other:?}"),
        }
    }

    /// The next message, failing the test after `secs`.
    pub async fn next(&mut self, secs: u64) -> Incoming {
        within(secs, "next websocket message", self.try_next()).await.expect("connection open")
    }

    /// The next message, or `None` when the connection ended.
    pub async fn try_next(&mut self) -> Option<Incoming> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Binary(bytes)) => {
                    let (header, offset) = FrameHeader::decode_message(&bytes).expect("valid frame message");
                    return Some(Incoming::Frame(header, bytes[offset..].to_vec()));
                }
                Ok(Message::Text(text)) => {
                    return Some(Incoming::Control(
                        ServerMessage::parse(&text).expect("valid server message"),
                    ));
                }
                Ok(Message::Close(frame)) => {
                    return Some(Incoming::Close(frame.map(|f| f.code.into())));
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next frame, skipping control messages.
    pub async fn next_frame(&mut self, secs: u64) -> (FrameHeader, Vec<u8>) {
        within(secs, "next frame", async {
            loop {
                match self.try_next().await {
                    Some(Incoming::Frame(h, jpeg)) => return (h, jpeg),
                    Some(_) => continue,
                    None => panic!("connection ended while waiting for a frame"),
                }
            }
        })
        .await
    }

    /// The next control message, skipping frames.
    pub async fn next_control(&mut self, secs: u64) -> ServerMessage {
        within(secs, "next control message", async {
            loop {
                match self.try_next().await {
                    Some(Incoming::Control(m)) => return m,
                    Some(_) => continue,
                    None => panic!("connection ended while waiting for a control message"),
                }
            }
        })
        .await
    }

    /// Sends a client message.
    pub async fn send(&mut self, message: &ClientMessage) {
        self.ws.send(Message::Text(message.to_json().into())).await.expect("send");
    }

    /// Sends raw text (for malformed-input tests).
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.to_string().into())).await.expect("send");
    }

    /// Sends raw text; false once the server has closed the connection.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::Text(text.to_string().into())).await.is_ok()
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws.send(Message::Binary(bytes.to_vec().into())).await.expect("send");
    }

    /// Acknowledges frame `seq`.
    pub async fn ack(&mut self, seq: u64) {
        self.send(&ClientMessage::Ack { seq }).await;
    }

    /// Receives and acknowledges frames until one is `width` x `height`; fails the test after
    /// `secs`. Returns the headers of every frame received, that one last.
    pub async fn wait_for_size(&mut self, width: u32, height: u32, secs: u64) -> Vec<FrameHeader> {
        let mut headers = Vec::new();
        within(secs, &format!("a {width}x{height} frame"), async {
            loop {
                let (h, _) = self.next_frame(secs).await;
                self.ack(h.seq).await;
                let done = (h.width, h.height) == (width, height);
                headers.push(h);
                if done {
                    return;
                }
            }
        })
        .await;
        headers
    }

    /// Receives and acknowledges frames for `duration`; returns their headers.
    pub async fn watch_for(&mut self, duration: Duration) -> Vec<FrameHeader> {
        let mut headers = Vec::new();
        let deadline = tokio::time::Instant::now() + duration;
        while let Ok(msg) = tokio::time::timeout_at(deadline, self.try_next()).await {
            match msg {
                Some(Incoming::Frame(h, _)) => {
                    self.ack(h.seq).await;
                    headers.push(h);
                }
                Some(_) => {}
                None => break,
            }
        }
        headers
    }
}

/// GET `path`: status, headers, and the unread body.
pub async fn http_get(server: &Server, path: &str) -> (u16, Headers, BodyReader) {
    let r = within(10, "response headers", http_client::get(server.addr, path)).await.expect("HTTP response");
    (r.status, r.headers, r.body)
}

/// `/api/state`, parsed (and answered 200).
pub async fn api_state(server: &Server) -> framecast_shared::ApiState {
    let (status, _, body) = http_get_body(server, "/api/state").await;
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

/// GET `path`: status, headers, and the whole body.
pub async fn http_get_body(server: &Server, path: &str) -> (u16, Headers, Vec<u8>) {
    within(10, "response", http_client::get_body(server.addr, path)).await.expect("HTTP response")
}

/// Reads the next MJPEG part (boundary before it consumed), checking the wire format.
pub async fn read_part(body: &mut BodyReader, boundary: &str) -> Part {
    within(10, "MJPEG part", http_client::read_part(body, boundary, true)).await.expect("a well-formed part")
}

/// Frames per second over the span of the headers' capture times.
pub fn fps_of(headers: &[FrameHeader]) -> f64 {
    if headers.len() < 2 {
        return 0.0;
    }
    let span = (headers.last().unwrap().captured_us - headers[0].captured_us) as f64 / 1e6;
    (headers.len() - 1) as f64 / span
}

/// True if `data` looks like a complete JPEG.
pub fn is_jpeg(data: &[u8]) -> bool {
    data.len() > 4 && data[..2] == [0xFF, 0xD8] && data[data.len() - 2..] == [0xFF, 0xD9]
}

/// A fresh, empty temporary folder.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("framecast-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Frames per second of [`motion_clip`].
pub const CLIP_FPS: u64 = 10;

/// ffmpeg writing a scripted clip for motion detection to stdout, paced at its rate, for
/// `seconds`: a noisy grey 320x180 scene whose light ramps up all along, and a white 40x40
/// square crossing it left to right (120 pixels a second) during each of `crossings`
/// (seconds into the clip: enters, leaves). MJPEG, or H.264 Annex B (x264, no B-frames).
pub fn motion_clip(h264: bool, crossings: &[(f64, f64)], seconds: u32) -> String {
    let enable = crossings.iter().map(|(a, b)| format!("between(t,{a},{b})")).collect::<Vec<_>>().join("+");
    let x = crossings
        .iter()
        .map(|(a, b)| format!("between(t,{a},{b})*(t-{a})*120"))
        .collect::<Vec<_>>()
        .join("+");
    let filters = format!(
        "noise=alls=16:allf=t,eq=brightness='-0.1+0.2*t/{seconds}':eval=frame,\
         drawbox=x='{x}':y=60:w=40:h=40:color=white:t=fill:enable='{enable}'"
    );
    let output = if h264 {
        "-c:v libx264 -preset ultrafast -tune zerolatency -g 10 -pix_fmt yuv420p -f h264 -"
    } else {
        "-f mjpeg -q:v 5 -"
    };
    format!(
        "ffmpeg -hide_banner -loglevel error -re -f lavfi -i color=c=0x707070:size=320x180:rate={CLIP_FPS} \
         -vf \"{filters}\" -t {seconds} {output}"
    )
}
