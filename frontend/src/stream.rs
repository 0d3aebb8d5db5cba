//! The frame pipeline: WebSocket → decode → canvas → ack.
//!
//! Frames arrive as binary messages (`[u16 N][JSON header][JPEG]`, see `docs/protocol.md`).
//! The JPEG becomes a `Blob` and is decoded by the browser with `createImageBitmap`, off the
//! main thread and without passing through wasm memory. Only one frame decodes at a time;
//! frames arriving meanwhile replace each other, so the newest one is drawn next. Each drawn
//! frame is acknowledged, which is what lets the server send the next one: a slow device gets
//! fewer, fresher frames instead of a growing delay.
//!
//! While paused (by the user, or because the tab is hidden) nothing is decoded or
//! acknowledged, so the server stops sending after its window; on resume the waiting frame is
//! acknowledged unseen and the next, fresh one is drawn.
//!
//! Playback of the recording uses the same pipeline: the server switches this connection to
//! recorded frames (`play`), marked `recorded` in their header, and says where it is
//! (`playback` messages); the status line then says "recorded · 14:02:31 · 12 min behind
//! live" and the picture is marked, so it is never mistaken for live.
//!
//! Each canvas has its own pipeline, owned by a [`Viewer`]: the live view has one, and the
//! camera grid one per tile (each asking for its own camera at its tile's size). The UI talks
//! to a pipeline through its `Viewer` ([`Viewer::toggle_pause`], [`Viewer::play`], ...); the
//! pipeline stops (closes its WebSocket, clears its timers) when the component that made the
//! `Viewer` goes away.

use std::cell::RefCell;
use std::rc::Rc;

use framecast_shared::{CameraInfo, CameraStatus, ClientMessage, FrameHeader, PlaybackMode, ServerMessage};
use js_sys::{Array, Uint8Array};
use leptos::prelude::{LocalStorage, SetValue, StoredValue, WithValue, on_cleanup};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    BinaryType, Blob, BlobPropertyBag, CanvasRenderingContext2d, HtmlCanvasElement, ImageBitmap,
    MessageEvent, WebSocket,
};

use crate::clock::ClockSync;
use crate::stats::{CameraRate, SeqGaps, Window};

/// Figures shown in the overlay, over the last second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Frames drawn per second.
    pub drawn_fps: f64,
    /// Frames the camera produced per second (from `seq`).
    pub camera_fps: Option<f64>,
    /// Capture-to-draw latency, median and worst, in ms (once the clock is synced).
    pub latency_ms: Option<(f64, f64)>,
    /// Time from handing a JPEG to the browser's decoder to having drawn it, median and
    /// worst, in ms.
    pub decode_ms: Option<(f64, f64)>,
    /// Round trip of the newest ping, ms.
    pub rtt_ms: Option<f64>,
    /// Size of the newest frame.
    pub width: u32,
    /// Size of the newest frame.
    pub height: u32,
    /// Bytes of the newest frame.
    pub frame_bytes: u64,
    /// Received bits per second.
    pub bitrate: f64,
    /// Frames skipped in the last second, and since the page loaded.
    pub skipped: (u64, u64),
    /// Frames drawn since the page loaded.
    pub drawn: u64,
    /// What size the server shows this viewer and why (its last `picture` message).
    pub picture: Option<PictureNote>,
}

/// The picture this viewer is shown, as the server said (see `ServerMessage::Picture`).
#[derive(Debug, Clone, PartialEq)]
pub struct PictureNote {
    /// How the size is chosen.
    pub mode: framecast_shared::PictureMode,
    /// Frame size.
    pub width: u32,
    /// Frame size.
    pub height: u32,
    /// `auto`: what the link carried lately, bits per second.
    pub link_bps: Option<u64>,
    /// `auto`: why this size.
    pub reason: Option<String>,
}

impl PictureNote {
    /// For the overlay: "auto: link ≈ 3.1 Mbit/s", "auto: best for this screen", "640×360".
    pub fn label(&self) -> String {
        use framecast_shared::PictureMode;
        match self.mode {
            PictureMode::Full => "full size".into(),
            PictureMode::Fixed => format!("{}×{} (chosen)", self.width, self.height),
            PictureMode::Auto => {
                let link = self.link_bps.map(|b| format!("link ≈ {:.1} Mbit/s", b as f64 / 1e6));
                match (self.reason.as_deref(), link) {
                    (Some("best"), _) => "auto: best for this screen".into(),
                    (Some("probe"), Some(link)) => format!("auto: trying larger, {link}"),
                    (_, Some(link)) => format!("auto: {link}"),
                    _ => "auto".into(),
                }
            }
        }
    }
}

/// Where this device's choice of picture size is remembered.
const SIZE_KEY: &str = "framecast.size";

