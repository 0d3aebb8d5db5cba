//! Playback of a recording for one WebSocket viewer: which recorded frame is due when.
//!
//! A [`Player`] walks a camera's segments from a starting time and says, at any moment, which
//! frame is due: frames keep their original spacing divided by the speed, measured from an
//! anchor (the wall-clock moment the first frame was due). When the viewer is slow the
//! session asks later, and the player skips to the newest frame due by then, exactly as a
//! slow live viewer skips to the newest live frame; nothing queues. At the end of a segment
//! it continues with the next one, jumping over a gap in the recording (camera off or
//! offline) at once, and reports the jump; after the newest recorded frame it reports the
//! live edge. Segments still being written are re-read, so playback can follow a recording
//! up to its last flush.
//!
//! Recorded H.264 goes out as JPEGs too, decoded on the server ([`super::pictures`]): the
//! player keeps its decoder where it stopped, so playing forward decodes each picture once,
//! and skipping forward (a slow viewer, 8x) starts at the last keyframe before the frame due
//! rather than decoding everything in between.
//!
//! Store access blocks (SQLite, file reads, decoding), so it runs under `spawn_blocking`.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::record::frame_index::FrameEntry;
use crate::record::pictures::RecordedPictures;
use crate::record::reader::{Reader, Segment, open_segment};
use crate::record::schema::StoreError;

/// Two recorded frames further apart than this (in recording time) are a gap to jump.
const GAP_US: u64 = 1_500_000;

/// A recorded frame to send.
#[derive(Debug, Clone)]
pub struct RecordedFrame {
    /// Capture time.
    pub captured_us: u64,
    /// Picture size.
    pub width: u32,
    /// Picture size.
    pub height: u32,
    /// The JPEG (recorded H.264 decoded).
    pub data: Bytes,
    /// Recorded frames passed over since the last one sent (slow viewer, speed).
    pub skipped: u64,
}

/// What the player has for the session now.
#[derive(Debug)]
pub enum Due {
    /// This frame, now.
    Frame(RecordedFrame),
    /// Nothing before this moment.
    Wait(Instant),
    /// The recording has a gap here; playback continues after it at once.
    Gap {
        /// Capture time of the last frame before the gap.
        from_us: u64,
        /// Capture time of the first frame after it.
        to_us: u64,
    },
    /// Past the newest recorded frame.
    End,
}

/// Playback state of one viewer.
#[derive(Debug)]
pub struct Player {
    reader: Arc<Reader>,
    camera: String,
    segment: Arc<Segment>,
    file: Arc<File>,
    /// Next frame to send, in `segment.frames`.
    next: usize,
    /// Index of the last frame sent (what the viewer shows), if any in this segment.
    shown: Option<usize>,
    speed: u32,
    paused: bool,
    /// Wall-clock time at which the frame captured at `anchor.1` is due.
    anchor: (Instant, u64),
    /// Frames to report as skipped with the next frame sent.
    skipped: u64,
    /// A frame the viewer must get even while paused (after a step).
    still_pending: bool,
    /// Makes the JPEGs (keeps an H.264 decoder's place).
    pictures: Option<RecordedPictures>,
}

/// Runs blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(StoreError::Io { path: "playback".into(), source: std::io::Error::other(e.to_string()) })
    })
}

impl Player {
    /// Starts at the first frame of `camera` captured at or after `from_us` (the oldest frame
    /// when `from_us` is before every recording). `None` when nothing was recorded at or after
    /// `from_us`.
    pub async fn start(
        reader: Arc<Reader>,
        camera: &str,
        from_us: u64,
        speed: u32,
    ) -> Result<Option<Player>, StoreError> {
        let found = {
            let (reader, camera) = (reader.clone(), camera.to_string());
            blocking(move || {
                if let Some(segment) = reader.segment_at(&camera, from_us)?
                    && segment.frames.last().is_some_and(|f| f.captured_us >= from_us)
                {
                    let index = segment.frames.partition_point(|f| f.captured_us < from_us);
                    return Ok(Some((segment, index)));
                }
                Ok(reader.segment_from(&camera, from_us)?.map(|s| (s, 0)))
            })
            .await?
        };
        let Some((segment, index)) = found else { return Ok(None) };
        let file = open(&segment).await?;
        let anchor = (Instant::now(), segment.frames[index].captured_us);
        Ok(Some(Player {
            reader,
            camera: camera.to_string(),
            segment: Arc::new(segment),
            file,
            next: index,
            shown: None,
            speed,
            paused: false,
            anchor,
            skipped: 0,
            still_pending: false,
            pictures: Some(RecordedPictures::new()),
        }))
    }

    /// Capture time of the frame shown (or, before the first, of the first to show).
    pub fn position_us(&self) -> u64 {
        let i = self.shown.unwrap_or(self.next).min(self.segment.frames.len() - 1);
        self.segment.frames[i].captured_us
    }

    /// How many times faster than recorded the frames are due (1, 2, 4 or 8).
    pub fn speed(&self) -> u32 {
        self.speed
    }

