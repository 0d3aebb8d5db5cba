//! Matroska: one video track, `V_MJPEG` or `V_MPEG4/ISO/AVC` (with the `avcC` as its
//! CodecPrivate), with the frames' real capture times.
//!
//! Written here rather than with a crate: `webm` wraps libwebm (C++, WebM codecs only, no
//! MJPEG), and the pure-Rust Matroska crates (`mkv`, `oxideav-mkv`) are 0.0.x releases that
//! build elements in memory. Muxing this one shape needs little: a cluster is written once
//! its frames are read (at most [`CLUSTER_MS`] and [`CLUSTER_BYTES`]), so its size is known
//! up front, the Segment uses the "unknown size" Matroska allows for live streams, and the
//! duration goes in the Info element. ffmpeg, ffprobe and VLC then report the right duration
//! and frame count, and memory stays at one cluster whatever the length of the export.
//!
//! Element ids and layout: Matroska specification (RFC 9559), with TimestampScale 1 ms.

use bytes::{BufMut, Bytes, BytesMut};

use super::Sample;

/// Longest stretch one cluster covers: block timestamps are i16 milliseconds from it.
pub const CLUSTER_MS: u64 = 30_000;

/// Most bytes of frames one cluster holds (it is read whole before it is sent).
pub const CLUSTER_BYTES: u64 = 8 << 20;

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
    pub const CODEC_PRIVATE: u32 = 0x63A2;
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
    /// `V_MJPEG` or `V_MPEG4/ISO/AVC`.
    pub codec_id: &'static str,
    /// H.264: the `avcC` record.
    pub codec_private: Option<&'a [u8]>,
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
            put_str(t, id::CODEC_ID, h.codec_id);
            if let Some(private) = h.codec_private {
                put_element(t, id::CODEC_PRIVATE, private);
            }
            put_uint(t, id::DEFAULT_DURATION, h.frame_interval_us * 1000);
            t.put_slice(&master(id::VIDEO, |v| {
                put_uint(v, id::PIXEL_WIDTH, h.width as u64);
                put_uint(v, id::PIXEL_HEIGHT, h.height as u64);
            }));
        }));
    }));
    out.freeze()
}

/// Whether a cluster that starts at `first_us` and holds `bytes` of frames ends before a
/// frame captured at `next_us` of `next_bytes`.
pub fn cluster_full(first_us: u64, bytes: u64, next_us: u64, next_bytes: u64) -> bool {
    next_us.saturating_sub(first_us) / 1000 >= CLUSTER_MS || (bytes > 0 && bytes + next_bytes > CLUSTER_BYTES)
}

/// Milliseconds of `captured_us` from the file's start.
fn ms_from(start_us: u64, captured_us: u64) -> u64 {
    captured_us.saturating_sub(start_us) / 1000
}

/// One cluster of `samples` (in time order, at least one), as the pieces to send: the
/// Cluster's header (id, size, timestamp), then per frame a SimpleBlock header and the
/// frame's bytes.
pub fn cluster(file_start_us: u64, samples: &[Sample]) -> Vec<Bytes> {
    let first_us = samples[0].captured_us;
    let mut timestamp = BytesMut::new();
    put_uint(&mut timestamp, id::TIMESTAMP, ms_from(file_start_us, first_us));
    let blocks: Vec<Bytes> = samples.iter().map(|s| block_header(file_start_us, first_us, s)).collect();
    let body: u64 = blocks.iter().zip(samples).map(|(h, s)| h.len() as u64 + s.data.len() as u64).sum();
    let mut header = BytesMut::new();
    put_id(&mut header, id::CLUSTER);
    put_size(&mut header, timestamp.len() as u64 + body);
    header.put_slice(&timestamp);
    let mut out = Vec::with_capacity(1 + 2 * samples.len());
    out.push(header.freeze());
    for (block, sample) in blocks.into_iter().zip(samples) {
        out.push(block);
        out.push(sample.data.clone());
    }
    out
}

/// A SimpleBlock's header for one frame of the cluster starting at `cluster_first_us`: id,
/// size, track 1, the time from the cluster's start, keyframe flag. The frame follows.
fn block_header(file_start_us: u64, cluster_first_us: u64, sample: &Sample) -> Bytes {
    let relative = ms_from(file_start_us, sample.captured_us) - ms_from(file_start_us, cluster_first_us);
    let relative = i16::try_from(relative).unwrap_or(i16::MAX);
    let mut out = BytesMut::with_capacity(16);
    put_id(&mut out, id::SIMPLE_BLOCK);
    put_size(&mut out, 4 + sample.data.len() as u64);
    out.put_u8(0x81); // track number 1 as a vint
    out.put_i16(relative);
    out.put_u8(if sample.key { 0x80 } else { 0 });
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
        assert_eq!(enc(16_382).len(), 2);
        assert_eq!(enc(16_383).len(), 3);
        let mut b = BytesMut::new();
        put_id(&mut b, id::CLUSTER);
        put_id(&mut b, id::SIMPLE_BLOCK);
        assert_eq!(b.to_vec(), [0x1F, 0x43, 0xB6, 0x75, 0xA3]);
    }

    fn samples(n: u64, interval_us: u64) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                captured_us: 5_000_000 + i * interval_us,
                key: i == 0,
                data: Bytes::from(vec![i as u8; 10]),
            })
            .collect()
    }

    #[test]
    fn clusters_end_within_the_i16_range_and_the_byte_budget() {
        assert!(!cluster_full(0, 100, 29_999_999, 100));
        assert!(cluster_full(0, 100, 30_000_000, 100));
        assert!(cluster_full(0, CLUSTER_BYTES - 10, 1, 11));
        // A first frame larger than the budget still gets its cluster.
        assert!(!cluster_full(0, 0, 1, CLUSTER_BYTES * 2));
    }

    #[test]
    fn a_cluster_s_size_covers_exactly_its_blocks_and_marks_keyframes() {
        let s = samples(3, 40_000);
        let pieces = cluster(5_000_000, &s);
        assert_eq!(pieces.len(), 7);
        let header = &pieces[0];
        let mut body = header[4..].to_vec();
        // Decode the cluster size vint.
        let len = body[0].leading_zeros() as usize + 1;
        let mut size = (body[0] as u64) & (0xFF >> len);
        for b in &body[1..len] {
            size = size << 8 | *b as u64;
        }
        body.drain(..len);
        let rest = body.len() as u64 + pieces[1..].iter().map(|p| p.len() as u64).sum::<u64>();
        assert_eq!(size, rest);
        let (first, second) = (&pieces[1], &pieces[3]);
        assert_eq!(&first[first.len() - 3..], &[0x00, 0, 0x80]);
        assert_eq!(&second[second.len() - 3..], &[0x00, 40, 0x00]);
        assert_eq!(&pieces[4][..], &[1u8; 10]);
    }
}
