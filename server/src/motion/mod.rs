//! Motion detection (`--motion`): each watched camera's hub offers its frames to a thread of
//! the camera's own, which looks at a few pictures a second (`--motion-fps`), small and in
//! grey, and turns what changed into events with thumbnails ([`events::EventLog`], listed by
//! `/api/events`). It runs whether or not anyone watches, like recording, and never slows
//! the camera: the hub's tap only queues, and a full queue drops.
//!
//! The path: hub → [`Tap`] (JPEG cameras: only the pictures due at the motion rate; H.264:
//! every access unit, since each depends on the ones before) → the camera's thread: a small
//! grey picture ([`GreyDecoder`] decodes a JPEG at 1/8 inside libjpeg-turbo's inverse DCT;
//! an H.264 picture is decoded whole by OpenH264, which has no reduced decode, and its luma
//! averaged down) → [`detect::Detector`] (background model, zone) → [`tracker::Tracker`]
//! (start, peak, end) → [`events::EventLog`] and the hub's [`MotionInfo`] (the live view's
//! "motion").

pub mod detect;
pub mod events;
pub mod tracker;
pub mod zones;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use bytes::Bytes;
use framecast_shared::MotionInfo;

use crate::config::MotionConfig;
use crate::hub::{Frame, FrameTap, Hub};
use crate::lock::Unpoisoned;
use crate::media::PlaneBuffer;
use crate::media::h264::codec::Decoder;
use crate::media::jpeg::turbo::{Encoder, Grey, GreyDecoder, Scaler};
use detect::{Detection, Detector, Params};
use events::EventLog;
use tracker::{Change, Tracker};
use zones::Zones;

/// Width the pictures are looked at (about; a JPEG decodes at the n/8 nearest above it).
pub const LOOK_WIDTH: usize = 160;

/// An event ends after this long without motion.
pub const QUIET: Duration = Duration::from_secs(5);

/// Frames queued for a camera's thread: two seconds of a 30 fps H.264 camera.
const QUEUE_FRAMES: usize = 64;

/// Thumbnails are at most this wide (a JPEG camera's picture is scaled down by n/8).
const THUMBNAIL_WIDTH: u32 = 640;

/// What a hub's tap sends its camera's thread.
enum Msg {
    Frame(Arc<Frame>),
    Stop,
}

/// The detector's side of one camera's hub.
#[derive(Debug)]
struct Tap {
    tx: SyncSender<Msg>,
    /// µs between the pictures looked at.
    interval_us: u64,
    /// Capture time the next JPEG is due at.
    next_due_us: AtomicU64,
}

impl FrameTap for Tap {
    fn offer(&self, frame: &Arc<Frame>) {
        if frame.h264.is_none() {
            let due = self.next_due_us.load(Ordering::Relaxed);
            if frame.captured_us < due {
                return;
            }
            self.next_due_us.store(next_due(due, frame.captured_us, self.interval_us), Ordering::Relaxed);
        }
        // A full queue drops: the thread notices the gap (H.264 waits for a keyframe).
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Msg::Frame(frame.clone())) {
            tracing::debug!("motion: a frame dropped, the detector is behind");
        }
    }
}

/// When the picture after one taken at `taken_us` is due, keeping the rate on average
/// (`due_us`: when this one was due), or starting afresh after a pause.
fn next_due(due_us: u64, taken_us: u64, interval_us: u64) -> u64 {
    if taken_us > due_us + interval_us { taken_us + interval_us } else { due_us + interval_us }
}

/// The running detectors.
#[derive(Debug)]
pub struct Motion {
    log: Arc<EventLog>,
    zones: Arc<Zones>,
    threads: std::sync::Mutex<Vec<(SyncSender<Msg>, std::thread::JoinHandle<()>)>>,
}