/// This screen's choice of picture size: `auto` (the default), `full` or `WxH`. A `?size=` in
/// the page's address (a link that pins it) wins over what this device remembers.
pub fn size_choice() -> String {
    let window = web_sys::window();
    let from_address = window.as_ref().and_then(|w| w.location().search().ok()).and_then(|search| {
        let search = search.trim_start_matches('?').to_string();
        search.split('&').find_map(|pair| pair.strip_prefix("size=").map(str::to_string))
    });
    from_address
        .or_else(|| {
            window
                .and_then(|w| w.local_storage().ok().flatten())
                .and_then(|s| s.get_item(SIZE_KEY).ok().flatten())
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "auto".into())
}

/// The area the picture is drawn in, in device pixels (at most `max_density` per CSS pixel):
/// `auto` never asks for more.
fn canvas_device_px(canvas: &HtmlCanvasElement, max_density: Option<f64>) -> Option<[u32; 2]> {
    let area = canvas.parent_element()?;
    let ratio = web_sys::window()?.device_pixel_ratio().min(max_density.unwrap_or(f64::MAX)).max(1.0);
    let (w, h) = (f64::from(area.client_width()) * ratio, f64::from(area.client_height()) * ratio);
    (w >= 1.0 && h >= 1.0).then(|| [w.round() as u32, h.round() as u32])
}

/// What the viewer is doing, for the status line.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewState {
    /// Opening the WebSocket.
    Connecting,
    /// Frames are being drawn.
    Live,
    /// The camera is starting (no frame yet).
    CameraStarting,
    /// The camera failed; the last frame stays, dimmed.
    CameraOffline {
        /// Why, as the server says.
        reason: String,
        /// How long ago the last frame was captured, when known.
        last_frame_ago_ms: Option<f64>,
        /// Local clock time of that frame.
        last_frame_at: Option<String>,
    },
    /// Showing the recording, not the live picture.
    Recorded {
        /// Held on one frame.
        paused: bool,
        /// Local clock time of the frame shown.
        at: String,
        /// How far behind live it is.
        behind_ms: f64,
        /// Playback speed.
        speed: u32,
    },
    /// The connection dropped; retrying.
    Reconnecting,
    /// Paused by the user.
    Paused,
    /// The tab is hidden.
    Hidden,
    /// The server wants a token this device does not have (`rejected`: the remembered one
    /// was refused).
    NeedsToken {
        /// Whether a remembered token was refused.
        rejected: bool,
    },
    /// Too many wrong tokens from this address; retrying after this many seconds.
    LockedOut(u32),
    /// Something the browser cannot do.
    Unsupported(String),
}

impl ViewState {
    /// Text for the status line.
    pub fn label(&self) -> String {
        match self {
            ViewState::Connecting => "connecting".into(),
            ViewState::Live => "live".into(),
            ViewState::CameraStarting => "camera starting".into(),
            ViewState::CameraOffline { reason, last_frame_ago_ms, last_frame_at } => {
                let mut text = format!("camera offline: {reason}");
                if let (Some(ago), Some(at)) = (last_frame_ago_ms, last_frame_at) {
                    text.push_str(&format!(" · last frame {at} ({})", crate::timefmt::ago_text(*ago)));
                }
                text
            }
            ViewState::Recorded { paused, at, behind_ms, speed } => {
                let mut text = format!("recorded · {at} · {}", crate::timefmt::behind_text(*behind_ms));
                if *paused {
                    text.push_str(" · paused");
                } else if *speed > 1 {
                    text.push_str(&format!(" · {speed}×"));
                }
                text
            }
            ViewState::Reconnecting => "reconnecting".into(),
            ViewState::Paused => "paused".into(),
            ViewState::Hidden => "paused (tab hidden)".into(),
            ViewState::NeedsToken { rejected: false } => "this camera needs a token".into(),
            ViewState::NeedsToken { rejected: true } => "the token was not accepted".into(),
            ViewState::LockedOut(secs) => format!("too many wrong tokens; retrying in {secs} s"),
            ViewState::Unsupported(what) => what.clone(),
        }
    }

    /// Whether the picture on screen is neither live nor a recording being shown (dimmed).
    pub fn is_stale(&self) -> bool {
        !matches!(self, ViewState::Live | ViewState::Recorded { .. })
    }

    /// Whether the picture is from the recording.
    pub fn is_recorded(&self) -> bool {
        matches!(self, ViewState::Recorded { .. })
    }
}

/// Where this viewer is in time, as the server last said, for the timeline and controls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Playback {
    /// Live, playing the recording, or paused in it.
    pub mode: PlaybackMode,
    /// Capture time of the recorded frame shown (0 when live).
    pub position_us: u64,
    /// Playback speed.
    pub speed: u32,
}

impl Default for Playback {
    fn default() -> Self {
        Playback { mode: PlaybackMode::Live, position_us: 0, speed: 1 }
    }
}

/// Shortest and longest wait before reconnecting.
const RETRY_MIN_MS: i32 = 250;
const RETRY_MAX_MS: i32 = 4000;
/// How often the clock is re-synced, and how often the overlay figures are refreshed.
const PING_EVERY_MS: i32 = 2000;
const STATS_EVERY_MS: i32 = 250;
/// Pings sent back to back after connecting, for a good first clock estimate.
const FIRST_PINGS: usize = 5;

