//! The raw command line: every flag as clap parses it (each also readable from an
//! environment variable), with the parsers that turn one value into a typed one. Nothing here
//! looks at two flags together; [`super::Config`] does that.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

use crate::camera::{CameraSpec, Encoding, MAX_FPS, Size};
use crate::media::Codec;

/// framecast: live camera viewer for the browser, MJPEG tools and snapshots.
#[derive(Debug, Parser)]
#[command(name = "framecast", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// `framecast push ...` sends a local camera to another framecast; without a subcommand,
    /// framecast serves.
    #[command(subcommand)]
    pub command: Option<Subcommand>,

    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "FRAMECAST_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Camera to serve: `emulated` (moving test pattern), `files:DIR` (the JPEGs of a folder in
    /// a loop), `cmd:COMMAND` (a command writing MJPEG to stdout, e.g. ffmpeg), `pi` (Raspberry
    /// Pi camera through rpicam-vid). `NAME=SPEC` gives the camera an id; repeat for several.
    #[arg(long = "camera", env = "CAMERA", default_value = "emulated", value_name = "SPEC")]
    pub cameras: Vec<CameraArg>,

    /// Frame size for cameras that can choose it.
    #[arg(long, env = "FRAMECAST_SIZE", default_value = "1280x720", value_name = "WxH")]
    pub size: Size,

    /// Frames per second (1–240).
    #[arg(long, env = "FRAMECAST_FPS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=MAX_FPS as i64))]
    pub fps: u32,

    /// JPEG quality (1–100) where the server encodes.
    #[arg(long, env = "FRAMECAST_QUALITY", default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,

    /// Codec for cameras that encode themselves (emulated, pi, usb webcams that offer it):
    /// `jpeg` or `h264`. Other cameras keep their own.
    #[arg(long, env = "FRAMECAST_CODEC", default_value = "jpeg", value_name = "CODEC")]
    pub codec: Codec,

    /// H.264: seconds between keyframes (fractions allowed, 0.1–60).
    #[arg(long, env = "FRAMECAST_KEYFRAME_INTERVAL", default_value = "1", value_name = "SECS", value_parser = parse_keyframe_interval)]
    pub keyframe_interval: Duration,

    /// Seconds a camera keeps running with no viewer before it stops (fractions allowed).
    #[arg(long, env = "FRAMECAST_IDLE_TIMEOUT", default_value = "10", value_name = "SECS", value_parser = parse_seconds)]
    pub idle_timeout: Duration,

    /// Bearer token that `push` cameras require from senders (required when there is one).
    #[arg(long, env = "FRAMECAST_PUSH_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub push_token: Option<String>,

    /// Largest pushed frame accepted, in bytes.
    #[arg(long, env = "FRAMECAST_PUSH_MAX_BYTES", default_value_t = 8 * 1024 * 1024, value_name = "BYTES")]
    pub push_max_bytes: usize,

    /// Token every client needs (except for loading the web client itself): `Authorization:
    /// Bearer TOKEN`, HTTP Basic with the token as password, or `?token=TOKEN`. Without
    /// `--admin-token` it also allows changing camera settings.
    #[arg(
        long,
        env = "FRAMECAST_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<String>,

    /// Read `--token` from the first line of this file (keeps it out of `ps`).
    #[arg(long, env = "FRAMECAST_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Token needed to change camera settings and device controls. With it, `--token` only
    /// allows watching; without `--token`, watching is open to all.
    #[arg(
        long,
        env = "FRAMECAST_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        conflicts_with = "admin_token_file"
    )]
    pub admin_token: Option<String>,

    /// Read `--admin-token` from the first line of this file.
    #[arg(long, env = "FRAMECAST_ADMIN_TOKEN_FILE", value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,

    /// Web origin (e.g. `https://octopi.local`) allowed to open WebSockets besides the server's
    /// own; repeat or separate with commas. `*` allows any origin.
    #[arg(
        long = "allow-origin",
        env = "FRAMECAST_ALLOW_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub allow_origins: Vec<String>,

    /// PEM certificate chain: serve HTTPS (and WSS) instead of HTTP. Needs `--tls-key`.
    #[arg(long, env = "FRAMECAST_TLS_CERT", value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "FRAMECAST_TLS_KEY", value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Open connections allowed in total; more are refused with 503.
    #[arg(long, env = "FRAMECAST_MAX_CONNECTIONS", default_value_t = 4096, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Open connections allowed from one address (raise it behind a reverse proxy, where every
    /// client comes from the proxy's address).
    #[arg(long, env = "FRAMECAST_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_address: u32,

    /// Seconds between WebSocket pings; a viewer silent for three of them is disconnected.
    #[arg(long, env = "FRAMECAST_KEEPALIVE", default_value = "10", value_name = "SECS", value_parser = parse_seconds)]
    pub keepalive: Duration,

    /// Record every camera into this folder (segment files and an SQLite index). Recorded
    /// cameras run whether or not anyone watches; viewers can play back and export.
    #[arg(long, env = "FRAMECAST_RECORD_DIR", value_name = "DIR")]
    pub record_dir: Option<PathBuf>,

    /// Record only these cameras (ids, comma-separated).
    #[arg(long, env = "FRAMECAST_RECORD_CAMERAS", value_name = "IDS", value_delimiter = ',')]
    pub record_cameras: Vec<String>,

    /// Record at most this many frames per second (default: every frame).
    #[arg(long, env = "FRAMECAST_RECORD_FPS", value_name = "N", value_parser = parse_record_fps)]
    pub record_fps: Option<f64>,

    /// Keep at most this much recording, oldest deleted first (e.g. 20GB, 500MiB).
    #[arg(long, env = "FRAMECAST_RETAIN_SIZE", value_name = "SIZE", value_parser = parse_size)]
    pub retain_size: Option<u64>,

    /// Keep recordings at most this long (e.g. 7d, 12h, 90min).
    #[arg(long, env = "FRAMECAST_RETAIN_AGE", value_name = "DURATION", value_parser = parse_age)]
    pub retain_age: Option<Duration>,

    /// Keep at least this much of the disk free, deleting the oldest recordings (and pausing
    /// recording when that cannot help): a percentage.
    #[arg(long, env = "FRAMECAST_MIN_FREE", value_name = "PERCENT", default_value = "5%", value_parser = parse_percent)]
    pub min_free: f64,

    /// Look for motion on these cameras (ids, comma-separated, or `all`), whether or not
    /// anyone watches: events with thumbnails in `/api/events` and on the timeline.
    #[arg(long, env = "FRAMECAST_MOTION", value_name = "IDS|all", value_delimiter = ',')]
    pub motion: Vec<String>,

    /// Pictures per second looked at for motion, whatever the camera's rate.
    #[arg(long, env = "FRAMECAST_MOTION_FPS", value_name = "N", default_value = "5", value_parser = parse_motion_fps)]
    pub motion_fps: f64,

    /// How faint a change counts as motion: 1 (only strong changes) to 100 (the faintest).
    #[arg(long, env = "FRAMECAST_MOTION_SENSITIVITY", value_name = "1-100", default_value_t = 50, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub motion_sensitivity: u8,

    /// How much of the watched picture must change to be motion: a percentage.
    #[arg(long, env = "FRAMECAST_MOTION_MIN_AREA", value_name = "PERCENT", default_value = "0.5%", value_parser = parse_percent)]
    pub motion_min_area: f64,

    /// POST each motion event's start and end as JSON to this URL (repeat for several).
    #[arg(long = "notify-url", env = "FRAMECAST_NOTIFY_URLS", value_name = "URL", value_delimiter = ',', value_parser = parse_notify_url)]
    pub notify_urls: Vec<hyper::Uri>,

    /// A camera's events that start within this many seconds of the last one sent are not
    /// sent (nor their ends).
    #[arg(long, env = "FRAMECAST_NOTIFY_COOLDOWN", value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    pub notify_cooldown: Duration,
}

