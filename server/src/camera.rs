//! What a camera is and how it is asked to run: the domain types every layer reads (the
//! command line makes them, sources open them, the hub keeps them, viewers change them). They
//! sit on the ground floor so that none of those layers has to import another to know them.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::media::Codec;
use crate::media::bounds::{MAX_ASKED_SIDE, MIN_ASKED_SIDE};

/// Highest frame rate accepted.
pub const MAX_FPS: u32 = 240;

/// Width and height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
}

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Size, String> {
        let (w, h) =
            s.split_once(['x', 'X']).ok_or_else(|| format!("'{s}' is not WIDTHxHEIGHT, e.g. 1280x720"))?;
        let parse = |v: &str| {
            v.trim().parse::<u32>().map_err(|_| format!("'{s}' is not WIDTHxHEIGHT, e.g. 1280x720"))
        };
        let size = Size { width: parse(w)?, height: parse(h)? };
        let ok = |v: u32| (MIN_ASKED_SIDE..=MAX_ASKED_SIDE).contains(&v);
        if !ok(size.width) || !ok(size.height) {
            return Err(format!(
                "{s}: width and height must be between {MIN_ASKED_SIDE} and {MAX_ASKED_SIDE}"
            ));
        }
        Ok(size)
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// Settings a camera is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Frame size, for sources that can choose it.
    pub size: Size,
    /// Frames per second.
    pub fps: u32,
    /// JPEG quality 1–100.
    pub quality: u8,
}

/// How a camera that encodes its pictures itself encodes them (`--codec`,
/// `--keyframe-interval`): the emulated camera, the Raspberry Pi camera, a USB webcam that
/// offers H.264. Cameras whose codec is their own (files, commands, RTSP, pushed frames)
/// ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// JPEG or H.264.
    pub codec: Codec,
    /// H.264: a keyframe at least this often (a viewer joining later starts at the last one).
    pub keyframe_interval: Duration,
}

impl Default for Encoding {
    fn default() -> Encoding {
        Encoding { codec: Codec::Jpeg, keyframe_interval: Duration::from_secs(1) }
    }
}

impl Encoding {
    /// The keyframe interval in frames at `fps` (at least 1).
    pub fn keyframe_every(&self, fps: u32) -> u32 {
        ((self.keyframe_interval.as_secs_f64() * f64::from(fps)).round() as u32).max(1)
    }
}

impl FromStr for Codec {
    type Err = String;

    fn from_str(s: &str) -> Result<Codec, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "jpeg" | "mjpeg" => Ok(Codec::Jpeg),
            "h264" | "h.264" | "avc" => Ok(Codec::H264),
            other => Err(format!("unknown codec '{other}'; use jpeg or h264")),
        }
    }
}

/// What kind of camera, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSpec {
    /// A moving test pattern rendered and encoded here.
    Emulated,
    /// The JPEG files of a folder, played in a loop.
    Files(PathBuf),
    /// A command (run by `sh -c`) that writes a stream of JPEGs to stdout.
    Command(String),
    /// The Raspberry Pi camera through `rpicam-vid`.
    Pi,
    /// Frames pushed to this server over HTTP or WebSocket.
    Push,
    /// A USB / V4L2 webcam, `/dev/video{index}`.
    Usb(u32),
    /// An IP camera's RTSP stream.
    Rtsp(RtspUrl),
}

/// An RTSP address with its credentials apart: the address is what logs and `/api/state`
/// may show, the credentials go only to the camera (and `Debug` never prints the password).
#[derive(Clone, PartialEq, Eq)]
pub struct RtspUrl {
    /// `rtsp://host[:port]/path`, without credentials.
    pub url: String,
    /// User name, if the address had one.
    pub user: Option<String>,
    /// Password, if the address had one.
    pub password: Option<String>,
}

impl std::fmt::Debug for RtspUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspUrl")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish()
    }
}

impl FromStr for RtspUrl {
    type Err = String;