/// What one pipeline shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watch {
    /// The camera; `None`: the one the page's address names (`?camera=`; without one, the
    /// server's first), with the rest of the address's query passed on to `/ws`.
    pub camera: Option<String>,
    /// The picture size (`auto`, `full`, `WxH`); `None`: this device's choice
    /// ([`size_choice`]).
    pub size: Option<String>,
    /// At most this many device pixels per CSS pixel in the canvas size told to the server
    /// (`None`: the screen's own ratio).
    pub max_density: Option<f64>,
}

struct Pipeline {
    watch: Watch,
    /// Set once the viewer is gone: nothing more is drawn, sent or reconnected.
    stopped: bool,
    /// Interval timers and the visibility listener, cleared when the pipeline stops.
    timers: Vec<(i32, Closure<dyn FnMut()>)>,
    on_visibility: Option<Closure<dyn FnMut()>>,
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    ws: Option<WebSocket>,
    /// Bumped on every (re)connect, so an ack never goes to a connection that did not send
    /// the frame.
    generation: u32,
    /// Whether the current connection got its hello (if it closes without one, the upgrade
    /// was refused: the token is checked).
    got_hello: bool,
    on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    on_close: Option<Closure<dyn FnMut()>>,
    decoding: bool,
    pending: Option<Pending>,
    user_paused: bool,
    hidden: bool,
    /// Camera status from the server, to return to after a pause.
    camera: ViewState,
    retry_ms: i32,
    clock: ClockSync,
    pongs: usize,
    drawn: Window,
    latency: Window,
    decode: Window,
    camera_rate: CameraRate,
    bytes: Window,
    gaps: Window,
    seq_gaps: SeqGaps,
    last: Stats,
    set_state: Box<dyn Fn(ViewState)>,
    set_stats: Box<dyn Fn(Stats)>,
    set_cameras: Box<dyn Fn(Cameras)>,
    set_playback: Box<dyn Fn(Playback)>,
    cameras: Cameras,
    playback: Playback,
    /// The state last reported, so an unchanged state is not reported again.
    reported: Option<ViewState>,
    /// The canvas size last told to the server.
    told_canvas: Option<[u32; 2]>,
}

/// Every camera of the server, and which one this page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cameras {
    /// All cameras, as the server last described them.
    pub all: Vec<CameraInfo>,
    /// Id of the shown camera.
    pub shown: String,
    /// Whether this device may change the cameras (its token has admin rights).
    pub admin: bool,
}

impl Cameras {
    /// The shown camera.
    pub fn current(&self) -> Option<&CameraInfo> {
        self.all.iter().find(|c| c.id == self.shown)
    }
}

struct Pending {
    generation: u32,
    header: FrameHeader,
    blob: Blob,
}

type Shared = Rc<RefCell<Pipeline>>;

/// Client clock in ms since the Unix epoch: `performance.timeOrigin + performance.now()`
/// (monotonic within the page, unlike `Date.now()`).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.time_origin() + p.now())
        .unwrap_or_else(js_sys::Date::now)
}

/// Where the pipeline reports to the UI.
pub struct Reporters {
    /// Connection and camera state.
    pub state: Box<dyn Fn(ViewState)>,
    /// Overlay figures, four times a second.
    pub stats: Box<dyn Fn(Stats)>,
    /// Cameras and their settings, on connect and on every change.
    pub cameras: Box<dyn Fn(Cameras)>,
    /// Live or playback, and the position in the recording.
    pub playback: Box<dyn Fn(Playback)>,
}

impl std::fmt::Debug for Reporters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporters")
    }
}

/// The UI's handle on one pipeline. It is `Copy` (it lives in the reactive owner that made
/// it), so event handlers can take it; before [`Viewer::start`] its methods do nothing, and
/// when that owner is cleaned up (the component unmounts) the pipeline stops.
#[derive(Clone, Copy)]
pub struct Viewer(StoredValue<Option<Shared>, LocalStorage>);

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Viewer")
    }
}

impl Viewer {
    /// A viewer owned by the current reactive owner, stopped when it is cleaned up.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let viewer = Viewer(StoredValue::new_local(None));
        on_cleanup(move || viewer.stop());
        viewer
    }

    /// Connects and starts drawing `watch` on `canvas`; reconnects by itself when the
    /// connection drops. A second call is ignored.
    pub fn start(self, canvas: HtmlCanvasElement, watch: Watch, report: Reporters) {
        if self.0.with_value(|p| p.is_some()) {
            return;
        }
        if let Some(pipeline) = start(canvas, watch, report) {
            self.0.set_value(Some(pipeline));
        }
    }

    /// Closes the connection and stops every timer; the canvas keeps its last picture.
    pub fn stop(self) {
        if let Some(pipeline) = self.0.try_with_value(|p| p.clone()).flatten() {
            stop(&pipeline);
        }
    }

    fn with(self, f: impl FnOnce(&Shared)) {
        if let Some(pipeline) = self.0.try_with_value(|p| p.clone()).flatten() {
            f(&pipeline);
        }
    }
}

