//! The binary WebSocket message that carries one frame.
//!
//! ```text
//! [u16 little-endian N][N bytes of UTF-8 JSON: FrameHeader][picture bytes to the end]
//! ```
//!
//! A length-prefixed JSON header keeps the format self-describing and easy to extend (new
//! fields are ignored by old clients), while the picture stays a plain byte range the browser
//! hands to its decoder without parsing it: a JPEG file for `createImageBitmap`, or an H.264
//! access unit (AVC: each NAL unit behind its 4-byte length) for WebCodecs or, wrapped in an
//! MP4 fragment ([`crate::fmp4`]), for `MediaSource`.

use serde::{Deserialize, Serialize};

/// Metadata sent in front of every picture on `/ws`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameHeader {
    /// Capture counter of this camera: +1 for every frame the camera produced, so a gap
    /// between two received frames is the number of frames this viewer skipped.
    pub seq: u64,
    /// Id of the camera that produced the frame (as in `hello` and `/api/state`).
    pub camera: String,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Server clock, µs since the Unix epoch, when the frame was grabbed. With the clock offset
    /// from ping/pong this gives the true capture-to-display latency.
    pub captured_us: u64,
    /// Server clock, µs since the Unix epoch, when this message was handed to the socket.
    pub sent_us: u64,
    /// A frame from the recording (playback), not the live picture. `captured_us` is then
    /// its original capture time. Absent (false) for live frames.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recorded: bool,
    /// `"h264"` for an H.264 access unit; absent for a JPEG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// An H.264 picture decoding can start at (an IDR); absent (false) for the others. Every
    /// JPEG stands alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key: bool,
    /// On every H.264 keyframe: what the decoder is configured with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<VideoConfig>,
}

/// How to configure a decoder for the H.264 pictures that follow (see [`FrameHeader::config`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoConfig {
    /// RFC 6381 codec, `avc1.42C01F`: for `VideoDecoder` and `MediaSource`.
    pub codec: String,
    /// The `AVCDecoderConfigurationRecord` (SPS and PPS, `avcC`), base64: WebCodecs'
    /// `description`, MP4's `avcC`.
    pub avcc: String,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
}

impl VideoConfig {
    /// The configuration of a stream with this `avcC` record.
    pub fn new(codec: &str, avcc: &[u8], width: u32, height: u32) -> VideoConfig {
        use base64::Engine;
        VideoConfig {
            codec: codec.to_string(),
            avcc: base64::engine::general_purpose::STANDARD.encode(avcc),
            width,
            height,
        }
    }

    /// The `avcC` record; `None` if it is not base64.
    pub fn avcc_bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(&self.avcc).ok()
    }
}

/// Why a binary message is not a valid frame message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameDecodeError {
    /// Fewer than two bytes: not even the header length is there.
    #[error("frame message too short for its header length ({0} bytes)")]
    TooShort(usize),
    /// The header length points past the end of the message.
    #[error("frame header length {header} exceeds message length {message}")]
    HeaderOverrun {
        /// Declared header length.
        header: usize,
        /// Bytes available after the length prefix.
        message: usize,
    },
    /// The header is not the expected JSON object.
    #[error("frame header is not valid: {0}")]
    BadHeader(String),
}

/// Why a frame message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameEncodeError {
    /// The JSON header does not fit the u16 length prefix.
    #[error("frame header is {0} bytes, more than the 65535 the format allows")]
    HeaderTooLong(usize),
}

impl FrameHeader {
    /// Builds the complete binary message: length prefix, JSON header, then `jpeg`.
    pub fn encode_message(&self, jpeg: &[u8]) -> Result<Vec<u8>, FrameEncodeError> {
        let mut out = self.encode_prefix()?;
        out.extend_from_slice(jpeg);
        Ok(out)
    }

