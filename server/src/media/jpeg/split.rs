//! Splits a byte stream of concatenated JPEGs (MJPEG from `rpicam-vid`, `ffmpeg -f mjpeg`, a
//! camera's own stream) into frames.
//!
//! It walks the JPEG structure instead of searching for the FFD8/FFD9 byte pairs: segments
//! are skipped by their declared length, so an EXIF thumbnail (a whole JPEG inside an APP1
//! segment) does not end the frame early; inside entropy-coded data, stuffed `FF00` bytes and
//! restart markers are skipped. A frame is emitted as soon as its end-of-image marker
//! arrives, never when the next frame starts. Garbage between frames is skipped, and a frame
//! cut short (a new start-of-image where its data should continue) is dropped.

use bytes::Bytes;

/// Default upper bound on one frame; a "frame" growing past it is dropped as garbage.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for a start-of-image marker.
    Seek,
    /// Inside the marker segments of a frame.
    Segments,
    /// Inside entropy-coded data, looking for the next marker.
    Scan,
}

/// Incremental splitter: feed bytes as they arrive, get whole frames back.
#[derive(Debug)]
pub struct JpegSplitter {
    buf: Vec<u8>,
    state: State,
    /// Where the current frame starts in `buf` (0 once leading garbage is dropped).
    pos: usize,
    max_frame: usize,
    /// Bytes discarded as garbage or broken frames, for diagnostics.
    pub discarded: u64,
}

impl Default for JpegSplitter {
    fn default() -> Self {
        JpegSplitter::new(DEFAULT_MAX_FRAME)
    }
}

impl JpegSplitter {
    /// A splitter that drops frames larger than `max_frame` bytes.
    pub fn new(max_frame: usize) -> JpegSplitter {
        JpegSplitter { buf: Vec::new(), state: State::Seek, pos: 0, max_frame, discarded: 0 }
    }

    /// Adds `data` and returns every frame it completed, in order.
    pub fn push(&mut self, data: &[u8]) -> Vec<Bytes> {
        self.buf.extend_from_slice(data);
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame() {
            frames.push(frame);
        }
        if self.buf.len() > self.max_frame {
            // No end in sight: drop the frame, keep looking from its second byte.
            self.drop_until(1);
        }
        frames
    }

