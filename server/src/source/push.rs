//! The `push` camera kind: frames arrive from elsewhere (`POST /api/cameras/NAME/frame` or the
//! `/api/cameras/NAME/ingest` WebSocket, typically from `framecast push` on a Raspberry Pi),
//! instead of being captured here.
//!
//! A push camera is always on: it is `running` while frames arrive, whether or not anyone
//! watches, and `offline` when none has arrived for [`PUSH_TIMEOUT`]. Only the newest pushed
//! frame is kept; a sender faster than the capture loop simply replaces it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use framecast_shared::CameraModes;

use super::{Capture, Source, SourceError, Stopper};
use crate::camera::Settings;
use crate::lock::Unpoisoned;
use crate::media::Encoded;
use crate::media::jpeg::Jpeg;

/// A push camera with no frame for this long is reported offline.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a pushed body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Not a JPEG, or a JPEG cut short.
    #[error("not a complete JPEG: {0}")]
    NotJpeg(String),
}

#[derive(Debug, Default)]
struct Slot {
    newest: Option<Jpeg>,
    /// Set by a stopper to wake a waiting grab.
    stopped: bool,
}

/// The `push` camera kind. Cheap to clone: clones share the slot.
#[derive(Debug, Clone, Default)]
pub struct PushSource {
    slot: Arc<(Mutex<Slot>, Condvar)>,
}

impl PushSource {
    /// Checks a pushed body and makes it the newest frame. A refused body never replaces the
    /// last good frame.
    pub fn push(&self, body: Bytes) -> Result<(u32, u32), PushError> {
        let (width, height) = crate::media::jpeg::dimensions(&body).map_err(PushError::NotJpeg)?;
        let ends_right = body.len() >= 4 && body[body.len() - 2..] == [0xFF, 0xD9];
        if !ends_right {
            return Err(PushError::NotJpeg(
                "it does not end with an end-of-image marker (truncated?)".into(),
            ));
        }
        let (lock, wake) = &*self.slot;
        lock.locked().newest = Some(Jpeg { data: body, width, height });
        wake.notify_all();
        Ok((width, height))
    }
}

impl Source for PushSource {
    fn kind(&self) -> &'static str {
        "push"
    }

    fn open(&self, _settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        self.slot.0.locked().stopped = false;
        Ok(Box::new(PushCapture { slot: self.slot.clone(), timeout: PUSH_TIMEOUT }))
    }

    /// The sender decides everything.
    fn modes(&self, _current: &Settings) -> CameraModes {
        CameraModes { sizes: Vec::new(), max_fps: 0, quality: false }
    }

    fn always_on(&self) -> bool {
        true
    }

    fn as_push(&self) -> Option<&PushSource> {
        Some(self)
    }
}

/// Waits for pushed frames.
#[derive(Debug)]
struct PushCapture {
    slot: Arc<(Mutex<Slot>, Condvar)>,
    timeout: Duration,
}

impl Capture for PushCapture {
    fn pace(&self) -> Option<u32> {
        None
    }

    fn grab(&mut self) -> Result<Encoded, SourceError> {
        let (lock, wake) = &*self.slot;
        let deadline = Instant::now() + self.timeout;
        let mut slot = lock.locked();
        loop {
            if slot.stopped {
                return Err(SourceError::Process("stopped".into()));
            }
            if let Some(frame) = slot.newest.take() {
                return Ok(frame.into());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SourceError::Process(format!(
                    "no frame pushed for {} s",
                    self.timeout.as_secs()
                )));
            }
            slot = wake.wait_timeout(slot, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn stopper(&self) -> Option<Stopper> {
        let slot = self.slot.clone();
        Some(Arc::new(move || {
            slot.0.locked().stopped = true;
            slot.1.notify_all();
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Size;

    fn settings() -> Settings {
        Settings { size: Size { width: 64, height: 48 }, fps: 10, quality: 80 }
    }

    fn jpeg() -> Bytes {
        Bytes::from(crate::media::jpeg::turbo::encode_rgb(&[9; 16 * 8 * 3], 16, 8, 80).unwrap())
    }

    #[test]
    fn pushed_frames_are_grabbed_newest_first() {
        let source = PushSource::default();
        let mut cam = source.open(&settings()).unwrap();
        source.push(jpeg()).unwrap();
        let second = jpeg();
        assert_eq!(source.push(second.clone()), Ok((16, 8)));
        assert_eq!(*cam.grab().unwrap().data(), second, "the newest push wins");
    }

    #[test]
    fn bad_bodies_are_refused_and_keep_the_last_good_frame() {
        let source = PushSource::default();
        let good = jpeg();
        source.push(good.clone()).unwrap();
        assert!(matches!(source.push(Bytes::from_static(b"hello")), Err(PushError::NotJpeg(_))));
        let truncated = good.slice(..good.len() - 10);
        assert!(matches!(source.push(truncated), Err(PushError::NotJpeg(_))));
        let mut cam = source.open(&settings()).unwrap();
        assert_eq!(*cam.grab().unwrap().data(), good);
    }

    #[test]
    fn silence_is_an_error_and_the_stopper_wakes_a_waiting_grab() {
        let source = PushSource::default();
        let mut cam = PushCapture { slot: source.slot.clone(), timeout: Duration::from_millis(100) };
        assert!(cam.grab().unwrap_err().to_string().contains("no frame pushed"));
        cam.timeout = Duration::from_secs(10);
        let stop = cam.stopper().unwrap();
        let started = Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            stop();
        });
        assert!(cam.grab().is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
