//! What one WebSocket viewer is shown: the camera's own picture or a rendition of it, at a
//! size it chose (`?size=` on the URL, `size` in `hello`) or chosen for it (`"auto"`, see
//! [`crate::adapt`]). What the viewer is told about the camera (status, settings) stays the
//! camera's whatever size it is shown; a `picture` message says the size and why.
//!
//! Codecs: a viewer that decodes H.264 gets an H.264 camera as it is, at any size (its
//! pictures cost little, and the browser scales them). An `auto` viewer that decodes H.264
//! and watches a JPEG camera starts on the JPEGs; the first time its link proves too weak for
//! them (the size controller steps down for the link), it moves to the camera's H.264
//! rendition at the largest size its canvas takes, a tenth of the bytes, and the controller
//! starts again from there (stepping down H.264 sizes if even that is too much). It stays on
//! H.264 for the rest of the session: a link that failed once is not trusted with JPEGs
//! again.

use std::collections::VecDeque;
use std::sync::Arc;

use framecast_shared::{PictureMode, ServerMessage};
use tokio::time::Instant;

use crate::adapt::{AutoSize, Reason, Step};
use crate::hub::{Hub, Observer, Viewer};
use crate::media::Codec;
use crate::rendition::{RenditionError, RenditionRequest, Renditions, SizeRequest, eighths_for};

/// How a viewer asks its size to be chosen (`hello` `size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeChoice {
    /// The camera's own picture.
    Full,
    /// The largest n/8 size that fits in this box.
    Fixed(SizeRequest),
    /// Chosen from the viewer's link and canvas.
    Auto,
}

/// What a viewer is shown.
#[derive(Debug)]
pub struct Picture {
    /// The camera being watched.
    pub camera: Hub,
    renditions: Arc<Renditions>,
    /// The quality the URL asked for, kept when the size changes.
    quality: Option<u8>,
    /// The size asked for (`Fixed`), to show again when the codecs accepted change.
    fixed: Option<SizeRequest>,
    /// The viewer decodes H.264 (`accept`): an H.264 camera is shown as it is, and a JPEG
    /// camera may be shown as H.264 on a weak link.
    h264: bool,
    /// Where the frames come from: the camera, or the rendition shown.
    pub viewer: Viewer,
    /// The camera's status and description, followed while a rendition is shown.
    pub observer: Option<Observer>,
    mode: PictureMode,
    /// The viewer's canvas in device pixels.
    canvas: Option<[u32; 2]>,
    /// `auto`: the size controller, and frame counts of the picture shown (to know what it
    /// offered).
    auto: Option<AutoSize>,
    /// `auto` on a weak link: a JPEG camera is shown through its H.264 rendition.
    weak_link_h264: bool,
    offered: VecDeque<(Instant, u64)>,
    /// When the last `picture` message went out.
    last_report: Option<Instant>,
}

