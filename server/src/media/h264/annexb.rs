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

/// Whether `data` starts like an Annex B stream: a start code, perhaps after zero bytes.
pub fn looks_like_annexb(data: &[u8]) -> bool {
    let zeros = data.iter().take_while(|&&b| b == 0).count();
    zeros >= 2 && data.get(zeros) == Some(&1) && data.get(zeros + 1).is_some_and(|h| h & 0x80 == 0)
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
