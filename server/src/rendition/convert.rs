//! A rendition's capture: one more viewer of its camera that turns each camera frame into
//! the rendition's picture, whatever the camera's codec turns out to be (a command's output is
//! only known when it runs):
//!
//! | camera | rendition | how |
//! |---|---|---|
//! | JPEG | JPEG, n/8 | libjpeg-turbo decodes at n/8 inside its inverse DCT into planes and encodes again |
//! | H.264 | JPEG, n/8 | OpenH264 decodes every frame in order; the newest is encoded as a JPEG (and scaled as above) |
//! | JPEG | H.264, n/8 | libjpeg-turbo decodes at n/8 into 4:2:0 planes; OpenH264 encodes them, a keyframe when a viewer needs one |
//!
//! A JPEG camera's frames stand alone, so the capture takes the newest one whenever it is
//! ready and skips the rest. An H.264 camera's frames depend on each other: the capture
//! decodes each in order (through the hub's group of pictures) and only encodes the newest,
//! and if it falls too far behind it skips to the next keyframe like any viewer.

use std::sync::Arc;

use framecast_shared::CameraStatus;
use tokio_util::sync::CancellationToken;

use super::RenditionSpec;
use crate::hub::{Change, Frame, Viewer};
use crate::media::h264::AccessUnit;
use crate::media::h264::codec::{self as h264, EncoderSettings};
use crate::media::jpeg::Jpeg;
use crate::media::jpeg::turbo::Scaler;
use crate::media::transcode::H264ToJpeg;
use crate::media::{Codec, Encoded, PlaneBuffer};
use crate::source::{Capture, SourceError, Stopper};

/// Camera frames in a row that may fail to convert before the rendition reports the camera's
/// frames unusable (a camera sending one broken frame now and then only loses those).
const MAX_FAILURES: u32 = 30;

/// A running rendition: a viewer of the camera and the codecs to convert its frames.
pub struct ConvertCapture {
    viewer: Viewer,
    spec: RenditionSpec,
    runtime: tokio::runtime::Handle,
    stop: CancellationToken,
    /// The camera `seq` of the last frame taken.
    taken: Option<u64>,
    /// Capture time of the camera frame last converted.
    captured_us: u64,
    /// Camera frames in a row that could not be converted.
    failures: u32,
    scaler: Scaler,
    /// Made on the first H.264 camera frame.
    decoder: Option<H264ToJpeg>,
    /// H.264 renditions: the encoder (made on the first picture, at its size) and its input.
    h264_encoder: Option<(h264::Encoder, (usize, usize))>,
    planes: PlaneBuffer,
    /// A keyframe was asked for before the encoder existed.
    keyframe_wanted: bool,
    /// The rendition's frame rate (the camera's), for the H.264 encoder's rate control.
    fps: u32,
}

impl std::fmt::Debug for ConvertCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConvertCapture").field("spec", &self.spec).finish_non_exhaustive()
    }
}

impl ConvertCapture {
    /// A rendition of what `viewer` watches.
    pub fn new(
        viewer: Viewer,
        spec: RenditionSpec,
        fps: u32,
        runtime: tokio::runtime::Handle,
    ) -> Result<ConvertCapture, SourceError> {
        Ok(ConvertCapture {
            viewer,
            spec,
            runtime,
            stop: CancellationToken::new(),
            taken: None,
            captured_us: 0,
            failures: 0,
            scaler: Scaler::new()?,
            decoder: None,
            h264_encoder: None,
            planes: PlaneBuffer::default(),
            keyframe_wanted: false,
            fps,
        })
    }

    /// One camera frame converted; `Ok(None)` when it gives no picture (an H.264 frame only
    /// decoded to keep up, or one before the first keyframe).
    fn convert(&mut self, frame: &Frame) -> Result<Option<Encoded>, SourceError> {
        let jpeg = match (&frame.h264, self.spec.codec) {
            (None, Codec::Jpeg) => {
                return Ok(Some(
                    self.scaler.scale(&frame.data, self.spec.eighths, self.spec.quality)?.into(),
                ));
            }
            (None, Codec::H264) => {
                return self.encode_h264(&frame.data).map(|unit| Some(Encoded::H264(unit)));
            }
            // A camera whose H.264 was only known once it ran: passed through as it is.
            (Some(_), Codec::H264) if self.spec.eighths >= 8 => {
                return Ok(frame.access_unit().map(Encoded::H264));
            }
            (Some(_), Codec::H264) => {
                return Err(SourceError::Device("smaller H.264 is made of JPEG cameras only".into()));
            }
            (Some(_), Codec::Jpeg) => {
                let Some(unit) = frame.access_unit() else { return Ok(None) };
                // Only the newest frame becomes a JPEG; older ones are decoded to keep up.
                let newest = self.viewer.hub().frames() == frame.seq;
                match self.decode_to_jpeg(&unit, newest)? {
                    Some(jpeg) => jpeg,
                    None => return Ok(None),
                }
            }
        };
        if self.spec.eighths >= 8 {
            return Ok(Some(jpeg.into()));
        }
        Ok(Some(self.scaler.scale(&jpeg.data, self.spec.eighths, self.spec.quality)?.into()))
    }

