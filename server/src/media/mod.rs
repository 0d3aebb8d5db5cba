//! The media layer: encoded pictures, what they say about themselves, and the codecs that
//! make and unmake them. It knows nothing of cameras, viewers or the network, so sources, the
//! hub, renditions, the recorder and the HTTP side all build on it without knowing each
//! other.
//!
//! Layout: [`jpeg`] (the JPEG picture type, its headers, MJPEG stream splitting and
//! libjpeg-turbo), [`bounds`] (the picture sizes framecast accepts and can encode). One
//! module per codec: another codec (H.264) goes beside [`jpeg`], not inside it.

pub mod jpeg;

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