impl Motion {
    /// Attaches a detector to each watched camera's hub and starts its thread. Zones are
    /// kept in `zone_file` when given (see [`zones`]).
    pub fn start(
        config: &MotionConfig,
        hubs: &[Hub],
        zone_file: Option<std::path::PathBuf>,
    ) -> std::io::Result<Motion> {
        let log = Arc::new(EventLog::new());
        let watched: Vec<String> =
            hubs.iter().filter(|h| config.watches(h.id())).map(|h| h.id().to_string()).collect();
        let zones = Arc::new(Zones::load(zone_file, &watched, (config.sensitivity, config.min_area as f32)));
        let interval_us = (1e6 / config.fps) as u64;
        let params = Params { sensitivity: config.sensitivity, min_area: config.min_area as f32 };
        let mut threads = Vec::new();
        for hub in hubs.iter().filter(|h| config.watches(h.id())) {
            let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_FRAMES);
            hub.tap_into(Arc::new(Tap { tx: tx.clone(), interval_us, next_due_us: AtomicU64::new(0) }));
            hub.set_motion(MotionInfo { active: false, events: 0 });
            let camera = CameraMotion::new(hub.clone(), log.clone(), zones.clone(), params, interval_us);
            let thread = std::thread::Builder::new()
                .name(format!("motion {}", hub.id()))
                .spawn(move || camera.run(rx))?;
            threads.push((tx, thread));
        }
        Ok(Motion { log, zones, threads: std::sync::Mutex::new(threads) })
    }

    /// The events, for `/api/events`.
    pub fn events(&self) -> Arc<EventLog> {
        self.log.clone()
    }

    /// The cameras' zones, for `/api/motion/zone`.
    pub fn zones(&self) -> Arc<Zones> {
        self.zones.clone()
    }

    /// Ends open events and stops the threads.
    pub fn stop(&self) {
        let threads = std::mem::take(&mut *self.threads.locked());
        for (tx, _) in &threads {
            let _ = tx.send(Msg::Stop);
        }
        for (_, thread) in threads {
            let _ = thread.join();
        }
    }
}

/// The picture an event shows: the one with the most motion so far.
enum PeakPicture {
    Jpeg(Bytes),
    Planes(PlaneBuffer),
}

/// One camera's detector thread.
struct CameraMotion {
    hub: Hub,
    log: Arc<EventLog>,
    zones: Arc<Zones>,
    /// The zone revision the detector has.
    zone_rev: Option<u64>,
    params: Params,
    interval_us: u64,
    detector: Option<Detector>,
    tracker: Tracker,
    grey: Grey,
    jpeg_decoder: Option<GreyDecoder>,
    h264: Option<Decoder>,
    /// The last H.264 frame decoded, to notice a lost one.
    last_seq: Option<u64>,
    /// Capture time the next H.264 picture is due at.
    next_due_us: u64,
    /// The decoded H.264 picture being looked at.
    planes: PlaneBuffer,
    /// The open event's id and its peak picture.
    open: Option<(u64, Option<PeakPicture>)>,
    events: u64,
}

impl CameraMotion {
    fn new(
        hub: Hub,
        log: Arc<EventLog>,
        zones: Arc<Zones>,
        params: Params,
        interval_us: u64,
    ) -> CameraMotion {
        CameraMotion {
            hub,
            log,
            zones,
            zone_rev: None,
            params,
            interval_us,
            detector: None,
            tracker: Tracker::new(QUIET.as_micros() as u64),
            grey: Grey::default(),
            jpeg_decoder: None,
            h264: None,
            last_seq: None,
            next_due_us: 0,
            planes: PlaneBuffer::default(),
            open: None,
            events: 0,
        }
    }

    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            match rx.recv_timeout(QUIET) {
                Ok(Msg::Frame(frame)) => self.look(&frame),
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                // No picture for the quiet period (the camera stopped or failed): whatever
                // was moving has ended as far as anyone can tell.
                Err(RecvTimeoutError::Timeout) => self.finish(),
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(change) = self.tracker.finish() {
            self.apply(change, &Detection::default(), None);
        }
    }