/// How often an `auto` viewer is told what its link carries.
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Picture {
    /// `camera` as `want` asks (its own picture when `None`), for a viewer that decodes H.264
    /// or not (`h264`).
    pub fn new(
        camera: Hub,
        want: Option<RenditionRequest>,
        renditions: Arc<Renditions>,
        h264: bool,
    ) -> Result<Picture, RenditionError> {
        let shown = renditions.view(&camera, want, h264)?;
        let observer = (!shown.is(&camera)).then(|| camera.observe());
        let fixed = want.and_then(|w| w.size);
        let mode = if fixed.is_none() { PictureMode::Full } else { PictureMode::Fixed };
        Ok(Picture {
            viewer: shown.watch(),
            camera,
            renditions,
            quality: want.and_then(|w| w.quality),
            fixed,
            h264,
            observer,
            mode,
            canvas: None,
            auto: None,
            weak_link_h264: false,
            offered: VecDeque::new(),
            last_report: None,
        })
    }

    /// Whether the size is chosen for the viewer.
    pub fn is_auto(&self) -> bool {
        self.auto.is_some()
    }

    /// Applies a `hello`'s `size`, `canvas` and `accept` (whether the viewer decodes H.264).
    /// `Ok(true)` when the picture shown changed (its frames count on from their own numbers).
    pub fn choose(
        &mut self,
        size: Option<SizeChoice>,
        canvas: Option<[u32; 2]>,
        h264: Option<bool>,
    ) -> Result<bool, RenditionError> {
        let now = Instant::now();
        if canvas.is_some() {
            self.canvas = canvas;
        }
        let codecs_changed = h264.is_some_and(|h| h != self.h264);
        if let Some(h264) = h264 {
            self.h264 = h264;
        }
        if !self.h264 || size.is_some_and(|s| s != SizeChoice::Auto) {
            self.weak_link_h264 = false;
        }
        let size = match size {
            None if codecs_changed => Some(match (&self.auto, self.fixed) {
                (Some(_), _) => SizeChoice::Auto,
                (None, Some(fixed)) => SizeChoice::Fixed(fixed),
                (None, None) => SizeChoice::Full,
            }),
            size => size,
        };
        match size {
            Some(SizeChoice::Full) => {
                self.auto = None;
                self.fixed = None;
                self.mode = PictureMode::Full;
                self.show_hub(self.renditions.view(&self.camera, None, self.h264)?)
            }
            Some(SizeChoice::Fixed(size)) => {
                self.auto = None;
                self.fixed = Some(size);
                self.mode = PictureMode::Fixed;
                let want = RenditionRequest { size: Some(size), quality: self.quality };
                self.show_hub(self.renditions.view(&self.camera, Some(want), self.h264)?)
            }
            Some(SizeChoice::Auto) => {
                let ceiling = self.ceiling();
                self.fixed = None;
                self.mode = PictureMode::Auto;
                self.auto = Some(AutoSize::new(ceiling, now.into_std()));
                self.show_eighths(ceiling)
            }
            None => {
                let ceiling = self.ceiling();
                match self.auto.as_mut().and_then(|auto| auto.set_ceiling(ceiling, now.into_std())) {
                    Some(step) => self.show_eighths(step.eighths),
                    None => Ok(false),
                }
            }
        }
    }

    /// The largest size the canvas takes, in eighths of the camera's.
    fn ceiling(&self) -> u8 {
        ceiling_of(&self.camera, self.canvas)
    }

    fn show_eighths(&mut self, eighths: u8) -> Result<bool, RenditionError> {
        let hub = if self.weak_link_h264 {
            self.renditions.h264_at(&self.camera, eighths)?
        } else {
            self.renditions.at(&self.camera, eighths, self.quality, self.h264)?
        };
        self.show_hub(hub)
    }

    /// Whether a step the controller just took should instead move this viewer to H.264 (see
    /// the module doc): it steps down for the link, the viewer decodes H.264, the camera is
    /// JPEG, and it is not on H.264 already.
    fn h264_would_help(&self, before: u8, step: &Step) -> bool {
        step.reason == Reason::Link
            && step.eighths < before
            && self.h264
            && !self.weak_link_h264
            && self.camera.codec() != Some(Codec::H264)
    }

    fn show_hub(&mut self, hub: Hub) -> Result<bool, RenditionError> {
        if hub.is(self.viewer.hub()) {
            return Ok(false);
        }
        self.observer = (!hub.is(&self.camera)).then(|| self.camera.observe());
        self.viewer = hub.watch();
        self.offered.clear();
        Ok(true)
    }

    /// `auto`: the viewer acknowledged `frames` frames of `bytes`.
    pub fn on_acked(&mut self, frames: u64, bytes: u64) {
        if let Some(auto) = &mut self.auto {
            auto.on_acked(Instant::now().into_std(), frames, bytes);
        }
    }

    /// `auto`: forget what was measured (the viewer left the live picture).
    pub fn pause_measuring(&mut self) {
        if let Some(auto) = &mut self.auto {
            auto.reset(Instant::now().into_std());
        }
        self.offered.clear();
    }

    /// `auto`, called every half second while live: measures, maybe changes the size.
    /// `max_fps` is the viewer's own cap. Returns whether the picture changed, and the
    /// `picture` message to send, if one is due.
    pub fn tick(&mut self, max_fps: Option<f64>) -> Result<(bool, Option<ServerMessage>), RenditionError> {
        let now = Instant::now();
        let Some(auto) = &mut self.auto else { return Ok((false, None)) };
        self.offered.push_back((now, self.viewer.hub().frames()));
        while self.offered.len() > 5 {
            self.offered.pop_front();
        }
        let offered_fps = match (self.offered.front(), self.offered.back()) {
            (Some((t0, f0)), Some((t1, f1))) if t1 > t0 => {
                (f1 - f0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        };
        let offered_fps = max_fps.map_or(offered_fps, |cap| offered_fps.min(cap));
        let before = auto.current();
        let step: Option<Step> =
            if self.offered.len() >= 4 { auto.decide(now.into_std(), offered_fps) } else { None };
        let changed = match step {
            Some(step) if self.h264_would_help(before, &step) => {
                self.weak_link_h264 = true;
                let ceiling = self.ceiling();
                self.auto = Some(AutoSize::new(ceiling, now.into_std()));
                tracing::debug!(camera = %self.camera.id(), "weak link: H.264 at {ceiling}/8 instead of JPEG");
                self.show_eighths(ceiling)?
            }
            Some(step) => self.show_eighths(step.eighths)?,
            None => false,
        };
        let due = changed || self.last_report.is_none_or(|t| now.duration_since(t) >= REPORT_EVERY);
        Ok((changed, due.then(|| self.describe())))
    }

    /// The `picture` message for what is shown now.
    pub fn describe(&mut self) -> ServerMessage {
        self.last_report = Some(Instant::now());
        let (width, height) = self.viewer.hub().picture_size();
        let (link_bps, reason) = match &self.auto {
            Some(auto) => {
                (auto.link_bps(Instant::now().into_std()), Some(auto.reason().as_str().to_string()))
            }
            None => (None, None),
        };
        let codec = self.viewer.hub().codec().filter(|c| *c != Codec::Jpeg).map(|c| c.name().to_string());
        ServerMessage::Picture { mode: self.mode, width, height, link_bps, reason, codec }
    }
}

/// The largest n/8 size of `camera` that fits in `canvas` (the camera's own size without one).
fn ceiling_of(camera: &Hub, canvas: Option<[u32; 2]>) -> u8 {
    let Some([w, h]) = canvas else { return 8 };
    let (width, height) = camera.picture_size();
    eighths_for(width, height, SizeRequest { max_width: w.max(1), max_height: Some(h.max(1)) })
}

/// Completes when the camera's status or description changes while a rendition is shown
/// (`observer` is then the camera's).
pub async fn camera_changed(observer: &mut Option<Observer>) {
    if let Some(observer) = observer
        && observer.changed().await.is_some()
    {
        return;
    }
    std::future::pending().await
}
