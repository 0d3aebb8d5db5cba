//! Camera kinds. Each kind is a [`Source`] (what the camera is) that opens into a [`Capture`]
//! (a running camera that grabs frames). The capture thread drives it; nothing here knows
//! about viewers, the hub or the network, only the camera domain types and the media layer.
//!
//! Layout: [`emulated`] renders and encodes a test pattern ([`pattern`] draws it), [`files`]
//! plays a folder of JPEGs, [`command`] runs a process that writes MJPEG (`cmd:`), [`pi`] runs
//! `rpicam-vid` through the same child-process capture, [`usb`] reads a V4L2 webcam behind a
//! device trait, [`push`] takes frames sent from elsewhere, [`rtsp`] reads an IP camera's
//! H.264; [`pacer`] keeps software cameras on schedule. Cutting a byte stream into JPEGs and encoding them is the media layer's
//! ([`crate::media::jpeg`]).

pub mod command;
pub mod emulated;
pub mod files;
pub mod pacer;
pub mod pattern;
pub mod pi;
pub mod push;
pub mod rtsp;
pub mod usb;

use framecast_shared::CameraModes;

use crate::camera::{CameraSpec, Encoding, MAX_FPS, Settings};
use crate::media::jpeg::turbo::CodecError;
use crate::media::{Codec, Encoded};

/// A camera as configured: cheap to keep, opened when the first viewer arrives.
pub trait Source: Send + Sync + std::fmt::Debug + 'static {
    /// Short name of the kind (`emulated`, `files`).
    fn kind(&self) -> &'static str;

    /// Starts the camera. Called on the capture thread, so it may block.
    fn open(&self, settings: &Settings) -> Result<Box<dyn Capture>, SourceError>;

    /// What a client may change (sizes, frame rate, quality), given the current settings.
    fn modes(&self, current: &Settings) -> CameraModes;

    /// The codec the camera gives with these settings, where it is known before the first
    /// frame (a command's output is only known when it runs).
    fn codec(&self, _settings: &Settings) -> Option<Codec> {
        Some(Codec::Jpeg)
    }

    /// Whether the camera runs whether or not anyone watches (frames pushed from elsewhere
    /// keep it up to date for the first viewer and `/api/state`).
    fn always_on(&self) -> bool {
        false
    }

    /// Whether its hub logs starting, stopping and retrying only as details (debug level): a
    /// rendition, whose camera's own lines already say what happens.
    fn follows_a_camera(&self) -> bool {
        false
    }

    /// Device controls as last seen (empty for cameras without any).
    fn controls(&self) -> Vec<framecast_shared::CameraControl> {
        Vec::new()
    }

    /// The push camera behind this source, for the ingest endpoints.
    fn as_push(&self) -> Option<&push::PushSource> {
        None
    }
}

/// A running camera. It lives on the capture thread that opened it (device handles such as
/// V4L2's need not be `Send`).
pub trait Capture {
    /// Frames per second at which the capture thread should call [`Capture::grab`], for sources
    /// that produce a frame whenever asked; `None` when `grab` itself waits for the device.
    fn pace(&self) -> Option<u32>;

    /// Produces the next frame. Blocking.
    fn grab(&mut self) -> Result<Encoded, SourceError>;

    /// Makes the next picture a keyframe, where the capture encodes H.264 itself (a viewer
    /// fell behind); cameras that cannot be asked ignore it.
    fn request_keyframe(&mut self) {}

    /// Something that makes a blocked [`Capture::grab`] return at once (for example by
    /// killing the camera process), used to stop the capture promptly. `None` when `grab`
    /// never blocks for long.
    fn stopper(&self) -> Option<Stopper> {
        None
    }

    /// When the frame [`Capture::grab`] just returned was captured (µs since the Unix epoch),
    /// for captures that know it better than the clock when it arrives (a rendition).
    fn captured_us(&self) -> Option<u64> {
        None
    }

    /// Sets a device control (see [`Source::controls`]). Called on the capture thread between
    /// frames.
    fn set_control(&mut self, name: &str, _value: i64) -> Result<(), SourceError> {
        Err(SourceError::Device(format!("this camera has no control '{name}'")))
    }
}

/// See [`Capture::stopper`].
pub type Stopper = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Why a camera cannot start or stopped working.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A folder or file that cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// What was being read.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A folder with no JPEG files in it.
    #[error("no JPEG files (*.jpg, *.jpeg) in {0}")]
    NoJpegs(String),
    /// A file that should be a JPEG but is not.
    #[error("{path} is not a usable JPEG: {reason}")]
    BadJpeg {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The encoder refused the picture.
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
    /// A camera process could not start, exited, or went silent.
    #[error("{0}")]
    Process(String),
    /// A camera device could not be opened or stopped working.
    #[error("{0}")]
    Device(String),
    /// H.264 that cannot be used (or encoded).
    #[error(transparent)]
    H264(#[from] crate::media::h264::H264Error),
}

impl From<crate::media::transcode::TranscodeError> for SourceError {
    fn from(e: crate::media::transcode::TranscodeError) -> SourceError {
        match e {
            crate::media::transcode::TranscodeError::H264(e) => SourceError::H264(e),
            crate::media::transcode::TranscodeError::Jpeg(e) => e.into(),
        }
    }
}

impl From<CodecError> for SourceError {
    fn from(e: CodecError) -> SourceError {
        SourceError::Encode(e.message().to_string())
    }
}

/// Modes of a camera that renders or encodes itself: common sizes (plus the configured one),
/// any frame rate, adjustable quality.
pub fn software_modes(current: &Settings) -> CameraModes {
    let mut sizes: Vec<[u32; 2]> = vec![[320, 180], [640, 360], [960, 540], [1280, 720], [1920, 1080]];
    let configured = [current.size.width, current.size.height];
    if !sizes.contains(&configured) {
        sizes.push(configured);
        sizes.sort_by_key(|[w, h]| (*w as u64) * (*h as u64));
    }
    CameraModes { sizes, max_fps: MAX_FPS, quality: true }
}

/// Makes the [`Source`] for a spec, checking up front what can be checked (so `framecast`
/// refuses a bad folder at start instead of failing for the first viewer).
pub fn open_source(spec: &CameraSpec, encoding: &Encoding) -> Result<Box<dyn Source>, SourceError> {
    Ok(match spec {
        CameraSpec::Emulated => Box::new(emulated::EmulatedSource::new(*encoding)),
        CameraSpec::Files(dir) => Box::new(files::FilesSource::load(dir)?),
        CameraSpec::Command(command) => Box::new(command::CommandSource::new(command.clone())),
        CameraSpec::Pi => Box::new(pi::PiSource::new(*encoding)),
        CameraSpec::Push => Box::new(push::PushSource::default()),
        CameraSpec::Usb(index) => Box::new(
            usb::UsbSource::new(*index, std::sync::Arc::new(usb::NokhwaBackend)).with_codec(encoding.codec),
        ),
        CameraSpec::Rtsp(address) => Box::new(rtsp::RtspSource::new(address.clone())),
    })
}
