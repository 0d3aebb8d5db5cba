//! Renditions: a camera's picture made smaller, at another JPEG quality, as JPEG for the
//! readers of an H.264 camera that only take JPEG, or as H.264 for the viewers of a JPEG
//! camera on a weak link (`?size=WxH`, `?w=W`, `?quality=Q`, auto size, MJPEG and snapshots
//! of H.264 cameras).
//!
//! A rendition is a [`Hub`] of its own whose source is the camera's hub: its capture thread
//! is one more viewer of the camera and converts its frames ([`convert`]: libjpeg-turbo
//! scales JPEGs, OpenH264 decodes and encodes). So there is one pipeline per (camera, size,
//! quality, codec), shared by every viewer of it, however many there are; it runs only while
//! someone watches it and stops after the idle timeout, like a camera; and when it cannot keep
//! up it skips frames, without slowing the camera or anyone else.
//!
//! Sizes are what libjpeg-turbo decodes cheaply: n/8 of the camera's, n = 1..8 (at 720p:
//! 160x90, 320x180, 480x270, 640x360, 800x450, 960x540, 1120x630, 1280x720). A request names
//! the box the picture must fit in; it gets the largest of those that fits (never larger than
//! the camera's own picture, and at least 1/8 of it).

use std::sync::Mutex;
use std::time::Duration;

use framecast_shared::{CameraModes, CameraStatus, RenditionInfo};
use tokio_util::sync::CancellationToken;

mod convert;

use crate::camera::{Settings, Size};
use crate::hub::Hub;
use crate::lock::Unpoisoned;
use crate::media::Codec;
use crate::media::jpeg::turbo::scaled_size;
use crate::source::{Capture, Source, SourceError};
use convert::ConvertCapture;

/// Renditions alive at once, over all cameras; one that nobody watches makes room.
pub const MAX_RENDITIONS: usize = 32;

/// A smaller or re-encoded picture, as a viewer asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenditionRequest {
    /// The box to fit in; the camera's size when `None`.
    pub size: Option<SizeRequest>,
    /// The quality; the camera's when `None`.
    pub quality: Option<u8>,
}

/// The box a viewer wants the picture to fit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRequest {
    /// Widest the picture may be.
    pub max_width: u32,
    /// Tallest; `None` for "as the aspect gives" (`?w=`).
    pub max_height: Option<u32>,
}

/// What a rendition is: the camera's picture at `eighths`/8 of its size, encoded as `codec`
/// (JPEGs at `quality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RenditionSpec {
    /// 1–8: the scale in eighths (8 is the camera's own size, re-encoded).
    pub eighths: u8,
    /// JPEG quality 1–100.
    pub quality: u8,
    /// The codec the rendition gives.
    pub codec: Codec,
}

/// The largest n/8 scale of a `width` x `height` camera picture that fits `request` (at least
/// 1/8, at most the camera's own size).
pub fn eighths_for(width: u32, height: u32, request: SizeRequest) -> u8 {
    (1..=8u8)
        .rev()
        .find(|&n| {
            let (w, h) = scaled_size(width, height, n);
            w <= request.max_width && request.max_height.is_none_or(|max| h <= max)
        })
        .unwrap_or(1)
}

/// Every rendition alive, and the frames they need.
#[derive(Debug)]
pub struct Renditions {
    shutdown: CancellationToken,
    idle_timeout: Duration,
    live: Mutex<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    camera: String,
    spec: RenditionSpec,
    hub: Hub,
    /// Ends this rendition's supervisor when it is evicted.
    stop: CancellationToken,
    supervisor: tokio::task::JoinHandle<()>,
}

/// Why no rendition could be had.
#[derive(Debug, thiserror::Error)]
pub enum RenditionError {
    /// Every slot is taken by a watched rendition.
    #[error(
        "{MAX_RENDITIONS} renditions are being watched already; ask for a size and quality already in use (see /api/state)"
    )]
    Full,
}

impl Renditions {
    /// No renditions yet; each one made runs until `shutdown`, stopping after `idle_timeout`
    /// unwatched.
    pub fn new(shutdown: CancellationToken, idle_timeout: Duration) -> Renditions {
        Renditions { shutdown, idle_timeout, live: Mutex::new(Vec::new()) }
    }

