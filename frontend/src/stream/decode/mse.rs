//! H.264 through `MediaSource` (no secure context needed: a phone on `http://` on a LAN):
//! each access unit is wrapped in an MP4 fragment ([`framecast_shared::fmp4`], one fragment
//! per frame) and appended to a hidden `<video>`; whenever the video shows a new frame
//! (`requestVideoFrameCallback`, and a 15 ms poll of its time for engines that do not call
//! back for a video nobody sees, such as WebKitGTK without compositing) it is drawn on the
//! canvas, and the frames up to it are acknowledged. `ManagedMediaSource` is used where it exists (iPhones from iOS 17.1 have
//! only it).
//!
//! Live, not a film: the buffer is kept short. Each connection's stream starts at time 0 and
//! its decode times are a running sum of the frame intervals (frames a slow viewer skipped
//! leave no gap to stall on); when the video falls more than a few frames behind what was
//! appended it jumps to the newest, and what it has played is removed. The server gives
//! an MSE viewer a larger credit window (it asks for 8 in its `hello`), since the video
//! element holds a few frames before it shows them.
//!
//! A video that shows nothing new for [`STALL_MS`] while frames wait for it (seen in
//! WebKitGTK at 1280x720; an iPhone that refuses to autoplay would do the same) has stalled:
//! the waiting frames are handed back unseen and the decoder says so (`on_stalled`), and the
//! page goes on with JPEG rather than a frozen picture.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use framecast_shared::VideoConfig;
use framecast_shared::fmp4::{self, Fragmenter};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlVideoElement, MediaSource, SourceBuffer, SourceBufferAppendMode};

use super::{Decoded, FrameDecoder, FrameInfo, OnDecoded, OnStalled, Picture};
use crate::stream::now_ms;

#[wasm_bindgen]
extern "C" {
    /// A `<video>` with `requestVideoFrameCallback` (not in `web-sys`).
    #[wasm_bindgen(extends = HtmlVideoElement)]
    type FrameCallbacks;

    #[wasm_bindgen(method, js_name = requestVideoFrameCallback)]
    fn request_video_frame_callback(this: &FrameCallbacks, callback: &js_sys::Function) -> u32;
}

/// Asks `video` to call `callback` when it presents its next frame.
fn on_next_frame(video: &HtmlVideoElement, callback: &Closure<dyn FnMut(f64, JsValue)>) {
    video.unchecked_ref::<FrameCallbacks>().request_video_frame_callback(callback.as_ref().unchecked_ref());
}

/// The video may fall this far (seconds) behind the newest frame appended before it is made
/// to jump to it.
const MAX_LAG_S: f64 = 0.25;

/// A video showing nothing new for this long (ms) while frames wait for it has stalled.
const STALL_MS: f64 = 2000.0;

/// Seconds of played video kept in the buffer.
const KEEP_PLAYED_S: f64 = 2.0;

/// The video's frame callback, which registers itself again each time it runs.
type FrameCallback = Rc<RefCell<Option<Closure<dyn FnMut(f64, JsValue)>>>>;

/// A frame appended and not yet shown: its presentation time in the video (seconds).
struct Appended {
    time_s: f64,
    frame: FrameInfo,
    started_ms: f64,
}

/// What the element's callbacks share with the pipeline's side.
struct State {
    video: HtmlVideoElement,
    media_source: MediaSource,
    buffer: Option<SourceBuffer>,
    /// The stream's configuration: its init segment goes first.
    config: Option<VideoConfig>,
    /// Bytes waiting for the buffer to be free, in order.
    queue: VecDeque<Uint8Array>,
    appended: VecDeque<Appended>,
    fragmenter: Fragmenter,
    /// Capture time of the last frame appended, for the next one's duration.
    last_captured_us: Option<u64>,
    on_decoded: OnDecoded,
    /// `play()` has been called.
    playing: bool,
    /// Appends made, for the element's `data-appends`.
    appends: u64,
    /// The video's time when last seen moving, and when that was (client clock, ms).
    progress: (f64, f64),
    /// Called once if the video stalls.
    on_stalled: Option<OnStalled>,
}

/// Marks on the video element what the decoder did (`data-appends`, `data-error`), for
/// tests and anyone looking at the page.
fn note(state: &Rc<RefCell<State>>, name: &str, value: &str) {
    let _ = state.borrow().video.set_attribute(name, value);
}

