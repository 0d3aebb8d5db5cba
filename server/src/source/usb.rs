//! USB / V4L2 webcams (`usb`, `usb:INDEX`, `usb:/dev/videoN`) through nokhwa.
//!
//! The camera's own MJPEG is preferred, so frames pass through without decoding or
//! re-encoding; each buffer is trimmed to the real JPEG, because the V4L2 layer underneath
//! hands over the whole mmap buffer (the JPEG followed by stale bytes). Cameras without MJPEG
//! at the wanted size fall back to YUYV, encoded here. With `--codec h264` a camera that
//! offers H.264 at the wanted size gives it, passed through as it comes (each buffer one
//! access unit in Annex B). Size and frame rate changes reopen the device with the matching
//! format; the offered sizes and rates come from the device.
//!
//! nokhwa 0.10, the real backend, lists and opens only MJPEG, YUYV and raw formats, so today
//! only a device behind another [`UsbBackend`] (the tests' fake one) gives H.264 this way; a
//! webcam's H.264 is reachable now through `cmd:ffmpeg -f v4l2 -input_format h264 ... -c copy
//! -f h264 -`.
//!
//! The device sits behind [`UsbBackend`]/[`UsbDevice`] so the capture logic is tested with a
//! fake device; [`NokhwaBackend`] is the real one.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use framecast_shared::{CameraControl, CameraModes};

use super::{Capture, Source, SourceError};
use crate::camera::Settings;
use crate::lock::Unpoisoned;
use crate::media::h264::{AccessUnit, Stream, annexb};
use crate::media::jpeg::Jpeg;
use crate::media::{Codec, Encoded};

/// Pixel layout of a device format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelKind {
    /// Motion JPEG: passed through.
    Mjpeg,
    /// H.264 (Annex B, one access unit per buffer): passed through with `--codec h264`.
    H264,
    /// Packed YUV 4:2:2: encoded here.
    Yuyv,
    /// Anything else (not used).
    Other,
}

/// One format a device offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsbFormat {
    /// Pixel layout.
    pub kind: PixelKind,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
}

/// One buffer from a device.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// Layout of `data`.
    pub kind: PixelKind,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The buffer as the device filled it.
    pub data: Vec<u8>,
}

/// An opened device.
pub trait UsbDevice {
    /// Formats the device offers.
    fn formats(&mut self) -> Result<Vec<UsbFormat>, SourceError>;
    /// Starts streaming in `format`.
    fn start(&mut self, format: UsbFormat) -> Result<(), SourceError>;
    /// The next buffer (blocking).
    fn frame(&mut self) -> Result<RawFrame, SourceError>;
    /// Integer controls the device offers (brightness, exposure...), with current values.
    fn controls(&mut self) -> Vec<CameraControl>;
    /// Sets control `name` to `value`.
    fn set_control(&mut self, name: &str, value: i64) -> Result<(), SourceError>;
}

/// Opens devices by index (`/dev/videoN`).
pub trait UsbBackend: Send + Sync + std::fmt::Debug {
    /// Opens device `index`.
    fn open(&self, index: u32) -> Result<Box<dyn UsbDevice>, SourceError>;
}

/// The `usb` camera kind.
#[derive(Debug)]
pub struct UsbSource {
    index: u32,
    backend: Arc<dyn UsbBackend>,
    /// H.264 is taken where the device offers it.
    codec: Codec,
    /// Formats seen when the device was last opened, for [`Source::modes`].
    formats: Mutex<Vec<UsbFormat>>,
    /// Controls as last seen, kept current by the capture when one is set.
    controls: Arc<Mutex<Vec<CameraControl>>>,
}

impl UsbSource {
    /// The device `/dev/video{index}` through `backend`.
    pub fn new(index: u32, backend: Arc<dyn UsbBackend>) -> UsbSource {
        UsbSource {
            index,
            backend,
            codec: Codec::Jpeg,
            formats: Mutex::new(Vec::new()),
            controls: Arc::default(),
        }
    }

    /// The same camera, giving its own H.264 where it offers it (`codec` H.264).
    pub fn with_codec(self, codec: Codec) -> UsbSource {
        UsbSource { codec, ..self }
    }
}

