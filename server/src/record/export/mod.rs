//! `GET /export`: a recorded stretch as one file, streamed straight from the segment files
//! with the frames' real capture times. Matroska ([`mkv`]) holds either codec as recorded
//! (`V_MJPEG`, or H.264 as `V_MPEG4/ISO/AVC`); MP4 ([`mp4`], fragmented, which browsers, VLC
//! and ffmpeg play) holds H.264, so it is offered for H.264 recordings.
//!
//! A file has one track of one format, so an export ends where the recording's format
//! changes within the stretch asked for (the camera changed codec, or an H.264 camera sent
//! new parameter sets); [`Plan::end_us`] says where, and the HTTP side names it in a header.
//! H.264 pictures are stored as Annex B with their parameter sets; both containers want them
//! as AVC (4-byte lengths, parameter sets in the header), so each is converted as it is read.
//! An export that starts between keyframes starts at the keyframe before (the pictures before
//! it would not decode).
//!
//! It blocks (SQLite, file reads): run it under `spawn_blocking`.

pub mod mkv;
pub mod mp4;

use std::sync::Arc;

use bytes::Bytes;

use super::frame_index::{FrameEntry, key_at_or_before};
use super::reader::{Reader, Segment, open_segment, read_frame};
use super::schema::StoreError;
use super::store::SegmentFormat;
use crate::media::Codec;
use crate::media::h264::{Stream, annexb};

/// The file formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Matroska, either codec.
    Mkv,
    /// Fragmented MP4, H.264 only.
    Mp4,
}

impl Format {
    /// `format=mkv` or `format=mp4`.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "mkv" => Some(Format::Mkv),
            "mp4" => Some(Format::Mp4),
            _ => None,
        }
    }

    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Mkv => "mkv",
            Format::Mp4 => "mp4",
        }
    }

    /// The `Content-Type`.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Mkv => "video/x-matroska",
            Format::Mp4 => "video/mp4",
        }
    }
}

/// One frame as a container holds it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Capture time.
    pub captured_us: u64,
    /// Decoding can start here.
    pub key: bool,
    /// The JPEG, or the H.264 picture as AVC.
    pub data: Bytes,
}

/// Why a stretch cannot be exported as asked.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The recordings cannot be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// MP4 of a JPEG recording.
    #[error("this stretch is recorded as JPEG; MP4 holds H.264 only: ask for format=mkv")]
    Mp4NeedsH264,
}

/// What an export covers, found before anything is sent.
#[derive(Debug)]
pub struct Plan {
    /// The segment holding the first frame, and that frame's index.
    first: (Segment, usize),
    /// The format of every frame exported.
    pub format: SegmentFormat,
    /// Capture time of the first frame.
    pub start_us: u64,
    /// Capture time of the last frame: `to`, or the last frame before the format changes.
    pub end_us: u64,
    /// Whether the export ends early because the format changes.
    pub ends_at_format_change: bool,
    /// The usual spacing of frames (the median of the first segment's), for the duration of
    /// the last frame.
    pub interval_us: u64,
}

impl Plan {
    /// From the first frame's capture to the end of the last one.
    pub fn duration_us(&self) -> u64 {
        self.end_us - self.start_us + self.interval_us
    }
}

fn in_range(frames: &[FrameEntry], from: u64, to: u64) -> std::ops::Range<usize> {
    frames.partition_point(|f| f.captured_us < from)..frames.partition_point(|f| f.captured_us <= to)
}

/// Whether frames of `b` can follow frames of `a` in one file: the same codec, and for H.264
/// the same parameter sets (a JPEG says its own size).
fn same_track(a: &SegmentFormat, b: &SegmentFormat) -> bool {
    a.codec == b.codec && (a.codec == Codec::Jpeg || a == b)
}

/// The export of camera `camera` from `from` to `to` (inclusive) as `format`; `None` when
/// nothing is recorded there.
pub fn plan(
    reader: &Reader,
    camera: &str,
    from: u64,
    to: u64,
    format: Format,
) -> Result<Option<Plan>, ExportError> {
    let first = match reader.segment_at(camera, from)? {
        Some(s) if s.frames.last().is_some_and(|f| f.captured_us >= from) => s,
        _ => match reader.segment_from(camera, from)? {
            Some(s) => s,
            None => return Ok(None),
        },
    };
    let range = in_range(&first.frames, from, to);
    if range.is_empty() {
        return Ok(None);
    }
    // H.264 starts at the keyframe before `from`.
    let start = key_at_or_before(&first.frames, range.start).unwrap_or(range.start);
    if format == Format::Mp4 && first.format.codec != Codec::H264 {
        return Err(ExportError::Mp4NeedsH264);
    }
    let start_us = first.frames[start].captured_us;
    let mut end_us = first.frames[range.end - 1].captured_us;
    let mut ends_at_format_change = false;
    let mut current = first.clone();
    while let Some(next) = reader.segment_after(camera, &current)? {
        if next.start_us > to {
            break;
        }
        if !same_track(&first.format, &next.format) {
            ends_at_format_change = true;
            break;
        }
        let range = in_range(&next.frames, from, to);
        if let Some(last) = range.end.checked_sub(1).filter(|_| !range.is_empty()) {
            end_us = end_us.max(next.frames[last].captured_us);
        }
        current = next;
    }
    let mut gaps: Vec<u64> = first.frames.windows(2).map(|w| w[1].captured_us - w[0].captured_us).collect();
    gaps.sort_unstable();
    let interval_us = gaps.get(gaps.len() / 2).copied().filter(|g| *g > 0).unwrap_or(33_333);
    Ok(Some(Plan {
        format: first.format.clone(),
        first: (first, start),
        start_us,
        end_us,
        ends_at_format_change,
        interval_us,
    }))
}

