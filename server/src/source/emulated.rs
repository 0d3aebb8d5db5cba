//! The emulated camera: renders [`super::pattern`] and encodes it to JPEG (4:2:0, like a real
//! camera's MJPEG) with libjpeg-turbo ([`crate::media::jpeg::turbo`]). Runs on the capture thread, never on
//! the async runtime.

use bytes::Bytes;

use framecast_shared::CameraModes;

use super::pattern::Pattern;
use super::{Capture, Source, SourceError};
use crate::camera::Settings;
use crate::media::jpeg::Jpeg;
use crate::media::jpeg::turbo::Encoder;

/// The `emulated` camera kind.
#[derive(Debug, Clone, Copy)]
pub struct EmulatedSource;

impl Source for EmulatedSource {
    fn kind(&self) -> &'static str {
        "emulated"
    }

    fn open(&self, settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        Ok(Box::new(EmulatedCapture::new(settings)?))
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
    encoder: Encoder,
}

impl EmulatedCapture {
    /// Starts a camera with these settings.
    pub fn new(settings: &Settings) -> Result<EmulatedCapture, SourceError> {
        Ok(EmulatedCapture {
            pattern: Pattern::new(settings.size.width, settings.size.height),
            settings: *settings,
            frame_no: 0,
            encoder: Encoder::new(settings.quality)?,
        })
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
        let data = self.encoder.encode_rgb(rgb, width, height)?;
        Ok(Jpeg { data: Bytes::from(data), width, height })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Size;

    #[test]
    fn frames_are_jpegs_of_the_configured_size() {
        let settings = Settings { size: Size { width: 320, height: 240 }, fps: 30, quality: 70 };
        let mut cam = EmulatedSource.open(&settings).unwrap();
        assert_eq!(cam.pace(), Some(30));
        let a = cam.grab().unwrap();
        let b = cam.grab().unwrap();
        assert_eq!((a.width, a.height), (320, 240));
        assert_eq!(crate::media::jpeg::dimensions(&a.data), Ok((320, 240)));
        assert_eq!(&a.data[..2], &[0xFF, 0xD8]);
        assert_eq!(&a.data[a.data.len() - 2..], &[0xFF, 0xD9]);
        assert_ne!(a.data, b.data, "consecutive frames must differ");
    }
}
