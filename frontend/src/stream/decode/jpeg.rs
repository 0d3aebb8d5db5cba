//! The JPEG decoder: the browser's `createImageBitmap` on a `Blob`, off the main thread and
//! without passing through wasm memory. Only one frame decodes at a time; frames arriving
//! meanwhile replace each other (a JPEG stands alone, so any of them may be dropped), and the
//! newest is decoded next. While paused it decodes nothing and keeps the newest frame back,
//! unacknowledged, so the server stops sending after its window; on resume that frame is
//! handed back to be acknowledged unseen.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag};

use super::{Decoded, FrameDecoder, FrameInfo, Picture};
use crate::stream::now_ms;

/// The JPEG decoder: the browser's `createImageBitmap` on a `Blob`, one frame at a time, the
/// newest waiting frame next.
pub(in crate::stream) struct ImageBitmapDecoder {
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
    pub(in crate::stream) fn new(on_decoded: impl Fn(Decoded) + 'static) -> ImageBitmapDecoder {
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