    /// One frame of the camera: a small grey picture of it when due, then the detector.
    fn look(&mut self, frame: &Arc<Frame>) {
        let jpeg = match frame.access_unit() {
            None => {
                if let Err(e) = self.grey_of_jpeg(&frame.data) {
                    tracing::debug!(camera = %self.hub.id(), "motion: {e}");
                    return;
                }
                Some(frame.data.clone())
            }
            Some(unit) => {
                let lost = self.last_seq.is_some_and(|last| frame.seq != last + 1);
                self.last_seq = Some(frame.seq);
                let due = frame.captured_us >= self.next_due_us;
                match self.grey_of_h264(&unit, lost, due) {
                    Ok(true) => {
                        self.next_due_us = next_due(self.next_due_us, frame.captured_us, self.interval_us);
                    }
                    Ok(false) => return,
                    Err(e) => {
                        tracing::debug!(camera = %self.hub.id(), "motion: {e}");
                        return;
                    }
                }
                None
            }
        };
        let (w, h) = (self.grey.width, self.grey.height);
        // The first picture, or the camera's size changed: learn afresh.
        if self.detector.as_ref().is_none_or(|d| d.size() != (w, h)) {
            self.detector = Some(Detector::new(w, h, self.params));
            self.zone_rev = None;
        }
        let Some(detector) = self.detector.as_mut() else { return };
        // A zone painted since: from this picture on.
        if let Some((rev, zone)) = self.zones.changed_since(self.hub.id(), self.zone_rev) {
            detector.set_zone(|x, y| !zone.ignores(x, y));
            detector.set_params(Params {
                sensitivity: zone.sensitivity.unwrap_or(self.params.sensitivity),
                min_area: zone.min_area.unwrap_or(self.params.min_area),
            });
            self.zone_rev = Some(rev);
        }
        let detection = detector.detect(&self.grey.pixels, w, frame.captured_us);
        if let Some(change) = self.tracker.observe(frame.captured_us, &detection) {
            let picture = match jpeg {
                Some(jpeg) => PeakPicture::Jpeg(jpeg),
                None => PeakPicture::Planes(self.planes.clone()),
            };
            self.apply(change, &detection, Some(picture));
        }
    }

    fn grey_of_jpeg(&mut self, jpeg: &[u8]) -> Result<(), String> {
        if self.jpeg_decoder.is_none() {
            self.jpeg_decoder = Some(GreyDecoder::new().map_err(|e| e.to_string())?);
        }
        let Some(decoder) = self.jpeg_decoder.as_mut() else { return Ok(()) };
        decoder.decode(jpeg, LOOK_WIDTH, &mut self.grey).map_err(|e| format!("JPEG: {e}"))
    }

    /// Decodes the access unit (every one, the stream needs them all); when `due`, makes the
    /// grey picture of it. `Ok(true)` when there is one to look at.
    fn grey_of_h264(
        &mut self,
        unit: &crate::media::h264::AccessUnit,
        lost: bool,
        due: bool,
    ) -> Result<bool, String> {
        if self.h264.is_none() {
            self.h264 = Some(Decoder::new().map_err(|e| e.to_string())?);
        }
        let Some(decoder) = self.h264.as_mut() else { return Ok(false) };
        if lost {
            decoder.wait_for_keyframe();
        }
        let (grey, planes) = (&mut self.grey, &mut self.planes);
        let mut made = false;
        decoder
            .decode(unit, |picture| {
                if !due {
                    return;
                }
                shrink_luma(picture.y, picture.strides.0, picture.width, picture.height, grey);
                planes.resize(picture.width & !1, picture.height & !1);
                let (y, u, v) = planes.planes_mut();
                copy_plane(picture.y, picture.strides.0, y, planes_width(picture.width));
                copy_plane(picture.u, picture.strides.1, u, planes_width(picture.width) / 2);
                copy_plane(picture.v, picture.strides.1, v, planes_width(picture.width) / 2);
                made = true;
            })
            .map_err(|e| format!("H.264: {e}"))?;
        Ok(made)
    }

    /// Carries a change into the log and the hub. `picture` is this picture's, when it is
    /// the event's new peak.
    fn apply(&mut self, change: Change, detection: &Detection, picture: Option<PeakPicture>) {
        match change {
            Change::Started { start_us } => {
                let thumbnail = picture.as_ref().and_then(|p| self.thumbnail(p));
                let id =
                    self.log.open(self.hub.id(), start_us, detection.area, detection.strength, thumbnail);
                self.open = Some((id, picture));
                self.events += 1;
                tracing::info!(camera = %self.hub.id(), event = id, "motion");
                self.hub.set_motion(MotionInfo { active: true, events: self.events });
            }
            Change::Peak => {
                // A JPEG peak is the thumbnail at once; decoded H.264 planes are encoded
                // once, when the event ends.
                let thumbnail = match &picture {
                    Some(jpeg @ PeakPicture::Jpeg(_)) => self.thumbnail(jpeg),
                    _ => None,
                };
                if let Some((id, peak)) = &mut self.open {
                    *peak = picture;
                    self.log.peak(*id, detection.area, detection.strength, thumbnail);
                }
            }
            Change::Ended { end_us } => {
                if let Some((id, peak)) = self.open.take() {
                    if let Some(planes @ PeakPicture::Planes(_)) = &peak
                        && let Some(thumbnail) = self.thumbnail(planes)
                    {
                        self.log.set_thumbnail(id, thumbnail);
                    }
                    self.log.close(id, end_us);
                    tracing::info!(camera = %self.hub.id(), event = id, "motion ended");
                }
                self.hub.set_motion(MotionInfo { active: false, events: self.events });
            }
        }
    }

