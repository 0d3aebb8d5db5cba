//! The recordings on disk: segment files of JPEGs and their index in SQLite.
//!
//! The layout follows moonfire-nvr's: the pictures live in plain files (`segments/ID.mjpeg`,
//! each the segment's JPEGs back to back, exactly as the camera made them, which is also a
//! valid MJPEG stream for ffmpeg), and SQLite (WAL) holds one row per segment with its span,
//! size and compact per-frame table ([`super::frame_index`]). SQLite never holds pictures.
//!
//! Crash safety comes from the order of writes: frames are appended to the file, the file is
//! `fdatasync`ed, and only then is the segment's row updated, in one transaction for every
//! camera. The index therefore never points past what is on disk. After a `kill -9` or a
//! power cut a file may hold more than its row says (the last flush interval, at most), or
//! a segment may exist that no row knows: [`Store::open`] cuts such files back to their row
//! and deletes unknown ones. Deletions go through the `garbage` table (row first, then the
//! file), so a crash mid-delete leaves nothing dangling either.
//!
//! Two handles: [`Store`], owned by the recorder thread, writes; [`Reader`] (any number of
//! pooled read connections) serves timelines, snapshots, playback and export. Both block:
//! call them from the recorder thread or `spawn_blocking`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};

use super::frame_index::{self, FrameEntry, FrameIndexError};
use crate::lock::Unpoisoned;

/// Schema version kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS camera (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
-- One row per segment file. start_us/end_us are the capture times of its first and last
-- frame; `continues` says it follows the previous segment of its camera without a gap (a
-- segment cut for size or length), so timelines can merge them into one span.
CREATE TABLE IF NOT EXISTS segment (
    id INTEGER PRIMARY KEY,
    camera_id INTEGER NOT NULL REFERENCES camera(id),
    start_us INTEGER NOT NULL,
    end_us INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    continues INTEGER NOT NULL,
    frame_index BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS segment_by_time ON segment (camera_id, start_us);
-- Files whose rows are gone but which may still be on disk.
CREATE TABLE IF NOT EXISTS garbage (path TEXT PRIMARY KEY);
";

/// What can go wrong with the recordings.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The index database.
    #[error("recordings index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A segment file or the recordings folder.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A segment's frame table cannot be read.
    #[error("segment {segment}: {source}")]
    BadIndex {
        /// The segment's id.
        segment: i64,
        /// What is wrong with its table.
        source: FrameIndexError,
    },
    /// An index written by a newer framecast.
    #[error("recordings index has schema version {0}; this framecast knows {SCHEMA_VERSION}")]
    NewerSchema(i64),
}

impl StoreError {
    fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io { path: path.display().to_string(), source }
    }

    /// Whether the disk is full (the recorder then pauses instead of retrying at once).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => crate::sys::is_disk_full(source),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        }
    }
}

/// What [`Store::open`] found and mended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Segment files cut back to what their row says (written after the last flush).
    pub files_cut: usize,
    /// Rows shortened because their file was shorter than recorded.
    pub rows_shortened: usize,
    /// Rows removed: no file, or no frames.
    pub rows_dropped: usize,
    /// Files removed that no row knew.
    pub unknown_files_removed: usize,
}

impl Repair {
    /// Whether anything needed mending.
    pub fn any(&self) -> bool {
        *self != Repair::default()
    }
}

/// One segment's row, with its frame table decoded.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Row id (also names the file).
    pub id: i64,
    /// Capture time of the first frame.
    pub start_us: u64,
    /// Capture time of the last frame.
    pub end_us: u64,
    /// Picture size.
    pub width: u32,
    /// Picture size.
    pub height: u32,
    /// Follows the previous segment without a gap.
    pub continues: bool,
    /// Every frame, in order.
    pub frames: Vec<FrameEntry>,
    /// The file.
    pub path: PathBuf,
}

/// A stretch of recording without gaps, for timelines.
pub type Span = framecast_shared::RecordedSpan;

/// A segment's new extent after a flush.
#[derive(Debug, Clone)]
pub struct SegmentUpdate<'a> {
    /// Row id.
    pub id: i64,
    /// Capture time of the last frame.
    pub end_us: u64,
    /// Frames in the file (and the table).
    pub frames: u32,
    /// Bytes in the file.
    pub bytes: u64,
    /// The whole frame table.
    pub frame_index: &'a [u8],
}

/// A segment that retention may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deletable {
    /// Row id.
    pub id: i64,
    /// Bytes it frees.
    pub bytes: u64,
    /// Capture time of its last frame.
    pub end_us: u64,
}

