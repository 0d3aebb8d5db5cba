//! Fragmented MP4 (ISO BMFF) for one H.264 track, one frame per fragment: what a browser's
//! `MediaSource` takes, and what `/stream.mp4` and the MP4 export send to players.
//!
//! Written by hand rather than with a crate: the shapes are fixed (an init segment, then a
//! `moof`+`mdat` per frame), the writer is shared by the server and the WebAssembly client,
//! and it writes straight into one buffer with the sample appended by the caller, no copy of
//! the picture. `mp4-atom` can write the same boxes but needs each sample copied into an
//! `Mdat` and the `moof` encoded twice to know its data offset. The layout follows what
//! moonfire-nvr and go2rtc send to MSE in Chromium, Firefox and Safari: timescale 90 kHz,
//! `tfdt` before `trun`, durations never zero, decode times a gap-free running sum (a viewer
//! that skipped frames plays on without a stall), sync flags on keyframes only.
//!
//! Samples are AVC (each NAL behind its 4-byte length); the parameter sets live in the
//! `avcC` record of the init segment ([`avcc`]).

/// Ticks per second of the track (the RTP clock of H.264).
pub const TIMESCALE: u32 = 90_000;

/// `sample_flags` of a keyframe: depends on nothing, a sync sample.
const KEY_FLAGS: u32 = 0x0200_0000;
/// `sample_flags` of any other frame: depends on others, not a sync sample.
const DELTA_FLAGS: u32 = 0x0101_0000;

/// A box writer over one buffer: `begin` reserves the size, `end` fills it in.
struct Boxes<'a> {
    out: &'a mut Vec<u8>,
    open: Vec<usize>,
}

impl Boxes<'_> {
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn raw(&mut self, v: &[u8]) {
        self.out.extend_from_slice(v);
    }
    fn zeros(&mut self, n: usize) {
        self.out.resize(self.out.len() + n, 0);
    }
    fn begin(&mut self, kind: &[u8; 4]) {
        self.open.push(self.out.len());
        self.u32(0);
        self.raw(kind);
    }
    fn begin_full(&mut self, kind: &[u8; 4], version: u8, flags: u32) {
        self.begin(kind);
        self.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
    }
    fn end(&mut self) {
        let start = self.open.pop().expect("boxes are balanced");
        let len = (self.out.len() - start) as u32;
        self.out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
    fn unity_matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }
}

/// The `AVCDecoderConfigurationRecord` of one SPS and one PPS (NAL units without start code
/// or length, header byte first), declaring 4-byte NAL lengths. `None` for an SPS too short
/// to name its profile and level.
pub fn avcc(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    let [_, profile, constraints, level, ..] = *sps else { return None };
    let mut v = vec![1, profile, constraints, level, 0xFF, 0xE1];
    v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    v.extend_from_slice(sps);
    v.push(1);
    v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    v.extend_from_slice(pps);
    Some(v)
}

/// The RFC 6381 codec of an `avcC` record or an SPS, `avc1.PPCCLL` (`avc1.42C01F`): what
/// `MediaSource.isTypeSupported`, `addSourceBuffer` and `VideoDecoder.configure` ask for.
pub fn codec_string(profile: u8, constraints: u8, level: u8) -> String {
    format!("avc1.{profile:02X}{constraints:02X}{level:02X}")
}

/// The MIME type for `MediaSource` of a track with this `avcC`.
pub fn mime_type(avcc: &[u8]) -> Option<String> {
    let [_, profile, constraints, level, ..] = *avcc else { return None };
    Some(format!("video/mp4; codecs=\"{}\"", codec_string(profile, constraints, level)))
}

