//! The command line (every flag also readable from an environment variable), checked into a
//! [`Config`] before anything starts. Bad values are refused here with one clear line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

/// Largest width or height accepted (JPEG allows 65535; no camera we serve goes past 8K).
pub const MAX_DIMENSION: u32 = 8192;
/// Smallest width or height accepted (one JPEG block and room for the overlay text).
pub const MIN_DIMENSION: u32 = 16;
/// Highest frame rate accepted.
pub const MAX_FPS: u32 = 240;

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
}

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
        let ok = |v: u32| (MIN_DIMENSION..=MAX_DIMENSION).contains(&v);
        if !ok(size.width) || !ok(size.height) {
            return Err(format!("{s}: width and height must be between {MIN_DIMENSION} and {MAX_DIMENSION}"));
        }
        Ok(size)
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a number of seconds from 0 up"))
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
}

/// The spec kinds accepted, for error messages and `--help`.
pub const VALID_SPECS: &str = "emulated, files:DIR, cmd:COMMAND, pi, push, usb[:INDEX|:/dev/videoN]";

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

/// One camera of the configuration, with its final id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraConfig {
    /// Unique id, used in `?camera=`.
    pub id: String,
    /// The camera itself.
    pub spec: CameraSpec,
}

/// The checked configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Cameras, in the order given; the first is the default.
    pub cameras: Vec<CameraConfig>,
    /// Settings every camera starts with.
    pub settings: Settings,
    /// How long a camera runs with nobody watching.
    pub idle_timeout: Duration,
    /// Token senders to `push` cameras must present.
    pub push_token: Option<String>,
    /// Largest pushed frame accepted.
    pub push_max_bytes: usize,
    /// Who may watch and who may change cameras.
    pub access: AccessConfig,
    /// Certificate and key files when serving HTTPS.
    pub tls: Option<TlsFiles>,
    /// Connection caps and keepalive.
    pub limits: Limits,
    /// What to record, when recording.
    pub record: Option<crate::record::RecordConfig>,
}

/// Tokens and allowed web origins.
#[derive(Debug, Clone, Default)]
pub struct AccessConfig {
    /// Token needed to watch (and to change cameras when there is no admin token).
    pub token: Option<String>,
    /// Token needed to change cameras.
    pub admin_token: Option<String>,
    /// Web origins allowed to open WebSockets besides the server's own (`*`: any).
    pub allow_origins: Vec<String>,
}

/// PEM files for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Bounds on connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections in total.
    pub max_connections: u32,
    /// Open connections per client address.
    pub max_connections_per_address: u32,
    /// WebSocket ping interval; three silent intervals end a viewer.
    pub keepalive: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_connections: 4096, max_connections_per_address: 256, keepalive: Duration::from_secs(10) }
    }
}

