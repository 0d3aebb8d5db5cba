//! Cameras that are child processes writing MJPEG or H.264 to stdout: `cmd:COMMAND`
//! (anything — ffmpeg from an RTSP camera or a video file, GStreamer...) and, through
//! [`ChildCapture`], the Raspberry Pi camera (`pi`, see [`super::pi`]).
//!
//! Which of the two a command writes is seen in its first bytes: a JPEG starts with `FF D8`,
//! an H.264 byte stream with a start code (`00 00 01` / `00 00 00 01`), as `ffmpeg ... -c copy
//! -f h264 -` or `rpicam-vid --codec h264 -o -` write it. JPEGs are cut apart on the reader
//! thread (their end is in the data); H.264 pictures are assembled on the capture thread,
//! which can tell when the pipe has gone quiet after a picture and send it then
//! ([`crate::media::h264::annexb::Assembler`]).
//!
//! The child runs in its own process group, is killed (the whole group) when the capture
//! stops, and gets `SIGKILL` by the kernel if its parent thread dies, so no camera process
//! outlives the server, even when the server itself is killed with `SIGKILL`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use framecast_shared::CameraModes;

use super::{Capture, Source, SourceError, Stopper};
use crate::camera::Settings;
use crate::lock::Unpoisoned;
use crate::media::h264::AccessUnit;
use crate::media::h264::annexb::{Assembler, looks_like_annexb};
use crate::media::jpeg::Jpeg;
use crate::media::jpeg::split::JpegSplitter;
use crate::media::{Codec, Encoded};

/// A camera process that produces no frame for this long is considered failed.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Lines of the child's stderr kept to explain a failure.
const STDERR_LINES: usize = 4;

/// The `cmd:COMMAND` camera kind: `sh -c COMMAND`, stdout read as MJPEG.
#[derive(Debug, Clone)]
pub struct CommandSource {
    command: String,
}

impl CommandSource {
    /// A camera running `command` through `sh -c`.
    pub fn new(command: String) -> CommandSource {
        CommandSource { command }
    }
}

impl Source for CommandSource {
    fn kind(&self) -> &'static str {
        "cmd"
    }

    fn open(&self, _settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        let mut command = Command::new("sh");
        command.arg("-c").arg(&self.command);
        Ok(Box::new(ChildCapture::spawn(command, "command")?))
    }

    /// Known from the output only.
    fn codec(&self, _settings: &Settings) -> Option<Codec> {
        None
    }

    /// The command decides size, rate and quality itself.
    fn modes(&self, _current: &Settings) -> CameraModes {
        CameraModes { sizes: Vec::new(), max_fps: 0, quality: false }
    }
}

/// What the stdout reader thread hands over.
#[derive(Debug)]
enum Output {
    /// A whole JPEG.
    Jpeg(Bytes),
    /// The next bytes of an H.264 byte stream.
    H264(Bytes),
    /// The output ended or failed: why.
    Ended(String),
}

/// How long the pipe may be quiet after the last slice of an H.264 picture before the picture
/// counts as complete: writers put out a picture in one burst, and frames are at least 4 ms
/// apart even at 240 fps.
const H264_QUIET: Duration = Duration::from_millis(4);

/// A running camera process.
#[derive(Debug)]
pub struct ChildCapture {
    child: Child,
    label: &'static str,
    frames: mpsc::Receiver<Output>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    frame_timeout: Duration,
    /// H.264: the byte stream cut into pictures, and the pictures not yet taken.
    assembler: Assembler,
    ready: VecDeque<AccessUnit>,
    /// Why the last frame was unusable, for the reason given when none comes.
    last_error: Option<String>,
}

