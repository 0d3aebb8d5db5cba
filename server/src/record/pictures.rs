//! Recorded frames as JPEGs, for playback to the web viewer, `/snapshot.jpg?at=` and the
//! frame a restarted server shows first.
//!
//! A JPEG segment gives its JPEG back as it is. An H.264 picture depends on the pictures
//! before it back to a keyframe, so showing one means decoding from the last keyframe at or
//! before it ([`super::frame_index::key_at_or_before`]) and encoding the picture asked for as
//! a JPEG. A [`RecordedPictures`] keeps its decoder where it stopped: playing forward decodes
//! each frame once, and a jump ahead past a keyframe starts at that keyframe rather than
//! decoding everything between, so the cost of any one picture is at most one group of
//! pictures (a second at the default `--keyframe-interval`). The frames to decode are read
//! in one read, as they lie back to back in the file.
//!
//! It blocks (file reads, codecs): call it from `spawn_blocking`.

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;

use super::frame_index::key_at_or_before;
use super::reader::{Segment, read_frame};
use super::schema::StoreError;
use crate::media::Codec;
use crate::media::h264::{Stream, annexb};
use crate::media::transcode::H264ToJpeg;

/// Quality of the JPEGs made of recorded H.264 (the live path's default).
const JPEG_QUALITY: u8 = 85;

/// Where the H.264 decoder stands.
#[derive(Debug)]
struct Position {
    decoder: H264ToJpeg,
    /// The segment it is in, and that segment's stream.
    segment: i64,
    stream: Arc<Stream>,
    /// The last frame it decoded.
    last: usize,
}

/// Turns recorded frames into JPEGs (see the module doc). One per viewer or request.
#[derive(Debug, Default)]
pub struct RecordedPictures {
    h264: Option<Position>,
}

impl RecordedPictures {
    /// Nothing decoded yet.
    pub fn new() -> RecordedPictures {
        RecordedPictures::default()
    }

    /// The JPEG of frame `index` of `segment`, whose file is `file`.
    pub fn jpeg(&mut self, segment: &Segment, file: &File, index: usize) -> Result<Bytes, StoreError> {
        let entry = segment.frames.get(index).ok_or_else(|| bad(segment, format!("no frame {index}")))?;
        if segment.format.codec == Codec::Jpeg {
            return read_frame(file, &segment.path, entry);
        }
        let key = key_at_or_before(&segment.frames, index)
            .ok_or_else(|| bad(segment, format!("no keyframe at or before frame {index}")))?;
        // Go on from where the decoder stands when that is in this segment, before `index`,
        // and no earlier than the keyframe `index` needs.
        let start = match &self.h264 {
            Some(p)
                if p.segment == segment.id
                    && p.last < index
                    && p.last + 1 >= key
                    && !p.decoder.needs_keyframe() =>
            {
                p.last + 1
            }
            _ => key,
        };
        let position = match self.h264.take() {
            Some(p) if p.segment == segment.id => p,
            _ => {
                let avcc = segment
                    .format
                    .avcc
                    .as_deref()
                    .ok_or_else(|| bad(segment, "no avcC in its row".into()))?;
                let stream = Stream::from_avcc(avcc).map_err(|e| bad(segment, e.to_string()))?;
                let decoder = H264ToJpeg::new(JPEG_QUALITY).map_err(|e| bad(segment, e.to_string()))?;
                Position { decoder, segment: segment.id, stream: Arc::new(stream), last: 0 }
            }
        };
        let mut position = position;
        // The frames start..=index lie back to back: one read.
        let first = segment.frames[start];
        let span = super::frame_index::FrameEntry {
            size: u32::try_from(entry.offset + entry.size as u64 - first.offset)
                .map_err(|_| bad(segment, "a group of pictures over 4 GB".into()))?,
            ..first
        };
        let bytes = read_frame(file, &segment.path, &span)?;
        let mut jpeg = None;
        for i in start..=index {
            let f = segment.frames[i];
            let at = (f.offset - first.offset) as usize;
            let data = &bytes[at..at + f.size as usize];
            let unit = annexb::access_unit(data, Some(&position.stream))
                .map_err(|e| bad(segment, format!("frame {i}: {e}")))?
                .ok_or_else(|| bad(segment, format!("frame {i} holds no picture")))?;
            match position.decoder.decode(&unit, i == index) {
                Ok(picture) => jpeg = picture,
                Err(e) => return Err(bad(segment, format!("frame {i}: {e}"))),
            }
            position.last = i;
        }
        self.h264 = Some(position);
        jpeg.map(|j| j.data).ok_or_else(|| bad(segment, format!("frame {index} did not decode")))
    }
}