fn start(canvas: HtmlCanvasElement, watch: Watch, report: Reporters) -> Option<Shared> {
    let Reporters { state: set_state, stats: set_stats, cameras: set_cameras, playback: set_playback } =
        report;
    let Some(ctx) =
        canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        set_state(ViewState::Unsupported("this browser cannot draw on a canvas".into()));
        return None;
    };
    let second = || Window::new(1000.0);
    let pipeline = Rc::new(RefCell::new(Pipeline {
        watch,
        stopped: false,
        timers: Vec::new(),
        on_visibility: None,
        canvas,
        ctx,
        ws: None,
        generation: 0,
        got_hello: false,
        on_message: None,
        on_close: None,
        decoding: false,
        pending: None,
        user_paused: false,
        hidden: false,
        camera: ViewState::Connecting,
        retry_ms: RETRY_MIN_MS,
        clock: ClockSync::default(),
        pongs: 0,
        drawn: second(),
        latency: second(),
        decode: second(),
        camera_rate: CameraRate::new(1000.0),
        bytes: second(),
        gaps: second(),
        seq_gaps: SeqGaps::default(),
        last: Stats::default(),
        set_state,
        set_stats,
        set_cameras,
        set_playback,
        cameras: Cameras::default(),
        playback: Playback::default(),
        reported: None,
        told_canvas: None,
    }));
    every(&pipeline, PING_EVERY_MS, {
        let pipeline = pipeline.clone();
        move || send_ping(&pipeline)
    });
    every(&pipeline, STATS_EVERY_MS, {
        let pipeline = pipeline.clone();
        move || {
            publish_stats(&pipeline);
            // "12 min behind live", "last frame ... (5 min ago)" move on with the clock.
            refresh_state(&pipeline);
        }
    });
    watch_visibility(&pipeline);
    // A resized or rotated screen: `auto` picks for the new size.
    every(&pipeline, CANVAS_CHECK_MS, {
        let pipeline = pipeline.clone();
        move || tell_canvas(&pipeline, false)
    });
    connect(&pipeline);
    Some(pipeline)
}

/// Ends the pipeline: closes its connection without a retry and clears its timers. The
/// closures are dropped a moment later, never while one of them may be running.
fn stop(pipeline: &Shared) {
    let (ws, garbage) = {
        let mut p = pipeline.borrow_mut();
        if p.stopped {
            return;
        }
        p.stopped = true;
        p.generation = p.generation.wrapping_add(1);
        p.pending = None;
        let timers = std::mem::take(&mut p.timers);
        let closures = (timers, p.on_visibility.take(), p.on_message.take(), p.on_close.take());
        (p.ws.take(), closures)
    };
    if let Some(window) = web_sys::window() {
        for (id, _) in &garbage.0 {
            window.clear_interval_with_handle(*id);
        }
        if let (Some(document), Some(listener)) = (window.document(), &garbage.1) {
            let _ = document
                .remove_event_listener_with_callback("visibilitychange", listener.as_ref().unchecked_ref());
        }
    }
    if let Some(ws) = ws {
        ws.set_onmessage(None);
        ws.set_onclose(None);
        let _ = ws.close();
    }
    let later = Closure::once_into_js(move || drop(garbage));
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(later.unchecked_ref(), 0);
    }
}

/// How often the canvas size is compared with what the server was told.
const CANVAS_CHECK_MS: i32 = 1000;

/// Tells the server the canvas size when it changed (or always, with this device's size
/// choice, on a new connection).
fn tell_canvas(pipeline: &Shared, with_size: bool) {
    let canvas = {
        let p = pipeline.borrow();
        canvas_device_px(&p.canvas, p.watch.max_density)
    };
    if !with_size && (canvas.is_none() || canvas == pipeline.borrow().told_canvas) {
        return;
    }
    pipeline.borrow_mut().told_canvas = canvas;
    let size = with_size.then(|| pipeline.borrow().watch.size.clone().unwrap_or_else(size_choice));
    send_now(pipeline, &ClientMessage::Hello { window: None, max_fps: None, size, canvas });
}

/// Runs `f` every `ms` until the pipeline stops.
fn every(pipeline: &Shared, ms: i32, f: impl FnMut() + 'static) {
    let callback = Closure::<dyn FnMut()>::new(f);
    let Some(window) = web_sys::window() else { return };
    if let Ok(id) =
        window.set_interval_with_callback_and_timeout_and_arguments_0(callback.as_ref().unchecked_ref(), ms)
    {
        pipeline.borrow_mut().timers.push((id, callback));
    }
}

fn watch_visibility(pipeline: &Shared) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let on_change = {
        let pipeline = pipeline.clone();
        let document = document.clone();
        Closure::<dyn FnMut()>::new(move || {
            let hidden = document.visibility_state() == web_sys::VisibilityState::Hidden;
            pipeline.borrow_mut().hidden = hidden;
            after_pause_change(&pipeline);
        })
    };
    let _ = document.add_event_listener_with_callback("visibilitychange", on_change.as_ref().unchecked_ref());
    pipeline.borrow_mut().on_visibility = Some(on_change);
}

