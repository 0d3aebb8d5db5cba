//! The `push` camera kind: frames arrive from elsewhere (`POST /api/cameras/NAME/frame` or the
//! `/api/cameras/NAME/ingest` WebSocket, typically from `framecast push` on a Raspberry Pi),
//! instead of being captured here.
//!
//! A push camera is always on: it is `running` while frames arrive, whether or not anyone
//! watches, and `offline` when none has arrived for [`PUSH_TIMEOUT`]. A pushed JPEG replaces
//! any still waiting (a sender faster than the capture loop gives the newest). Pushed H.264
//! comes as frame messages (the `/ws` format: a JSON header with the codec, whether it is a
//! keyframe and, on keyframes, the `avcC`, then the access unit): those pictures depend on
//! each other, so they are all kept in order, up to [`MAX_QUEUED`]; past that the queue is
//! dropped and refilled from the next keyframe.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use framecast_shared::CameraModes;

use super::{Capture, Source, SourceError, Stopper};
use crate::camera::Settings;
use crate::lock::Unpoisoned;
use crate::media::Encoded;
use crate::media::h264::{AccessUnit, H264Error, Stream};
use crate::media::jpeg::Jpeg;
use framecast_shared::FrameHeader;

/// A push camera with no frame for this long is reported offline.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Pushed H.264 pictures kept waiting for the capture loop, at most (2 s at 30 fps).
pub const MAX_QUEUED: usize = 64;

/// Why a pushed body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Not a JPEG, or a JPEG cut short.
    #[error("not a complete JPEG: {0}")]
    NotJpeg(String),
    /// A frame message that cannot be used.
    #[error("not a usable frame message: {0}")]
    BadMessage(String),
}

