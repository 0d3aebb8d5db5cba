//! A minimal RFC 6455 WebSocket server connection, written for the frame path.
//!
//! Why not tungstenite: it copies every outgoing message into a per-connection write buffer
//! (about 300 KB of memory per viewer at 720p, and a 100 KB copy per frame per viewer). Here a
//! frame message goes out as one vectored write of `[WebSocket header][frame header][JPEG]`,
//! where the JPEG is the hub's shared `Bytes`: no copy, no per-viewer buffer beyond a few
//! hundred bytes. Only what the viewer protocol needs is implemented: server frames are never
//! fragmented or compressed; client frames must be masked, may be fragmented, and are small.
//!
//! [`upgrade`] checks the upgrade request, answers `101` and hands the connection to a task;
//! [`WsConn`] reads messages (cancel-safe, so it can sit in a `select!`) and writes them.
//!
//! It is the one WebSocket stack of the server: the viewers (`/ws`) and the push ingest
//! (`/api/cameras/NAME/ingest`) both run on it. The ingest receives large binary messages
//! (JPEGs of up to `--push-max-bytes`): they are unmasked in place in the read buffer and
//! handed over as `Bytes` without another copy, so a pushed frame reaches the hub as it
//! arrived. Close frames are checked as RFC 6455 §7.4 says (see [`close_frame`]), and every
//! case of the Autobahn|Testsuite but compression is run against this code in the tests
//! (`tests/tests/e2e/autobahn.rs`, over the `ws-echo` harness).

use std::future::Future;
use std::io::{self, IoSlice};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::{Buf, Bytes, BytesMut};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long a close frame may take to go out before the connection is dropped anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(200);

/// Why an upgrade request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Not a WebSocket upgrade, or a version other than 13.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Checks a WebSocket upgrade request; returns the `Sec-WebSocket-Accept` value.
fn accept(method: &axum::http::Method, headers: &HeaderMap) -> Result<HeaderValue, HandshakeError> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if method != axum::http::Method::GET {
        return Err(HandshakeError::Invalid("a WebSocket upgrade must be a GET"));
    }
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err(HandshakeError::Invalid("this endpoint needs a WebSocket upgrade (Upgrade: websocket)"));
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err(HandshakeError::Invalid("unsupported WebSocket version; use 13"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| k.len() <= 64)
        .ok_or(HandshakeError::Invalid("missing Sec-WebSocket-Key"))?;
    Ok(accept_key(key.as_bytes()))
}

/// `base64(sha1(key + GUID))`, the handshake's proof.
fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let encoded = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

/// The answer to a refused handshake.
fn refusal(e: &HandshakeError) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, format!("{e}\n"))
}

/// The upgraded connection [`upgrade`] hands over.
pub type Upgrade = WsConn<TokioIo<Upgraded>>;

/// Answers a WebSocket upgrade request: `101` and, once hyper hands the connection over,
/// `serve` runs on it in its own task (messages over `max_message` bytes end it). A request
/// that is not a valid upgrade gets a `400` with the reason. Callers check what they need
/// (origin, token, camera) before.
pub fn upgrade<F, Fut>(request: &mut Request, max_message: usize, serve: F) -> Response
where
    F: FnOnce(Upgrade) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let accept = match accept(request.method(), request.headers()) {
        Ok(accept) => accept,
        Err(e) => return refusal(&e).into_response(),
    };
    let on_upgrade = hyper::upgrade::on(request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => serve(WsConn::new(TokioIo::new(upgraded), max_message)).await,
            Err(e) => tracing::debug!("WebSocket upgrade failed: {e}"),
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}

/// Opcodes.
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Close codes used here.
pub mod close_code {
    /// Normal closure, the answer to a client's close without a code.
    pub const NORMAL: u16 = 1000;
    /// Going away: the server shuts down.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error (bad framing).
    pub const PROTOCOL: u16 = 1002;
    /// Text that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// Policy violation: a client that keeps sending bad messages.
    pub const POLICY: u16 = 1008;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
}