/// A JavaScript error's message.
fn describe(e: &JsValue) -> String {
    Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

/// See the module doc.
pub(in crate::stream) struct MseDecoder {
    state: Rc<RefCell<State>>,
    need_keyframe: bool,
    paused: bool,
    held: Option<FrameInfo>,
    _on_open: Closure<dyn FnMut()>,
    _on_frame: FrameCallback,
    /// The poll of the video's time, and its interval id.
    poll: Option<(i32, Closure<dyn FnMut()>)>,
    object_url: Option<String>,
}

/// How often the video's time is looked at, ms.
const POLL_MS: i32 = 15;

impl MseDecoder {
    /// A decoder handing what it is done with to `on_decoded`.
    pub(in crate::stream) fn new(on_decoded: OnDecoded, on_stalled: OnStalled) -> MseDecoder {
        let document = web_sys::window().and_then(|w| w.document()).expect("a document");
        let video: HtmlVideoElement = document.create_element("video").expect("video").unchecked_into();
        video.set_muted(true);
        video.set_autoplay(true);
        let _ = video.set_attribute("playsinline", "");
        let _ = video.set_attribute("muted", "");
        let _ = video.set_attribute("data-testid", "mse-video");
        // Rendered (so the browser presents its frames and calls back) but not seen.
        let _ = video.set_attribute(
            "style",
            "position:fixed;left:0;top:0;width:2px;height:2px;opacity:0.01;pointer-events:none;",
        );
        if let Some(body) = document.body() {
            let _ = body.append_child(&video);
        }
        let (media_source, managed) = new_media_source();
        let mut object_url = None;
        if managed {
            // Needed for ManagedMediaSource on Safari (moonfire-nvr, go2rtc).
            let _ = Reflect::set(&video, &"disableRemotePlayback".into(), &true.into());
            let _ = Reflect::set(&video, &"srcObject".into(), &media_source);
        } else if let Ok(url) = web_sys::Url::create_object_url_with_source(&media_source) {
            video.set_src(&url);
            object_url = Some(url);
        }
        let state = Rc::new(RefCell::new(State {
            video: video.clone(),
            media_source: media_source.clone(),
            buffer: None,
            config: None,
            queue: VecDeque::new(),
            appended: VecDeque::new(),
            fragmenter: Fragmenter::new(),
            last_captured_us: None,
            on_decoded,
            playing: false,
            appends: 0,
            progress: (0.0, now_ms()),
            on_stalled: Some(on_stalled),
        }));
        let on_open = {
            let state = state.clone();
            Closure::<dyn FnMut()>::new(move || open_buffer(&state))
        };
        media_source.set_onsourceopen(Some(on_open.as_ref().unchecked_ref()));
        let on_frame: FrameCallback = Rc::new(RefCell::new(None));
        {
            let state = state.clone();
            let again = on_frame.clone();
            *on_frame.borrow_mut() =
                Some(Closure::<dyn FnMut(f64, JsValue)>::new(move |_now: f64, meta: JsValue| {
                    let media_time = Reflect::get(&meta, &"mediaTime".into()).ok().and_then(|v| v.as_f64());
                    shown(&state, media_time);
                    if let Some(callback) = again.borrow().as_ref() {
                        on_next_frame(&state.borrow().video, callback);
                    }
                }));
        }
        if let Some(callback) = on_frame.borrow().as_ref() {
            on_next_frame(&video, callback);
        }
        let poll = {
            let state = state.clone();
            let callback = Closure::<dyn FnMut()>::new(move || {
                shown(&state, None);
                check_stall(&state);
            });
            web_sys::window()
                .and_then(|w| {
                    w.set_interval_with_callback_and_timeout_and_arguments_0(
                        callback.as_ref().unchecked_ref(),
                        POLL_MS,
                    )
                    .ok()
                })
                .map(|id| (id, callback))
        };
        MseDecoder {
            state,
            need_keyframe: true,
            paused: false,
            held: None,
            _on_open: on_open,
            _on_frame: on_frame,
            poll,
            object_url,
        }
    }

    /// Hands `frame` back unseen, later (never from inside a trait method).
    fn drop_later(&self, frame: FrameInfo, why: &'static str) {
        let on_decoded = self.state.borrow().on_decoded.clone();
        wasm_bindgen_futures::spawn_local(async move { on_decoded(Decoded::dropped(frame, why)) });
    }

    /// Appends one frame (and, for a new configuration, its init segment first).
    fn append(&mut self, frame: FrameInfo, payload: &Uint8Array) {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        if let Some(config) = &frame.header.config
            && state.config.as_ref() != Some(config)
        {
            let Some(avcc) = config.avcc_bytes() else {
                drop(guard);
                self.drop_later(frame, "bad configuration");
                return;
            };
            let init = fmp4::init_segment(&avcc, config.width as u16, config.height as u16);
            state.config = Some(config.clone());
            state.queue.push_back(Uint8Array::from(init.as_slice()));
        }
        if state.config.is_none() {
            drop(guard);
            self.drop_later(frame, "no configuration yet");
            return;
        }
        let captured = frame.header.captured_us;
        let duration_us = state.last_captured_us.map_or(33_333, |last| captured.saturating_sub(last));
        state.last_captured_us = Some(captured);
        let time_s = state.fragmenter.decode_time() as f64 / f64::from(fmp4::TIMESCALE);
        let mut head = Vec::with_capacity(120);
        state.fragmenter.fragment_header(&mut head, payload.length(), duration_us, frame.header.key);
        let fragment = Uint8Array::new_with_length(head.len() as u32 + payload.length());
        fragment.subarray(0, head.len() as u32).copy_from(&head);
        fragment.set(payload, head.len() as u32);
        state.queue.push_back(fragment);
        state.appended.push_back(Appended { time_s, frame, started_ms: now_ms() });
        drop(guard);
        feed(&self.state);
    }
}

/// `ManagedMediaSource` where the browser has it (then `true`; iPhones from iOS 17.1 have
/// only it, WebKitGTK both), else `MediaSource`.
fn new_media_source() -> (MediaSource, bool) {
    if let Some(window) = web_sys::window()
        && let Ok(class) = Reflect::get(&window, &"ManagedMediaSource".into())
        && let Ok(class) = class.dyn_into::<js_sys::Function>()
        && let Ok(source) = Reflect::construct(&class, &js_sys::Array::new())
    {
        return (source.unchecked_into(), true);
    }
    (MediaSource::new().expect("MediaSource"), false)
}

/// The source is open: the buffer for the stream's codec, then whatever waits. Once only:
/// `sourceopen` may come after the first frame already opened it (a second buffer would be
/// a second track, which the video waits for for ever).
fn open_buffer(state: &Rc<RefCell<State>>) {
    if state.borrow().buffer.is_some() {
        return;
    }
    let codec = state.borrow().config.as_ref().map(|c| c.codec.clone());
    let Some(codec) = codec else {
        // The first keyframe's configuration decides the codec: try again when it came.
        return;
    };
    let buffer = {
        let s = state.borrow();
        s.media_source.add_source_buffer(&format!("video/mp4; codecs=\"{codec}\""))
    };
    match buffer {
        Ok(buffer) => {
            buffer.set_mode(SourceBufferAppendMode::Segments);
            state.borrow_mut().buffer = Some(buffer);
            feed(state);
        }
        Err(e) => {
            web_sys::console::warn_2(&"framecast: MediaSource refused the stream".into(), &e);
            note(state, "data-error", &format!("addSourceBuffer: {}", describe(&e)));
        }
    }
}

/// Appends the next waiting bytes if the buffer is free (the rest follow on `updateend`).
fn feed(state: &Rc<RefCell<State>>) {
    let mut s = state.borrow_mut();
    if s.buffer.is_none() {
        if s.media_source.ready_state() == web_sys::MediaSourceReadyState::Open && s.config.is_some() {
            drop(s);
            open_buffer(state);
        }
        return;
    }
    let Some(buffer) = s.buffer.clone() else { return };
    if buffer.updating() {
        return;
    }
    let Some(next) = s.queue.pop_front() else { return };
    drop(s);
    match buffer.append_buffer_with_array_buffer_view(&next) {
        Ok(()) => {
            let mut s = state.borrow_mut();
            s.appends += 1;
            let appends = s.appends.to_string();
            drop(s);
            note(state, "data-appends", &appends);
        }
        Err(e) => {
            web_sys::console::warn_2(&"framecast: append refused".into(), &e);
            note(state, "data-error", &format!("appendBuffer: {}", describe(&e)));
        }
    }
    set_update_end(state, &buffer);
}

/// Makes sure the buffer calls back when an append is done. The callback lives as long as
/// the page (`forget`): one per decoder, and it holds the decoder's state, which the buffer
/// outlives anyway.
fn set_update_end(state: &Rc<RefCell<State>>, buffer: &SourceBuffer) {
    if buffer.onupdateend().is_none() {
        let state = state.clone();
        let callback = Closure::<dyn FnMut()>::new(move || after_append(&state));
        buffer.set_onupdateend(Some(callback.as_ref().unchecked_ref()));
        callback.forget();
    }
}

/// An append is done: keep the video at the live edge, trim what it played, append more.
fn after_append(state: &Rc<RefCell<State>>) {
    {
        let mut s = state.borrow_mut();
        if let Some(buffer) = s.buffer.clone()
            && let Ok(ranges) = buffer.buffered()
            && ranges.length() > 0
        {
            let last = ranges.length() - 1;
            let end = ranges.end(last).unwrap_or(0.0);
            let start = ranges.start(0).unwrap_or(0.0);
            let now = s.video.current_time();
            if end - now > MAX_LAG_S || now < ranges.start(last).unwrap_or(0.0) {
                s.video.set_current_time((end - 0.02).max(0.0));
            }
            if !buffer.updating() && now - start > KEEP_PLAYED_S * 2.0 {
                let _ = buffer.remove(start, now - KEEP_PLAYED_S);
            }
            if !s.playing {
                s.playing = true;
                let _ = s.video.play();
            }
        }
    }
    feed(state);
}

/// The video shows the frame at `media_time`: it is drawn, and the ones before it (shown in
/// between, or never) are acknowledged with it.
fn shown(state: &Rc<RefCell<State>>, media_time: Option<f64>) {
    let (done, video, on_decoded) = {
        let mut s = state.borrow_mut();
        // Nothing is shown before the video has a picture (readyState HAVE_CURRENT_DATA).
        if s.video.ready_state() < 2 {
            return;
        }
        let now = media_time.unwrap_or_else(|| s.video.current_time());
        let mut done = Vec::new();
        while s.appended.front().is_some_and(|a| a.time_s <= now + 0.001) {
            done.extend(s.appended.pop_front());
        }
        (done, s.video.clone(), s.on_decoded.clone())
    };
    let count = done.len();
    for (i, appended) in done.into_iter().enumerate() {
        let picture =
            if i + 1 == count { Ok(Picture::Video(video.clone())) } else { Err("passed over".into()) };
        on_decoded(Decoded { frame: appended.frame, started_ms: appended.started_ms, picture });
    }
}

/// Whether the video has stalled (see the module doc); if so, hands the waiting frames back
/// unseen and calls `on_stalled`, once.
fn check_stall(state: &Rc<RefCell<State>>) {
    let stalled = {
        let mut s = state.borrow_mut();
        let visible = web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible);
        let time = s.video.current_time();
        let now = now_ms();
        // A hidden page's video may rest; an empty queue is nothing to wait for.
        if !visible || s.appended.is_empty() || time != s.progress.0 {
            s.progress = (time, now);
            false
        } else {
            now - s.progress.1 > STALL_MS && s.on_stalled.is_some()
        }
    };
    if !stalled {
        return;
    }
    let (waiting, on_decoded, on_stalled) = {
        let mut s = state.borrow_mut();
        (s.appended.drain(..).collect::<Vec<_>>(), s.on_decoded.clone(), s.on_stalled.take())
    };
    web_sys::console::warn_1(&"framecast: the video stopped showing frames; going on with JPEG".into());
    note(state, "data-error", "stalled");
    for appended in waiting {
        on_decoded(Decoded::dropped(appended.frame, "the video stalled"));
    }
    if let Some(on_stalled) = on_stalled {
        on_stalled();
    }
}