    /// Whether the viewer paused playback (a paused player only sends steps).
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Whether a frame should go out even though paused (a step).
    pub fn has_still(&self) -> bool {
        self.still_pending
    }

    /// Holds the frame shown.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Plays on from the frame after the one shown, due at once.
    pub fn resume(&mut self) {
        if self.paused {
            self.paused = false;
            self.still_pending = false;
            if let Some(f) = self.segment.frames.get(self.next) {
                self.anchor = (Instant::now(), f.captured_us);
            }
        }
    }

    fn due_at(&self, frame: &FrameEntry) -> Instant {
        let behind_us = frame.captured_us.saturating_sub(self.anchor.1) / self.speed as u64;
        self.anchor.0 + Duration::from_micros(behind_us)
    }

    /// What is due at `now`. Skips frames that are already followed by another due frame.
    pub async fn poll(&mut self, now: Instant) -> Result<Due, StoreError> {
        if self.next >= self.segment.frames.len()
            && let Some(due) = self.next_segment().await?
        {
            return Ok(due);
        }
        let frames = &self.segment.frames;
        if !self.still_pending {
            if self.paused {
                return Ok(Due::Wait(now + Duration::from_secs(3600)));
            }
            let due = self.due_at(&frames[self.next]);
            if due > now {
                return Ok(Due::Wait(due));
            }
            while self.next + 1 < frames.len() && self.due_at(&frames[self.next + 1]) <= now {
                self.next += 1;
                self.skipped += 1;
            }
        }
        let (index, entry) = (self.next, frames[self.next]);
        let (file, segment) = (self.file.clone(), self.segment.clone());
        let mut pictures = self.pictures.take().unwrap_or_default();
        let (jpeg, pictures) =
            blocking(move || Ok((pictures.jpeg(&segment, &file, index)?, pictures))).await?;
        self.pictures = Some(pictures);
        let frame = RecordedFrame {
            captured_us: entry.captured_us,
            width: self.segment.format.width,
            height: self.segment.format.height,
            data: jpeg,
            skipped: std::mem::take(&mut self.skipped),
        };
        self.shown = Some(self.next);
        self.next += 1;
        self.still_pending = false;
        Ok(Due::Frame(frame))
    }

    /// At the end of the loaded frames: the segment may have grown (it is being written), or
    /// playback moves to the next segment. `None` when there is more to play at once.
    async fn next_segment(&mut self) -> Result<Option<Due>, StoreError> {
        let (reader, camera, current) = (self.reader.clone(), self.camera.clone(), self.segment.clone());
        let (grown, following) = blocking(move || {
            let grown = reader.reload(&current)?.filter(|s| s.frames.len() > current.frames.len());
            let following = if grown.is_none() { reader.segment_after(&camera, &current)? } else { None };
            Ok((grown, following))
        })
        .await?;
        if let Some(grown) = grown {
            self.segment = Arc::new(grown);
            return Ok(None);
        }
        let Some(following) = following else {
            // Nothing newer yet: stay on the last frame.
            self.next = self.segment.frames.len();
            return Ok(Some(Due::End));
        };
        let last_us = self.segment.end_us;
        let first_us = following.frames[0].captured_us;
        self.file = open(&following).await?;
        self.segment = Arc::new(following);
        self.next = 0;
        self.shown = None;
        if first_us.saturating_sub(last_us) > GAP_US {
            // Jump the gap: the first frame after it is due now.
            self.anchor = (Instant::now(), first_us);
            return Ok(Some(Due::Gap { from_us: last_us, to_us: first_us }));
        }
        Ok(None)
    }

    /// While paused: moves the shown frame by `frames` (crossing segments) and marks it to be
    /// sent. Stops at the first and last recorded frame.
    pub async fn step(&mut self, frames: i32) -> Result<(), StoreError> {
        let mut target = self.shown.unwrap_or(self.next) as i64 + frames as i64;
        loop {
            let len = self.segment.frames.len() as i64;
            if (0..len).contains(&target) {
                break;
            }
            let (reader, camera, current) = (self.reader.clone(), self.camera.clone(), self.segment.clone());
            let forward = target >= len;
            let neighbour = blocking(move || {
                if forward {
                    reader.segment_after(&camera, &current)
                } else {
                    reader.segment_before(&camera, &current)
                }
            })
            .await?;
            match neighbour {
                Some(segment) => {
                    target = if forward { target - len } else { target + segment.frames.len() as i64 };
                    self.file = open(&segment).await?;
                    self.segment = Arc::new(segment);
                }
                None => {
                    target = target.clamp(0, len - 1);
                    break;
                }
            }
        }
        self.next = target as usize;
        self.shown = None;
        self.still_pending = true;
        Ok(())
    }
}

async fn open(segment: &Segment) -> Result<Arc<File>, StoreError> {
    let path = segment.path.clone();
    blocking(move || open_segment(&path)).await.map(Arc::new)
}
