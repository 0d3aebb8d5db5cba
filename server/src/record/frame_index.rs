//! The compact per-frame table of one segment, as stored in its index row.
//!
//! A segment file is the segment's pictures back to back, so a frame's offset is the sum of
//! the sizes before it and need not be stored. Each frame is two LEB128 varints: the time
//! since the previous frame (since the segment's start for the first) in µs, and its size in
//! bytes. At 30 fps of ~100 KB frames that is 5–6 bytes a frame, ~10 KB for a minute's
//! segment.
//!
//! Every JPEG stands alone; H.264 pictures do not, so an H.264 segment's table is *keyed*:
//! the second number is `size << 1 | keyframe` (one bit more per frame), which tells playback
//! where decoding can start. Which form a table has
//! comes from its segment's codec (a column of the row), so the JPEG tables written before
//! H.264 existed read as they always did.

/// One recorded frame's place in its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameEntry {
    /// Capture time, µs since the Unix epoch.
    pub captured_us: u64,
    /// Byte offset in the segment file.
    pub offset: u64,
    /// Encoded size in bytes.
    pub size: u32,
    /// Decoding can start here: every JPEG, an H.264 IDR picture.
    pub key: bool,
}

/// Why a stored table cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameIndexError {
    /// The blob ends in the middle of a number or a frame.
    #[error("frame index is cut short after {0} frames")]
    Truncated(usize),
    /// A number does not fit.
    #[error("frame index holds a number out of range after {0} frames")]
    Overflow(usize),
}

/// Builds a segment's table as frames are appended.
#[derive(Debug, Clone, Default)]
pub struct FrameIndexBuilder {
    /// Marks keyframes (an H.264 segment).
    keyed: bool,
    bytes: Vec<u8>,
    frames: u32,
    /// Capture time of the last frame appended (the segment's start before the first).
    last_us: u64,
    /// Where the next frame starts in the segment file.
    end_offset: u64,
}

impl FrameIndexBuilder {
    /// An empty table for a segment starting at `start_us`; `keyed` for H.264 (see the
    /// module doc).
    pub fn new(start_us: u64, keyed: bool) -> FrameIndexBuilder {
        FrameIndexBuilder { keyed, bytes: Vec::new(), frames: 0, last_us: start_us, end_offset: 0 }
    }

    /// Appends a frame (`key` is only kept in a keyed table). Times never go backwards in a
    /// table: a frame stamped earlier than the previous one (the clock was set back) is
    /// recorded at the previous one's time.
    pub fn push(&mut self, captured_us: u64, size: u32, key: bool) -> FrameEntry {
        let captured_us = captured_us.max(self.last_us);
        write_varint(&mut self.bytes, captured_us - self.last_us);
        if self.keyed {
            write_varint(&mut self.bytes, (size as u64) << 1 | key as u64);
        } else {
            write_varint(&mut self.bytes, size as u64);
        }
        let key = key || !self.keyed;
        let entry = FrameEntry { captured_us, offset: self.end_offset, size, key };
        self.last_us = captured_us;
        self.end_offset += size as u64;
        self.frames += 1;
        entry
    }

    /// Frames in the table.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Bytes of JPEG the table covers (the segment file's length).
    pub fn data_bytes(&self) -> u64 {
        self.end_offset
    }