impl Source for UsbSource {
    fn kind(&self) -> &'static str {
        "usb"
    }

    fn open(&self, settings: &Settings) -> Result<Box<dyn Capture>, SourceError> {
        let mut device = self.backend.open(self.index)?;
        let formats = device.formats()?;
        *self.formats.locked() = formats.clone();
        let format = choose_format_for(&formats, settings, self.codec).ok_or_else(|| {
            SourceError::Device(format!("/dev/video{} offers no MJPEG, YUYV or H.264 format", self.index))
        })?;
        device.start(format)?;
        *self.controls.locked() = device.controls();
        tracing::info!(
            "/dev/video{}: {:?} {}x{} at {} fps",
            self.index,
            format.kind,
            format.width,
            format.height,
            format.fps
        );
        Ok(Box::new(UsbCapture {
            device,
            encoder: crate::media::jpeg::turbo::Encoder::new(settings.quality)?,
            controls: self.controls.clone(),
            stream: None,
        }))
    }

    fn controls(&self) -> Vec<CameraControl> {
        self.controls.locked().clone()
    }

    /// H.264 only if the device turns out to offer it: known when it runs.
    fn codec(&self, _settings: &Settings) -> Option<Codec> {
        (self.codec == Codec::Jpeg).then_some(Codec::Jpeg)
    }

    fn modes(&self, current: &Settings) -> CameraModes {
        let formats = self.formats.locked();
        let usable = formats.iter().filter(|f| f.kind != PixelKind::Other);
        let mut sizes: Vec<[u32; 2]> = usable.clone().map(|f| [f.width, f.height]).collect();
        sizes.sort_by_key(|[w, h]| (*w as u64) * (*h as u64));
        sizes.dedup();
        if sizes.is_empty() {
            // Not opened yet: offer what is configured.
            sizes.push([current.size.width, current.size.height]);
        }
        let max_fps = usable.map(|f| f.fps).max().unwrap_or(current.fps).max(current.fps);
        CameraModes { sizes, max_fps, quality: true }
    }
}

/// The device format closest to the settings for a JPEG camera: the nearest size, then MJPEG
/// over YUYV, then the nearest frame rate (a faster one rather than a slower one).
pub fn choose_format(formats: &[UsbFormat], settings: &Settings) -> Option<UsbFormat> {
    choose_format_for(formats, settings, Codec::Jpeg)
}

/// [`choose_format`], for `codec`: with H.264, the device's own H.264 where it has it at the
/// nearest size.
pub fn choose_format_for(formats: &[UsbFormat], settings: &Settings, codec: Codec) -> Option<UsbFormat> {
    let wanted_area = settings.size.width as i64 * settings.size.height as i64;
    let area_gap = |f: &UsbFormat| (f.width as i64 * f.height as i64 - wanted_area).abs();
    let jpeg = choose_among(
        formats.iter().copied().filter(|f| matches!(f.kind, PixelKind::Mjpeg | PixelKind::Yuyv)),
        settings,
    );
    let h264 = choose_among(formats.iter().copied().filter(|f| f.kind == PixelKind::H264), settings);
    match (codec, jpeg, h264) {
        (Codec::H264, Some(j), Some(h)) if area_gap(&h) <= area_gap(&j) => Some(h),
        (Codec::H264, None, Some(h)) => Some(h),
        (_, j, _) => j,
    }
}

/// The nearest size, then MJPEG before the rest, then the nearest frame rate.
fn choose_among(formats: impl Iterator<Item = UsbFormat>, settings: &Settings) -> Option<UsbFormat> {
    let wanted_area = settings.size.width as i64 * settings.size.height as i64;
    formats.min_by_key(|f| {
        let area_gap = (f.width as i64 * f.height as i64 - wanted_area).abs();
        let kind = if f.kind == PixelKind::Mjpeg { 0 } else { 1 };
        let fps_gap = if f.fps >= settings.fps {
            (f.fps - settings.fps) as i64
        } else {
            1000 + (settings.fps - f.fps) as i64
        };
        (area_gap, kind, fps_gap)
    })
}

