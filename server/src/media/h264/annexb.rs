//! H.264 as a byte stream (Annex B): NAL units behind `00 00 01` or `00 00 00 01` start codes,
//! the form `rpicam-vid`, `ffmpeg -f h264` and OpenH264 write.
//!
//! [`nal_units`] splits a buffer that holds whole NAL units. [`Assembler`] cuts a live stream
//! (a pipe) into access units: a new picture starts at a delimiter, at parameter sets or SEI
//! after a slice, or at a slice whose `first_mb_in_slice` is 0 (H.264 7.4.1.2.3, as encoders
//! write it; a picture of several slices stays one unit). The hard part is the end: a NAL
//! unit is only known to be complete when the next start code arrives, a frame interval
//! later. So the caller also tells the assembler when the pipe has gone quiet
//! ([`Assembler::idle`]): writers put out a picture in one burst, so a pause of a few
//! milliseconds after a slice ends the picture, and it goes out then instead of 33 ms later.
//! If the bytes after such a pause do not start with a start code the guess was wrong: the
//! assembler then stops guessing for this stream (every picture waits for the next one) and
//! drops pictures until the next keyframe, so no decoder is fed a cut picture twice.

use std::sync::Arc;

use super::{AccessUnit, H264Error, Stream, nal};

/// Largest NAL unit accepted; a stream that grows one past this is not H.264 (or is broken).
pub const MAX_NAL: usize = 8 * 1024 * 1024;

/// Whether `data` starts like an Annex B stream: a start code, perhaps after zero bytes (a
/// JPEG starts with `FF D8`). What follows is checked as the stream is read.
pub fn looks_like_annexb(data: &[u8]) -> bool {
    let zeros = data.iter().take_while(|&&b| b == 0).count();
    zeros >= 2 && data.get(zeros) == Some(&1)
}

/// Where the start codes of `data` end (the index of each NAL unit's first byte).
fn nal_starts(data: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        match memchr_zero_zero_one(&data[i..]) {
            Some(at) => {
                starts.push(i + at + 3);
                i += at + 3;
            }
            None => break,
        }
    }
    starts
}

/// The position of the next `00 00 01` in `data`.
fn memchr_zero_zero_one(data: &[u8]) -> Option<usize> {
    data.windows(3).position(|w| w == [0, 0, 1])
}

/// A NAL unit without the zero bytes that may follow it (`trailing_zero_8bits`, or the first
/// byte of a 4-byte start code).
fn trim_zeros(unit: &[u8]) -> &[u8] {
    let end = unit.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &unit[..end]
}

/// The NAL units of a buffer of whole Annex B data (an encoder's output for one picture).
pub fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let starts = nal_starts(data);
    starts
        .iter()
        .enumerate()
        .map(|(k, &start)| {
            let end = starts.get(k + 1).map_or(data.len(), |&next| next - 3);
            trim_zeros(&data[start..end])
        })
        .filter(|unit| !unit.is_empty())
        .collect()
}

/// Whether a slice is the first of its picture (`first_mb_in_slice` = 0, whose exp-Golomb
/// code is the single bit 1 right after the header byte).
fn first_slice_of_picture(unit: &[u8]) -> bool {
    nal::is_slice(unit) && unit.get(1).is_some_and(|b| b & 0x80 != 0)
}

/// One access unit of an Annex B stream, from whole Annex B data (an encoder's output).
pub fn access_unit(data: &[u8], current: Option<&Arc<Stream>>) -> Result<Option<AccessUnit>, H264Error> {
    AccessUnit::from_nals(nal_units(data), current).map(|(unit, _)| unit)
}

/// Cuts a live Annex B byte stream into access units (see the module doc).
#[derive(Debug, Default)]
pub struct Assembler {
    /// Bytes from the first start code of a NAL unit not yet known complete.
    buf: Vec<u8>,
    /// Complete NAL units of the picture being gathered.
    picture: Vec<Vec<u8>>,
    /// Whether `picture` holds a slice yet.
    has_slice: bool,
    /// The stream parameters last seen.
    stream: Option<Arc<Stream>>,
    /// Whether the last picture was closed by a pause (the next bytes must be a start code).
    closed_by_pause: bool,
    /// A pause once ended a picture early: wait for the next picture instead.
    pauses_untrusted: bool,
    /// Drop pictures until the next keyframe (after a cut picture or broken data).
    need_keyframe: bool,
}

