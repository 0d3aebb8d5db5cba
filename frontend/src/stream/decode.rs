//! Turning received frames into pictures for the canvas, behind one small interface
//! ([`FrameDecoder`]), so that the rest of the pipeline does not care how a frame is encoded
//! or which browser API decodes it.
//!
//! A decoder is handed every frame as it arrives (its header and its encoded bytes) and hands
//! back, through the callback it was made with, one [`Decoded`] for each frame it decoded: the
//! [`Picture`] to draw, or why there is none. The decoder alone decides which frames it may
//! drop. The pipeline draws what comes back and then acknowledges that frame (acks are
//! cumulative, so they also cover the frames dropped before it). The callback is never called
//! from inside one of the trait's methods (the pipeline is borrowed then), only from a later
//! task.
//!
//! Today's one decoder, [`ImageBitmapDecoder`], is for JPEG: the payload becomes a `Blob` and
//! the browser decodes it with `createImageBitmap`, off the main thread and without passing
//! through wasm memory. Only one frame decodes at a time; frames arriving meanwhile replace
//! each other (a JPEG stands alone, so any of them may be dropped), and the newest is decoded
//! next. While paused it decodes nothing and keeps the newest frame back, unacknowledged, so
//! the server stops sending after its window; on resume that frame is handed back to be
//! acknowledged unseen ([`FrameDecoder::set_paused`]).
//!
//! The decoders the H.264 issue will add fit the same seam:
//! - WebCodecs (`VideoDecoder`): a frame depends on those before it back to a keyframe, so
//!   this decoder drops nothing after a keyframe and feeds every frame in order; each
//!   `VideoFrame` it outputs comes back, in its own time, as a new `Picture` variant through
//!   the same callback. What a pause means (keep decoding and close the output, or hold the
//!   frames since the last keyframe) is its own choice, made in `set_paused`.
//! - MediaSource: the payloads are appended to a `SourceBuffer` of a `<video>` element, and
//!   the element itself is the picture (a `Picture` variant), handed back whenever it shows a
//!   new frame (`requestVideoFrameCallback`).
//!
//! Either one is a new `FrameDecoder` and a new `Picture` variant (with its arm in `draw`);
//! the socket, the figures and the acknowledgements stay as they are.

use std::cell::RefCell;
use std::rc::Rc;

use framecast_shared::FrameHeader;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, ImageBitmap};

use super::now_ms;

/// What the acknowledgement, the figures and the canvas need of a frame besides its picture:
/// the connection that sent it, and its header.
#[derive(Debug, Clone)]
pub(super) struct FrameInfo {
    /// The generation of the connection that sent the frame, so that its ack never goes to
    /// a later connection.
    pub(super) generation: u32,
    /// The frame's header, as received.
    pub(super) header: FrameHeader,
}

/// A decoded picture that the canvas can draw: one variant per kind of the browser's
/// `CanvasImageSource`. It holds memory outside wasm until [`Picture::close`], which the
/// one who ends up with it calls, drawn or not.
#[derive(Debug)]
pub(super) enum Picture {
    /// From `createImageBitmap`.
    Bitmap(ImageBitmap),
}

impl Picture {
    /// Width of the picture in pixels, which the canvas takes on.
    pub(super) fn width(&self) -> u32 {
        match self {
            Picture::Bitmap(bitmap) => bitmap.width(),
        }
    }

    /// Height of the picture in pixels, which the canvas takes on.
    pub(super) fn height(&self) -> u32 {
        match self {
            Picture::Bitmap(bitmap) => bitmap.height(),
        }
    }

    /// Frees the picture's memory now rather than at the next garbage collection.
    pub(super) fn close(self) {
        match self {
            Picture::Bitmap(bitmap) => bitmap.close(),
        }
    }
}

/// What became of one frame a decoder took on, handed to the decoder's callback.
#[derive(Debug)]
pub(super) struct Decoded {
    /// The frame, to draw and acknowledge.
    pub(super) frame: FrameInfo,
    /// When its payload was handed to the browser's decoder (client clock, ms), for the
    /// overlay's decode-to-draw figure.
    pub(super) started_ms: f64,
    /// The picture, or the browser's error.
    pub(super) picture: Result<Picture, JsValue>,
}

impl Decoded {
    /// Frees the picture of a frame that nobody will draw.
    pub(super) fn discard(self) {
        if let Ok(picture) = self.picture {
            picture.close();
        }
    }
}

