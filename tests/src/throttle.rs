//! A reader held to a byte rate, as a viewer on a slow link (e.g. 2 Mbit/s) reads: the socket
//! is read no faster than the rate allows, so the backlog builds up where it would on a real
//! slow link — in the server's send queue and the client's receive buffer. [`SlowLink`] puts
//! such a link between a real browser and the server: a proxy on loopback.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
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

/// The most a link carries at once after a quiet spell (what its queues would hold).
const MAX_BURST: Duration = Duration::from_millis(50);

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
        self.next_read_after(Instant::now())
    }

    /// [`Throttle::next_read_at`], it being `now`.
    fn next_read_after(&mut self, now: Instant) -> Instant {
        let rate = self.rate.load(Ordering::Relaxed).max(1);
        if rate != self.bytes_per_second {
            // A new rate counts from now.
            (self.bytes_per_second, self.started, self.read) = (rate, now, 0);
        }
        let due = self.started + Duration::from_secs_f64(self.read as f64 / self.bytes_per_second as f64);
        if due + MAX_BURST < now {
            // A link's unused capacity is gone: after a quiet spell it carries at most a
            // short burst at once, not everything it could have carried meanwhile.
            (self.started, self.read) = (now - MAX_BURST, 0);
            return now - MAX_BURST;
        }
        due
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

/// An I/O stream whose reads are held to a [`Throttle`], its own or one shared with other
/// streams (one link); writes pass through.
#[derive(Debug)]
pub struct Throttled<S> {
    inner: S,
    throttle: Arc<Mutex<Throttle>>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S> Throttled<S> {
    /// Wraps `inner`, reading at most `bytes_per_second`.
    pub fn new(inner: S, bytes_per_second: u64) -> Throttled<S> {
        Throttled::sharing(inner, Arc::new(Mutex::new(Throttle::new(bytes_per_second))))
    }

    /// Wraps `inner`, its reads counted against `throttle` along with every other stream's
    /// that shares it. The lock is never held across a wait or a read.
    pub fn sharing(inner: S, throttle: Arc<Mutex<Throttle>>) -> Throttled<S> {
        Throttled { inner, throttle, sleep: None }
    }

    /// The rate in force (see [`Throttle::rate`]).
    pub fn rate(&self) -> Arc<AtomicU64> {
        self.budget().rate()
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Throttled<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let at = this.budget().next_read_at();
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
            this.budget().record(n);
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

/// A TCP proxy on loopback in front of `upstream` whose downlink (upstream to client) is held
/// to one byte rate shared by all its connections, and whose uplink is not: a phone on a
/// slow link, for a real browser (the page, its WebAssembly and its WebSocket all come
/// through it). Stops when dropped, with every connection through it.
#[derive(Debug)]
pub struct SlowLink {
    /// Where clients connect.
    pub addr: SocketAddr,
    rate: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl SlowLink {
    /// A link to `upstream` carrying `bytes_per_second` towards the client.
    pub async fn start(upstream: SocketAddr, bytes_per_second: u64) -> std::io::Result<SlowLink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let throttle = Throttle::new(bytes_per_second);
        let rate = throttle.rate();
        let throttle = Arc::new(Mutex::new(throttle));
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                connections.spawn(relay(client, upstream, throttle.clone()));
            }
        });
        Ok(SlowLink { addr, rate, accept })
    }

    /// `http://ADDR/PATH` through the link.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The rate in force, bytes per second (see [`Throttle::rate`]).
    pub fn rate(&self) -> Arc<AtomicU64> {
        self.rate.clone()
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        // Dropping the accept task's connection set ends every relay.
        self.accept.abort();
    }
}

/// Carries one connection: the client's bytes at once, the upstream's at the link's rate.
async fn relay(client: TcpStream, upstream: SocketAddr, throttle: Arc<Mutex<Throttle>>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut client_rx, mut client_tx) = client.into_split();
    let (server_rx, mut server_tx) = server.into_split();
    let uplink = async {
        tokio::io::copy(&mut client_rx, &mut server_tx).await?;
        server_tx.shutdown().await
    };
    let downlink = async {
        tokio::io::copy(&mut Throttled::sharing(server_rx, throttle), &mut client_tx).await?;
        client_tx.shutdown().await
    };
    let _ = tokio::try_join!(uplink, downlink);
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

    #[test]
    fn a_quiet_spell_saves_up_no_more_than_a_short_burst() {
        let mut throttle = Throttle::new(100_000);
        let t0 = throttle.started;
        throttle.record(100_000);
        assert_eq!(
            throttle.next_read_after(t0),
            t0 + Duration::from_secs(1),
            "a second's bytes take a second"
        );
        // Nine quiet seconds after that: the next read may go at once, and a burst's worth
        // (50 ms: 5 KB) after it, before the link makes the reader wait again.
        let now = t0 + Duration::from_secs(10);
        assert!(throttle.next_read_after(now) <= now);
        throttle.record(5_000);
        assert_eq!(throttle.next_read_after(now), now);
        throttle.record(5_000);
        assert_eq!(throttle.next_read_after(now), now + Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_slow_link_holds_every_connection_to_one_shared_rate() {
        // An upstream that sends 150 KB to each of two clients, who write a byte first.
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    let mut hello = [0u8; 1];
                    conn.read_exact(&mut hello).await.unwrap();
                    conn.write_all(&vec![hello[0]; 150_000]).await.unwrap();
                });
            }
        });
        let link = SlowLink::start(upstream_addr, 300_000).await.unwrap();
        let started = std::time::Instant::now();
        let fetch = |byte: u8| async move {
            let mut conn = TcpStream::connect(link.addr).await.unwrap();
            conn.write_all(&[byte]).await.unwrap();
            let mut got = vec![0u8; 150_000];
            conn.read_exact(&mut got).await.unwrap();
            got.iter().all(|&b| b == byte)
        };
        let (a, b) = tokio::join!(fetch(1), fetch(2));
        let took = started.elapsed().as_secs_f64();
        assert!(a && b, "each connection gets its own bytes");
        assert!((0.7..2.0).contains(&took), "300 KB at a shared 300 KB/s took {took:.2} s");
    }
}