/// A token from the flag or from the first line of a file; blanks count as unset, and a token
/// that could not travel in a header or URL is refused.
fn read_token(flag: &str, value: Option<String>, file: Option<PathBuf>) -> Result<Option<String>, String> {
    let token = match (value, file) {
        (Some(v), _) => v,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map_err(|e| format!("--{flag}-file {}: {e}", path.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        (None, None) => return Ok(None),
    };
    if token.is_empty() {
        return Ok(None);
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) || token.len() > 256 {
        return Err(format!("--{flag}: use 1-256 printable ASCII characters without spaces"));
    }
    Ok(Some(token))
}

fn check_origin(origin: &str) -> Result<String, String> {
    let origin = origin.trim().trim_end_matches('/');
    let valid = origin == "*"
        || ((origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.split_once("://").is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/')));
    if !valid {
        return Err(format!(
            "--allow-origin '{origin}': give scheme://host[:port], e.g. https://octopi.local"
        ));
    }
    Ok(origin.to_ascii_lowercase())
}

impl Config {
    /// Turns parsed arguments into a configuration, giving each camera a unique id (its name,
    /// or its kind, with `-2`, `-3`... for repeats).
    pub fn from_cli(cli: Cli) -> Result<Config, String> {
        let mut cameras: Vec<CameraConfig> = Vec::new();
        for arg in cli.cameras {
            let id = match arg.name {
                Some(name) => {
                    if cameras.iter().any(|c| c.id == name) {
                        return Err(format!("two cameras are named '{name}'"));
                    }
                    name
                }
                None => {
                    let kind = arg.spec.kind();
                    let mut id = kind.to_string();
                    let mut n = 2;
                    while cameras.iter().any(|c| c.id == id) {
                        id = format!("{kind}-{n}");
                        n += 1;
                    }
                    id
                }
            };
            cameras.push(CameraConfig { id, spec: arg.spec });
        }
        let push_token = cli.push_token.filter(|t| !t.is_empty());
        if push_token.is_none() && cameras.iter().any(|c| c.spec == CameraSpec::Push) {
            return Err("push cameras need a token: --push-token TOKEN (or FRAMECAST_PUSH_TOKEN)".into());
        }
        let access = AccessConfig {
            token: read_token("token", cli.token, cli.token_file)?,
            admin_token: read_token("admin-token", cli.admin_token, cli.admin_token_file)?,
            allow_origins: cli.allow_origins.iter().map(|o| check_origin(o)).collect::<Result<_, _>>()?,
        };
        if access.token.is_some() && access.token == access.admin_token {
            return Err("--token and --admin-token must differ".into());
        }
        let tls = cli.tls_cert.zip(cli.tls_key).map(|(cert, key)| TlsFiles { cert, key });
        if cli.keepalive < Duration::from_millis(100) {
            return Err("--keepalive must be at least 0.1 seconds".into());
        }
        let limits = Limits {
            max_connections: cli.max_connections,
            max_connections_per_address: cli.max_connections_per_address,
            keepalive: cli.keepalive,
        };
        let configured = &cameras;
        let record = match cli.record_dir {
            Some(dir) => {
                let cameras = (!cli.record_cameras.is_empty()).then_some(cli.record_cameras);
                for id in cameras.iter().flatten() {
                    if !configured.iter().any(|c| &c.id == id) {
                        return Err(format!(
                            "--record-cameras: no camera '{id}'; cameras: {}",
                            configured.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
                Some(crate::record::RecordConfig {
                    dir,
                    cameras,
                    max_fps: cli.record_fps,
                    retain_size: cli.retain_size,
                    retain_age: cli.retain_age,
                    min_free: cli.min_free,
                })
            }
            None => {
                let stray = [
                    ("--record-cameras", !cli.record_cameras.is_empty()),
                    ("--record-fps", cli.record_fps.is_some()),
                    ("--retain-size", cli.retain_size.is_some()),
                    ("--retain-age", cli.retain_age.is_some()),
                ];
                if let Some((flag, _)) = stray.iter().find(|(_, given)| *given) {
                    return Err(format!("{flag} needs --record-dir DIR"));
                }
                None
            }
        };
        Ok(Config {
            access,
            tls,
            limits,
            record,
            listen: cli.listen,
            cameras,
            settings: Settings { size: cli.size, fps: cli.fps, quality: cli.quality },
            idle_timeout: cli.idle_timeout,
            push_token,
            push_max_bytes: cli.push_max_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("framecast").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Config::from_cli(cli)
    }

    /// The package's `/etc/default/framecast` is the service's configuration: every flag's
    /// variable must be there for the user to find (the unit passes nothing else but
    /// `FRAMECAST_ARGS`).
    #[test]
    fn the_packaged_defaults_file_names_every_variable() {
        use clap::CommandFactory;
        let defaults = include_str!("../packaging/framecast.default");
        let mut missing = Vec::new();
        for arg in Cli::command().get_arguments() {
            if let Some(env) = arg.get_env() {
                let name = env.to_string_lossy();
                let listed = defaults
                    .lines()
                    .any(|l| l.trim_start_matches('#').split('=').next() == Some(name.as_ref()));
                if !listed {
                    missing.push(name.into_owned());
                }
            }
        }
        assert!(missing.is_empty(), "packaging/framecast.default lacks {missing:?}");
    }

    #[test]
    fn recording_flags_are_checked() {
        let c = parse(&[
            "--camera",
            "a=emulated",
            "--camera",
            "b=emulated",
            "--record-dir",
            "/tmp/rec",
            "--record-cameras",
            "b",
            "--record-fps",
            "2.5",
            "--retain-size",
            "20GB",
            "--retain-age",
            "7d",
            "--min-free",
            "10%",
        ])
        .unwrap();
        let r = c.record.unwrap();
        assert_eq!(r.cameras, Some(vec!["b".to_string()]));
        assert!(r.records("b") && !r.records("a"));
        assert_eq!(r.max_fps, Some(2.5));
        assert_eq!(r.retain_size, Some(20_000_000_000));
        assert_eq!(r.retain_age, Some(Duration::from_secs(7 * 86_400)));
        assert!((r.min_free - 0.10).abs() < 1e-9);
        let defaults = parse(&["--record-dir", "/tmp/rec"]).unwrap().record.unwrap();
        assert!((defaults.min_free - 0.05).abs() < 1e-9);
        assert!(defaults.records("anything") && defaults.retain_size.is_none());
        assert!(parse(&[]).unwrap().record.is_none());
        for (args, expected) in [
            (&["--record-dir", "/r", "--record-cameras", "zzz"][..], "no camera 'zzz'"),
            (&["--retain-size", "1GB"][..], "--retain-size needs --record-dir"),
            (&["--record-dir", "/r", "--retain-size", "lots"][..], "not a size"),
            (&["--record-dir", "/r", "--retain-size", "10KB"][..], "too small"),
            (&["--record-dir", "/r", "--retain-age", "soon"][..], "not a duration"),
            (&["--record-dir", "/r", "--retain-age", "5s"][..], "shorter than a minute"),
            (&["--record-dir", "/r", "--record-fps", "0"][..], "above 0"),
            (&["--record-dir", "/r", "--min-free", "95%"][..], "0% to 90%"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.cameras, vec![CameraConfig { id: "emulated".into(), spec: CameraSpec::Emulated }]);
        assert_eq!(c.settings, Settings { size: Size { width: 1280, height: 720 }, fps: 30, quality: 80 });
        assert_eq!(c.idle_timeout, Duration::from_secs(10));
    }

    #[test]
    fn sizes_parse_and_bad_sizes_are_refused() {
        assert_eq!("640x480".parse::<Size>().unwrap(), Size { width: 640, height: 480 });
        assert_eq!("1920X1080".parse::<Size>().unwrap(), Size { width: 1920, height: 1080 });
        for bad in ["0x0", "640", "x480", "640x", "-1x5", "100000x10", "axb", "15x100"] {
            assert!(bad.parse::<Size>().is_err(), "{bad}");
        }
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        assert!(parse(&["--fps", "0"]).is_err());
        assert!(parse(&["--fps", "241"]).is_err());
        assert!(parse(&["--quality", "200"]).is_err());
        assert!(parse(&["--quality", "0"]).is_err());
        assert!(parse(&["--idle-timeout", "-1"]).is_err());
        assert_eq!(parse(&["--idle-timeout", "0.25"]).unwrap().idle_timeout, Duration::from_millis(250));
    }

    #[test]
    fn camera_specs_and_names() {
        let c = parse(&["--camera", "emulated", "--camera", "yard=files:/tmp/a=b", "--camera", "emulated"])
            .unwrap();
        let ids: Vec<_> = c.cameras.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["emulated", "yard", "emulated-2"]);
        assert_eq!(c.cameras[1].spec, CameraSpec::Files("/tmp/a=b".into()));
        assert_eq!("files:/x=y".parse::<CameraArg>().unwrap().name, None);
    }

    #[test]
    fn command_specs_keep_the_whole_command() {
        let c =
            parse(&["--camera", "yard=cmd:ffmpeg -i rtsp://cam:554/x -f mjpeg -", "--camera", "pi"]).unwrap();
        assert_eq!(c.cameras[0].id, "yard");
        assert_eq!(c.cameras[0].spec, CameraSpec::Command("ffmpeg -i rtsp://cam:554/x -f mjpeg -".into()));
        assert_eq!(c.cameras[1].spec, CameraSpec::Pi);
        assert_eq!(c.cameras[1].id, "pi");
        assert_eq!("usb".parse::<CameraSpec>(), Ok(CameraSpec::Usb(0)));
        assert_eq!("usb:2".parse::<CameraSpec>(), Ok(CameraSpec::Usb(2)));
        assert_eq!("usb:/dev/video4".parse::<CameraSpec>(), Ok(CameraSpec::Usb(4)));
        assert!("usb:/dev/sda".parse::<CameraSpec>().is_err());
    }

    #[test]
    fn push_cameras_need_a_token() {
        let err = parse(&["--camera", "pi4=push"]).unwrap_err();
        assert!(err.contains("--push-token"), "{err}");
        let c = parse(&["--camera", "pi4=push", "--push-token", "s3cret"]).unwrap();
        assert_eq!(c.push_token.as_deref(), Some("s3cret"));
        assert_eq!(c.cameras[0].spec, CameraSpec::Push);
    }

    #[test]
    fn tokens_come_from_flags_or_files() {
        let c = parse(&["--token", "view-1", "--admin-token", "adm-1"]).unwrap();
        assert_eq!(c.access.token.as_deref(), Some("view-1"));
        assert_eq!(c.access.admin_token.as_deref(), Some("adm-1"));
        assert!(parse(&[]).unwrap().access.token.is_none());
        let dir = std::env::temp_dir().join(format!("framecast-token-{}", std::process::id()));
        std::fs::write(&dir, "from-file\nignored\n").unwrap();
        let c = parse(&["--token-file", dir.to_str().unwrap()]).unwrap();
        assert_eq!(c.access.token.as_deref(), Some("from-file"));
        std::fs::remove_file(&dir).unwrap();
        let err = parse(&["--token-file", "/nonexistent/token"]).unwrap_err();
        assert!(err.contains("/nonexistent/token"), "{err}");
        assert!(parse(&["--token", "has space"]).is_err());
        assert!(parse(&["--token", "same", "--admin-token", "same"]).is_err());
        assert!(parse(&["--token", "a", "--token-file", "/x"]).is_err());
    }

    #[test]
    fn origins_tls_and_limits_are_checked() {
        let c = parse(&["--allow-origin", "https://OctoPi.local/,http://10.0.0.2:5000"]).unwrap();
        assert_eq!(c.access.allow_origins, ["https://octopi.local", "http://10.0.0.2:5000"]);
        assert!(parse(&["--allow-origin", "octopi.local"]).is_err());
        assert!(parse(&["--allow-origin", "https://a/b"]).is_err());
        assert!(parse(&["--tls-cert", "c.pem"]).is_err());
        assert!(parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap().tls.is_some());
        assert!(parse(&["--max-connections", "0"]).is_err());
        assert!(parse(&["--keepalive", "0"]).is_err());
        assert_eq!(parse(&["--keepalive", "0.5"]).unwrap().limits.keepalive, Duration::from_millis(500));
    }

    #[test]
    fn unknown_specs_list_the_valid_ones() {
        let err = "webcam".parse::<CameraSpec>().unwrap_err();
        assert!(err.contains(VALID_SPECS), "{err}");
        assert!("files:".parse::<CameraSpec>().is_err());
        assert!("cmd:".parse::<CameraSpec>().is_err());
        assert!("pi:0".parse::<CameraSpec>().is_err());
        assert!("bad name=emulated".parse::<CameraArg>().is_err());
        assert!(parse(&["--camera", "a=emulated", "--camera", "a=emulated"]).is_err());
    }
}