fn ws_url(watch: &Watch) -> String {
    let location = web_sys::window().expect("a window").location();
    let scheme = if location.protocol().as_deref() == Ok("https:") { "wss" } else { "ws" };
    let host = location.host().unwrap_or_default();
    let query = match &watch.camera {
        Some(id) => format!("?camera={}", js_sys::encode_uri_component(id)),
        None => location.search().unwrap_or_default(),
    };
    crate::token::with_token(&format!("{scheme}://{host}/ws{query}"))
}

fn connect(pipeline: &Shared) {
    if pipeline.borrow().stopped {
        return;
    }
    let url = ws_url(&pipeline.borrow().watch);
    let ws = match WebSocket::new(&url) {
        Ok(ws) => ws,
        Err(_) => {
            set_state(pipeline, ViewState::Unsupported("cannot open a WebSocket".into()));
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let generation = {
        let mut p = pipeline.borrow_mut();
        p.generation = p.generation.wrapping_add(1);
        p.pongs = 0;
        p.got_hello = false;
        p.generation
    };
    let on_message = {
        let pipeline = pipeline.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            on_message(&pipeline, generation, event)
        })
    };
    let on_close = {
        let pipeline = pipeline.clone();
        Closure::<dyn FnMut()>::new(move || on_close(&pipeline, generation))
    };
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let mut p = pipeline.borrow_mut();
    p.ws = Some(ws);
    p.on_message = Some(on_message);
    p.on_close = Some(on_close);
}

fn on_close(pipeline: &Shared, generation: u32) {
    let (delay, got_hello) = {
        let mut p = pipeline.borrow_mut();
        if p.generation != generation {
            return;
        }
        p.decoding = false;
        p.pending = None;
        let delay = p.retry_ms;
        p.retry_ms = (p.retry_ms * 2).min(RETRY_MAX_MS);
        p.camera = ViewState::Reconnecting;
        (delay, p.got_hello)
    };
    refresh_state(pipeline);
    if got_hello {
        retry_after(pipeline, generation, delay);
        return;
    }
    // Refused before the hello: a browser does not say why, so ask over HTTP.
    let pipeline = pipeline.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let access = crate::token::probe().await;
        if pipeline.borrow().generation != generation {
            return;
        }
        match access {
            crate::token::Access::NeedsToken => {
                let rejected = crate::token::stored().is_some();
                pipeline.borrow_mut().camera = ViewState::NeedsToken { rejected };
                refresh_state(&pipeline);
                // Waits for [`use_token`].
            }
            crate::token::Access::LockedOut(secs) => {
                pipeline.borrow_mut().camera = ViewState::LockedOut(secs);
                refresh_state(&pipeline);
                retry_after(&pipeline, generation, secs.saturating_mul(1000) as i32);
            }
            crate::token::Access::Allowed | crate::token::Access::Unknown => {
                retry_after(&pipeline, generation, delay)
            }
        }
    });
}

/// Reconnects after `delay_ms`, unless something reconnected meanwhile.
fn retry_after(pipeline: &Shared, generation: u32, delay_ms: i32) {
    let pipeline = pipeline.clone();
    let retry = Closure::once_into_js(move || {
        if pipeline.borrow().generation == generation {
            connect(&pipeline);
        }
    });
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(retry.unchecked_ref(), delay_ms);
    }
}

fn on_message(pipeline: &Shared, generation: u32, event: MessageEvent) {
    let data = event.data();
    if let Some(text) = data.as_string() {
        on_text(pipeline, &text);
        return;
    }
    let bytes = Uint8Array::new(&data);
    let total = bytes.length();
    if total < 2 {
        return;
    }
    let header_len = u16::from_le_bytes([bytes.get_index(0), bytes.get_index(1)]) as u32;
    let prefix = bytes.subarray(0, (2 + header_len).min(total)).to_vec();
    let (header, offset) = match FrameHeader::decode_message(&prefix) {
        Ok(decoded) => decoded,
        Err(e) => {
            web_sys::console::warn_1(&format!("framecast: bad frame: {e}").into());
            return;
        }
    };
    let jpeg = bytes.subarray(offset as u32, total);
    {
        let mut p = pipeline.borrow_mut();
        let now = now_ms();
        let gap = p.seq_gaps.on_frame(header.seq);
        p.gaps.push(now, gap as f64);
        p.camera_rate.on_frame(now, header.seq, header.captured_us);
        p.bytes.push(now, (total - offset as u32) as f64);
    }
    let options = BlobPropertyBag::new();
    options.set_type("image/jpeg");
    let Ok(blob) = Blob::new_with_u8_array_sequence_and_options(&Array::of1(&jpeg), &options) else { return };
    let start_now = {
        let mut p = pipeline.borrow_mut();
        let busy = p.decoding || p.user_paused || p.hidden;
        if busy {
            // Newest wins: a frame still waiting is replaced, and the ack of the newer one
            // covers it (acks are cumulative).
            p.pending = Some(Pending { generation, header: header.clone(), blob: blob.clone() });
        }
        !busy
    };
    if start_now {
        decode(pipeline.clone(), Pending { generation, header, blob });
    }
}