fn segment_path(dir: &Path, id: i64) -> PathBuf {
    dir.join("segments").join(format!("{id:010}.mjpeg"))
}

fn open_connection(dir: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(dir.join("index.sqlite3"))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL: readers never block the recorder. NORMAL: commits are durable at checkpoints,
    // and a commit lost in a power cut only forgets frames whose bytes are then cut off.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// The recorder's handle: creates, extends and deletes segments.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    conn: Connection,
}

impl Store {
    /// Opens (or creates) the recordings in `dir` and mends what a crash left behind.
    pub fn open(dir: &Path) -> Result<(Store, Repair), StoreError> {
        let segments = dir.join("segments");
        std::fs::create_dir_all(&segments).map_err(|e| StoreError::io(&segments, e))?;
        let conn = open_connection(dir)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema(version));
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        let mut store = Store { dir: dir.to_path_buf(), conn };
        let repair = store.repair()?;
        Ok((store, repair))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn repair(&mut self) -> Result<Repair, StoreError> {
        let mut repair = Repair::default();
        self.collect_garbage()?;
        let rows: Vec<(i64, u64, i64, Vec<u8>)> = {
            let mut stmt = self.conn.prepare("SELECT id, start_us, bytes, frame_index FROM segment")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut known = std::collections::HashSet::new();
        for (id, start_us, bytes, blob) in rows {
            let path = segment_path(&self.dir, id);
            let on_disk = std::fs::metadata(&path).map(|m| m.len()).ok();
            let bytes = bytes as u64;
            if bytes == 0 {
                // Created, then stopped before its first flush.
                self.delete_segment(id)?;
                repair.rows_dropped += 1;
                continue;
            }
            match on_disk {
                None => {
                    self.conn.execute("DELETE FROM segment WHERE id = ?1", [id])?;
                    repair.rows_dropped += 1;
                    continue;
                }
                Some(len) if len > bytes => {
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| StoreError::io(&path, e))?;
                    file.set_len(bytes).map_err(|e| StoreError::io(&path, e))?;
                    file.sync_all().map_err(|e| StoreError::io(&path, e))?;
                    repair.files_cut += 1;
                }
                Some(len) if len < bytes => {
                    // The file lost data it had when the row was written (a disk fault):
                    // keep the frames that are whole.
                    let frames = frame_index::decode(start_us, &blob).unwrap_or_default();
                    let mut table = frame_index::FrameIndexBuilder::new(start_us);
                    for f in frames.iter().take_while(|f| f.offset + f.size as u64 <= len) {
                        table.push(f.captured_us, f.size);
                    }
                    repair.rows_shortened += 1;
                    if table.frames() == 0 {
                        self.delete_segment(id)?;
                        repair.rows_dropped += 1;
                        continue;
                    }
                    self.commit(&[SegmentUpdate {
                        id,
                        end_us: table.last_us(),
                        frames: table.frames(),
                        bytes: table.data_bytes(),
                        frame_index: table.as_bytes(),
                    }])?;
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| StoreError::io(&path, e))?;
                    file.set_len(table.data_bytes()).map_err(|e| StoreError::io(&path, e))?;
                }
                Some(_) => {}
            }
            known.insert(path.file_name().map(|n| n.to_owned()));
        }
        let segments = self.dir.join("segments");
        let entries = std::fs::read_dir(&segments).map_err(|e| StoreError::io(&segments, e))?;
        for entry in entries.flatten() {
            if !known.contains(&Some(entry.file_name())) {
                let _ = std::fs::remove_file(entry.path());
                repair.unknown_files_removed += 1;
            }
        }
        Ok(repair)
    }

    /// Deletes the files of the `garbage` table, then their rows.
    fn collect_garbage(&mut self) -> Result<(), StoreError> {
        let paths: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT path FROM garbage")?;
            stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        for path in paths {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(Path::new(&path), e)),
            }
            self.conn.execute("DELETE FROM garbage WHERE path = ?1", [&path])?;
        }
        Ok(())
    }

    /// The id of camera `name`, created on first use.
    pub fn camera_id(&mut self, name: &str) -> Result<i64, StoreError> {
        self.conn.execute("INSERT OR IGNORE INTO camera (name) VALUES (?1)", [name])?;
        Ok(self.conn.query_row("SELECT id FROM camera WHERE name = ?1", [name], |r| r.get(0))?)
    }

    /// A new, empty segment: its row (no frames yet) and the path of its file.
    pub fn create_segment(
        &mut self,
        camera_id: i64,
        start_us: u64,
        width: u32,
        height: u32,
        continues: bool,
    ) -> Result<(i64, PathBuf), StoreError> {
        self.conn.execute(
            "INSERT INTO segment (camera_id, start_us, end_us, frames, bytes, width, height, continues, frame_index)
             VALUES (?1, ?2, ?2, 0, 0, ?3, ?4, ?5, x'')",
            params![camera_id, start_us as i64, width, height, continues],
        )?;
        let id = self.conn.last_insert_rowid();
        Ok((id, segment_path(&self.dir, id)))
    }

    /// Records how far segments reach now, in one transaction. Call only after their files
    /// are synced to disk.
    pub fn commit(&mut self, updates: &[SegmentUpdate<'_>]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE segment SET end_us = ?2, frames = ?3, bytes = ?4, frame_index = ?5 WHERE id = ?1",
            )?;
            for u in updates {
                stmt.execute(params![u.id, u.end_us as i64, u.frames, u.bytes as i64, u.frame_index])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes a segment: its row (into `garbage`), then its file. Returns the bytes freed.
    pub fn delete_segment(&mut self, id: i64) -> Result<u64, StoreError> {
        let path = segment_path(&self.dir, id);
        let tx = self.conn.transaction()?;
        let bytes: Option<i64> =
            tx.query_row("SELECT bytes FROM segment WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        tx.execute("INSERT OR IGNORE INTO garbage (path) VALUES (?1)", [path.display().to_string()])?;
        tx.execute("DELETE FROM segment WHERE id = ?1", [id])?;
        tx.commit()?;
        self.collect_garbage()?;
        Ok(bytes.unwrap_or(0) as u64)
    }

    /// Bytes of every segment's frames, as the index has them.
    pub fn total_bytes(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT COALESCE(SUM(bytes), 0) FROM segment", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Segments in the order retention deletes them (oldest end first), leaving out `open`
    /// (the segments being written).
    pub fn oldest_first(&self, open: &[i64], limit: usize) -> Result<Vec<Deletable>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT id, bytes, end_us FROM segment ORDER BY end_us, id LIMIT ?1")?;
        let rows = stmt.query_map([(limit + open.len()) as i64], |r| {
            Ok(Deletable {
                id: r.get(0)?,
                bytes: r.get::<_, i64>(1)? as u64,
                end_us: r.get::<_, i64>(2)? as u64,
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            let row = row?;
            if !open.contains(&row.id) {
                out.push(row);
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

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
            "SELECT s.id, s.start_us, s.end_us, s.width, s.height, s.continues, s.frame_index
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
                ))
            })
            .optional()?;
        let Some((id, start_us, end_us, width, height, continues, blob)) = row else { return Ok(None) };
        let frames = frame_index::decode(start_us, &blob)
            .map_err(|source| StoreError::BadIndex { segment: id, source })?;
        Ok(Some(Segment {
            id,
            start_us,
            end_us,
            width,
            height,
            continues,
            frames,
            path: segment_path(&self.dir, id),
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

/// Reads one recorded JPEG from its segment file.
pub fn read_frame(file: &File, path: &Path, frame: &FrameEntry) -> Result<Bytes, StoreError> {
    let mut buf = vec![0u8; frame.size as usize];
    file.read_exact_at(&mut buf, frame.offset).map_err(|e| StoreError::io(path, e))?;
    Ok(Bytes::from(buf))
}

/// Opens a segment file for reading.
pub fn open_segment(path: &Path) -> Result<File, StoreError> {
    File::open(path).map_err(|e| StoreError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::frame_index::FrameIndexBuilder;
    use std::io::Write;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("framecast-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Writes `n` fake JPEGs of `size` bytes at 10 fps from `start_us` into a new segment.
    fn record(store: &mut Store, camera: i64, start_us: u64, n: u32, size: u32, continues: bool) -> i64 {
        let (id, path) = store.create_segment(camera, start_us, 16, 16, continues).unwrap();
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let mut table = FrameIndexBuilder::new(start_us);
        for i in 0..n {
            file.write_all(&vec![i as u8; size as usize]).unwrap();
            table.push(start_us + i as u64 * 100_000, size);
        }
        file.sync_data().unwrap();
        store
            .commit(&[SegmentUpdate {
                id,
                end_us: table.last_us(),
                frames: table.frames(),
                bytes: table.data_bytes(),
                frame_index: table.as_bytes(),
            }])
            .unwrap();
        id
    }

    #[test]
    fn spans_merge_continuing_segments_and_keep_gaps() {
        let dir = temp_dir("spans");
        let (mut store, repair) = Store::open(&dir).unwrap();
        assert!(!repair.any());
        let cam = store.camera_id("door").unwrap();
        assert_eq!(store.camera_id("door").unwrap(), cam);
        record(&mut store, cam, 1_000_000, 10, 100, false);
        record(&mut store, cam, 2_000_000, 10, 100, true);
        record(&mut store, cam, 10_000_000, 5, 100, false);
        let reader = Reader::new(&dir);
        let spans = reader.spans("door", 0, u64::MAX).unwrap();
        assert_eq!(
            spans,
            vec![
                Span { start_us: 1_000_000, end_us: 2_900_000, frames: 20, bytes: 2000 },
                Span { start_us: 10_000_000, end_us: 10_400_000, frames: 5, bytes: 500 },
            ]
        );
        assert_eq!(reader.spans("door", 5_000_000, 6_000_000).unwrap(), vec![]);
        assert_eq!(reader.spans("other", 0, u64::MAX).unwrap(), vec![]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn frames_are_found_by_time_and_read_back() {
        let dir = temp_dir("frames");
        let (mut store, _) = Store::open(&dir).unwrap();
        let cam = store.camera_id("c").unwrap();
        record(&mut store, cam, 1_000_000, 10, 50, false);
        let reader = Reader::new(&dir);
        assert!(reader.frame_at("c", 999_999).unwrap().is_none());
        let (segment, i) = reader.frame_at("c", 1_350_000).unwrap().unwrap();
        assert_eq!(i, 3);
        let file = open_segment(&segment.path).unwrap();
        let jpeg = read_frame(&file, &segment.path, &segment.frames[i]).unwrap();
        assert_eq!(&jpeg[..], &[3u8; 50]);
        let (bytes, oldest, newest) = reader.summary("c").unwrap();
        assert_eq!((bytes, oldest, newest), (500, Some(1_000_000), Some(1_900_000)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_crash_after_writing_but_before_the_row_is_cut_back_and_unknown_files_go() {
        let dir = temp_dir("crash");
        let (mut store, _) = Store::open(&dir).unwrap();
        let cam = store.camera_id("c").unwrap();
        let id = record(&mut store, cam, 0, 4, 10, false);
        // Frames written after the last commit, then a crash.
        let path = segment_path(&dir, id);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&[9; 25]).unwrap();
        // A segment created, then a crash before its row was committed with frames.
        let (empty, empty_path) = store.create_segment(cam, 5_000_000, 16, 16, false).unwrap();
        std::fs::write(&empty_path, [1; 7]).unwrap();
        // A file no row knows.
        std::fs::write(dir.join("segments/0000009999.mjpeg"), b"stray").unwrap();
        drop(store);

        let (store, repair) = Store::open(&dir).unwrap();
        assert_eq!(
            repair,
            Repair { files_cut: 1, rows_shortened: 0, rows_dropped: 1, unknown_files_removed: 1 }
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 40);
        assert!(!segment_path(&dir, empty).exists());
        assert_eq!(store.total_bytes().unwrap(), 40);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_shorter_than_its_row_keeps_its_whole_frames() {
        let dir = temp_dir("short");
        let (mut store, _) = Store::open(&dir).unwrap();
        let cam = store.camera_id("c").unwrap();
        let id = record(&mut store, cam, 0, 4, 10, false);
        std::fs::OpenOptions::new().write(true).open(segment_path(&dir, id)).unwrap().set_len(25).unwrap();
        drop(store);
        let (_store, repair) = Store::open(&dir).unwrap();
        assert_eq!(repair.rows_shortened, 1);
        let segment = Reader::new(&dir).segment_at("c", u64::MAX / 2).unwrap().unwrap();
        assert_eq!(segment.frames.len(), 2);
        assert_eq!(std::fs::metadata(&segment.path).unwrap().len(), 20);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn deleting_oldest_first_skips_open_segments() {
        let dir = temp_dir("delete");
        let (mut store, _) = Store::open(&dir).unwrap();
        let cam = store.camera_id("c").unwrap();
        let a = record(&mut store, cam, 0, 2, 10, false);
        let b = record(&mut store, cam, 1_000_000, 2, 10, false);
        let c = record(&mut store, cam, 2_000_000, 2, 10, false);
        let order: Vec<i64> = store.oldest_first(&[a], 10).unwrap().iter().map(|d| d.id).collect();
        assert_eq!(order, vec![b, c]);
        assert_eq!(store.delete_segment(b).unwrap(), 20);
        assert!(!segment_path(&dir, b).exists());
        assert_eq!(store.total_bytes().unwrap(), 40);
        let reader = Reader::new(&dir);
        let first = reader.segment_at("c", 500_000).unwrap().unwrap();
        assert_eq!(reader.segment_after("c", &first).unwrap().unwrap().id, c);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