    /// Forgets `n` bytes from the front and starts looking for a new frame.
    fn drop_until(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.discarded += n as u64;
        self.buf.drain(..n);
        self.state = State::Seek;
        self.pos = 0;
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            match self.state {
                State::Seek => {
                    match self.buf.windows(2).position(|w| w == [0xFF, 0xD8]) {
                        Some(start) => {
                            if start > 0 {
                                self.drop_until(start);
                            }
                            self.state = State::Segments;
                            self.pos = 2;
                        }
                        None => {
                            // Keep a trailing 0xFF: it may start the next marker.
                            let keep = usize::from(self.buf.last() == Some(&0xFF));
                            let garbage = self.buf.len() - keep;
                            if garbage > 0 {
                                self.drop_until(garbage);
                            }
                            return None;
                        }
                    }
                }
                State::Segments => {
                    let pos = self.pos;
                    if pos + 2 > self.buf.len() {
                        return None;
                    }
                    if self.buf[pos] != 0xFF {
                        // Not a marker where one must be: broken frame.
                        self.drop_until(1);
                        continue;
                    }
                    let marker = self.buf[pos + 1];
                    match marker {
                        0xFF => self.pos += 1,
                        0xD8 => self.drop_until(pos),
                        0xD9 => {
                            // End of image with no image data: not a frame.
                            self.drop_until(pos + 2);
                        }
                        0x01 | 0xD0..=0xD7 => self.pos += 2,
                        _ => {
                            if pos + 4 > self.buf.len() {
                                return None;
                            }
                            let len = u16::from_be_bytes([self.buf[pos + 2], self.buf[pos + 3]]) as usize;
                            if len < 2 {
                                self.drop_until(1);
                                continue;
                            }
                            if pos + 2 + len > self.buf.len() {
                                return None;
                            }
                            self.pos = pos + 2 + len;
                            if marker == 0xDA {
                                self.state = State::Scan;
                            }
                        }
                    }
                }
                State::Scan => {
                    let from = self.pos;
                    let Some(offset) = self.buf[from..].iter().position(|&b| b == 0xFF) else {
                        self.pos = self.buf.len();
                        return None;
                    };
                    let at = from + offset;
                    let Some(&next) = self.buf.get(at + 1) else {
                        self.pos = at;
                        return None;
                    };
                    match next {
                        // Stuffed byte, restart marker, fill byte: still image data.
                        0x00 | 0xD0..=0xD7 => self.pos = at + 2,
                        0xFF => self.pos = at + 1,
                        0xD9 => {
                            let end = at + 2;
                            if end > self.max_frame {
                                // Complete but too large (it arrived in one read, before
                                // `push` could see it grow): dropped like a growing one.
                                self.drop_until(end);
                                continue;
                            }
                            let frame = Bytes::copy_from_slice(&self.buf[..end]);
                            self.buf.drain(..end);
                            self.state = State::Seek;
                            self.pos = 0;
                            return Some(frame);
                        }
                        // A new image where this one's data should go on: it was cut short.
                        0xD8 => self.drop_until(at),
                        // Another segment (progressive JPEGs have several scans).
                        _ => {
                            self.pos = at;
                            self.state = State::Segments;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::jpeg::turbo::encode_rgb;

    fn jpeg(w: u32, h: u32, shade: u8) -> Vec<u8> {
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i as u8).wrapping_mul(shade)).collect();
        encode_rgb(&rgb, w, h, 90).unwrap()
    }

    /// A JPEG with an APP1 segment holding a complete thumbnail JPEG, as EXIF does.
    fn with_thumbnail(main: &[u8], thumb: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
        let len = (thumb.len() + 2 + 6) as u16;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(b"Exif\0\0");
        out.extend_from_slice(thumb);
        out.extend_from_slice(&main[2..]);
        out
    }

    fn split_all(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = JpegSplitter::default();
        chunks.iter().flat_map(|c| s.push(c)).map(|b| b.to_vec()).collect()
    }

    #[test]
    fn concatenated_frames_come_out_whole() {
        let (a, b) = (jpeg(32, 16, 3), jpeg(16, 16, 7));
        let stream = [a.clone(), b.clone(), a.clone()].concat();
        assert_eq!(split_all(&[&stream]), vec![a.clone(), b, a]);
    }

    #[test]
    fn a_frame_is_emitted_as_soon_as_it_ends() {
        let a = jpeg(16, 16, 1);
        let mut s = JpegSplitter::default();
        assert_eq!(s.push(&a[..a.len() - 1]), Vec::<Bytes>::new());
        assert_eq!(s.push(&a[a.len() - 1..]), vec![Bytes::from(a)]);
    }

    #[test]
    fn split_at_every_byte_position() {
        let (a, b) = (jpeg(24, 16, 5), jpeg(16, 8, 9));
        let stream = [b"junk".to_vec(), a.clone(), b.clone()].concat();
        for cut in 0..=stream.len() {
            assert_eq!(
                split_all(&[&stream[..cut], &stream[cut..]]),
                vec![a.clone(), b.clone()],
                "cut at {cut}"
            );
        }
        // And one byte at a time.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(split_all(&bytes), vec![a, b]);
    }

    #[test]
    fn exif_thumbnails_do_not_end_the_frame() {
        let thumb = jpeg(8, 8, 2);
        let full = with_thumbnail(&jpeg(32, 32, 4), &thumb);
        assert_eq!(crate::media::jpeg::dimensions(&full), Ok((32, 32)));
        let stream = [full.clone(), full.clone()].concat();
        assert_eq!(split_all(&[&stream]), vec![full.clone(), full]);
    }

    #[test]
    fn garbage_between_frames_is_skipped() {
        let a = jpeg(16, 16, 6);
        let stream =
            [b"\xFF\x00garbage\xFF".to_vec(), a.clone(), b"\r\n--boundary\r\n\xFF\xFF".to_vec(), a.clone()]
                .concat();
        let mut s = JpegSplitter::default();
        let frames: Vec<Vec<u8>> = s.push(&stream).into_iter().map(|b| b.to_vec()).collect();
        assert_eq!(frames, vec![a.clone(), a]);
        assert!(s.discarded > 0);
    }

    #[test]
    fn a_truncated_frame_is_dropped_and_the_next_one_kept() {
        let (a, b) = (jpeg(32, 32, 3), jpeg(16, 16, 8));
        // Cut `a` in the middle of its image data.
        let stream = [a[..a.len() * 2 / 3].to_vec(), b.clone()].concat();
        assert_eq!(split_all(&[&stream]), vec![b]);
    }

    #[test]
    fn stuffed_bytes_and_restart_markers_stay_inside_the_frame() {
        // SOI, SOS with a minimal header, data with FF00 and RST0, then EOI.
        let frame = vec![
            0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x03, 0x00, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9,
        ];
        assert_eq!(split_all(&[&frame, &frame]), vec![frame.clone(), frame]);
    }

    #[test]
    fn oversized_frames_are_dropped() {
        let big = jpeg(64, 64, 5);
        let small = jpeg(8, 8, 5);
        let mut s = JpegSplitter::new(big.len() / 2);
        let mut frames = s.push(&big[..big.len() - 2]);
        frames.extend(s.push(&big[big.len() - 2..]));
        frames.extend(s.push(&small));
        assert_eq!(frames, vec![Bytes::from(small)]);
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        let mut seed: u32 = 1;
        let mut s = JpegSplitter::new(4096);
        for _ in 0..2000 {
            let chunk: Vec<u8> = (0..64)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    // Plenty of 0xFF and marker bytes.
                    [0xFF, 0xD8, 0xD9, 0xDA, 0x00, (seed >> 8) as u8][(seed % 6) as usize]
                })
                .collect();
            let _ = s.push(&chunk);
        }
    }
}