/// The init segment (`ftyp` + `moov`) of a `width` x `height` H.264 track with this `avcC`.
pub fn init_segment(avcc: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(700 + avcc.len());
    let mut w = Boxes { out: &mut out, open: Vec::new() };
    w.begin(b"ftyp");
    w.raw(b"iso5");
    w.u32(512);
    w.raw(b"iso5iso6mp41");
    w.end();
    w.begin(b"moov");
    w.begin_full(b"mvhd", 0, 0);
    w.zeros(8);
    w.u32(1000);
    w.u32(0);
    w.u32(0x0001_0000);
    w.u16(0x0100);
    w.zeros(10);
    w.unity_matrix();
    w.zeros(24);
    w.u32(2);
    w.end();
    w.begin(b"trak");
    w.begin_full(b"tkhd", 0, 3);
    w.zeros(8);
    w.u32(1);
    w.zeros(4 + 4 + 8);
    w.zeros(8);
    w.unity_matrix();
    w.u32(u32::from(width) << 16);
    w.u32(u32::from(height) << 16);
    w.end();
    w.begin(b"mdia");
    w.begin_full(b"mdhd", 0, 0);
    w.zeros(8);
    w.u32(TIMESCALE);
    w.u32(0);
    w.u16(0x55C4);
    w.u16(0);
    w.end();
    w.begin_full(b"hdlr", 0, 0);
    w.u32(0);
    w.raw(b"vide");
    w.zeros(12);
    w.raw(b"framecast\0");
    w.end();
    w.begin(b"minf");
    w.begin_full(b"vmhd", 0, 1);
    w.zeros(8);
    w.end();
    w.begin(b"dinf");
    w.begin_full(b"dref", 0, 0);
    w.u32(1);
    w.begin_full(b"url ", 0, 1);
    w.end();
    w.end();
    w.end();
    w.begin(b"stbl");
    w.begin_full(b"stsd", 0, 0);
    w.u32(1);
    w.begin(b"avc1");
    w.zeros(6);
    w.u16(1);
    w.zeros(16);
    w.u16(width);
    w.u16(height);
    w.u32(0x0048_0000);
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1);
    w.zeros(32);
    w.u16(0x0018);
    w.u16(0xFFFF);
    w.begin(b"avcC");
    w.raw(avcc);
    w.end();
    w.begin(b"pasp");
    w.u32(1);
    w.u32(1);
    w.end();
    w.end();
    w.end();
    for kind in [b"stts", b"stsc", b"stco"] {
        w.begin_full(kind, 0, 0);
        w.u32(0);
        w.end();
    }
    w.begin_full(b"stsz", 0, 0);
    w.u32(0);
    w.u32(0);
    w.end();
    w.end();
    w.end();
    w.end();
    w.end();
    w.begin(b"mvex");
    w.begin_full(b"trex", 0, 0);
    w.u32(1);
    w.u32(1);
    w.zeros(12);
    w.end();
    w.end();
    w.end();
    out
}

/// Numbers the fragments of one stream and keeps its decode time: one per connection (or
/// file), started at 0 whatever the source's clock, so a player starts playing at once.
#[derive(Debug, Clone, Default)]
pub struct Fragmenter {
    sequence: u32,
    decode_time: u64,
}

impl Fragmenter {
    /// A stream starting at time 0.
    pub fn new() -> Fragmenter {
        Fragmenter::default()
    }

