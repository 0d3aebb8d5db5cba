//! One WebSocket session: what every WebSocket endpoint does on its connection, whatever it
//! carries. The viewers (`/ws`) and the push ingest (`/api/cameras/NAME/ingest`) both run on
//! it, so each of these is written once:
//!
//! - taking the client's next message ([`Session::wait`], then [`Session::take`]): pings are
//!   answered by the connection, a close frame is answered with the client's code, a broken
//!   frame closes with the matching code (1002, 1007, 1009), a client silent for three
//!   keepalive intervals is dropped, and at shutdown the session closes with 1001;
//! - sending a frame message (`[u16 N][JSON header][payload]`, stamped with the send time,
//!   the payload written from the caller's buffer without a copy) and a text message, each
//!   given up after [`SEND_TIMEOUT`] without progress or at shutdown ([`Session::send_frame`],
//!   [`Session::send`]);
//! - answering a refused message with an `error` and closing (1008) a client that keeps
//!   sending them ([`Session::refuse`], [`AbuseCounter`]).
//!
//! Waiting and acting are two calls because the endpoints wait in a `select!` beside their
//! own work: [`Session::wait`] is cancel-safe, and [`Session::take`] (which may write a
//! close frame or a ping) runs in the arm's body, where nothing can cut a write in half.
//!
//! Generic over the byte stream (a TCP or TLS connection, or an in-memory pipe in tests).

use std::time::Duration;

use bytes::Bytes;
use framecast_shared::{ErrorCode, FrameHeader, ServerMessage, unix_micros_now};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::wsconn::{Incoming, ReadError, WsConn, close_code};

/// A send that makes no progress for this long means the client is gone.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Bad messages within [`ABUSE_WINDOW`] after which the connection is closed.
pub const MAX_BAD_MESSAGES: u32 = 10;
/// See [`MAX_BAD_MESSAGES`].
pub const ABUSE_WINDOW: Duration = Duration::from_secs(10);

/// Keepalive intervals without a word from the client after which it counts as gone.
const SILENT_INTERVALS: u32 = 3;

/// The session is over: the client left, failed, misbehaved, or the server shuts down. The
/// connection has been closed as far as it can be; the caller only stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended;

/// A message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message, as it was unmasked in the read buffer (no copy).
    Binary(Bytes),
}

/// What woke a session; hand it to [`Session::take`].
#[derive(Debug)]
pub struct Wake(WakeKind);

#[derive(Debug)]
enum WakeKind {
    Shutdown,
    Keepalive,
    Incoming(Option<Result<Incoming, ReadError>>),
}

/// Pings on a schedule, and the last time the client was heard.
#[derive(Debug)]
struct Keepalive {
    every: Duration,
    tick: Interval,
    last_heard: Instant,
}

