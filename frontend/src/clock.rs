//! Clock sync: how far the browser's clock is from the server's, from ping/pong.
//!
//! For a ping sent at client time `t0`, answered at server time `s`, and received at `t1`, the
//! server read its clock somewhere between `t0` and `t1`; assuming the middle, the client
//! clock is ahead of the server's by `(t0 + t1) / 2 - s`, with an error of at most half the
//! round trip. So the sample with the smallest round trip is the most trustworthy. Only the
//! newest samples are kept, so the estimate follows clock drift and network changes.

use std::collections::VecDeque;

/// One ping/pong exchange.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    rtt_ms: f64,
    offset_ms: f64,
}

/// Offset estimator. Times are milliseconds since the Unix epoch on the client.
#[derive(Debug, Clone)]
pub struct ClockSync {
    samples: VecDeque<Sample>,
    keep: usize,
}

impl Default for ClockSync {
    fn default() -> Self {
        ClockSync::new(16)
    }
}

impl ClockSync {
    /// Keeps the newest `keep` samples.
    pub fn new(keep: usize) -> ClockSync {
        ClockSync { samples: VecDeque::new(), keep: keep.max(1) }
    }

    /// Records a pong: ping sent at `sent_ms`, pong received at `received_ms`, server clock
    /// `server_us` in the pong. Exchanges that went backwards in time are ignored.
    pub fn add(&mut self, sent_ms: f64, received_ms: f64, server_us: u64) {
        let rtt_ms = received_ms - sent_ms;
        if !rtt_ms.is_finite() || rtt_ms < 0.0 {
            return;
        }
        let offset_ms = (sent_ms + received_ms) / 2.0 - server_us as f64 / 1000.0;
        self.samples.push_back(Sample { rtt_ms, offset_ms });
        while self.samples.len() > self.keep {
            self.samples.pop_front();
        }
    }

    fn best(&self) -> Option<&Sample> {
        self.samples.iter().min_by(|a, b| a.rtt_ms.total_cmp(&b.rtt_ms))
    }

    /// Client clock minus server clock, from the kept sample with the smallest round trip.
    pub fn offset_ms(&self) -> Option<f64> {
        self.best().map(|s| s.offset_ms)
    }

    /// Round trip of the newest exchange.
    pub fn last_rtt_ms(&self) -> Option<f64> {
        self.samples.back().map(|s| s.rtt_ms)
    }

    /// A server timestamp (µs since the epoch) on the client's clock, in ms.
    pub fn to_client_ms(&self, server_us: u64) -> Option<f64> {
        self.offset_ms().map(|offset| server_us as f64 / 1000.0 + offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn symmetric_exchange_gives_the_exact_offset() {
        let mut c = ClockSync::default();
        // Client is 500 ms ahead; 20 ms each way.
        c.add(10_000.0, 10_040.0, 9_520_000);
        assert_eq!(c.offset_ms(), Some(500.0));
        assert_eq!(c.last_rtt_ms(), Some(40.0));
        assert_eq!(c.to_client_ms(9_600_000), Some(10_100.0));
    }

    #[wasm_bindgen_test]
    fn the_fastest_round_trip_wins() {
        let mut c = ClockSync::default();
        c.add(0.0, 300.0, 0); // slow, skewed: offset 150
        c.add(1_000.0, 1_010.0, 500_000); // fast: offset 505
        c.add(2_000.0, 2_200.0, 1_500_000); // slow: offset 600
        assert_eq!(c.offset_ms(), Some(505.0));
        assert_eq!(c.last_rtt_ms(), Some(200.0));
    }

    #[wasm_bindgen_test]
    fn old_samples_are_forgotten() {
        let mut c = ClockSync::new(2);
        c.add(0.0, 1.0, 0); // best but oldest
        c.add(10.0, 30.0, 0);
        c.add(40.0, 60.0, 0);
        assert_eq!(c.offset_ms(), Some(20.0), "the 1 ms sample has been dropped");
    }

    #[wasm_bindgen_test]
    fn impossible_samples_are_ignored() {
        let mut c = ClockSync::default();
        c.add(100.0, 50.0, 0);
        c.add(f64::NAN, 50.0, 0);
        assert_eq!(c.offset_ms(), None);
        assert_eq!(c.to_client_ms(1), None);
    }
}