impl ChildCapture {
    /// Starts `command` with piped stdout (MJPEG) and stderr (kept for error messages).
    /// `label` names it in errors ("command", "rpicam-vid").
    pub fn spawn(mut command: Command, label: &'static str) -> Result<ChildCapture, SourceError> {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        crate::sys::die_with_parent(&mut command);
        let mut child = command.spawn().map_err(|e| {
            SourceError::Process(format!("cannot start {label} ({:?}): {e}", command.get_program()))
        })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, frames) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("{label}-stdout"))
            .spawn(move || read_frames(stdout, &tx))
            .map_err(|e| SourceError::Process(format!("cannot start a reader thread: {e}")))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr_tail.clone();
        let _ = std::thread::Builder::new().name(format!("{label}-stderr")).spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                tracing::debug!(target: "framecast::camera_process", "{line}");
                let mut tail = tail.locked();
                tail.push_back(line);
                while tail.len() > STDERR_LINES {
                    tail.pop_front();
                }
            }
        });
        Ok(ChildCapture {
            child,
            label,
            frames,
            stderr_tail,
            frame_timeout: FRAME_TIMEOUT,
            assembler: Assembler::new(),
            ready: VecDeque::new(),
            last_error: None,
        })
    }

    /// Why the process stopped: its exit status and its last words on stderr.
    fn failure(&mut self, what: &str) -> SourceError {
        // Give the process a moment to exit so its status can be reported.
        let mut status = None;
        for _ in 0..20 {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Let the stderr reader catch the last lines.
        std::thread::sleep(Duration::from_millis(20));
        let tail = self.stderr_tail.locked().iter().cloned().collect::<Vec<_>>();
        let mut message = format!("{} {what}", self.label);
        if let Some(status) = status {
            message.push_str(&format!(" ({status})"));
        }
        if !tail.is_empty() {
            message.push_str(&format!(": {}", tail.join(" | ")));
        }
        SourceError::Process(message)
    }
}

/// Reads the child's stdout until it ends: JPEGs cut into frames, H.264 passed on as it
/// comes (see the module doc).
fn read_frames(mut stdout: impl Read, tx: &mpsc::Sender<Output>) {
    let mut splitter = JpegSplitter::default();
    let mut chunk = vec![0u8; 64 * 1024];
    // The first bytes, until they tell the codec.
    let mut start = Vec::new();
    let mut h264 = None;
    loop {
        let n = match stdout.read(&mut chunk) {
            Ok(0) => {
                let _ = tx.send(Output::Ended("exited".into()));
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Output::Ended(format!("output could not be read: {e}")));
                return;
            }
        };
        let bytes: &[u8] = if h264.is_none() {
            start.extend_from_slice(&chunk[..n]);
            // Zero bytes may lead a start code; a JPEG's first byte is FF.
            let zeros = start.iter().take_while(|&&b| b == 0).count();
            if start.len() < zeros + 2 {
                continue;
            }
            h264 = Some(looks_like_annexb(&start));
            &start
        } else {
            &chunk[..n]
        };
        let sent = if h264 == Some(true) {
            tx.send(Output::H264(Bytes::copy_from_slice(bytes))).is_ok()
        } else {
            splitter.push(bytes).into_iter().all(|frame| tx.send(Output::Jpeg(frame)).is_ok())
        };
        if !sent {
            return;
        }
        start = Vec::new();
    }
}

impl ChildCapture {
    /// The next H.264 picture: assembled from what has come, or waited for (the pipe going
    /// quiet after a picture's last slice completes it).
    fn next_picture(&mut self, bytes: Bytes) -> Result<Option<AccessUnit>, SourceError> {
        let mut pending = vec![bytes];
        loop {
            for bytes in pending.drain(..) {
                for picture in self.assembler.push(&bytes) {
                    match picture {
                        Ok(unit) => self.ready.push_back(unit),
                        Err(e) => {
                            tracing::debug!("{}: skipping broken H.264: {e}", self.label);
                            self.last_error = Some(e.to_string());
                        }
                    }
                }
            }
            if let Some(unit) = self.ready.pop_front() {
                return Ok(Some(unit));
            }
            if !self.assembler.waiting() {
                return Ok(None);
            }
            match self.frames.recv_timeout(H264_QUIET) {
                Ok(Output::H264(more)) => pending.push(more),
                Ok(Output::Jpeg(_)) => {}
                Ok(Output::Ended(what)) => return Err(self.failure(&what)),
                Err(RecvTimeoutError::Timeout) => {
                    for picture in self.assembler.idle() {
                        match picture {
                            Ok(unit) => self.ready.push_back(unit),
                            Err(e) => {
                                tracing::debug!("{}: skipping broken H.264: {e}", self.label);
                                self.last_error = Some(e.to_string());
                            }
                        }
                    }
                    return Ok(self.ready.pop_front());
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.failure("exited")),
            }
        }
    }
}

