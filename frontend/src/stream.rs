//! The frame pipeline: WebSocket → decode → canvas → ack.
//!
//! Frames arrive as binary messages (`[u16 N][JSON header][JPEG]`, see `docs/protocol.md`).
//! The JPEG becomes a `Blob` and is decoded by the browser with `createImageBitmap`, off the
//! main thread and without passing through wasm memory. Only one frame decodes at a time;
//! frames arriving meanwhile replace each other, so the newest one is drawn next. Each drawn
//! frame is acknowledged, which is what lets the server send the next one: a slow device gets
//! fewer, fresher frames instead of a growing delay.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use framecast_shared::{ClientMessage, FrameHeader, ServerMessage};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    BinaryType, Blob, BlobPropertyBag, CanvasRenderingContext2d, HtmlCanvasElement, ImageBitmap,
    MessageEvent, WebSocket,
};

/// Figures shown under the picture.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Frames drawn in the last second.
    pub fps: f64,
    /// Size of the newest frame.
    pub width: u32,
    /// Size of the newest frame.
    pub height: u32,
    /// Frames drawn since the page loaded.
    pub drawn: u64,
}

/// Shortest and longest wait before reconnecting.
const RETRY_MIN_MS: i32 = 250;
const RETRY_MAX_MS: i32 = 4000;

/// A live stream onto one canvas. Lives as long as the page.
pub struct Stream {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    ws: Option<WebSocket>,
    /// Bumped on every (re)connect, so an ack never goes to a connection that did not send
    /// the frame.
    generation: u32,
    on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    on_close: Option<Closure<dyn FnMut()>>,
    decoding: bool,
    pending: Option<(u32, FrameHeader, Blob)>,
    draw_times: VecDeque<f64>,
    stats: Stats,
    retry_ms: i32,
    set_state: Box<dyn Fn(String)>,
    set_stats: Box<dyn Fn(Stats)>,
}

type Shared = Rc<RefCell<Stream>>;

impl Stream {
    /// Connects and starts drawing on `canvas`; reconnects by itself when the connection drops.
    pub fn start(
        canvas: HtmlCanvasElement,
        set_state: impl Fn(String) + 'static,
        set_stats: impl Fn(Stats) + 'static,
    ) {
        let Some(ctx) = canvas
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
        else {
            set_state("this browser cannot draw on a canvas".into());
            return;
        };
        let stream = Rc::new(RefCell::new(Stream {
            canvas,
            ctx,
            ws: None,
            generation: 0,
            on_message: None,
            on_close: None,
            decoding: false,
            pending: None,
            draw_times: VecDeque::new(),
            stats: Stats::default(),
            retry_ms: RETRY_MIN_MS,
            set_state: Box::new(set_state),
            set_stats: Box::new(set_stats),
        }));
        connect(&stream);
    }
}

fn ws_url() -> String {
    let location = web_sys::window().expect("a window").location();
    let scheme = if location.protocol().as_deref() == Ok("https:") { "wss" } else { "ws" };
    let host = location.host().unwrap_or_default();
    let query = location.search().unwrap_or_default();
    format!("{scheme}://{host}/ws{query}")
}

fn connect(stream: &Shared) {
    let ws = match WebSocket::new(&ws_url()) {
        Ok(ws) => ws,
        Err(_) => {
            (stream.borrow().set_state)("cannot open a WebSocket".into());
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let generation = {
        let mut s = stream.borrow_mut();
        s.generation = s.generation.wrapping_add(1);
        s.generation
    };
    let on_message = {
        let stream = stream.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            on_message(&stream, generation, event)
        })
    };
    let on_close = {
        let stream = stream.clone();
        Closure::<dyn FnMut()>::new(move || on_close(&stream, generation))
    };
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let mut s = stream.borrow_mut();
    s.ws = Some(ws);
    s.on_message = Some(on_message);
    s.on_close = Some(on_close);
}