/// A streaming device.
struct UsbCapture {
    device: Box<dyn UsbDevice>,
    /// Encodes YUYV frames (MJPEG ones go out as the camera made them).
    encoder: crate::media::jpeg::turbo::Encoder,
    controls: Arc<Mutex<Vec<CameraControl>>>,
    /// H.264: the parameters of the pictures now.
    stream: Option<Arc<Stream>>,
}

impl Capture for UsbCapture {
    fn pace(&self) -> Option<u32> {
        None
    }

    fn grab(&mut self) -> Result<Encoded, SourceError> {
        let frame = self.device.frame()?;
        match frame.kind {
            PixelKind::Mjpeg => {
                let jpeg = trim_jpeg(&frame.data).ok_or_else(|| {
                    SourceError::Device("the camera sent a buffer with no complete JPEG".into())
                })?;
                let (width, height) = crate::media::jpeg::dimensions(&jpeg).map_err(|reason| {
                    SourceError::Device(format!("the camera sent a broken JPEG: {reason}"))
                })?;
                Ok(Jpeg { data: jpeg, width, height }.into())
            }
            PixelKind::Yuyv => {
                let data = self.encoder.encode_yuyv(&frame.data, frame.width, frame.height).map_err(|e| {
                    SourceError::Device(format!("the camera sent an unusable YUYV frame: {e}"))
                })?;
                Ok(Jpeg { data: Bytes::from(data), width: frame.width, height: frame.height }.into())
            }
            PixelKind::H264 => {
                let units = annexb::nal_units(&frame.data);
                let (unit, stream) = AccessUnit::from_nals(units, self.stream.as_ref())?;
                self.stream = stream;
                unit.map(Encoded::H264).ok_or_else(|| {
                    SourceError::Device("the camera sent an H.264 buffer with no picture".into())
                })
            }
            PixelKind::Other => {
                Err(SourceError::Device("the camera switched to an unsupported pixel format".into()))
            }
        }
    }

    fn set_control(&mut self, name: &str, value: i64) -> Result<(), SourceError> {
        self.device.set_control(name, value)?;
        let mut controls = self.controls.locked();
        if let Some(control) = controls.iter_mut().find(|c| c.name == name) {
            control.value = value;
        }
        Ok(())
    }
}

/// The JPEG at the start of a device buffer, without the stale bytes after its end.
pub fn trim_jpeg(buffer: &[u8]) -> Option<Bytes> {
    crate::media::jpeg::split::JpegSplitter::new(buffer.len() + 1).push(buffer).into_iter().next()
}

/// The real devices, through nokhwa's V4L2 backend.
#[derive(Debug, Default)]
pub struct NokhwaBackend;

impl UsbBackend for NokhwaBackend {
    fn open(&self, index: u32) -> Result<Box<dyn UsbDevice>, SourceError> {
        use nokhwa::pixel_format::RgbFormat;
        use nokhwa::utils::{CameraIndex, RequestedFormat, RequestedFormatType};
        let camera = nokhwa::Camera::new(
            CameraIndex::Index(index),
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::None),
        )
        .map_err(|e| SourceError::Device(format!("cannot open /dev/video{index}: {e}")))?;
        Ok(Box::new(NokhwaDevice { camera, index }))
    }
}

struct NokhwaDevice {
    camera: nokhwa::Camera,
    index: u32,
}

fn kind_of(format: nokhwa::utils::FrameFormat) -> PixelKind {
    match format {
        nokhwa::utils::FrameFormat::MJPEG => PixelKind::Mjpeg,
        nokhwa::utils::FrameFormat::YUYV => PixelKind::Yuyv,
        _ => PixelKind::Other,
    }
}

impl UsbDevice for NokhwaDevice {
    fn formats(&mut self) -> Result<Vec<UsbFormat>, SourceError> {
        let formats = self.camera.compatible_camera_formats().map_err(|e| {
            SourceError::Device(format!("/dev/video{}: cannot list formats: {e}", self.index))
        })?;
        Ok(formats
            .into_iter()
            .map(|f| UsbFormat {
                kind: kind_of(f.format()),
                width: f.width(),
                height: f.height(),
                fps: f.frame_rate(),
            })
            .collect())
    }

