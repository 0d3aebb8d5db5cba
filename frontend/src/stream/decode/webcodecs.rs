//! H.264 through WebCodecs' `VideoDecoder` (secure contexts): each access unit goes to the
//! decoder as an `EncodedVideoChunk` straight from the message (no copy through wasm), and
//! each `VideoFrame` it outputs is drawn.
//!
//! H.264 frames depend on the ones before them back to a keyframe, so nothing is dropped
//! between keyframes: every frame is decoded in order. The decoder is configured from the
//! keyframes' headers (codec, `avcC` as the `description`) and again whenever they change.
//! Frames it cannot take (before the first keyframe, after an error, while paused) come back
//! without a picture and are acknowledged, and decoding starts again at the next keyframe:
//! the server skips a viewer that fell behind to a keyframe anyway.
//!
//! The WebCodecs types are declared here rather than taken from `web-sys`, whose
//! `VideoDecoder` still needs `--cfg=web_sys_unstable_apis`; `VideoFrame` and drawing it are
//! `web-sys`'s stable API.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use framecast_shared::VideoConfig;
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use web_sys::VideoFrame;

use super::{Decoded, FrameDecoder, FrameInfo, OnDecoded, Picture};
use crate::stream::now_ms;

#[wasm_bindgen]
extern "C" {
    /// WebCodecs' `VideoDecoder`.
    #[wasm_bindgen(js_name = VideoDecoder)]
    type JsVideoDecoder;

    #[wasm_bindgen(constructor, catch, js_class = "VideoDecoder")]
    fn new(init: &Object) -> Result<JsVideoDecoder, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn configure(this: &JsVideoDecoder, config: &Object) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch)]
    fn decode(this: &JsVideoDecoder, chunk: &JsEncodedVideoChunk) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch)]
    fn reset(this: &JsVideoDecoder) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch)]
    fn close(this: &JsVideoDecoder) -> Result<(), JsValue>;

    #[wasm_bindgen(method, getter)]
    fn state(this: &JsVideoDecoder) -> String;

    /// WebCodecs' `EncodedVideoChunk`.
    #[wasm_bindgen(js_name = EncodedVideoChunk)]
    type JsEncodedVideoChunk;

    #[wasm_bindgen(constructor, catch, js_class = "EncodedVideoChunk")]
    fn new(init: &Object) -> Result<JsEncodedVideoChunk, JsValue>;
}

/// What the decoder's callbacks share with the pipeline's side.
struct Shared {
    /// Frames handed to the browser's decoder and not yet output, in order (H.264 Baseline
    /// has no reordering: frames come out in the order they went in).
    pending: VecDeque<(FrameInfo, f64)>,
    on_decoded: OnDecoded,
}

/// See the module doc.
pub(in crate::stream) struct WebCodecsDecoder {
    shared: Rc<RefCell<Shared>>,
    decoder: Option<JsVideoDecoder>,
    /// The configuration in force.
    config: Option<VideoConfig>,
    /// Nothing is decoded until the next keyframe.
    need_keyframe: bool,
    paused: bool,
    /// While paused: the newest frame held back, to acknowledge on resume.
    held: Option<FrameInfo>,
    _on_output: Closure<dyn FnMut(VideoFrame)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

impl WebCodecsDecoder {
    /// A decoder handing what it is done with to `on_decoded`.
    pub(in crate::stream) fn new(on_decoded: OnDecoded) -> WebCodecsDecoder {
        let shared = Rc::new(RefCell::new(Shared { pending: VecDeque::new(), on_decoded }));
        let on_output = {
            let shared = shared.clone();
            Closure::<dyn FnMut(VideoFrame)>::new(move |frame: VideoFrame| {
                let next = shared.borrow_mut().pending.pop_front();
                let on_decoded = shared.borrow().on_decoded.clone();
                match next {
                    Some((info, started_ms)) => {
                        on_decoded(Decoded { frame: info, started_ms, picture: Ok(Picture::Frame(frame)) })
                    }
                    None => frame.close(),
                }
            })
        };
        let on_error = {
            let shared = shared.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |error: JsValue| {
                web_sys::console::warn_2(&"framecast: H.264 decoder error".into(), &error);
                // The browser closed the decoder: every frame in it is lost, acknowledged unseen.
                let pending: Vec<_> = shared.borrow_mut().pending.drain(..).collect();
                let on_decoded = shared.borrow().on_decoded.clone();
                for (info, _) in pending {
                    on_decoded(Decoded::dropped(info, "decoder error"));
                }
            })
        };
        WebCodecsDecoder {
            shared,
            decoder: None,
            config: None,
            need_keyframe: true,
            paused: false,
            held: None,
            _on_output: on_output,
            _on_error: on_error,
        }
    }