#[derive(Debug, Default)]
struct Slot {
    /// Pictures waiting for the capture loop, oldest first.
    queue: std::collections::VecDeque<Encoded>,
    /// The pushed H.264's parameters, from its last keyframe.
    stream: Option<Arc<Stream>>,
    /// H.264 pictures are dropped until the next keyframe (the queue overflowed, or the
    /// sender's numbers jumped: pictures were lost on the way).
    need_keyframe: bool,
    /// The sender's `seq` of the last H.264 picture taken.
    last_seq: Option<u64>,
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
        let mut slot = lock.locked();
        slot.queue.retain(|p| !matches!(p, Encoded::Jpeg(_)));
        slot.queue.push_back(Jpeg { data: body, width, height }.into());
        drop(slot);
        wake.notify_all();
        Ok((width, height))
    }

    /// Takes what a sender pushed: a JPEG as it is, or a frame message (see the module doc).
    pub fn push_any(&self, body: Bytes) -> Result<(u32, u32), PushError> {
        // A frame message's JSON header starts right after its two length bytes; anything
        // else is taken for a JPEG (and refused as one, with the reason).
        if body.get(2) != Some(&b'{') {
            return self.push(body);
        }
        let (header, at) =
            FrameHeader::decode_message(&body).map_err(|e| PushError::BadMessage(e.to_string()))?;
        match header.codec.as_deref() {
            Some("h264") => self.push_h264(&header, body.slice(at..)),
            None => self.push(body.slice(at..)),
            Some(other) => Err(PushError::BadMessage(format!("unknown codec '{other}'"))),
        }
    }

    /// Queues one pushed H.264 access unit.
    fn push_h264(&self, header: &FrameHeader, data: Bytes) -> Result<(u32, u32), PushError> {
        let bad = |e: H264Error| PushError::BadMessage(e.to_string());
        let (lock, wake) = &*self.slot;
        let mut slot = lock.locked();
        if let Some(config) = &header.config {
            let avcc =
                config.avcc_bytes().ok_or_else(|| PushError::BadMessage("avcc is not base64".into()))?;
            let same = slot.stream.as_ref().is_some_and(|s| *s.avcc == *avcc);
            if !same {
                slot.stream = Some(Arc::new(Stream::from_avcc(&avcc).map_err(bad)?));
            }
        }
        let stream = slot
            .stream
            .clone()
            .ok_or_else(|| PushError::BadMessage("H.264 before a keyframe with its configuration".into()))?;
        let unit = AccessUnit { data, keyframe: header.key, stream };
        let mut slices = 0;
        for nal in unit.nals() {
            let nal = nal.map_err(bad)?;
            if nal.first().is_none_or(|h| h & 0x80 != 0) {
                return Err(bad(H264Error::NotH264("an empty NAL unit, or one with its forbidden bit set")));
            }
            slices += usize::from(crate::media::h264::nal::is_slice(nal));
        }
        if slices == 0 {
            return Err(bad(H264Error::NoPicture));
        }
        if slot.queue.len() >= MAX_QUEUED {
            slot.queue.retain(|p| !matches!(p, Encoded::H264(_)));
            slot.need_keyframe = true;
        }
        // Pictures were lost on the way: what came before still decodes, what follows not.
        if slot.last_seq.is_some_and(|last| header.seq != last + 1) {
            slot.need_keyframe = true;
        }
        slot.last_seq = Some(header.seq);
        if slot.need_keyframe && !unit.keyframe {
            return Ok((unit.stream.width, unit.stream.height));
        }
        slot.need_keyframe = false;
        let size = (unit.stream.width, unit.stream.height);
        slot.queue.push_back(Encoded::H264(unit));
        drop(slot);
        wake.notify_all();
        Ok(size)
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
            if let Some(picture) = slot.queue.pop_front() {
                return Ok(picture);
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

    /// Frame messages of the emulated camera's H.264 at 32x32: the pictures and their
    /// messages as a sender makes them.
    fn h264_messages(n: usize) -> Vec<(bool, Bytes)> {
        use crate::camera::Encoding;
        use crate::media::Codec;
        let encoding = Encoding { codec: Codec::H264, keyframe_interval: Duration::from_secs(60) };
        let settings = Settings { size: Size { width: 32, height: 32 }, fps: 10, quality: 80 };
        let mut cam = crate::source::emulated::EmulatedSource::new(encoding).open(&settings).unwrap();
        (0..n)
            .map(|i| {
                let Encoded::H264(unit) = cam.grab().unwrap() else { panic!("H.264") };
                let s = &unit.stream;
                let header = FrameHeader {
                    seq: i as u64 + 1,
                    camera: "push".into(),
                    width: 32,
                    height: 32,
                    captured_us: 0,
                    sent_us: 0,
                    recorded: false,
                    codec: Some("h264".into()),
                    key: unit.keyframe,
                    config: unit
                        .keyframe
                        .then(|| framecast_shared::VideoConfig::new(&s.codec, &s.avcc, s.width, s.height)),
                };
                (unit.keyframe, Bytes::from(header.encode_message(&unit.data).unwrap()))
            })
            .collect()
    }

    #[test]
    fn pushed_h264_is_kept_in_order_and_a_gap_waits_for_a_keyframe() {
        let messages = h264_messages(4);
        let source = PushSource::default();
        assert!(source.push_any(messages[1].1.clone()).unwrap_err().to_string().contains("configuration"));
        let mut cam = source.open(&settings()).unwrap();
        for (_, message) in &messages[..3] {
            assert_eq!(source.push_any(message.clone()), Ok((32, 32)));
        }
        let keys: Vec<bool> = (0..3).map(|_| cam.grab().unwrap().keyframe()).collect();
        assert_eq!(keys, [true, false, false], "all three, in order");
        // Picture 3 of a fresh sender after picture 1: one was lost, nothing until a keyframe.
        let gap = PushSource::default();
        gap.push_any(messages[0].1.clone()).unwrap();
        gap.push_any(messages[2].1.clone()).unwrap();
        let mut quick = PushCapture { slot: gap.slot.clone(), timeout: Duration::from_millis(50) };
        assert!(quick.grab().unwrap().keyframe(), "the picture before the gap stays");
        assert!(quick.grab().is_err(), "the picture after the gap was not kept");
    }
}