impl Capture for ChildCapture {
    fn pace(&self) -> Option<u32> {
        None
    }

    fn grab(&mut self) -> Result<Encoded, SourceError> {
        if let Some(unit) = self.ready.pop_front() {
            return Ok(Encoded::H264(unit));
        }
        let deadline = std::time::Instant::now() + self.frame_timeout;
        loop {
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            match self.frames.recv_timeout(wait) {
                Ok(Output::Jpeg(data)) => match crate::media::jpeg::dimensions(&data) {
                    Ok((width, height)) => return Ok(Jpeg { data, width, height }.into()),
                    Err(reason) => {
                        tracing::debug!("{}: skipping a broken frame: {reason}", self.label);
                        self.last_error = Some(format!("not a JPEG: {reason}"));
                    }
                },
                Ok(Output::H264(bytes)) => {
                    if let Some(unit) = self.next_picture(bytes)? {
                        return Ok(Encoded::H264(unit));
                    }
                }
                Ok(Output::Ended(what)) => return Err(self.failure(&what)),
                Err(RecvTimeoutError::Timeout) => {
                    let what = match &self.last_error {
                        Some(e) => {
                            format!("sent no usable frame for {} s (last: {e})", self.frame_timeout.as_secs())
                        }
                        None => format!("sent no frame for {} s", self.frame_timeout.as_secs()),
                    };
                    return Err(self.failure(&what));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.failure("exited")),
            }
        }
    }

    fn stopper(&self) -> Option<Stopper> {
        let pid = self.child.id();
        Some(Arc::new(move || crate::sys::kill_process_group(pid)))
    }
}

impl Drop for ChildCapture {
    fn drop(&mut self) {
        crate::sys::kill_process_group(self.child.id());
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Size;

    fn settings() -> Settings {
        Settings { size: Size { width: 64, height: 48 }, fps: 10, quality: 80 }
    }

    #[test]
    fn frames_from_a_command_and_a_clear_error_when_it_ends() {
        // Two JPEGs written by the command itself, then it exits with status 3.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let jpeg = crate::media::jpeg::turbo::encode_rgb(&[50; 32 * 16 * 3], 32, 16, 80).unwrap();
        let file = dir.join("f.jpg");
        std::fs::write(&file, &jpeg).unwrap();
        let cmd = format!("cat {0} {0}; echo 'camera gone' >&2; exit 3", file.display());
        let mut cam = CommandSource::new(cmd).open(&settings()).unwrap();
        for _ in 0..2 {
            let frame = cam.grab().unwrap();
            assert_eq!(frame.size(), (32, 16));
            assert_eq!(frame.data().as_ref(), jpeg.as_slice());
        }
        let err = cam.grab().unwrap_err().to_string();
        assert!(err.contains("exited") && err.contains("3") && err.contains("camera gone"), "{err}");
    }

    #[test]
    fn a_silent_command_times_out_and_the_stopper_ends_it_at_once() {
        let mut cam = ChildCapture::spawn(
            {
                let mut c = Command::new("sh");
                c.arg("-c").arg("sleep 30");
                c
            },
            "command",
        )
        .unwrap();
        cam.frame_timeout = Duration::from_millis(200);
        let err = cam.grab().unwrap_err().to_string();
        assert!(err.contains("sent no frame"), "{err}");
        let stop = cam.stopper().unwrap();
        let started = std::time::Instant::now();
        stop();
        cam.frame_timeout = Duration::from_secs(5);
        let err = cam.grab().unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(2), "stopper did not interrupt grab: {err}");
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let err = ChildCapture::spawn(Command::new("/nonexistent/rpicam-vid"), "rpicam-vid").unwrap_err();
        assert!(err.to_string().contains("cannot start rpicam-vid"), "{err}");
    }
}
