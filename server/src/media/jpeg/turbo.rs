//! Every JPEG the server encodes or decodes goes through libjpeg-turbo (the `turbojpeg`
//! crate, built from its bundled source with the SIMD paths required: SSE2/AVX2 on x86, NEON
//! on ARM). Measured on one core of this machine kind at 1280x720, 4:2:0 (`cargo xtask bench`,
//! "encode" lines): several times the frame rate of the pure-Rust encoder used before.
//!
//! [`Encoder`] turns packed RGB into a camera-like 4:2:0 JPEG (the emulated camera, YUYV
//! webcams). [`Scaler`] makes a smaller JPEG of a JPEG: libjpeg-turbo decodes at n/8 of the
//! size inside its inverse DCT (a 1/4 decode costs a fraction of a full one) straight into
//! YCbCr planes, which are encoded again without any colour conversion.

use bytes::Bytes;
use turbojpeg::{Compressor, Decompressor, Image, PixelFormat, ScalingFactor, Subsamp, YuvImage};

use super::Jpeg;
use crate::media::bounds::MAX_JPEG_SIDE;
use crate::media::{I420, PlaneBuffer};

/// Why a picture could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

impl CodecError {
    /// What went wrong, in words.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl From<turbojpeg::Error> for CodecError {
    fn from(e: turbojpeg::Error) -> CodecError {
        CodecError(e.to_string())
    }
}

/// A reusable RGB → JPEG encoder (4:2:0).
pub struct Encoder {
    compressor: Compressor,
    quality: u8,
    /// Planes stretched to full range (H.264 pictures).
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("quality", &self.quality).finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder at `quality` (1–100).
    pub fn new(quality: u8) -> Result<Encoder, CodecError> {
        let mut compressor = Compressor::new()?;
        compressor.set_subsamp(Subsamp::Sub2x2)?;
        compressor.set_quality(i32::from(quality.clamp(1, 100)))?;
        Ok(Encoder { compressor, quality, scratch: Vec::new() })
    }

