//! What a request asks to see, beyond the camera: the query parameters of the snapshot and
//! stream endpoints (size, quality, rate), parsed into checked values with a clear reason for
//! each bad one (400).

use std::time::Duration;

use serde::Deserialize;

use super::error::ApiError;
use crate::camera::MAX_FPS;
use crate::media::bounds::{MAX_ASKED_SIDE, MIN_ASKED_SIDE};
use crate::rendition::{RenditionRequest, SizeRequest};

/// Whether a list of codecs (`h264,jpeg`) names H.264.
pub fn accepts_h264(list: &str) -> bool {
    list.split(',').any(|c| matches!(c.trim().to_ascii_lowercase().as_str(), "h264" | "avc"))
}

/// `?camera=ID&size=WxH&w=W&quality=Q&fps=N` on `/snapshot.jpg`, `/stream.mjpg` and their
/// aliases (`fps` on streams only). Values are kept as text and checked here, so a bad one
/// gets our message instead of the query parser's.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ViewQuery {
    /// Camera id; the first camera when absent.
    pub camera: Option<String>,
    /// The box the picture must fit in, `WxH`.
    pub size: Option<String>,
    /// The widest the picture may be (height from the camera's aspect).
    pub w: Option<String>,
    /// JPEG quality 1–100.
    pub quality: Option<String>,
    /// At most this many frames per second to this reader.
    pub fps: Option<String>,
    /// `/ws`: the codecs the viewer decodes, comma-separated (`h264,jpeg`), as its `hello`'s
    /// `accept`.
    pub accept: Option<String>,
}

impl ViewQuery {
    /// Whether `?accept=` lists H.264.
    pub fn accepts_h264(&self) -> bool {
        self.accept.as_deref().is_some_and(accepts_h264)
    }

    /// The rendition asked for; `None` for the camera's own picture.
    pub fn rendition(&self) -> Result<Option<RenditionRequest>, ApiError> {
        let size = match (self.size.as_deref(), self.w.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest("give size=WxH or w=W, not both".into()));
            }
            // The camera's own size, said outright (a page link that pins the size).
            (Some(text), None) if text.trim() == "full" => None,
            (Some(text), None) => Some(parse_size(text).map_err(ApiError::BadRequest)?),
            (None, Some(text)) => Some(SizeRequest {
                max_width: side("w", text).map_err(ApiError::BadRequest)?,
                max_height: None,
            }),
            (None, None) => None,
        };
        let quality = match self.quality.as_deref() {
            None => None,
            Some(text) => match text.trim().parse::<u8>() {
                Ok(q @ 1..=100) => Some(q),
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "quality '{text}' is out of range; give 1 to 100"
                    )));
                }
            },
        };
        Ok((size.is_some() || quality.is_some()).then_some(RenditionRequest { size, quality }))
    }

    /// The shortest time between two frames `?fps=` allows; `None` when not given.
    pub fn frame_interval(&self) -> Result<Option<Duration>, ApiError> {
        let Some(text) = self.fps.as_deref() else { return Ok(None) };
        let fps: f64 = text.trim().parse().map_err(|_| {
            ApiError::BadRequest(format!("fps '{text}' is not a number of frames per second"))
        })?;
        if !(fps.is_finite() && fps >= MIN_FPS && fps <= MAX_FPS as f64) {
            return Err(ApiError::BadRequest(format!(
                "fps {text} is out of range; give {MIN_FPS} to {MAX_FPS} frames per second"
            )));
        }
        Ok(Some(Duration::from_secs_f64(1.0 / fps)))
    }
}

/// `WxH`, the box a picture must fit in (also the `size` of a WebSocket `hello`).
pub fn parse_size(text: &str) -> Result<SizeRequest, String> {
    let (w, h) = text
        .trim()
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size '{text}' is not WIDTHxHEIGHT (e.g. size=640x360)"))?;
    Ok(SizeRequest { max_width: side("size width", w)?, max_height: Some(side("size height", h)?) })
}

/// One side of a size, checked.
fn side(what: &str, text: &str) -> Result<u32, String> {
    let value: u32 = text.trim().parse().map_err(|_| format!("{what} '{text}' is not a number of pixels"))?;
    if !(MIN_ASKED_SIDE..=MAX_ASKED_SIDE).contains(&value) {
        return Err(format!(
            "{what} {value} is out of range; give {MIN_ASKED_SIDE} to {MAX_ASKED_SIDE} pixels"
        ));
    }
    Ok(value)
}

/// Slowest rate `?fps=` takes: a frame every 100 s.
const MIN_FPS: f64 = 0.01;

#[cfg(test)]
mod tests {
    use super::*;

    fn fps(text: &str) -> Result<Option<Duration>, ApiError> {
        ViewQuery { fps: Some(text.into()), ..Default::default() }.frame_interval()
    }

    fn sized(
        size: Option<&str>,
        w: Option<&str>,
        quality: Option<&str>,
    ) -> Result<Option<RenditionRequest>, ApiError> {
        let q = ViewQuery {
            size: size.map(Into::into),
            w: w.map(Into::into),
            quality: quality.map(Into::into),
            ..Default::default()
        };
        q.rendition()
    }

    #[test]
    fn sizes_and_qualities_are_read() {
        assert_eq!(sized(None, None, None).unwrap(), None);
        assert_eq!(sized(Some("full"), None, None).unwrap(), None);
        let fit = |w, h| Some(SizeRequest { max_width: w, max_height: h });
        assert_eq!(sized(Some("640x360"), None, None).unwrap().unwrap().size, fit(640, Some(360)));
        assert_eq!(sized(Some(" 320X180 "), None, None).unwrap().unwrap().size, fit(320, Some(180)));
        assert_eq!(sized(None, Some("390"), None).unwrap().unwrap().size, fit(390, None));
        let q = sized(None, None, Some("50")).unwrap().unwrap();
        assert_eq!((q.size, q.quality), (None, Some(50)));
    }

    #[test]
    fn bad_sizes_and_qualities_are_refused_with_the_reason() {
        for (size, w, quality, reason) in [
            (Some("0x0"), None, None, "size width 0 is out of range"),
            (Some("99999x1"), None, None, "size width 99999 is out of range"),
            (Some("640x1"), None, None, "size height 1 is out of range"),
            (Some("640"), None, None, "not WIDTHxHEIGHT"),
            (Some("axb"), None, None, "not a number"),
            (None, Some("-5"), None, "not a number"),
            (Some("640x360"), Some("640"), None, "not both"),
            (None, None, Some("500"), "quality '500' is out of range"),
            (None, None, Some("0"), "out of range"),
            (None, None, Some("high"), "out of range"),
        ] {
            let e = sized(size, w, quality).unwrap_err().to_string();
            assert!(e.contains(reason), "{size:?} {w:?} {quality:?}: {e}");
        }
    }

    #[test]
    fn fps_becomes_an_interval() {
        assert_eq!(ViewQuery::default().frame_interval().unwrap(), None);
        assert_eq!(fps("1").unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(fps("0.5").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(fps("240").unwrap(), Some(Duration::from_secs_f64(1.0 / 240.0)));
    }

    #[test]
    fn bad_fps_is_refused_with_the_reason() {
        for bad in ["0", "-1", "241", "abc", "", "NaN", "inf", "0.001"] {
            let e = fps(bad).unwrap_err().to_string();
            assert!(e.contains("fps"), "{bad}: {e}");
        }
        assert!(fps("0").unwrap_err().to_string().contains("0.01 to 240"));
    }
}
