//! Adaptive picture size for one WebSocket viewer (`hello` `"size":"auto"`). Pure logic: the
//! session feeds it what the viewer's acks show and asks it, now and then, which size to show.
//!
//! A viewer acknowledges each frame once drawn, so the acks say what its link and device
//! really carry: frames per second (against the frames the picture offered in the same time)
//! and bytes per second. When the viewer takes less than [`SUSTAINED`] of the frames, the
//! link is the limit: step down at once, straight to the size whose frames (estimated from
//! the bytes per frame now, scaled by area) fit in what the link carried. When it keeps up,
//! probe the next size up after a while; a probe that does not hold is undone and the next
//! one waits twice as long (hysteresis, so a link at the edge does not flap). Never larger
//! than the viewer's canvas (the ceiling) nor the camera's own size.
//!
//! Sizes are n/8 of the camera's (n = 1..8), as renditions make them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Share of the offered frames a viewer must take to count as keeping up.
pub const SUSTAINED: f64 = 0.9;

/// The window the acks are measured over.
const WINDOW: Duration = Duration::from_secs(2);

/// After a change, how long before the next decision (a full window at the new size).
const SETTLE: Duration = Duration::from_secs(2);

/// How long a probe must hold before it counts.
const PROBE_HOLD: Duration = Duration::from_secs(3);

/// Wait before the first probe up, and the most a failed probe doubles it to.
const PROBE_MIN: Duration = Duration::from_secs(4);
const PROBE_MAX: Duration = Duration::from_secs(60);

/// Share of the measured link a new size may plan to use.
const HEADROOM: f64 = 0.8;

/// Why the size is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The link carries no more.
    Link,
    /// Trying the next size up.
    Probe,
    /// As large as the viewer's canvas (or the camera) allows.
    Best,
}

impl Reason {
    /// The word sent to the viewer.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Link => "link",
            Reason::Probe => "probe",
            Reason::Best => "best",
        }
    }
}

/// A size change: show `eighths`/8 of the camera's size, because of `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The new size, in eighths (1–8) of the camera's.
    pub eighths: u8,
    /// Why the size changed, for the viewer's overlay.
    pub reason: Reason,
}

/// One viewer's adaptive size.
#[derive(Debug)]
pub struct AutoSize {
    ceiling: u8,
    current: u8,
    reason: Reason,
    /// Acks: when, how many frames, how many bytes.
    acks: VecDeque<(Instant, u64, u64)>,
    last_change: Instant,
    /// A probe under way: the size it left, and when.
    probe: Option<(u8, Instant)>,
    probe_wait: Duration,
    next_probe: Instant,
    /// The link's last full measure, bits per second (kept across a change, which starts a
    /// new window).
    last_link_bps: Option<u64>,
}

impl AutoSize {
    /// Starts at the ceiling (`eighths`, from the canvas and the camera): a good link shows
    /// the best picture at once, a weak one steps down within a couple of seconds.
    pub fn new(ceiling: u8, now: Instant) -> AutoSize {
        let ceiling = ceiling.clamp(1, 8);
        AutoSize {
            ceiling,
            current: ceiling,
            reason: Reason::Best,
            acks: VecDeque::new(),
            last_change: now,
            probe: None,
            probe_wait: PROBE_MIN,
            next_probe: now + PROBE_MIN,
            last_link_bps: None,
        }
    }

    /// The size shown now, in eighths.
    pub fn current(&self) -> u8 {
        self.current
    }

    /// Why the current size was chosen, for the viewer's overlay.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// A new ceiling (the canvas was resized); a step when the current size is above it, or
    /// when a link-limited size may now try the larger ceiling.
    pub fn set_ceiling(&mut self, ceiling: u8, now: Instant) -> Option<Step> {
        let ceiling = ceiling.clamp(1, 8);
        let was = self.ceiling;
        self.ceiling = ceiling;
        if self.current > ceiling || (self.current == was && self.reason == Reason::Best) {
            return Some(self.change(ceiling, Reason::Best, now));
        }
        None
    }

    /// The viewer acknowledged `frames` frames of `bytes` in all.
    pub fn on_acked(&mut self, now: Instant, frames: u64, bytes: u64) {
        self.acks.push_back((now, frames, bytes));
        while self.acks.front().is_some_and(|(t, _, _)| now.duration_since(*t) > WINDOW) {
            self.acks.pop_front();
        }
    }