    /// A JPEG of `picture` at most [`THUMBNAIL_WIDTH`] wide.
    fn thumbnail(&self, picture: &PeakPicture) -> Option<Bytes> {
        let made = match picture {
            PeakPicture::Jpeg(jpeg) => {
                let (width, _) = crate::media::jpeg::dimensions(jpeg).ok()?;
                let eighths =
                    (1..=8u8).rev().find(|n| width * u32::from(*n) / 8 <= THUMBNAIL_WIDTH).unwrap_or(1);
                if eighths == 8 {
                    return Some(jpeg.clone());
                }
                Scaler::new().and_then(|mut s| s.scale(jpeg, eighths, 80)).map(|j| j.data)
            }
            PeakPicture::Planes(planes) => {
                Encoder::new(80).and_then(|mut e| e.encode_video_i420(planes.planes())).map(Bytes::from)
            }
        };
        made.map_err(|e| tracing::debug!(camera = %self.hub.id(), "motion: thumbnail: {e}")).ok()
    }
}

/// The even width a [`PlaneBuffer`] takes of a picture `width` wide.
fn planes_width(width: usize) -> usize {
    width & !1
}

/// Copies the rows of a plane (`stride` apart) into packed rows `width` wide.
fn copy_plane(from: &[u8], stride: usize, to: &mut [u8], width: usize) {
    for (row, out) in from.chunks(stride).zip(to.chunks_mut(width)) {
        out.copy_from_slice(&row[..width]);
    }
}

/// Luma of `width` x `height` averaged down by a power of two to about [`LOOK_WIDTH`].
pub fn shrink_luma(y: &[u8], stride: usize, width: usize, height: usize, out: &mut Grey) {
    let mut factor = 1;
    while width / (factor * 2) >= LOOK_WIDTH {
        factor *= 2;
    }
    let (w, h) = (width / factor, height / factor);
    out.width = w;
    out.height = h;
    out.pixels.clear();
    let area = (factor * factor) as u32;
    for oy in 0..h {
        for ox in 0..w {
            let mut sum = 0u32;
            for row in y[oy * factor * stride..].chunks(stride).take(factor) {
                sum += row[ox * factor..(ox + 1) * factor].iter().map(|&v| u32::from(v)).sum::<u32>();
            }
            out.pixels.push(((sum + area / 2) / area) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpegs_are_taken_at_the_motion_rate_on_average() {
        // A 30 fps camera, 5 pictures a second looked at.
        let interval = 200_000;
        let mut due = 0;
        let mut taken = 0;
        for frame in 0..300u64 {
            let at = 1_000_000 + frame * 33_333;
            if at >= due {
                due = next_due(due, at, interval);
                taken += 1;
            }
        }
        assert!((49..=51).contains(&taken), "{taken} of 300 frames in 10 s");
    }

    #[test]
    fn luma_is_averaged_down_to_about_the_look_width() {
        let (width, height, stride) = (1280, 720, 1296);
        let y: Vec<u8> = (0..height * stride).map(|i| if i % stride < 640 { 10 } else { 200 }).collect();
        let mut grey = Grey::default();
        shrink_luma(&y, stride, width, height, &mut grey);
        assert_eq!((grey.width, grey.height, grey.pixels.len()), (160, 90, 160 * 90));
        assert_eq!((grey.pixels[0], grey.pixels[79], grey.pixels[80], grey.pixels[159]), (10, 10, 200, 200));
        let mut small = Grey::default();
        shrink_luma(&y, stride, 200, 100, &mut small);
        assert_eq!((small.width, small.height), (200, 100));
    }
}
