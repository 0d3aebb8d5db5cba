//! `GET /export`: a recorded stretch as a Matroska file (`V_MJPEG`), streamed straight from
//! the segment files with the frames' real capture times.
//!
//! Written here rather than with a crate: `webm` wraps libwebm (C++, WebM codecs only, no
//! MJPEG), and the pure-Rust Matroska crates (`mkv`, `oxideav-mkv`) are 0.0.x releases that
//! build elements in memory. Muxing this one shape needs little: our index knows every
//! frame's size before a byte is sent, so each cluster's size is computed up front, the
//! Segment uses the "unknown size" Matroska allows for live streams, and the duration goes in
//! the Info element. ffmpeg, ffprobe and VLC then report the right duration and frame count,
//! and memory stays at one segment's index whatever the length of the export.
//!
//! Element ids and layout: Matroska specification (RFC 9559), with TimestampScale 1 ms.

use bytes::{BufMut, Bytes, BytesMut};

use crate::record::frame_index::FrameEntry;

/// Longest stretch one cluster covers: block timestamps are i16 milliseconds from it.
const CLUSTER_MS: u64 = 30_000;

/// Microseconds from the Unix epoch to Matroska's epoch, 2001-01-01T00:00:00 UTC.
const MATROSKA_EPOCH_US: u64 = 978_307_200_000_000;

mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const DATE_UTC: u32 = 0x4461;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const TITLE: u32 = 0x7BA9;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const CODEC_ID: u32 = 0x86;
    pub const DEFAULT_DURATION: u32 = 0x23_E383;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
}

/// What the file's header says.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    /// Title (camera and time).
    pub title: &'a str,
    /// Picture size of the first frame.
    pub width: u32,
    /// Picture size of the first frame.
    pub height: u32,
    /// Capture time of the first frame: timestamps count from it.
    pub start_us: u64,
    /// From the first frame's start to the last frame's end.
    pub duration_us: u64,
    /// The camera's usual frame interval, for the last frame's duration.
    pub frame_interval_us: u64,
}

fn put_id(out: &mut BytesMut, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    out.put_slice(&bytes[skip..]);
}

/// An EBML size in the fewest bytes.
fn put_size(out: &mut BytesMut, size: u64) {
    let len = (1..=8).find(|&n| size < (1u64 << (7 * n)) - 1).unwrap_or(8);
    let marked = size | (1u64 << (7 * len));
    out.put_slice(&marked.to_be_bytes()[8 - len..]);
}

fn size_len(size: u64) -> u64 {
    (1..=8).find(|&n| size < (1u64 << (7 * n)) - 1).unwrap_or(8) as u64
}

fn id_len(id: u32) -> u64 {
    4 - (id.leading_zeros() / 8) as u64
}

fn put_element(out: &mut BytesMut, id: u32, body: &[u8]) {
    put_id(out, id);
    put_size(out, body.len() as u64);
    out.put_slice(body);
}

fn put_uint(out: &mut BytesMut, id: u32, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    put_element(out, id, &bytes[skip..]);
}

fn put_str(out: &mut BytesMut, id: u32, v: &str) {
    put_element(out, id, v.as_bytes());
}

fn master(id: u32, fill: impl FnOnce(&mut BytesMut)) -> BytesMut {
    let mut body = BytesMut::new();
    fill(&mut body);
    let mut out = BytesMut::with_capacity(body.len() + 12);
    put_element(&mut out, id, &body);
    out
}

/// The EBML header, the Segment's start (unknown size) and its Info and Tracks.
pub fn file_header(h: &Header<'_>) -> Bytes {
    let mut out = master(id::EBML, |b| {
        put_uint(b, id::EBML_VERSION, 1);
        put_uint(b, id::EBML_READ_VERSION, 1);
        put_uint(b, id::EBML_MAX_ID_LENGTH, 4);
        put_uint(b, id::EBML_MAX_SIZE_LENGTH, 8);
        put_str(b, id::DOC_TYPE, "matroska");
        put_uint(b, id::DOC_TYPE_VERSION, 4);
        put_uint(b, id::DOC_TYPE_READ_VERSION, 2);
    });
    put_id(&mut out, id::SEGMENT);
    // "Unknown size": the Segment runs to the end of the file.
    out.put_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    out.put_slice(&master(id::INFO, |b| {
        put_uint(b, id::TIMESTAMP_SCALE, 1_000_000);
        put_element(b, id::DURATION, &(h.duration_us as f64 / 1000.0).to_be_bytes());
        let date_ns = h.start_us.saturating_sub(MATROSKA_EPOCH_US) as i64 * 1000;
        put_element(b, id::DATE_UTC, &date_ns.to_be_bytes());
        put_str(b, id::TITLE, h.title);
        put_str(b, id::MUXING_APP, concat!("framecast ", env!("CARGO_PKG_VERSION")));
        put_str(b, id::WRITING_APP, concat!("framecast ", env!("CARGO_PKG_VERSION")));
    }));
    out.put_slice(&master(id::TRACKS, |b| {
        b.put_slice(&master(id::TRACK_ENTRY, |t| {
            put_uint(t, id::TRACK_NUMBER, 1);
            put_uint(t, id::TRACK_UID, 1);
            put_uint(t, id::TRACK_TYPE, 1);
            put_uint(t, id::FLAG_LACING, 0);
            put_str(t, id::CODEC_ID, "V_MJPEG");
            put_uint(t, id::DEFAULT_DURATION, h.frame_interval_us * 1000);
            t.put_slice(&master(id::VIDEO, |v| {
                put_uint(v, id::PIXEL_WIDTH, h.width as u64);
                put_uint(v, id::PIXEL_HEIGHT, h.height as u64);
            }));
        }));
    }));
    out.freeze()
}