/// A `--notify-url`: `http://host[:port]/path` (HTTPS is not supported yet: the error says
/// so).
pub fn parse_notify_url(given: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = given.parse().map_err(|e| format!("'{given}' is not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok(uri),
        Some("https") => Err(format!("'{given}': https webhooks are not supported yet; give an http:// URL")),
        _ => Err(format!("'{given}': give http://host[:port]/path")),
    }
}

fn parse_motion_fps(s: &str) -> Result<f64, String> {
    let fps: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of pictures per second"))?;
    if !(fps.is_finite() && (0.5..=30.0).contains(&fps)) {
        return Err(format!("'{s}': give 0.5 to 30 pictures per second"));
    }
    Ok(fps)
}

fn parse_record_fps(s: &str) -> Result<f64, String> {
    let fps: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of frames per second"))?;
    if !(fps.is_finite() && fps > 0.0 && fps <= MAX_FPS as f64) {
        return Err(format!("'{s}': give a rate above 0 and at most {MAX_FPS}"));
    }
    Ok(fps)
}

fn parse_size(s: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize =
        s.trim().parse().map_err(|_| format!("'{s}' is not a size; write e.g. 20GB, 500MB or 1TiB"))?;
    if size.as_u64() < 1024 * 1024 {
        return Err(format!("'{s}' is too small to record into; give at least 1MB"));
    }
    Ok(size.as_u64())
}

fn parse_age(s: &str) -> Result<Duration, String> {
    let age = humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}); write e.g. 7d, 12h or 90min"))?;
    if age < Duration::from_secs(60) {
        return Err(format!("'{s}' is shorter than a minute"));
    }
    Ok(age)
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let number = s.trim().trim_end_matches('%').trim();
    let percent: f64 = number.parse().map_err(|_| format!("'{s}' is not a percentage like 5%"))?;
    if !(0.0..=90.0).contains(&percent) {
        return Err(format!("'{s}': give 0% to 90%"));
    }
    Ok(percent / 100.0)
}

