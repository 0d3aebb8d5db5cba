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
//!
//! Layout (one part of the pipeline each; this file has the UI's API, the `Pipeline` they
//! share, and the path of a frame from one part to the next):
//! - `socket`: the WebSocket: connecting, reconnecting with back-off, the generation that
//!   keeps an old connection's acks away from a new one, the server's messages, and sending
//!   acks, pings and the UI's requests.
//! - `decode`: the `FrameDecoder` seam and its three decoders: `createImageBitmap` for JPEG,
//!   WebCodecs and MediaSource for H.264; each decides which frames it may drop.
//! - [`capability`]: which H.264 decoder this browser uses (and tells the server it takes
//!   H.264), or none.
//! - `draw`: the canvas: drawing pictures, its size for the server, and the `data-*` marks of
//!   what it shows (frames drawn, capture time, recorded).
//! - `figures`: the overlay's figures ([`Stats`]) over the last second.
//! - `state`: the status line ([`ViewState`]), the position in time ([`Playback`]) and the
//!   cameras ([`Cameras`]), from the pause, the tab's visibility and what the server says.

pub mod capability;
mod decode;
mod draw;
mod figures;
mod socket;
mod state;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use framecast_shared::{ClientMessage, FrameHeader, PlaybackMode};
use js_sys::Uint8Array;
use leptos::prelude::{LocalStorage, SetValue, StoredValue, WithValue, on_cleanup};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::HtmlCanvasElement;

use self::capability::H264Decoder;
use self::decode::{Decoded, Decoders, FrameDecoder, FrameInfo};
use self::draw::Canvas;
use self::figures::Figures;
pub use self::figures::{PictureNote, Stats};
use self::socket::Socket;
use self::state::View;
pub use self::state::{Cameras, Playback, ViewState};
use crate::clock::ClockSync;

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

/// How often the clock is re-synced, and how often the overlay figures are refreshed.
const PING_EVERY_MS: i32 = 2000;
const STATS_EVERY_MS: i32 = 250;
/// How often the canvas size is compared with what the server was told.
const CANVAS_CHECK_MS: i32 = 1000;

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

/// One canvas's pipeline: each part owns its own state, and the functions of the parts
/// reach each other's through this one shared struct (`Rc<RefCell<_>>`, see [`Shared`]).
struct Pipeline {
    /// What to show (camera, size, density), for every (re)connect.
    watch: Watch,
    /// Set once the viewer is gone: nothing more is drawn, sent or reconnected.
    stopped: bool,
    /// Interval timers and the visibility listener, cleared when the pipeline stops.
    timers: Timers,
    /// The WebSocket, across reconnects.
    socket: Socket,
    /// Turns received frames into pictures; hands them to [`on_decoded`].
    decoder: Decoders,
    /// How this browser decodes H.264, if it does (decided at start).
    h264: Option<H264Decoder>,
    /// Where the pictures are drawn.
    canvas: Canvas,
    /// Offset to the server's clock (ping/pong): for latency, "behind live" and the times
    /// in the status line.
    clock: ClockSync,
    /// The overlay's figures.
    figures: Figures,
    /// What the status line, the timeline and the camera list are made from.
    view: View,
    /// Where the pipeline reports to the UI.
    report: Reporters,
}

/// A pipeline's interval timers and its `visibilitychange` listener.
#[derive(Default)]
struct Timers {
    intervals: Vec<(i32, Closure<dyn FnMut()>)>,
    on_visibility: Option<Closure<dyn FnMut()>>,
}

impl Timers {
    /// Stops every timer and the listener; returns them, for their closures to be dropped
    /// once none of them can be running.
    fn cancel(self) -> Timers {
        if let Some(window) = web_sys::window() {
            for (id, _) in &self.intervals {
                window.clear_interval_with_handle(*id);
            }
            if let (Some(document), Some(listener)) = (window.document(), &self.on_visibility) {
                let _ = document.remove_event_listener_with_callback(
                    "visibilitychange",
                    listener.as_ref().unchecked_ref(),
                );
            }
        }
        self
    }
}

