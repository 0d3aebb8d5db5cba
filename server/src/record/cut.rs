//! When a recorded frame is written, skipped, or starts a new segment: the recorder's rules
//! as one pure function ([`decide`]), so each rule has a unit test and the writer only carries
//! out what it says.
//!
//! A segment ends (and the frame starts the next one) when it has lasted its length, when the
//! frame would take it past its byte budget, when the picture changes size (a segment has one
//! size), or when the clock went back by more than a second (a new span, not a continuation).
//! `--record-fps` keeps a frame only when the interval since the last one written has passed,
//! less a tenth of slack, so 30 fps recorded at 10 keeps every third frame and not one in
//! four.

use std::time::Duration;

/// How far the clock may step back before a frame counts as a new span.
const CLOCK_BACK_SLACK_US: u64 = 1_000_000;

/// The recorder's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Longest segment.
    pub segment_length: Duration,
    /// Largest segment, in bytes of frames.
    pub segment_bytes: u64,
    /// At most this many frames per second (`--record-fps`); every frame when `None`.
    pub max_fps: Option<f64>,
}

/// The segment being written, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSegment {
    /// Capture time of its first frame.
    pub start_us: u64,
    /// Capture time of its last frame.
    pub last_us: u64,
    /// Frames in it.
    pub frames: u32,
    /// Bytes of frames in it.
    pub bytes: u64,
    /// Its picture size.
    pub size: (u32, u32),
}

/// The frame offered, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    /// Capture time.
    pub captured_us: u64,
    /// Encoded size in bytes.
    pub bytes: u64,
    /// Picture size.
    pub size: (u32, u32),
}

/// Why a segment ends before a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutReason {
    /// It has lasted the segment length.
    TooLong,
    /// The frame would take it past its byte budget.
    TooBig,
    /// The picture changed size.
    Resized,
    /// The clock was set back by more than a second.
    ClockWentBack,
}

/// What to do with an offered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not written (`--record-fps`).
    Skip,
    /// Appended to the open segment.
    Append,
    /// Written as the first frame of a new segment, after closing the open one (if any, for
    /// `cut`). `continues`: the new segment follows the last one without a gap.
    Start {
        /// Why the open segment ends; `None` when none was open.
        cut: Option<CutReason>,
        /// Whether the new segment continues the previous one's span.
        continues: bool,
    },
}

/// What to do with `frame`, given the open segment (if any) and the capture time of the last
/// frame written for this camera.
pub fn decide(
    rules: &Rules,
    open: Option<&OpenSegment>,
    last_written_us: Option<u64>,
    frame: &Offered,
) -> Decision {
    if let (Some(fps), Some(last)) = (rules.max_fps, last_written_us) {
        let interval = (1e6 / fps) as u64;
        if frame.captured_us < last + interval.saturating_sub(interval / 10) {
            return Decision::Skip;
        }
    }
    let Some(open) = open else { return Decision::Start { cut: None, continues: false } };
    let cut = if frame.captured_us + CLOCK_BACK_SLACK_US < open.last_us {
        Some(CutReason::ClockWentBack)
    } else if frame.captured_us.saturating_sub(open.start_us) >= rules.segment_length.as_micros() as u64 {
        Some(CutReason::TooLong)
    } else if open.bytes + frame.bytes > rules.segment_bytes && open.frames > 0 {
        Some(CutReason::TooBig)
    } else if open.size != frame.size {
        Some(CutReason::Resized)
    } else {
        None
    };
    match cut {
        None => Decision::Append,
        Some(reason) => Decision::Start { cut: Some(reason), continues: reason != CutReason::ClockWentBack },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules =
        Rules { segment_length: Duration::from_secs(60), segment_bytes: 1_000_000, max_fps: None };

    fn open(start_us: u64, last_us: u64, frames: u32, bytes: u64) -> OpenSegment {
        OpenSegment { start_us, last_us, frames, bytes, size: (1280, 720) }
    }

    fn frame(captured_us: u64, bytes: u64) -> Offered {
        Offered { captured_us, bytes, size: (1280, 720) }
    }

    #[test]
    fn the_first_frame_starts_a_segment_of_its_own() {
        assert_eq!(
            decide(&RULES, None, Some(5), &frame(10, 100)),
            Decision::Start { cut: None, continues: false }
        );
    }

    #[test]
    fn frames_append_until_the_segment_has_lasted_its_length() {
        let seg = open(0, 59_000_000, 1770, 100);
        assert_eq!(decide(&RULES, Some(&seg), None, &frame(59_999_999, 100)), Decision::Append);
        assert_eq!(
            decide(&RULES, Some(&seg), None, &frame(60_000_000, 100)),
            Decision::Start { cut: Some(CutReason::TooLong), continues: true }
        );
    }

    #[test]
    fn a_frame_that_would_pass_the_byte_budget_starts_the_next_segment() {
        let seg = open(0, 1_000, 9, 999_900);
        assert_eq!(decide(&RULES, Some(&seg), None, &frame(2_000, 100)), Decision::Append);
        assert_eq!(
            decide(&RULES, Some(&seg), None, &frame(2_000, 101)),
            Decision::Start { cut: Some(CutReason::TooBig), continues: true }
        );
        // A first frame larger than the whole budget is still written (in a segment alone).
        let empty = open(0, 0, 0, 0);
        assert_eq!(decide(&RULES, Some(&empty), None, &frame(1, 5_000_000)), Decision::Append);
    }

    #[test]
    fn a_new_picture_size_starts_a_segment_that_continues_the_span() {
        let seg = open(0, 1_000, 3, 300);
        let smaller = Offered { captured_us: 2_000, bytes: 50, size: (640, 360) };
        assert_eq!(
            decide(&RULES, Some(&seg), None, &smaller),
            Decision::Start { cut: Some(CutReason::Resized), continues: true }
        );
    }

    #[test]
    fn a_clock_set_back_starts_a_new_span_but_a_small_step_back_does_not() {
        let seg = open(10_000_000, 20_000_000, 300, 3000);
        assert_eq!(decide(&RULES, Some(&seg), None, &frame(19_500_000, 10)), Decision::Append);
        assert_eq!(
            decide(&RULES, Some(&seg), None, &frame(18_000_000, 10)),
            Decision::Start { cut: Some(CutReason::ClockWentBack), continues: false }
        );
        // Gone back and resized at once: still a new span.
        let resized = Offered { captured_us: 1_000, bytes: 10, size: (640, 360) };
        assert_eq!(
            decide(&RULES, Some(&seg), None, &resized),
            Decision::Start { cut: Some(CutReason::ClockWentBack), continues: false }
        );
    }

    #[test]
    fn record_fps_keeps_every_third_frame_of_30_at_10() {
        let rules = Rules { max_fps: Some(10.0), ..RULES };
        let seg = open(0, 0, 1, 10);
        let mut last_written = Some(0);
        let mut kept = Vec::new();
        for i in 1..=12u64 {
            let at = i * 33_333;
            if decide(&rules, Some(&seg), last_written, &frame(at, 10)) != Decision::Skip {
                kept.push(i);
                last_written = Some(at);
            }
        }
        assert_eq!(kept, vec![3, 6, 9, 12]);
        // Without a frame written yet, nothing is skipped.
        assert_eq!(decide(&rules, Some(&seg), None, &frame(1, 10)), Decision::Append);
    }
}
