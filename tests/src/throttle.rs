//! A reader held to a byte rate, as a viewer on a slow link (e.g. 2 Mbit/s) reads: the socket
//! is read no faster than the rate allows, so the backlog builds up where it would on a real
//! slow link — in the server's send queue and the client's receive buffer.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes per second and what has been read so far. The rate can be changed while reading
/// (a link that degrades or clears) through [`Throttle::rate`].
#[derive(Debug)]
pub struct Throttle {
    rate: Arc<AtomicU64>,
    bytes_per_second: u64,
    started: Instant,
    read: u64,
}

/// Largest read at once: small, so the rate is smooth.
const CHUNK: usize = 16 * 1024;

impl Throttle {
    /// A budget of `bytes_per_second`, starting now.
    pub fn new(bytes_per_second: u64) -> Throttle {
        let bytes_per_second = bytes_per_second.max(1);
        Throttle {
            rate: Arc::new(AtomicU64::new(bytes_per_second)),
            bytes_per_second,
            started: Instant::now(),
            read: 0,
        }
    }

    /// The rate in force, bytes per second; storing into it changes the rate from then on.
    pub fn rate(&self) -> Arc<AtomicU64> {
        self.rate.clone()
    }

    /// When the next read may happen (now, if the budget allows).
    pub fn next_read_at(&mut self) -> Instant {
        let rate = self.rate.load(Ordering::Relaxed).max(1);
        if rate != self.bytes_per_second {
            // A new rate counts from now.
            (self.bytes_per_second, self.started, self.read) = (rate, Instant::now(), 0);
        }
        self.started + Duration::from_secs_f64(self.read as f64 / self.bytes_per_second as f64)
    }

    /// Waits until the budget allows the next read.
    pub async fn wait(&mut self) {
        tokio::time::sleep_until(self.next_read_at()).await;
    }

    /// Counts `n` bytes read.
    pub fn record(&mut self, n: usize) {
        self.read += n as u64;
    }

    /// The most to read at once.
    pub const CHUNK: usize = CHUNK;
}

/// An I/O stream whose reads are held to a [`Throttle`]; writes pass through.
#[derive(Debug)]
pub struct Throttled<S> {
    inner: S,
    throttle: Throttle,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S> Throttled<S> {
    /// Wraps `inner`, reading at most `bytes_per_second`.
    pub fn new(inner: S, bytes_per_second: u64) -> Throttled<S> {
        Throttled { inner, throttle: Throttle::new(bytes_per_second), sleep: None }
    }

    /// The rate in force (see [`Throttle::rate`]).
    pub fn rate(&self) -> Arc<AtomicU64> {
        self.throttle.rate()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Throttled<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let at = this.throttle.next_read_at();
        if at > Instant::now() {
            let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            sleep.as_mut().reset(at);
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let mut chunk = [0u8; CHUNK];
        let room = buf.remaining().min(CHUNK);
        let mut limited = ReadBuf::new(&mut chunk[..room]);
        let poll = Pin::new(&mut this.inner).poll_read(cx, &mut limited);
        if let Poll::Ready(Ok(())) = poll {
            let n = limited.filled().len();
            buf.put_slice(limited.filled());
            this.throttle.record(n);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Throttled<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_are_held_to_the_rate() {
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        tx.write_all(&vec![7u8; 200_000]).await.unwrap();
        drop(tx);
        let mut slow = Throttled::new(rx, 400_000);
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        slow.read_to_end(&mut out).await.unwrap();
        let took = started.elapsed().as_secs_f64();
        assert_eq!(out.len(), 200_000);
        assert!((0.4..1.5).contains(&took), "200 KB at 400 KB/s took {took:.2} s");
    }
}
