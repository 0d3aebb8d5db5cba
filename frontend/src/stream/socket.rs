//! The pipeline's WebSocket: its address, connecting, reconnecting with back-off (or asking
//! over HTTP why the upgrade was refused: a token), the generation that keeps an old
//! connection's acks and retries from reaching a new one, and the messages both ways: frames
//! are handed to the pipeline ([`super::on_frame`]), the server's text messages update the
//! view state, the clock and the figures, and client messages (acks, pings, the canvas size,
//! the UI's requests) go out here.

use framecast_shared::{ClientMessage, FrameHeader, ServerMessage};
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use super::decode::FrameDecoder;
use super::figures::PictureNote;
use super::state::{
    Cameras, Playback, ViewState, camera_state, refresh_state, report_playback, report_state,
};
use super::{Shared, Watch, now_ms, size_choice};

/// Shortest and longest wait before reconnecting.
const RETRY_MIN_MS: i32 = 250;
const RETRY_MAX_MS: i32 = 4000;
/// Pings sent back to back after connecting, for a good first clock estimate.
const FIRST_PINGS: usize = 5;

/// One pipeline's connection to the server, across reconnects.
pub(super) struct Socket {
    ws: Option<WebSocket>,
    /// Bumped on every (re)connect, so an ack never goes to a connection that did not send
    /// the frame.
    generation: u32,
    /// Whether the current connection got its hello (if it closes without one, the upgrade
    /// was refused: the token is checked).
    got_hello: bool,
    /// The current connection's event handlers, kept alive while it may call them.
    handlers: Handlers,
    /// How long to wait before the next reconnect; doubles up to `RETRY_MAX_MS`, and starts
    /// over at every hello.
    retry_ms: i32,
    /// Pongs on the current connection (the first `FIRST_PINGS` pings go back to back).
    pongs: usize,
    /// The canvas size last told to the server.
    told_canvas: Option<[u32; 2]>,
}

/// A connection's event handlers. Only held: dropping a `Closure` frees it, and the socket
/// must not call a freed one.
#[derive(Default)]
pub(super) struct Handlers {
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    _on_close: Option<Closure<dyn FnMut()>>,
}

impl Socket {
    /// Not connected yet.
    pub(super) fn new() -> Socket {
        Socket {
            ws: None,
            generation: 0,
            got_hello: false,
            handlers: Handlers::default(),
            retry_ms: RETRY_MIN_MS,
            pongs: 0,
            told_canvas: None,
        }
    }