    /// The message without its JPEG: length prefix and JSON header. A sender that writes
    /// the JPEG from its own buffer right after it (vectored I/O) never copies the image.
    pub fn encode_prefix(&self) -> Result<Vec<u8>, FrameEncodeError> {
        let json = serde_json::to_vec(self).expect("FrameHeader always serializes");
        let len = u16::try_from(json.len()).map_err(|_| FrameEncodeError::HeaderTooLong(json.len()))?;
        let mut out = Vec::with_capacity(2 + json.len());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&json);
        Ok(out)
    }

    /// Splits a binary message into its header and the byte offset where the JPEG starts.
    ///
    /// Only the prefix is read, so a caller holding the message elsewhere (a browser
    /// `ArrayBuffer`) can pass just the first bytes plus the total length; see
    /// [`FrameHeader::header_len`].
    pub fn decode_message(message: &[u8]) -> Result<(FrameHeader, usize), FrameDecodeError> {
        let len = Self::header_len(message)?;
        let end = 2 + len;
        if message.len() < end {
            return Err(FrameDecodeError::HeaderOverrun { header: len, message: message.len() - 2 });
        }
        let header: FrameHeader = serde_json::from_slice(&message[2..end])
            .map_err(|e| FrameDecodeError::BadHeader(e.to_string()))?;
        Ok((header, end))
    }

    /// Reads the header length from the first two bytes of a message.
    pub fn header_len(message: &[u8]) -> Result<usize, FrameDecodeError> {
        match message {
            [lo, hi, ..] => Ok(u16::from_le_bytes([*lo, *hi]) as usize),
            _ => Err(FrameDecodeError::TooShort(message.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> FrameHeader {
        FrameHeader {
            seq: 42,
            camera: "front door".into(),
            width: 1280,
            height: 720,
            captured_us: 1_700_000_000_000_000,
            sent_us: 1_700_000_000_004_000,
            recorded: false,
            codec: None,
            key: false,
            config: None,
        }
    }

    #[test]
    fn round_trip_keeps_header_and_jpeg() {
        let jpeg = [0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9];
        let msg = header().encode_message(&jpeg).unwrap();
        let (decoded, offset) = FrameHeader::decode_message(&msg).unwrap();
        assert_eq!(decoded, header());
        assert_eq!(&msg[offset..], &jpeg);
    }

    #[test]
    fn length_prefix_is_little_endian_json_length() {
        let msg = header().encode_message(b"").unwrap();
        let len = u16::from_le_bytes([msg[0], msg[1]]) as usize;
        assert_eq!(len, msg.len() - 2);
        let json: serde_json::Value = serde_json::from_slice(&msg[2..]).unwrap();
        assert_eq!(json["seq"], 42);
        assert_eq!(json["camera"], "front door");
    }

    #[test]
    fn unknown_header_fields_are_ignored() {
        let json =
            br#"{"seq":1,"camera":"c","width":2,"height":3,"captured_us":4,"sent_us":5,"future":true}"#;
        let mut msg = (json.len() as u16).to_le_bytes().to_vec();
        msg.extend_from_slice(json);
        let (h, off) = FrameHeader::decode_message(&msg).unwrap();
        assert_eq!(h.seq, 1);
        assert_eq!(off, msg.len());
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert_eq!(FrameHeader::decode_message(&[]), Err(FrameDecodeError::TooShort(0)));
        assert_eq!(FrameHeader::decode_message(&[5]), Err(FrameDecodeError::TooShort(1)));
        assert_eq!(
            FrameHeader::decode_message(&[10, 0, b'{']),
            Err(FrameDecodeError::HeaderOverrun { header: 10, message: 1 })
        );
        assert!(matches!(
            FrameHeader::decode_message(&[2, 0, b'{', b'}']),
            Err(FrameDecodeError::BadHeader(_))
        ));
    }

    #[test]
    fn oversized_header_is_refused() {
        let mut h = header();
        h.camera = "x".repeat(70_000);
        assert!(matches!(h.encode_message(b""), Err(FrameEncodeError::HeaderTooLong(_))));
    }
}
