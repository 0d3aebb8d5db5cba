//! What every scenario that starts framecast shares: the benchmark's camera (camera-like
//! 720p JPEGs generated into the output folder and played by a `files:` camera) and the
//! arguments the server is started with.

use std::path::{Path, PathBuf};

/// The benchmark's camera: 30 camera-like 1280x720 JPEGs (see
/// [`framecast_tests::codecbench::write_camera_like_frames`]) in `OUT/frames-1280x720`.
pub struct BenchFrames {
    /// Where they are.
    pub dir: PathBuf,
    /// The `files:` camera that plays them.
    pub camera: String,
    /// Their mean size.
    pub bytes: u64,
}

/// Writes the [`BenchFrames`] into `out/frames-1280x720` (saying so on stderr).
pub fn bench_frames(out: &Path) -> Result<BenchFrames, String> {
    let dir = out.join("frames-1280x720");
    eprintln!("==> generating 30 camera-like 1280x720 frames in {}", dir.display());
    let bytes = framecast_tests::codecbench::write_camera_like_frames(&dir, 30, 1280, 720, 82)
        .map_err(|e| e.to_string())?;
    let camera = format!("files:{}", dir.display());
    Ok(BenchFrames { dir, camera, bytes })
}

/// The server's arguments for the benchmark: `camera` at 30 fps, and since one address opens
/// all the clients here, no per-address cap.
pub fn bench_args(camera: &str) -> Vec<&str> {
    let mut args = vec!["--camera", camera, "--fps", "30", "--idle-timeout", "60"];
    args.extend(["--max-connections-per-address", "8192", "--max-connections", "8192"]);
    args
}

impl BenchFrames {
    /// The frames' JPEG files, in order.
    pub fn jpegs(&self) -> Result<Vec<Vec<u8>>, String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
            .collect();
        paths.sort();
        let jpegs =
            paths.iter().map(std::fs::read).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        if jpegs.is_empty() {
            return Err(format!("no JPEGs in {}", self.dir.display()));
        }
        Ok(jpegs)
    }

    /// The frames' 4:2:0 planes, as libjpeg-turbo decodes them.
    pub fn planes(&self) -> Result<Vec<framecast::media::PlaneBuffer>, String> {
        let mut scaler = framecast::media::jpeg::turbo::Scaler::new().map_err(|e| e.to_string())?;
        self.jpegs()?
            .iter()
            .map(|jpeg| {
                let mut buffer = framecast::media::PlaneBuffer::default();
                scaler.decode_i420(jpeg, 8, &mut buffer).map(|_| buffer).map_err(|e| e.to_string())
            })
            .collect()
    }
}