fn parse_keyframe_interval(s: &str) -> Result<Duration, String> {
    let interval = parse_seconds(s)?;
    if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&interval) {
        return Err(format!("'{s}': give 0.1 to 60 seconds between keyframes"));
    }
    Ok(interval)
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a number of seconds from 0 up"))
}

/// What to do instead of serving.
#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
    /// Capture a local camera and push its frames to a `push` camera of another framecast,
    /// retrying with backoff while the network or the server is down.
    Push(PushArgs),
}

/// `framecast push` arguments.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The receiving camera's URL: http://HOST:PORT/api/cameras/NAME
    #[arg(long, value_name = "URL")]
    pub to: String,

    /// The receiver's --push-token.
    #[arg(long, env = "FRAMECAST_PUSH_TOKEN", hide_env_values = true)]
    pub token: String,

    /// The local camera (same kinds as when serving).
    #[arg(long, env = "CAMERA", default_value = "emulated", value_name = "SPEC")]
    pub camera: CameraSpec,

    /// Frame size for cameras that can choose it.
    #[arg(long, default_value = "1280x720", value_name = "WxH")]
    pub size: Size,

    /// Frames per second (1–240).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=MAX_FPS as i64))]
    pub fps: u32,

    /// JPEG quality (1–100) where the camera encodes.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,

    /// Codec for cameras that encode themselves: `jpeg` or `h264` (sent as it is made).
    #[arg(long, env = "FRAMECAST_CODEC", default_value = "jpeg", value_name = "CODEC")]
    pub codec: Codec,

    /// H.264: seconds between keyframes.
    #[arg(long, env = "FRAMECAST_KEYFRAME_INTERVAL", default_value = "1", value_name = "SECS", value_parser = parse_keyframe_interval)]
    pub keyframe_interval: Duration,
}

impl PushArgs {
    /// How the local camera encodes, where it does.
    pub fn encoding(&self) -> Encoding {
        Encoding { codec: self.codec, keyframe_interval: self.keyframe_interval }
    }
}

/// One `--camera` value: an optional `NAME=` and a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraArg {
    /// The id asked for, if any.
    pub name: Option<String>,
    /// The camera itself.
    pub spec: CameraSpec,
}

impl FromStr for CameraArg {
    type Err = String;

    fn from_str(s: &str) -> Result<CameraArg, String> {
        // `files:/a=b` is a path, not a name: a name comes before any ':'.
        match s.split_once('=') {
            Some((name, spec)) if !name.contains(':') => {
                let valid = !name.is_empty()
                    && name.len() <= 32
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !valid {
                    return Err(format!("camera name '{name}' must be 1-32 letters, digits, '-' or '_'"));
                }
                Ok(CameraArg { name: Some(name.to_string()), spec: spec.parse()? })
            }
            _ => Ok(CameraArg { name: None, spec: s.parse()? }),
        }
    }
}