fn on_text(pipeline: &Shared, text: &str) {
    match ServerMessage::parse(text) {
        Ok(ServerMessage::Hello { cameras, camera, admin, .. }) => {
            pipeline.borrow_mut().got_hello = true;
            let shown = cameras.iter().find(|c| c.id == camera).cloned();
            let list = Cameras { all: cameras, shown: camera, admin };
            (pipeline.borrow().set_cameras)(list.clone());
            let state = shown.map(|c| camera_state(pipeline, &c)).unwrap_or(ViewState::CameraStarting);
            {
                let mut p = pipeline.borrow_mut();
                p.cameras = list;
                p.retry_ms = RETRY_MIN_MS;
                p.camera = state;
                // A new connection starts live.
                p.playback = Playback::default();
            }
            report_playback(pipeline);
            refresh_state(pipeline);
            send_ping(pipeline);
            tell_canvas(pipeline, true);
        }
        Ok(ServerMessage::Picture { mode, width, height, link_bps, reason }) => {
            pipeline.borrow_mut().last.picture = Some(PictureNote { mode, width, height, link_bps, reason });
        }
        Ok(ServerMessage::State { camera }) => {
            let state = camera_state(pipeline, &camera);
            let list = {
                let mut p = pipeline.borrow_mut();
                p.camera = state;
                match p.cameras.all.iter_mut().find(|c| c.id == camera.id) {
                    Some(known) => *known = *camera,
                    None => p.cameras.all.push(*camera),
                }
                p.cameras.clone()
            };
            (pipeline.borrow().set_cameras)(list);
            refresh_state(pipeline);
        }
        Ok(ServerMessage::Pong { t, server_us }) => {
            let again = {
                let mut p = pipeline.borrow_mut();
                p.clock.add(t, now_ms(), server_us);
                p.pongs += 1;
                p.pongs < FIRST_PINGS
            };
            if again {
                send_ping(pipeline);
            }
        }
        Ok(ServerMessage::Playback { mode, position_us, speed, event, .. }) => {
            if let Some(framecast_shared::PlaybackEvent::Gap { from_us, to_us }) = event {
                web_sys::console::info_1(
                    &format!(
                        "framecast: skipped {} without recording",
                        crate::timefmt::duration_text((to_us - from_us) as f64 / 1000.0)
                    )
                    .into(),
                );
            }
            pipeline.borrow_mut().playback = Playback { mode, position_us, speed };
            report_playback(pipeline);
            refresh_state(pipeline);
        }
        Ok(ServerMessage::Error { message, .. }) => {
            web_sys::console::warn_1(&format!("framecast: server refused a message: {message}").into());
        }
        Err(e) => web_sys::console::warn_1(&format!("framecast: bad message: {e}").into()),
    }
}

fn decode(pipeline: Shared, frame: Pending) {
    pipeline.borrow_mut().decoding = true;
    let Some(window) = web_sys::window() else { return };
    let started = now_ms();
    let promise = window.create_image_bitmap_with_blob(&frame.blob);
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(promise) = promise
            && let Ok(bitmap) = JsFuture::from(promise).await
            && draw(&pipeline, &frame.header, bitmap.unchecked_into())
        {
            let now = now_ms();
            pipeline.borrow_mut().decode.push(now, now - started);
        }
        send(&pipeline, frame.generation, &ClientMessage::Ack { seq: frame.header.seq });
        let next = {
            let mut p = pipeline.borrow_mut();
            p.decoding = false;
            if p.user_paused || p.hidden { None } else { p.pending.take() }
        };
        if let Some(next) = next {
            decode(pipeline, next);
        }
    });
}

/// Draws a decoded frame; false if it was not drawn (paused meanwhile).
fn draw(pipeline: &Shared, header: &FrameHeader, bitmap: ImageBitmap) -> bool {
    let mut p = pipeline.borrow_mut();
    if p.user_paused || p.hidden || p.stopped {
        bitmap.close();
        return false;
    }
    if p.canvas.width() != bitmap.width() || p.canvas.height() != bitmap.height() {
        p.canvas.set_width(bitmap.width());
        p.canvas.set_height(bitmap.height());
    }
    let _ = p.ctx.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0);
    bitmap.close();
    let now = now_ms();
    p.drawn.push(now, 1.0);
    // Capture-to-draw latency means something only for live frames; a recorded frame's
    // age is shown as "behind live" instead.
    if let Some(captured) = p.clock.to_client_ms(header.captured_us).filter(|_| !header.recorded) {
        p.latency.push(now, (now - captured).max(0.0));
    }
    p.last.width = header.width;
    p.last.height = header.height;
    p.last.drawn += 1;
    if header.recorded && p.playback.mode != PlaybackMode::Live {
        p.playback.position_us = header.captured_us;
    }
    // What is on the canvas, for tests and tools that look at the page.
    let _ = p.canvas.set_attribute("data-frames-drawn", &p.last.drawn.to_string());
    let _ = p.canvas.set_attribute("data-captured-us", &header.captured_us.to_string());
    let _ = p.canvas.set_attribute("data-recorded", if header.recorded { "true" } else { "false" });
    true
}

