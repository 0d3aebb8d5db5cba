//! Figures for the overlay, over the last second: frame rates, latency (median and worst),
//! bitrate, and frames skipped (from gaps in `seq`).

use std::collections::VecDeque;

/// Values timestamped in ms, kept for a fixed span.
#[derive(Debug, Clone)]
pub struct Window {
    span_ms: f64,
    items: VecDeque<(f64, f64)>,
}

impl Window {
    /// A window over the last `span_ms`.
    pub fn new(span_ms: f64) -> Window {
        Window { span_ms, items: VecDeque::new() }
    }

    /// Adds `value` at time `t` and forgets what is older than the span.
    pub fn push(&mut self, t: f64, value: f64) {
        self.items.push_back((t, value));
        self.prune(t);
    }

    /// Forgets values older than the span before `now`.
    pub fn prune(&mut self, now: f64) {
        while self.items.front().is_some_and(|&(t, _)| now - t > self.span_ms) {
            self.items.pop_front();
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sum of the values.
    pub fn sum(&self) -> f64 {
        self.items.iter().map(|&(_, v)| v).sum()
    }

    /// Newest value.
    pub fn last(&self) -> Option<f64> {
        self.items.back().map(|&(_, v)| v)
    }

    /// Largest value.
    pub fn max(&self) -> Option<f64> {
        self.items.iter().map(|&(_, v)| v).max_by(f64::total_cmp)
    }

    /// Median value (the lower middle for an even count).
    pub fn median(&self) -> Option<f64> {
        let mut values: Vec<f64> = self.items.iter().map(|&(_, v)| v).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some(values[(values.len() - 1) / 2])
    }

    /// Oldest value.
    pub fn first(&self) -> Option<f64> {
        self.items.front().map(|&(_, v)| v)
    }
}

/// The camera's frame rate, from the frames received over the last second: how far `seq`
/// advanced per second of *capture* time. Arrival times would overstate it whenever frames
/// arrive bunched (a busy browser reads several queued messages in one go: WebKitGTK at 720p
/// showed 53 fps for a 30 fps camera that way) and understate it after a stall.
#[derive(Debug, Clone)]
pub struct CameraRate {
    seqs: Window,
    captured_ms: Window,
}

impl CameraRate {
    /// Over the frames received in the last `span_ms`.
    pub fn new(span_ms: f64) -> CameraRate {
        CameraRate { seqs: Window::new(span_ms), captured_ms: Window::new(span_ms) }
    }

    /// A frame numbered `seq`, captured at `captured_us` (server clock), received at `now`.
    pub fn on_frame(&mut self, now: f64, seq: u64, captured_us: u64) {
        self.seqs.push(now, seq as f64);
        self.captured_ms.push(now, captured_us as f64 / 1000.0);
    }

    /// Forgets frames received longer than the span before `now`.
    pub fn prune(&mut self, now: f64) {
        self.seqs.prune(now);
        self.captured_ms.prune(now);
    }

    /// Frames per second, once two frames with different capture times are known.
    pub fn per_second(&self) -> Option<f64> {
        let (s0, s1) = (self.seqs.first()?, self.seqs.last()?);
        let (c0, c1) = (self.captured_ms.first()?, self.captured_ms.last()?);
        (c1 > c0).then(|| (s1 - s0) * 1000.0 / (c1 - c0))
    }
}

/// Counts frames this viewer never saw, from gaps between received `seq` numbers.
#[derive(Debug, Clone, Default)]
pub struct SeqGaps {
    last: Option<u64>,
    /// Frames skipped since the counter started.
    pub total: u64,
}

impl SeqGaps {
    /// Records a received `seq`; returns how many frames were skipped just before it. A `seq`
    /// that goes backwards (a restarted server) starts counting afresh.
    pub fn on_frame(&mut self, seq: u64) -> u64 {
        let gap = match self.last {
            Some(last) if seq > last => seq - last - 1,
            _ => 0,
        };
        self.last = Some(seq);
        self.total += gap;
        gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn window_keeps_only_the_last_second() {
        let mut w = Window::new(1000.0);
        for i in 0..30 {
            w.push(i as f64 * 100.0, i as f64);
        }
        // At t = 2900 the window holds t in [1900, 2900]: 11 values.
        assert_eq!(w.len(), 11);
        assert_eq!(w.max(), Some(29.0));
        assert_eq!(w.median(), Some(24.0));
        w.prune(10_000.0);
        assert!(w.is_empty());
        assert_eq!(w.median(), None);
    }

    #[wasm_bindgen_test]
    fn median_and_worst_latency() {
        let mut w = Window::new(1000.0);
        for (t, v) in [(0.0, 40.0), (10.0, 35.0), (20.0, 300.0), (30.0, 38.0)] {
            w.push(t, v);
        }
        assert_eq!(w.median(), Some(38.0));
        assert_eq!(w.max(), Some(300.0));
        assert_eq!(w.sum(), 413.0);
    }

    #[wasm_bindgen_test]
    fn camera_rate_from_seq() {
        let mut rate = CameraRate::new(1000.0);
        // A 30 fps camera (seq +1 every 33 333 µs) while this viewer sees every third frame.
        for i in 0..11u64 {
            rate.on_frame(i as f64 * 100.0, 100 + i * 3, 5_000_000 + i * 100_000);
        }
        assert_eq!(rate.per_second(), Some(30.0));
        let mut single = CameraRate::new(1000.0);
        single.on_frame(5.0, 1, 1_000);
        assert_eq!(single.per_second(), None);
    }

    /// Regression (issue 13, WebKitGTK): frames that arrive bunched are still a 30 fps camera.
    #[wasm_bindgen_test]
    fn bunched_arrivals_do_not_inflate_the_camera_rate() {
        let mut rate = CameraRate::new(1000.0);
        // 30 frames captured over a second, received in three bursts of ten, 5 ms apart.
        for i in 0..30u64 {
            let arrived = (i / 10) as f64 * 330.0 + (i % 10) as f64 * 0.5;
            rate.on_frame(arrived, i, 1_000_000 + i * 33_333);
        }
        let fps = rate.per_second().unwrap();
        assert!((fps - 30.0).abs() < 0.1, "{fps}");
    }

    /// The shared protocol decoder, compiled to wasm as the client uses it.
    #[wasm_bindgen_test]
    fn frame_headers_decode_in_wasm() {
        let header = framecast_shared::FrameHeader {
            seq: 7,
            camera: "yard".into(),
            width: 1280,
            height: 720,
            captured_us: 1_700_000_000_000_000,
            sent_us: 1_700_000_000_000_100,
            recorded: true,
            codec: None,
            key: false,
            config: None,
        };
        let message = header.encode_message(&[0xFF, 0xD8, 0xFF, 0xD9]).unwrap();
        let (decoded, offset) = framecast_shared::FrameHeader::decode_message(&message).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(&message[offset..], &[0xFF, 0xD8, 0xFF, 0xD9]);
        assert!(framecast_shared::FrameHeader::decode_message(&message[..5]).is_err());
    }

    #[wasm_bindgen_test]
    fn seq_gaps_count_skipped_frames() {
        let mut g = SeqGaps::default();
        assert_eq!(g.on_frame(10), 0);
        assert_eq!(g.on_frame(11), 0);
        assert_eq!(g.on_frame(15), 3);
        assert_eq!(g.on_frame(15), 0, "a repeated seq is no gap");
        assert_eq!(g.on_frame(2), 0, "server restarted");
        assert_eq!(g.on_frame(4), 1);
        assert_eq!(g.total, 4);
    }
}
