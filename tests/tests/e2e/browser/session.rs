//! A real browser under WebDriver, in one of three engines, for the browser tests.
//!
//! - Chromium: Debian's `chromium` through `chromedriver`, headless; a phone is Chromium's
//!   mobile emulation (touch, device pixel ratio 3, mobile viewport rules).
//! - Firefox: Debian's `firefox-esr` through `geckodriver`, headless.
//! - WebKitGTK (Safari's engine family): Debian's `MiniBrowser` through `WebKitWebDriver`, on
//!   its own Xvfb display.
//!
//! Each engine's window is sized so the page's viewport is exactly what the test asked for,
//! whatever browser chrome surrounds it. Firefox and WebKitGTK have no device emulation over
//! WebDriver and their windows cannot be phone-narrow (at least 500 and 447 px), so there a
//! phone is the page in a frame of the phone's viewport size, with touch events and device
//! pixel ratio 3 in Firefox and neither in WebKitGTK (no touch input over its WebDriver). Everything
//! started here ends on drop.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::util::{Server, temp_dir};

const CHROMIUM: &str = "/usr/bin/chromium";
const FIREFOX: &str = "/usr/bin/firefox-esr";
const MINIBROWSER: &str = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

/// The name a LAN browser opens the server by (see [`Browser::start_on_lan`]).
pub const LAN_HOST: &str = "framecast.test";

/// A browser engine the tests run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
    WebKit,
}

impl Engine {
    /// Lower-case name, for screenshots and messages.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
            Engine::WebKit => "webkit",
        }
    }
}

/// A driver process and a browser session, both ended on drop.
pub struct Browser {
    pub engine: Engine,
    client: Option<Client>,
    driver: Child,
    /// The X server of an engine that needs a display (WebKitGTK).
    display: Option<Child>,
    /// Where the browser saves downloads.
    pub downloads: PathBuf,
    /// A phone where the engine cannot emulate one: pages open in a frame of this size.
    phone_frame: Option<(u32, u32)>,
}

impl Browser {
    /// A window whose page viewport is `width` x `height` CSS pixels; with `phone`, as much of
    /// a phone as the engine can emulate (see the module doc).
    pub async fn start(engine: Engine, name: &str, width: u32, height: u32, phone: bool) -> Browser {
        Browser::start_with(engine, name, width, height, phone, false).await
    }

    /// A window where [`LAN_HOST`] is the loopback address, as a phone sees a server on its
    /// LAN (`http://192.168.1.20:8080/`): a name that is not `localhost` or an IP of
    /// 127.0.0.0/8, so the page is not a secure context (no WebCodecs), while every byte still
    /// stays on loopback. Chromium maps the name with `--host-resolver-rules`, Firefox with
    /// `network.dns.localDomains`; WebKitGTK's MiniBrowser has no such switch (`None`).
    pub async fn start_on_lan(engine: Engine, name: &str, width: u32, height: u32) -> Option<Browser> {
        (engine != Engine::WebKit).then_some(())?;
        Some(Browser::start_with(engine, name, width, height, false, true).await)
    }

