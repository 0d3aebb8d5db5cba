//! The recordings' on-disk layout: the SQLite schema of the index, how its connections are
//! opened, where a segment's file lives, and what can go wrong with any of it. The writing
//! side ([`super::store`]) and the reading side ([`super::reader`]) both build on it.
//!
//! The layout follows moonfire-nvr's: the pictures live in plain files, exactly as the camera
//! made them, and SQLite (WAL) holds one row per segment with its span, size, codec and
//! compact per-frame table ([`super::frame_index`]). SQLite never holds pictures. A JPEG
//! segment is `segments/ID.mjpeg`, its JPEGs back to back (a valid MJPEG stream for ffmpeg);
//! an H.264 segment is `segments/ID.h264`, Annex B starting at a keyframe with the SPS and PPS
//! before every keyframe (a raw `.h264` stream ffmpeg and VLC play as it is). One segment has
//! one codec, one picture size and, for H.264, one pair of parameter sets, kept in its row as
//! an `avcC` record so export and playback need not parse the file.
//!
//! Schema versions: 1 had JPEG only; 2 adds `segment.codec` and `segment.avcc`. An index of
//! version 1 is upgraded in place when it opens (its rows become JPEG segments).

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::frame_index::FrameIndexError;
use crate::media::Codec;

/// Schema version kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 2;

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
    frame_index BLOB NOT NULL,
    -- 'jpeg' or 'h264' (which also says the frame index is keyed).
    codec TEXT NOT NULL DEFAULT 'jpeg',
    -- H.264: the AVCDecoderConfigurationRecord of the segment's SPS and PPS.
    avcc BLOB
);
CREATE INDEX IF NOT EXISTS segment_by_time ON segment (camera_id, start_us);
-- Files whose rows are gone but which may still be on disk.
CREATE TABLE IF NOT EXISTS garbage (path TEXT PRIMARY KEY);
";

/// Brings an index of schema version 1 (JPEG only) to this version's tables; a no-op on one
/// that has them. Run before [`SCHEMA`], which then only adds what is missing.
pub fn migrate(conn: &rusqlite::Connection) -> Result<(), rusqlite::Error> {
    let has_segments: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'segment'",
        [],
        |r| r.get(0),
    )?;
    if !has_segments {
        return Ok(());
    }
    let mut columns = Vec::new();
    {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('segment')")?;
        for name in stmt.query_map([], |r| r.get::<_, String>(0))? {
            columns.push(name?);
        }
    }
    if !columns.iter().any(|c| c == "codec") {
        conn.execute_batch("ALTER TABLE segment ADD COLUMN codec TEXT NOT NULL DEFAULT 'jpeg'")?;
    }
    if !columns.iter().any(|c| c == "avcc") {
        conn.execute_batch("ALTER TABLE segment ADD COLUMN avcc BLOB")?;
    }
    Ok(())
}

/// The codec of segment `segment`'s row (named as [`Codec::name`] names it).
pub fn codec_of_row(segment: i64, name: &str) -> Result<Codec, StoreError> {
    match name {
        "jpeg" => Ok(Codec::Jpeg),
        "h264" => Ok(Codec::H264),
        _ => Err(StoreError::UnknownCodec { segment, codec: name.to_string() }),
    }
}

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
    /// A segment of a codec this framecast does not know.
    #[error("segment {segment}: unknown codec '{codec}'")]
    UnknownCodec {
        /// The segment's id.
        segment: i64,
        /// The name in its row.
        codec: String,
    },
    /// A recorded H.264 picture that cannot be read or decoded.
    #[error("segment {segment}: {reason}")]
    BadPicture {
        /// The segment's id.
        segment: i64,
        /// What is wrong.
        reason: String,
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

/// The file of segment `id`, of `codec`.
pub fn segment_path(dir: &Path, id: i64, codec: Codec) -> PathBuf {
    let extension = match codec {
        Codec::Jpeg => "mjpeg",
        Codec::H264 => "h264",
    };
    dir.join("segments").join(format!("{id:010}.{extension}"))
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