/// Calls `each` with the samples of the plan, in order, in batches of at most `batch`'s
/// limits (`batch(first_us, bytes, next_us, next_bytes)` says when a batch is full). Stops
/// when `each` returns false (the client left).
fn walk(
    reader: &Reader,
    camera: &str,
    plan: &Plan,
    to: u64,
    batch: impl Fn(u64, u64, u64, u64) -> bool,
    mut each: impl FnMut(&[Sample]) -> bool,
) -> Result<(), StoreError> {
    let stream = match &plan.format.avcc {
        Some(avcc) if plan.format.codec == Codec::H264 => {
            Some(Arc::new(Stream::from_avcc(avcc).map_err(|e| bad(&plan.first.0, e.to_string()))?))
        }
        _ => None,
    };
    let mut pending: Vec<Sample> = Vec::new();
    let mut pending_bytes = 0u64;
    let (mut segment, mut start) = (plan.first.0.clone(), plan.first.1);
    loop {
        let end = segment.frames.partition_point(|f| f.captured_us <= to.min(plan.end_us));
        if start < end {
            let file = open_segment(&segment.path)?;
            for (i, entry) in segment.frames[start..end].iter().enumerate() {
                let stored = read_frame(&file, &segment.path, entry)?;
                let data = match &stream {
                    None => stored,
                    Some(stream) => annexb::access_unit(&stored, Some(stream))
                        .map_err(|e| bad(&segment, format!("frame {}: {e}", start + i)))?
                        .map(|unit| unit.data)
                        .ok_or_else(|| bad(&segment, format!("frame {} holds no picture", start + i)))?,
                };
                if let Some(first) = pending.first()
                    && batch(first.captured_us, pending_bytes, entry.captured_us, data.len() as u64)
                {
                    if !each(&pending) {
                        return Ok(());
                    }
                    pending.clear();
                    pending_bytes = 0;
                }
                pending_bytes += data.len() as u64;
                pending.push(Sample { captured_us: entry.captured_us, key: entry.key, data });
            }
        }
        match reader.segment_after(camera, &segment)? {
            Some(next) if next.start_us <= plan.end_us && same_track(&plan.format, &next.format) => {
                segment = next;
                start = 0;
            }
            _ => break,
        }
    }
    if !pending.is_empty() {
        each(&pending);
    }
    Ok(())
}

/// Writes the file of `plan` through `send` (false when the client left: stop).
pub fn write(
    reader: &Reader,
    camera: &str,
    plan: &Plan,
    to: u64,
    format: Format,
    mut send: impl FnMut(Bytes) -> bool,
) -> Result<(), StoreError> {
    let title = format!("{camera} {}", crate::clock::seconds(plan.start_us));
    match format {
        Format::Mkv => {
            let header = mkv::file_header(&mkv::Header {
                codec_id: match plan.format.codec {
                    Codec::Jpeg => "V_MJPEG",
                    Codec::H264 => "V_MPEG4/ISO/AVC",
                },
                codec_private: plan.format.avcc.as_deref(),
                title: &title,
                width: plan.format.width,
                height: plan.format.height,
                start_us: plan.start_us,
                duration_us: plan.duration_us(),
                frame_interval_us: plan.interval_us,
            });
            if !send(header) {
                return Ok(());
            }
            walk(reader, camera, plan, to, mkv::cluster_full, |samples| {
                mkv::cluster(plan.start_us, samples).into_iter().all(&mut send)
            })
        }
        Format::Mp4 => {
            let avcc = plan.format.avcc.as_deref().unwrap_or_default();
            let mut muxer = mp4::Muxer::new(avcc, plan.format.width, plan.format.height, plan.interval_us);
            if !send(muxer.header()) {
                return Ok(());
            }
            let mut sent = true;
            // One sample at a time: its duration is known when the next one is read.
            walk(
                reader,
                camera,
                plan,
                to,
                |_, _, _, _| true,
                |samples| {
                    sent = samples.iter().all(|s| muxer.push(s).is_none_or(&mut send));
                    sent
                },
            )?;
            if sent && let Some(last) = muxer.finish() {
                send(last);
            }
            Ok(())
        }
    }
}

fn bad(segment: &Segment, reason: String) -> StoreError {
    StoreError::BadPicture { segment: segment.id, reason }
}
