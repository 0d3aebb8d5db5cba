//! What to delete so the recordings stay within their limits: too old first, then too much,
//! then too little free disk; always the oldest segments first and never one being written.

use super::disk::DiskProbe;
use super::schema::StoreError;
use super::store::Store;

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `--retain-size`.
    pub max_bytes: Option<u64>,
    /// `--retain-age`, in µs.
    pub max_age_us: Option<u64>,
    /// `--min-free`, a share of the file system.
    pub min_free: f64,
}

/// Whether recording can go on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiskState {
    /// At least `min_free` is free (or the free space cannot be known).
    Ok,
    /// Under the floor with nothing of ours left to delete.
    TooFull {
        /// The free share now.
        free: f64,
    },
}

/// What [`enforce`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Segments deleted.
    pub deleted: usize,
    /// Bytes they held.
    pub freed: u64,
    /// How the disk stands afterwards.
    pub disk_ok: DiskState,
}

/// Segments fetched per query while deleting.
const BATCH: usize = 32;

/// Deletes what the limits say must go. `open` are the segments being written.
pub fn enforce(
    store: &mut Store,
    probe: &dyn DiskProbe,
    open: &[i64],
    limits: &Limits,
    now_us: u64,
) -> Result<Outcome, StoreError> {
    let mut outcome = Outcome { deleted: 0, freed: 0, disk_ok: DiskState::Ok };
    let delete = |store: &mut Store, id: i64, outcome: &mut Outcome| -> Result<(), StoreError> {
        outcome.freed += store.delete_segment(id)?;
        outcome.deleted += 1;
        Ok(())
    };

    if let Some(max_age) = limits.max_age_us {
        let cutoff = now_us.saturating_sub(max_age);
        'age: loop {
            let batch = store.oldest_first(open, BATCH)?;
            let old: Vec<_> = batch.iter().filter(|s| s.end_us < cutoff).collect();
            if old.is_empty() {
                break;
            }
            for segment in &old {
                delete(store, segment.id, &mut outcome)?;
            }
            if old.len() < batch.len() {
                break 'age;
            }
        }
    }

    if let Some(max_bytes) = limits.max_bytes {
        let mut total = store.total_bytes()?;
        while total > max_bytes {
            let batch = store.oldest_first(open, BATCH)?;
            if batch.is_empty() {
                break;
            }
            for segment in batch {
                if total <= max_bytes {
                    break;
                }
                delete(store, segment.id, &mut outcome)?;
                total = total.saturating_sub(segment.bytes);
            }
        }
    }

    if limits.min_free > 0.0 {
        // A file system that cannot be asked does not stop recording.
        while let Ok(space) = probe.space() {
            let free = space.free_fraction();
            if free >= limits.min_free {
                break;
            }
            match store.oldest_first(open, 1)?.first() {
                Some(segment) => delete(store, segment.id, &mut outcome)?,
                None => {
                    outcome.disk_ok = DiskState::TooFull { free };
                    break;
                }
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::disk::Space;
    use crate::record::frame_index::FrameIndexBuilder;
    use crate::record::store::{SegmentFormat, SegmentUpdate};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A file system whose free space is what the store holds less than a fixed size.
    #[derive(Debug)]
    struct FakeDisk {
        total: u64,
        used_by_others: Arc<AtomicU64>,
        dir: std::path::PathBuf,
    }

    impl DiskProbe for FakeDisk {
        fn space(&self) -> std::io::Result<Space> {
            let ours: u64 = std::fs::read_dir(self.dir.join("segments"))?
                .flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum();
            let used = ours + self.used_by_others.load(Ordering::Relaxed);
            Ok(Space { available: self.total.saturating_sub(used), total: self.total })
        }
    }

    fn store_with_segments(n: u64, bytes: u32) -> (Store, Vec<i64>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path()).unwrap();
        let cam = store.camera_id("c").unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let start = i * 60_000_000;
            let format =
                SegmentFormat { width: 16, height: 16, codec: crate::media::Codec::Jpeg, avcc: None };
            let (id, path) = store.create_segment(cam, start, &format, i > 0).unwrap();
            std::fs::write(&path, vec![0u8; bytes as usize]).unwrap();
            let mut table = FrameIndexBuilder::new(start, false);
            table.push(start, bytes, true);
            table.push(start + 59_000_000, 0, true);
            store.commit(&[SegmentUpdate::of(id, &table)]).unwrap();
            ids.push(id);
        }
        (store, ids, dir)
    }

    fn no_limits() -> Limits {
        Limits { max_bytes: None, max_age_us: None, min_free: 0.0 }
    }

    #[derive(Debug)]
    struct Roomy;
    impl DiskProbe for Roomy {
        fn space(&self) -> std::io::Result<Space> {
            Ok(Space { available: 900, total: 1000 })
        }
    }

    #[test]
    fn size_keeps_the_newest_and_spares_the_open_segment() {
        let (mut store, ids, _dir) = store_with_segments(10, 1000);
        let limits = Limits { max_bytes: Some(3500), ..no_limits() };
        // The oldest segment is "open" (a camera's clock went back): never deleted.
        let out = enforce(&mut store, &Roomy, &[ids[0]], &limits, 0).unwrap();
        assert_eq!(out.deleted, 7);
        assert_eq!(out.freed, 7000);
        assert_eq!(store.total_bytes().unwrap(), 3000);
        let left: Vec<i64> = store.oldest_first(&[], 100).unwrap().iter().map(|d| d.id).collect();
        assert_eq!(left, vec![ids[0], ids[8], ids[9]]);
    }

    #[test]
    fn age_deletes_what_ended_before_the_cutoff() {
        let (mut store, ids, _dir) = store_with_segments(5, 10);
        // Now is the end of the last segment; keep 2 minutes.
        let now = 4 * 60_000_000 + 59_000_000;
        let limits = Limits { max_age_us: Some(120_000_000), ..no_limits() };
        let out = enforce(&mut store, &Roomy, &[], &limits, now).unwrap();
        assert_eq!(out.deleted, 2);
        let left: Vec<i64> = store.oldest_first(&[], 100).unwrap().iter().map(|d| d.id).collect();
        assert_eq!(left, ids[2..].to_vec());
    }

    #[test]
    fn low_disk_deletes_oldest_then_reports_too_full_when_nothing_is_left() {
        let (mut store, ids, dir) = store_with_segments(4, 100);
        let others = Arc::new(AtomicU64::new(0));
        let disk = FakeDisk { total: 10_000, used_by_others: others.clone(), dir: dir.path().to_path_buf() };
        let limits = Limits { min_free: 0.05, ..no_limits() };
        // 9,250 used by others + 400 ours: 3.5 % free; deleting two of ours reaches 5.5 %.
        others.store(9_250, Ordering::Relaxed);
        let out = enforce(&mut store, &disk, &[], &limits, 0).unwrap();
        assert_eq!((out.deleted, out.disk_ok), (2, DiskState::Ok));
        let left: Vec<i64> = store.oldest_first(&[], 100).unwrap().iter().map(|d| d.id).collect();
        assert_eq!(left, ids[2..].to_vec());
        // Others fill the disk: ours go, but the open one stays, and it is still too full.
        others.store(9_900, Ordering::Relaxed);
        let out = enforce(&mut store, &disk, &[ids[3]], &limits, 0).unwrap();
        assert_eq!(out.deleted, 1);
        assert!(matches!(out.disk_ok, DiskState::TooFull { free } if free < 0.05));
    }
}
