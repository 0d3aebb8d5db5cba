//! Read access to the recordings for the HTTP side (timelines, snapshots, playback, export):
//! a pool of read-only connections to the index, and the segment files read by offset. Many
//! readers work at once and never block the recorder (WAL). Calls block: use them from
//! `spawn_blocking`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};

use super::frame_index::{self, FrameEntry};
use super::schema::{StoreError, codec_of_row, open_connection, segment_path};
use super::store::SegmentFormat;
use crate::lock::Unpoisoned;
use crate::media::Codec;

/// One segment's row, with its frame table decoded.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Row id (also names the file).
    pub id: i64,
    /// Capture time of the first frame.
    pub start_us: u64,
    /// Capture time of the last frame.
    pub end_us: u64,
    /// Picture size, codec and (H.264) parameter sets.
    pub format: SegmentFormat,
    /// Follows the previous segment without a gap.
    pub continues: bool,
    /// Every frame, in order.
    pub frames: Vec<FrameEntry>,
    /// The file.
    pub path: PathBuf,
}

/// A stretch of recording without gaps, for timelines.
pub type Span = framecast_shared::RecordedSpan;

/// Read access for the HTTP side: pooled connections, blocking calls.
#[derive(Debug)]
pub struct Reader {
    dir: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

/// A read connection borrowed from the pool.
struct Pooled<'a> {
    reader: &'a Reader,
    conn: Option<Connection>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut pool = self.reader.pool.locked();
            if pool.len() < 8 {
                pool.push(conn);
            }
        }
    }
}

impl Reader {
    /// Read access to the recordings in `dir` (opened by a [`Store`] first).
    pub fn new(dir: &Path) -> Reader {
        Reader { dir: dir.to_path_buf(), pool: Mutex::new(Vec::new()) }
    }