/// What a camera's description means for the status line.
fn camera_state(pipeline: &Shared, camera: &CameraInfo) -> ViewState {
    match camera.status {
        CameraStatus::Running => ViewState::Live,
        CameraStatus::Offline => {
            let now = server_now_us(pipeline);
            ViewState::CameraOffline {
                reason: camera.reason.clone().unwrap_or_default(),
                last_frame_ago_ms: camera.last_frame_us.map(|t| now.saturating_sub(t) as f64 / 1000.0),
                last_frame_at: camera.last_frame_us.map(|t| crate::timefmt::clock_text(t, now)),
            }
        }
        CameraStatus::Starting | CameraStatus::Stopped => ViewState::CameraStarting,
    }
}

/// The server's clock now, µs, from the pipeline's ping/pong estimate when there is one.
fn server_now_us(pipeline: &Shared) -> u64 {
    let offset = pipeline.try_borrow().ok().and_then(|p| p.clock.offset_ms());
    ((now_ms() - offset.unwrap_or(0.0)) * 1000.0).max(0.0) as u64
}

fn report_playback(pipeline: &Shared) {
    let playback = pipeline.borrow().playback;
    (pipeline.borrow().set_playback)(playback);
}

fn publish_stats(pipeline: &Shared) {
    let stats = {
        let mut guard = pipeline.borrow_mut();
        let p = &mut *guard;
        let now = now_ms();
        for w in [&mut p.drawn, &mut p.latency, &mut p.decode, &mut p.bytes, &mut p.gaps] {
            w.prune(now);
        }
        p.camera_rate.prune(now);
        let frame_bytes = p.bytes.last().map(|b| b as u64).unwrap_or(p.last.frame_bytes);
        let stats = Stats {
            drawn_fps: p.drawn.len() as f64,
            camera_fps: p.camera_rate.per_second(),
            latency_ms: p.latency.median().zip(p.latency.max()),
            decode_ms: p.decode.median().zip(p.decode.max()),
            rtt_ms: p.clock.last_rtt_ms(),
            frame_bytes,
            bitrate: p.bytes.sum() * 8.0,
            skipped: (p.gaps.sum() as u64, p.seq_gaps.total),
            ..p.last.clone()
        };
        p.last = stats.clone();
        stats
    };
    (pipeline.borrow().set_stats)(stats);
}

fn send_ping(pipeline: &Shared) {
    send_now(pipeline, &ClientMessage::Ping { t: now_ms() });
}

/// Sends on the current connection (control messages; acks go through [`send`] so they
/// reach only the connection that sent the frame).
fn send_now(pipeline: &Shared, message: &ClientMessage) {
    let generation = pipeline.borrow().generation;
    send(pipeline, generation, message);
}

fn send(pipeline: &Shared, generation: u32, message: &ClientMessage) {
    let p = pipeline.borrow();
    if p.generation != generation {
        return;
    }
    if let Some(ws) = &p.ws
        && ws.ready_state() == WebSocket::OPEN
    {
        let _ = ws.send_with_str(&message.to_json());
    }
}

fn set_state(pipeline: &Shared, state: ViewState) {
    (pipeline.borrow().set_state)(state);
}

/// Shows the pause state if paused, the recording's position when playing it back, otherwise
/// what the camera/connection is doing. Reports only changes.
fn refresh_state(pipeline: &Shared) {
    let server_now = server_now_us(pipeline);
    let state = {
        let p = pipeline.borrow();
        if p.user_paused {
            ViewState::Paused
        } else if p.hidden {
            ViewState::Hidden
        } else if p.playback.mode != PlaybackMode::Live
            && matches!(
                p.camera,
                ViewState::Live | ViewState::CameraStarting | ViewState::CameraOffline { .. }
            )
        {
            let at = p.playback.position_us;
            ViewState::Recorded {
                paused: p.playback.mode == PlaybackMode::Paused,
                at: crate::timefmt::clock_text(at, server_now),
                behind_ms: server_now.saturating_sub(at) as f64 / 1000.0,
                speed: p.playback.speed,
            }
        } else if let ViewState::CameraOffline { reason, .. } = &p.camera {
            let last = p.cameras.current().and_then(|c| c.last_frame_us);
            ViewState::CameraOffline {
                reason: reason.clone(),
                last_frame_ago_ms: last.map(|t| server_now.saturating_sub(t) as f64 / 1000.0),
                last_frame_at: last.map(|t| crate::timefmt::clock_text(t, server_now)),
            }
        } else {
            p.camera.clone()
        }
    };
    if pipeline.borrow().reported.as_ref() == Some(&state) {
        return;
    }
    pipeline.borrow_mut().reported = Some(state.clone());
    set_state(pipeline, state);
}