    /// Decodes `unit`; when `encode`, the picture as a JPEG (full size, the rendition's
    /// quality when it stays full size, else a fine one to scale from).
    fn decode_to_jpeg(&mut self, unit: &AccessUnit, encode: bool) -> Result<Option<Jpeg>, SourceError> {
        let decoder = match &mut self.decoder {
            Some(decoder) => decoder,
            None => {
                let quality = if self.spec.eighths >= 8 { self.spec.quality } else { 95 };
                self.decoder.insert(H264ToJpeg::new(quality)?)
            }
        };
        Ok(decoder.decode(unit, encode)?)
    }

    /// A JPEG decoded at the rendition's size and encoded as H.264.
    fn encode_h264(&mut self, jpeg: &[u8]) -> Result<AccessUnit, SourceError> {
        self.scaler.decode_i420(jpeg, self.spec.eighths, &mut self.planes)?;
        let size = (self.planes.width, self.planes.height);
        if self.h264_encoder.as_ref().is_none_or(|(_, at)| *at != size) {
            let encoder = h264::Encoder::new(EncoderSettings {
                fps: self.fps as f32,
                bitrate_bps: h264::bitrate_for(size.0 as u32, size.1 as u32, self.fps),
                keyframe_every: self.fps.max(1) * 2,
                full_range: false,
            })?;
            self.h264_encoder = Some((encoder, size));
        }
        let (encoder, _) = self.h264_encoder.as_mut().expect("made above");
        if std::mem::take(&mut self.keyframe_wanted) {
            encoder.request_keyframe();
        }
        Ok(encoder.encode_i420(self.planes.planes())?)
    }
}

impl Capture for ConvertCapture {
    fn pace(&self) -> Option<u32> {
        None
    }

    fn grab(&mut self) -> Result<Encoded, SourceError> {
        loop {
            let frame = self.runtime.block_on(next_camera_frame(&mut self.viewer, &self.stop, self.taken))?;
            self.taken = Some(frame.seq);
            match self.convert(&frame) {
                Ok(Some(picture)) => {
                    self.failures = 0;
                    self.captured_us = frame.captured_us;
                    return Ok(picture);
                }
                Ok(None) => {}
                Err(e) => {
                    self.failures += 1;
                    tracing::debug!(camera = %self.viewer.hub().id(), "frame {} not converted: {e}", frame.seq);
                    if self.failures >= MAX_FAILURES {
                        // The rendition's own failure: the hub logs renditions as details only.
                        let reason = format!("the camera's frames cannot be converted: {e}");
                        tracing::warn!(camera = %self.viewer.hub().id(), "rendition offline: {reason}");
                        return Err(SourceError::Device(reason));
                    }
                }
            }
        }
    }

    fn request_keyframe(&mut self) {
        match &mut self.h264_encoder {
            Some((encoder, _)) => encoder.request_keyframe(),
            None => self.keyframe_wanted = true,
        }
    }

    fn captured_us(&self) -> Option<u64> {
        Some(self.captured_us)
    }

    fn stopper(&self) -> Option<Stopper> {
        let stop = self.stop.clone();
        Some(Arc::new(move || stop.cancel()))
    }
}

/// The camera's next frame for this rendition (see [`Viewer::next_after`]); an error when
/// the camera goes offline (the rendition then shows offline too, with the camera's reason)
/// or the rendition is stopped.
async fn next_camera_frame(
    viewer: &mut Viewer,
    stop: &CancellationToken,
    taken: Option<u64>,
) -> Result<Arc<Frame>, SourceError> {
    loop {
        let status = viewer.status();
        if status.status == CameraStatus::Offline {
            // The camera's own reason: the viewer's status line already says "offline".
            return Err(SourceError::Device(status.reason.unwrap_or_else(|| "no reason given".into())));
        }
        // Only a frame not taken yet: the same frame is never converted twice.
        if let Some(frame) = viewer.next_after(taken) {
            return Ok(frame);
        }
        tokio::select! {
            _ = stop.cancelled() => return Err(SourceError::Device("rendition stopped".into())),
            change = viewer.changed(true) => match change {
                None => return Err(SourceError::Device("the camera is gone".into())),
                Some(Change::Frame) => {}
                Some(Change::Status) => viewer.mark_seen(),
            },
        }
    }
}