    /// Encodes packed RGB of `width` x `height`.
    pub fn encode_rgb(&mut self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, CodecError> {
        check_side(width, height)?;
        let (w, h) = (width as usize, height as usize);
        if rgb.len() < w * h * 3 {
            return Err(CodecError(format!("{} bytes are too few for {width}x{height} RGB", rgb.len())));
        }
        let image =
            Image { pixels: &rgb[..w * h * 3], width: w, pitch: w * 3, height: h, format: PixelFormat::RGB };
        Ok(self.compressor.compress_to_vec(image)?)
    }

    /// Encodes packed YUYV (4:2:2, BT.601 video range, as webcams send it) as a 4:2:2 JPEG:
    /// the samples are only spread to planes and stretched to JPEG's full range, no RGB on
    /// the way.
    pub fn encode_yuyv(&mut self, yuyv: &[u8], width: u32, height: u32) -> Result<Vec<u8>, CodecError> {
        check_side(width, height)?;
        let (w, h) = (width as usize, height as usize);
        if !w.is_multiple_of(2) {
            return Err(CodecError(format!("YUYV needs an even width, not {width}")));
        }
        if yuyv.len() < w * h * 2 {
            return Err(CodecError(format!("{} bytes are too few for {width}x{height} YUYV", yuyv.len())));
        }
        let (luma, chroma) = full_range_tables();
        let mut planes = vec![0u8; w * h * 2];
        let (y_plane, uv) = planes.split_at_mut(w * h);
        let (u_plane, v_plane) = uv.split_at_mut(w * h / 2);
        for (i, quad) in yuyv[..w * h * 2].chunks_exact(4).enumerate() {
            y_plane[2 * i] = luma[quad[0] as usize];
            y_plane[2 * i + 1] = luma[quad[2] as usize];
            u_plane[i] = chroma[quad[1] as usize];
            v_plane[i] = chroma[quad[3] as usize];
        }
        self.compressor.set_subsamp(Subsamp::Sub2x1)?;
        let image = turbojpeg::YuvPlanesImage {
            y_plane: &*y_plane,
            u_plane: &*u_plane,
            v_plane: &*v_plane,
            width: w,
            height: h,
            y_stride: w,
            u_stride: w / 2,
            v_stride: w / 2,
            subsamp: Subsamp::Sub2x1,
        };
        let jpeg = self.compressor.compress_yuv_planes_to_vec(&image);
        self.compressor.set_subsamp(Subsamp::Sub2x2)?;
        Ok(jpeg?)
    }
}

impl Encoder {
    /// Encodes 4:2:0 planes in video range (what H.264 decoders give) as a 4:2:0 JPEG, the
    /// samples stretched to JPEG's full range on the way.
    pub fn encode_video_i420(&mut self, picture: I420<'_>) -> Result<Vec<u8>, CodecError> {
        picture.check().map_err(CodecError)?;
        let (w, h) = (picture.width, picture.height);
        let (luma, chroma) = full_range_tables();
        self.scratch.clear();
        for row in picture.y.chunks(picture.strides.0).take(h) {
            self.scratch.extend(row[..w].iter().map(|&v| luma[v as usize]));
        }
        for plane in [picture.u, picture.v] {
            for row in plane.chunks(picture.strides.1).take(h / 2) {
                self.scratch.extend(row[..w / 2].iter().map(|&v| chroma[v as usize]));
            }
        }
        let (y_plane, uv) = self.scratch.split_at(w * h);
        let (u_plane, v_plane) = uv.split_at(w * h / 4);
        let image = turbojpeg::YuvPlanesImage {
            y_plane,
            u_plane,
            v_plane,
            width: w,
            height: h,
            y_stride: w,
            u_stride: w / 2,
            v_stride: w / 2,
            subsamp: Subsamp::Sub2x2,
        };
        Ok(self.compressor.compress_yuv_planes_to_vec(&image)?)
    }
}

/// A small grey picture: luma only, rows packed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grey {
    /// `width * height` samples.
    pub pixels: Vec<u8>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// Decodes JPEGs into small grey pictures, for looking at them rather than showing them
/// (motion detection): libjpeg-turbo scales inside its inverse DCT and, asked for grey,
/// skips the chroma's inverse DCT and the colour conversion, so a 1280x720 JPEG becomes
/// 160x90. It must still read every Huffman-coded coefficient to find the next block: on
/// the benchmark's noisy 103 KB pictures that is about half of a full decode (`cargo xtask
/// bench`, motion part).
pub struct GreyDecoder {
    decompressor: Decompressor,
}

impl std::fmt::Debug for GreyDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GreyDecoder").finish_non_exhaustive()
    }
}

impl GreyDecoder {
    /// A decoder.
    pub fn new() -> Result<GreyDecoder, CodecError> {
        Ok(GreyDecoder { decompressor: Decompressor::new()? })
    }

    /// `jpeg` in grey at the smallest of 1/8, 1/4, 1/2 or its own size that is still at
    /// least `min_width` wide (or its own size, when it is narrower), into `out`.
    pub fn decode(&mut self, jpeg: &[u8], min_width: usize, out: &mut Grey) -> Result<(), CodecError> {
        let header = self.decompressor.read_header(jpeg)?;
        check_side(header.width as u32, header.height as u32)?;
        let eighths = [1, 2, 4, 8]
            .into_iter()
            .find(|&n| ScalingFactor::new(n, 8).scale(header.width) >= min_width.min(header.width))
            .unwrap_or(8);
        let factor = ScalingFactor::new(eighths, 8);
        self.decompressor.set_scaling_factor(factor)?;
        let (width, height) = (factor.scale(header.width), factor.scale(header.height));
        out.pixels.resize(width * height, 0);
        out.width = width;
        out.height = height;
        let image =
            Image { pixels: &mut out.pixels[..], width, pitch: width, height, format: PixelFormat::GRAY };
        self.decompressor.decompress(jpeg, image)?;
        Ok(())
    }
}