    fn start(&mut self, format: UsbFormat) -> Result<(), SourceError> {
        use nokhwa::pixel_format::RgbFormat;
        use nokhwa::utils::{CameraFormat, FrameFormat, RequestedFormat, RequestedFormatType};
        let frame_format =
            if format.kind == PixelKind::Mjpeg { FrameFormat::MJPEG } else { FrameFormat::YUYV };
        let wanted = CameraFormat::new_from(format.width, format.height, frame_format, format.fps);
        let index = self.index;
        let fail = move |e: nokhwa::NokhwaError| SourceError::Device(format!("/dev/video{index}: {e}"));
        self.camera
            .set_camera_requset(RequestedFormat::new::<RgbFormat>(RequestedFormatType::Exact(wanted)))
            .map_err(fail)?;
        self.camera.open_stream().map_err(fail)
    }

    fn controls(&mut self) -> Vec<CameraControl> {
        use nokhwa::utils::ControlValueDescription;
        let Ok(controls) = self.camera.camera_controls() else { return Vec::new() };
        controls
            .into_iter()
            .filter_map(|c| match c.description() {
                ControlValueDescription::IntegerRange { min, max, value, step, default } => {
                    Some(CameraControl {
                        name: c.name().to_string(),
                        min: *min,
                        max: *max,
                        step: (*step).max(1),
                        value: *value,
                        default: *default,
                    })
                }
                ControlValueDescription::Boolean { value, default } => Some(CameraControl {
                    name: c.name().to_string(),
                    min: 0,
                    max: 1,
                    step: 1,
                    value: i64::from(*value),
                    default: i64::from(*default),
                }),
                _ => None,
            })
            .collect()
    }

    fn set_control(&mut self, name: &str, value: i64) -> Result<(), SourceError> {
        use nokhwa::utils::{ControlValueDescription, ControlValueSetter};
        let index = self.index;
        let fail = move |e: nokhwa::NokhwaError| SourceError::Device(format!("/dev/video{index}: {e}"));
        let controls = self.camera.camera_controls().map_err(fail)?;
        let control = controls
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| SourceError::Device(format!("/dev/video{index} has no control '{name}'")))?;
        let setter = match control.description() {
            ControlValueDescription::Boolean { .. } => ControlValueSetter::Boolean(value != 0),
            _ => ControlValueSetter::Integer(value),
        };
        self.camera.set_camera_control(control.control(), setter).map_err(fail)
    }

    fn frame(&mut self) -> Result<RawFrame, SourceError> {
        let buffer =
            self.camera.frame().map_err(|e| SourceError::Device(format!("/dev/video{}: {e}", self.index)))?;
        let resolution = buffer.resolution();
        Ok(RawFrame {
            kind: kind_of(buffer.source_frame_format()),
            width: resolution.width(),
            height: resolution.height(),
            data: buffer.buffer().to_vec(),
        })
    }
}