    /// Forgets what was measured (the viewer was shown the recording, or paused).
    pub fn reset(&mut self, now: Instant) {
        self.acks.clear();
        self.last_change = now;
        self.probe = None;
    }

    /// What the link carried over the last full window, bits per second (the one before the
    /// last change while the new one fills); `None` before any.
    pub fn link_bps(&self, now: Instant) -> Option<u64> {
        match self.window(now) {
            Some((frames, bytes, span)) if frames > 0 => {
                Some((bytes as f64 * 8.0 / span.as_secs_f64()) as u64)
            }
            _ => self.last_link_bps,
        }
    }

    /// Frames, bytes and the span they cover, since the last change and within the window.
    fn window(&self, now: Instant) -> Option<(u64, u64, Duration)> {
        let since = self.last_change.max(now.checked_sub(WINDOW).unwrap_or(self.last_change));
        let span = now.duration_since(since);
        if span < WINDOW.mul_f64(0.75) {
            return None;
        }
        let (frames, bytes) = self
            .acks
            .iter()
            .filter(|(t, _, _)| *t > since)
            .fold((0, 0), |(f, b), (_, frames, bytes)| (f + frames, b + bytes));
        Some((frames, bytes, span))
    }

    /// The size to show from now, if it should change. `offered_fps` is the rate at which the
    /// picture shown made frames lately (capped by the viewer's own `max_fps`).
    pub fn decide(&mut self, now: Instant, offered_fps: f64) -> Option<Step> {
        if now.duration_since(self.last_change) < SETTLE || offered_fps <= 0.0 {
            return None;
        }
        let (frames, bytes, span) = self.window(now)?;
        if frames == 0 {
            // Nothing acknowledged: a paused or hidden viewer tells nothing about its link.
            return None;
        }
        let taken_fps = frames as f64 / span.as_secs_f64();
        self.last_link_bps = Some((bytes as f64 * 8.0 / span.as_secs_f64()) as u64);
        let keeps_up = taken_fps >= SUSTAINED * offered_fps;
        if let Some((from, started)) = self.probe {
            if !keeps_up {
                // The probe did not hold: back, and wait longer before the next.
                self.probe = None;
                self.probe_wait = (self.probe_wait * 2).min(PROBE_MAX);
                self.next_probe = now + self.probe_wait;
                return Some(self.change(from, Reason::Link, now));
            }
            if now.duration_since(started) >= PROBE_HOLD {
                self.probe = None;
                self.probe_wait = PROBE_MIN;
                self.next_probe = now + PROBE_MIN;
                self.reason = if self.current == self.ceiling { Reason::Best } else { Reason::Link };
            }
            return None;
        }
        if !keeps_up && self.current > 1 {
            // What one frame costs at each size, from what frames cost now.
            let per_frame = bytes as f64 / frames as f64;
            let link_bytes = bytes as f64 / span.as_secs_f64();
            let fits = |n: u8| {
                let scale = (f64::from(n) / f64::from(self.current)).powi(2);
                per_frame * scale * offered_fps <= HEADROOM * link_bytes
            };
            let target = (1..self.current).rev().find(|&n| fits(n)).unwrap_or(1);
            self.next_probe = now + self.probe_wait;
            return Some(self.change(target, Reason::Link, now));
        }
        if keeps_up && self.current < self.ceiling && now >= self.next_probe {
            let from = self.current;
            let step = self.change(from + 1, Reason::Probe, now);
            self.probe = Some((from, now));
            return Some(step);
        }
        None
    }

