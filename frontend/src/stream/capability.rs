//! Which H.264 decoder this browser uses, if any: the server sends H.264 only to a viewer
//! that says it decodes it (`accept` in the `/ws` address), and this module decides what the
//! viewer says.
//!
//! - WebCodecs' `VideoDecoder` where the page is a secure context (`localhost`, HTTPS): it
//!   hands over each decoded frame at once, the lowest latency.
//! - `MediaSource` (or `ManagedMediaSource`, iPhones from iOS 17.1) otherwise: it needs no
//!   secure context, so it is what a phone opening `http://192.168.1.20:8080/` gets.
//! - Neither: JPEG, as before.
//!
//! Settings can force one ("Decoder"), remembered on the device; `?decoder=` in the page's
//! address wins (a link that pins it). A forced decoder this browser lacks falls back to JPEG.
//! So does Media Source once it has stalled on this page ([`give_up_media_source`]): a video
//! element that stops showing frames must not leave the viewer on a frozen picture.

use wasm_bindgen::{JsCast, JsValue};

thread_local! {
    /// Media Source stalled on this page: JPEG until the page is loaded again.
    static MEDIA_SOURCE_STALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Media Source stopped showing frames on this page (see [`super::decode::mse`]): from now
/// on this page takes JPEG instead (not remembered: the next visit tries again).
pub fn give_up_media_source() {
    MEDIA_SOURCE_STALLED.with(|stalled| stalled.set(true));
}

fn media_source_usable() -> bool {
    !MEDIA_SOURCE_STALLED.with(|stalled| stalled.get()) && has_media_source()
}

/// Where this device's choice of decoder is remembered.
const DECODER_KEY: &str = "framecast.decoder";

/// The codec string asked about: H.264 Constrained Baseline, level 3.1 (1280x720 at 30 fps),
/// what OpenH264 and most cameras' baseline streams are.
const PROBE_CODEC: &str = "avc1.42E01F";

/// A way this browser decodes H.264.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H264Decoder {
    /// WebCodecs' `VideoDecoder`.
    WebCodecs,
    /// A `<video>` fed through `MediaSource`.
    MediaSource,
}

/// This device's choice of decoder: `auto` (the default), `webcodecs`, `mse` or `jpeg`.
pub fn decoder_choice() -> String {
    let window = web_sys::window();
    let from_address = window.as_ref().and_then(|w| w.location().search().ok()).and_then(|search| {
        let search = search.trim_start_matches('?').to_string();
        search.split('&').find_map(|pair| pair.strip_prefix("decoder=").map(str::to_string))
    });
    from_address
        .or_else(|| {
            window
                .and_then(|w| w.local_storage().ok().flatten())
                .and_then(|s| s.get_item(DECODER_KEY).ok().flatten())
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "auto".into())
}

/// Remembers this device's choice of decoder (takes effect at the next connection).
pub fn set_decoder_choice(choice: &str) {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(DECODER_KEY, choice);
    }
}

/// The H.264 decoder to use, from the choice and what this browser has.
pub fn h264_decoder() -> Option<H264Decoder> {
    match decoder_choice().as_str() {
        "jpeg" => None,
        "webcodecs" => has_webcodecs().then_some(H264Decoder::WebCodecs),
        "mse" => media_source_usable().then_some(H264Decoder::MediaSource),
        _ if has_webcodecs() => Some(H264Decoder::WebCodecs),
        _ if media_source_usable() => Some(H264Decoder::MediaSource),
        _ => None,
    }
}

/// Whether WebCodecs can decode H.264 here: a secure context with `VideoDecoder`.
pub fn has_webcodecs() -> bool {
    let Some(window) = web_sys::window() else { return false };
    window.is_secure_context()
        && js_sys::Reflect::has(&window, &JsValue::from_str("VideoDecoder")).unwrap_or(false)
}

/// Whether `MediaSource` (or `ManagedMediaSource`) plays H.264 in MP4 here.
pub fn has_media_source() -> bool {
    let mime = format!("video/mp4; codecs=\"{PROBE_CODEC}\"");
    let Some(window) = web_sys::window() else { return false };
    ["ManagedMediaSource", "MediaSource"].iter().any(|name| {
        let Ok(class) = js_sys::Reflect::get(&window, &JsValue::from_str(name)) else { return false };
        if class.is_undefined() {
            return false;
        }
        let Ok(check) = js_sys::Reflect::get(&class, &JsValue::from_str("isTypeSupported")) else {
            return false;
        };
        let Ok(check) = check.dyn_into::<js_sys::Function>() else { return false };
        check.call1(&class, &JsValue::from_str(&mime)).map(|v| v.is_truthy()).unwrap_or(false)
    })
}