impl Assembler {
    /// An assembler at the start of a stream.
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// Takes the next bytes of the stream; returns the pictures they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<AccessUnit, H264Error>> {
        let mut out = Vec::new();
        if self.closed_by_pause && !bytes.is_empty() {
            self.closed_by_pause = false;
            let continues = self.buf.is_empty() && bytes[0] != 0;
            if continues {
                tracing::warn!(
                    "an H.264 picture went on after a pause in the stream; waiting for each next picture from now on"
                );
                self.pauses_untrusted = true;
                self.need_keyframe = true;
                // The rest of the cut NAL unit is worthless: resynchronise at a start code.
                self.picture.clear();
                self.has_slice = false;
                match memchr_zero_zero_one(bytes) {
                    Some(at) => {
                        self.buf.extend_from_slice(&bytes[at..]);
                    }
                    None => return out,
                }
                self.drain(&mut out);
                return out;
            }
        }
        self.buf.extend_from_slice(bytes);
        self.drain(&mut out);
        if self.buf.len() > MAX_NAL {
            self.buf.clear();
            self.picture.clear();
            self.has_slice = false;
            self.need_keyframe = true;
            out.push(Err(H264Error::NotH264("a NAL unit larger than 8 MiB")));
        }
        out
    }

    /// The stream has paused: if a picture's last slice is waiting, it is taken as complete.
    /// Returns the pictures this ends, in order (at most two: the one the waiting slice
    /// belongs to, and the one before it if that slice began a new picture).
    pub fn idle(&mut self) -> Vec<Result<AccessUnit, H264Error>> {
        let mut out = Vec::new();
        if self.pauses_untrusted {
            return out;
        }
        let starts = nal_starts(&self.buf);
        let Some(&last) = starts.last() else { return out };
        let tail = trim_zeros(&self.buf[last..]).to_vec();
        if !nal::is_slice(&tail) {
            return out;
        }
        self.take_nal(tail, &mut out);
        self.buf.clear();
        if let Some(done) = self.finish_picture() {
            out.push(done);
        }
        self.closed_by_pause = true;
        out
    }

    /// Whether a picture may be waiting for [`Assembler::idle`].
    pub fn waiting(&self) -> bool {
        !self.pauses_untrusted && !self.buf.is_empty()
    }

    /// Moves every NAL unit followed by a start code out of `buf`.
    fn drain(&mut self, out: &mut Vec<Result<AccessUnit, H264Error>>) {
        let starts = nal_starts(&self.buf);
        if starts.is_empty() {
            // No start code yet: keep the last two bytes (a start code may be split).
            let keep = self.buf.len().min(2);
            self.buf.drain(..self.buf.len() - keep);
            return;
        }
        for pair in starts.windows(2) {
            let unit = trim_zeros(&self.buf[pair[0]..pair[1] - 3]).to_vec();
            self.take_nal(unit, out);
        }
        let last = starts[starts.len() - 1];
        self.buf.drain(..last - 3);
    }

    /// Adds one complete NAL unit, ending the current picture first where it starts a new one.
    fn take_nal(&mut self, unit: Vec<u8>, out: &mut Vec<Result<AccessUnit, H264Error>>) {
        if unit.is_empty() {
            return;
        }
        // Not H.264 at all, or a picture that never ends: said at once, not hoarded.
        let gathered: usize = self.picture.iter().map(Vec::len).sum();
        let broken = if unit[0] & 0x80 != 0 {
            Some(H264Error::NotH264("a NAL unit with its forbidden bit set"))
        } else if gathered + unit.len() > MAX_NAL {
            Some(H264Error::NotH264("8 MiB of NAL units without a picture"))
        } else {
            None
        };
        if let Some(e) = broken {
            self.picture.clear();
            self.has_slice = false;
            self.need_keyframe = true;
            out.push(Err(e));
            return;
        }
        let starts_new = match nal::kind(&unit) {
            nal::AUD => true,
            nal::SPS | nal::PPS | nal::SEI => self.has_slice,
            _ => self.has_slice && first_slice_of_picture(&unit),
        };
        if starts_new && let Some(done) = self.finish_picture() {
            out.push(done);
        }
        self.has_slice |= nal::is_slice(&unit);
        self.picture.push(unit);
    }

    /// The picture gathered so far, as an access unit (or why it is unusable).
    fn finish_picture(&mut self) -> Option<Result<AccessUnit, H264Error>> {
        let units = std::mem::take(&mut self.picture);
        self.has_slice = false;
        if units.is_empty() {
            return None;
        }
        match AccessUnit::from_nals(units.iter().map(Vec::as_slice), self.stream.as_ref()) {
            Ok((unit, stream)) => {
                self.stream = stream;
                let unit = unit?;
                if self.need_keyframe && !unit.keyframe {
                    return None;
                }
                self.need_keyframe = false;
                Some(Ok(unit))
            }
            Err(e) => {
                self.need_keyframe = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four 64x48 pictures from ffmpeg's libx264 (`slices=4`: three slices each, one per row
    /// of macroblocks), a keyframe every second picture with SPS and PPS before it (the fuzz
    /// corpus's seed, after its one-byte header).
    fn x264() -> &'static [u8] {
        &include_bytes!("../../../../fuzz/corpus/annexb/x264_4_slices_whole")[1..]
    }

    fn pictures(results: Vec<Result<AccessUnit, H264Error>>) -> Vec<AccessUnit> {
        results.into_iter().map(|r| r.expect("a good picture")).collect()
    }

    fn slices(unit: &AccessUnit) -> usize {
        unit.nals().filter(|n| n.as_ref().is_ok_and(|n| nal::is_slice(n))).count()
    }

    #[test]
    fn a_stream_becomes_its_pictures_whatever_the_cuts() {
        let mut whole = Assembler::new();
        let mut got = pictures(whole.push(x264()));
        assert_eq!(got.len(), 3, "the last picture ends only when the pipe pauses");
        got.extend(pictures(whole.idle()));
        assert_eq!(got.iter().map(|u| u.keyframe).collect::<Vec<_>>(), [true, false, true, false]);
        assert!(got.iter().all(|u| slices(u) == 3), "three slices make one picture");
        assert_eq!((got[0].stream.width, got[0].stream.height), (64, 48));
        assert!(Arc::ptr_eq(&got[0].stream, &got[3].stream), "one stream while the parameter sets stay");

        for cut in [1, 5, 64, 1000] {
            let mut assembler = Assembler::new();
            let mut bytewise = Vec::new();
            for chunk in x264().chunks(cut) {
                bytewise.extend(pictures(assembler.push(chunk)));
            }
            bytewise.extend(pictures(assembler.idle()));
            let same: Vec<_> = bytewise.iter().map(|u| (u.keyframe, u.data.clone())).collect();
            let want: Vec<_> = got.iter().map(|u| (u.keyframe, u.data.clone())).collect();
            assert_eq!(same, want, "cut every {cut} bytes");
        }
    }

    #[test]
    fn a_pause_inside_a_picture_is_noticed_and_the_stream_resyncs_at_a_keyframe() {
        let data = x264();
        // The second picture's first slice: the pipe pauses in the middle of it.
        let starts = nal_starts(data);
        let second_picture = starts
            .iter()
            .copied()
            .filter(|&s| first_slice_of_picture(&data[s..]))
            .nth(1)
            .expect("a second picture");
        let mut assembler = Assembler::new();
        let mut results = assembler.push(&data[..second_picture + 3]);
        results.extend(assembler.idle());
        results.extend(assembler.push(&data[second_picture + 3..]));
        results.extend(assembler.idle());
        let got: Vec<_> = results.into_iter().filter_map(Result::ok).collect();
        // The first picture, the cut one (the pause looked like its end), then the pictures
        // from the next keyframe: never a predicted picture after the cut one. The last one
        // waits for a next picture that never comes (pauses no longer end pictures).
        assert_eq!(got.iter().map(|u| u.keyframe).collect::<Vec<_>>(), [true, false, true]);
        assert_eq!(slices(&got[1]), 1, "cut after its first slice");
        assert!(!assembler.waiting(), "pauses are no longer trusted after one cut a picture");
    }

    #[test]
    fn nal_units_lose_their_start_codes_and_trailing_zeros() {
        let data = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 4, 5, 0];
        assert_eq!(nal_units(&data), vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]);
        assert!(looks_like_annexb(&data) && looks_like_annexb(&data[1..]));
        assert!(!looks_like_annexb(&[0xFF, 0xD8, 0xFF]) && !looks_like_annexb(&[0, 1]));
    }

    #[test]
    fn what_is_not_h264_is_said_at_once_and_not_kept() {
        let mut assembler = Assembler::new();
        let out = assembler.push(&[0, 0, 0, 1, 0xFF, 0xFF, 0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1]);
        assert!(matches!(out.as_slice(), [Err(H264Error::NotH264(_))]), "{out:?}");
        // A picture before any parameter sets: an error, then nothing until a keyframe.
        let mut fresh = Assembler::new();
        let mut out = fresh.push(&[0, 0, 1, 0x41, 0x9A, 0x11, 0, 0, 1, 0x09, 0xF0, 0, 0, 1]);
        out.extend(fresh.idle());
        assert!(out.iter().any(|r| matches!(r, Err(H264Error::NoParameterSets))), "{out:?}");
    }
}
