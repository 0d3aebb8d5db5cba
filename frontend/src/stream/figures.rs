//! The overlay's figures for one pipeline: which frames arrived, were skipped, were drawn and
//! how late, over the last second, and [`Stats`], the summary the UI is sent four times a
//! second. The rolling windows themselves are [`crate::stats`]'s (pure and unit-tested);
//! this module says which ones a pipeline keeps and what goes into each.

use framecast_shared::FrameHeader;

use super::{Shared, now_ms};
use crate::clock::ClockSync;
use crate::stats::{CameraRate, SeqGaps, Window};

/// Figures shown in the overlay, over the last second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Frames drawn per second.
    pub drawn_fps: f64,
    /// Frames the camera produced per second (from `seq`).
    pub camera_fps: Option<f64>,
    /// Capture-to-draw latency, median and worst, in ms (once the clock is synced).
    pub latency_ms: Option<(f64, f64)>,
    /// Time from handing a JPEG to the browser's decoder to having drawn it, median and
    /// worst, in ms.
    pub decode_ms: Option<(f64, f64)>,
    /// Round trip of the newest ping, ms.
    pub rtt_ms: Option<f64>,
    /// Size of the newest frame.
    pub width: u32,
    /// Size of the newest frame.
    pub height: u32,
    /// Bytes of the newest frame.
    pub frame_bytes: u64,
    /// Received bits per second.
    pub bitrate: f64,
    /// Frames skipped in the last second, and since the page loaded.
    pub skipped: (u64, u64),
    /// Frames drawn since the page loaded.
    pub drawn: u64,
    /// What size the server shows this viewer and why (its last `picture` message).
    pub picture: Option<PictureNote>,
    /// What decodes the frames: "JPEG", "H.264 · WebCodecs", "H.264 · MSE".
    pub decoder: &'static str,
}

/// The picture this viewer is shown, as the server said (see `ServerMessage::Picture`).
#[derive(Debug, Clone, PartialEq)]
pub struct PictureNote {
    /// How the size is chosen.
    pub mode: framecast_shared::PictureMode,
    /// Frame size.
    pub width: u32,
    /// Frame size.
    pub height: u32,
    /// `auto`: what the link carried lately, bits per second.
    pub link_bps: Option<u64>,
    /// `auto`: why this size.
    pub reason: Option<String>,
}

impl PictureNote {
    /// For the overlay: "auto: link ≈ 3.1 Mbit/s", "auto: best for this screen", "640×360".
    pub fn label(&self) -> String {
        use framecast_shared::PictureMode;
        match self.mode {
            PictureMode::Full => "full size".into(),
            PictureMode::Fixed => format!("{}×{} (chosen)", self.width, self.height),
            PictureMode::Auto => {
                let link = self.link_bps.map(|b| format!("link ≈ {:.1} Mbit/s", b as f64 / 1e6));
                match (self.reason.as_deref(), link) {
                    (Some("best"), _) => "auto: best for this screen".into(),
                    (Some("probe"), Some(link)) => format!("auto: trying larger, {link}"),
                    (_, Some(link)) => format!("auto: {link}"),
                    _ => "auto".into(),
                }
            }
        }
    }
}

/// The windows a pipeline keeps its figures in, each over the last second (client clock, ms).
pub(super) struct Figures {
    /// One entry per frame drawn.
    drawn: Window,
    /// Capture-to-draw latency of each live frame drawn.
    latency: Window,
    /// Decode-to-draw time of each frame drawn.
    decode: Window,
    /// The camera's rate, from the `seq` and capture time of the frames received.
    camera_rate: CameraRate,
    /// Payload bytes of each frame received.
    bytes: Window,
    /// Frames skipped just before each frame received.
    gaps: Window,
    /// The last `seq` received and the frames skipped since the page loaded.
    seq_gaps: SeqGaps,
    /// The figures last published, and what is known between two of them (frame size,
    /// frames drawn, the server's picture note).
    last: Stats,
}

impl Figures {
    /// No figures yet.
    pub(super) fn new() -> Figures {
        let second = || Window::new(1000.0);
        Figures {
            drawn: second(),
            latency: second(),
            decode: second(),
            camera_rate: CameraRate::new(1000.0),
            bytes: second(),
            gaps: second(),
            seq_gaps: SeqGaps::default(),
            last: Stats::default(),
        }
    }

    /// A frame arrived at `now` with `payload_bytes` of picture: counts the frames skipped
    /// before it, the camera's rate and the bitrate.
    pub(super) fn on_received(&mut self, now: f64, header: &FrameHeader, payload_bytes: u32) {
        let gap = self.seq_gaps.on_frame(header.seq);
        self.gaps.push(now, gap as f64);
        self.camera_rate.on_frame(now, header.seq, header.captured_us);
        self.bytes.push(now, payload_bytes as f64);
    }

    /// A frame was drawn at `now`: counts it, and its latency if it is live and the clock is
    /// synced. Returns the frames drawn since the page loaded.
    pub(super) fn on_drawn(&mut self, now: f64, header: &FrameHeader, clock: &ClockSync) -> u64 {
        self.drawn.push(now, 1.0);
        // Capture-to-draw latency means something only for live frames; a recorded frame's
        // age is shown as "behind live" instead.
        if let Some(captured) = clock.to_client_ms(header.captured_us).filter(|_| !header.recorded) {
            self.latency.push(now, (now - captured).max(0.0));
        }
        self.last.width = header.width;
        self.last.height = header.height;
        self.last.drawn += 1;
        self.last.drawn
    }

    /// A frame handed to the decoder at `started_ms` was drawn at `now`.
    pub(super) fn on_decode_time(&mut self, now: f64, started_ms: f64) {
        self.decode.push(now, now - started_ms);
    }

    /// The decoder that took the newest frame.
    pub(super) fn set_decoder(&mut self, label: &'static str) {
        self.last.decoder = label;
    }

    /// The server's latest word on the picture size.
    pub(super) fn set_picture(&mut self, note: PictureNote) {
        self.last.picture = Some(note);
    }

    /// A new connection numbers its frames afresh: the next `seq` is no gap.
    pub(super) fn forget_seq(&mut self) {
        self.seq_gaps = SeqGaps::default();
    }

    /// The figures over the second before `now`, with the newest ping's round trip; kept as
    /// the last ones published.
    fn summary(&mut self, now: f64, rtt_ms: Option<f64>) -> Stats {
        for w in [&mut self.drawn, &mut self.latency, &mut self.decode, &mut self.bytes, &mut self.gaps] {
            w.prune(now);
        }
        self.camera_rate.prune(now);
        let frame_bytes = self.bytes.last().map(|b| b as u64).unwrap_or(self.last.frame_bytes);
        let stats = Stats {
            drawn_fps: self.drawn.len() as f64,
            camera_fps: self.camera_rate.per_second(),
            latency_ms: self.latency.median().zip(self.latency.max()),
            decode_ms: self.decode.median().zip(self.decode.max()),
            rtt_ms,
            frame_bytes,
            bitrate: self.bytes.sum() * 8.0,
            skipped: (self.gaps.sum() as u64, self.seq_gaps.total),
            ..self.last.clone()
        };
        self.last = stats.clone();
        stats
    }
}

/// Sends the UI the figures over the last second.
pub(super) fn publish_stats(pipeline: &Shared) {
    let stats = {
        let mut guard = pipeline.borrow_mut();
        let p = &mut *guard;
        let now = now_ms();
        p.figures.summary(now, p.clock.last_rtt_ms())
    };
    (pipeline.borrow().report.stats)(stats);
}
