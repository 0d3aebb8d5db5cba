//! Helpers shared by the end-to-end tests: start the server, speak its protocols.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use framecast_shared::{ClientMessage, FrameHeader, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// The binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_framecast-under-test"))
}

/// A running `framecast`, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `framecast ARGS --listen 127.0.0.1:0` and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(binary())
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start framecast");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr.parse().expect("a socket address"),
            Err(_) => {
                let _ = child.kill();
                panic!("framecast did not print its address within 20 s");
            }
        };
        Server { child, addr }
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `ws://ADDR/PATH`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        send_signal(self.child.id(), libc::SIGTERM);
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(unsafe_code)]
fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a pid of our own child and a valid signal number.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
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
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code(), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("framecast {args:?} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `future`, failing the test if it takes longer than `secs`.
pub async fn within<T>(secs: u64, what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within {secs} s"))
}

type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

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
        within(secs, "next websocket message", self.try_next())
            .await
            .expect("connection open")
    }

    /// The next message, or `None` when the connection ended.
    pub async fn try_next(&mut self) -> Option<Incoming> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Binary(bytes)) => {
                    let (header, offset) =
                        FrameHeader::decode_message(&bytes).expect("valid frame message");
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
        self.ws
            .send(Message::Text(message.to_json().into()))
            .await
            .expect("send");
    }

    /// Sends raw text (for malformed-input tests).
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("send");
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .expect("send");
    }

    /// Acknowledges frame `seq`.
    pub async fn ack(&mut self, seq: u64) {
        self.send(&ClientMessage::Ack { seq }).await;
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

/// Frames per second over the span of the headers' capture times.
pub fn fps_of(headers: &[FrameHeader]) -> f64 {
    if headers.len() < 2 {
        return 0.0;
    }
    let span = (headers.last().unwrap().captured_us - headers[0].captured_us) as f64 / 1e6;
    (headers.len() - 1) as f64 / span
}

/// A minimal HTTP/1.1 GET over a raw socket: returns the status, the headers (lower-case
/// names) and the connection, positioned at the start of the body (de-chunked if chunked).
pub async fn http_get(server: &Server, path: &str) -> (u16, Vec<(String, String)>, BodyReader) {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: framecast-tests\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut body = BodyReader {
        stream,
        buf: Vec::new(),
        raw: Vec::new(),
        chunked: false,
        chunk_left: 0,
        need_crlf: false,
        ended: false,
    };
    let head = within(10, "response headers", body.read_until(b"\r\n\r\n")).await;
    let text = String::from_utf8(head).expect("ascii headers");
    let mut lines = text.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    if header(&headers, "transfer-encoding") == Some("chunked") {
        body.chunked = true;
        body.raw = std::mem::take(&mut body.buf);
        body.decode_raw();
    }
    (status, headers, body)
}

/// A header's value.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A response body read by hand from the socket, with chunked transfer decoding.
pub struct BodyReader {
    /// The connection.
    pub stream: TcpStream,
    /// Decoded bytes not yet consumed.
    buf: Vec<u8>,
    /// Raw bytes not yet decoded (chunked mode).
    raw: Vec<u8>,
    chunked: bool,
    chunk_left: usize,
    need_crlf: bool,
    ended: bool,
}

impl BodyReader {
    /// Reads until `delimiter` and returns everything up to and including it.
    pub async fn read_until(&mut self, delimiter: &[u8]) -> Vec<u8> {
        loop {
            if let Some(pos) = self
                .buf
                .windows(delimiter.len())
                .position(|w| w == delimiter)
            {
                let rest = self.buf.split_off(pos + delimiter.len());
                return std::mem::replace(&mut self.buf, rest);
            }
            assert!(
                self.fill().await,
                "body ended before {:?}",
                String::from_utf8_lossy(delimiter)
            );
        }
    }

    /// Reads exactly `n` bytes.
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "body ended early");
        }
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Reads until the body ends; returns what came.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }

    /// Whether the body ends (peer closes or last chunk) before `limit`.
    pub async fn ends_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            while self.fill().await {
                self.buf.clear();
            }
        })
        .await
        .is_ok()
    }

    /// Reads more body bytes; false at the end of the body.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.ended {
                return false;
            }
            let before = self.buf.len();
            if self.chunked {
                self.decode_raw();
                if self.buf.len() > before {
                    return true;
                }
                if self.ended {
                    return false;
                }
            }
            let n = self.stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                self.ended = true;
                return false;
            }
            if self.chunked {
                self.raw.extend_from_slice(&chunk[..n]);
            } else {
                self.buf.extend_from_slice(&chunk[..n]);
                return true;
            }
        }
    }

    fn decode_raw(&mut self) {
        loop {
            if self.chunk_left > 0 {
                let take = self.chunk_left.min(self.raw.len());
                if take == 0 {
                    return;
                }
                self.buf.extend(self.raw.drain(..take));
                self.chunk_left -= take;
                self.need_crlf = self.chunk_left == 0;
                continue;
            }
            if self.need_crlf {
                if self.raw.len() < 2 {
                    return;
                }
                assert_eq!(&self.raw[..2], b"\r\n", "chunk not followed by CRLF");
                self.raw.drain(..2);
                self.need_crlf = false;
                continue;
            }
            let Some(pos) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let line = String::from_utf8_lossy(&self.raw[..pos]).to_string();
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                .expect("chunk size");
            self.raw.drain(..pos + 2);
            if size == 0 {
                self.ended = true;
                return;
            }
            self.chunk_left = size;
        }
    }
}

/// Fetches a whole (non-streaming) response body.
pub async fn http_get_body(server: &Server, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let (status, headers, mut body) = http_get(server, path).await;
    let bytes = match header(&headers, "content-length") {
        Some(len) => body.read_exact(len.parse().unwrap()).await,
        None => within(10, "response body", body.read_to_end()).await,
    };
    (status, headers, bytes)
}

/// One part of an MJPEG stream.
#[derive(Debug)]
pub struct Part {
    /// Part headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The JPEG.
    pub jpeg: Vec<u8>,
}

/// Reads the next MJPEG part; the boundary line before it must already be consumed. Checks
/// that the boundary follows the JPEG at once.
pub async fn read_part(body: &mut BodyReader, boundary: &str) -> Part {
    let head = body.read_until(b"\r\n\r\n").await;
    let headers: Vec<(String, String)> = String::from_utf8(head)
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').expect("part header");
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let len: usize = header(&headers, "content-length")
        .expect("part content-length")
        .parse()
        .unwrap();
    let jpeg = body.read_exact(len).await;
    let after = body.read_exact(boundary.len() + 6).await;
    assert_eq!(
        after,
        format!("\r\n--{boundary}\r\n").as_bytes(),
        "boundary must follow the frame at once"
    );
    Part { headers, jpeg }
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