    /// `rtsp://[user[:password]@]host[:port]/path`; user and password may be percent-encoded.
    fn from_str(s: &str) -> Result<RtspUrl, String> {
        let rest =
            s.strip_prefix("rtsp://").ok_or("an RTSP camera is rtsp://[user:pass@]host[:port]/path")?;
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(format!("rtsp://{host}/...: the camera's host is missing"));
        }
        let decode = |v: &str| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned();
        let (user, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
            Some((user, password)) => (
                Some(decode(user)).filter(|u| !u.is_empty()),
                Some(decode(password)).filter(|p| !p.is_empty()),
            ),
            None => (None, None),
        };
        Ok(RtspUrl { url: format!("rtsp://{host}/{path}"), user, password })
    }
}

/// The spec kinds accepted, for error messages and `--help`.
pub const VALID_SPECS: &str = "emulated, files:DIR, cmd:COMMAND, pi, push, usb[:INDEX|:/dev/videoN], rtsp://[user:pass@]host[:port]/path";

impl CameraSpec {
    /// Short name of the kind, as shown in `/api/state`.
    pub fn kind(&self) -> &'static str {
        match self {
            CameraSpec::Emulated => "emulated",
            CameraSpec::Files(_) => "files",
            CameraSpec::Command(_) => "cmd",
            CameraSpec::Pi => "pi",
            CameraSpec::Push => "push",
            CameraSpec::Usb(_) => "usb",
            CameraSpec::Rtsp(_) => "rtsp",
        }
    }
}

impl FromStr for CameraSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<CameraSpec, String> {
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        match (kind, arg) {
            ("emulated", None) => Ok(CameraSpec::Emulated),
            ("files", Some(dir)) if !dir.is_empty() => Ok(CameraSpec::Files(PathBuf::from(dir))),
            ("files", _) => Err("files needs a folder: files:DIR".into()),
            ("cmd", Some(command)) if !command.trim().is_empty() => {
                Ok(CameraSpec::Command(command.to_string()))
            }
            ("cmd", _) => Err("cmd needs a command: cmd:COMMAND".into()),
            ("pi", None) => Ok(CameraSpec::Pi),
            ("rtsp", Some(_)) => s.parse().map(CameraSpec::Rtsp),
            ("push", None) => Ok(CameraSpec::Push),
            ("usb", None) => Ok(CameraSpec::Usb(0)),
            ("usb", Some(device)) => {
                let index = device.strip_prefix("/dev/video").unwrap_or(device);
                index
                    .parse()
                    .map(CameraSpec::Usb)
                    .map_err(|_| format!("usb takes a device number or /dev/videoN, not '{device}'"))
            }
            _ => Err(format!("unknown camera '{s}'; valid: {VALID_SPECS}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_addresses_keep_their_credentials_apart() {
        let spec: CameraSpec = "rtsp://admin:p%40ss:w0rd@10.0.0.5:554/Streaming/101".parse().unwrap();
        let CameraSpec::Rtsp(rtsp) = &spec else { panic!("{spec:?}") };
        assert_eq!(rtsp.url, "rtsp://10.0.0.5:554/Streaming/101");
        assert_eq!((rtsp.user.as_deref(), rtsp.password.as_deref()), (Some("admin"), Some("p@ss:w0rd")));
        assert!(!format!("{spec:?}").contains("w0rd"), "the password never shows: {spec:?}");
        let open: CameraSpec = "rtsp://cam.local/live".parse().unwrap();
        assert_eq!(
            open,
            CameraSpec::Rtsp(RtspUrl { url: "rtsp://cam.local/live".into(), user: None, password: None })
        );
        assert!("rtsp://".parse::<CameraSpec>().is_err());
        assert_eq!(spec.kind(), "rtsp");
    }

    #[test]
    fn sizes_parse_and_bad_sizes_are_refused() {
        assert_eq!("640x480".parse::<Size>().unwrap(), Size { width: 640, height: 480 });
        assert_eq!("1920X1080".parse::<Size>().unwrap(), Size { width: 1920, height: 1080 });
        for bad in ["0x0", "640", "x480", "640x", "-1x5", "100000x10", "axb", "15x100"] {
            assert!(bad.parse::<Size>().is_err(), "{bad}");
        }
    }
}
