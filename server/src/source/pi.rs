//! The Raspberry Pi CSI camera (`pi`), through libcamera's `rpicam-vid` (or its older name
//! `libcamera-vid`) writing MJPEG or, with `--codec h264`, H.264 to stdout. Current Raspberry
//! Pi OS cameras are only reachable through libcamera; legacy V4L2 Pi cameras work as `usb`
//! cameras instead.
//!
//! Settings map to flags: `--width/--height`, `--framerate`, `--quality` (MJPEG quality).
//! For H.264 (read from rpicam-apps' `encoder/` and `core/options.cpp`): `--inline` puts SPS
//! and PPS before every keyframe (so a viewer can start at any of them), `--intra N` makes a
//! keyframe every N frames (`--keyframe-interval`), `--flush` writes each frame out at once,
//! `--profile baseline` (no B-frames: every picture can be shown as it arrives), `--bitrate`.
//! A Pi 4 and earlier encode on the VideoCore's hardware encoder, which honours all of
//! these. A Pi 5 has no hardware encoder: rpicam-vid encodes with libx264 through libav,
//! which ignores `--inline` and `--flush` (its raw H.264 output repeats the parameter sets by
//! itself) and, unless `--low-latency` is given, uses B-frames and frame threads: on a Pi 5
//! `--low-latency` is added (libx264's ultrafast preset and zerolatency tune: no B-frames, no
//! lookahead, one picture in four slices).

use std::path::PathBuf;
use std::process::Command;

use framecast_shared::CameraModes;

use super::command::ChildCapture;
use super::{Capture, Source, SourceError};
use crate::camera::{Encoding, Settings};
use crate::media::Codec;
use crate::media::h264::codec::bitrate_for;

/// Program names tried, newest first.
pub const PROGRAMS: [&str; 2] = ["rpicam-vid", "libcamera-vid"];

/// The `pi` camera kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct PiSource {
    encoding: Encoding,
}

impl PiSource {
    /// The camera, encoding as `encoding` says.
    pub fn new(encoding: Encoding) -> PiSource {
        PiSource { encoding }
    }

    /// The arguments for H.264 at `settings`; `pi5` for a Raspberry Pi 5 (software encoder).
    pub fn h264_args(settings: &Settings, encoding: &Encoding, pi5: bool) -> Vec<String> {
        let mut args: Vec<String> = [
            "--codec",
            "h264",
            "--timeout",
            "0",
            "--nopreview",
            "--width",
            &settings.size.width.to_string(),
            "--height",
            &settings.size.height.to_string(),
            "--framerate",
            &settings.fps.to_string(),
            "--bitrate",
            &bitrate_for(settings.size.width, settings.size.height, settings.fps).to_string(),
            "--intra",
            &encoding.keyframe_every(settings.fps).to_string(),
            "--inline",
            "--flush",
            "--profile",
            "baseline",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        if pi5 {
            args.push("--low-latency".into());
        }
        args.extend(["--output".into(), "-".into()]);
        args
    }

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

/// Whether this machine is a Raspberry Pi 5 (its device tree says so).
fn is_pi5() -> bool {
    std::fs::read_to_string("/proc/device-tree/model").is_ok_and(|model| model.contains("Raspberry Pi 5"))
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
        match self.encoding.codec {
            Codec::Jpeg => command.args(Self::args(settings)),
            Codec::H264 => command.args(Self::h264_args(settings, &self.encoding, is_pi5())),
        };
        Ok(Box::new(ChildCapture::spawn(command, "rpicam-vid")?))
    }

    fn codec(&self, _settings: &Settings) -> Option<Codec> {
        Some(self.encoding.codec)
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

    #[test]
    fn h264_asks_for_parameter_sets_keyframes_and_no_b_frames() {
        let settings = Settings { size: Size { width: 1280, height: 720 }, fps: 30, quality: 80 };
        let encoding = Encoding { codec: Codec::H264, keyframe_interval: std::time::Duration::from_secs(1) };
        assert_eq!(
            PiSource::h264_args(&settings, &encoding, false).join(" "),
            "--codec h264 --timeout 0 --nopreview --width 1280 --height 720 --framerate 30 --bitrate 1382400 \
             --intra 30 --inline --flush --profile baseline --output -"
        );
        let pi5 = PiSource::h264_args(&settings, &encoding, true).join(" ");
        assert!(pi5.ends_with("--profile baseline --low-latency --output -"), "{pi5}");
    }
}