    /// What a viewer asking for `want` watches: `camera` itself when it asks for nothing
    /// (or for the camera's own size) and takes the camera's codec, else the rendition that
    /// fits. A viewer that takes H.264 (`h264`) gets an H.264 camera as it is, whatever size
    /// it asks for; one that only takes JPEG gets JPEGs decoded from it.
    pub fn view(
        &self,
        camera: &Hub,
        want: Option<RenditionRequest>,
        h264: bool,
    ) -> Result<Hub, RenditionError> {
        let want = want.unwrap_or(RenditionRequest { size: None, quality: None });
        let (width, height) = camera.picture_size();
        let eighths = want.size.map_or(8, |size| eighths_for(width, height, size));
        self.at(camera, eighths, want.quality, h264)
    }

    /// `camera` at `eighths`/8 of its size and `quality` (the camera's own when `None`) for a
    /// viewer that takes H.264 or not (`h264`): the camera itself where it fits, else the JPEG
    /// rendition.
    pub fn at(
        &self,
        camera: &Hub,
        eighths: u8,
        quality: Option<u8>,
        h264: bool,
    ) -> Result<Hub, RenditionError> {
        let h264_camera = camera.codec() == Some(Codec::H264);
        if h264_camera && h264 {
            return Ok(camera.clone());
        }
        if !h264_camera && eighths >= 8 && quality.is_none() {
            return Ok(camera.clone());
        }
        let quality = quality.unwrap_or_else(|| camera.info().quality);
        self.get(camera, RenditionSpec { eighths: eighths.clamp(1, 8), quality, codec: Codec::Jpeg })
    }

    /// A JPEG camera's picture at `eighths`/8 of its size as H.264, for a viewer whose link
    /// is too weak for its JPEGs (an H.264 camera is given as it is).
    pub fn h264_at(&self, camera: &Hub, eighths: u8) -> Result<Hub, RenditionError> {
        if camera.codec() == Some(Codec::H264) {
            return Ok(camera.clone());
        }
        let quality = camera.info().quality;
        self.get(camera, RenditionSpec { eighths: eighths.clamp(1, 8), quality, codec: Codec::H264 })
    }

    /// The rendition `spec` of `camera`, made (and its supervisor started) if new.
    pub fn get(&self, camera: &Hub, spec: RenditionSpec) -> Result<Hub, RenditionError> {
        let mut live = self.live.locked();
        if let Some(entry) = live.iter().find(|e| e.camera == camera.id() && e.spec == spec) {
            return Ok(entry.hub.clone());
        }
        if live.len() >= MAX_RENDITIONS {
            // Make room: drop renditions nobody watches.
            live.retain(|e| {
                let info = e.hub.info();
                let idle = info.viewers == 0 && info.status == CameraStatus::Stopped;
                if idle {
                    e.stop.cancel();
                }
                !idle
            });
            if live.len() >= MAX_RENDITIONS {
                return Err(RenditionError::Full);
            }
        }
        let info = camera.info();
        let (width, height) = scaled_size(info.width, info.height, spec.eighths);
        let settings = Settings { size: Size { width, height }, fps: info.fps, quality: spec.quality };
        let source =
            RenditionSource { camera: camera.clone(), spec, runtime: tokio::runtime::Handle::current() };
        let id = match spec.codec {
            Codec::Jpeg => format!("{}@{}/8,q{}", camera.id(), spec.eighths, spec.quality),
            Codec::H264 => format!("{}@{}/8,h264", camera.id(), spec.eighths),
        };
        let hub = Hub::new(id, Box::new(source), settings, self.idle_timeout);
        let stop = self.shutdown.child_token();
        let supervisor = hub.spawn_supervisor(stop.clone());
        tracing::debug!(camera = %camera.id(), "rendition {width}x{height} q{} made", spec.quality);
        live.push(Entry { camera: camera.id().to_string(), spec, hub: hub.clone(), stop, supervisor });
        Ok(hub)
    }

