//! Motion in a small luma picture, against a background model: pure logic, no codec, no
//! clock (each picture comes with its time), so every rule here is unit-tested on made-up
//! pictures.
//!
//! The model, per pixel: the background (a running mean) and the noise (a running mean of
//! the absolute difference from it). A pixel has changed when it differs from its background
//! by more than `k` times its noise plus a floor, after the picture's median difference is
//! taken off: that removes a light change of the whole picture at once (a cloud, auto
//! exposure). The background follows slow changes (dusk, a parked car, within
//! [`Params::BACKGROUND_SECS`]; a changed pixel ten times slower), and noise is learnt per
//! pixel (a flickering leaf learns a larger noise than a wall).
//!
//! Changed pixels count only in blocks of [`BLOCK`] x [`BLOCK`] where enough of them changed:
//! single pixels are noise, not something moving. Pixels outside the zone (a mask the user
//! painted) never count.

/// Side of the blocks changed pixels are counted in (in pixels of the small picture: at 1/8
/// of a 1280x720 camera a block is 32x32 camera pixels).
pub const BLOCK: usize = 4;

/// What a detector looks for (`--motion-sensitivity`, `--motion-min-area`, Settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// 1 (only strong changes) to 100 (the faintest): how far from its background a pixel
    /// must be to count as changed.
    pub sensitivity: u8,
    /// The share of the watched picture (0.0–1.0) that must change to be motion.
    pub min_area: f32,
}

impl Params {
    /// How long the background takes to follow a change (the time constant, seconds).
    pub const BACKGROUND_SECS: f32 = 4.0;
    /// Seconds of pictures learnt before anything is reported.
    pub const WARM_UP_SECS: f32 = 2.0;

    /// Multiple of a pixel's noise a change must pass.
    fn noise_factor(&self) -> f32 {
        2.0 + f32::from(100 - self.sensitivity.clamp(1, 100)) * 0.06
    }

    /// Smallest change that counts, in luma levels (0–255).
    fn floor(&self) -> f32 {
        3.0 + f32::from(100 - self.sensitivity.clamp(1, 100)) * 0.15
    }
}

impl Default for Params {
    fn default() -> Params {
        Params { sensitivity: 50, min_area: 0.005 }
    }
}

/// What one picture showed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Detection {
    /// Whether it is motion: `area` reached [`Params::min_area`] (never while warming up).
    pub motion: bool,
    /// Share of the watched picture that changed (0.0–1.0).
    pub area: f32,
    /// How strong the change is: the mean difference from the background of the changed
    /// pixels, in luma levels (0–255).
    pub strength: f32,
}

/// The background model of one camera at one picture size.
#[derive(Debug, Clone)]
pub struct Detector {
    width: usize,
    height: usize,
    params: Params,
    background: Vec<f32>,
    noise: Vec<f32>,
    /// `true`: watched. Everything when no zone is set.
    zone: Vec<bool>,
    watched: usize,
    /// Time of the last picture, µs.
    last_us: Option<u64>,
    /// Seconds learnt so far.
    learnt_secs: f32,
    /// Scratch: this picture's difference per pixel, and changed marks.
    diff: Vec<f32>,
    changed: Vec<bool>,
}

impl Detector {
    /// A detector for `width` x `height` pictures, watching all of them.
    pub fn new(width: usize, height: usize, params: Params) -> Detector {
        let n = width * height;
        Detector {
            width,
            height,
            params,
            background: Vec::new(),
            noise: vec![1.0; n],
            zone: vec![true; n],
            watched: n,
            last_us: None,
            learnt_secs: 0.0,
            diff: vec![0.0; n],
            changed: vec![false; n],
        }
    }

    /// The picture size this detector takes.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// New sensitivity and area, from now on (the model is kept).
    pub fn set_params(&mut self, params: Params) {
        self.params = params;
    }