    /// For a pipeline that stops: closes the connection without firing its handlers, and
    /// bumps the generation so nothing of the old connection is sent or retried. Returns the
    /// handlers, to be dropped once none of them can be running.
    pub(super) fn hang_up(&mut self) -> Handlers {
        self.generation = self.generation.wrapping_add(1);
        let handlers = std::mem::take(&mut self.handlers);
        if let Some(ws) = self.ws.take() {
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
        handlers
    }
}

/// The `/ws` address for `watch`, with the token, and `accept=h264,jpeg` where this browser
/// decodes H.264.
fn ws_url(watch: &Watch, h264: bool) -> String {
    let location = web_sys::window().expect("a window").location();
    let scheme = if location.protocol().as_deref() == Ok("https:") { "wss" } else { "ws" };
    let host = location.host().unwrap_or_default();
    let mut query = match &watch.camera {
        Some(id) => format!("?camera={}", js_sys::encode_uri_component(id)),
        None => location.search().unwrap_or_default(),
    };
    if h264 {
        query.push_str(if query.is_empty() { "?" } else { "&" });
        query.push_str("accept=h264,jpeg");
    }
    crate::token::with_token(&format!("{scheme}://{host}/ws{query}"))
}

/// Opens a new connection (a new generation), unless the pipeline has stopped.
pub(super) fn connect(pipeline: &Shared) {
    if pipeline.borrow().stopped {
        return;
    }
    let url = {
        let p = pipeline.borrow();
        ws_url(&p.watch, p.h264.is_some())
    };
    let ws = match WebSocket::new(&url) {
        Ok(ws) => ws,
        Err(_) => {
            report_state(pipeline, ViewState::Unsupported("cannot open a WebSocket".into()));
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let generation = {
        let mut p = pipeline.borrow_mut();
        p.socket.generation = p.socket.generation.wrapping_add(1);
        p.socket.pongs = 0;
        p.socket.got_hello = false;
        p.socket.generation
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
    p.socket.ws = Some(ws);
    p.socket.handlers = Handlers { _on_message: Some(on_message), _on_close: Some(on_close) };
}

fn on_close(pipeline: &Shared, generation: u32) {
    let (delay, got_hello) = {
        let mut p = pipeline.borrow_mut();
        if p.socket.generation != generation {
            return;
        }
        p.decoder.reset();
        let delay = p.socket.retry_ms;
        p.socket.retry_ms = (p.socket.retry_ms * 2).min(RETRY_MAX_MS);
        p.view.camera = ViewState::Reconnecting;
        (delay, p.socket.got_hello)
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
        if pipeline.borrow().socket.generation != generation {
            return;
        }
        match access {
            crate::token::Access::NeedsToken => {
                let rejected = crate::token::stored().is_some();
                pipeline.borrow_mut().view.camera = ViewState::NeedsToken { rejected };
                refresh_state(&pipeline);
                // Waits for `Viewer::use_token`.
            }
            crate::token::Access::LockedOut(secs) => {
                pipeline.borrow_mut().view.camera = ViewState::LockedOut(secs);
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
        if pipeline.borrow().socket.generation == generation {
            connect(&pipeline);
        }
    });
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(retry.unchecked_ref(), delay_ms);
    }
}

/// Drops the current connection (without the retry its close would schedule) and connects
/// afresh.
pub(super) fn reconnect_now(pipeline: &Shared) {
    let old = {
        let mut p = pipeline.borrow_mut();
        p.decoder.reset();
        p.figures.forget_seq();
        p.view.camera = ViewState::Connecting;
        p.socket.ws.take()
    };
    if let Some(ws) = old {
        ws.set_onclose(None);
        let _ = ws.close();
    }
    refresh_state(pipeline);
    connect(pipeline);
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
    let payload = bytes.subarray(offset as u32, total);
    super::on_frame(pipeline, generation, header, &payload);
}

fn on_text(pipeline: &Shared, text: &str) {
    match ServerMessage::parse(text) {
        Ok(ServerMessage::Hello { cameras, camera, admin, .. }) => {
            pipeline.borrow_mut().socket.got_hello = true;
            let shown = cameras.iter().find(|c| c.id == camera).cloned();
            let list = Cameras { all: cameras, shown: camera, admin };
            (pipeline.borrow().report.cameras)(list.clone());
            let state = shown.map(|c| camera_state(pipeline, &c)).unwrap_or(ViewState::CameraStarting);
            {
                let mut p = pipeline.borrow_mut();
                p.view.cameras = list;
                p.socket.retry_ms = RETRY_MIN_MS;
                p.view.camera = state;
                // A new connection starts live.
                p.view.playback = Playback::default();
            }
            report_playback(pipeline);
            refresh_state(pipeline);
            send_ping(pipeline);
            tell_canvas(pipeline, true);
        }
        Ok(ServerMessage::Picture { mode, width, height, link_bps, reason, codec: _ }) => {
            pipeline.borrow_mut().figures.set_picture(PictureNote { mode, width, height, link_bps, reason });
        }
        Ok(ServerMessage::State { camera }) => {
            let state = camera_state(pipeline, &camera);
            let list = {
                let mut p = pipeline.borrow_mut();
                p.view.camera = state;
                match p.view.cameras.all.iter_mut().find(|c| c.id == camera.id) {
                    Some(known) => *known = *camera,
                    None => p.view.cameras.all.push(*camera),
                }
                p.view.cameras.clone()
            };
            (pipeline.borrow().report.cameras)(list);
            refresh_state(pipeline);
        }
        Ok(ServerMessage::Pong { t, server_us }) => {
            let again = {
                let mut p = pipeline.borrow_mut();
                p.clock.add(t, now_ms(), server_us);
                p.socket.pongs += 1;
                p.socket.pongs < FIRST_PINGS
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
            pipeline.borrow_mut().view.playback = Playback { mode, position_us, speed };
            report_playback(pipeline);
            refresh_state(pipeline);
        }
        Ok(ServerMessage::Error { message, .. }) => {
            web_sys::console::warn_1(&format!("framecast: server refused a message: {message}").into());
        }
        Err(e) => web_sys::console::warn_1(&format!("framecast: bad message: {e}").into()),
    }
}

/// Tells the server the canvas size when it changed (or always, with this device's size
/// choice, on a new connection).
pub(super) fn tell_canvas(pipeline: &Shared, with_size: bool) {
    let canvas = {
        let p = pipeline.borrow();
        p.canvas.device_px(p.watch.max_density)
    };
    if !with_size && (canvas.is_none() || canvas == pipeline.borrow().socket.told_canvas) {
        return;
    }
    pipeline.borrow_mut().socket.told_canvas = canvas;
    let size = with_size.then(|| pipeline.borrow().watch.size.clone().unwrap_or_else(size_choice));
    // A video element holds a few frames before it shows them: MediaSource needs more credit.
    let window = (with_size && pipeline.borrow().h264 == Some(super::H264Decoder::MediaSource)).then_some(8);
    send_now(pipeline, &ClientMessage::Hello { window, max_fps: None, size, canvas, accept: None });
}

/// Pings the server, for the clock offset and the round trip.
pub(super) fn send_ping(pipeline: &Shared) {
    send_now(pipeline, &ClientMessage::Ping { t: now_ms() });
}

/// Sends on the current connection (control messages; acks go through [`send`] so they
/// reach only the connection that sent the frame).
pub(super) fn send_now(pipeline: &Shared, message: &ClientMessage) {
    let generation = pipeline.borrow().socket.generation;
    send(pipeline, generation, message);
}

/// Sends on connection `generation` if it is still the current one and open; otherwise the
/// message is dropped.
pub(super) fn send(pipeline: &Shared, generation: u32, message: &ClientMessage) {
    let p = pipeline.borrow();
    if p.socket.generation != generation {
        return;
    }
    if let Some(ws) = &p.socket.ws
        && ws.ready_state() == WebSocket::OPEN
    {
        let _ = ws.send_with_str(&message.to_json());
    }
}
