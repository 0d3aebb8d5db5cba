//! A small HTTP/1.1 client written against the raw socket, as the tests and the load
//! generator need it: control over reading speed, de-chunking, and MJPEG part parsing that
//! checks the wire format exactly.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Header name (lower case) and value pairs.
pub type Headers = Vec<(String, String)>;

/// A response whose body has not been read yet.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers with lower-case names.
    pub headers: Headers,
    /// The body, de-chunked.
    pub body: BodyReader,
}

/// A minimal HTTP/1.1 GET over a raw socket: the status, the headers, and the connection
/// positioned at the start of the body.
pub async fn get(addr: SocketAddr, path: &str) -> io::Result<Response> {
    request(addr, "GET", path, &[], &[]).await
}

/// Any request: `extra` headers (name, value) and a body (sent with its Content-Length).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    request_from(None, addr, method, path, extra, body).await
}

/// [`request`] from a chosen local address (any of 127.0.0.0/8 works on loopback), to act as
/// several client hosts.
pub async fn request_from(
    local: Option<IpAddr>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut stream = connect_from(local, addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: framecast-client\r\n");
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut body = BodyReader {
        stream,
        buf: Vec::new(),
        raw: Vec::new(),
        chunked: false,
        chunk_left: 0,
        need_crlf: false,
        ended: false,
        throttle: None,
    };
    let head = body.read_until(b"\r\n\r\n").await?;
    let text = String::from_utf8(head).map_err(|_| invalid("response headers are not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let headers = parse_headers(lines)?;
    if header(&headers, "transfer-encoding") == Some("chunked") {
        body.chunked = true;
        body.raw = std::mem::take(&mut body.buf);
        body.decode_raw()?;
    }
    Ok(Response { status, headers, body })
}

/// A TCP connection to `addr` from `local` (port chosen by the system), or from the default
/// address.
pub async fn connect_from(local: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    match local {
        None => TcpStream::connect(addr).await,
        Some(ip) => {
            let socket = if ip.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(addr).await
        }
    }
}

/// Fetches a whole (non-streaming) response: status, headers, body.
pub async fn get_body(addr: SocketAddr, path: &str) -> io::Result<(u16, Headers, Vec<u8>)> {
    let mut response = get(addr, path).await?;
    let bytes = match header(&response.headers, "content-length") {
        Some(len) => {
            let len = len.parse().map_err(|_| invalid("bad content-length"))?;
            response.body.read_exact(len).await?
        }
        None => response.body.read_to_end().await?,
    };
    Ok((response.status, response.headers, bytes))
}

/// A header's value.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn parse_headers<'a>(lines: impl Iterator<Item = &'a str>) -> io::Result<Headers> {
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').ok_or_else(|| invalid("header line without ':'"))?;
            Ok((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

/// A response body read by hand from the socket, with chunked transfer decoding.
#[derive(Debug)]
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
    /// Holds reading to a byte rate (a viewer on a slow link).
    pub throttle: Option<crate::throttle::Throttle>,
}

impl BodyReader {
    /// Reads until `delimiter` and returns everything up to and including it.
    pub async fn read_until(&mut self, delimiter: &[u8]) -> io::Result<Vec<u8>> {
        let mut searched: usize = 0;
        loop {
            let from = searched.saturating_sub(delimiter.len());
            if let Some(pos) = self.buf[from..].windows(delimiter.len()).position(|w| w == delimiter) {
                let rest = self.buf.split_off(from + pos + delimiter.len());
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            searched = self.buf.len();
            if !self.fill().await? {
                return Err(eof());
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub async fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(eof());
            }
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    /// Reads and discards `n` bytes without keeping them (for load generation).
    pub async fn skip(&mut self, mut n: usize) -> io::Result<()> {
        loop {
            let take = n.min(self.buf.len());
            self.buf.drain(..take);
            n -= take;
            if n == 0 {
                return Ok(());
            }
            if !self.fill().await? {
                return Err(eof());
            }
        }
    }

    /// Reads what comes next and discards it: how many body bytes; 0 at the end of the body.
    pub async fn read_some(&mut self) -> io::Result<usize> {
        if self.buf.is_empty() && !self.fill().await? {
            return Ok(0);
        }
        let n = self.buf.len();
        self.buf.clear();
        Ok(n)
    }

    /// Reads until the body ends; returns what came.
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? {}
        Ok(std::mem::take(&mut self.buf))
    }

    /// Whether the body ends (the peer closes, or the last chunk comes) within `limit`.
    pub async fn ends_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, async {
            while let Ok(true) = self.fill().await {
                self.buf.clear();
            }
        })
        .await
        .is_ok()
    }

    /// Reads more body bytes; false at the end of the body.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 64 * 1024];
        let max = if self.throttle.is_some() { crate::throttle::Throttle::CHUNK } else { chunk.len() };
        loop {
            if self.ended {
                return Ok(false);
            }
            let before = self.buf.len();
            if self.chunked {
                self.decode_raw()?;
                if self.buf.len() > before {
                    return Ok(true);
                }
                if self.ended {
                    return Ok(false);
                }
            }
            if let Some(throttle) = &mut self.throttle {
                throttle.wait().await;
            }
            let n = self.stream.read(&mut chunk[..max]).await?;
            if let Some(throttle) = &mut self.throttle {
                throttle.record(n);
            }
            if n == 0 {
                self.ended = true;
                return Ok(false);
            }
            if self.chunked {
                self.raw.extend_from_slice(&chunk[..n]);
            } else {
                self.buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
        }
    }

    /// Moves whole chunk payloads from `raw` to `buf`.
    fn decode_raw(&mut self) -> io::Result<()> {
        loop {
            if self.chunk_left > 0 {
                let take = self.chunk_left.min(self.raw.len());
                if take == 0 {
                    return Ok(());
                }
                self.buf.extend(self.raw.drain(..take));
                self.chunk_left -= take;
                self.need_crlf = self.chunk_left == 0;
                continue;
            }
            if self.need_crlf {
                if self.raw.len() < 2 {
                    return Ok(());
                }
                if &self.raw[..2] != b"\r\n" {
                    return Err(invalid("chunk not followed by CRLF"));
                }
                self.raw.drain(..2);
                self.need_crlf = false;
                continue;
            }
            let Some(pos) = self.raw.windows(2).position(|w| w == b"\r\n") else { return Ok(()) };
            let line = String::from_utf8_lossy(&self.raw[..pos]).to_string();
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid("bad chunk size"))?;
            self.raw.drain(..pos + 2);
            if size == 0 {
                self.ended = true;
                return Ok(());
            }
            self.chunk_left = size;
        }
    }
}

/// One part of an MJPEG stream.
#[derive(Debug)]
pub struct Part {
    /// Part headers, lower-case names.
    pub headers: Headers,
    /// The JPEG (empty when read with `keep_jpeg = false`).
    pub jpeg: Vec<u8>,
    /// Length of the JPEG.
    pub len: usize,
}

/// Reads the next MJPEG part; the boundary line before it must already be consumed. Fails
/// unless the next boundary follows the JPEG at once.
pub async fn read_part(body: &mut BodyReader, boundary: &str, keep_jpeg: bool) -> io::Result<Part> {
    let head = body.read_until(b"\r\n\r\n").await?;
    let text = String::from_utf8(head).map_err(|_| invalid("part headers are not UTF-8"))?;
    let headers = parse_headers(text.split("\r\n"))?;
    let len: usize = header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| invalid("part without a valid content-length"))?;
    let jpeg = if keep_jpeg {
        body.read_exact(len).await?
    } else {
        body.skip(len).await?;
        Vec::new()
    };
    let after = body.read_exact(boundary.len() + 6).await?;
    if after != format!("\r\n--{boundary}\r\n").as_bytes() {
        return Err(invalid("the boundary does not follow the frame at once"));
    }
    Ok(Part { headers, jpeg, len })
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the body ended early")
}
