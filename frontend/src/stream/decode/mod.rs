//! Turning received frames into pictures for the canvas, behind one small interface
//! ([`FrameDecoder`]), so that the rest of the pipeline does not care how a frame is encoded
//! or which browser API decodes it.
//!
//! A decoder is handed every frame as it arrives (its header and its encoded bytes) and hands
//! back, through the callback it was made with, one [`Decoded`] for each frame it is done
//! with: the [`Picture`] to draw, or why there is none (a frame it had to drop comes back
//! without a picture, so it is still acknowledged: the server must never wait for the ack of
//! a frame nobody will show). The decoder alone decides which frames it may drop. The
//! pipeline draws what comes back and then acknowledges that frame (acks are cumulative, so
//! they also cover the frames dropped before it). The callback is never called from inside
//! one of the trait's methods (the pipeline is borrowed then), only from a later task.
//!
//! Three decoders, one per way a browser can show the frames:
//! - [`jpeg`]: `createImageBitmap` on each JPEG (every browser);
//! - [`webcodecs`]: H.264 through WebCodecs' `VideoDecoder`, drawing each `VideoFrame` it
//!   outputs (secure contexts: `localhost`, HTTPS);
//! - [`mse`]: H.264 wrapped in MP4 fragments for a hidden `<video>` through `MediaSource` (or
//!   `ManagedMediaSource` on iPhones), drawing the video whenever it shows a new frame (plain
//!   `http://` on a LAN, where WebCodecs does not exist).
//!
//! [`Decoders`] routes each frame to the one for its codec; which H.264 decoder this browser
//! uses is [`crate::stream::capability`]'s choice.

pub(in crate::stream) mod jpeg;
pub(in crate::stream) mod mse;
pub(in crate::stream) mod webcodecs;

use std::rc::Rc;

use framecast_shared::FrameHeader;
use js_sys::Uint8Array;
use wasm_bindgen::JsValue;
use web_sys::{HtmlVideoElement, ImageBitmap, VideoFrame};

use super::capability::H264Decoder;

/// What the acknowledgement, the figures and the canvas need of a frame besides its picture:
/// the connection that sent it, and its header.
#[derive(Debug, Clone)]
pub(in crate::stream) struct FrameInfo {
    /// The generation of the connection that sent the frame, so that its ack never goes to
    /// a later connection.
    pub(in crate::stream) generation: u32,
    /// The frame's header, as received.
    pub(in crate::stream) header: FrameHeader,
}

/// A decoded picture that the canvas can draw: one variant per kind of the browser's
/// `CanvasImageSource`. It holds memory outside wasm until [`Picture::close`], which the
/// one who ends up with it calls, drawn or not.
#[derive(Debug)]
pub(in crate::stream) enum Picture {
    /// From `createImageBitmap`.
    Bitmap(ImageBitmap),
    /// From WebCodecs' `VideoDecoder`.
    Frame(VideoFrame),
    /// The `<video>` element MediaSource plays into, showing the frame to draw.
    Video(HtmlVideoElement),
}

impl Picture {
    /// Width of the picture in pixels, which the canvas takes on.
    pub(in crate::stream) fn width(&self) -> u32 {
        match self {
            Picture::Bitmap(bitmap) => bitmap.width(),
            Picture::Frame(frame) => frame.display_width(),
            Picture::Video(video) => video.video_width(),
        }
    }

    /// Height of the picture in pixels, which the canvas takes on.
    pub(in crate::stream) fn height(&self) -> u32 {
        match self {
            Picture::Bitmap(bitmap) => bitmap.height(),
            Picture::Frame(frame) => frame.display_height(),
            Picture::Video(video) => video.video_height(),
        }
    }

    /// Frees the picture's memory now rather than at the next garbage collection (the video
    /// element is the decoder's, and stays).
    pub(in crate::stream) fn close(self) {
        match self {
            Picture::Bitmap(bitmap) => bitmap.close(),
            Picture::Frame(frame) => frame.close(),
            Picture::Video(_) => {}
        }
    }
}

/// What became of one frame a decoder took on, handed to the decoder's callback.
#[derive(Debug)]
pub(in crate::stream) struct Decoded {
    /// The frame, to draw and acknowledge.
    pub(in crate::stream) frame: FrameInfo,
    /// When its payload was handed to the browser's decoder (client clock, ms), for the
    /// overlay's decode-to-draw figure.
    pub(in crate::stream) started_ms: f64,
    /// The picture, or why there is none (dropped, or the browser's error).
    pub(in crate::stream) picture: Result<Picture, JsValue>,
}

impl Decoded {
    /// Frees the picture of a frame that nobody will draw.
    pub(in crate::stream) fn discard(self) {
        if let Ok(picture) = self.picture {
            picture.close();
        }
    }

    /// A frame given back without a picture, to be acknowledged unseen.
    pub(in crate::stream) fn dropped(frame: FrameInfo, why: &str) -> Decoded {
        Decoded { frame, started_ms: super::now_ms(), picture: Err(JsValue::from_str(why)) }
    }
}

