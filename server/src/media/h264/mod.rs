//! H.264, the codec cameras speak when they care about bandwidth: the access unit as the
//! server keeps it, the stream parameters it needs, and the conversions between the forms
//! H.264 comes in.
//!
//! One form inside the server: an [`AccessUnit`] is one picture as AVC (each NAL unit behind
//! its 4-byte big-endian length, the way MP4, WebCodecs with a `description` and retina
//! give it), without access unit delimiters or parameter sets; the SPS and PPS live in the
//! [`Stream`] it points to, shared by every picture until the camera sends new ones. Every
//! source converts into this form (pipes and encoders write Annex B, see [`annexb`]), and
//! every output is made from it: the WebSocket frame messages and fragmented MP4 use it as it
//! is, decoders and segment files get Annex B back with the parameter sets before each
//! keyframe ([`AccessUnit::write_annexb`]).
//!
//! Layout: [`annexb`] (start codes, NAL types, access unit boundaries in a byte stream),
//! [`codec`] (OpenH264: encoding the test pattern and renditions, decoding for JPEG readers).

pub mod annexb;
pub mod codec;

use std::sync::Arc;

use bytes::Bytes;

/// NAL unit types this code acts on (H.264 table 7-1).
pub mod nal {
    /// A slice of a picture that is not an IDR picture.
    pub const SLICE: u8 = 1;
    /// A slice of an IDR picture: a keyframe.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;

    /// The type of a NAL unit from its header byte.
    pub fn kind(nal: &[u8]) -> u8 {
        nal.first().map_or(0, |b| b & 0x1F)
    }

    /// Whether a NAL unit carries picture data (a slice).
    pub fn is_slice(nal: &[u8]) -> bool {
        (1..=5).contains(&kind(nal))
    }
}

/// Why H.264 data cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H264Error {
    /// Parameter sets that cannot be read.
    #[error("unusable SPS/PPS: {0}")]
    BadParameterSets(String),
    /// Pictures before any SPS and PPS: nothing can decode them.
    #[error("H.264 pictures without an SPS and PPS before them")]
    NoParameterSets,
    /// A length or start code pointing past the data.
    #[error("truncated NAL unit")]
    Truncated,
    /// Data that holds no picture (no slice).
    #[error("no picture in the H.264 data")]
    NoPicture,
    /// A NAL unit with the forbidden bit set or an empty one: not H.264.
    #[error("not H.264: {0}")]
    NotH264(&'static str),
    /// OpenH264 refused the picture.
    #[error("H.264 codec: {0}")]
    Codec(String),
}

/// What a decoder needs to know before the first picture of a stream: the parameter sets,
/// and what follows from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The sequence parameter set (NAL header byte first, no start code).
    pub sps: Bytes,
    /// The picture parameter set.
    pub pps: Bytes,
    /// The `AVCDecoderConfigurationRecord` of both (MP4's `avcC`, WebCodecs' `description`).
    pub avcc: Bytes,
    /// RFC 6381 codec, `avc1.42C01F`.
    pub codec: String,
    /// Picture width in pixels (cropping applied).
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
}

impl Stream {
    /// The stream of these parameter sets.
    pub fn from_parameter_sets(sps: &[u8], pps: &[u8]) -> Result<Stream, H264Error> {
        let params = retina::codec::h264::parameters_from_sps_and_pps(
            sps,
            pps,
            retina::codec::h26x::Framing::FourByteLength,
        )
        .map_err(|e| H264Error::BadParameterSets(e.to_string().lines().next().unwrap_or("").to_string()))?;
        let (width, height) = params.pixel_dimensions();
        let avcc = framecast_shared::fmp4::avcc(sps, pps)
            .ok_or_else(|| H264Error::BadParameterSets("SPS too short".into()))?;
        Ok(Stream {
            sps: Bytes::copy_from_slice(sps),
            pps: Bytes::copy_from_slice(pps),
            avcc: Bytes::from(avcc),
            codec: params.rfc6381_codec().to_string(),
            width,
            height,
        })
    }
}

impl Stream {
    /// The stream an `AVCDecoderConfigurationRecord` (`avcC`) describes: its first SPS and
    /// PPS.
    pub fn from_avcc(avcc: &[u8]) -> Result<Stream, H264Error> {
        let bad = |why: &str| H264Error::BadParameterSets(format!("avcC: {why}"));
        let mut rest = avcc.get(5..).ok_or_else(|| bad("too short"))?;
        let take = |rest: &mut &[u8]| -> Result<Vec<u8>, H264Error> {
            let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(|| bad("cut short"))?;
            let len = usize::from(u16::from_be_bytes(*len));
            let unit = tail.get(..len).ok_or_else(|| bad("cut short"))?.to_vec();
            *rest = &tail[len..];
            Ok(unit)
        };
        let (&sps_count, tail) = rest.split_first().ok_or_else(|| bad("no SPS"))?;
        rest = tail;
        if sps_count & 0x1F == 0 {
            return Err(bad("no SPS"));
        }
        let sps = take(&mut rest)?;
        for _ in 1..(sps_count & 0x1F) {
            take(&mut rest)?;
        }
        let (&pps_count, tail) = rest.split_first().ok_or_else(|| bad("no PPS"))?;
        rest = tail;
        if pps_count == 0 {
            return Err(bad("no PPS"));
        }
        let pps = take(&mut rest)?;
        Stream::from_parameter_sets(&sps, &pps)
    }
}

/// One picture of H.264 (see the module doc).
#[derive(Debug, Clone)]
pub struct AccessUnit {
    /// The picture's NAL units, AVC (4-byte lengths), no parameter sets or delimiters.
    pub data: Bytes,
    /// An IDR picture: decoding can start here.
    pub keyframe: bool,
    /// The parameters it is decoded with.
    pub stream: Arc<Stream>,
}