    fn change(&mut self, eighths: u8, reason: Reason, now: Instant) -> Step {
        self.current = eighths;
        self.reason = reason;
        self.last_change = now;
        self.acks.clear();
        Step { eighths, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates a viewer whose link carries `link_bytes` per second, of a 30 fps camera
    /// whose full-size frames are `full_bytes`, for `seconds`; each size change is pushed to
    /// `changes`.
    fn run(
        auto: &mut AutoSize,
        start: Instant,
        seconds: u64,
        link_bytes: f64,
        changes: &mut Vec<Step>,
    ) -> Instant {
        let full_bytes = 100_000.0;
        let mut now = start;
        let end = start + Duration::from_secs(seconds);
        let tick = Duration::from_millis(100);
        let mut owed = 0.0;
        while now < end {
            let n = f64::from(auto.current());
            let frame = full_bytes * (n / 8.0).powi(2);
            // The link takes what it can, at most the camera's 30 fps; whole frames are acked.
            let fps = (link_bytes / frame).min(30.0);
            owed += fps * tick.as_secs_f64();
            let frames = owed.floor();
            owed -= frames;
            if frames > 0.0 {
                auto.on_acked(now, frames as u64, (frames * frame) as u64);
            }
            if let Some(step) = auto.decide(now, 30.0) {
                changes.push(step);
            }
            now += tick;
        }
        now
    }

    #[test]
    fn a_weak_link_steps_down_at_once_to_what_fits() {
        let start = Instant::now();
        let mut auto = AutoSize::new(8, start);
        let mut changes = Vec::new();
        // 2 Mbit/s: full size (100 KB) gives 2.5 fps; 3/8 (14 KB) gives 17; 2/8 (6 KB) gives 40.
        run(&mut auto, start, 4, 250_000.0, &mut changes);
        assert_eq!(changes.first(), Some(&Step { eighths: 2, reason: Reason::Link }), "{changes:?}");
    }

    #[test]
    fn the_link_measure_survives_the_change_it_caused() {
        let start = Instant::now();
        let mut auto = AutoSize::new(8, start);
        let mut changes = Vec::new();
        let now = run(&mut auto, start, 3, 250_000.0, &mut changes);
        assert_eq!(changes.len(), 1);
        let link = auto.link_bps(now).expect("measured") as f64;
        assert!((1.5e6..2.5e6).contains(&link), "{link} bit/s on a 2 Mbit/s link");
    }

    #[test]
    fn a_good_link_stays_at_the_ceiling() {
        let start = Instant::now();
        let mut auto = AutoSize::new(6, start);
        let mut changes = Vec::new();
        run(&mut auto, start, 30, 10_000_000.0, &mut changes);
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!((auto.current(), auto.reason()), (6, Reason::Best));
    }

    #[test]
    fn a_cleared_link_is_probed_back_up_to_the_ceiling() {
        let start = Instant::now();
        let mut auto = AutoSize::new(8, start);
        let mut changes = Vec::new();
        let now = run(&mut auto, start, 5, 250_000.0, &mut changes);
        assert!(auto.current() <= 2);
        run(&mut auto, now, 60, 10_000_000.0, &mut changes);
        assert_eq!(auto.current(), 8, "{changes:?}");
        assert!(changes.iter().any(|s| s.reason == Reason::Probe));
    }

    #[test]
    fn a_link_at_the_edge_does_not_flap() {
        let start = Instant::now();
        let mut auto = AutoSize::new(8, start);
        let mut changes = Vec::new();
        // 5 Mbit/s: 4/8 (25 KB) needs 750 KB/s at 30 fps (too much), 3/8 (14 KB) 420 KB/s fits.
        run(&mut auto, start, 120, 625_000.0, &mut changes);
        assert_eq!(auto.current(), 3, "{changes:?}");
        let probes = changes.iter().filter(|s| s.reason == Reason::Probe).count();
        assert!(probes <= 6, "{probes} probes in two minutes: {changes:?}");
    }

    #[test]
    fn a_paused_viewer_tells_nothing() {
        let start = Instant::now();
        let mut auto = AutoSize::new(8, start);
        for i in 0..100 {
            let now = start + Duration::from_millis(100 * i);
            assert_eq!(auto.decide(now, 30.0), None, "no acks, no decision");
        }
        assert_eq!(auto.current(), 8);
    }

    #[test]
    fn the_ceiling_follows_the_canvas() {
        let start = Instant::now();
        let mut auto = AutoSize::new(8, start);
        assert_eq!(auto.set_ceiling(4, start), Some(Step { eighths: 4, reason: Reason::Best }));
        assert_eq!(auto.set_ceiling(6, start), Some(Step { eighths: 6, reason: Reason::Best }));
        let mut changes = Vec::new();
        run(&mut auto, start, 4, 250_000.0, &mut changes);
        assert!(auto.current() < 6);
        assert_eq!(auto.set_ceiling(8, start), None, "a link-limited size waits for its probe");
    }
}
