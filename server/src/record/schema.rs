//! The recordings' on-disk layout: the SQLite schema of the index, how its connections are
//! opened, where a segment's file lives, and what can go wrong with any of it. The writing
//! side ([`super::store`]) and the reading side ([`super::reader`]) both build on it.
//!
//! The layout follows moonfire-nvr's: the pictures live in plain files (`segments/ID.mjpeg`,
//! each the segment's JPEGs back to back, exactly as the camera made them, which is also a
//! valid MJPEG stream for ffmpeg), and SQLite (WAL) holds one row per segment with its span,
//! size and compact per-frame table ([`super::frame_index`]). SQLite never holds pictures.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::frame_index::FrameIndexError;

/// Schema version kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

/// The tables; creating them is a no-op on an index that has them.
pub const SCHEMA: &str = "
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
    pub fn io(path: &Path, source: std::io::Error) -> StoreError {
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

/// The file of segment `id`.
pub fn segment_path(dir: &Path, id: i64) -> PathBuf {
    dir.join("segments").join(format!("{id:010}.mjpeg"))
}

/// A connection to the index in `dir`, in WAL mode.
pub fn open_connection(dir: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(dir.join("index.sqlite3"))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL: readers never block the recorder. NORMAL: commits are durable at checkpoints,
    // and a commit lost in a power cut only forgets frames whose bytes are then cut off.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}