impl AccessUnit {
    /// An access unit from its NAL units (without start codes or lengths), in order. Parameter
    /// sets among them make a new [`Stream`] unless they are `current`'s; delimiters, fillers
    /// and end-of-stream marks are left out. `Ok(None)` for NAL units that hold no picture
    /// (parameter sets alone: they are kept for the next picture through the returned
    /// stream, see [`Assembler`](annexb::Assembler)).
    pub fn from_nals<'a>(
        nals: impl IntoIterator<Item = &'a [u8]>,
        current: Option<&Arc<Stream>>,
    ) -> Result<(Option<AccessUnit>, Option<Arc<Stream>>), H264Error> {
        let mut data = Vec::new();
        let (mut sps, mut pps) = (None, None);
        let mut keyframe = false;
        let mut picture = false;
        for unit in nals {
            let Some(&header) = unit.first() else { return Err(H264Error::NotH264("an empty NAL unit")) };
            if header & 0x80 != 0 {
                return Err(H264Error::NotH264("a NAL unit with its forbidden bit set"));
            }
            match nal::kind(unit) {
                nal::SPS => sps = Some(unit),
                nal::PPS => pps = Some(unit),
                nal::AUD | 10 | 11 | 12 => {}
                kind => {
                    picture |= nal::is_slice(unit);
                    keyframe |= kind == nal::IDR;
                    data.extend_from_slice(&(unit.len() as u32).to_be_bytes());
                    data.extend_from_slice(unit);
                }
            }
        }
        let stream = match (sps, pps, current) {
            (Some(sps), Some(pps), Some(current)) if current.sps == sps && current.pps == pps => {
                Some(current.clone())
            }
            (Some(sps), Some(pps), _) => Some(Arc::new(Stream::from_parameter_sets(sps, pps)?)),
            (Some(sps), None, Some(current)) if current.sps == sps => Some(current.clone()),
            (None, Some(pps), Some(current)) if current.pps == pps => Some(current.clone()),
            (Some(sps), None, Some(current)) => {
                Some(Arc::new(Stream::from_parameter_sets(sps, &current.pps)?))
            }
            (None, Some(pps), Some(current)) => {
                Some(Arc::new(Stream::from_parameter_sets(&current.sps, pps)?))
            }
            (_, _, current) => current.cloned(),
        };
        if !picture {
            return Ok((None, stream));
        }
        let stream = stream.ok_or(H264Error::NoParameterSets)?;
        Ok((Some(AccessUnit { data: Bytes::from(data), keyframe, stream: stream.clone() }), Some(stream)))
    }

    /// The NAL units of [`AccessUnit::data`], in order; an error where a length points past
    /// the end.
    pub fn nals(&self) -> impl Iterator<Item = Result<&[u8], H264Error>> {
        avc_nals(&self.data)
    }

    /// Appends the picture as Annex B (4-byte start codes), with the stream's SPS and PPS
    /// before a keyframe: what OpenH264 decodes and what a `.h264` file holds.
    pub fn write_annexb(&self, out: &mut Vec<u8>) -> Result<(), H264Error> {
        if self.keyframe {
            for set in [&self.stream.sps, &self.stream.pps] {
                out.extend_from_slice(&[0, 0, 0, 1]);
                out.extend_from_slice(set);
            }
        }
        for unit in self.nals() {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(unit?);
        }
        Ok(())
    }
}

/// The NAL units of AVC data (each behind its 4-byte length).
pub fn avc_nals(mut data: &[u8]) -> impl Iterator<Item = Result<&[u8], H264Error>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let Some((len, rest)) = data.split_first_chunk::<4>() else {
            data = &[];
            return Some(Err(H264Error::Truncated));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > rest.len() {
            data = &[];
            return Some(Err(H264Error::Truncated));
        }
        let (unit, rest) = rest.split_at(len);
        data = rest;
        Some(Ok(unit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPS and PPS of OpenH264's 320x240 Constrained Baseline stream.
    fn parameter_sets() -> (Bytes, Bytes) {
        let mut encoder = codec::Encoder::new(codec::EncoderSettings {
            fps: 10.0,
            bitrate_bps: 200_000,
            keyframe_every: 10,
            full_range: false,
        })
        .unwrap();
        let unit = encoder.encode_rgb(&vec![128; 320 * 240 * 3], 320, 240).unwrap();
        (unit.stream.sps.clone(), unit.stream.pps.clone())
    }

    #[test]
    fn a_stream_comes_back_from_its_avcc() {
        let (sps, pps) = parameter_sets();
        let stream = Stream::from_parameter_sets(&sps, &pps).unwrap();
        assert_eq!((stream.width, stream.height), (320, 240));
        assert!(stream.codec.starts_with("avc1.42"), "{}", stream.codec);
        assert_eq!(Stream::from_avcc(&stream.avcc).unwrap(), stream);
        for cut in [0, 5, 8, stream.avcc.len() - 1] {
            assert!(Stream::from_avcc(&stream.avcc[..cut]).is_err(), "avcC cut at {cut}");
        }
    }

    #[test]
    fn avc_lengths_that_point_past_the_end_are_errors() {
        let good = [0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x41];
        assert_eq!(
            avc_nals(&good).collect::<Result<Vec<_>, _>>().unwrap(),
            vec![&[0x65, 0x88][..], &[0x41][..]]
        );
        assert!(avc_nals(&good[..9]).any(|n| n.is_err()));
        assert!(avc_nals(&[0, 0, 9]).any(|n| n.is_err()));
    }
}
