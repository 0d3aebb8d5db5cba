//! Credit flow control for WebSocket viewers.
//!
//! The server keeps at most `window` frames sent but not acknowledged. A viewer acknowledges
//! what it has shown (cumulatively: an ack for `seq` covers every frame sent up to `seq`), and
//! each ack lets the newest frame go out. Latency therefore stays bounded by `window` frames in
//! flight, however slow the viewer's network or device: a slow viewer gets fewer, fresher
//! frames instead of an ever-growing queue in socket buffers.

use std::collections::VecDeque;

use framecast_shared::{DEFAULT_WINDOW, WINDOW_RANGE};

/// An ack that cannot be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// An ack for a frame newer than any sent.
    #[error("ack for frame {acked}, but the newest frame sent is {newest_sent:?}")]
    AckFromFuture {
        /// The seq acknowledged.
        acked: u64,
        /// The newest seq sent, if any.
        newest_sent: Option<u64>,
    },
    /// A window outside [`WINDOW_RANGE`].
    #[error("window {0} is outside 1..=8")]
    BadWindow(u8),
}

/// Frames in flight to one viewer.
#[derive(Debug, Clone)]
pub struct CreditWindow {
    window: u8,
    in_flight: VecDeque<u64>,
    newest_sent: Option<u64>,
}

impl Default for CreditWindow {
    fn default() -> Self {
        CreditWindow { window: DEFAULT_WINDOW, in_flight: VecDeque::new(), newest_sent: None }
    }
}

impl CreditWindow {
    /// The window in force.
    pub fn window(&self) -> u8 {
        self.window
    }

    /// Changes the window; frames already in flight stay in flight.
    pub fn set_window(&mut self, window: u8) -> Result<(), FlowError> {
        if !WINDOW_RANGE.contains(&window) {
            return Err(FlowError::BadWindow(window));
        }
        self.window = window;
        Ok(())
    }

    /// Frames sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether another frame may be sent now.
    pub fn can_send(&self) -> bool {
        self.in_flight.len() < self.window as usize
    }

    /// Whether the frame `seq` is newer than anything sent, i.e. worth sending.
    pub fn is_new(&self, seq: u64) -> bool {
        self.newest_sent.is_none_or(|newest| seq > newest)
    }

    /// Records that frame `seq` was sent.
    pub fn on_sent(&mut self, seq: u64) {
        self.in_flight.push_back(seq);
        self.newest_sent = Some(seq);
    }

    /// Records an ack for every frame up to and including `seq`.
    pub fn on_ack(&mut self, seq: u64) -> Result<(), FlowError> {
        if self.newest_sent.is_none_or(|newest| seq > newest) {
            return Err(FlowError::AckFromFuture { acked: seq, newest_sent: self.newest_sent });
        }
        while self.in_flight.front().is_some_and(|&s| s <= seq) {
            self.in_flight.pop_front();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_that_never_acks_gets_exactly_window_frames() {
        let mut w = CreditWindow::default();
        let mut sent = 0;
        for seq in 1..=100 {
            if w.can_send() && w.is_new(seq) {
                w.on_sent(seq);
                sent += 1;
            }
        }
        assert_eq!(sent, DEFAULT_WINDOW as usize);
        assert_eq!(w.in_flight(), 2);
    }

    #[test]
    fn acks_are_cumulative_and_return_credit() {
        let mut w = CreditWindow::default();
        w.set_window(3).unwrap();
        for seq in [4, 7, 9] {
            w.on_sent(seq);
        }
        assert!(!w.can_send());
        // The viewer dropped 4 unseen and showed 7: one ack covers both.
        w.on_ack(7).unwrap();
        assert_eq!(w.in_flight(), 1);
        assert!(w.can_send());
        // Duplicate and stale acks are harmless.
        w.on_ack(7).unwrap();
        w.on_ack(2).unwrap();
        assert_eq!(w.in_flight(), 1);
        w.on_ack(9).unwrap();
        assert_eq!(w.in_flight(), 0);
    }

    #[test]
    fn ack_for_an_unsent_frame_is_refused() {
        let mut w = CreditWindow::default();
        assert_eq!(w.on_ack(1), Err(FlowError::AckFromFuture { acked: 1, newest_sent: None }));
        w.on_sent(5);
        assert!(w.on_ack(6).is_err());
        assert_eq!(w.in_flight(), 1, "a refused ack changes nothing");
    }

    #[test]
    fn only_newer_frames_are_worth_sending() {
        let mut w = CreditWindow::default();
        assert!(w.is_new(1));
        w.on_sent(10);
        assert!(!w.is_new(10));
        assert!(!w.is_new(3));
        assert!(w.is_new(11));
    }

    #[test]
    fn window_range_is_enforced() {
        let mut w = CreditWindow::default();
        assert_eq!(w.set_window(0), Err(FlowError::BadWindow(0)));
        assert_eq!(w.set_window(9), Err(FlowError::BadWindow(9)));
        w.set_window(1).unwrap();
        w.on_sent(1);
        assert!(!w.can_send());
        w.set_window(8).unwrap();
        assert!(w.can_send());
        assert_eq!(w.window(), 8);
    }
}