    fn conn(&self) -> Result<Pooled<'_>, StoreError> {
        let pooled = self.pool.locked().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = open_connection(&self.dir)?;
                conn.pragma_update(None, "query_only", true)?;
                conn
            }
        };
        Ok(Pooled { reader: self, conn: Some(conn) })
    }

    /// Gapless stretches of camera `name` that reach into `from_us..=to_us`, oldest first.
    pub fn spans(&self, name: &str, from_us: u64, to_us: u64) -> Result<Vec<Span>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT s.start_us, s.end_us, s.frames, s.bytes, s.continues FROM segment s
             JOIN camera c ON c.id = s.camera_id
             WHERE c.name = ?1 AND s.frames > 0 AND s.end_us >= ?2 AND s.start_us <= ?3
             ORDER BY s.start_us, s.id",
        )?;
        let rows = stmt.query_map(params![name, from_us as i64, to_us.min(i64::MAX as u64) as i64], |r| {
            Ok((
                Span {
                    start_us: r.get::<_, i64>(0)? as u64,
                    end_us: r.get::<_, i64>(1)? as u64,
                    frames: r.get::<_, i64>(2)? as u64,
                    bytes: r.get::<_, i64>(3)? as u64,
                },
                r.get::<_, bool>(4)?,
            ))
        })?;
        let mut spans: Vec<Span> = Vec::new();
        for row in rows {
            let (span, continues) = row?;
            match spans.last_mut() {
                Some(last) if continues && span.start_us >= last.end_us => {
                    last.end_us = span.end_us;
                    last.frames += span.frames;
                    last.bytes += span.bytes;
                }
                _ => spans.push(span),
            }
        }
        Ok(spans)
    }

    /// The segment of camera `name` holding the last frame at or before `at_us`.
    pub fn segment_at(&self, name: &str, at_us: u64) -> Result<Option<Segment>, StoreError> {
        self.segment_where(
            "c.name = ?1 AND s.start_us <= ?2 AND s.frames > 0 ORDER BY s.start_us DESC, s.id DESC",
            params![name, at_us.min(i64::MAX as u64) as i64],
        )
    }

    /// The first segment of camera `name` that starts after `segment` (in start order).
    pub fn segment_after(&self, name: &str, segment: &Segment) -> Result<Option<Segment>, StoreError> {
        self.segment_where(
            "c.name = ?1 AND s.frames > 0 AND (s.start_us > ?2 OR (s.start_us = ?2 AND s.id > ?3))
             ORDER BY s.start_us, s.id",
            params![name, segment.start_us as i64, segment.id],
        )
    }

    /// The last segment of camera `name` that starts before `segment` (in start order).
    pub fn segment_before(&self, name: &str, segment: &Segment) -> Result<Option<Segment>, StoreError> {
        self.segment_where(
            "c.name = ?1 AND s.frames > 0 AND (s.start_us < ?2 OR (s.start_us = ?2 AND s.id < ?3))
             ORDER BY s.start_us DESC, s.id DESC",
            params![name, segment.start_us as i64, segment.id],
        )
    }

    /// The first segment of camera `name` starting at or after `from_us`.
    pub fn segment_from(&self, name: &str, from_us: u64) -> Result<Option<Segment>, StoreError> {
        self.segment_where(
            "c.name = ?1 AND s.frames > 0 AND s.start_us >= ?2 ORDER BY s.start_us, s.id",
            params![name, from_us.min(i64::MAX as u64) as i64],
        )
    }

    /// The segment `id` as it is now (a segment being written grows at every flush).
    pub fn reload(&self, segment: &Segment) -> Result<Option<Segment>, StoreError> {
        self.segment_where("s.id = ?1", params![segment.id])
    }

    /// The newest segment of camera `name`.
    pub fn newest_segment(&self, name: &str) -> Result<Option<Segment>, StoreError> {
        self.segment_where("c.name = ?1 AND s.frames > 0 ORDER BY s.end_us DESC, s.id DESC", params![name])
    }

    fn segment_where(
        &self,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> Result<Option<Segment>, StoreError> {
        let conn = self.conn()?;
        let sql = format!(
            "SELECT s.id, s.start_us, s.end_us, s.width, s.height, s.continues, s.frame_index, s.codec, s.avcc
             FROM segment s JOIN camera c ON c.id = s.camera_id WHERE {condition} LIMIT 1"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let row = stmt
            .query_row(params, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, u32>(3)?,
                    r.get::<_, u32>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<Vec<u8>>>(8)?,
                ))
            })
            .optional()?;
        let Some((id, start_us, end_us, width, height, continues, blob, codec, avcc)) = row else {
            return Ok(None);
        };
        let codec = codec_of_row(id, &codec)?;
        let frames = frame_index::decode(start_us, &blob, codec == Codec::H264)
            .map_err(|source| StoreError::BadIndex { segment: id, source })?;
        Ok(Some(Segment {
            id,
            start_us,
            end_us,
            format: SegmentFormat { width, height, codec, avcc: avcc.map(Bytes::from) },
            continues,
            frames,
            path: segment_path(&self.dir, id, codec),
        }))
    }

    /// The last frame of camera `name` captured at or before `at_us`: its segment and index.
    pub fn frame_at(&self, name: &str, at_us: u64) -> Result<Option<(Segment, usize)>, StoreError> {
        let Some(segment) = self.segment_at(name, at_us)? else { return Ok(None) };
        Ok(frame_index::at_or_before(&segment.frames, at_us).map(|i| (segment, i)))
    }

    /// Bytes recorded for camera `name` and the capture times of its oldest and newest frame.
    pub fn summary(&self, name: &str) -> Result<(u64, Option<u64>, Option<u64>), StoreError> {
        let conn = self.conn()?;
        let (bytes, oldest, newest): (i64, Option<i64>, Option<i64>) = conn.query_row(
            "SELECT COALESCE(SUM(s.bytes), 0), MIN(s.start_us), MAX(s.end_us) FROM segment s
             JOIN camera c ON c.id = s.camera_id WHERE c.name = ?1 AND s.frames > 0",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok((bytes as u64, oldest.map(|v| v as u64), newest.map(|v| v as u64)))
    }
}

/// Reads one recorded picture from its segment file, as stored (a JPEG; Annex B H.264).
pub fn read_frame(file: &File, path: &Path, frame: &FrameEntry) -> Result<Bytes, StoreError> {
    let mut buf = vec![0u8; frame.size as usize];
    file.read_exact_at(&mut buf, frame.offset).map_err(|e| StoreError::io(path, e))?;
    Ok(Bytes::from(buf))
}

/// Opens a segment file for reading.
pub fn open_segment(path: &Path) -> Result<File, StoreError> {
    File::open(path).map_err(|e| StoreError::io(path, e))
}
