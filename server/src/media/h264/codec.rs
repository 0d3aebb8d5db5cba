//! OpenH264, for the H.264 framecast makes or reads itself: the emulated camera and the H.264
//! renditions of JPEG cameras are encoded here, and the JPEG readers of an H.264 camera
//! (MJPEG streams, snapshots, JPEG-only viewers) get pictures decoded here.
//!
//! The `openh264` crate builds Cisco's OpenH264 from its bundled source (with nasm's x86
//! assembly here and NEON on the Pi), so nothing is downloaded at build time; see the
//! README for its patent note. The encoder is set for live pictures: Constrained Baseline
//! (no B-frames, so every picture can be shown as it arrives), rate control on a bitrate,
//! no skipped frames, an IDR every keyframe interval and whenever asked (a new or lagging
//! viewer), SPS and PPS before every IDR.

use std::sync::Arc;

use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Complexity, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile, RateControlMode,
    UsageType, VuiConfig,
};
use openh264::formats::{RgbSliceU8, YUVBuffer, YUVSlices, YUVSource};

use super::{AccessUnit, H264Error, Stream, annexb};
use crate::media::I420;

/// A bitrate for live pictures of this size and rate: 0.05 bits per pixel (1280x720 at 30
/// fps: 1.4 Mbit/s, what IP cameras commonly send at 720p), within 150 kbit/s and 8 Mbit/s.
/// Low enough that an H.264 rendition of a 720p30 camera fits a 2 Mbit/s link whole, which is
/// what the renditions are for.
pub fn bitrate_for(width: u32, height: u32, fps: u32) -> u32 {
    let bps = f64::from(width) * f64::from(height) * f64::from(fps) * 0.05;
    bps.clamp(150_000.0, 8_000_000.0) as u32
}

/// How the encoder runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderSettings {
    /// Frames per second it is fed (for rate control and the level).
    pub fps: f32,
    /// Target bitrate.
    pub bitrate_bps: u32,
    /// An IDR every this many frames.
    pub keyframe_every: u32,
    /// Whether the pictures use the full 0–255 range (planes decoded from a JPEG) rather than
    /// video range (RGB converted by OpenH264): said in the stream's VUI, so decoders show the
    /// right levels.
    pub full_range: bool,
}

/// A live H.264 encoder (see the module doc).
pub struct Encoder {
    inner: openh264::encoder::Encoder,
    settings: EncoderSettings,
    stream: Option<Arc<Stream>>,
    out: Vec<u8>,
    force_keyframe: bool,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("settings", &self.settings).finish_non_exhaustive()
    }
}

fn codec_error(e: openh264::Error) -> H264Error {
    H264Error::Codec(e.to_string())
}

impl Encoder {
    /// An encoder with these settings.
    pub fn new(settings: EncoderSettings) -> Result<Encoder, H264Error> {
        let vui = if settings.full_range { VuiConfig::bt601().full_range(true) } else { VuiConfig::bt601() };
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(settings.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(settings.fps.clamp(1.0, 60.0)))
            .intra_frame_period(IntraFramePeriod::from_num_frames(settings.keyframe_every.max(1)))
            .skip_frames(false)
            .profile(Profile::Baseline)
            .complexity(Complexity::Low)
            .num_threads(1)
            .vui(vui);
        let inner = openh264::encoder::Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(codec_error)?;
        Ok(Encoder { inner, settings, stream: None, out: Vec::new(), force_keyframe: false })
    }

    /// Makes the next picture an IDR.
    pub fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Encodes packed RGB (converted to video-range BT.601 by OpenH264).
    pub fn encode_rgb(&mut self, rgb: &[u8], width: usize, height: usize) -> Result<AccessUnit, H264Error> {
        if width < 16
            || height < 16
            || !width.is_multiple_of(2)
            || !height.is_multiple_of(2)
            || rgb.len() < width * height * 3
        {
            return Err(H264Error::Codec(format!(
                "{} bytes do not hold a {width}x{height} RGB picture of even size",
                rgb.len()
            )));
        }
        let yuv = YUVBuffer::from_rgb8_source(RgbSliceU8::new(&rgb[..width * height * 3], (width, height)));
        self.encode_source(&yuv)
    }

    /// Encodes 4:2:0 planes.
    pub fn encode_i420(&mut self, picture: I420<'_>) -> Result<AccessUnit, H264Error> {
        picture.check().map_err(H264Error::Codec)?;
        let (sy, suv) = picture.strides;
        let source = YUVSlices::new(
            (picture.y, picture.u, picture.v),
            (picture.width, picture.height),
            (sy, suv, suv),
        );
        self.encode_source(&source)
    }

    fn encode_source(&mut self, source: &impl YUVSource) -> Result<AccessUnit, H264Error> {
        if std::mem::take(&mut self.force_keyframe) {
            self.inner.force_intra_frame();
        }
        let encoded = self.inner.encode(source).map_err(codec_error)?;
        if matches!(encoded.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Err(H264Error::Codec("the encoder gave no picture".into()));
        }
        self.out.clear();
        encoded.write_vec(&mut self.out);
        let unit = AccessUnit::from_nals(annexb::nal_units(&self.out), self.stream.as_ref())?;
        self.stream = unit.1;
        unit.0.ok_or(H264Error::NoPicture)
    }
}

/// A live H.264 decoder: access units in, 4:2:0 planes out. After broken data it waits for
/// the next keyframe rather than show a damaged picture.
pub struct Decoder {
    inner: openh264::decoder::Decoder,
    annexb: Vec<u8>,
    /// No picture is trusted until the next keyframe.
    need_keyframe: bool,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").field("need_keyframe", &self.need_keyframe).finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder waiting for its first keyframe.
    pub fn new() -> Result<Decoder, H264Error> {
        let inner = openh264::decoder::Decoder::new().map_err(codec_error)?;
        Ok(Decoder { inner, annexb: Vec::new(), need_keyframe: true })
    }

    /// Whether pictures will be skipped until the next keyframe.
    pub fn needs_keyframe(&self) -> bool {
        self.need_keyframe
    }

    /// Skips pictures until the next keyframe: access units were lost on the way here.
    pub fn wait_for_keyframe(&mut self) {
        self.need_keyframe = true;
    }

    /// Decodes the next access unit of the stream and calls `picture` with its planes when
    /// one comes out. Pictures before the first keyframe (or after broken data, until the
    /// next one) are passed over: `Ok(false)`.
    pub fn decode(&mut self, unit: &AccessUnit, picture: impl FnOnce(I420<'_>)) -> Result<bool, H264Error> {
        if self.need_keyframe && !unit.keyframe {
            return Ok(false);
        }
        self.annexb.clear();
        unit.write_annexb(&mut self.annexb)?;
        match self.inner.decode(&self.annexb) {
            Ok(Some(yuv)) => {
                self.need_keyframe = false;
                let (width, height) = yuv.dimensions();
                let (sy, su, _) = yuv.strides();
                let (y, u, v) = (yuv.y(), yuv.u(), yuv.v());
                // Whole rows only: the planes may end short of the last stride.
                let planes = I420 {
                    y: &y[..(height * sy).min(y.len())],
                    u: &u[..(height / 2 * su).min(u.len())],
                    v: &v[..(height / 2 * su).min(v.len())],
                    width,
                    height,
                    strides: (sy, su),
                };
                picture(planes);
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => {
                self.need_keyframe = true;
                Err(codec_error(e))
            }
        }
    }
}