fn on_close(stream: &Shared, generation: u32) {
    let delay = {
        let mut s = stream.borrow_mut();
        if s.generation != generation {
            return;
        }
        let delay = s.retry_ms;
        s.retry_ms = (s.retry_ms * 2).min(RETRY_MAX_MS);
        delay
    };
    (stream.borrow().set_state)("reconnecting".into());
    let stream = stream.clone();
    let retry = Closure::once_into_js(move || connect(&stream));
    if let Some(window) = web_sys::window() {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(retry.unchecked_ref(), delay);
    }
}

fn on_message(stream: &Shared, generation: u32, event: MessageEvent) {
    let data = event.data();
    if let Some(text) = data.as_string() {
        on_text(stream, &text);
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
    let options = BlobPropertyBag::new();
    options.set_type("image/jpeg");
    let Ok(blob) = Blob::new_with_u8_array_sequence_and_options(&Array::of1(&jpeg), &options) else {
        return;
    };
    let busy = {
        let mut s = stream.borrow_mut();
        if s.decoding {
            // Newest wins: a frame still waiting is replaced, and the ack of the newer one
            // covers it (acks are cumulative).
            s.pending = Some((generation, header.clone(), blob.clone()));
        }
        s.decoding
    };
    if !busy {
        decode(stream.clone(), generation, header, blob);
    }
}

fn on_text(stream: &Shared, text: &str) {
    match ServerMessage::parse(text) {
        Ok(ServerMessage::Hello { .. }) => {
            stream.borrow_mut().retry_ms = RETRY_MIN_MS;
            (stream.borrow().set_state)("live".into());
        }
        Ok(ServerMessage::State { camera }) => {
            let state = match camera.reason {
                Some(reason) => format!("camera offline: {reason}"),
                None => match camera.status {
                    framecast_shared::CameraStatus::Running => "live".to_string(),
                    other => format!(
                        "camera {}",
                        serde_json::to_value(other)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default()
                    ),
                },
            };
            (stream.borrow().set_state)(state);
        }
        Ok(ServerMessage::Error { message, .. }) => {
            web_sys::console::warn_1(&format!("framecast: server refused a message: {message}").into());
        }
        Ok(ServerMessage::Pong { .. }) => {}
        Err(e) => web_sys::console::warn_1(&format!("framecast: bad message: {e}").into()),
    }
}

fn decode(stream: Shared, generation: u32, header: FrameHeader, blob: Blob) {
    stream.borrow_mut().decoding = true;
    let Some(window) = web_sys::window() else {
        return;
    };
    let promise = window.create_image_bitmap_with_blob(&blob);
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(promise) = promise
            && let Ok(bitmap) = JsFuture::from(promise).await
        {
            draw(&stream, &header, bitmap.unchecked_into());
        }
        ack(&stream, generation, header.seq);
        let next = {
            let mut s = stream.borrow_mut();
            s.decoding = false;
            s.pending.take()
        };
        if let Some((generation, header, blob)) = next {
            decode(stream, generation, header, blob);
        }
    });
}

fn draw(stream: &Shared, header: &FrameHeader, bitmap: ImageBitmap) {
    let stats = {
        let mut s = stream.borrow_mut();
        if s.canvas.width() != bitmap.width() || s.canvas.height() != bitmap.height() {
            s.canvas.set_width(bitmap.width());
            s.canvas.set_height(bitmap.height());
        }
        let _ = s.ctx.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0);
        bitmap.close();
        let now = js_sys::Date::now();
        s.draw_times.push_back(now);
        while s.draw_times.front().is_some_and(|&t| now - t > 1000.0) {
            s.draw_times.pop_front();
        }
        s.stats.fps = s.draw_times.len() as f64;
        s.stats.width = header.width;
        s.stats.height = header.height;
        s.stats.drawn += 1;
        let _ = s.canvas.set_attribute("data-frames-drawn", &s.stats.drawn.to_string());
        s.stats.clone()
    };
    (stream.borrow().set_stats)(stats);
}

fn ack(stream: &Shared, generation: u32, seq: u64) {
    let s = stream.borrow();
    if s.generation != generation {
        return;
    }
    if let Some(ws) = &s.ws
        && ws.ready_state() == WebSocket::OPEN
    {
        let _ = ws.send_with_str(&ClientMessage::Ack { seq }.to_json());
    }
}
