//! framecast: a live camera server for browsers, MJPEG tools and snapshot clients.
//!
//! The data path reads top to bottom through the modules:
//!
//! - [`config`]: the command line ([`config::flags`]), checked into a [`Config`] before
//!   anything starts.
//! - [`source`]: camera kinds behind the [`source::Source`] trait (emulated, files, ...). A
//!   source opens into a [`source::Capture`] that grabs encoded frames ([`media`]).
//! - [`capture`]: the thread that drives one capture, paces it, stamps each frame and hands it
//!   to a [`capture::FrameSink`] (the hub). Capture and encoding never run on the async
//!   runtime's workers.
//! - [`hub`]: per-camera fan-out. Holds only the newest frame; starts the camera for the first
//!   viewer, stops it after the idle timeout, retries a failed camera.
//! - [`rendition`]: smaller pictures of a camera (`?size=`), each a hub fed by the camera's
//!   hub, one per size and quality however many watch it.
//! - [`motion`]: motion detection, offered the frames of its cameras by their hubs; events
//!   with thumbnails, and the live view's "motion".
//! - [`record`]: the recorder, offered every frame of the recorded cameras by their hubs;
//!   segment files and an SQLite index within the retention limits, then the way back:
//!   store → [`record::playback`] → viewer, and [`record::export`].
//! - [`http`]: the HTTP surface (WebSocket sessions, MJPEG, snapshot, API, embedded web
//!   client), the accept loop, and [`http::error`], the one place that maps errors to statuses.
//! - [`push_client`]: `framecast push`, the sending side of push cameras.
//! - [`notify`]: webhooks, each motion event sent on as it starts and ends.
//!
//! Beside the path: [`media`] (encoded pictures and the codecs, libjpeg-turbo for every JPEG
//! the server encodes, decodes or scales), [`camera`] (the domain types every layer reads:
//! size, settings, camera spec), [`flow`] (credit flow control, pure logic), [`adapt`] (the
//! size an `auto` viewer's link carries, pure logic), [`auth`] (tokens, rights, allowed
//! origins), [`clock`] (times as text), [`lock`] (poison-tolerant locks), [`sys`] (every C
//! library call), [`error`] (why the server cannot start).
//!
//! ## Layers
//!
//! A module may import modules of its own layer or of the layers before it, never one after
//! it, and no imports may go round in a circle. `server/tests/layers.rs` reads this list and
//! checks both against the source (`cargo test -p framecast --test layers`).
//!
//! 1. ground, knowing no camera: [`sys`], [`lock`], [`clock`], [`media`], [`flow`], [`adapt`]
//! 2. what a camera is and who may watch it: [`camera`], [`config`], [`auth`]
//! 3. cameras running: [`source`], [`capture`]
//! 4. fan-out: [`hub`], [`rendition`]
//! 5. keeping and looking back: [`motion`], [`record`]
//! 6. serving and sending: [`http`], [`push_client`], [`notify`]
//! 7. starting: [`error`]
//!
//! `main.rs` only parses the command line and wires signals; [`Server::run`] does the work, so
//! tests run exactly what users run.

pub mod adapt;
pub mod auth;
pub mod camera;
pub mod capture;
pub mod clock;
pub mod config;
pub mod error;
pub mod flow;
pub mod http;
pub mod hub;
pub mod lock;
pub mod media;
pub mod motion;
pub mod notify;
pub mod push_client;
pub mod record;
pub mod rendition;
pub mod source;
pub mod sys;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use error::StartError;

/// A configured server: cameras opened as far as can be checked up front, not yet listening.
#[derive(Debug)]
pub struct Server {
    hubs: Vec<hub::Hub>,
    push: http::PushConfig,
    auth: auth::Auth,
    origins: auth::OriginPolicy,
    limits: config::Limits,
    tls: Option<http::tls::Tls>,
    recorder: Option<record::Recorder>,
    motion: Option<motion::Motion>,
    /// Webhooks: where and how often.
    notify: Option<(Vec<hyper::Uri>, std::time::Duration)>,
    /// How long an unwatched camera or rendition keeps running.
    idle_timeout: std::time::Duration,
}