fn bad(segment: &Segment, reason: String) -> StoreError {
    StoreError::BadPicture { segment: segment.id, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::h264::codec::{Encoder, EncoderSettings};
    use crate::record::frame_index::FrameIndexBuilder;
    use crate::record::reader::{Reader, open_segment};
    use crate::record::store::{SegmentFormat, SegmentUpdate, Store};
    use std::io::Write;

    /// Records `n` frames of a moving picture as H.264, a keyframe every `gop`; returns the
    /// folder (kept alive) and the segment.
    fn recorded_h264(n: usize, gop: u32) -> (tempfile::TempDir, Segment) {
        let tmp = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(tmp.path()).unwrap();
        let cam = store.camera_id("c").unwrap();
        let mut encoder = Encoder::new(EncoderSettings {
            fps: 30.0,
            bitrate_bps: 500_000,
            keyframe_every: gop,
            full_range: false,
        })
        .unwrap();
        let (w, h) = (64usize, 48usize);
        let mut units = Vec::new();
        for i in 0..n {
            let rgb: Vec<u8> =
                (0..w * h).flat_map(|p| [((p + i * 7) % 256) as u8, (i * 20) as u8, 90]).collect();
            units.push(encoder.encode_rgb(&rgb, w, h).unwrap());
        }
        let format = SegmentFormat {
            width: 64,
            height: 48,
            codec: Codec::H264,
            avcc: Some(units[0].stream.avcc.clone()),
        };
        let (id, path) = store.create_segment(cam, 1_000, &format, false).unwrap();
        let mut file = std::fs::File::create(&path).unwrap();
        let mut table = FrameIndexBuilder::new(1_000, true);
        for (i, unit) in units.iter().enumerate() {
            let mut annexb = Vec::new();
            unit.write_annexb(&mut annexb).unwrap();
            file.write_all(&annexb).unwrap();
            table.push(1_000 + i as u64 * 33_333, annexb.len() as u32, unit.keyframe);
        }
        store.commit(&[SegmentUpdate::of(id, &table)]).unwrap();
        let segment = Reader::new(tmp.path()).segment_at("c", u64::MAX / 2).unwrap().unwrap();
        (tmp, segment)
    }

    #[test]
    fn h264_frames_decode_from_their_keyframe_forward_and_back() {
        let (_tmp, segment) = recorded_h264(12, 5);
        let keys: Vec<bool> = segment.frames.iter().map(|f| f.key).collect();
        assert!(keys[0] && keys[5] && keys[10] && !keys[4], "{keys:?}");
        let file = open_segment(&segment.path).unwrap();
        let mut pictures = RecordedPictures::new();
        // Straight to a frame between keyframes, then on one by one, then back.
        for index in [7, 8, 9, 3, 11, 0] {
            let jpeg = pictures.jpeg(&segment, &file, index).unwrap();
            assert_eq!(crate::media::jpeg::dimensions(&jpeg), Ok((64, 48)), "frame {index}");
            assert_eq!(pictures.h264.as_ref().unwrap().last, index);
        }
        // The same picture whichever way it is reached.
        let direct = RecordedPictures::new().jpeg(&segment, &file, 9).unwrap();
        let mut walked = RecordedPictures::new();
        for index in 5..=9 {
            walked.jpeg(&segment, &file, index).unwrap();
        }
        assert_eq!(walked.jpeg(&segment, &file, 9).unwrap(), direct);
    }

    #[test]
    fn a_damaged_h264_frame_is_an_error_and_the_next_keyframe_decodes_again() {
        let (_tmp, segment) = recorded_h264(10, 5);
        // Overwrite frame 2 with bytes that are not H.264.
        let f = segment.frames[2];
        let file = std::fs::OpenOptions::new().write(true).open(&segment.path).unwrap();
        use std::os::unix::fs::FileExt;
        file.write_all_at(&vec![0xFF; f.size as usize], f.offset).unwrap();
        let file = open_segment(&segment.path).unwrap();
        let mut pictures = RecordedPictures::new();
        assert!(matches!(pictures.jpeg(&segment, &file, 3), Err(StoreError::BadPicture { .. })));
        assert!(pictures.jpeg(&segment, &file, 6).is_ok());
        assert!(pictures.jpeg(&segment, &file, 99).is_err());
    }
}
