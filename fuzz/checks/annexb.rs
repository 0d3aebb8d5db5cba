//! What must hold for any byte stream fed to the H.264 access unit assembler, however it is
//! cut up and wherever the pipe pauses.
//!
//! One file, two users, like the MJPEG check: the fuzz target `annexb` calls
//! [`check_annexb`] on every input libFuzzer makes, and `server/tests/fuzz_corpus.rs` replays
//! the committed seeds and crash inputs through it on stable Rust. A check fails by
//! panicking.
//!
//! Input layout, so the fuzzer chooses the cuts and the pauses as well as the bytes:
//!
//! ```text
//! [n: low 4 bits][n chunk lengths, one byte each][the stream to the end]
//! ```
//!
//! The stream is pushed in chunks of those lengths, cycling through them; a length of 0 is a
//! pause of the pipe (`Assembler::idle`) instead of a push. With no lengths it is pushed whole
//! and then the pipe pauses.

use framecast::media::h264::annexb::Assembler;
use framecast::media::h264::{AccessUnit, H264Error, nal};

/// Assembles the stream as the input says and checks every picture that comes out.
pub fn check_annexb(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (lengths, stream) = rest.split_at(usize::from(n & 0x0F).min(rest.len()));
    let mut assembler = Assembler::new();
    let mut pictures: Vec<Result<AccessUnit, H264Error>> = Vec::new();
    if lengths.is_empty() {
        pictures.extend(assembler.push(stream));
        pictures.extend(assembler.idle());
    } else {
        let mut rest = stream;
        for &len in lengths.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            if len == 0 {
                pictures.extend(assembler.idle());
                continue;
            }
            let (chunk, tail) = rest.split_at(usize::from(len).min(rest.len()));
            pictures.extend(assembler.push(chunk));
            rest = tail;
        }
        pictures.extend(assembler.idle());
    }
    for (i, picture) in pictures.iter().enumerate() {
        let Ok(unit) = picture else { continue };
        let nals: Vec<&[u8]> = unit
            .nals()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("picture {i}: its AVC lengths do not add up: {e}"));
        assert!(nals.iter().any(|n| nal::is_slice(n)), "picture {i} holds no slice");
        for (k, unit_nal) in nals.iter().enumerate() {
            assert!(!unit_nal.is_empty(), "picture {i}: NAL unit {k} is empty");
            assert_eq!(unit_nal[0] & 0x80, 0, "picture {i}: NAL unit {k} has its forbidden bit set");
            assert!(
                !unit_nal.windows(3).any(|w| w == [0, 0, 1]),
                "picture {i}: NAL unit {k} holds a start code"
            );
            assert!(
                !matches!(nal::kind(unit_nal), nal::SPS | nal::PPS | nal::AUD),
                "picture {i}: parameter sets and delimiters stay out of the picture"
            );
        }
        let idr = nals.iter().any(|n| nal::kind(n) == nal::IDR);
        assert_eq!(unit.keyframe, idr, "picture {i}: a keyframe exactly when it holds an IDR slice");
        assert!(unit.stream.width > 0 && unit.stream.height > 0, "picture {i}: a stream with a size");
    }
}