    /// Appends to `out` the `moof` and the `mdat` header of one sample of `sample_len` bytes
    /// lasting `duration_us`; the caller appends the sample itself right after. Durations are
    /// at least 1 ms (WebKit refuses zero) and at most 10 s.
    pub fn fragment_header(&mut self, out: &mut Vec<u8>, sample_len: u32, duration_us: u64, keyframe: bool) {
        let duration =
            ((duration_us.clamp(1_000, 10_000_000) * u64::from(TIMESCALE) + 500_000) / 1_000_000) as u32;
        self.sequence = self.sequence.wrapping_add(1);
        let start = out.len();
        let mut w = Boxes { out, open: Vec::new() };
        w.begin(b"moof");
        w.begin_full(b"mfhd", 0, 0);
        w.u32(self.sequence);
        w.end();
        w.begin(b"traf");
        // default-base-is-moof, default duration, size and flags present.
        w.begin_full(b"tfhd", 0, 0x02_0000 | 0x08 | 0x10 | 0x20);
        w.u32(1);
        w.u32(duration);
        w.u32(sample_len);
        w.u32(if keyframe { KEY_FLAGS } else { DELTA_FLAGS });
        w.end();
        w.begin_full(b"tfdt", 1, 0);
        w.u64(self.decode_time);
        w.end();
        w.begin_full(b"trun", 0, 0x01);
        w.u32(1);
        let offset_at = w.out.len();
        w.u32(0);
        w.end();
        w.end();
        w.end();
        let data_offset = (w.out.len() - start + 8) as u32;
        w.out[offset_at..offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
        w.u32(8 + sample_len);
        w.raw(b"mdat");
        self.decode_time += u64::from(duration);
    }

    /// The decode time the next fragment starts at, in [`TIMESCALE`] ticks.
    pub fn decode_time(&self) -> u64 {
        self.decode_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boxes directly inside `data`: (kind, body).
    fn boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 8 <= data.len() {
            let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = data[at + 4..at + 8].try_into().unwrap();
            assert!(len >= 8 && at + len <= data.len(), "box {:?} of {len} bytes at {at}", kind);
            out.push((kind, &data[at + 8..at + len]));
            at += len;
        }
        assert_eq!(at, data.len(), "boxes cover the buffer exactly");
        out
    }

    const SPS: &[u8] = &[0x67, 0x42, 0xC0, 0x1F, 0x8C, 0x8D, 0x40];
    const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];

    #[test]
    fn avcc_and_codec_strings_come_from_the_sps() {
        let record = avcc(SPS, PPS).unwrap();
        assert_eq!(&record[..6], &[1, 0x42, 0xC0, 0x1F, 0xFF, 0xE1]);
        assert_eq!(mime_type(&record).unwrap(), r#"video/mp4; codecs="avc1.42C01F""#);
        assert!(avcc(&[0x67, 0x42], PPS).is_none());
    }

    #[test]
    fn the_init_segment_is_ftyp_then_a_moov_with_one_avc1_track() {
        let init = init_segment(&avcc(SPS, PPS).unwrap(), 1280, 720);
        let top = boxes(&init);
        assert_eq!(top.iter().map(|b| &b.0).collect::<Vec<_>>(), [b"ftyp", b"moov"]);
        let moov = boxes(top[1].1);
        assert_eq!(moov.iter().map(|b| &b.0).collect::<Vec<_>>(), [b"mvhd", b"trak", b"mvex"]);
        let avc1 = init.windows(4).position(|w| w == b"avc1").unwrap();
        assert_eq!(u16::from_be_bytes([init[avc1 + 4 + 24], init[avc1 + 4 + 25]]), 1280);
        assert_eq!(u16::from_be_bytes([init[avc1 + 4 + 26], init[avc1 + 4 + 27]]), 720);
    }

    #[test]
    fn fragments_carry_offsets_sizes_and_a_running_decode_time() {
        let mut fragmenter = Fragmenter::new();
        let sample = [0, 0, 0, 3, 0x65, 0x88, 0x84];
        let mut out = Vec::new();
        fragmenter.fragment_header(&mut out, sample.len() as u32, 33_333, true);
        out.extend_from_slice(&sample);
        let top = boxes(&out);
        assert_eq!(top.iter().map(|b| &b.0).collect::<Vec<_>>(), [b"moof", b"mdat"]);
        assert_eq!(top[1].1, &sample, "the sample is the mdat");
        let trun = out.windows(4).position(|w| w == b"trun").unwrap();
        let offset = u32::from_be_bytes(out[trun + 12..trun + 16].try_into().unwrap()) as usize;
        assert_eq!(&out[offset..], &sample, "data_offset points at the sample from the moof");
        assert_eq!(fragmenter.decode_time(), 3000);
        // A zero duration still advances (WebKit), and the sequence counts on.
        let mut second = Vec::new();
        fragmenter.fragment_header(&mut second, 1, 0, false);
        assert_eq!(fragmenter.decode_time(), 3090);
        let mfhd = second.windows(4).position(|w| w == b"mfhd").unwrap();
        assert_eq!(u32::from_be_bytes(second[mfhd + 8..mfhd + 12].try_into().unwrap()), 2);
    }
}
