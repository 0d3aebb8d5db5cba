//! How full the recording's file system is, behind a trait so tests can fill a disk without
//! filling one.

use std::path::{Path, PathBuf};

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
        statvfs(&self.0)
    }
}

#[allow(unsafe_code)]
fn statvfs(path: &Path) -> std::io::Result<Space> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("path contains a NUL byte"))?;
    // SAFETY: an all-zero statvfs is a valid value for the kernel to overwrite.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid C string and `st` a valid out-pointer for the call.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = st.f_frsize as u64;
    Ok(Space { available: st.f_bavail as u64 * block, total: st.f_blocks as u64 * block })
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