/// A message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message.
    Text(String),
    /// A binary message, as it was unmasked in the read buffer (no copy).
    Binary(Bytes),
    /// A ping (answered by [`WsConn`] itself), or a pong.
    Control,
    /// A close frame, with its code if any.
    Close(Option<u16>),
}

/// Why reading from the client failed; the connection should be closed with [`Self::code`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Framing the protocol forbids.
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    /// A message over the limit.
    #[error("message larger than {0} bytes")]
    TooBig(usize),
    /// Text that is not UTF-8.
    #[error("text message is not UTF-8")]
    NotUtf8,
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl ReadError {
    /// The close code to send, if the socket is still usable.
    pub fn code(&self) -> Option<u16> {
        match self {
            ReadError::Protocol(_) => Some(close_code::PROTOCOL),
            ReadError::TooBig(_) => Some(close_code::TOO_BIG),
            ReadError::NotUtf8 => Some(close_code::INVALID_DATA),
            ReadError::Io(_) => None,
        }
    }
}

/// One parsed client frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// Last frame of its message.
    pub fin: bool,
    /// The frame's opcode.
    pub opcode: u8,
    /// The unmasked payload, split off the read buffer.
    pub payload: BytesMut,
}

/// Parses one masked client frame from the front of `buf`, consuming it. `None`: more bytes
/// are needed. Payloads over `max` are refused before they are buffered. Public for the
/// fuzzer (`fuzz/checks/wsframe.rs`).
pub fn parse_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Frame>, ReadError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(ReadError::Protocol("reserved bits set (no extension was agreed)"));
    }
    let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0F);
    if b1 & 0x80 == 0 {
        return Err(ReadError::Protocol("client frames must be masked"));
    }
    let (len, at) = match b1 & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")), 10),
        126 | 127 => return Ok(None),
        n => (n as u64, 2),
    };
    if opcode >= CLOSE && (!fin || len > 125) {
        return Err(ReadError::Protocol("control frames must be whole and at most 125 bytes"));
    }
    if len > max as u64 {
        return Err(ReadError::TooBig(max));
    }
    let len = len as usize;
    if buf.len() < at + 4 + len {
        buf.reserve(at + 4 + len - buf.len());
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    buf.advance(at + 4);
    let mut payload = buf.split_to(len);
    unmask(&mut payload, mask);
    Ok(Some(Frame { fin, opcode, payload }))
}

/// XORs `payload` with the client's mask, four bytes at a time.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let mut words = payload.chunks_exact_mut(4);
    for word in &mut words {
        for (b, m) in word.iter_mut().zip(mask) {
            *b ^= m;
        }
    }
    for (b, m) in words.into_remainder().iter_mut().zip(mask) {
        *b ^= m;
    }
}

