//! Every call into the C library, in one place with its safety argument.
//!
//! The rest of the server is safe Rust (`unsafe_code` is denied for the workspace); the few
//! things the standard library cannot do (a child that dies with its parent, a socket's
//! unsent backlog, the open-file limit, free disk space) are small functions here, each with
//! the reason its `unsafe` block is sound. Off Linux they answer "unknown" rather than fail.
#![allow(unsafe_code)]

use std::path::Path;
use std::process::Command;

/// A socket's file descriptor, as the connection that owns it lends it out.
pub type Fd = std::os::fd::RawFd;

/// Starts `command` in a process group of its own (so the whole pipeline it starts can be
/// killed at once), and has the kernel kill it when the thread that started it ends (see
/// [`killed_with_starting_thread`]).
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    killed_with_starting_thread(command);
}

/// Has the kernel send `command`'s process `SIGKILL` when the thread that started it ends:
/// the capture thread, or the server, however it dies (even with no `Drop` run).
pub fn killed_with_starting_thread(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the
        // parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// Sends `signal` (`libc::SIGTERM`, ...) to process `pid`.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid and a signal number; no memory is involved.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Kills the process group led by `pid` (see [`die_with_parent`]).
pub fn kill_process_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// Sets one integer socket option; `false` when the kernel refused it.
#[cfg(target_os = "linux")]
fn set_int_option(fd: Fd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: the fd belongs to a live socket for the duration of the call, and `value` is a
    // c_int that outlives it; setsockopt only reads `size_of::<c_int>()` bytes from it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// TCP settings of a connection that favours latency over throughput: unsent bytes the
/// kernel may hold before it stops reporting the socket writable (`TCP_NOTSENT_LOWAT`), and
/// how long a vanished peer may go unnoticed (keepalive probes when idle, the user timeout
/// when data stays unacknowledged). Options the kernel refuses are logged and skipped: they
/// only tune.
pub fn tune_tcp(fd: Fd, notsent_lowat: u32, peer_gone_secs: u32) {
    #[cfg(target_os = "linux")]
    {
        let gone = peer_gone_secs as libc::c_int;
        let options = [
            (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, notsent_lowat as libc::c_int),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, gone / 3),
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, gone / 6),
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 4),
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, gone * 1000),
        ];
        for (level, name, value) in options {
            if !set_int_option(fd, level, name, value) {
                tracing::debug!("socket option {level}/{name} not set: {}", std::io::Error::last_os_error());
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, notsent_lowat, peer_gone_secs);
}

/// The peer's advertised receive window and our send queue (unsent + unacknowledged bytes)
/// of a TCP socket; `None` where the kernel does not tell (before Linux 6.2, or off Linux).
#[cfg(target_os = "linux")]
pub fn tcp_window_and_queue(fd: Fd) -> Option<(u32, u64)> {
    /// `offsetof(struct tcp_info, tcpi_snd_wnd)`; the field exists from Linux 6.2.
    const SND_WND_OFFSET: usize = 228;
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which is that large, and
    // stores the written length in `len`. The caller's connection keeps the fd open.
    let rc = unsafe {
        libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, info.as_mut_ptr().cast(), &mut len)
    };
    if rc != 0 || (len as usize) < SND_WND_OFFSET + 4 {
        return None;
    }
    let window = u32::from_ne_bytes(info[SND_WND_OFFSET..SND_WND_OFFSET + 4].try_into().ok()?);
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) stores one c_int into `queued`.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) };
    if rc != 0 {
        return None;
    }
    Some((window, queued.max(0) as u64))
}

/// See the Linux version.
#[cfg(not(target_os = "linux"))]
pub fn tcp_window_and_queue(_fd: Fd) -> Option<(u32, u64)> {
    None
}

/// Raises this process's soft open-file limit to `wanted`, or as far as the hard limit
/// allows. Returns the soft limit in force afterwards; `None` where it cannot be read.
// `rlim_t` is u64 here but not on every system.
#[allow(clippy::unnecessary_cast)]
pub fn raise_open_file_limit(wanted: u64) -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the valid, exclusively borrowed `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let wanted = wanted as libc::rlim_t;
    if limit.rlim_cur >= wanted {
        return Some(limit.rlim_cur as u64);
    }
    let raised = libc::rlimit { rlim_cur: wanted.min(limit.rlim_max), rlim_max: limit.rlim_max };
    // SAFETY: setrlimit only reads the rlimit it is given.
    let now = if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 { raised } else { limit };
    Some(now.rlim_cur as u64)
}

/// Bytes available to this (unprivileged) process and in total on the file system holding
/// `path`.
pub fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
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
    Ok((st.f_bavail as u64 * block, st.f_blocks as u64 * block))
}

/// The kernel's clock ticks per second, the unit of the CPU times in `/proc` (100 where it
/// cannot be read).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as u64 } else { 100 }
}

/// Whether an I/O error says the disk is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSPC)
}