/// Splits frames (in time order) into clusters: index ranges, each within [`CLUSTER_MS`] of
/// its first frame.
pub fn clusters(frames: &[FrameEntry]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, f) in frames.iter().enumerate() {
        if f.captured_us.saturating_sub(frames[start].captured_us) / 1000 >= CLUSTER_MS {
            out.push(start..i);
            start = i;
        }
    }
    if start < frames.len() {
        out.push(start..frames.len());
    }
    out
}

/// Milliseconds of `captured_us` from the file's start.
fn ms_from(start_us: u64, captured_us: u64) -> u64 {
    captured_us.saturating_sub(start_us) / 1000
}

/// The Cluster's own header (id, size, timestamp) for `frames`; each frame then follows as
/// [`block_header`] plus its JPEG.
pub fn cluster_header(file_start_us: u64, frames: &[FrameEntry]) -> Bytes {
    let cluster_ms = ms_from(file_start_us, frames[0].captured_us);
    let mut timestamp = BytesMut::new();
    put_uint(&mut timestamp, id::TIMESTAMP, cluster_ms);
    let blocks: u64 = frames
        .iter()
        .map(|f| {
            let payload = 4 + f.size as u64;
            id_len(id::SIMPLE_BLOCK) + size_len(payload) + payload
        })
        .sum();
    let mut out = BytesMut::new();
    put_id(&mut out, id::CLUSTER);
    put_size(&mut out, timestamp.len() as u64 + blocks);
    out.put_slice(&timestamp);
    out.freeze()
}

/// A SimpleBlock's header for one frame of the cluster starting at `cluster_first_us`: id,
/// size, track 1, the time from the cluster's start, keyframe flag. The JPEG follows.
pub fn block_header(file_start_us: u64, cluster_first_us: u64, frame: &FrameEntry) -> Bytes {
    let relative = ms_from(file_start_us, frame.captured_us) - ms_from(file_start_us, cluster_first_us);
    let relative = i16::try_from(relative).unwrap_or(i16::MAX);
    let mut out = BytesMut::with_capacity(16);
    put_id(&mut out, id::SIMPLE_BLOCK);
    put_size(&mut out, 4 + frame.size as u64);
    out.put_u8(0x81); // track number 1 as a vint
    out.put_i16(relative);
    out.put_u8(0x80); // keyframe: every JPEG stands alone
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shortest_vints() {
        let enc = |v| {
            let mut b = BytesMut::new();
            put_size(&mut b, v);
            b.to_vec()
        };
        assert_eq!(enc(0), [0x80]);
        assert_eq!(enc(126), [0xFE]);
        // 127 in one byte would be the reserved all-ones pattern.
        assert_eq!(enc(127), [0x40, 0x7F]);
        assert_eq!(enc(100_000), [0x21, 0x86, 0xA0]);
        for v in [0, 126, 127, 16_382, 16_383, 100_000, 1 << 40] {
            assert_eq!(enc(v).len() as u64, size_len(v), "{v}");
        }
        let mut b = BytesMut::new();
        put_id(&mut b, id::CLUSTER);
        put_id(&mut b, id::SIMPLE_BLOCK);
        assert_eq!(b.to_vec(), [0x1F, 0x43, 0xB6, 0x75, 0xA3]);
    }

    fn frames(n: u64, interval_us: u64) -> Vec<FrameEntry> {
        (0..n)
            .map(|i| FrameEntry { captured_us: 5_000_000 + i * interval_us, offset: i * 10, size: 10 })
            .collect()
    }

    #[test]
    fn clusters_stay_within_the_i16_range() {
        let f = frames(2000, 33_333);
        let cl = clusters(&f);
        assert_eq!(cl.len(), 3);
        assert_eq!(cl[0], 0..901);
        assert!(cl.iter().all(|r| f[r.end - 1].captured_us - f[r.start].captured_us < 30_000_000));
        assert_eq!(cl.iter().map(|r| r.len()).sum::<usize>(), 2000);
        assert!(clusters(&[]).is_empty());
    }

    #[test]
    fn a_cluster_s_size_covers_exactly_its_blocks() {
        let f = frames(3, 40_000);
        let header = cluster_header(5_000_000, &f);
        let mut body = header[4..].to_vec();
        // Decode the cluster size vint.
        let len = body[0].leading_zeros() as usize + 1;
        let mut size = (body[0] as u64) & (0xFF >> len);
        for b in &body[1..len] {
            size = size << 8 | *b as u64;
        }
        body.drain(..len);
        let mut rest = body.len() as u64; // the Timestamp element
        for frame in &f {
            let block = block_header(5_000_000, f[0].captured_us, frame);
            rest += block.len() as u64 + frame.size as u64;
        }
        assert_eq!(size, rest);
        let second = block_header(5_000_000, f[0].captured_us, &f[1]);
        assert_eq!(&second[second.len() - 3..], &[0x00, 40, 0x80]);
    }
}
