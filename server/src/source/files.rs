//! The `files:DIR` camera: the JPEG files of a folder, played in a loop at the configured
//! frame rate (like the original project's emulated camera of 1.jpg, 2.jpg, 3.jpg).
//!
//! Files are read and checked once at start, so a bad folder is refused before the server
//! listens and playback never touches the disk.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use framecast_shared::CameraModes;

use super::{Capture, Source, SourceError};
use crate::camera::Settings;
use crate::media::Encoded;
use crate::media::jpeg::Jpeg;

/// The `files` camera kind with its frames loaded.
#[derive(Debug)]
pub struct FilesSource {
    frames: Arc<[Jpeg]>,
}

impl FilesSource {
    /// Reads every `*.jpg`/`*.jpeg` of `dir` in natural name order (`2.jpg` before `10.jpg`).
    pub fn load(dir: &Path) -> Result<FilesSource, SourceError> {
        let io = |source| SourceError::Io { path: dir.display().to_string(), source };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"))
            })
            .collect();
        if paths.is_empty() {
            return Err(SourceError::NoJpegs(dir.display().to_string()));
        }
        paths.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
        let mut frames = Vec::with_capacity(paths.len());
        for path in paths {
            let shown = path.display().to_string();
            let data =
                std::fs::read(&path).map_err(|source| SourceError::Io { path: shown.clone(), source })?;
            let (width, height) = crate::media::jpeg::dimensions(&data)
                .map_err(|reason| SourceError::BadJpeg { path: shown, reason })?;
            frames.push(Jpeg { data: Bytes::from(data), width, height });
        }
        Ok(FilesSource { frames: frames.into() })
    }

    /// The loaded frames, in playback order.
    pub fn frames(&self) -> &[Jpeg] {
        &self.frames
    }
}

impl Source for FilesSource {
    fn kind(&self) -> &'static str {
        "files"
    }

    fn open(&self, settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        Ok(Box::new(FilesCapture { frames: self.frames.clone(), next: 0, fps: settings.fps }))
    }

    /// The files fix size and quality; only the playback rate can change.
    fn modes(&self, _current: &Settings) -> CameraModes {
        CameraModes { sizes: Vec::new(), max_fps: crate::camera::MAX_FPS, quality: false }
    }
}

/// A folder being played.
#[derive(Debug)]
struct FilesCapture {
    frames: Arc<[Jpeg]>,
    next: usize,
    fps: u32,
}

impl Capture for FilesCapture {
    fn pace(&self) -> Option<u32> {
        Some(self.fps)
    }

    fn grab(&mut self) -> Result<Encoded, SourceError> {
        let frame = self.frames[self.next].clone();
        self.next = (self.next + 1) % self.frames.len();
        Ok(frame.into())
    }
}

/// Compares names so that runs of digits compare by value: `2.jpg` < `10.jpg`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (trim_zeros(&a[..da]), trim_zeros(&b[..db]));
                let ord = na.len().cmp(&nb.len()).then(na.cmp(nb));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros.min(digits.len().saturating_sub(1))..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Size;

    fn settings() -> Settings {
        Settings { size: Size { width: 64, height: 48 }, fps: 5, quality: 80 }
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        crate::media::jpeg::turbo::encode_rgb(&vec![100; (w * h * 3) as usize], w, h, 80).unwrap()
    }

    #[test]
    fn natural_order() {
        let mut names = vec!["10.jpg", "2.jpg", "1.jpg", "a.jpg", "01.jpg"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["1.jpg", "01.jpg", "2.jpg", "10.jpg", "a.jpg"]);
    }

    #[test]
    fn plays_the_folder_in_a_loop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("10.jpg"), jpeg(32, 16)).unwrap();
        std::fs::write(dir.join("2.JPEG"), jpeg(16, 16)).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a frame").unwrap();
        let source = FilesSource::load(dir).unwrap();
        let mut cam = source.open(&settings()).unwrap();
        let sizes: Vec<_> = (0..4).map(|_| cam.grab().map(|j| j.size()).unwrap()).collect();
        assert_eq!(sizes, [(16, 16), (32, 16), (16, 16), (32, 16)]);
        assert_eq!(cam.pace(), Some(5));
    }

    #[test]
    fn bad_folders_are_refused_with_the_reason() {
        let missing = FilesSource::load(Path::new("/nonexistent/framecast")).unwrap_err();
        assert!(matches!(missing, SourceError::Io { .. }), "{missing}");

        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(FilesSource::load(empty.path()).unwrap_err(), SourceError::NoJpegs(_)));

        let broken = tempfile::tempdir().unwrap();
        std::fs::write(broken.path().join("1.jpg"), b"not a jpeg at all").unwrap();
        let err = FilesSource::load(broken.path()).unwrap_err();
        assert!(err.to_string().contains("1.jpg"), "{err}");
    }
}
