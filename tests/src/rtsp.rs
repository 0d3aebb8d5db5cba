//! A real RTSP server for the IP-camera tests: GStreamer's rtsp-server (Debian's
//! `gir1.2-gst-rtsp-server-1.0`, driven by `tools/rtsp_server.py` under Debian's Python)
//! publishing x264's H.264 of a moving test picture on a loopback port. Killed on drop, and
//! by the kernel if the thread that started it dies.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Debian's Python, the one with the `gi` module (another `python3` on PATH may lack it).
const PYTHON: &str = "/usr/bin/python3";

/// A running RTSP server.
#[derive(Debug)]
pub struct RtspServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl RtspServer {
    /// Serves `rtsp://127.0.0.1:PORT/cam` at `size` (`WxH`) and `fps`, with Basic
    /// credentials when given; waits (up to 20 s) until it listens.
    pub fn start(
        port: u16,
        size: &str,
        fps: u32,
        credentials: Option<(&str, &str)>,
    ) -> std::io::Result<RtspServer> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/rtsp_server.py");
        let mut command = Command::new(PYTHON);
        command.arg(script).args([port.to_string(), size.to_string(), fps.to_string()]);
        if let Some((user, password)) = credentials {
            command.args([user, password]);
        }
        command.stdout(Stdio::piped()).stderr(Stdio::inherit());
        framecast::sys::killed_with_starting_thread(&mut command);
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == "ready" {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other(format!(
                "the RTSP server did not start on port {port} (needs {PYTHON} with gi and gir1.2-gst-rtsp-server-1.0; `cargo xtask test` installs them)"
            )));
        }
        Ok(RtspServer { child, port })
    }

    /// `rtsp://[user:password@]127.0.0.1:PORT/cam`.
    pub fn url(&self, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("rtsp://{user}:{password}@127.0.0.1:{}/cam", self.port),
            None => format!("rtsp://127.0.0.1:{}/cam", self.port),
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