/// A pipeline, shared by its timers, its socket's handlers and its decoder's callback.
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
    let Some(canvas) = Canvas::new(canvas) else {
        (report.state)(ViewState::Unsupported("this browser cannot draw on a canvas".into()));
        return None;
    };
    let pipeline = Rc::new_cyclic(|weak: &Weak<RefCell<Pipeline>>| {
        // Weak: the decoder belongs to the pipeline, so its callback must not keep it alive.
        let h264 = capability::h264_decoder();
        let decoder = new_decoders(weak.clone(), h264);
        RefCell::new(Pipeline {
            watch,
            stopped: false,
            timers: Timers::default(),
            socket: Socket::new(),
            decoder,
            h264,
            canvas,
            clock: ClockSync::default(),
            figures: Figures::new(),
            view: View::new(),
            report,
        })
    });
    every(&pipeline, PING_EVERY_MS, {
        let pipeline = pipeline.clone();
        move || socket::send_ping(&pipeline)
    });
    every(&pipeline, STATS_EVERY_MS, {
        let pipeline = pipeline.clone();
        move || {
            figures::publish_stats(&pipeline);
            // "12 min behind live", "last frame ... (5 min ago)" move on with the clock.
            state::refresh_state(&pipeline);
        }
    });
    watch_visibility(&pipeline);
    // A resized or rotated screen: `auto` picks for the new size.
    every(&pipeline, CANVAS_CHECK_MS, {
        let pipeline = pipeline.clone();
        move || socket::tell_canvas(&pipeline, false)
    });
    socket::connect(&pipeline);
    Some(pipeline)
}

/// Ends the pipeline: closes its connection without a retry and clears its timers. The
/// closures are dropped a moment later, never while one of them may be running.
fn stop(pipeline: &Shared) {
    let (timers, handlers) = {
        let mut p = pipeline.borrow_mut();
        if p.stopped {
            return;
        }
        p.stopped = true;
        p.decoder.reset();
        (std::mem::take(&mut p.timers), p.socket.hang_up())
    };
    let garbage = (timers.cancel(), handlers);
    let later = Closure::once_into_js(move || drop(garbage));
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(later.unchecked_ref(), 0);
    }
}

/// Runs `f` every `ms` until the pipeline stops.
fn every(pipeline: &Shared, ms: i32, f: impl FnMut() + 'static) {
    let callback = Closure::<dyn FnMut()>::new(f);
    let Some(window) = web_sys::window() else { return };
    if let Ok(id) =
        window.set_interval_with_callback_and_timeout_and_arguments_0(callback.as_ref().unchecked_ref(), ms)
    {
        pipeline.borrow_mut().timers.intervals.push((id, callback));
    }
}

/// Pauses the pipeline while the tab is hidden.
fn watch_visibility(pipeline: &Shared) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let on_change = {
        let pipeline = pipeline.clone();
        let document = document.clone();
        Closure::<dyn FnMut()>::new(move || {
            let hidden = document.visibility_state() == web_sys::VisibilityState::Hidden;
            pipeline.borrow_mut().view.hidden = hidden;
            after_pause_change(&pipeline);
        })
    };
    let _ = document.add_event_listener_with_callback("visibilitychange", on_change.as_ref().unchecked_ref());
    pipeline.borrow_mut().timers.on_visibility = Some(on_change);
}

/// A frame arrived on connection `generation` (`payload`: its encoded picture): it counts in
/// the figures, and goes to the decoder.
fn on_frame(pipeline: &Shared, generation: u32, header: FrameHeader, payload: &Uint8Array) {
    let mut p = pipeline.borrow_mut();
    p.figures.on_received(now_ms(), &header, payload.length());
    p.decoder.push(FrameInfo { generation, header }, payload);
    let label = p.decoder.label();
    p.figures.set_decoder(label);
}

/// The pipeline's decoders, whose callbacks hold it weakly (the decoders belong to it).
fn new_decoders(pipeline: Weak<RefCell<Pipeline>>, h264: Option<capability::H264Decoder>) -> Decoders {
    let stalled = pipeline.clone();
    Decoders::new(
        h264,
        move |decoded| match pipeline.upgrade() {
            Some(pipeline) => on_decoded(&pipeline, decoded),
            None => decoded.discard(),
        },
        move || {
            // Later, from a task of its own: the stalled decoder is still running its callback.
            let stalled = stalled.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(pipeline) = stalled.upgrade() {
                    capability::give_up_media_source();
                    change_decoder(&pipeline);
                }
            });
        },
    )
}

/// Makes the decoders anew for what [`capability::h264_decoder`] says now, and reconnects so
/// that the server sends what they take.
fn change_decoder(pipeline: &Shared) {
    let h264 = capability::h264_decoder();
    let decoder = new_decoders(Rc::downgrade(pipeline), h264);
    let old = {
        let mut p = pipeline.borrow_mut();
        p.h264 = h264;
        std::mem::replace(&mut p.decoder, decoder)
    };
    drop(old);
    socket::reconnect_now(pipeline);
}