/// Where a decoder hands what it is done with.
pub(in crate::stream) type OnDecoded = Rc<dyn Fn(Decoded)>;

/// What a decoder calls (once, from a task of its own) when it has stopped working on this
/// page and the pipeline should do without it.
pub(in crate::stream) type OnStalled = Rc<dyn Fn()>;

/// Turns the frames of one pipeline into [`Picture`]s; see the module doc for the contract.
pub(in crate::stream) trait FrameDecoder {
    /// Takes a frame just received (`payload`: its encoded picture, a view into the
    /// message). The decoder decodes it now, keeps it for later, or drops it; whatever it
    /// is done with comes back later through its callback.
    fn push(&mut self, frame: FrameInfo, payload: &Uint8Array);

    /// While `paused` (by the user, or because the tab is hidden) no pictures are wanted. On
    /// resume, returns the frame that the decoder held back and now will not decode: it is
    /// stale, and the pipeline acknowledges it unseen so that the server sends a fresh one.
    fn set_paused(&mut self, paused: bool) -> Option<FrameInfo>;

    /// The connection that sent the frames is gone: forgets the frames not yet decoded, and
    /// takes the next connection's first frame at once, even if a decode is still under way.
    fn reset(&mut self);
}

/// Sends each frame to the decoder of its codec: JPEG to `createImageBitmap`, H.264 to
/// this browser's H.264 decoder (made on the first H.264 frame).
pub(in crate::stream) struct Decoders {
    jpeg: jpeg::ImageBitmapDecoder,
    h264: Option<Box<dyn FrameDecoder>>,
    /// Which H.264 decoder this browser uses, if any.
    h264_kind: Option<H264Decoder>,
    on_decoded: OnDecoded,
    on_stalled: OnStalled,
    paused: bool,
    /// The label of the decoder that took the last frame, for the overlay.
    label: &'static str,
}

impl Decoders {
    /// Decoders that hand what they are done with to `on_decoded`; H.264 goes to `h264`,
    /// which calls `on_stalled` if it stops working.
    pub(in crate::stream) fn new(
        h264: Option<H264Decoder>,
        on_decoded: impl Fn(Decoded) + 'static,
        on_stalled: impl Fn() + 'static,
    ) -> Decoders {
        let on_decoded: OnDecoded = Rc::new(on_decoded);
        Decoders {
            jpeg: jpeg::ImageBitmapDecoder::new({
                let on_decoded = on_decoded.clone();
                move |decoded| on_decoded(decoded)
            }),
            h264: None,
            h264_kind: h264,
            on_decoded,
            on_stalled: Rc::new(on_stalled),
            paused: false,
            label: "JPEG",
        }
    }

    /// What decodes the frames now: "JPEG", "H.264 · WebCodecs", "H.264 · MSE".
    pub(in crate::stream) fn label(&self) -> &'static str {
        self.label
    }

    /// The H.264 decoder, made on first use; `None` when this browser has none.
    fn h264(&mut self) -> Option<&mut Box<dyn FrameDecoder>> {
        if self.h264.is_none() {
            let on_decoded = self.on_decoded.clone();
            let mut decoder: Box<dyn FrameDecoder> = match self.h264_kind? {
                H264Decoder::WebCodecs => Box::new(webcodecs::WebCodecsDecoder::new(on_decoded)),
                H264Decoder::MediaSource => {
                    Box::new(mse::MseDecoder::new(on_decoded, self.on_stalled.clone()))
                }
            };
            decoder.set_paused(self.paused);
            self.h264 = Some(decoder);
        }
        self.h264.as_mut()
    }
}

impl FrameDecoder for Decoders {
    fn push(&mut self, frame: FrameInfo, payload: &Uint8Array) {
        if frame.header.codec.as_deref() != Some("h264") {
            self.label = "JPEG";
            self.jpeg.push(frame, payload);
            return;
        }
        self.label = match self.h264_kind {
            Some(H264Decoder::WebCodecs) => "H.264 · WebCodecs",
            Some(H264Decoder::MediaSource) => "H.264 · MSE",
            None => "H.264 (no decoder)",
        };
        match self.h264() {
            Some(decoder) => decoder.push(frame, payload),
            // The server sends H.264 only to viewers that said they decode it.
            None => (self.on_decoded)(Decoded::dropped(frame, "this browser decodes no H.264")),
        }
    }

    fn set_paused(&mut self, paused: bool) -> Option<FrameInfo> {
        self.paused = paused;
        let jpeg = self.jpeg.set_paused(paused);
        let h264 = self.h264.as_mut().and_then(|d| d.set_paused(paused));
        // Acks are cumulative: the newer of the two covers both.
        match (jpeg, h264) {
            (Some(a), Some(b)) => Some(if b.header.seq > a.header.seq { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    fn reset(&mut self) {
        self.jpeg.reset();
        if let Some(h264) = &mut self.h264 {
            h264.reset();
        }
    }
}
