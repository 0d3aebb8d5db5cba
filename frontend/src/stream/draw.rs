//! The canvas: drawing decoded pictures on it, measuring it for the server, and marking on
//! the element what it shows (`data-frames-drawn`, `data-captured-us`, `data-recorded`) for
//! tests and tools that look at the page. People see a recorded picture marked by the status
//! line and the `recorded` class, which come from the view state (`state`).

use framecast_shared::FrameHeader;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use super::decode::Picture;
use super::{Shared, now_ms};

/// The canvas a pipeline draws on, with its 2D context.
pub(super) struct Canvas {
    element: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
}

impl Canvas {
    /// The canvas and its 2D context; `None` if this browser cannot draw on it.
    pub(super) fn new(element: HtmlCanvasElement) -> Option<Canvas> {
        let ctx = element
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())?;
        Some(Canvas { element, ctx })
    }

    /// The area the picture is drawn in, in device pixels (at most `max_density` per CSS
    /// pixel): `auto` never asks for more.
    pub(super) fn device_px(&self, max_density: Option<f64>) -> Option<[u32; 2]> {
        let area = self.element.parent_element()?;
        let ratio = web_sys::window()?.device_pixel_ratio().min(max_density.unwrap_or(f64::MAX)).max(1.0);
        let (w, h) = (f64::from(area.client_width()) * ratio, f64::from(area.client_height()) * ratio);
        (w >= 1.0 && h >= 1.0).then(|| [w.round() as u32, h.round() as u32])
    }

    /// Draws `picture` at the canvas's own size, taking on the picture's size first if it
    /// differs, and closes the picture.
    fn paint(&self, picture: Picture) {
        if self.element.width() != picture.width() || self.element.height() != picture.height() {
            self.element.set_width(picture.width());
            self.element.set_height(picture.height());
        }
        let _ = match &picture {
            Picture::Bitmap(bitmap) => self.ctx.draw_image_with_image_bitmap(bitmap, 0.0, 0.0),
            Picture::Frame(frame) => self.ctx.draw_image_with_video_frame(frame, 0.0, 0.0),
            Picture::Video(video) => self.ctx.draw_image_with_html_video_element(video, 0.0, 0.0),
        };
        picture.close();
    }

    /// What is on the canvas, for tests and tools that look at the page: how many frames
    /// were drawn, and when the one shown was captured and whether it is recorded.
    fn mark(&self, header: &FrameHeader, frames_drawn: u64) {
        let canvas = &self.element;
        let _ = canvas.set_attribute("data-frames-drawn", &frames_drawn.to_string());
        let _ = canvas.set_attribute("data-captured-us", &header.captured_us.to_string());
        let _ = canvas.set_attribute("data-recorded", if header.recorded { "true" } else { "false" });
    }
}

/// Draws a decoded frame and counts it in the figures and the playback position; false if it
/// was not drawn (paused or stopped meanwhile: the picture is only closed).
pub(super) fn draw(pipeline: &Shared, header: &FrameHeader, picture: Picture) -> bool {
    let mut guard = pipeline.borrow_mut();
    let p = &mut *guard;
    if p.view.paused() || p.stopped {
        picture.close();
        return false;
    }
    p.canvas.paint(picture);
    let now = now_ms();
    let frames_drawn = p.figures.on_drawn(now, header, &p.clock);
    p.view.on_drawn(header);
    p.canvas.mark(header, frames_drawn);
    true
}
