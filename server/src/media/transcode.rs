//! H.264 pictures as JPEGs: OpenH264 decodes every access unit in order, libjpeg-turbo
//! encodes the pictures wanted, straight from the decoder's 4:2:0 planes (no colour
//! conversion). One place for the step that the JPEG renditions of an H.264 camera, the
//! playback of recorded H.264 and `/snapshot.jpg?at=` all take.

use super::h264::codec::Decoder;
use super::h264::{AccessUnit, H264Error};
use super::jpeg::Jpeg;
use super::jpeg::turbo::{self, CodecError};

/// Why an H.264 picture did not become a JPEG.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The H.264 could not be decoded.
    #[error(transparent)]
    H264(#[from] H264Error),
    /// The picture could not be encoded.
    #[error("JPEG encoding failed: {}", .0.message())]
    Jpeg(#[from] CodecError),
}

/// An H.264 stream in, JPEGs of the pictures asked for out.
#[derive(Debug)]
pub struct H264ToJpeg {
    decoder: Decoder,
    encoder: turbo::Encoder,
}

impl H264ToJpeg {
    /// A decoder waiting for its first keyframe, encoding at `quality`.
    pub fn new(quality: u8) -> Result<H264ToJpeg, TranscodeError> {
        Ok(H264ToJpeg { decoder: Decoder::new()?, encoder: turbo::Encoder::new(quality)? })
    }

    /// Whether pictures will be passed over until the next keyframe (none yet, or the last
    /// one was broken).
    pub fn needs_keyframe(&self) -> bool {
        self.decoder.needs_keyframe()
    }

    /// Decodes the next access unit of the stream; when `encode`, its picture as a JPEG.
    /// `Ok(None)` when no picture came out (before the first keyframe) or none was wanted.
    pub fn decode(&mut self, unit: &AccessUnit, encode: bool) -> Result<Option<Jpeg>, TranscodeError> {
        let encoder = &mut self.encoder;
        let mut jpeg = None;
        self.decoder.decode(unit, |picture| {
            if encode {
                jpeg = Some(encoder.encode_video_i420(picture).map(|data| Jpeg {
                    data: data.into(),
                    width: picture.width as u32,
                    height: picture.height as u32,
                }));
            }
        })?;
        Ok(jpeg.transpose()?)
    }
}