/// JPEG's full range 0–255 to video range (luma 16–235, chroma 16–240), what H.264 encoders
/// are fed.
fn video_range_tables() -> &'static ([u8; 256], [u8; 256]) {
    static TABLES: std::sync::OnceLock<([u8; 256], [u8; 256])> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        (
            std::array::from_fn(|v| (16.0 + v as f32 * 219.0 / 255.0).round() as u8),
            std::array::from_fn(|v| (128.0 + (v as f32 - 128.0) * 224.0 / 255.0).round() as u8),
        )
    })
}

/// Video range (luma 16–235, chroma 16–240) to JPEG's full range 0–255.
fn full_range_tables() -> &'static ([u8; 256], [u8; 256]) {
    static TABLES: std::sync::OnceLock<([u8; 256], [u8; 256])> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let stretch = |v: usize, low: f32, span: f32, mid: f32| {
            ((v as f32 - low) * 255.0 / span + mid).round().clamp(0.0, 255.0) as u8
        };
        (
            std::array::from_fn(|v| stretch(v, 16.0, 219.0, 0.0)),
            std::array::from_fn(|v| stretch(v, 128.0, 224.0, 128.0)),
        )
    })
}

/// Encodes packed RGB as a 4:2:0 JPEG at `quality`, with a one-off encoder.
pub fn encode_rgb(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, CodecError> {
    Encoder::new(quality)?.encode_rgb(rgb, width, height)
}

fn check_side(width: u32, height: u32) -> Result<(), CodecError> {
    if width == 0 || height == 0 || width > MAX_JPEG_SIDE || height > MAX_JPEG_SIDE {
        return Err(CodecError(format!("{width}x{height} is not a size a JPEG can have")));
    }
    Ok(())
}

/// The size of a `width` x `height` picture decoded at `eighths`/8 (rounded up, as libjpeg
/// does).
pub fn scaled_size(width: u32, height: u32, eighths: u8) -> (u32, u32) {
    let n = u32::from(eighths);
    ((width * n).div_ceil(8), (height * n).div_ceil(8))
}

/// Makes smaller JPEGs of JPEGs, reusing its buffers from frame to frame.
pub struct Scaler {
    decompressor: Decompressor,
    compressor: Compressor,
    /// Decoded planes (or pixels, for the RGB fallback).
    buffer: Vec<u8>,
}

impl std::fmt::Debug for Scaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scaler").finish_non_exhaustive()
    }
}

impl Scaler {
    /// A scaler with libjpeg-turbo's decoder and encoder ready and an empty buffer.
    pub fn new() -> Result<Scaler, CodecError> {
        Ok(Scaler { decompressor: Decompressor::new()?, compressor: Compressor::new()?, buffer: Vec::new() })
    }

    /// `jpeg` decoded at `eighths`/8 of its size (1–8) and encoded again at `quality`. The
    /// chroma subsampling stays the source's; a source libjpeg-turbo cannot decode to planes
    /// (an unusual subsampling) goes through RGB and comes out 4:2:0.
    pub fn scale(&mut self, jpeg: &[u8], eighths: u8, quality: u8) -> Result<Jpeg, CodecError> {
        if !(1..=8).contains(&eighths) {
            return Err(CodecError(format!("cannot scale by {eighths}/8")));
        }
        let header = self.decompressor.read_header(jpeg)?;
        let factor = ScalingFactor::new(usize::from(eighths), 8);
        self.decompressor.set_scaling_factor(factor)?;
        self.compressor.set_quality(i32::from(quality.clamp(1, 100)))?;
        let (width, height) = (factor.scale(header.width), factor.scale(header.height));
        let planar =
            matches!(header.subsamp, Subsamp::None | Subsamp::Sub2x1 | Subsamp::Sub2x2 | Subsamp::Gray)
                && !header.is_lossless;
        let data = if planar {
            self.scale_planes(jpeg, width, height, header.subsamp)
        } else {
            Err(CodecError("not planar".into()))
        };
        let data = match data {
            Ok(data) => data,
            Err(_) => self.scale_rgb(jpeg, width, height)?,
        };
        Ok(Jpeg { data: Bytes::from(data), width: width as u32, height: height as u32 })
    }

