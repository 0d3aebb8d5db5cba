//! MP4: the fragmented form ([`framecast_shared::fmp4`], one fragment per frame, the writer
//! `/stream.mp4` and the browser's MediaSource path use), with each frame lasting until the
//! next one was captured, so the file plays at the recorded pace, pauses and all.

use bytes::Bytes;
use framecast_shared::fmp4::{self, Fragmenter};

use super::Sample;

/// Writes one file: the init segment, then each sample once the next one says how long it
/// lasts.
#[derive(Debug)]
pub struct Muxer {
    init: Option<Bytes>,
    fragmenter: Fragmenter,
    pending: Option<Sample>,
    /// Duration of the last sample.
    interval_us: u64,
}

impl Muxer {
    /// A file of a `width` x `height` H.264 track with this `avcC`; the last frame lasts
    /// `interval_us`.
    pub fn new(avcc: &[u8], width: u32, height: u32, interval_us: u64) -> Muxer {
        let (w, h) = (u16::try_from(width).unwrap_or(u16::MAX), u16::try_from(height).unwrap_or(u16::MAX));
        Muxer {
            init: Some(Bytes::from(fmp4::init_segment(avcc, w, h))),
            fragmenter: Fragmenter::new(),
            pending: None,
            interval_us,
        }
    }

    /// The init segment (once).
    pub fn header(&mut self) -> Bytes {
        self.init.take().unwrap_or_default()
    }

    /// Takes the next sample; returns the fragment of the one before it.
    pub fn push(&mut self, sample: &Sample) -> Option<Bytes> {
        let previous = self.pending.replace(sample.clone())?;
        let duration = sample.captured_us.saturating_sub(previous.captured_us);
        Some(self.fragment(&previous, duration))
    }

    /// The fragment of the last sample.
    pub fn finish(&mut self) -> Option<Bytes> {
        let last = self.pending.take()?;
        Some(self.fragment(&last, self.interval_us))
    }

    fn fragment(&mut self, sample: &Sample, duration_us: u64) -> Bytes {
        let mut out = Vec::with_capacity(sample.data.len() + 120);
        self.fragmenter.fragment_header(&mut out, sample.data.len() as u32, duration_us, sample.key);
        out.extend_from_slice(&sample.data);
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_frame_lasts_until_the_next_and_the_last_the_usual_interval() {
        let mut muxer = Muxer::new(&[1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 0, 1, 0, 0], 320, 240, 40_000);
        let header = muxer.header();
        assert_eq!(&header[4..8], b"ftyp");
        assert!(muxer.header().is_empty());
        let sample = |us, key| Sample { captured_us: us, key, data: Bytes::from_static(&[0, 0, 0, 1, 0x65]) };
        assert!(muxer.push(&sample(1_000_000, true)).is_none());
        let first = muxer.push(&sample(1_100_000, false)).unwrap();
        assert_eq!(&first[4..8], b"moof");
        assert!(first.ends_with(&[0, 0, 0, 1, 0x65]));
        let last = muxer.finish().unwrap();
        assert!(muxer.finish().is_none());
        // Decode times: 0 for the first fragment, 100 ms later (in 90 kHz) for the second.
        let tfdt = |f: &Bytes| {
            let at = f.windows(4).position(|w| w == b"tfdt").unwrap() + 8;
            u64::from_be_bytes(f[at..at + 8].try_into().unwrap())
        };
        assert_eq!(tfdt(&first), 0);
        assert_eq!(tfdt(&last), 9_000);
    }
}