    /// Capture time of the last frame.
    pub fn last_us(&self) -> u64 {
        self.last_us
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reads a stored table of a segment that starts at `start_us`; `keyed` as it was written.
pub fn decode(start_us: u64, blob: &[u8], keyed: bool) -> Result<Vec<FrameEntry>, FrameIndexError> {
    let mut frames = Vec::with_capacity(blob.len() / 5);
    let mut at = 0;
    let (mut time, mut offset) = (start_us, 0u64);
    while at < blob.len() {
        let n = frames.len();
        let dt = read_varint(blob, &mut at).ok_or(FrameIndexError::Truncated(n))?;
        let mut size = read_varint(blob, &mut at).ok_or(FrameIndexError::Truncated(n))?;
        let key = !keyed || size & 1 == 1;
        if keyed {
            size >>= 1;
        }
        let size = u32::try_from(size).map_err(|_| FrameIndexError::Overflow(n))?;
        time = time.checked_add(dt).ok_or(FrameIndexError::Overflow(n))?;
        frames.push(FrameEntry { captured_us: time, offset, size, key });
        offset += size as u64;
    }
    Ok(frames)
}

/// The index of the last frame captured at or before `at_us`, if any.
pub fn at_or_before(frames: &[FrameEntry], at_us: u64) -> Option<usize> {
    frames.partition_point(|f| f.captured_us <= at_us).checked_sub(1)
}

/// Where decoding must start to show frame `index`: the last keyframe at or before it (the
/// frame itself in a JPEG segment). `None` when no keyframe precedes it.
pub fn key_at_or_before(frames: &[FrameEntry], index: usize) -> Option<usize> {
    frames.get(..=index)?.iter().rposition(|f| f.key)
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        v |= ((byte & 0x7F) as u64).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_round_trips_with_offsets_from_sizes() {
        let mut b = FrameIndexBuilder::new(1_000_000, false);
        let sizes = [100_000u32, 98_765, 1, 4_000_000_000];
        for (i, size) in sizes.iter().enumerate() {
            b.push(1_000_000 + i as u64 * 33_333, *size, false);
        }
        let frames = decode(1_000_000, b.as_bytes(), false).unwrap();
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0], FrameEntry { captured_us: 1_000_000, offset: 0, size: 100_000, key: true });
        assert_eq!(frames[2].offset, 198_765);
        assert_eq!(frames[3].captured_us, 1_099_999);
        assert_eq!(b.data_bytes(), sizes.iter().map(|s| *s as u64).sum::<u64>());
        // ~100 KB frames at 30 fps: a few bytes each.
        assert!(b.as_bytes().len() <= 4 * 8);
    }

    #[test]
    fn the_clock_going_back_does_not_break_the_order() {
        let mut b = FrameIndexBuilder::new(10, false);
        b.push(50, 1, true);
        let e = b.push(20, 1, true);
        assert_eq!(e.captured_us, 50);
        let frames = decode(10, b.as_bytes(), false).unwrap();
        assert!(frames.windows(2).all(|w| w[0].captured_us <= w[1].captured_us));
    }

    #[test]
    fn finding_the_frame_at_a_time() {
        let mut b = FrameIndexBuilder::new(0, false);
        for t in [100, 200, 300] {
            b.push(t, 10, true);
        }
        let frames = decode(0, b.as_bytes(), false).unwrap();
        assert_eq!(at_or_before(&frames, 99), None);
        assert_eq!(at_or_before(&frames, 100), Some(0));
        assert_eq!(at_or_before(&frames, 299), Some(1));
        assert_eq!(at_or_before(&frames, 10_000), Some(2));
    }

    #[test]
    fn damaged_tables_are_errors() {
        let mut b = FrameIndexBuilder::new(0, false);
        b.push(300, 70_000, true);
        let blob = b.as_bytes();
        assert_eq!(decode(0, &blob[..blob.len() - 1], false), Err(FrameIndexError::Truncated(0)));
        assert_eq!(decode(0, &[0x80; 11], false), Err(FrameIndexError::Truncated(0)));
        assert_eq!(decode(0, &[0, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], false), Err(FrameIndexError::Overflow(0)));
        assert_eq!(decode(0, &[0, 0xFF, 0xFF, 0xFF, 0xFF, 0x3F], true), Err(FrameIndexError::Overflow(0)));
        assert_eq!(decode(0, &[], true), Ok(vec![]));
    }

    #[test]
    fn a_keyed_table_marks_keyframes_and_finds_where_decoding_starts() {
        let mut b = FrameIndexBuilder::new(0, true);
        let keys = [true, false, false, true, false];
        for (i, key) in keys.iter().enumerate() {
            b.push(i as u64 * 33_333, 4_000 + i as u32, *key);
        }
        let frames = decode(0, b.as_bytes(), true).unwrap();
        assert_eq!(frames.iter().map(|f| f.key).collect::<Vec<_>>(), keys);
        assert_eq!(frames[4].size, 4_004);
        assert_eq!(frames[4].offset, (4_000..4_004).sum::<u64>());
        assert_eq!(key_at_or_before(&frames, 2), Some(0));
        assert_eq!(key_at_or_before(&frames, 3), Some(3));
        assert_eq!(key_at_or_before(&frames, 4), Some(3));
        assert_eq!(key_at_or_before(&frames, 9), None);
        // Read as a JPEG table, the same bytes would be wrong sizes: the codec column decides.
        assert_ne!(decode(0, b.as_bytes(), false).unwrap()[4].size, 4_004);
        // A JPEG table: every frame is a keyframe, whatever was passed.
        let mut j = FrameIndexBuilder::new(0, false);
        j.push(0, 10, false);
        let jpeg = decode(0, j.as_bytes(), false).unwrap();
        assert!(jpeg[0].key);
        assert_eq!(key_at_or_before(&jpeg, 0), Some(0));
    }
}
