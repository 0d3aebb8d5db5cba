//! How far behind an MJPEG reader is, measured from the TCP connection itself.
//!
//! MJPEG has no acknowledgements, so a reader that reads slowly (a busy tool, a phone asleep
//! on a stream) would let frames pile up in socket buffers: its own receive buffer grows to
//! hundreds of kilobytes, and every frame in it is seconds old when read. The kernel knows
//! how much is waiting: what we have not yet delivered (our send queue, `SIOCOUTQ`) and what
//! the peer has received but not read, visible as the shrinking receive window it advertises
//! (`tcpi_snd_wnd`, Linux 6.2+). The window the peer advertises with nothing unread is the
//! largest seen; the difference from the current one is unread data. With that, the stream
//! sends the next (newest) frame only once the backlog is under about two frames, which
//! keeps a slow reader within a couple of its own read intervals of live.
//!
//! Where the kernel cannot tell (older kernels, other systems) [`Backlog::bytes`] is `None`
//! and the stream falls back to the bounded send buffer alone.

/// The socket of a connection, attached to each request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct SocketFd(
    /// The raw descriptor; valid for as long as the request's connection, which outlives
    /// its response body.
    pub crate::sys::Fd,
);

/// Backlog estimator for one connection.
#[derive(Debug)]
pub struct Backlog {
    fd: SocketFd,
    /// Largest receive window the peer has advertised (its window with nothing unread).
    max_window: u32,
}

impl Backlog {
    /// Watches `fd`.
    pub fn new(fd: SocketFd) -> Backlog {
        Backlog { fd, max_window: 0 }
    }

    /// Bytes the reader has not read yet (sent or still queued here), and of those the ones
    /// still in our send queue; `None` if unknown.
    pub fn bytes(&mut self) -> Option<(u64, u64)> {
        let (window, queued) = crate::sys::tcp_window_and_queue(self.fd.0)?;
        self.max_window = self.max_window.max(window);
        Some((u64::from(self.max_window - window) + queued, queued))
    }

    /// Forgets the largest window seen (after waiting long, in case the peer shrank its
    /// receive buffer for good and the estimate would otherwise never come down).
    pub fn relearn(&mut self) {
        self.max_window = 0;
    }
}
