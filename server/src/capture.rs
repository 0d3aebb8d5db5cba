//! The capture thread: drives one opened camera, keeps software cameras on schedule, stamps
//! each frame with its grab time and hands it to a [`FrameSink`] (the camera's hub).
//!
//! It is a plain OS thread, not a tokio task: grabbing and JPEG encoding block and burn CPU,
//! and must never stall the async workers that serve viewers. It publishes through the narrow
//! [`FrameSink`] trait rather than the hub itself, so the hub (which starts and stops
//! captures) sits above it, and a capture can be tested against a fake sink.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::camera::Settings;
use crate::lock::Unpoisoned;
use crate::media::Encoded;
use crate::source::pacer::Pacer;
use crate::source::{Source, SourceError, Stopper};

/// Where a capture thread delivers what it grabs. Called on the capture thread: it must
/// not block.
pub trait FrameSink: Send + 'static {
    /// The camera's id, for the thread's name and log lines.
    fn id(&self) -> &str;
    /// A new frame, grabbed at `captured_us` (µs since the Unix epoch).
    fn publish(&self, picture: Encoded, captured_us: u64);
    /// What describes the camera changed (a device control took a new value).
    fn info_changed(&self);
}

/// A running capture thread.
pub struct CaptureHandle {
    stop: mpsc::Sender<()>,
    /// Interrupts a blocked grab (set by the thread once the camera is open).
    stopper: Arc<Mutex<Option<Stopper>>>,
    /// Device control changes for the thread to apply between frames.
    controls: mpsc::Sender<ControlRequest>,
    /// Set to have the next picture be a keyframe (cameras whose encoder runs here).
    keyframe: Arc<std::sync::atomic::AtomicBool>,
    done: oneshot::Receiver<Result<(), SourceError>>,
}

impl std::fmt::Debug for CaptureHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureHandle").finish_non_exhaustive()
    }
}

impl CaptureHandle {
    /// Opens `source` on a new thread and publishes its frames to `sink` until stopped or
    /// failed.
    pub fn start(sink: impl FrameSink, source: Arc<dyn Source>, settings: Settings) -> CaptureHandle {
        let (stop_tx, stop_rx) = mpsc::channel();
        let (controls_tx, controls_rx) = mpsc::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let stopper = Arc::new(Mutex::new(None));
        let stopper_slot = stopper.clone();
        let keyframe = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let keyframe_flag = keyframe.clone();
        let name = format!("capture-{}", sink.id());
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let thread = CaptureThread {
                sink: &sink,
                stop: &stop_rx,
                controls: &controls_rx,
                keyframe: &keyframe_flag,
            };
            let result = thread.run(&*source, &settings, &stopper_slot);
            let _ = done_tx.send(result);
        });
        if let Err(e) = spawned {
            // The closure (and its sender) was dropped: `finished` reports the failure.
            tracing::error!("cannot start capture thread: {e}");
        }
        CaptureHandle { stop: stop_tx, stopper, controls: controls_tx, keyframe, done: done_rx }
    }

    /// The flag that makes the capture's next picture a keyframe, where its camera can.
    pub fn keyframe_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.keyframe.clone()
    }

    /// Where to send device control changes for this capture.
    pub fn controls(&self) -> mpsc::Sender<ControlRequest> {
        self.controls.clone()
    }

    /// Waits until the capture ends by itself (a failure) and returns why.
    pub async fn finished(&mut self) -> Result<(), SourceError> {
        match (&mut self.done).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::Io {
                path: "capture thread".into(),
                source: std::io::Error::other("capture thread ended without a result"),
            }),
        }
    }

    /// Asks the thread to stop (interrupting a blocked grab) and waits until it has.
    pub async fn stop(mut self) {
        let _ = self.stop.send(());
        let stopper = self.stopper.locked().clone();
        if let Some(stop) = stopper {
            stop();
        }
        let _ = self.finished().await;
    }
}

/// A device control change for the capture thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRequest {
    /// Control name.
    pub name: String,
    /// New value.
    pub value: i64,
}

/// What the capture thread works with besides the camera.
struct CaptureThread<'a> {
    sink: &'a dyn FrameSink,
    stop: &'a mpsc::Receiver<()>,
    controls: &'a mpsc::Receiver<ControlRequest>,
    keyframe: &'a std::sync::atomic::AtomicBool,
}