    async fn start_with(
        engine: Engine,
        name: &str,
        width: u32,
        height: u32,
        phone: bool,
        lan: bool,
    ) -> Browser {
        let name = format!("{}-{name}", engine.name());
        let profile = temp_dir(&format!("browser-{name}"));
        let downloads = profile.join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (driver, display, capabilities) = match engine {
            Engine::Chromium => chromium(port, &profile, &downloads, width, height, phone, lan),
            Engine::Firefox => firefox(port, &profile, &downloads, width, height, phone, lan),
            Engine::WebKit => webkit(port, &profile, &downloads),
        };
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let phone_frame = (phone && engine != Engine::Chromium).then_some((width, height));
        let mut browser = Browser { engine, client: None, driver, display, downloads, phone_frame };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    browser.client = Some(client);
                    break;
                }
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot start a {} session: {e}", engine.name())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        match (engine, phone) {
            (Engine::Chromium, true) => {}
            // Room for the phone's frame.
            (_, true) => browser.size_viewport(width.max(640), height.max(480)).await,
            (_, false) => browser.size_viewport(width, height).await,
        }
        browser
    }

    /// Opens `url`: in the window, or for a phone without emulation in its phone-sized frame
    /// (and the scripts and lookups that follow run in that frame).
    pub async fn open(&self, url: &str) {
        let c = self.client();
        let Some((width, height)) = self.phone_frame else {
            return c.goto(url).await.expect("page loads");
        };
        // The frame's parent is a page of the same origin (the server's plain 404 page, filled
        // in here), so the engine treats the frame as the page itself: no cross-origin
        // throttling, screenshots of its current picture.
        let origin: String = url.split('/').take(3).collect::<Vec<_>>().join("/");
        c.goto(&format!("{origin}/no-such-page-phone-frame")).await.expect("frame page loads");
        let script = format!(
            "document.documentElement.innerHTML = '<head><style>html,body{{margin:0;background:#333}}iframe{{border:0;display:block;width:{width}px;height:{height}px}}</style></head><body><iframe></iframe></body>'; document.querySelector('iframe').src = arguments[0];"
        );
        c.execute(&script, vec![json!(url)]).await.expect("the phone's frame is made");
        c.enter_frame(0).await.expect("into the phone's frame");
    }

    /// A browser showing `server`'s page, once it has drawn `frames` frames. The page is
    /// pinned to the camera's own picture size (`?size=full`), so what tests see of sizes and
    /// pixels is exact; `auto` has its own test.
    pub async fn live_page(
        engine: Engine,
        server: &Server,
        name: &str,
        width: u32,
        height: u32,
        phone: bool,
        frames: u64,
    ) -> Browser {
        let browser = Browser::start(engine, name, width, height, phone).await;
        browser.open(&server.url("/?size=full")).await;
        let enough = format!("{} >= {frames}", super::FRAMES_DRAWN);
        browser.wait_until(&format!("{frames} frames drawn"), &enough, Duration::from_secs(30)).await;
        browser
    }

    /// Resizes the window until the page's viewport is `width` x `height`: the browser's own
    /// chrome (toolbars, borders) differs per engine and is measured, not assumed.
    async fn size_viewport(&self, width: u32, height: u32) {
        let c = self.client();
        let want = (width as i64, height as i64);
        let (mut w, mut h) = (width, height);
        for _ in 0..4 {
            c.set_window_size(w, h).await.expect("window can be resized");
            let (iw, ih) = self.settled_viewport(want).await;
            if (iw, ih) == want {
                return;
            }
            w = (w as i64 + width as i64 - iw).max(100) as u32;
            h = (h as i64 + height as i64 - ih).max(100) as u32;
        }
        let inner = self.eval("return [window.innerWidth, window.innerHeight]").await;
        panic!("{}: viewport is {inner} after resizing, not {width}x{height}", self.engine.name());
    }

    /// The viewport once a resize has taken effect: WebKitGTK answers the resize before its
    /// window has changed, so the size is read until it is `want` or has stayed put a while.
    async fn settled_viewport(&self, want: (i64, i64)) -> (i64, i64) {
        let read = || async {
            let inner = self.eval("return [window.innerWidth, window.innerHeight]").await;
            (inner[0].as_i64().unwrap(), inner[1].as_i64().unwrap())
        };
        let mut last = read().await;
        let mut steady_since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(3);
        while last != want && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = read().await;
            if now != last {
                (last, steady_since) = (now, Instant::now());
            } else if steady_since.elapsed() > Duration::from_millis(500) {
                break;
            }
        }
        last
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Finds the element `what` and clicks it, failing the test if either cannot be done.
    pub async fn click(&self, what: Locator<'_>) {
        let element = self
            .client()
            .find(what)
            .await
            .unwrap_or_else(|e| panic!("{}: no {what:?} to click: {e}", self.engine.name()));
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("{}: cannot click {what:?}: {e}", self.engine.name()));
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client().execute(script, vec![]).await.expect("script runs")
    }

    /// Polls `script` until it returns true.
    pub async fn wait_until(&self, what: &str, script: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.eval(script).await != Value::Bool(true) {
            assert!(Instant::now() < deadline, "{} — {what}: not within {limit:?}", self.engine.name());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot as `target/tmp/artifacts/browser-NAME-ENGINE.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // Of the whole window: a phone's frame is shown with its surroundings.
        if self.phone_frame.is_some() {
            self.client().enter_parent_frame().await.expect("out of the phone's frame");
        }
        let png = self.client().screenshot().await.expect("screenshot");
        if self.phone_frame.is_some() {
            self.client().enter_frame(0).await.expect("back into the phone's frame");
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("browser-{name}-{}.png", self.engine.name()));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        for child in [Some(&mut self.driver), self.display.as_mut()].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

type Launch = (Child, Option<Child>, Value);

fn require(path: &str, what: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: `cargo xtask test` installs {what} (Debian's package)"
    );
}

fn spawn_driver(command: &mut Command, what: &str) -> Child {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} is on PATH (`cargo xtask test` installs it): {e}"))
}

fn chromium(
    port: u16,
    profile: &Path,
    downloads: &Path,
    width: u32,
    height: u32,
    phone: bool,
    lan: bool,
) -> Launch {
    require(CHROMIUM, "chromium");
    let driver = spawn_driver(Command::new("chromedriver").arg(format!("--port={port}")), "chromedriver");
    let mut capabilities = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.display()),
                format!("--window-size={width},{height}"),
            ],
            // Downloads (the snapshot button) land in the profile folder, without asking.
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
            },
        }
    });
    if lan {
        let args = capabilities["goog:chromeOptions"]["args"].as_array_mut().unwrap();
        args.push(json!(format!("--host-resolver-rules=MAP {LAN_HOST} 127.0.0.1")));
    }
    if phone {
        capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3.0, "touch": true } });
    }
    (driver, None, capabilities)
}

fn firefox(
    port: u16,
    profile: &Path,
    downloads: &Path,
    width: u32,
    height: u32,
    phone: bool,
    lan: bool,
) -> Launch {
    require(FIREFOX, "firefox-esr");
    let driver = spawn_driver(
        Command::new("geckodriver").args(["--port", &port.to_string(), "--marionette-port", "0"]),
        "geckodriver",
    );
    let mut prefs = json!({
        // Downloads land in the test's folder, without asking.
        "browser.download.folderList": 2,
        "browser.download.dir": downloads.display().to_string(),
        "browser.download.useDownloadDir": true,
        "browser.download.always_ask_before_handling_new_types": false,
        "browser.helperApps.neverAsk.saveToDisk": "image/jpeg",
        "browser.download.alwaysOpenPanel": false,
        // Nothing from the network but the server under test.
        "app.update.enabled": false,
        "browser.shell.checkDefaultBrowser": false,
        "datareporting.policy.dataSubmissionEnabled": false,
        "toolkit.telemetry.enabled": false,
    });
    if lan {
        prefs["network.dns.localDomains"] = json!(LAN_HOST);
    }
    if phone {
        prefs["dom.w3c_touch_events.enabled"] = json!(1);
        prefs["layout.css.devPixelsPerPx"] = json!("3.0");
    }
    let capabilities = json!({
        "browserName": "firefox",
        "moz:firefoxOptions": {
            "binary": FIREFOX,
            "args": ["-headless", "-profile", profile.display().to_string(), format!("--width={width}"), format!("--height={height}")],
            "prefs": prefs,
        }
    });
    (driver, None, capabilities)
}

fn webkit(port: u16, profile: &Path, downloads: &Path) -> Launch {
    require(MINIBROWSER, "webkit2gtk-driver");
    let display = start_xvfb();
    let number = display.1;
    // MiniBrowser saves downloads in the XDG download folder: point that at the test's own.
    let config = profile.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("user-dirs.dirs"), format!("XDG_DOWNLOAD_DIR=\"{}\"\n", downloads.display()))
        .unwrap();
    let driver = spawn_driver(
        Command::new("WebKitWebDriver")
            .arg(format!("--port={port}"))
            .env("DISPLAY", format!(":{number}"))
            .env("HOME", profile)
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_CACHE_HOME", profile.join("cache"))
            .env("XDG_DATA_HOME", profile.join("data"))
            .env("XDG_RUNTIME_DIR", profile)
            .env_remove("WAYLAND_DISPLAY")
            // Xvfb has no GPU: accelerated compositing through Mesa's software GL drew 720p30
            // at 11-19 fps, 86-94 ms capture to draw (decode 24-39 ms); without it 30 fps, 15 ms.
            // A real machine composites on its GPU; this is the nearer stand-in for one.
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
        "WebKitWebDriver (package webkit2gtk-driver)",
    );
    let capabilities = json!({
        "webkitgtk:browserOptions": {
            "binary": MINIBROWSER,
            "args": ["--automation"],
        }
    });
    (driver, Some(display.0), capabilities)
}

/// An Xvfb server on a display number of its own choosing; returns it and the number.
fn start_xvfb() -> (Child, u32) {
    let mut xvfb = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1920x1200x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb is on PATH (package xvfb; `cargo xtask test` installs it)");
    let mut line = String::new();
    BufReader::new(xvfb.stdout.take().unwrap()).read_line(&mut line).expect("Xvfb says its display");
    let number =
        line.trim().parse().unwrap_or_else(|_| panic!("Xvfb printed {line:?}, not a display number"));
    (xvfb, number)
}