/// The header of an unmasked, unfragmented server frame with `len` payload bytes.
fn frame_head(opcode: u8, len: usize, out: &mut [u8; 10]) -> usize {
    out[0] = 0x80 | opcode;
    if len < 126 {
        out[1] = len as u8;
        2
    } else if len <= u16::MAX as usize {
        out[1] = 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// A WebSocket connection after the handshake.
#[derive(Debug)]
pub struct WsConn<S> {
    io: S,
    read_buf: BytesMut,
    /// A fragmented message being assembled.
    partial: Option<Partial>,
    max_message: usize,
    /// Pings waiting for their pong (answered before the next read).
    pong_due: Option<Vec<u8>>,
    /// A frame's write began and did not finish (its future was dropped part-way): the
    /// stream's framing is lost, nothing more may be written.
    torn: bool,
    /// A close frame went out: nothing more may be written.
    close_sent: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsConn<S> {
    /// Wraps an upgraded connection; client messages over `max_message` bytes end it.
    pub fn new(io: S, max_message: usize) -> WsConn<S> {
        WsConn {
            io,
            read_buf: BytesMut::with_capacity(256),
            partial: None,
            max_message,
            pong_due: None,
            torn: false,
            close_sent: false,
        }
    }

    /// The next message. Cancel-safe: bytes read are kept in the connection, so a `select!`
    /// may drop this future at any await. `None` when the client closed the socket.
    pub async fn next(&mut self) -> Option<Result<Incoming, ReadError>> {
        loop {
            if let Some(payload) = self.pong_due.take()
                && let Err(e) = self.send(PONG, &[&payload]).await
            {
                return Some(Err(e.into()));
            }
            match self.next_buffered() {
                Ok(Some(message)) => return Some(Ok(message)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match self.io.read_buf(&mut self.read_buf).await {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    /// A whole message from the bytes already read, if there is one.
    fn next_buffered(&mut self) -> Result<Option<Incoming>, ReadError> {
        while let Some(frame) = parse_frame(&mut self.read_buf, self.max_message)? {
            match frame.opcode {
                PING => {
                    self.pong_due = Some(frame.payload.to_vec());
                    return Ok(Some(Incoming::Control));
                }
                PONG => return Ok(Some(Incoming::Control)),
                CLOSE => return close_frame(&frame.payload).map(|code| Some(Incoming::Close(code))),
                TEXT | BINARY if self.partial.is_none() => {
                    if frame.fin {
                        return finish(frame.opcode, frame.payload).map(Some);
                    }
                    let mut partial = Partial { opcode: frame.opcode, bytes: frame.payload, valid_to: 0 };
                    partial.check_text()?;
                    self.partial = Some(partial);
                }
                CONTINUATION => {
                    let Some(mut partial) = self.partial.take() else {
                        return Err(ReadError::Protocol("continuation without a message"));
                    };
                    if partial.bytes.len() + frame.payload.len() > self.max_message {
                        return Err(ReadError::TooBig(self.max_message));
                    }
                    partial.bytes.extend_from_slice(&frame.payload);
                    if frame.fin {
                        return finish(partial.opcode, partial.bytes).map(Some);
                    }
                    partial.check_text()?;
                    self.partial = Some(partial);
                }
                TEXT | BINARY => return Err(ReadError::Protocol("new message inside a fragmented one")),
                _ => return Err(ReadError::Protocol("unknown opcode")),
            }
        }
        Ok(None)
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send(TEXT, &[text.as_bytes()]).await
    }

    /// Sends one binary message made of `parts` back to back, without joining them.
    pub async fn send_binary(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        self.send(BINARY, parts).await
    }

    /// Sends a ping.
    pub async fn send_ping(&mut self) -> io::Result<()> {
        self.send(PING, &[]).await
    }

    /// Sends a close frame with `code` and `reason` (at most 123 bytes of it) and flushes.
    pub async fn send_close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        let reason = &reason.as_bytes()[..reason.floor_char_boundary(123)];
        self.close_sent = true;
        self.send(CLOSE, &[&code.to_be_bytes(), reason]).await?;
        self.io.flush().await
    }

    /// Whether a close frame may still be sent: none went out yet, and no frame was cut off
    /// part-way.
    pub fn can_close(&self) -> bool {
        !self.close_sent && !self.torn
    }

    /// Closes the connection from this side: a close frame with `code` and `reason`, then
    /// what the client still sends is read until its own close frame arrives or it hangs
    /// up, all within [`CLOSE_TIMEOUT`]. Reading it matters: a socket dropped with unread
    /// bytes sends a reset, which can destroy the close frame before the client reads it.
    pub async fn close(&mut self, code: u16, reason: &str) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            if self.send_close(code, reason).await.is_err() {
                return;
            }
            loop {
                match self.next_buffered() {
                    Ok(Some(Incoming::Close(_))) => return,
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    // The framing is lost: just read until the client hangs up.
                    Err(_) => self.read_buf.clear(),
                }
                match self.io.read_buf(&mut self.read_buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }

    /// Ends the connection after a read error: a close frame with the error's code (1002,
    /// 1007, 1009) while the socket is still usable; a failed socket is simply dropped.
    pub async fn close_for_error(&mut self, e: &ReadError) {
        if let Some(code) = e.code() {
            self.close(code, &e.to_string()).await;
        }
    }

    /// Answers the client's close frame: its own code echoed (RFC 6455 §5.5.1), or
    /// [`close_code::NORMAL`] when it gave none. The caller drops the connection after it.
    pub async fn answer_close(&mut self, code: Option<u16>) {
        let code = code.unwrap_or(close_code::NORMAL);
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.send_close(code, "")).await;
    }

    /// One unfragmented frame: header and parts in vectored writes, no copy of the parts.
    async fn send(&mut self, opcode: u8, parts: &[&[u8]]) -> io::Result<()> {
        let len = parts.iter().map(|p| p.len()).sum();
        let mut head = [0u8; 10];
        let head_len = frame_head(opcode, len, &mut head);
        let mut slices: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
        slices.push(&head[..head_len]);
        slices.extend(parts.iter().copied().filter(|p| !p.is_empty()));
        if self.torn {
            return Err(io::Error::other("an earlier frame was cut off part-way"));
        }
        self.torn = true;
        write_all_vectored(&mut self.io, &mut slices).await?;
        self.torn = false;
        Ok(())
    }
}

/// Reads a close frame's payload as RFC 6455 §5.5.1 and §7.4 allow it: empty, or a status
/// code a peer may send (1000–1003, 1007–1014, 3000–4999) and a UTF-8 reason. Anything else
/// is a protocol error (answered with 1002), a reason that is not UTF-8 is 1007.
fn close_frame(payload: &[u8]) -> Result<Option<u16>, ReadError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ReadError::Protocol("close frame with a one-byte payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(ReadError::Protocol("close frame with a status code a peer may not send"));
            }
            std::str::from_utf8(reason).map_err(|_| ReadError::NotUtf8)?;
            Ok(Some(code))
        }
    }
}

/// A fragmented message being assembled.
#[derive(Debug)]
struct Partial {
    opcode: u8,
    bytes: BytesMut,
    /// How much of a text message is known to be valid UTF-8.
    valid_to: usize,
}

impl Partial {
    /// Fails as soon as a text message's fragments so far cannot begin valid UTF-8 (not only
    /// when the message ends); a sequence cut between fragments is fine.
    fn check_text(&mut self) -> Result<(), ReadError> {
        if self.opcode != TEXT {
            return Ok(());
        }
        match std::str::from_utf8(&self.bytes[self.valid_to..]) {
            Ok(_) => self.valid_to = self.bytes.len(),
            Err(e) if e.error_len().is_none() => self.valid_to += e.valid_up_to(),
            Err(_) => return Err(ReadError::NotUtf8),
        }
        Ok(())
    }
}

fn finish(opcode: u8, bytes: BytesMut) -> Result<Incoming, ReadError> {
    if opcode == TEXT {
        String::from_utf8(Vec::from(bytes)).map(Incoming::Text).map_err(|_| ReadError::NotUtf8)
    } else {
        Ok(Incoming::Binary(bytes.freeze()))
    }
}

/// Writes every byte of `slices` with as few system calls as the socket allows.
async fn write_all_vectored<W: AsyncWrite + Unpin>(io: &mut W, slices: &mut Vec<&[u8]>) -> io::Result<()> {
    while !slices.is_empty() {
        let iov: Vec<IoSlice<'_>> = slices.iter().map(|s| IoSlice::new(s)).collect();
        let mut written = io.write_vectored(&iov).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            if written >= slices[0].len() {
                written -= slices[0].len();
                slices.remove(0);
            } else {
                slices[0] = &slices[0][written..];
                written = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 65535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    /// Autobahn cases 7.3.2, 7.5.1, 7.7.x and 7.9.x: what a close frame may carry.
    #[test]
    fn close_frames_are_checked_as_rfc_6455_says() {
        let with = |code: u16, reason: &[u8]| [&code.to_be_bytes()[..], reason].concat();
        assert_eq!(close_frame(&[]).unwrap(), None);
        for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] {
            assert_eq!(close_frame(&with(code, b"bye")).unwrap(), Some(code), "{code}");
        }
        assert_eq!(close_frame(&[0x03]).unwrap_err().code(), Some(close_code::PROTOCOL));
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert_eq!(
                close_frame(&with(code, b"")).unwrap_err().code(),
                Some(close_code::PROTOCOL),
                "{code}"
            );
        }
        let not_utf8 = with(1000, &[0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xFF]);
        assert_eq!(close_frame(&not_utf8).unwrap_err().code(), Some(close_code::INVALID_DATA));
    }

    #[test]
    fn the_accept_key_matches_rfc_6455() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn frames_parse_at_every_split_and_length_form() {
        for len in [0usize, 5, 125, 126, 300, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let wire = masked(true, BINARY, &payload);
            for split in [0, 1, 2, 3, wire.len() / 2, wire.len() - 1] {
                let mut buf = BytesMut::from(&wire[..split]);
                assert_eq!(parse_frame(&mut buf, 1 << 20).unwrap(), None, "len {len} split {split}");
                buf.extend_from_slice(&wire[split..]);
                let frame = parse_frame(&mut buf, 1 << 20).unwrap().unwrap();
                assert_eq!((frame.fin, frame.opcode, frame.payload.len()), (true, BINARY, len));
                assert_eq!(frame.payload, payload);
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn bad_frames_are_refused() {
        let unmasked = [0x81, 0x02, b'h', b'i'];
        assert!(matches!(parse_frame(&mut BytesMut::from(&unmasked[..]), 100), Err(ReadError::Protocol(_))));
        let mut reserved = masked(true, TEXT, b"x");
        reserved[0] |= 0x40;
        assert!(matches!(parse_frame(&mut BytesMut::from(&reserved[..]), 100), Err(ReadError::Protocol(_))));
        let long_ping = masked(true, PING, &[0; 126]);
        assert!(matches!(
            parse_frame(&mut BytesMut::from(&long_ping[..]), 1000),
            Err(ReadError::Protocol(_))
        ));
        // Too big is known from the header alone, before the payload is buffered.
        let big = masked(true, TEXT, &[b'a'; 5000]);
        assert!(matches!(parse_frame(&mut BytesMut::from(&big[..10]), 4096), Err(ReadError::TooBig(4096))));
    }

    #[test]
    fn server_headers_use_the_shortest_length_form() {
        let mut head = [0u8; 10];
        assert_eq!(frame_head(BINARY, 125, &mut head), 2);
        assert_eq!(&head[..2], &[0x82, 125]);
        assert_eq!(frame_head(BINARY, 126, &mut head), 4);
        assert_eq!(&head[..4], &[0x82, 126, 0, 126]);
        assert_eq!(frame_head(TEXT, 70_000, &mut head), 10);
        assert_eq!(&head[..10], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[tokio::test]
    async fn a_connection_assembles_fragments_answers_pings_and_sends_whole_frames() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let mut conn = WsConn::new(server, 4096);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let mut wire = masked(false, TEXT, b"hel");
        wire.extend(masked(true, PING, b"p"));
        wire.extend(masked(true, CONTINUATION, "lo é".as_bytes()));
        wire.extend(masked(true, BINARY, &[1, 2, 3]));
        wire.extend(masked(true, TEXT, &[0xff, 0xfe]));
        client_write.write_all(&wire).await.unwrap();
        assert_eq!(conn.next().await.unwrap().unwrap(), Incoming::Control);
        assert_eq!(conn.next().await.unwrap().unwrap(), Incoming::Text("hello é".into()));
        assert_eq!(conn.next().await.unwrap().unwrap(), Incoming::Binary(Bytes::from_static(&[1, 2, 3])));
        assert!(matches!(conn.next().await.unwrap(), Err(ReadError::NotUtf8)));
        conn.send_binary(&[b"ab", b"", b"cd"]).await.unwrap();
        let mut got = [0u8; 9];
        client_read.read_exact(&mut got).await.unwrap();
        // The pong (echoing "p"), then one binary frame "abcd".
        assert_eq!(got, [0x8A, 1, b'p', 0x82, 4, b'a', b'b', b'c', b'd']);
        drop(client_write);
        drop(client_read);
        assert!(conn.next().await.is_none());
    }
}