    /// `jpeg` decoded at `eighths`/8 of its size into video-range 4:2:0 planes (what H.264
    /// encodes), cut to an even size. Any chroma subsampling is brought to 4:2:0; a
    /// subsampling libjpeg-turbo cannot decode to planes goes through RGB.
    pub fn decode_i420(&mut self, jpeg: &[u8], eighths: u8, out: &mut PlaneBuffer) -> Result<(), CodecError> {
        if !(1..=8).contains(&eighths) {
            return Err(CodecError(format!("cannot scale by {eighths}/8")));
        }
        let header = self.decompressor.read_header(jpeg)?;
        let factor = ScalingFactor::new(usize::from(eighths), 8);
        self.decompressor.set_scaling_factor(factor)?;
        let (width, height) = (factor.scale(header.width), factor.scale(header.height));
        if width < 16 || height < 16 {
            return Err(CodecError(format!("{width}x{height} is too small for H.264")));
        }
        out.resize(width & !1, height & !1);
        let planar =
            matches!(header.subsamp, Subsamp::None | Subsamp::Sub2x1 | Subsamp::Sub2x2 | Subsamp::Gray)
                && !header.is_lossless;
        if planar {
            let len = turbojpeg::yuv_pixels_len(width, 1, height, header.subsamp)?;
            self.buffer.resize(len, 0);
            let image = YuvImage {
                pixels: &mut self.buffer[..len],
                width,
                align: 1,
                height,
                subsamp: header.subsamp,
            };
            self.decompressor.decompress_to_yuv(jpeg, image)?;
            to_video_i420(&self.buffer[..len], width, height, header.subsamp, out);
        } else {
            let len = width * height * 3;
            self.buffer.resize(len, 0);
            let image = Image {
                pixels: &mut self.buffer[..len],
                width,
                pitch: width * 3,
                height,
                format: PixelFormat::RGB,
            };
            self.decompressor.decompress(jpeg, image)?;
            rgb_to_video_i420(&self.buffer[..len], width, out);
        }
        Ok(())
    }

    fn scale_planes(
        &mut self,
        jpeg: &[u8],
        width: usize,
        height: usize,
        subsamp: Subsamp,
    ) -> Result<Vec<u8>, CodecError> {
        let align = 4;
        let len = turbojpeg::yuv_pixels_len(width, align, height, subsamp)?;
        self.buffer.resize(len, 0);
        let image = YuvImage { pixels: &mut self.buffer[..len], width, align, height, subsamp };
        self.decompressor.decompress_to_yuv(jpeg, image)?;
        let image = YuvImage { pixels: &self.buffer[..len], width, align, height, subsamp };
        Ok(self.compressor.compress_yuv_to_vec(image)?)
    }

    fn scale_rgb(&mut self, jpeg: &[u8], width: usize, height: usize) -> Result<Vec<u8>, CodecError> {
        let len = width * height * 3;
        self.buffer.resize(len, 0);
        let image = Image {
            pixels: &mut self.buffer[..len],
            width,
            pitch: width * 3,
            height,
            format: PixelFormat::RGB,
        };
        self.decompressor.decompress(jpeg, image)?;
        self.compressor.set_subsamp(Subsamp::Sub2x2)?;
        let image =
            Image { pixels: &self.buffer[..len], width, pitch: width * 3, height, format: PixelFormat::RGB };
        Ok(self.compressor.compress_to_vec(image)?)
    }
}

