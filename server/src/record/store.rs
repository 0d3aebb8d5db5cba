//! The recorder's handle on the index: creates, extends and deletes segments, and mends
//! what a crash left behind when it opens.
//!
//! Crash safety comes from the order of writes: frames are appended to the file, the file is
//! `fdatasync`ed, and only then is the segment's row updated, in one transaction for every
//! camera. The index therefore never points past what is on disk. After a `kill -9` or a
//! power cut a file may hold more than its row says (the last flush interval, at most), or
//! a segment may exist that no row knows: [`Store::open`] cuts such files back to their row
//! and deletes unknown ones. Deletions go through the `garbage` table (row first, then the
//! file), so a crash mid-delete leaves nothing dangling either.
//!
//! It blocks: only the recorder's writer thread uses it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::frame_index::{self, FrameIndexBuilder};
use super::schema::{
    SCHEMA, SCHEMA_VERSION, StoreError, codec_of_row, migrate, open_connection, segment_path,
};
use crate::media::Codec;

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

impl<'a> SegmentUpdate<'a> {
    /// Segment `id` as far as `table` reaches.
    pub fn of(id: i64, table: &'a FrameIndexBuilder) -> SegmentUpdate<'a> {
        SegmentUpdate {
            id,
            end_us: table.last_us(),
            frames: table.frames(),
            bytes: table.data_bytes(),
            frame_index: table.as_bytes(),
        }
    }
}

/// What every frame of a segment shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFormat {
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// The pictures' codec.
    pub codec: Codec,
    /// H.264: the `avcC` record of the SPS and PPS every picture is decoded with.
    pub avcc: Option<bytes::Bytes>,
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
        migrate(&conn)?;
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        let mut store = Store { dir: dir.to_path_buf(), conn };
        let repair = store.repair()?;
        Ok((store, repair))
    }

    /// The recordings folder (`--record-dir`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn repair(&mut self) -> Result<Repair, StoreError> {
        let mut repair = Repair::default();
        self.collect_garbage()?;
        let rows: Vec<(i64, u64, i64, Vec<u8>, String)> = {
            let mut stmt =
                self.conn.prepare("SELECT id, start_us, bytes, frame_index, codec FROM segment")?;
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let mut known = std::collections::HashSet::new();
        for (id, start_us, bytes, blob, codec) in rows {
            let codec = codec_of_row(id, &codec)?;
            let keyed = codec == Codec::H264;
            let path = segment_path(&self.dir, id, codec);
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
                    let frames = frame_index::decode(start_us, &blob, keyed).unwrap_or_default();
                    let mut table = FrameIndexBuilder::new(start_us, keyed);
                    for f in frames.iter().take_while(|f| f.offset + f.size as u64 <= len) {
                        table.push(f.captured_us, f.size, f.key);
                    }
                    repair.rows_shortened += 1;
                    if table.frames() == 0 {
                        self.delete_segment(id)?;
                        repair.rows_dropped += 1;
                        continue;
                    }
                    self.commit(&[SegmentUpdate::of(id, &table)])?;
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
        format: &SegmentFormat,
        continues: bool,
    ) -> Result<(i64, PathBuf), StoreError> {
        self.conn.execute(
            "INSERT INTO segment
               (camera_id, start_us, end_us, frames, bytes, width, height, continues, frame_index, codec, avcc)
             VALUES (?1, ?2, ?2, 0, 0, ?3, ?4, ?5, x'', ?6, ?7)",
            params![
                camera_id,
                start_us as i64,
                format.width,
                format.height,
                continues,
                format.codec.name(),
                format.avcc.as_deref()
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        Ok((id, segment_path(&self.dir, id, format.codec)))
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
        let tx = self.conn.transaction()?;
        let row: Option<(i64, String)> = tx
            .query_row("SELECT bytes, codec FROM segment WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((bytes, codec)) = row else { return Ok(0) };
        let path = segment_path(&self.dir, id, codec_of_row(id, &codec)?);
        tx.execute("INSERT OR IGNORE INTO garbage (path) VALUES (?1)", [path.display().to_string()])?;
        tx.execute("DELETE FROM segment WHERE id = ?1", [id])?;
        tx.commit()?;
        self.collect_garbage()?;
        Ok(bytes as u64)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::reader::{Reader, Span, open_segment, read_frame};
    use std::io::Write;

    const JPEG: SegmentFormat = SegmentFormat { width: 16, height: 16, codec: Codec::Jpeg, avcc: None };

    /// Writes `n` fake JPEGs of `size` bytes at 10 fps from `start_us` into a new segment.
    fn record(store: &mut Store, camera: i64, start_us: u64, n: u32, size: u32, continues: bool) -> i64 {
        record_as(store, camera, start_us, n, size, continues, &JPEG)
    }

    /// The same in `format`; for H.264 every fourth frame is a keyframe.
    fn record_as(
        store: &mut Store,
        camera: i64,
        start_us: u64,
        n: u32,
        size: u32,
        continues: bool,
        format: &SegmentFormat,
    ) -> i64 {
        let (id, path) = store.create_segment(camera, start_us, format, continues).unwrap();
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let mut table = FrameIndexBuilder::new(start_us, format.codec == Codec::H264);
        for i in 0..n {
            file.write_all(&vec![i as u8; size as usize]).unwrap();
            table.push(start_us + i as u64 * 100_000, size, i % 4 == 0);
        }
        file.sync_data().unwrap();
        store.commit(&[SegmentUpdate::of(id, &table)]).unwrap();
        id
    }

    #[test]
    fn spans_merge_continuing_segments_and_keep_gaps() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut store, repair) = Store::open(dir).unwrap();
        assert!(!repair.any());
        let cam = store.camera_id("door").unwrap();
        assert_eq!(store.camera_id("door").unwrap(), cam);
        record(&mut store, cam, 1_000_000, 10, 100, false);
        record(&mut store, cam, 2_000_000, 10, 100, true);
        record(&mut store, cam, 10_000_000, 5, 100, false);
        let reader = Reader::new(dir);
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
    }

    #[test]
    fn frames_are_found_by_time_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut store, _) = Store::open(dir).unwrap();
        let cam = store.camera_id("c").unwrap();
        record(&mut store, cam, 1_000_000, 10, 50, false);
        let reader = Reader::new(dir);
        assert!(reader.frame_at("c", 999_999).unwrap().is_none());
        let (segment, i) = reader.frame_at("c", 1_350_000).unwrap().unwrap();
        assert_eq!(i, 3);
        let file = open_segment(&segment.path).unwrap();
        let jpeg = read_frame(&file, &segment.path, &segment.frames[i]).unwrap();
        assert_eq!(&jpeg[..], &[3u8; 50]);
        let (bytes, oldest, newest) = reader.summary("c").unwrap();
        assert_eq!((bytes, oldest, newest), (500, Some(1_000_000), Some(1_900_000)));
    }

    #[test]
    fn a_crash_after_writing_but_before_the_row_is_cut_back_and_unknown_files_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut store, _) = Store::open(dir).unwrap();
        let cam = store.camera_id("c").unwrap();
        let id = record(&mut store, cam, 0, 4, 10, false);
        // Frames written after the last commit, then a crash.
        let path = segment_path(dir, id, Codec::Jpeg);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&[9; 25]).unwrap();
        // A segment created, then a crash before its row was committed with frames.
        let (empty, empty_path) = store.create_segment(cam, 5_000_000, &JPEG, false).unwrap();
        std::fs::write(&empty_path, [1; 7]).unwrap();
        // A file no row knows.
        std::fs::write(dir.join("segments/0000009999.mjpeg"), b"stray").unwrap();
        drop(store);

        let (store, repair) = Store::open(dir).unwrap();
        assert_eq!(
            repair,
            Repair { files_cut: 1, rows_shortened: 0, rows_dropped: 1, unknown_files_removed: 1 }
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 40);
        assert!(!segment_path(dir, empty, Codec::Jpeg).exists());
        assert_eq!(store.total_bytes().unwrap(), 40);
    }

    #[test]
    fn a_file_shorter_than_its_row_keeps_its_whole_frames() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut store, _) = Store::open(dir).unwrap();
        let cam = store.camera_id("c").unwrap();
        let id = record(&mut store, cam, 0, 4, 10, false);
        std::fs::OpenOptions::new()
            .write(true)
            .open(segment_path(dir, id, Codec::Jpeg))
            .unwrap()
            .set_len(25)
            .unwrap();
        drop(store);
        let (_store, repair) = Store::open(dir).unwrap();
        assert_eq!(repair.rows_shortened, 1);
        let segment = Reader::new(dir).segment_at("c", u64::MAX / 2).unwrap().unwrap();
        assert_eq!(segment.frames.len(), 2);
        assert_eq!(std::fs::metadata(&segment.path).unwrap().len(), 20);
    }

    #[test]
    fn deleting_oldest_first_skips_open_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut store, _) = Store::open(dir).unwrap();
        let cam = store.camera_id("c").unwrap();
        let a = record(&mut store, cam, 0, 2, 10, false);
        let b = record(&mut store, cam, 1_000_000, 2, 10, false);
        let c = record(&mut store, cam, 2_000_000, 2, 10, false);
        let order: Vec<i64> = store.oldest_first(&[a], 10).unwrap().iter().map(|d| d.id).collect();
        assert_eq!(order, vec![b, c]);
        assert_eq!(store.delete_segment(b).unwrap(), 20);
        assert!(!segment_path(dir, b, Codec::Jpeg).exists());
        assert_eq!(store.total_bytes().unwrap(), 40);
        let reader = Reader::new(dir);
        let first = reader.segment_at("c", 500_000).unwrap().unwrap();
        assert_eq!(reader.segment_after("c", &first).unwrap().unwrap().id, c);
    }

    #[test]
    fn h264_segments_keep_their_codec_keyframes_and_file_through_repair_and_deletion() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut store, _) = Store::open(dir).unwrap();
        let cam = store.camera_id("c").unwrap();
        let h264 = SegmentFormat {
            width: 320,
            height: 240,
            codec: Codec::H264,
            avcc: Some(bytes::Bytes::from_static(&[1, 0x42, 0xC0, 0x1E])),
        };
        let id = record_as(&mut store, cam, 0, 8, 10, false, &h264);
        let path = segment_path(dir, id, Codec::H264);
        assert!(path.to_string_lossy().ends_with(".h264"));
        // Written past the row, then a crash: cut back, and the .h264 file is a known one.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&[9; 5]).unwrap();
        drop(store);
        let (store, repair) = Store::open(dir).unwrap();
        assert_eq!(repair, Repair { files_cut: 1, ..Repair::default() });
        let segment = Reader::new(dir).segment_at("c", u64::MAX / 2).unwrap().unwrap();
        assert_eq!(segment.format, h264);
        let keys: Vec<usize> =
            segment.frames.iter().enumerate().filter(|(_, f)| f.key).map(|(i, _)| i).collect();
        assert_eq!(keys, vec![0, 4]);
        // A file shortened by a disk fault keeps its whole frames and their keyframe marks.
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(55).unwrap();
        drop(store);
        let (mut store, repair) = Store::open(dir).unwrap();
        assert_eq!(repair.rows_shortened, 1);
        let segment = Reader::new(dir).segment_at("c", u64::MAX / 2).unwrap().unwrap();
        assert_eq!(segment.frames.len(), 5);
        assert!(segment.frames[4].key && !segment.frames[3].key);
        assert_eq!(store.delete_segment(id).unwrap(), 50);
        assert!(!path.exists());
    }

    #[test]
    fn an_index_of_schema_1_opens_with_its_segments_as_jpeg() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("segments")).unwrap();
        {
            // The tables as framecast wrote them before H.264.
            let conn = open_connection(dir).unwrap();
            conn.execute_batch(
                "CREATE TABLE camera (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
                 CREATE TABLE segment (id INTEGER PRIMARY KEY, camera_id INTEGER NOT NULL REFERENCES camera(id),
                    start_us INTEGER NOT NULL, end_us INTEGER NOT NULL, frames INTEGER NOT NULL,
                    bytes INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
                    continues INTEGER NOT NULL, frame_index BLOB NOT NULL);
                 CREATE INDEX segment_by_time ON segment (camera_id, start_us);
                 CREATE TABLE garbage (path TEXT PRIMARY KEY);
                 PRAGMA user_version = 1;
                 INSERT INTO camera (id, name) VALUES (1, 'old');",
            )
            .unwrap();
            let mut table = FrameIndexBuilder::new(1_000, false);
            table.push(1_000, 3, true);
            table.push(2_000, 4, true);
            conn.execute(
                "INSERT INTO segment VALUES (7, 1, 1000, 2000, 2, 7, 16, 16, 0, ?1)",
                [table.as_bytes()],
            )
            .unwrap();
            std::fs::write(dir.join("segments/0000000007.mjpeg"), b"abcdefg").unwrap();
        }
        let (store, repair) = Store::open(dir).unwrap();
        assert!(!repair.any(), "{repair:?}");
        let version: i64 = store.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let segment = Reader::new(dir).segment_at("old", 5_000).unwrap().unwrap();
        assert_eq!(segment.format.codec, Codec::Jpeg);
        assert_eq!(segment.frames.len(), 2);
        assert_eq!(segment.path, dir.join("segments/0000000007.mjpeg"));
        // Opening again is a no-op.
        drop(store);
        assert!(!Store::open(dir).unwrap().1.any());
    }
}