    /// Waits until every rendition has stopped (after the server's shutdown began), so no
    /// capture thread outlives the server.
    pub async fn stopped(&self) {
        let entries = std::mem::take(&mut *self.live.locked());
        for entry in entries {
            entry.stop.cancel();
            let _ = entry.supervisor.await;
        }
    }

    /// The renditions of camera `id`, for `/api/state`.
    pub fn describe(&self, id: &str) -> Vec<RenditionInfo> {
        let live = self.live.locked();
        live.iter()
            .filter(|e| e.camera == id)
            .map(|e| {
                let info = e.hub.info();
                RenditionInfo {
                    width: info.width,
                    height: info.height,
                    codec: (e.spec.codec != Codec::Jpeg).then(|| e.spec.codec.name().to_string()),
                    quality: e.spec.quality,
                    running: info.running,
                    viewers: info.viewers,
                    frames: info.frames,
                }
            })
            .collect()
    }
}

/// A rendition as a camera kind: its frames come from another hub.
#[derive(Debug)]
struct RenditionSource {
    camera: Hub,
    spec: RenditionSpec,
    /// The capture thread waits for the camera's frames on the server's runtime.
    runtime: tokio::runtime::Handle,
}

impl Source for RenditionSource {
    fn kind(&self) -> &'static str {
        "rendition"
    }

    fn open(&self, settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        let capture =
            ConvertCapture::new(self.camera.watch(), self.spec, settings.fps, self.runtime.clone())?;
        Ok(Box::new(capture))
    }

    fn codec(&self, _settings: &Settings) -> Option<Codec> {
        Some(self.spec.codec)
    }

    fn follows_a_camera(&self) -> bool {
        true
    }

    fn modes(&self, _current: &Settings) -> CameraModes {
        // Sizes and quality are the rendition's identity; its rate is the camera's.
        CameraModes { sizes: Vec::new(), max_fps: 0, quality: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One rendition frame per camera frame: never the same camera frame twice, never more
    /// than the camera gives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rendition_makes_one_frame_per_camera_frame() {
        let settings = Settings { size: Size { width: 1280, height: 720 }, fps: 20, quality: 70 };
        let camera = Hub::new(
            "cam".into(),
            Box::new(crate::source::emulated::EmulatedSource::jpeg()),
            settings,
            Duration::from_secs(5),
        );
        let shutdown = CancellationToken::new();
        let supervisor = camera.spawn_supervisor(shutdown.clone());
        let renditions = Renditions::new(shutdown.clone(), Duration::from_secs(5));
        let hub =
            renditions.get(&camera, RenditionSpec { eighths: 4, quality: 60, codec: Codec::Jpeg }).unwrap();
        let mut viewer = hub.watch();
        let mut stamps = Vec::new();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(1) {
            let frame = tokio::time::timeout(Duration::from_secs(5), viewer.next_frame(&shutdown))
                .await
                .expect("a frame in time")
                .expect("running");
            assert_eq!((frame.width, frame.height), (640, 360));
            stamps.push(frame.captured_us);
        }
        assert!(stamps.windows(2).all(|w| w[1] > w[0]), "a camera frame scaled twice: {stamps:?}");
        assert!(
            (10..=26).contains(&stamps.len()),
            "{} rendition frames in 1 s of a 20 fps camera",
            stamps.len()
        );
        shutdown.cancel();
        renditions.stopped().await;
        supervisor.await.unwrap();
    }

    fn fit(w: u32, h: Option<u32>) -> SizeRequest {
        SizeRequest { max_width: w, max_height: h }
    }

    #[test]
    fn the_largest_eighth_that_fits_is_chosen() {
        assert_eq!(eighths_for(1280, 720, fit(640, Some(360))), 4);
        assert_eq!(eighths_for(1280, 720, fit(639, Some(360))), 3, "never larger than asked");
        assert_eq!(eighths_for(1280, 720, fit(1170, None)), 7, "?w= alone: 1120x630");
        assert_eq!(eighths_for(1280, 720, fit(4000, Some(4000))), 8, "never larger than the camera");
        assert_eq!(eighths_for(1280, 720, fit(100, Some(50))), 1, "at least 1/8");
        assert_eq!(eighths_for(1280, 720, fit(1280, Some(300))), 3, "the height counts too");
    }
}