/// Planes as libjpeg-turbo decodes them (rows packed, the JPEG's subsampling, full range) to
/// video-range 4:2:0 of `out`'s (even) size.
fn to_video_i420(planes: &[u8], width: usize, height: usize, subsamp: Subsamp, out: &mut PlaneBuffer) {
    let (luma, chroma) = video_range_tables();
    let (w, h) = (out.width, out.height);
    let (cw, ch) = match subsamp {
        Subsamp::Sub2x2 => (width.div_ceil(2), height.div_ceil(2)),
        Subsamp::Sub2x1 => (width.div_ceil(2), height),
        _ => (width, height),
    };
    let (y_out, u_out, v_out) = out.planes_mut();
    for (row, out_row) in planes.chunks(width).take(h).zip(y_out.chunks_mut(w)) {
        for (o, &v) in out_row.iter_mut().zip(row) {
            *o = luma[v as usize];
        }
    }
    if subsamp == Subsamp::Gray {
        u_out.fill(128);
        v_out.fill(128);
        return;
    }
    let sample = |plane: &[u8], x: usize, y: usize| u32::from(plane[y.min(ch - 1) * cw + x.min(cw - 1)]);
    for (k, out_plane) in [u_out, v_out].into_iter().enumerate() {
        let plane = &planes[width * height + k * cw * ch..][..cw * ch];
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                let v = match subsamp {
                    Subsamp::Sub2x2 => sample(plane, x, y),
                    Subsamp::Sub2x1 => (sample(plane, x, 2 * y) + sample(plane, x, 2 * y + 1)).div_ceil(2),
                    _ => {
                        let (x2, y2) = (2 * x, 2 * y);
                        (sample(plane, x2, y2)
                            + sample(plane, x2 + 1, y2)
                            + sample(plane, x2, y2 + 1)
                            + sample(plane, x2 + 1, y2 + 1)
                            + 2)
                            / 4
                    }
                };
                out_plane[y * (w / 2) + x] = chroma[v as usize];
            }
        }
    }
}