/// Turns the frames of one pipeline into [`Picture`]s; see the module doc for the contract.
pub(super) trait FrameDecoder {
    /// Takes a frame just received (`payload`: its encoded picture, a view into the
    /// message). The decoder decodes it now, keeps it for later, or drops it for a newer
    /// one; whatever it decodes comes back later through its callback.
    fn push(&mut self, frame: FrameInfo, payload: &Uint8Array);

    /// While `paused` (by the user, or because the tab is hidden) no pictures are wanted. On
    /// resume, returns the frame that the decoder held back and now will not decode: it is
    /// stale, and the pipeline acknowledges it unseen so that the server sends a fresh one.
    fn set_paused(&mut self, paused: bool) -> Option<FrameInfo>;

    /// The connection that sent the frames is gone: forgets the frames not yet decoded, and
    /// takes the next connection's first frame at once, even if a decode is still under way.
    fn reset(&mut self);
}

/// The JPEG decoder: the browser's `createImageBitmap` on a `Blob`, one frame at a time, the
/// newest waiting frame next.
pub(super) struct ImageBitmapDecoder {
    /// Shared with the decode in flight, which starts the next one when it is done.
    queue: Rc<RefCell<Queue>>,
    /// Where the decoded pictures go.
    on_decoded: Rc<dyn Fn(Decoded)>,
}

/// What [`ImageBitmapDecoder`] and its decode in flight share.
#[derive(Default)]
struct Queue {
    /// A frame is being decoded.
    decoding: bool,
    /// The newest frame received while decoding or paused: the next one to decode.
    next: Option<Jpeg>,
    /// No pictures are wanted (see [`FrameDecoder::set_paused`]).
    paused: bool,
}

/// A received JPEG, ready for `createImageBitmap`.
struct Jpeg {
    frame: FrameInfo,
    blob: Blob,
}

impl ImageBitmapDecoder {
    /// A decoder that hands each decoded frame to `on_decoded`.
    pub(super) fn new(on_decoded: impl Fn(Decoded) + 'static) -> ImageBitmapDecoder {
        ImageBitmapDecoder { queue: Rc::default(), on_decoded: Rc::new(on_decoded) }
    }
}

impl FrameDecoder for ImageBitmapDecoder {
    fn push(&mut self, frame: FrameInfo, payload: &Uint8Array) {
        let options = BlobPropertyBag::new();
        options.set_type("image/jpeg");
        let Ok(blob) = Blob::new_with_u8_array_sequence_and_options(&Array::of1(payload), &options) else {
            return;
        };
        let jpeg = Jpeg { frame, blob };
        {
            let mut queue = self.queue.borrow_mut();
            if queue.decoding || queue.paused {
                // Newest wins: a frame still waiting is replaced, and the ack of the newer one
                // covers it (acks are cumulative).
                queue.next = Some(jpeg);
                return;
            }
        }
        decode(self.queue.clone(), self.on_decoded.clone(), jpeg);
    }

    fn set_paused(&mut self, paused: bool) -> Option<FrameInfo> {
        let mut queue = self.queue.borrow_mut();
        queue.paused = paused;
        if paused { None } else { queue.next.take().map(|jpeg| jpeg.frame) }
    }

    fn reset(&mut self) {
        let mut queue = self.queue.borrow_mut();
        queue.decoding = false;
        queue.next = None;
    }
}

/// Decodes `jpeg`, hands the outcome to `on_decoded`, then goes on with the frame that waited
/// meanwhile (unless paused).
fn decode(queue: Rc<RefCell<Queue>>, on_decoded: Rc<dyn Fn(Decoded)>, jpeg: Jpeg) {
    queue.borrow_mut().decoding = true;
    let Some(window) = web_sys::window() else { return };
    let started_ms = now_ms();
    let promise = window.create_image_bitmap_with_blob(&jpeg.blob);
    wasm_bindgen_futures::spawn_local(async move {
        let picture = match promise {
            Ok(promise) => {
                JsFuture::from(promise).await.map(|bitmap| Picture::Bitmap(bitmap.unchecked_into()))
            }
            Err(e) => Err(e),
        };
        on_decoded(Decoded { frame: jpeg.frame, started_ms, picture });
        let next = {
            let mut q = queue.borrow_mut();
            q.decoding = false;
            if q.paused { None } else { q.next.take() }
        };
        if let Some(next) = next {
            decode(queue, on_decoded, next);
        }
    });
}
