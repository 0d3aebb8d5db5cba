//! The emulated camera's picture: scrolling colour bars, a bouncing box, and a panel with the
//! frame number and the wall-clock time, so a viewer can see at a glance that frames are live
//! and how old the one on screen is.

use font8x8::legacy::BASIC_LEGACY;

/// Colour bars, left to right (75% SMPTE-like).
const BARS: [[u8; 3]; 8] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
    [16, 16, 16],
];

/// Renders frames of one size into a reused RGB buffer.
#[derive(Debug)]
pub struct Pattern {
    width: usize,
    height: usize,
    /// Two periods of the bars side by side, so any scroll offset is one slice copy per row.
    bars: Vec<u8>,
    rgb: Vec<u8>,
}

impl Pattern {
    /// A renderer for `width` x `height` pictures.
    pub fn new(width: u32, height: u32) -> Pattern {
        let (width, height) = (width as usize, height as usize);
        let mut bars = Vec::with_capacity(width * 2 * 3);
        for x in 0..width * 2 {
            let bar = (x % width) * BARS.len() / width;
            bars.extend_from_slice(&BARS[bar]);
        }
        Pattern { width, height, bars, rgb: vec![0; width * height * 3] }
    }

    /// Draws frame `frame_no` stamped with `unix_us` (µs since the epoch) and returns the RGB
    /// pixels, row by row.
    pub fn render(&mut self, frame_no: u64, unix_us: u64) -> &[u8] {
        let (w, h) = (self.width, self.height);
        let step = (w / 160).max(2);
        let offset = (frame_no as usize * step) % w;
        let row_bytes = w * 3;
        for row in self.rgb.chunks_exact_mut(row_bytes) {
            row.copy_from_slice(&self.bars[offset * 3..offset * 3 + row_bytes]);
        }

        // A box bouncing between the edges, so motion is visible in both directions.
        let size = (h / 6).max(4);
        let bx = bounce(frame_no as usize * step, w.saturating_sub(size));
        let by = bounce(frame_no as usize * step / 2, h.saturating_sub(size));
        self.fill(bx, by, size, size, [255, 255, 255]);
        self.fill(bx + size / 4, by + size / 4, size / 2, size / 2, [0, 0, 0]);

        // Text panel: frame number and wall-clock time (UTC).
        let scale = (h / 180).max(1);
        let line1 = format!("FRAME {frame_no:>8}");
        let line2 = clock_text(unix_us);
        let chars = line1.len().max(line2.len());
        let pad = 2 * scale;
        let panel_w = (chars * 8 * scale + 2 * pad).min(w);
        let panel_h = (2 * 10 * scale + 2 * pad).min(h);
        self.fill(0, 0, panel_w, panel_h, [0, 0, 0]);
        self.text(pad, pad, scale, &line1);
        self.text(pad, pad + 10 * scale, scale, &line2);
        &self.rgb
    }

    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, color: [u8; 3]) {
        if x >= self.width {
            return;
        }
        let x_end = (x + w).min(self.width);
        let y_end = (y + h).min(self.height);
        for row in y..y_end {
            let start = (row * self.width + x) * 3;
            let end = (row * self.width + x_end) * 3;
            for px in self.rgb[start..end].chunks_exact_mut(3) {
                px.copy_from_slice(&color);
            }
        }
    }

    fn text(&mut self, x: usize, y: usize, scale: usize, text: &str) {
        for (i, ch) in text.bytes().enumerate() {
            let glyph = BASIC_LEGACY[(ch & 0x7F) as usize];
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    if bits & (1 << gx) != 0 {
                        self.fill(x + (i * 8 + gx) * scale, y + gy * scale, scale, scale, [255, 255, 255]);
                    }
                }
            }
        }
    }
}

/// Position moving back and forth over `0..=span` as `t` grows.
fn bounce(t: usize, span: usize) -> usize {
    if span == 0 {
        return 0;
    }
    let period = 2 * span;
    let p = t % period;
    if p <= span { p } else { period - p }
}

/// `HH:MM:SS.mmm UTC` for a time in µs since the Unix epoch.
pub fn clock_text(unix_us: u64) -> String {
    let ms = (unix_us / 1000) % 1000;
    let secs = unix_us / 1_000_000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02}.{ms:03} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_frames_differ() {
        let mut p = Pattern::new(320, 180);
        let a = p.render(1, 0).to_vec();
        let b = p.render(2, 0).to_vec();
        let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert!(changed > a.len() / 100, "only {changed} bytes changed");
    }

    #[test]
    fn clock_text_is_utc_with_millis() {
        // 2023-11-14T22:13:20.123Z
        assert_eq!(clock_text(1_700_000_000_123_456), "22:13:20.123 UTC");
    }

    #[test]
    fn bounce_stays_in_range_and_turns_around() {
        assert_eq!(bounce(0, 10), 0);
        assert_eq!(bounce(10, 10), 10);
        assert_eq!(bounce(13, 10), 7);
        assert_eq!(bounce(20, 10), 0);
        assert!((0..1000).all(|t| bounce(t, 7) <= 7));
        assert_eq!(bounce(5, 0), 0);
    }

    #[test]
    fn tiny_sizes_do_not_panic() {
        let mut p = Pattern::new(16, 16);
        for n in 0..50 {
            assert_eq!(p.render(n, n * 1000).len(), 16 * 16 * 3);
        }
    }
}
