//! Keeps a software camera on a fixed frame schedule.
//!
//! Deadlines are laid on a fixed grid (`start + n * interval`), so sleep overshoot does not add
//! up into drift. A capture that falls more than one frame behind (a slow encode, a suspended
//! machine) starts a new grid from now instead of bursting frames to catch up: a camera that
//! is late should be late once, not fast afterwards.

use std::time::{Duration, Instant};

/// Frame schedule for one capture.
#[derive(Debug, Clone)]
pub struct Pacer {
    interval: Duration,
    next: Option<Instant>,
}

impl Pacer {
    /// A schedule of `fps` frames per second (at least 1).
    pub fn new(fps: u32) -> Pacer {
        Pacer { interval: Duration::from_secs(1) / fps.max(1), next: None }
    }

    /// Time between frames.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the next frame is due, given the time now; advances the schedule by one frame.
    /// The first frame is due at once.
    pub fn next_due(&mut self, now: Instant) -> Instant {
        let due = match self.next {
            Some(next) if now <= next + self.interval => next,
            _ => now,
        };
        self.next = Some(due + self.interval);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fall_on_a_fixed_grid_despite_late_wakeups() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10);
        let ms = Duration::from_millis;
        assert_eq!(p.next_due(t0), t0);
        // Woke 7 ms late for frame 1: frame 2 is still due at 200 ms, not 207.
        assert_eq!(p.next_due(t0 + ms(50)), t0 + ms(100));
        assert_eq!(p.next_due(t0 + ms(107)), t0 + ms(200));
        assert_eq!(p.next_due(t0 + ms(201)), t0 + ms(300));
    }

    #[test]
    fn falling_far_behind_restarts_the_grid_instead_of_bursting() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pacer::new(10);
        p.next_due(t0);
        // Next frame was due at 100 ms; we come back at 450 ms.
        assert_eq!(p.next_due(t0 + ms(450)), t0 + ms(450));
        assert_eq!(p.next_due(t0 + ms(451)), t0 + ms(550));
    }

    #[test]
    fn interval_matches_fps() {
        assert_eq!(Pacer::new(30).interval(), Duration::from_nanos(33_333_333));
        assert_eq!(Pacer::new(0).interval(), Duration::from_secs(1));
    }
}
