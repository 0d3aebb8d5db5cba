//! The Raspberry Pi CSI camera (`pi`), through libcamera's `rpicam-vid` (or its older name
//! `libcamera-vid`) writing MJPEG to stdout. Current Raspberry Pi OS cameras are only reachable
//! through libcamera; legacy V4L2 Pi cameras work as `usb` cameras instead.
//!
//! Settings map to flags: `--width/--height`, `--framerate`, `--quality` (MJPEG quality).

use std::path::PathBuf;
use std::process::Command;

use framecast_shared::CameraModes;

use super::command::ChildCapture;
use super::{Capture, Source, SourceError};
use crate::camera::Settings;

/// Program names tried, newest first.
pub const PROGRAMS: [&str; 2] = ["rpicam-vid", "libcamera-vid"];

/// The `pi` camera kind.
#[derive(Debug, Clone, Copy)]
pub struct PiSource;

impl PiSource {
    /// The arguments for `settings`: MJPEG to stdout, no preview window, run until killed.
    pub fn args(settings: &Settings) -> Vec<String> {
        vec![
            "--codec".into(),
            "mjpeg".into(),
            "--timeout".into(),
            "0".into(),
            "--nopreview".into(),
            "--width".into(),
            settings.size.width.to_string(),
            "--height".into(),
            settings.size.height.to_string(),
            "--framerate".into(),
            settings.fps.to_string(),
            "--quality".into(),
            settings.quality.to_string(),
            "--output".into(),
            "-".into(),
        ]
    }
}

/// The first of [`PROGRAMS`] found on `PATH`.
fn find_program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    PROGRAMS
        .iter()
        .find_map(|name| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()))
}

impl Source for PiSource {
    fn kind(&self) -> &'static str {
        "pi"
    }

    fn open(&self, settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        let program = find_program().ok_or_else(|| {
            SourceError::Process(
                "neither rpicam-vid nor libcamera-vid is installed (on Raspberry Pi OS: sudo apt install rpicam-apps)"
                    .into(),
            )
        })?;
        let mut command = Command::new(program);
        command.args(Self::args(settings));
        Ok(Box::new(ChildCapture::spawn(command, "rpicam-vid")?))
    }

    fn modes(&self, current: &Settings) -> CameraModes {
        let mut modes = super::software_modes(current);
        // The Pi camera modules top out around 120 fps at small sizes.
        modes.max_fps = 120;
        modes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Size;

    #[test]
    fn settings_become_rpicam_vid_flags() {
        let args =
            PiSource::args(&Settings { size: Size { width: 1296, height: 972 }, fps: 15, quality: 70 });
        let joined = args.join(" ");
        assert_eq!(
            joined,
            "--codec mjpeg --timeout 0 --nopreview --width 1296 --height 972 --framerate 15 --quality 70 --output -"
        );
    }
}
