//! From detections to events: pure logic on the pictures' times, unit-tested.
//!
//! An event starts at the first of [`Tracker::CONFIRM`] pictures in a row with motion (one
//! picture alone is more often a flash or a glitch than something moving), so its start is
//! the time of the first picture that showed it. It ends when no picture has shown motion
//! for the quiet period; its end is the last picture that did. While it is open, each
//! picture with more motion than any before it is its new peak (the runner keeps that
//! picture as the event's thumbnail).

use super::detect::Detection;

/// What a picture changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// An event began at `start_us` (the first picture that showed it), and this picture is
    /// its peak so far.
    Started {
        /// Time of the first picture with motion.
        start_us: u64,
    },
    /// This picture shows more motion than any before it in the open event.
    Peak,
    /// The open event ended at `end_us` (the last picture that showed motion).
    Ended {
        /// Time of the last picture with motion.
        end_us: u64,
    },
}

/// Follows one camera's detections.
#[derive(Debug, Clone)]
pub struct Tracker {
    quiet_us: u64,
    /// Pictures in a row with motion before an event, and when the first was.
    pending: Option<(u64, u32)>,
    open: Option<Open>,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    last_motion_us: u64,
    peak_area: f32,
}

impl Tracker {
    /// Pictures in a row that must show motion to start an event.
    pub const CONFIRM: u32 = 2;

    /// A tracker that ends events after `quiet_us` without motion.
    pub fn new(quiet_us: u64) -> Tracker {
        Tracker { quiet_us, pending: None, open: None }
    }

    /// Whether an event is open.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Takes the detection of the picture at `at_us` (times only go forward).
    pub fn observe(&mut self, at_us: u64, detection: &Detection) -> Option<Change> {
        if let Some(open) = &mut self.open {
            if detection.motion {
                open.last_motion_us = at_us;
                if detection.area > open.peak_area {
                    open.peak_area = detection.area;
                    return Some(Change::Peak);
                }
                return None;
            }
            if at_us.saturating_sub(open.last_motion_us) >= self.quiet_us {
                let end_us = open.last_motion_us;
                self.open = None;
                return Some(Change::Ended { end_us });
            }
            return None;
        }
        if !detection.motion {
            self.pending = None;
            return None;
        }
        let (first_us, count) = self.pending.map_or((at_us, 1), |(first, n)| (first, n + 1));
        if count < Self::CONFIRM {
            self.pending = Some((first_us, count));
            return None;
        }
        self.pending = None;
        self.open = Some(Open { last_motion_us: at_us, peak_area: detection.area });
        Some(Change::Started { start_us: first_us })
    }

    /// Ends the open event now (the camera stopped, the server is shutting down).
    pub fn finish(&mut self) -> Option<Change> {
        self.pending = None;
        self.open.take().map(|open| Change::Ended { end_us: open.last_motion_us })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn motion(area: f32) -> Detection {
        Detection { motion: true, area, strength: 50.0 }
    }

    fn still() -> Detection {
        Detection::default()
    }

    /// Feeds pictures 200 ms apart: `Some(area)` with motion, `None` without.
    fn feed(tracker: &mut Tracker, pictures: &[Option<f32>]) -> Vec<(u64, Change)> {
        pictures
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let at = i as u64 * 200_000;
                tracker.observe(at, &p.map_or_else(still, motion)).map(|c| (at, c))
            })
            .collect()
    }

    #[test]
    fn an_event_starts_at_its_first_picture_and_ends_at_its_last_after_the_quiet_period() {
        let mut tracker = Tracker::new(1_000_000);
        let mut pictures = vec![None; 3];
        pictures.extend([Some(0.01), Some(0.02), Some(0.05), Some(0.03), None, Some(0.01)]);
        pictures.extend(vec![None; 6]);
        let changes = feed(&mut tracker, &pictures);
        assert_eq!(
            changes,
            vec![
                (800_000, Change::Started { start_us: 600_000 }),
                (1_000_000, Change::Peak),
                // The last motion at 1.6 s; quiet for 1 s at 2.6 s.
                (2_600_000, Change::Ended { end_us: 1_600_000 }),
            ]
        );
        assert!(!tracker.is_open());
    }

    #[test]
    fn a_single_picture_of_motion_is_no_event() {
        let mut tracker = Tracker::new(1_000_000);
        let changes = feed(&mut tracker, &[Some(0.5), None, Some(0.5), None, None, Some(0.5)]);
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn finishing_ends_the_open_event_only() {
        let mut tracker = Tracker::new(1_000_000);
        assert_eq!(tracker.finish(), None);
        feed(&mut tracker, &[Some(0.1), Some(0.1), Some(0.1)]);
        assert!(tracker.is_open());
        assert_eq!(tracker.finish(), Some(Change::Ended { end_us: 400_000 }));
        assert_eq!(tracker.finish(), None);
    }
}