impl Server {
    /// Builds every camera from the configuration and loads the TLS files. Fails, before
    /// anything listens, on a camera that can be known to be unusable now (an empty or
    /// unreadable folder, ...) and on unusable certificates.
    pub fn new(config: &Config) -> Result<Server, StartError> {
        let mut hubs = Vec::new();
        for camera in &config.cameras {
            let source = source::open_source(&camera.spec, &config.encoding)
                .map_err(|e| StartError::Camera { id: camera.id.clone(), source: e })?;
            hubs.push(hub::Hub::new(camera.id.clone(), source, config.settings, config.idle_timeout));
        }
        let push = http::PushConfig {
            token: config.push_token.as_deref().map(std::sync::Arc::from),
            max_bytes: config.push_max_bytes,
        };
        let tls = match &config.tls {
            Some(files) => Some(http::tls::acceptor(&files.cert, &files.key)?),
            None => None,
        };
        let recorder = match &config.record {
            Some(record) => {
                let probe = Box::new(record::disk::StatVfs(record.dir.clone()));
                Some(record::Recorder::start(record.clone(), &hubs, probe)?)
            }
            None => None,
        };
        let motion = match &config.motion {
            Some(motion) => {
                // Zones are kept beside the recordings when there are any.
                let zone_file = config.record.as_ref().map(|r| r.dir.join("motion-zones.json"));
                Some(motion::Motion::start(motion, &hubs, zone_file).map_err(StartError::Motion)?)
            }
            None => None,
        };
        let notify = config
            .motion
            .as_ref()
            .filter(|m| !m.notify_urls.is_empty())
            .map(|m| (m.notify_urls.clone(), m.notify_cooldown));
        Ok(Server {
            notify,
            motion,
            hubs,
            push,
            auth: auth::Auth::new(config.access.token.as_deref(), config.access.admin_token.as_deref()),
            origins: auth::OriginPolicy::new(&config.access.allow_origins),
            limits: config.limits,
            tls,
            recorder,
            idle_timeout: config.idle_timeout,
        })
    }

    /// Whether clients need a token to watch.
    pub fn viewing_needs_token(&self) -> bool {
        self.auth.viewing_needs_token()
    }

    /// Whether connections are HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` is cancelled, then closes every WebSocket and stream and returns
    /// within about a second.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
        let supervisors: Vec<_> =
            self.hubs.iter().map(|hub| hub.spawn_supervisor(shutdown.clone())).collect();
        let renditions = Arc::new(rendition::Renditions::new(shutdown.clone(), self.idle_timeout));
        let notifier = match (&self.motion, self.notify) {
            (Some(motion), Some((urls, cooldown))) => {
                Some(notify::spawn(&motion.events(), urls, cooldown, shutdown.clone()))
            }
            _ => None,
        };
        let state = http::AppState {
            hubs: Arc::new(self.hubs),
            shutdown: shutdown.clone(),
            push: self.push,
            auth: self.auth,
            origins: self.origins,
            keepalive: self.limits.keepalive,
            recordings: self.recorder.as_ref().map(|r| r.reader()),
            events: self.motion.as_ref().map(|m| m.events()),
            zones: self.motion.as_ref().map(|m| m.zones()),
            renditions: renditions.clone(),
        };
        let options = http::ServeOptions {
            limits: http::connections::ConnectionLimits::new(
                self.limits.max_connections,
                self.limits.max_connections_per_address,
            ),
            tls: self.tls,
        };
        let result = http::serve(listener, http::router(state), options, shutdown.clone()).await;
        shutdown.cancel();
        renditions.stopped().await;
        if let Some(notifier) = notifier {
            let _ = notifier.await;
        }
        for supervisor in supervisors {
            let _ = supervisor.await;
        }
        if let Some(motion) = self.motion {
            let _ = tokio::task::spawn_blocking(move || motion.stop()).await;
        }
        if let Some(recorder) = self.recorder {
            // Indexes what is queued; blocking, so off the async workers.
            let _ = tokio::task::spawn_blocking(move || recorder.stop()).await;
        }
        result
    }
}