/// The decoder is done with a frame: its picture is drawn (unless paused meanwhile), and the
/// frame is acknowledged to the connection that sent it, drawn or not, which lets the server
/// send the next one.
fn on_decoded(pipeline: &Shared, decoded: Decoded) {
    let Decoded { frame, started_ms, picture } = decoded;
    if let Ok(picture) = picture
        && draw::draw(pipeline, &frame.header, picture)
    {
        let now = now_ms();
        pipeline.borrow_mut().figures.on_decode_time(now, started_ms);
    }
    socket::send(pipeline, frame.generation, &ClientMessage::Ack { seq: frame.header.seq });
}

/// After pausing or resuming: on resume, the frame that waited is stale, so it is
/// acknowledged unseen and the server answers with a fresh one.
fn after_pause_change(pipeline: &Shared) {
    let stale = {
        let mut p = pipeline.borrow_mut();
        let paused = p.view.paused();
        p.decoder.set_paused(paused)
    };
    if let Some(stale) = stale {
        socket::send(pipeline, stale.generation, &ClientMessage::Ack { seq: stale.header.seq });
    }
    state::refresh_state(pipeline);
}

/// What the UI asks of a viewer.
impl Viewer {
    /// Pauses or resumes drawing; returns whether it is now paused.
    pub fn toggle_pause(self) -> bool {
        let mut paused = false;
        self.with(|pipeline| {
            {
                let mut p = pipeline.borrow_mut();
                p.view.user_paused = !p.view.user_paused;
                paused = p.view.user_paused;
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
            socket::send_now(pipeline, &message);
        });
    }

    /// Chooses this device's picture size (`auto`, `full` or `WxH`), remembers it and asks
    /// the server for it.
    pub fn set_size_choice(self, choice: &str) {
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item(SIZE_KEY, choice);
        }
        self.with(|pipeline| socket::tell_canvas(pipeline, true));
    }

    /// Chooses this device's decoder (`auto`, `webcodecs`, `mse`, `jpeg`), remembers it and
    /// reconnects with it.
    pub fn set_decoder_choice(self, choice: &str) {
        capability::set_decoder_choice(choice);
        self.with(change_decoder);
    }

    /// Caps the frame rate sent to this viewer only (0: no cap).
    pub fn set_own_max_fps(self, max_fps: f64) {
        self.with(|pipeline| {
            socket::send_now(
                pipeline,
                &ClientMessage::Hello {
                    window: None,
                    max_fps: Some(max_fps),
                    size: None,
                    canvas: None,
                    accept: None,
                },
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
        self.with(socket::reconnect_now);
    }

    /// Remembers `token` on this device and connects with it at once.
    pub fn use_token(self, token: &str) {
        crate::token::store(token);
        self.with(socket::reconnect_now);
    }

    /// The server's clock now (µs since the Unix epoch), as well as this viewer's ping/pong
    /// estimate knows (the local clock before it connects).
    pub fn server_now_us(self) -> u64 {
        let mut now = (now_ms() * 1000.0) as u64;
        self.with(|pipeline| now = state::server_now_us(pipeline));
        now
    }

    /// Plays the recording from `from_us` (the first frame at or after it) at `speed`.
    pub fn play(self, from_us: u64, speed: u32) {
        self.with(|pipeline| {
            // Drawing must go on: a client-side pause would hide the recording.
            pipeline.borrow_mut().view.user_paused = false;
            after_pause_change(pipeline);
            socket::send_now(pipeline, &ClientMessage::Play { from_us, speed: Some(speed) })
        });
    }

    /// Back to the live picture.
    pub fn go_live(self) {
        self.with(|pipeline| socket::send_now(pipeline, &ClientMessage::Live));
    }

    /// Pauses or resumes the recording being played.
    pub fn toggle_playback_pause(self) {
        self.with(|pipeline| {
            let message = if pipeline.borrow().view.playback.mode == PlaybackMode::Paused {
                ClientMessage::Resume
            } else {
                ClientMessage::Pause
            };
            socket::send_now(pipeline, &message);
        });
    }

    /// While the recording is paused: the frame `frames` recorded frames on (or back).
    pub fn step(self, frames: i32) {
        self.with(|pipeline| socket::send_now(pipeline, &ClientMessage::Step { frames }));
    }

    /// Sets a device control of the shown camera (brightness, exposure...), for every viewer.
    pub fn set_control(self, name: &str, value: i64) {
        self.with(|pipeline| {
            socket::send_now(pipeline, &ClientMessage::Control { name: name.to_string(), value })
        });
    }
}
