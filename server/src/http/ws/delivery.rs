//! What goes out to one viewer, and when: its credit window (frames sent and not yet
//! acknowledged), its own frame-rate cap, what its acks covered (for `auto` size), and the
//! numbering of the frames on its connection ([`WireSeq`]).

use std::time::Duration;

use tokio::time::Instant;

use crate::flow::CreditWindow;

/// Per-viewer flow state: credit, the viewer's own frame-rate cap, frame numbering.
#[derive(Debug, Default)]
pub(super) struct SessionFlow {
    pub(super) credit: CreditWindow,
    /// Shortest time between two frames to this viewer (its `max_fps`).
    pub(super) min_interval: Option<Duration>,
    last_sent: Option<Instant>,
    pub(super) seq: WireSeq,
    /// The camera `seq` of the last live frame sent from the picture shown now (frames go
    /// out after it; `None` after a switch of picture or from playback back to live).
    pub(super) live_sent: Option<u64>,
    /// Frames sent and not yet acknowledged, with their sizes (for `auto`).
    unacked: std::collections::VecDeque<(u64, u64)>,
    /// Frames and bytes acknowledged since [`SessionFlow::take_acked`].
    acked: (u64, u64),
}

/// The `seq` of frames on this connection: increasing, with a gap for every frame skipped.
/// Live frames carry the camera's capture counter (plus an offset once the viewer has played
/// a recording, so numbers never go back); recorded frames continue from the last number.
/// A switch of picture (a rendition counts its own frames) renumbers so the new picture's
/// newest frame follows the last one sent: a gap still means frames this viewer skipped.
#[derive(Debug, Default)]
pub(super) struct WireSeq {
    offset: i64,
    pub(super) newest: Option<u64>,
}

impl WireSeq {
    /// The number of live frame `camera_seq`.
    pub(super) fn live(&self, camera_seq: u64) -> u64 {
        camera_seq.saturating_add_signed(self.offset)
    }

    /// Live frames now come from another picture, whose newest frame is `picture_newest` (0:
    /// none yet, the first will be 1): it numbers right after everything sent.
    pub(super) fn switch_picture(&mut self, picture_newest: u64) {
        if let Some(n) = self.newest {
            self.offset = (n + 1) as i64 - picture_newest.max(1) as i64;
        }
    }

    /// The number of the next recorded frame, `skipped` recorded frames after the last.
    pub(super) fn recorded(&self, skipped: u64) -> u64 {
        self.newest.map_or(1, |n| n + 1 + skipped)
    }

    /// Back to live, where the camera's newest frame is `camera_newest`: it must number above
    /// everything sent, so it goes out at once.
    pub(super) fn enter_live(&mut self, camera_newest: u64) {
        if self.newest.is_some_and(|n| self.live(camera_newest) <= n) {
            self.switch_picture(camera_newest);
        }
    }
}

impl SessionFlow {
    /// Live frames now come from another picture, whose newest frame is `picture_newest`.
    pub(super) fn picture_switched(&mut self, picture_newest: u64) {
        self.seq.switch_picture(picture_newest);
        self.live_sent = None;
    }

    /// Back to live from playback, where the camera's newest frame is `camera_newest`.
    pub(super) fn back_to_live(&mut self, camera_newest: u64) {
        self.seq.enter_live(camera_newest);
        self.live_sent = None;
    }

    /// Records that frame `wire` went out.
    pub(super) fn on_sent(&mut self, wire: u64, bytes: usize) {
        self.credit.on_sent(wire);
        self.unacked.push_back((wire, bytes as u64));
        self.seq.newest = Some(wire);
        self.last_sent = Some(Instant::now());
    }

    /// Frames and bytes acknowledged since the last call.
    pub(super) fn take_acked(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.acked)
    }

    /// The acknowledgement of everything up to `seq`: returns credit, and counts what it
    /// covered for `auto`.
    pub(super) fn on_ack(&mut self, seq: u64) -> Result<(), crate::flow::FlowError> {
        self.credit.on_ack(seq)?;
        while let Some(&(wire, bytes)) = self.unacked.front()
            && wire <= seq
        {
            self.unacked.pop_front();
            self.acked.0 += 1;
            self.acked.1 += bytes;
        }
        Ok(())
    }

    /// The viewer's own frame-rate cap, frames per second.
    pub(super) fn max_fps(&self) -> Option<f64> {
        self.min_interval.map(|i| 1.0 / i.as_secs_f64())
    }

    /// When the viewer's frame-rate cap allows the next frame.
    pub(super) fn ready_at(&self) -> Option<Instant> {
        self.min_interval.zip(self.last_sent).map(|(interval, last)| last + interval)
    }

    pub(super) fn rate_allows(&self) -> bool {
        self.ready_at().is_none_or(|at| Instant::now() >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_of_picture_numbers_on_from_the_last_frame_sent() {
        let mut seq = WireSeq::default();
        assert_eq!(seq.live(500), 500, "the camera's own counter before anything changes");
        seq.newest = Some(500);
        seq.switch_picture(3);
        assert_eq!(seq.live(3), 501, "a young rendition follows on");
        seq.newest = Some(530);
        seq.switch_picture(560);
        assert_eq!(seq.live(560), 531, "back to the camera, whose counter ran ahead: no phantom gap");
        assert_eq!(seq.live(562), 533, "a frame skipped later is still a gap");
        seq.switch_picture(0);
        assert_eq!(seq.live(1), 531, "a rendition with no frame yet: its first follows on");
        seq.switch_picture(560);
        seq.newest = Some(533);
        seq.enter_live(600);
        assert_eq!(seq.live(600), 571, "out of playback, numbers above what was sent stay as they are");
        seq.newest = Some(700);
        seq.enter_live(601);
        assert_eq!(seq.live(601), 701, "and below them, they follow on");
    }
}