impl FrameDecoder for MseDecoder {
    fn push(&mut self, frame: FrameInfo, payload: &Uint8Array) {
        if self.paused {
            if let Some(older) = self.held.replace(frame) {
                self.drop_later(older, "paused");
            }
            self.need_keyframe = true;
            return;
        }
        if self.need_keyframe && !frame.header.key {
            self.drop_later(frame, "waiting for a keyframe");
            return;
        }
        self.need_keyframe = false;
        self.append(frame, payload);
    }

    fn set_paused(&mut self, paused: bool) -> Option<FrameInfo> {
        self.paused = paused;
        if paused { None } else { self.held.take() }
    }

    fn reset(&mut self) {
        let mut s = self.state.borrow_mut();
        // Frames of the old connection: their acks would go nowhere.
        s.appended.clear();
        s.queue.clear();
        // The next connection's stream starts at 0 again: a fresh buffer timeline.
        s.fragmenter = Fragmenter::new();
        s.last_captured_us = None;
        if let Some(buffer) = &s.buffer
            && !buffer.updating()
            && let Ok(ranges) = buffer.buffered()
            && ranges.length() > 0
        {
            let _ = buffer.remove(0.0, ranges.end(ranges.length() - 1).unwrap_or(0.0));
        }
        s.config = None;
        drop(s);
        self.held = None;
        self.need_keyframe = true;
    }
}

impl Drop for MseDecoder {
    fn drop(&mut self) {
        if let (Some((id, _)), Some(window)) = (&self.poll, web_sys::window()) {
            window.clear_interval_with_handle(*id);
        }
        let s = self.state.borrow();
        s.video.remove();
        if let Some(url) = &self.object_url {
            let _ = web_sys::Url::revoke_object_url(url);
        }
    }
}
