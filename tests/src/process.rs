//! A `framecast` child process: started on a free loopback port, found by the
//! `listening on http://ADDR` line it prints, measured through `/proc`, killed on drop.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running server process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// How long from spawn until it printed its address.
    pub startup: Duration,
}

impl ServerProcess {
    /// Starts `binary ARGS` (plus `--listen 127.0.0.1:0` unless ARGS choose an address) and
    /// waits (up to 20 s) for its address.
    pub fn start(binary: &Path, args: &[&str]) -> io::Result<ServerProcess> {
        ServerProcess::start_with_env(binary, args, &[])
    }

    /// [`ServerProcess::start`] with extra environment variables (e.g. a `PATH` holding
    /// stand-in camera programs).
    pub fn start_with_env(binary: &Path, args: &[&str], env: &[(&str, String)]) -> io::Result<ServerProcess> {
        let started = Instant::now();
        let listen: &[&str] = if args.contains(&"--listen") { &[] } else { &["--listen", "127.0.0.1:0"] };
        let mut command = Command::new(binary);
        command
            .args(args)
            .args(listen)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_starting_thread(&mut command);
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let addr = line.strip_prefix("listening on http://");
                if let Some(addr) = addr.or_else(|| line.strip_prefix("listening on https://")) {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(20)).ok().and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => Ok(ServerProcess { child, addr, startup: started.elapsed() }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!("{} did not print its address within 20 s", binary.display())))
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        framecast::sys::signal(self.child.id(), libc::SIGTERM);
    }

    /// Kills with SIGKILL (no chance to clean up) and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_for_exit(&mut self.child, limit)
    }

    /// CPU time and memory of the process now.
    pub fn usage(&self) -> io::Result<Usage> {
        Usage::of(self.child.id())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to `limit` for `child` to exit; `None` if it is still running then. Polls, so it
/// works from async tests too (a short sleep between looks).
pub fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `SIGKILL` from the kernel when the thread that started the server ends, even when no
/// `Drop` runs (a test binary that aborts on a stack overflow): otherwise the orphan keeps
/// the runner's stderr open and whatever reads it (CI, a pipe) waits for ever. So a server
/// lives on the thread that starts it, as every test and benchmark here does.
fn die_with_starting_thread(command: &mut Command) {
    framecast::sys::killed_with_starting_thread(command);
}

/// CPU time, resident memory and open files of a process, from `/proc`.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User + system CPU time.
    pub cpu: Duration,
    /// Resident set size in bytes.
    pub rss: u64,
    /// Open file descriptors.
    pub fds: usize,
}

impl Usage {
    /// Reads `/proc/PID`.
    pub fn of(pid: u32) -> io::Result<Usage> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let hz = clock_ticks_per_second();
        let cpu_ticks = ticks(11) + ticks(12);
        let cpu = Duration::from_nanos(cpu_ticks * 1_000_000_000 / hz);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
        Ok(Usage { cpu, rss, fds })
    }

    /// This process.
    pub fn own() -> io::Result<Usage> {
        Usage::of(std::process::id())
    }
}

fn clock_ticks_per_second() -> u64 {
    framecast::sys::clock_ticks_per_second()
}