    /// Watches only where `watched(x, y)` says, x and y in 0.0–1.0 of the picture (the
    /// centre of each pixel): a zone mask at any resolution maps onto this one.
    pub fn set_zone(&mut self, watched: impl Fn(f32, f32) -> bool) {
        for y in 0..self.height {
            for x in 0..self.width {
                let (fx, fy) = ((x as f32 + 0.5) / self.width as f32, (y as f32 + 0.5) / self.height as f32);
                self.zone[y * self.width + x] = watched(fx, fy);
            }
        }
        self.watched = self.zone.iter().filter(|w| **w).count();
    }

    /// Looks at the next picture (luma, `stride` bytes per row), taken at `at_us`.
    pub fn detect(&mut self, luma: &[u8], stride: usize, at_us: u64) -> Detection {
        let (w, h) = (self.width, self.height);
        assert!(stride >= w && luma.len() >= (h - 1) * stride + w, "a {w}x{h} picture");
        let pixel = |i: usize| f32::from(luma[(i / w) * stride + i % w]);
        let dt = self.last_us.map_or(0.0, |last| at_us.saturating_sub(last) as f32 / 1e6).min(10.0);
        self.last_us = Some(at_us);
        if self.background.is_empty() {
            self.background = (0..w * h).map(pixel).collect();
            return Detection::default();
        }
        let rate = 1.0 - (-dt / Params::BACKGROUND_SECS).exp();
        // The whole picture's light change: the median difference of the watched pixels.
        for i in 0..w * h {
            self.diff[i] = pixel(i) - self.background[i];
        }
        let offset = median(self.diff.iter().zip(&self.zone).filter(|(_, z)| **z).map(|(d, _)| *d));
        let (k, floor) = (self.params.noise_factor(), self.params.floor());
        for i in 0..w * h {
            let d = self.diff[i] - offset;
            self.diff[i] = d;
            self.changed[i] = self.zone[i] && d.abs() > k * self.noise[i] + floor;
        }
        let (area, strength) = self.count_blocks();
        // Learn: the background follows the picture (ten times slower where it changed, so
        // something that stays becomes background), the noise follows unchanged pixels.
        for i in 0..w * h {
            let r = if self.changed[i] { rate / 10.0 } else { rate };
            self.background[i] += r * (self.diff[i] + offset);
            if !self.changed[i] {
                self.noise[i] += rate * (self.diff[i].abs() - self.noise[i]);
                self.noise[i] = self.noise[i].max(0.5);
            }
        }
        let warm = self.learnt_secs >= Params::WARM_UP_SECS;
        self.learnt_secs += dt;
        if !warm {
            return Detection::default();
        }
        Detection { motion: area > 0.0 && area >= self.params.min_area, area, strength }
    }

    /// The share of the watched picture changed in blocks where at least a quarter of the
    /// watched pixels changed, and the mean difference of those pixels.
    fn count_blocks(&self) -> (f32, f32) {
        let (w, h) = (self.width, self.height);
        let (mut count, mut sum) = (0usize, 0.0f32);
        for by in (0..h).step_by(BLOCK) {
            for bx in (0..w).step_by(BLOCK) {
                let (mut watched, mut changed, mut diff) = (0usize, 0usize, 0.0f32);
                for y in by..(by + BLOCK).min(h) {
                    for x in bx..(bx + BLOCK).min(w) {
                        let i = y * w + x;
                        watched += usize::from(self.zone[i]);
                        if self.changed[i] {
                            changed += 1;
                            diff += self.diff[i].abs();
                        }
                    }
                }
                if changed > 0 && changed * 4 >= watched {
                    count += changed;
                    sum += diff;
                }
            }
        }
        if count == 0 || self.watched == 0 {
            return (0.0, 0.0);
        }
        (count as f32 / self.watched as f32, sum / count as f32)
    }
}