impl Drop for NokhwaDevice {
    fn drop(&mut self) {
        let _ = self.camera.stop_stream();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Size;
    use std::collections::VecDeque;

    fn settings(w: u32, h: u32, fps: u32) -> Settings {
        Settings { size: Size { width: w, height: h }, fps, quality: 80 }
    }

    fn format(kind: PixelKind, width: u32, height: u32, fps: u32) -> UsbFormat {
        UsbFormat { kind, width, height, fps }
    }

    /// A fake device: fixed formats, a queue of buffers to hand out, then an error (unplugged).
    #[derive(Debug, Default)]
    struct FakeBackend {
        formats: Vec<UsbFormat>,
        frames: Mutex<VecDeque<RawFrame>>,
        started: Arc<Mutex<Option<UsbFormat>>>,
        set: Arc<Mutex<Vec<(String, i64)>>>,
    }

    struct FakeDevice {
        formats: Vec<UsbFormat>,
        frames: VecDeque<RawFrame>,
        started: Arc<Mutex<Option<UsbFormat>>>,
        set: Arc<Mutex<Vec<(String, i64)>>>,
    }

    impl FakeBackend {
        /// A device offering one 30 fps format that hands out one buffer, then is unplugged.
        fn with_one_frame(kind: PixelKind, width: u32, height: u32, data: Vec<u8>) -> Arc<FakeBackend> {
            Arc::new(FakeBackend {
                formats: vec![format(kind, width, height, 30)],
                frames: Mutex::new(VecDeque::from([RawFrame { kind, width, height, data }])),
                ..Default::default()
            })
        }
    }

    impl UsbBackend for FakeBackend {
        fn open(&self, index: u32) -> Result<Box<dyn UsbDevice>, SourceError> {
            if index != 0 {
                return Err(SourceError::Device(format!("cannot open /dev/video{index}: no such device")));
            }
            let frames = std::mem::take(&mut *self.frames.lock().unwrap());
            Ok(Box::new(FakeDevice {
                formats: self.formats.clone(),
                frames,
                started: self.started.clone(),
                set: self.set.clone(),
            }))
        }
    }

    impl UsbDevice for FakeDevice {
        fn formats(&mut self) -> Result<Vec<UsbFormat>, SourceError> {
            Ok(self.formats.clone())
        }
        fn start(&mut self, format: UsbFormat) -> Result<(), SourceError> {
            *self.started.lock().unwrap() = Some(format);
            Ok(())
        }
        fn frame(&mut self) -> Result<RawFrame, SourceError> {
            self.frames.pop_front().ok_or_else(|| SourceError::Device("/dev/video0: device unplugged".into()))
        }
        fn controls(&mut self) -> Vec<CameraControl> {
            vec![CameraControl {
                name: "Brightness".into(),
                min: -64,
                max: 64,
                step: 1,
                value: 0,
                default: 0,
            }]
        }
        fn set_control(&mut self, name: &str, value: i64) -> Result<(), SourceError> {
            self.set.lock().unwrap().push((name.to_string(), value));
            Ok(())
        }
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        crate::media::jpeg::turbo::encode_rgb(&vec![77; (w * h * 3) as usize], w, h, 80).unwrap()
    }

    #[test]
    fn prefers_the_cameras_own_mjpeg_at_the_wanted_size() {
        let formats = [
            format(PixelKind::Yuyv, 1280, 720, 10),
            format(PixelKind::Mjpeg, 1280, 720, 30),
            format(PixelKind::Mjpeg, 640, 480, 30),
            format(PixelKind::Mjpeg, 1280, 720, 60),
            format(PixelKind::Other, 1280, 720, 30),
        ];
        assert_eq!(choose_format(&formats, &settings(1280, 720, 30)), Some(formats[1]));
        assert_eq!(choose_format(&formats, &settings(640, 480, 15)), Some(formats[2]));
        // Only YUYV has the size: take it rather than a wrong size.
        let yuyv_only = [format(PixelKind::Yuyv, 320, 240, 30), format(PixelKind::Mjpeg, 1920, 1080, 30)];
        assert_eq!(choose_format(&yuyv_only, &settings(320, 240, 30)), Some(yuyv_only[0]));
        assert_eq!(choose_format(&[format(PixelKind::Other, 640, 480, 30)], &settings(640, 480, 30)), None);
    }

    #[test]
    fn mjpeg_buffers_are_trimmed_to_the_real_jpeg() {
        let real = jpeg(64, 48);
        // The whole mmap buffer: the JPEG, then stale bytes of an older, larger frame.
        let mut buffer = real.clone();
        buffer.extend_from_slice(&jpeg(64, 48)[100..]);
        buffer.extend(std::iter::repeat_n(0u8, 5000));
        let backend = FakeBackend::with_one_frame(PixelKind::Mjpeg, 64, 48, buffer);
        let source = UsbSource::new(0, backend.clone());
        let mut cam = source.open(&settings(64, 48, 30)).unwrap();
        let frame = cam.grab().unwrap();
        assert_eq!(frame.data().as_ref(), real.as_slice());
        assert_eq!(frame.size(), (64, 48));
        // Unplugged: a clear error, which the hub reports and retries.
        let err = cam.grab().unwrap_err().to_string();
        assert!(err.contains("unplugged"), "{err}");
        assert_eq!(source.modes(&settings(64, 48, 30)).sizes, vec![[64, 48]]);
    }

    #[test]
    fn yuyv_frames_are_encoded_here() {
        // (The colours are checked in `codec`'s tests.)
        let yuyv: Vec<u8> = [120u8, 100, 140, 160].repeat(16 * 8 / 2);
        let backend = FakeBackend::with_one_frame(PixelKind::Yuyv, 16, 8, yuyv);
        let mut cam = UsbSource::new(0, backend.clone()).open(&settings(16, 8, 30)).unwrap();
        let frame = cam.grab().unwrap();
        assert_eq!(crate::media::jpeg::dimensions(frame.data()), Ok((16, 8)));
        assert_eq!(*backend.started.lock().unwrap(), Some(format(PixelKind::Yuyv, 16, 8, 30)));
    }

    #[test]
    fn device_controls_are_listed_and_set() {
        let backend = Arc::new(FakeBackend {
            formats: vec![format(PixelKind::Mjpeg, 64, 48, 30)],
            ..Default::default()
        });
        let source = UsbSource::new(0, backend.clone());
        assert!(source.controls().is_empty(), "unknown until the device is opened");
        let mut cam = source.open(&settings(64, 48, 30)).unwrap();
        assert_eq!(source.controls()[0].name, "Brightness");
        cam.set_control("Brightness", 20).unwrap();
        assert_eq!(*backend.set.lock().unwrap(), vec![("Brightness".to_string(), 20)]);
        assert_eq!(source.controls()[0].value, 20, "the listed value follows");
    }

    #[test]
    fn a_missing_device_is_a_clear_error() {
        let source = UsbSource::new(3, Arc::new(FakeBackend::default()));
        let err = source.open(&settings(640, 480, 30)).err().unwrap().to_string();
        assert!(err.contains("/dev/video3"), "{err}");
    }

    #[test]
    fn with_codec_h264_a_camera_offering_h264_passes_it_through() {
        let formats = [format(PixelKind::Mjpeg, 64, 48, 30), format(PixelKind::H264, 64, 48, 30)];
        assert_eq!(choose_format_for(&formats, &settings(64, 48, 30), Codec::H264), Some(formats[1]));
        assert_eq!(choose_format_for(&formats, &settings(64, 48, 30), Codec::Jpeg), Some(formats[0]));
        // H.264 only at a farther size: the nearer JPEG size wins.
        let far = [format(PixelKind::Mjpeg, 64, 48, 30), format(PixelKind::H264, 1920, 1080, 30)];
        assert_eq!(choose_format_for(&far, &settings(64, 48, 30), Codec::H264), Some(far[0]));

        // ffmpeg's libx264 pictures, one per buffer as a UVC camera's H.264 comes.
        let stream = &include_bytes!("../../../fuzz/corpus/annexb/x264_4_slices_whole")[1..];
        let mut assembler = crate::media::h264::annexb::Assembler::new();
        let mut pictures: Vec<AccessUnit> =
            assembler.push(stream).into_iter().chain(assembler.idle()).map(Result::unwrap).collect();
        let mut buffers = VecDeque::new();
        for unit in pictures.drain(..) {
            let mut annexb = Vec::new();
            unit.write_annexb(&mut annexb).unwrap();
            buffers.push_back(RawFrame { kind: PixelKind::H264, width: 64, height: 48, data: annexb });
        }
        let backend = Arc::new(FakeBackend {
            formats: formats.to_vec(),
            frames: Mutex::new(buffers),
            ..Default::default()
        });
        let source = UsbSource::new(0, backend.clone()).with_codec(Codec::H264);
        let mut cam = source.open(&settings(64, 48, 30)).unwrap();
        assert_eq!(*backend.started.lock().unwrap(), Some(formats[1]));
        let keys: Vec<bool> = (0..4)
            .map(|_| match cam.grab().unwrap() {
                Encoded::H264(unit) => unit.keyframe,
                Encoded::Jpeg(_) => panic!("H.264 passed through"),
            })
            .collect();
        assert_eq!(keys, [true, false, true, false]);
    }
}