    /// A decoder configured for `config`: the one there is if it is configured so, else a
    /// new one (the old one's pending frames are given back unseen).
    fn configured(&mut self, config: &VideoConfig) -> Result<&JsVideoDecoder, JsValue> {
        let usable = self.decoder.as_ref().is_some_and(|d| d.state() == "configured");
        if usable && self.config.as_ref() == Some(config) {
            return Ok(self.decoder.as_ref().expect("checked"));
        }
        if let Some(old) = self.decoder.take() {
            let _ = old.close();
            self.give_back_pending("reconfigured");
        }
        let init = Object::new();
        Reflect::set(&init, &"output".into(), self._on_output.as_ref())?;
        Reflect::set(&init, &"error".into(), self._on_error.as_ref())?;
        let decoder = JsVideoDecoder::new(&init)?;
        let settings = Object::new();
        Reflect::set(&settings, &"codec".into(), &config.codec.as_str().into())?;
        let avcc = config.avcc_bytes().ok_or_else(|| JsValue::from_str("bad avcC"))?;
        Reflect::set(&settings, &"description".into(), &Uint8Array::from(avcc.as_slice()))?;
        Reflect::set(&settings, &"codedWidth".into(), &config.width.into())?;
        Reflect::set(&settings, &"codedHeight".into(), &config.height.into())?;
        Reflect::set(&settings, &"optimizeForLatency".into(), &true.into())?;
        decoder.configure(&settings)?;
        self.config = Some(config.clone());
        Ok(self.decoder.insert(decoder))
    }

    /// Hands every frame still in the browser's decoder back unseen.
    fn give_back_pending(&self, why: &str) {
        let pending: Vec<_> = self.shared.borrow_mut().pending.drain(..).collect();
        let on_decoded = self.shared.borrow().on_decoded.clone();
        for (info, _) in pending {
            on_decoded(Decoded::dropped(info, why));
        }
    }

    /// Hands `frame` back unseen, later (never from inside a trait method).
    fn drop_later(&self, frame: FrameInfo, why: &'static str) {
        let on_decoded = self.shared.borrow().on_decoded.clone();
        wasm_bindgen_futures::spawn_local(async move { on_decoded(Decoded::dropped(frame, why)) });
    }

    fn decode(&mut self, frame: FrameInfo, payload: &Uint8Array) -> Result<(), JsValue> {
        let key = frame.header.key;
        if let Some(config) = frame.header.config.clone() {
            self.configured(&config)?;
        }
        let Some(decoder) = self.decoder.as_ref().filter(|d| d.state() == "configured") else {
            return Err("not configured".into());
        };
        let chunk = Object::new();
        Reflect::set(&chunk, &"type".into(), &(if key { "key" } else { "delta" }).into())?;
        Reflect::set(&chunk, &"timestamp".into(), &(frame.header.captured_us as f64).into())?;
        Reflect::set(&chunk, &"data".into(), payload)?;
        let chunk = JsEncodedVideoChunk::new(&chunk)?;
        self.shared.borrow_mut().pending.push_back((frame, now_ms()));
        if let Err(e) = decoder.decode(&chunk) {
            // Not taken: it will not come out.
            if let Some((frame, _)) = self.shared.borrow_mut().pending.pop_back() {
                self.drop_later(frame, "not decoded");
            }
            return Err(e);
        }
        Ok(())
    }
}

impl FrameDecoder for WebCodecsDecoder {
    fn push(&mut self, frame: FrameInfo, payload: &Uint8Array) {
        if self.paused {
            // Decoding resumes at a keyframe; the newest held frame is acknowledged then.
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
        if let Err(e) = self.decode(frame, payload) {
            web_sys::console::warn_2(&"framecast: H.264 frame not decoded".into(), &e);
            self.need_keyframe = true;
        }
    }

    fn set_paused(&mut self, paused: bool) -> Option<FrameInfo> {
        self.paused = paused;
        if paused { None } else { self.held.take() }
    }

    fn reset(&mut self) {
        if let Some(decoder) = &self.decoder
            && decoder.state() == "configured"
        {
            let _ = decoder.reset();
            self.config = None;
        }
        // Frames of the old connection: their acks would go nowhere.
        self.shared.borrow_mut().pending.clear();
        self.held = None;
        self.need_keyframe = true;
    }
}

impl Drop for WebCodecsDecoder {
    fn drop(&mut self) {
        if let Some(decoder) = &self.decoder {
            let _ = decoder.close();
        }
    }
}
