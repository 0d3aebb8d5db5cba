//! When a recorded frame is written, skipped, or starts a new segment: the recorder's rules
//! as one pure function ([`decide`]), so each rule has a unit test and the writer only carries
//! out what it says.
//!
//! A segment ends (and the frame starts the next one) when it has lasted its length, when the
//! frame would take it past its byte budget, when the picture changes size, codec or H.264
//! parameter sets (a segment has one of each), or when the clock went back by more than a
//! second (a new span, not a continuation). `--record-fps` keeps a JPEG only when the
//! interval since the last one written has passed, less a tenth of slack, so 30 fps recorded
//! at 10 keeps every third frame and not one in four.
//!
//! H.264 pictures depend on the ones before them back to a keyframe, so an H.264 segment
//! starts at a keyframe and ends only before one (a segment due to end runs on to the next
//! keyframe: a second at the default `--keyframe-interval`), and a picture that does not
//! follow the last one written (the queue to the recorder overflowed, recording was paused)
//! is left out with everything after it until the next keyframe. Every picture written can
//! therefore be decoded from its segment alone. `--record-fps` does not thin H.264: leaving
//! out a picture would leave out the rest of its group.

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
    /// Its codec and parameter sets, as a fingerprint ([`Offered::stream`]).
    pub stream: u64,
}

/// What kind of picture is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picture {
    /// A JPEG: stands alone.
    Jpeg,
    /// An H.264 keyframe: decoding can start here.
    Key,
    /// Any other H.264 picture; `follows` when the picture just before it in the camera's
    /// stream is the last one written.
    Delta {
        /// Whether the picture it depends on was written.
        follows: bool,
    },
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
    /// A fingerprint of its codec and (H.264) parameter sets: a segment holds one.
    pub stream: u64,
    /// JPEG, H.264 keyframe or not.
    pub picture: Picture,
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
    /// The codec or the H.264 parameter sets changed.
    NewStream,
    /// The clock was set back by more than a second.
    ClockWentBack,
}

/// What to do with an offered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not written: `--record-fps`, or an H.264 picture whose reference was not written.
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
    match frame.picture {
        Picture::Jpeg => {
            if let (Some(fps), Some(last)) = (rules.max_fps, last_written_us) {
                let interval = (1e6 / fps) as u64;
                if frame.captured_us < last + interval.saturating_sub(interval / 10) {
                    return Decision::Skip;
                }
            }
        }
        Picture::Key => {}
        // Cannot be decoded without the picture before it: wait for a keyframe.
        Picture::Delta { follows: false } => return Decision::Skip,
        Picture::Delta { follows: true } => {}
    }
    let delta = matches!(frame.picture, Picture::Delta { .. });
    let Some(open) = open else {
        return if delta { Decision::Skip } else { Decision::Start { cut: None, continues: false } };
    };
    if delta && open.stream != frame.stream {
        // Parameter sets changed without a keyframe: nothing can decode it.
        return Decision::Skip;
    }
    let cut = if frame.captured_us + CLOCK_BACK_SLACK_US < open.last_us {
        Some(CutReason::ClockWentBack)
    } else if frame.captured_us.saturating_sub(open.start_us) >= rules.segment_length.as_micros() as u64 {
        Some(CutReason::TooLong)
    } else if open.bytes + frame.bytes > rules.segment_bytes && open.frames > 0 {
        Some(CutReason::TooBig)
    } else if open.size != frame.size {
        Some(CutReason::Resized)
    } else if open.stream != frame.stream {
        Some(CutReason::NewStream)
    } else {
        None
    };
    match cut {
        None => Decision::Append,
        // An H.264 segment ends only before a keyframe.
        Some(_) if delta => Decision::Append,
        Some(reason) => Decision::Start { cut: Some(reason), continues: reason != CutReason::ClockWentBack },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules =
        Rules { segment_length: Duration::from_secs(60), segment_bytes: 1_000_000, max_fps: None };

    fn open(start_us: u64, last_us: u64, frames: u32, bytes: u64) -> OpenSegment {
        OpenSegment { start_us, last_us, frames, bytes, size: (1280, 720), stream: 0 }
    }

    fn frame(captured_us: u64, bytes: u64) -> Offered {
        Offered { captured_us, bytes, size: (1280, 720), stream: 0, picture: Picture::Jpeg }
    }

    fn h264(captured_us: u64, picture: Picture) -> Offered {
        Offered { captured_us, bytes: 100, size: (1280, 720), stream: 7, picture }
    }

    const DELTA: Picture = Picture::Delta { follows: true };

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
        let smaller = Offered { size: (640, 360), ..frame(2_000, 50) };
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
        let resized = Offered { size: (640, 360), ..frame(1_000, 10) };
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

    #[test]
    fn an_h264_segment_starts_at_a_keyframe() {
        assert_eq!(decide(&RULES, None, None, &h264(10, DELTA)), Decision::Skip);
        assert_eq!(
            decide(&RULES, None, None, &h264(10, Picture::Key)),
            Decision::Start { cut: None, continues: false }
        );
    }

    #[test]
    fn an_h264_segment_due_to_end_runs_on_to_the_next_keyframe() {
        let seg = OpenSegment { stream: 7, ..open(0, 59_990_000, 1799, 1000) };
        assert_eq!(decide(&RULES, Some(&seg), None, &h264(60_020_000, DELTA)), Decision::Append);
        assert_eq!(
            decide(&RULES, Some(&seg), None, &h264(60_500_000, Picture::Key)),
            Decision::Start { cut: Some(CutReason::TooLong), continues: true }
        );
        let full = OpenSegment { stream: 7, ..open(0, 1_000, 10, 999_999) };
        assert_eq!(decide(&RULES, Some(&full), None, &h264(2_000, DELTA)), Decision::Append);
    }

    #[test]
    fn an_h264_picture_whose_reference_was_not_written_waits_for_a_keyframe() {
        let seg = OpenSegment { stream: 7, ..open(0, 1_000, 10, 1000) };
        assert_eq!(
            decide(&RULES, Some(&seg), None, &h264(2_000, Picture::Delta { follows: false })),
            Decision::Skip
        );
        assert_eq!(decide(&RULES, Some(&seg), None, &h264(3_000, Picture::Key)), Decision::Append);
    }

    #[test]
    fn new_parameter_sets_start_a_segment_at_their_keyframe() {
        let seg = OpenSegment { stream: 7, ..open(0, 1_000, 10, 1000) };
        let new_key = Offered { stream: 8, ..h264(2_000, Picture::Key) };
        assert_eq!(
            decide(&RULES, Some(&seg), None, &new_key),
            Decision::Start { cut: Some(CutReason::NewStream), continues: true }
        );
        let new_delta = Offered { stream: 8, ..h264(2_000, DELTA) };
        assert_eq!(decide(&RULES, Some(&seg), None, &new_delta), Decision::Skip);
        // A JPEG camera that turns out to be H.264 (or back) starts a segment too.
        let jpeg_seg = open(0, 1_000, 10, 1000);
        assert_eq!(
            decide(&RULES, Some(&jpeg_seg), None, &h264(2_000, Picture::Key)),
            Decision::Start { cut: Some(CutReason::NewStream), continues: true }
        );
    }

    #[test]
    fn record_fps_leaves_h264_whole() {
        let rules = Rules { max_fps: Some(1.0), ..RULES };
        let seg = OpenSegment { stream: 7, ..open(0, 0, 1, 10) };
        assert_eq!(decide(&rules, Some(&seg), Some(0), &h264(33_333, DELTA)), Decision::Append);
    }
}