/// The median of `values` (0 for none), to the nearest of a 256-level histogram: differences
/// of 8-bit pictures.
fn median(values: impl Iterator<Item = f32>) -> f32 {
    let mut histogram = [0usize; 512];
    let mut n = 0;
    for v in values {
        histogram[(v.round() as i32 + 256).clamp(0, 511) as usize] += 1;
        n += 1;
    }
    let mut seen = 0;
    for (bin, count) in histogram.iter().enumerate() {
        seen += count;
        if seen * 2 > n {
            return bin as f32 - 256.0;
        }
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 160;
    const H: usize = 90;
    const STEP_US: u64 = 200_000; // 5 pictures a second

    /// A repeatable noise source (xorshift), so a failing case fails the same way each run.
    struct Noise(u64);

    impl Noise {
        /// A sample of roughly normal noise with standard deviation `sigma`.
        fn next(&mut self, sigma: f32) -> f32 {
            let mut sum = 0.0;
            for _ in 0..4 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                sum += (self.0 % 10_000) as f32 / 10_000.0;
            }
            (sum - 2.0) * sigma * 1.73
        }
    }

    /// A textured scene at brightness `light` (0.0–1.0 times its levels) with sensor noise,
    /// and a square of side `side` with its top left at `square` when given.
    fn scene(noise: &mut Noise, light: f32, square: Option<(usize, usize)>, side: usize) -> Vec<u8> {
        let mut picture = vec![0u8; W * H];
        for y in 0..H {
            for x in 0..W {
                let texture = 60.0 + ((x * 7 + y * 13) % 50) as f32 + 40.0 * ((x / 20 + y / 15) % 2) as f32;
                let inside = square
                    .is_some_and(|(sx, sy)| (sx..sx + side).contains(&x) && (sy..sy + side).contains(&y));
                let value = if inside { 235.0 } else { texture * light } + noise.next(3.0);
                picture[y * W + x] = value.round().clamp(0.0, 255.0) as u8;
            }
        }
        picture
    }

    /// Runs `pictures` (index → picture) through a detector from time 0, 5 a second.
    fn run(detector: &mut Detector, n: usize, mut picture: impl FnMut(usize) -> Vec<u8>) -> Vec<Detection> {
        (0..n).map(|i| detector.detect(&picture(i), W, i as u64 * STEP_US)).collect()
    }

    #[test]
    fn noise_alone_is_not_motion() {
        let mut noise = Noise(1);
        let mut detector = Detector::new(W, H, Params::default());
        // Five minutes of a still scene.
        let seen = run(&mut detector, 5 * 60 * 5, |_| scene(&mut noise, 1.0, None, 0));
        let worst = seen.iter().map(|d| d.area).fold(0.0, f32::max);
        assert!(seen.iter().all(|d| !d.motion), "largest area {worst}");
    }

    #[test]
    fn a_slow_light_ramp_and_a_sudden_exposure_change_are_not_motion() {
        let mut noise = Noise(2);
        let mut detector = Detector::new(W, H, Params::default());
        // Dusk: the light halves over two minutes.
        let ramp = run(&mut detector, 600, |i| scene(&mut noise, 1.0 - 0.5 * i as f32 / 600.0, None, 0));
        assert!(ramp.iter().all(|d| !d.motion), "{:?}", ramp.iter().find(|d| d.motion));
        // Auto exposure brightens the whole picture at once by a fifth.
        let jump = run(&mut detector, 50, |i| scene(&mut noise, if i < 10 { 0.5 } else { 0.6 }, None, 0));
        assert!(jump.iter().all(|d| !d.motion), "{:?}", jump.iter().find(|d| d.motion));
    }

    #[test]
    fn a_crossing_square_is_found_from_its_first_picture_to_its_last() {
        let mut noise = Noise(3);
        let mut detector = Detector::new(W, H, Params::default());
        // 20 s still, then a 12x12 square (1 % of the picture) crosses in 4 s, then still.
        let crossing = 100..120;
        let seen = run(&mut detector, 200, |i| {
            let square = crossing.contains(&i).then(|| ((i - 100) * 7, 40));
            scene(&mut noise, 1.0, square, 12)
        });
        for (i, d) in seen.iter().enumerate() {
            assert_eq!(d.motion, crossing.contains(&i), "picture {i}: {d:?}");
        }
        let during = &seen[crossing];
        let mean_area = during.iter().map(|d| d.area).sum::<f32>() / during.len() as f32;
        // The square's place: 1 % of the picture (its background is still the scene).
        assert!((0.007..0.015).contains(&mean_area), "area {mean_area}");
        assert!(during.iter().all(|d| d.strength > 30.0), "{during:?}");
    }

    #[test]
    fn an_object_that_stays_becomes_background() {
        let mut noise = Noise(4);
        let mut detector = Detector::new(W, H, Params::default());
        let seen = run(&mut detector, 5 * 120, |i| scene(&mut noise, 1.0, (i >= 25).then_some((60, 30)), 16));
        assert!(seen[26].motion);
        assert!(!seen.last().unwrap().motion, "still motion after 2 minutes of a parked square");
    }

    #[test]
    fn nothing_outside_the_zone_counts() {
        let mut noise = Noise(5);
        let mut detector = Detector::new(W, H, Params::default());
        // Ignore the left half: a square crossing there is not motion, in the right half it is.
        detector.set_zone(|x, _| x >= 0.5);
        let seen = run(&mut detector, 80, |i| {
            let square = match i {
                30..40 => Some(((i - 30) * 6, 20)),
                60..70 => Some((90 + (i - 60) * 6, 20)),
                _ => None,
            };
            scene(&mut noise, 1.0, square, 12)
        });
        assert!(seen[30..40].iter().all(|d| !d.motion), "{:?}", &seen[30..40]);
        assert!(seen[60..70].iter().all(|d| d.motion), "{:?}", &seen[60..70]);
    }

    #[test]
    fn min_area_and_sensitivity_decide() {
        let mut noise = Noise(6);
        let picture =
            |noise: &mut Noise, i: usize| scene(noise, 1.0, (i >= 20).then(|| ((i - 20) * 5, 10)), 10);
        // A 10x10 square moving: 0.7 % of the picture changes.
        let small = |params| {
            let mut detector = Detector::new(W, H, params);
            let mut noise = Noise(6);
            run(&mut detector, 25, |i| picture(&mut noise, i))[21].motion
        };
        assert!(small(Params { sensitivity: 50, min_area: 0.005 }));
        assert!(!small(Params { sensitivity: 50, min_area: 0.02 }));
        // A faint change (12 levels over a flat area) counts only for a sensitive detector.
        let mut faint = |sensitivity| {
            let mut detector = Detector::new(W, H, Params { sensitivity, min_area: 0.005 });
            run(&mut detector, 25, |i| {
                let mut p = scene(&mut noise, 1.0, None, 0);
                if i >= 20 {
                    for y in 30..50 {
                        for x in 30..70 {
                            p[y * W + x] = p[y * W + x].saturating_add(12);
                        }
                    }
                }
                p
            })[20]
                .motion
        };
        assert!(faint(95));
        assert!(!faint(20));
    }

    #[test]
    fn nothing_is_reported_while_learning() {
        let mut noise = Noise(7);
        let mut detector = Detector::new(W, H, Params::default());
        let seen = run(&mut detector, 10, |i| scene(&mut noise, 1.0, (i % 2 == 0).then_some((10, 10)), 30));
        assert!(seen.iter().all(|d| !d.motion));
    }

    #[test]
    fn the_median_of_differences() {
        assert_eq!(median([1.0, -3.0, 2.0].into_iter()), 1.0);
        assert_eq!(median(std::iter::empty()), 0.0);
        assert_eq!(median([-300.0; 3].into_iter()), -256.0);
    }
}
