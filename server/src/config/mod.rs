//! The configuration: the command line ([`flags`], raw values as clap parses them) checked
//! into what the server runs with ([`Config`]) or what `framecast push` does, before anything
//! starts. Rules that tie several flags together live here, and a refusal is a
//! [`ConfigError`] whose message is the one line the user sees.
//!
//! The camera domain types the flags produce (`Size`, `Settings`, `CameraSpec`) are in
//! [`crate::camera`], since every layer reads them.

pub mod flags;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::camera::{CameraSpec, Encoding, Settings};
pub use flags::{CameraArg, Cli, PushArgs, Subcommand};

/// What `framecast` was asked to do.
#[derive(Debug)]
pub enum Command {
    /// Serve cameras (no subcommand).
    Serve(Box<Config>),
    /// `framecast push`: send a local camera to another framecast.
    Push(PushArgs),
}

impl Command {
    /// Checks parsed arguments into a command.
    pub fn from_cli(mut cli: Cli) -> Result<Command, ConfigError> {
        match cli.command.take() {
            Some(Subcommand::Push(args)) => Ok(Command::Push(args)),
            None => Ok(Command::Serve(Box::new(Config::from_cli(cli)?))),
        }
    }
}

/// Why the command line cannot be used; the message is what the user is told.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Two `--camera NAME=...` with one name.
    #[error("two cameras are named '{0}'")]
    DuplicateCamera(String),
    /// A `push` camera without `--push-token`.
    #[error("push cameras need a token: --push-token TOKEN (or FRAMECAST_PUSH_TOKEN)")]
    PushWithoutToken,
    /// A `--token-file` / `--admin-token-file` that cannot be read.
    #[error("--{flag}-file {}: {source}", path.display())]
    TokenFile {
        /// `token` or `admin-token`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// A token that could not travel in a header or URL.
    #[error("--{0}: use 1-256 printable ASCII characters without spaces")]
    BadToken(&'static str),
    /// `--token` equal to `--admin-token`.
    #[error("--token and --admin-token must differ")]
    SameTokens,
    /// An `--allow-origin` that is not `scheme://host[:port]` or `*`.
    #[error("--allow-origin '{0}': give scheme://host[:port], e.g. https://octopi.local")]
    BadOrigin(String),
    /// A `--keepalive` too short to be kept.
    #[error("--keepalive must be at least 0.1 seconds")]
    KeepaliveTooShort,
    /// `--record-cameras` naming a camera that is not configured.
    #[error("--record-cameras: no camera '{id}'; cameras: {known}")]
    UnknownRecordCamera {
        /// The id given.
        id: String,
        /// The configured ids, comma-separated.
        known: String,
    },
    /// `--motion` naming a camera that is not configured.
    #[error("--motion: no camera '{id}'; give camera ids or all; cameras: {known}")]
    UnknownMotionCamera {
        /// The id given.
        id: String,
        /// The configured ids, comma-separated.
        known: String,
    },
    /// A notification flag without `--motion`.
    #[error("--notify-url needs --motion (the events it sends come from motion detection)")]
    NotifyWithoutMotion,
    /// A recording flag without `--record-dir`.
    #[error("{0} needs --record-dir DIR")]
    NeedsRecordDir(&'static str),
}

/// What to record and how much to keep (`--record-dir` and the flags that go with it).
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// Where (`--record-dir`).
    pub dir: PathBuf,
    /// Which cameras (`--record-cameras`); all when `None`.
    pub cameras: Option<Vec<String>>,
    /// At most this many frames per second (`--record-fps`); every frame when `None`.
    pub max_fps: Option<f64>,
    /// Keep at most this many bytes (`--retain-size`).
    pub retain_size: Option<u64>,
    /// Keep nothing older (`--retain-age`).
    pub retain_age: Option<Duration>,
    /// Keep at least this share of the file system free (`--min-free`, 0.0–1.0).
    pub min_free: f64,
}

impl RecordConfig {
    /// Whether camera `id` is recorded.
    pub fn records(&self, id: &str) -> bool {
        self.cameras.as_ref().is_none_or(|list| list.iter().any(|c| c == id))
    }

    /// Largest segment, in bytes: an eighth of `--retain-size`, so disk use stays within the
    /// size plus one segment.
    pub fn segment_bytes(&self) -> u64 {
        self.retain_size.map(|s| (s / 8).max(1)).unwrap_or(u64::MAX)
    }
}

/// Where and how to look for motion (`--motion` and the flags that go with it).
#[derive(Debug, Clone)]
pub struct MotionConfig {
    /// Which cameras (`--motion`); all when `None`.
    pub cameras: Option<Vec<String>>,
    /// Pictures per second looked at (`--motion-fps`).
    pub fps: f64,
    /// 1–100 (`--motion-sensitivity`).
    pub sensitivity: u8,
    /// Share of the picture (0.0–1.0) that must change (`--motion-min-area`).
    pub min_area: f64,
    /// Webhooks (`--notify-url`).
    pub notify_urls: Vec<hyper::Uri>,
    /// Per camera, no event sent within this time of the last (`--notify-cooldown`).
    pub notify_cooldown: Duration,
}

impl MotionConfig {
    /// Whether camera `id` is watched for motion.
    pub fn watches(&self, id: &str) -> bool {
        self.cameras.as_ref().is_none_or(|list| list.iter().any(|c| c == id))
    }
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
    /// How cameras that encode themselves encode.
    pub encoding: Encoding,
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
    pub record: Option<RecordConfig>,
    /// Where to look for motion, when anywhere.
    pub motion: Option<MotionConfig>,
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
fn read_token(
    flag: &'static str,
    value: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<String>, ConfigError> {
    let token = match (value, file) {
        (Some(v), _) => v,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map_err(|source| ConfigError::TokenFile { flag, path: path.clone(), source })?
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
        return Err(ConfigError::BadToken(flag));
    }
    Ok(Some(token))
}

fn check_origin(origin: &str) -> Result<String, ConfigError> {
    let origin = origin.trim().trim_end_matches('/');
    let valid = origin == "*"
        || ((origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.split_once("://").is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/')));
    if !valid {
        return Err(ConfigError::BadOrigin(origin.to_string()));
    }
    Ok(origin.to_ascii_lowercase())
}

impl Config {
    /// Turns parsed arguments into a configuration, giving each camera a unique id (its name,
    /// or its kind, with `-2`, `-3`... for repeats).
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let mut cameras: Vec<CameraConfig> = Vec::new();
        for arg in cli.cameras {
            let id = match arg.name {
                Some(name) => {
                    if cameras.iter().any(|c| c.id == name) {
                        return Err(ConfigError::DuplicateCamera(name));
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
            return Err(ConfigError::PushWithoutToken);
        }
        let access = AccessConfig {
            token: read_token("token", cli.token, cli.token_file)?,
            admin_token: read_token("admin-token", cli.admin_token, cli.admin_token_file)?,
            allow_origins: cli.allow_origins.iter().map(|o| check_origin(o)).collect::<Result<_, _>>()?,
        };
        if access.token.is_some() && access.token == access.admin_token {
            return Err(ConfigError::SameTokens);
        }
        let tls = cli.tls_cert.zip(cli.tls_key).map(|(cert, key)| TlsFiles { cert, key });
        if cli.keepalive < Duration::from_millis(100) {
            return Err(ConfigError::KeepaliveTooShort);
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
                        return Err(ConfigError::UnknownRecordCamera {
                            id: id.clone(),
                            known: configured.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", "),
                        });
                    }
                }
                Some(RecordConfig {
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
                    return Err(ConfigError::NeedsRecordDir(flag));
                }
                None
            }
        };
        let motion = match cli.motion.as_slice() {
            [] if !cli.notify_urls.is_empty() => return Err(ConfigError::NotifyWithoutMotion),
            [] => None,
            list => {
                let all = list.iter().any(|id| id == "all");
                for id in list.iter().filter(|id| *id != "all") {
                    if !configured.iter().any(|c| &c.id == id) {
                        return Err(ConfigError::UnknownMotionCamera {
                            id: id.clone(),
                            known: configured.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", "),
                        });
                    }
                }
                Some(MotionConfig {
                    cameras: (!all).then(|| list.to_vec()),
                    fps: cli.motion_fps,
                    sensitivity: cli.motion_sensitivity,
                    min_area: cli.motion_min_area,
                    notify_urls: cli.notify_urls,
                    notify_cooldown: cli.notify_cooldown,
                })
            }
        };
        Ok(Config {
            motion,
            access,
            tls,
            limits,
            record,
            listen: cli.listen,
            cameras,
            settings: Settings { size: cli.size, fps: cli.fps, quality: cli.quality },
            encoding: Encoding { codec: cli.codec, keyframe_interval: cli.keyframe_interval },
            idle_timeout: cli.idle_timeout,
            push_token,
            push_max_bytes: cli.push_max_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::{Size, VALID_SPECS};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("framecast").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Config::from_cli(cli).map_err(|e| e.to_string())
    }

    /// The package's `/etc/default/framecast` is the service's configuration: every flag's
    /// variable must be there for the user to find (the unit passes nothing else but
    /// `FRAMECAST_ARGS`).
    #[test]
    fn the_packaged_defaults_file_names_every_variable() {
        use clap::CommandFactory;
        let defaults = include_str!("../../packaging/framecast.default");
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
    fn motion_flags_are_checked() {
        assert!(parse(&[]).unwrap().motion.is_none());
        let two = ["--camera", "a=emulated", "--camera", "b=emulated"];
        let all = parse(&[&two[..], &["--motion", "all"]].concat()).unwrap().motion.unwrap();
        assert!(all.watches("a") && all.watches("b"));
        assert_eq!((all.fps, all.sensitivity, all.min_area), (5.0, 50, 0.005));
        let b =
            parse(&[&two[..], &["--motion", "b", "--motion-fps", "2", "--motion-min-area", "2%"]].concat())
                .unwrap()
                .motion
                .unwrap();
        assert!(b.watches("b") && !b.watches("a"));
        assert_eq!((b.fps, b.min_area), (2.0, 0.02));
        let hooks =
            parse(&["--motion", "all", "--notify-url", "http://a:1/x,http://b/y"]).unwrap().motion.unwrap();
        assert_eq!(hooks.notify_urls.len(), 2);
        assert_eq!(hooks.notify_cooldown, Duration::from_secs(30));
        for (args, error) in [
            (&["--notify-url", "http://a/"][..], "needs --motion"),
            (&["--motion", "all", "--notify-url", "https://ntfy.sh/x"][..], "not supported yet"),
            (&["--motion", "all", "--notify-url", "ftp://x/"][..], "http://host"),
            (&["--motion", "zzz"][..], "no camera 'zzz'"),
            (&["--motion", "all", "--motion-fps", "0"][..], "0.5 to 30"),
            (&["--motion", "all", "--motion-sensitivity", "101"][..], "101"),
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.contains(error), "{args:?}: {e}");
        }
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
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "from-file\nignored\n").unwrap();
        let c = parse(&["--token-file", file.path().to_str().unwrap()]).unwrap();
        assert_eq!(c.access.token.as_deref(), Some("from-file"));
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
