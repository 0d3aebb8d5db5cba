//! The media layer: encoded pictures, what they say about themselves, and the codecs that
//! make and unmake them. It knows nothing of cameras, viewers or the network, so sources, the
//! hub, renditions, the recorder and the HTTP side all build on it without knowing each
//! other.
//!
//! Layout: [`jpeg`] (the JPEG picture type, its headers, MJPEG stream splitting and
//! libjpeg-turbo), [`h264`] (access units, Annex B, OpenH264), [`transcode`] (H.264
//! pictures as JPEGs), [`bounds`] (the picture sizes
//! framecast accepts and can encode). One module per codec; [`Encoded`] is a picture of
//! either, as a camera gives it.

pub mod h264;
pub mod jpeg;
pub mod transcode;

use bytes::Bytes;

/// Planes of a 4:2:0 picture, each row `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct I420<'a> {
    /// Luma, `height` rows.
    pub y: &'a [u8],
    /// Blue-difference chroma, `height / 2` rows.
    pub u: &'a [u8],
    /// Red-difference chroma, `height / 2` rows.
    pub v: &'a [u8],
    /// Width in pixels (even).
    pub width: usize,
    /// Height in pixels (even).
    pub height: usize,
    /// Bytes per row of luma and of each chroma plane.
    pub strides: (usize, usize),
}

impl I420<'_> {
    /// Checks the planes hold the picture they claim to, of even size (OpenH264 panics
    /// otherwise).
    pub fn check(&self) -> Result<(), String> {
        let (w, h) = (self.width, self.height);
        let ok = w >= 16
            && h >= 16
            && w.is_multiple_of(2)
            && h.is_multiple_of(2)
            && self.strides.0 >= w
            && self.strides.1 >= w / 2
            && self.y.len() == h * self.strides.0
            && self.u.len() == h / 2 * self.strides.1
            && self.v.len() == h / 2 * self.strides.1;
        if ok { Ok(()) } else { Err(format!("planes do not hold a {w}x{h} 4:2:0 picture")) }
    }
}

/// A 4:2:0 picture in one buffer of its own (luma, then the two chroma planes, rows packed):
/// what a JPEG is decoded into before H.264 encodes it.
#[derive(Debug, Clone, Default)]
pub struct PlaneBuffer {
    /// Y, then U, then V.
    pub data: Vec<u8>,
    /// Width in pixels (even).
    pub width: usize,
    /// Height in pixels (even).
    pub height: usize,
}

impl PlaneBuffer {
    /// Makes room for a `width` x `height` picture (both even).
    pub fn resize(&mut self, width: usize, height: usize) {
        self.width = width;
        self.height = height;
        self.data.resize(width * height * 3 / 2, 0);
    }

    /// The planes, to read.
    pub fn planes(&self) -> I420<'_> {
        let (w, h) = (self.width, self.height);
        let (y, chroma) = self.data.split_at(w * h);
        let (u, v) = chroma.split_at(w * h / 4);
        I420 { y, u, v, width: w, height: h, strides: (w, w / 2) }
    }

    /// The planes, to write: (Y, U, V).
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let (w, h) = (self.width, self.height);
        let (y, chroma) = self.data.split_at_mut(w * h);
        let (u, v) = chroma.split_at_mut(w * h / 4);
        (y, u, v)
    }
}

/// The codecs framecast carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Each picture a JPEG of its own.
    Jpeg,
    /// H.264 access units, each depending on those before it back to a keyframe.
    H264,
}

impl Codec {
    /// The name on the wire and in `/api/state`: `jpeg`, `h264`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Jpeg => "jpeg",
            Codec::H264 => "h264",
        }
    }
}

/// One encoded picture, as a camera gives it.
#[derive(Debug, Clone)]
pub enum Encoded {
    /// A JPEG.
    Jpeg(jpeg::Jpeg),
    /// An H.264 access unit.
    H264(h264::AccessUnit),
}

impl Encoded {
    /// The picture's codec.
    pub fn codec(&self) -> Codec {
        match self {
            Encoded::Jpeg(_) => Codec::Jpeg,
            Encoded::H264(_) => Codec::H264,
        }
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Encoded::Jpeg(jpeg) => (jpeg.width, jpeg.height),
            Encoded::H264(unit) => (unit.stream.width, unit.stream.height),
        }
    }

    /// The encoded bytes (a JPEG file; AVC NAL units).
    pub fn data(&self) -> &Bytes {
        match self {
            Encoded::Jpeg(jpeg) => &jpeg.data,
            Encoded::H264(unit) => &unit.data,
        }
    }

    /// Whether decoding can start at this picture (every JPEG; an IDR).
    pub fn keyframe(&self) -> bool {
        match self {
            Encoded::Jpeg(_) => true,
            Encoded::H264(unit) => unit.keyframe,
        }
    }
}

impl From<jpeg::Jpeg> for Encoded {
    fn from(jpeg: jpeg::Jpeg) -> Encoded {
        Encoded::Jpeg(jpeg)
    }
}

/// Picture sizes, in one home, with names that say which limit is which.
pub mod bounds {
    /// Smallest side a user may ask for: a camera's frame size (`--size`, the viewer's
    /// settings) or the box a viewer wants its picture to fit (`?size=`, `?w=`). One JPEG
    /// block and room for the overlay text.
    pub const MIN_ASKED_SIDE: u32 = 16;

    /// Largest side a user may ask for (see [`MIN_ASKED_SIDE`]): 8K, past any camera served.
    pub const MAX_ASKED_SIDE: u32 = 8192;

    /// Largest side a JPEG can have here: its header holds 16 bits, and libjpeg-turbo stops at
    /// 65500. Pictures that come from elsewhere (a camera's own JPEGs) may be larger than
    /// anything a user can ask for, up to this.
    pub const MAX_JPEG_SIDE: u32 = 65_500;
}
