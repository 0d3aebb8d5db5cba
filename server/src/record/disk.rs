//! How full the recording's file system is, behind a trait so tests can fill a disk without
//! filling one.

use std::path::PathBuf;

/// Space on the file system holding the recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged writer can still use.
    pub available: u64,
    /// Size of the file system.
    pub total: u64,
}

impl Space {
    /// Free share, 0.0–1.0.
    pub fn free_fraction(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.available as f64 / self.total as f64 }
    }
}

/// Asks how much space is left.
pub trait DiskProbe: Send + std::fmt::Debug {
    /// The space now, or why it cannot be known.
    fn space(&self) -> std::io::Result<Space>;
}

/// The real file system, through `statvfs`.
#[derive(Debug)]
pub struct StatVfs(pub PathBuf);

impl DiskProbe for StatVfs {
    fn space(&self) -> std::io::Result<Space> {
        let (available, total) = crate::sys::disk_space(&self.0)?;
        Ok(Space { available, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_file_system_answers() {
        let space = StatVfs(std::env::temp_dir()).space().unwrap();
        assert!(space.total > 0 && space.available <= space.total);
        assert!((0.0..=1.0).contains(&space.free_fraction()));
        assert!(StatVfs("/no/such/dir".into()).space().is_err());
    }
}
