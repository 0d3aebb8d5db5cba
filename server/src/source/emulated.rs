//! The emulated camera: renders [`super::pattern`] and encodes it, to JPEG (4:2:0, like a real
//! camera's MJPEG) with libjpeg-turbo ([`crate::media::jpeg::turbo`]) or, with `--codec h264`,
//! to H.264 with OpenH264 ([`crate::media::h264::codec`]), so the whole H.264 path runs
//! anywhere. Runs on the capture thread, never on the async runtime.

use bytes::Bytes;

use framecast_shared::CameraModes;

use super::pattern::Pattern;
use super::{Capture, Source, SourceError};
use crate::camera::{Encoding, Settings};
use crate::media::h264::codec::{self as h264, EncoderSettings};
use crate::media::jpeg::Jpeg;
use crate::media::jpeg::turbo;
use crate::media::{Codec, Encoded};

/// The `emulated` camera kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmulatedSource {
    encoding: Encoding,
}

impl EmulatedSource {
    /// The test pattern as JPEG.
    pub fn jpeg() -> EmulatedSource {
        EmulatedSource::default()
    }

    /// The test pattern encoded as `encoding` says.
    pub fn new(encoding: Encoding) -> EmulatedSource {
        EmulatedSource { encoding }
    }
}

impl Source for EmulatedSource {
    fn kind(&self) -> &'static str {
        "emulated"
    }

    fn open(&self, settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        Ok(Box::new(EmulatedCapture::new(settings, self.encoding)?))
    }

    fn codec(&self, _settings: &Settings) -> Option<Codec> {
        Some(self.encoding.codec)
    }

    fn modes(&self, current: &Settings) -> CameraModes {
        super::software_modes(current)
    }
}

/// The encoder of the emulated camera's pictures.
#[derive(Debug)]
enum PatternEncoder {
    Jpeg(turbo::Encoder),
    H264(Box<h264::Encoder>),
}

/// A running emulated camera.
#[derive(Debug)]
pub struct EmulatedCapture {
    pattern: Pattern,
    settings: Settings,
    frame_no: u64,
    encoder: PatternEncoder,
}

impl EmulatedCapture {
    /// Starts a camera with these settings.
    pub fn new(settings: &Settings, encoding: Encoding) -> Result<EmulatedCapture, SourceError> {
        let (width, height) = (settings.size.width, settings.size.height);
        let encoder = match encoding.codec {
            Codec::Jpeg => PatternEncoder::Jpeg(turbo::Encoder::new(settings.quality)?),
            Codec::H264 => {
                let encoder = h264::Encoder::new(EncoderSettings {
                    fps: settings.fps as f32,
                    bitrate_bps: h264::bitrate_for(width, height, settings.fps),
                    keyframe_every: encoding.keyframe_every(settings.fps),
                    full_range: false,
                })?;
                PatternEncoder::H264(Box::new(encoder))
            }
        };
        Ok(EmulatedCapture {
            pattern: Pattern::new(width, height),
            settings: *settings,
            frame_no: 0,
            encoder,
        })
    }
}

impl Capture for EmulatedCapture {
    fn pace(&self) -> Option<u32> {
        Some(self.settings.fps)
    }

    fn grab(&mut self) -> Result<Encoded, SourceError> {
        self.frame_no += 1;
        let (width, height) = (self.settings.size.width, self.settings.size.height);
        let rgb = self.pattern.render(self.frame_no, framecast_shared::unix_micros_now());
        match &mut self.encoder {
            PatternEncoder::Jpeg(encoder) => {
                let data = encoder.encode_rgb(rgb, width, height)?;
                Ok(Jpeg { data: Bytes::from(data), width, height }.into())
            }
            PatternEncoder::H264(encoder) => {
                Ok(Encoded::H264(encoder.encode_rgb(rgb, width as usize, height as usize)?))
            }
        }
    }

    fn request_keyframe(&mut self) {
        if let PatternEncoder::H264(encoder) = &mut self.encoder {
            encoder.request_keyframe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Size;

    const SETTINGS: Settings = Settings { size: Size { width: 320, height: 240 }, fps: 30, quality: 70 };

    #[test]
    fn frames_are_jpegs_of_the_configured_size() {
        let mut cam = EmulatedSource::jpeg().open(&SETTINGS).unwrap();
        assert_eq!(cam.pace(), Some(30));
        let (Encoded::Jpeg(a), Encoded::Jpeg(b)) = (cam.grab().unwrap(), cam.grab().unwrap()) else {
            panic!("JPEGs")
        };
        assert_eq!((a.width, a.height), (320, 240));
        assert_eq!(crate::media::jpeg::dimensions(&a.data), Ok((320, 240)));
        assert_eq!(&a.data[..2], &[0xFF, 0xD8]);
        assert_eq!(&a.data[a.data.len() - 2..], &[0xFF, 0xD9]);
        assert_ne!(a.data, b.data, "consecutive frames must differ");
    }

    #[test]
    fn h264_starts_with_a_keyframe_and_makes_one_when_asked() {
        let encoding = Encoding { codec: Codec::H264, keyframe_interval: std::time::Duration::from_secs(10) };
        let mut cam = EmulatedSource::new(encoding).open(&SETTINGS).unwrap();
        let units: Vec<_> = (0..5)
            .map(|_| match cam.grab().unwrap() {
                Encoded::H264(unit) => unit,
                Encoded::Jpeg(_) => panic!("H.264"),
            })
            .collect();
        assert!(units[0].keyframe, "the first picture is an IDR");
        assert!(units[1..].iter().all(|u| !u.keyframe), "then predicted pictures");
        assert_eq!((units[0].stream.width, units[0].stream.height), (320, 240));
        assert!(units[0].stream.codec.starts_with("avc1.42"), "{}", units[0].stream.codec);
        cam.request_keyframe();
        let Encoded::H264(asked) = cam.grab().unwrap() else { panic!("H.264") };
        assert!(asked.keyframe, "a keyframe on request");
        // The access unit is AVC: lengths that add up, slices only.
        let nals: Vec<_> = asked.nals().collect::<Result<_, _>>().unwrap();
        assert!(nals.iter().all(|n| crate::media::h264::nal::is_slice(n)), "no parameter sets inside");
    }
}
