//! JPEG, the codec every camera of framecast can give and every tool can read: the picture
//! type ([`Jpeg`]), what a JPEG says about itself ([`dimensions`], by walking its marker
//! segments), cutting a stream of them into frames ([`split`]) and encoding, decoding and
//! scaling with libjpeg-turbo ([`turbo`]).

pub mod split;
pub mod turbo;

use bytes::Bytes;

/// One encoded picture and its size.
#[derive(Debug, Clone)]
pub struct Jpeg {
    /// The complete JPEG file.
    pub data: Bytes,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Width and height from the first start-of-frame segment of a JPEG, or why there is none.
pub fn dimensions(data: &[u8]) -> Result<(u32, u32), String> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err("does not start with a JPEG start-of-image marker".into());
    }
    let mut i = 2;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            return Err(format!("expected a marker at byte {i}"));
        }
        let marker = data[i + 1];
        // Fill bytes, and markers without a length.
        if marker == 0xFF {
            i += 1;
            continue;
        }
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            i += 2;
            continue;
        }
        if marker == 0xD9 || marker == 0xDA {
            break;
        }
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        if len < 2 {
            return Err(format!("segment length {len} at byte {i}"));
        }
        let is_sof = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
        if is_sof {
            let seg = data.get(i + 4..i + 2 + len).ok_or("truncated start-of-frame segment")?;
            if seg.len() < 5 {
                return Err("start-of-frame segment too short".into());
            }
            let height = u16::from_be_bytes([seg[1], seg[2]]) as u32;
            let width = u16::from_be_bytes([seg[3], seg[4]]) as u32;
            if width == 0 || height == 0 {
                return Err(format!("declares a {width}x{height} picture"));
            }
            return Ok((width, height));
        }
        i += 2 + len;
    }
    Err("no start-of-frame segment before the image data".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP0 segment, SOF0 of 320x200, then EOI.
    fn sample() -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB]);
        v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8, 0x00, 200, 0x01, 0x40, 1, 1, 0x11, 0]);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    #[test]
    fn reads_size_from_start_of_frame() {
        assert_eq!(dimensions(&sample()), Ok((320, 200)));
    }

    #[test]
    fn refuses_non_jpeg_and_truncated_input() {
        assert!(dimensions(b"GIF89a...").is_err());
        assert!(dimensions(&[]).is_err());
        let s = sample();
        for cut in 0..s.len() - 2 {
            assert!(dimensions(&s[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn reads_size_of_an_encoded_frame() {
        let out = turbo::encode_rgb(&[128u8; 3 * 40 * 24], 40, 24, 80).unwrap();
        assert_eq!(dimensions(&out), Ok((40, 24)));
    }
}