/// One client's WebSocket session (see the module doc).
#[derive(Debug)]
pub struct Session<S> {
    conn: WsConn<S>,
    shutdown: CancellationToken,
    keepalive: Option<Keepalive>,
    abuse: AbuseCounter,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    /// A session on `conn` that ends at `shutdown`, and pings every `keepalive` (dropping a
    /// client silent for three of them) when given one.
    pub fn new(conn: WsConn<S>, shutdown: CancellationToken, keepalive: Option<Duration>) -> Session<S> {
        let keepalive = keepalive.map(|every| {
            let mut tick = tokio::time::interval_at(Instant::now() + every, every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            Keepalive { every, tick, last_heard: Instant::now() }
        });
        Session { conn, shutdown, keepalive, abuse: AbuseCounter::default() }
    }

    /// Waits for something to do on the connection: a message (or a close, or a broken
    /// frame), the keepalive, or the shutdown. Cancel-safe.
    pub async fn wait(&mut self) -> Wake {
        let keepalive = async {
            match self.keepalive.as_mut() {
                Some(keepalive) => keepalive.tick.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.shutdown.cancelled() => Wake(WakeKind::Shutdown),
            _ = keepalive => Wake(WakeKind::Keepalive),
            incoming = self.conn.next() => Wake(WakeKind::Incoming(incoming)),
        }
    }

    /// Acts on what [`Session::wait`] saw: a client message comes back; pings, closes and
    /// keepalives are dealt with here (`Ok(None)`); `Err(Ended)` once the session is over.
    /// Not cancel-safe: call it in the body of a `select!` arm.
    pub async fn take(&mut self, wake: Wake) -> Result<Option<Message>, Ended> {
        let incoming = match wake.0 {
            WakeKind::Shutdown => {
                self.conn.close(close_code::GOING_AWAY, "server shutting down").await;
                return Err(Ended);
            }
            WakeKind::Keepalive => {
                let Some(keepalive) = &self.keepalive else { return Ok(None) };
                let silent = keepalive.last_heard.elapsed();
                if silent >= keepalive.every * SILENT_INTERVALS {
                    tracing::debug!("client silent for {silent:?}; dropping it");
                    return Err(Ended);
                }
                sent(&self.shutdown, self.conn.send_ping()).await?;
                return Ok(None);
            }
            WakeKind::Incoming(incoming) => incoming,
        };
        if let Some(keepalive) = &mut self.keepalive {
            keepalive.last_heard = Instant::now();
        }
        match incoming {
            None => Err(Ended),
            Some(Err(e)) => {
                tracing::debug!("client dropped: {e}");
                self.conn.close_for_error(&e).await;
                Err(Ended)
            }
            Some(Ok(Incoming::Close(code))) => {
                self.conn.answer_close(code).await;
                Err(Ended)
            }
            Some(Ok(Incoming::Text(text))) => Ok(Some(Message::Text(text))),
            Some(Ok(Incoming::Binary(bytes))) => Ok(Some(Message::Binary(bytes))),
            // Pings are answered by the connection itself.
            Some(Ok(Incoming::Control)) => Ok(None),
        }
    }

    /// At the end of a session: when the server is shutting down and the session ended
    /// another way than through [`Session::take`]'s close (a send cut short by the shutdown,
    /// or its camera stopping first), the close frame with 1001 goes out now, so every client
    /// hears why. Nothing when the framing was lost or a close went out already.
    pub async fn end(&mut self) {
        if self.shutdown.is_cancelled() && self.conn.can_close() {
            self.conn.close(close_code::GOING_AWAY, "server shutting down").await;
        }
    }

    /// Sends a text message: an `error` is counted as a refusal (see [`Session::refuse`]).
    pub async fn send(&mut self, message: &ServerMessage) -> Result<(), Ended> {
        if let ServerMessage::Error { code, message } = message {
            return self.refuse(*code, message).await;
        }
        self.send_json(message).await
    }

    /// Tells the client its message was refused, and closes (1008) a client that has had
    /// [`MAX_BAD_MESSAGES`] refusals within [`ABUSE_WINDOW`]: honest clients make a mistake
    /// now and then; a flood is not a mistake.
    pub async fn refuse(&mut self, code: ErrorCode, message: &str) -> Result<(), Ended> {
        self.send_json(&ServerMessage::Error { code, message: message.to_string() }).await?;
        if self.abuse.count(Instant::now()) {
            self.conn.close(close_code::POLICY, "too many bad messages").await;
            return Err(Ended);
        }
        Ok(())
    }

    /// Sends one frame message: `header` (its `sent_us` set to now) and `payload`, which goes
    /// out from the caller's buffer as it is.
    pub async fn send_frame(&mut self, header: FrameHeader, payload: &[u8]) -> Result<(), Ended> {
        let header = FrameHeader { sent_us: unix_micros_now(), ..header };
        let prefix = match header.encode_prefix() {
            Ok(prefix) => prefix,
            Err(e) => {
                // Only an absurdly long camera id could make this fail; end rather than loop.
                tracing::error!("cannot build frame message: {e}");
                return Err(Ended);
            }
        };
        sent(&self.shutdown, self.conn.send_binary(&[&prefix, payload])).await
    }

    /// Closes the session from this side with `code` and `reason`.
    pub async fn close(mut self, code: u16, reason: &str) {
        self.conn.close(code, reason).await;
    }

    async fn send_json(&mut self, message: &ServerMessage) -> Result<(), Ended> {
        let text = message.to_json();
        sent(&self.shutdown, self.conn.send_text(&text)).await
    }
}

/// Runs one send; `Ended` when the client is gone, stuck for [`SEND_TIMEOUT`], or the server
/// is shutting down.
async fn sent(
    shutdown: &CancellationToken,
    sending: impl std::future::Future<Output = std::io::Result<()>>,
) -> Result<(), Ended> {
    tokio::select! {
        _ = shutdown.cancelled() => Err(Ended),
        sent = tokio::time::timeout(SEND_TIMEOUT, sending) => match sent {
            Ok(Ok(())) => Ok(()),
            _ => Err(Ended),
        },
    }
}

/// Counts refused messages; over [`MAX_BAD_MESSAGES`] within [`ABUSE_WINDOW`] the client is
/// closed.
#[derive(Debug, Default)]
pub struct AbuseCounter {
    count: u32,
    since: Option<Instant>,
}

impl AbuseCounter {
    /// Counts one refused message at `now`; true when the client should be closed.
    pub fn count(&mut self, now: Instant) -> bool {
        if self.since.is_none_or(|since| now.duration_since(since) >= ABUSE_WINDOW) {
            *self = AbuseCounter { count: 0, since: Some(now) };
        }
        self.count += 1;
        self.count >= MAX_BAD_MESSAGES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