impl CaptureThread<'_> {
    fn stop_requested(&self) -> bool {
        !matches!(self.stop.try_recv(), Err(mpsc::TryRecvError::Empty))
    }

    fn run(
        &self,
        source: &dyn Source,
        settings: &Settings,
        stopper: &Mutex<Option<Stopper>>,
    ) -> Result<(), SourceError> {
        let mut capture = source.open(settings)?;
        *stopper.locked() = capture.stopper();
        // A stop asked for while the camera was opening: the stopper was not there to call yet.
        if self.stop_requested() {
            return Ok(());
        }
        let mut pacer = capture.pace().map(Pacer::new);
        loop {
            let stop_requested = match &mut pacer {
                // Sleeping on the stop channel makes a stop request end the sleep at once.
                Some(pacer) => {
                    let due = pacer.next_due(Instant::now());
                    let wait = due.saturating_duration_since(Instant::now());
                    !matches!(self.stop.recv_timeout(wait), Err(mpsc::RecvTimeoutError::Timeout))
                }
                None => self.stop_requested(),
            };
            if stop_requested {
                return Ok(());
            }
            for ControlRequest { name, value } in self.controls.try_iter() {
                match capture.set_control(&name, value) {
                    Ok(()) => self.sink.info_changed(),
                    Err(e) => tracing::warn!(camera = %self.sink.id(), "cannot set {name} to {value}: {e}"),
                }
            }
            if self.keyframe.swap(false, std::sync::atomic::Ordering::Relaxed) {
                capture.request_keyframe();
            }
            let asked_us = framecast_shared::unix_micros_now();
            let picture = match capture.grab() {
                Ok(picture) => picture,
                // Interrupted by the stopper: a stop, not a failure.
                Err(_) if self.stop_requested() => return Ok(()),
                Err(e) => return Err(e),
            };
            // A software camera grabs when asked; a camera that paces itself (a device, a
            // process) grabbed its frame when the frame arrives here; a rendition knows the
            // capture time of the camera frame it was made from.
            let captured_us = match capture.captured_us() {
                Some(known) => known,
                None if pacer.is_some() => asked_us,
                None => framecast_shared::unix_micros_now(),
            };
            self.sink.publish(picture, captured_us);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use framecast_shared::CameraModes;

    use super::*;
    use crate::camera::Size;
    use crate::media::jpeg::Jpeg;
    use crate::source::Capture;

    /// Records what the capture thread delivers.
    #[derive(Clone, Default)]
    struct FakeSink {
        frames: Arc<Mutex<Vec<(u32, u64)>>>,
        info_changes: Arc<AtomicUsize>,
    }

    impl FrameSink for FakeSink {
        fn id(&self) -> &str {
            "fake"
        }
        fn publish(&self, picture: Encoded, captured_us: u64) {
            self.frames.lock().unwrap().push((picture.size().0, captured_us));
        }
        fn info_changed(&self) {
            self.info_changes.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Gives frames of widths 1, 2, 3... then fails; knows one control.
    #[derive(Debug)]
    struct Counting {
        fail_after: u32,
    }

    struct CountingCapture {
        next: u32,
        fail_after: u32,
    }

    impl Source for Counting {
        fn kind(&self) -> &'static str {
            "counting"
        }
        fn open(&self, _settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
            Ok(Box::new(CountingCapture { next: 1, fail_after: self.fail_after }))
        }
        fn modes(&self, _current: &Settings) -> CameraModes {
            CameraModes::default()
        }
    }

    impl Capture for CountingCapture {
        fn pace(&self) -> Option<u32> {
            Some(200)
        }
        fn grab(&mut self) -> Result<Encoded, SourceError> {
            if self.next > self.fail_after {
                return Err(SourceError::Device("unplugged".into()));
            }
            self.next += 1;
            Ok(Jpeg { data: Bytes::from_static(b"jpeg"), width: self.next - 1, height: 1 }.into())
        }
        fn set_control(&mut self, name: &str, _value: i64) -> Result<(), SourceError> {
            match name {
                "Gain" => Ok(()),
                _ => Err(SourceError::Device(format!("no control '{name}'"))),
            }
        }
    }

    const SETTINGS: Settings = Settings { size: Size { width: 16, height: 16 }, fps: 200, quality: 50 };

    #[tokio::test]
    async fn frames_reach_the_sink_in_order_with_rising_times_until_the_camera_fails() {
        let sink = FakeSink::default();
        let mut capture = CaptureHandle::start(sink.clone(), Arc::new(Counting { fail_after: 5 }), SETTINGS);
        let result = tokio::time::timeout(Duration::from_secs(10), capture.finished()).await.unwrap();
        assert_eq!(result.unwrap_err().to_string(), "unplugged");
        let frames = sink.frames.lock().unwrap().clone();
        assert_eq!(frames.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert!(frames.windows(2).all(|w| w[1].1 > w[0].1), "capture times rise: {frames:?}");
    }

    #[tokio::test]
    async fn controls_are_applied_between_frames_and_a_stop_ends_the_thread() {
        let sink = FakeSink::default();
        let capture =
            CaptureHandle::start(sink.clone(), Arc::new(Counting { fail_after: u32::MAX }), SETTINGS);
        let controls = capture.controls();
        controls.send(ControlRequest { name: "Gain".into(), value: 3 }).unwrap();
        controls.send(ControlRequest { name: "Zoom".into(), value: 1 }).unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while sink.info_changes.load(Ordering::SeqCst) == 0 || sink.frames.lock().unwrap().len() < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("frames and the control change arrive");
        tokio::time::timeout(Duration::from_secs(5), capture.stop()).await.expect("stops promptly");
        assert_eq!(sink.info_changes.load(Ordering::SeqCst), 1, "only the control the camera took");
        let after_stop = sink.frames.lock().unwrap().len();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(sink.frames.lock().unwrap().len(), after_stop, "nothing published after the stop");
    }
}
