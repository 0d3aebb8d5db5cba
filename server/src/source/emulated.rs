//! The emulated camera: renders [`super::pattern`] and encodes it to JPEG (4:2:0, like a real
//! camera's MJPEG) with a SIMD encoder. Runs on the capture thread, never on the async runtime.

use bytes::Bytes;

use framecast_shared::CameraModes;

use super::pattern::Pattern;
use super::{Capture, Jpeg, Source, SourceError};
use crate::config::Settings;

/// The `emulated` camera kind.
#[derive(Debug, Clone, Copy)]
pub struct EmulatedSource;

impl Source for EmulatedSource {
    fn kind(&self) -> &'static str {
        "emulated"
    }

    fn open(&self, settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        Ok(Box::new(EmulatedCapture::new(settings)))
    }

    fn modes(&self, current: &Settings) -> CameraModes {
        super::software_modes(current)
    }
}

/// A running emulated camera.
#[derive(Debug)]
pub struct EmulatedCapture {
    pattern: Pattern,
    settings: Settings,
    frame_no: u64,
    /// Last frame's size, to size the next output buffer without regrowing it.
    last_len: usize,
}

impl EmulatedCapture {
    /// Starts a camera with these settings.
    pub fn new(settings: &Settings) -> EmulatedCapture {
        EmulatedCapture {
            pattern: Pattern::new(settings.size.width, settings.size.height),
            settings: *settings,
            frame_no: 0,
            last_len: 0,
        }
    }
}

impl Capture for EmulatedCapture {
    fn pace(&self) -> Option<u32> {
        Some(self.settings.fps)
    }

    fn grab(&mut self) -> Result<Jpeg, SourceError> {
        self.frame_no += 1;
        let (width, height) = (self.settings.size.width, self.settings.size.height);
        let rgb = self.pattern.render(self.frame_no, framecast_shared::unix_micros_now());
        let data = encode_rgb(rgb, width, height, self.settings.quality, self.last_len + self.last_len / 4)?;
        self.last_len = data.len();
        Ok(Jpeg { data: Bytes::from(data), width, height })
    }
}

/// Encodes packed RGB as a 4:2:0 JPEG.
pub fn encode_rgb(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
    capacity: usize,
) -> Result<Vec<u8>, SourceError> {
    let too_big = || SourceError::Encode(format!("{width}x{height} is larger than JPEG allows"));
    let (w, h) =
        (u16::try_from(width).map_err(|_| too_big())?, u16::try_from(height).map_err(|_| too_big())?);
    let mut out = Vec::with_capacity(capacity);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    encoder
        .encode(rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| SourceError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Size;

    #[test]
    fn frames_are_jpegs_of_the_configured_size() {
        let settings = Settings { size: Size { width: 320, height: 240 }, fps: 30, quality: 70 };
        let mut cam = EmulatedSource.open(&settings).unwrap();
        assert_eq!(cam.pace(), Some(30));
        let a = cam.grab().unwrap();
        let b = cam.grab().unwrap();
        assert_eq!((a.width, a.height), (320, 240));
        assert_eq!(crate::source::jpeg::dimensions(&a.data), Ok((320, 240)));
        assert_eq!(&a.data[..2], &[0xFF, 0xD8]);
        assert_eq!(&a.data[a.data.len() - 2..], &[0xFF, 0xD9]);
        assert_ne!(a.data, b.data, "consecutive frames must differ");
    }

    #[test]
    fn output_is_4_2_0() {
        let jpeg = encode_rgb(&[90u8; 64 * 32 * 3], 64, 32, 80, 0).unwrap();
        // SOF0: marker, length, precision, height, width, count, then per component: id,
        // sampling (h<<4|v), table. Luma must be 2x2 and chroma 1x1 for 4:2:0.
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        assert_eq!(jpeg[sof + 11], 0x22, "luma sampling factors");
        assert_eq!(jpeg[sof + 14], 0x11, "chroma sampling factors");
    }
}