/// After pausing or resuming: on resume, the frame that waited is stale, so it is
/// acknowledged unseen and the server answers with a fresh one.
fn after_pause_change(pipeline: &Shared) {
    let stale = {
        let mut p = pipeline.borrow_mut();
        if p.user_paused || p.hidden { None } else { p.pending.take() }
    };
    if let Some(stale) = stale {
        send(pipeline, stale.generation, &ClientMessage::Ack { seq: stale.header.seq });
    }
    refresh_state(pipeline);
}

/// What the UI asks of a viewer.
impl Viewer {
    /// Pauses or resumes drawing; returns whether it is now paused.
    pub fn toggle_pause(self) -> bool {
        let mut paused = false;
        self.with(|pipeline| {
            {
                let mut p = pipeline.borrow_mut();
                p.user_paused = !p.user_paused;
                paused = p.user_paused;
            }
            after_pause_change(pipeline);
        });
        paused
    }

    /// Asks the server to change the shown camera's settings (for every viewer).
    pub fn change_settings(self, size: Option<(u32, u32)>, fps: Option<u32>, quality: Option<u8>) {
        self.with(|pipeline| {
            let message =
                ClientMessage::Settings { width: size.map(|s| s.0), height: size.map(|s| s.1), fps, quality };
            send_now(pipeline, &message);
        });
    }

    /// Chooses this device's picture size (`auto`, `full` or `WxH`), remembers it and asks
    /// the server for it.
    pub fn set_size_choice(self, choice: &str) {
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item(SIZE_KEY, choice);
        }
        self.with(|pipeline| tell_canvas(pipeline, true));
    }

    /// Caps the frame rate sent to this viewer only (0: no cap).
    pub fn set_own_max_fps(self, max_fps: f64) {
        self.with(|pipeline| {
            send_now(
                pipeline,
                &ClientMessage::Hello { window: None, max_fps: Some(max_fps), size: None, canvas: None },
            )
        });
    }

    /// Shows another camera: puts `?camera=ID` in the address (so a reload keeps it) and
    /// reconnects.
    pub fn switch_camera(self, id: &str) {
        if let Some(window) = web_sys::window()
            && let Ok(history) = window.history()
        {
            let query = format!("?camera={}", js_sys::encode_uri_component(id));
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&query));
        }
        self.with(reconnect_now);
    }

    /// Remembers `token` on this device and connects with it at once.
    pub fn use_token(self, token: &str) {
        crate::token::store(token);
        self.with(reconnect_now);
    }

    /// The server's clock now (µs since the Unix epoch), as well as this viewer's ping/pong
    /// estimate knows (the local clock before it connects).
    pub fn server_now_us(self) -> u64 {
        let mut now = (now_ms() * 1000.0) as u64;
        self.with(|pipeline| now = server_now_us(pipeline));
        now
    }

    /// Plays the recording from `from_us` (the first frame at or after it) at `speed`.
    pub fn play(self, from_us: u64, speed: u32) {
        self.with(|pipeline| {
            // Drawing must go on: a client-side pause would hide the recording.
            pipeline.borrow_mut().user_paused = false;
            after_pause_change(pipeline);
            send_now(pipeline, &ClientMessage::Play { from_us, speed: Some(speed) })
        });
    }

    /// Back to the live picture.
    pub fn go_live(self) {
        self.with(|pipeline| send_now(pipeline, &ClientMessage::Live));
    }

    /// Pauses or resumes the recording being played.
    pub fn toggle_playback_pause(self) {
        self.with(|pipeline| {
            let message = if pipeline.borrow().playback.mode == PlaybackMode::Paused {
                ClientMessage::Resume
            } else {
                ClientMessage::Pause
            };
            send_now(pipeline, &message);
        });
    }

    /// While the recording is paused: the frame `frames` recorded frames on (or back).
    pub fn step(self, frames: i32) {
        self.with(|pipeline| send_now(pipeline, &ClientMessage::Step { frames }));
    }

    /// Sets a device control of the shown camera (brightness, exposure...), for every viewer.
    pub fn set_control(self, name: &str, value: i64) {
        self.with(|pipeline| send_now(pipeline, &ClientMessage::Control { name: name.to_string(), value }));
    }
}

/// Drops the current connection (without the retry its close would schedule) and connects
/// afresh.
fn reconnect_now(pipeline: &Shared) {
    let old = {
        let mut p = pipeline.borrow_mut();
        p.decoding = false;
        p.pending = None;
        p.seq_gaps = SeqGaps::default();
        p.camera = ViewState::Connecting;
        p.ws.take()
    };
    if let Some(ws) = old {
        ws.set_onclose(None);
        let _ = ws.close();
    }
    refresh_state(pipeline);
    connect(pipeline);
}