/// Packed RGB rows of `width` pixels to video-range BT.601 4:2:0 of `out`'s (even) size.
fn rgb_to_video_i420(rgb: &[u8], width: usize, out: &mut PlaneBuffer) {
    let (w, h) = (out.width, out.height);
    let px = |x: usize, y: usize| {
        let at = (y * width + x) * 3;
        (i32::from(rgb[at]), i32::from(rgb[at + 1]), i32::from(rgb[at + 2]))
    };
    let (y_out, u_out, v_out) = out.planes_mut();
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            y_out[y * w + x] = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
        }
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            let (mut r, mut g, mut b) = (0, 0, 0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (pr, pg, pb) = px(2 * x + dx, 2 * y + dy);
                (r, g, b) = (r + pr, g + pg, b + pb);
            }
            let (r, g, b) = (r / 4, g / 4, b / 4);
            u_out[y * (w / 2) + x] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8;
            v_out[y * (w / 2) + x] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::jpeg::dimensions;

    /// SOF0 sampling factors of luma and the first chroma component.
    fn sampling(jpeg: &[u8]) -> (u8, u8) {
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        (jpeg[sof + 11], jpeg[sof + 14])
    }

    fn gradient(width: u32, height: u32) -> Vec<u8> {
        (0..width * height).flat_map(|i| [(i % width) as u8, (i / width) as u8, 128]).collect()
    }

    #[test]
    fn rgb_encodes_to_4_2_0_of_the_size() {
        let jpeg = encode_rgb(&gradient(64, 32), 64, 32, 80).unwrap();
        assert_eq!(dimensions(&jpeg), Ok((64, 32)));
        assert_eq!(sampling(&jpeg), (0x22, 0x11), "luma 2x2, chroma 1x1");
    }

    #[test]
    fn grey_is_decoded_at_the_smallest_scale_still_wide_enough() {
        let mut decoder = GreyDecoder::new().unwrap();
        let mut grey = Grey::default();
        // Dark on the left, bright on the right.
        let rgb: Vec<u8> = (0..1280 * 720).flat_map(|i| [if i % 1280 < 640 { 30 } else { 220 }; 3]).collect();
        let jpeg = encode_rgb(&rgb, 1280, 720, 80).unwrap();
        decoder.decode(&jpeg, 160, &mut grey).unwrap();
        assert_eq!((grey.width, grey.height, grey.pixels.len()), (160, 90, 160 * 90));
        let row = &grey.pixels[45 * 160..46 * 160];
        assert!(row[10].abs_diff(30) < 4 && row[150].abs_diff(220) < 4, "{row:?}");
        decoder.decode(&jpeg, 161, &mut grey).unwrap();
        assert_eq!((grey.width, grey.height), (320, 180));
        let small = encode_rgb(&gradient(64, 32), 64, 32, 80).unwrap();
        decoder.decode(&small, 160, &mut grey).unwrap();
        assert_eq!((grey.width, grey.height), (64, 32));
        assert!(decoder.decode(b"not a jpeg", 160, &mut grey).is_err());
    }

    #[test]
    fn bad_sizes_and_short_buffers_are_errors_not_panics() {
        assert!(encode_rgb(&[], 0, 10, 80).is_err());
        assert!(encode_rgb(&[0; 10], 4, 4, 80).unwrap_err().to_string().contains("too few"));
        assert!(encode_rgb(&[0; 12], 70_000, 1, 80).is_err());
    }

    #[test]
    fn yuyv_encodes_without_rgb_and_keeps_the_colours() {
        // Video-range white (Y 235) and black (Y 16), neutral chroma: full-range white and black.
        let mut yuyv = Vec::new();
        for row in 0..16 {
            for _ in 0..8 {
                let y = if row < 8 { 235 } else { 16 };
                yuyv.extend_from_slice(&[y, 128, y, 128]);
            }
        }
        let mut encoder = Encoder::new(95).unwrap();
        let jpeg = encoder.encode_yuyv(&yuyv, 16, 16).unwrap();
        assert_eq!(dimensions(&jpeg), Ok((16, 16)));
        assert_eq!(sampling(&jpeg), (0x21, 0x11), "4:2:2 as the camera sent it");
        let image = turbojpeg::decompress(&jpeg, PixelFormat::RGB).unwrap();
        let px = |x: usize, y: usize| &image.pixels[(y * 16 + x) * 3..(y * 16 + x) * 3 + 3];
        assert!(px(3, 2).iter().all(|&c| c >= 250), "white: {:?}", px(3, 2));
        assert!(px(3, 13).iter().all(|&c| c <= 5), "black: {:?}", px(3, 13));
        assert!(encoder.encode_yuyv(&yuyv[..100], 16, 16).unwrap_err().to_string().contains("too few"));
        assert!(encoder.encode_yuyv(&yuyv, 15, 16).unwrap_err().to_string().contains("even"));
        // The encoder is still 4:2:0 for RGB afterwards.
        assert_eq!(sampling(&encoder.encode_rgb(&gradient(16, 16), 16, 16).unwrap()), (0x22, 0x11));
    }

    #[test]
    fn scaled_sizes_round_up_like_libjpeg() {
        assert_eq!(scaled_size(1280, 720, 4), (640, 360));
        assert_eq!(scaled_size(1280, 720, 1), (160, 90));
        assert_eq!(scaled_size(1920, 1080, 3), (720, 405));
        assert_eq!(scaled_size(100, 75, 1), (13, 10));
        assert_eq!(scaled_size(1280, 720, 8), (1280, 720));
    }

    #[test]
    fn scaling_keeps_subsampling_and_gives_the_promised_size() {
        let source = encode_rgb(&gradient(320, 240), 320, 240, 90).unwrap();
        let mut scaler = Scaler::new().unwrap();
        for eighths in 1..=8u8 {
            let out = scaler.scale(&source, eighths, 70).unwrap();
            let want = scaled_size(320, 240, eighths);
            assert_eq!((out.width, out.height), want, "{eighths}/8");
            assert_eq!(dimensions(&out.data), Ok(want), "{eighths}/8: the SOF says so");
            assert_eq!(sampling(&out.data), (0x22, 0x11), "{eighths}/8 stays 4:2:0");
        }
        let small = scaler.scale(&source, 4, 30).unwrap();
        let fine = scaler.scale(&source, 4, 95).unwrap();
        assert!(small.data.len() < fine.data.len(), "quality is applied");
    }

    #[test]
    fn scaling_garbage_is_an_error() {
        let mut scaler = Scaler::new().unwrap();
        assert!(scaler.scale(b"not a jpeg", 4, 80).is_err());
        let source = encode_rgb(&gradient(64, 64), 64, 64, 90).unwrap();
        // A cut-off frame is decoded as far as it goes or refused; either way no panic.
        let _ = scaler.scale(&source[..source.len() / 3], 4, 80);
        assert!(scaler.scale(&source, 0, 80).is_err());
        assert!(scaler.scale(&source, 9, 80).is_err());
    }
}
