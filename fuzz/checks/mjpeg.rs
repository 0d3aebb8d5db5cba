//! What must hold for any byte stream fed to the MJPEG splitter, however it is cut up.
//!
//! One file, two users: the fuzz target `mjpeg_split` calls [`check_mjpeg_split`] on every
//! input libFuzzer makes, and `server/tests/fuzz_corpus.rs` replays the committed seeds and
//! crash inputs through the very same check on stable Rust (both include this file with
//! `#[path]`). A check fails by panicking.
//!
//! Input layout, so the fuzzer chooses the frame limit and the cuts as well as the bytes:
//!
//! ```text
//! [max_frame: u16 LE][n: low 4 bits][n chunk lengths, one byte each][the stream to the end]
//! ```
//!
//! The stream is pushed in chunks of those lengths, cycling through them (a 0 pushes an empty
//! chunk); with no lengths, or only zeros, it is pushed whole.

use framecast::media::jpeg::split::JpegSplitter;

/// Splits the stream as the input says and checks every frame that comes out.
pub fn check_mjpeg_split(data: &[u8]) {
    let Some(([lo, hi, n], rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let max_frame = usize::from(u16::from_le_bytes([*lo, *hi]));
    let (lengths, stream) = rest.split_at(usize::from(n & 0x0F).min(rest.len()));
    let chunks = cut(stream, lengths);
    let frames = split(max_frame, &chunks);

    let mut from = 0;
    for (i, frame) in frames.iter().enumerate() {
        assert!(frame.len() >= 4, "frame {i} is only {} bytes", frame.len());
        assert_eq!(frame[..2], [0xFF, 0xD8], "frame {i} does not start with SOI");
        assert_eq!(frame[frame.len() - 2..], [0xFF, 0xD9], "frame {i} does not end with EOI");
        assert!(frame.len() <= max_frame, "frame {i} has {} bytes, over max_frame {max_frame}", frame.len());
        // Frames are pieces of the stream, in order, not overlapping.
        let at = find(&stream[from..], frame)
            .unwrap_or_else(|| panic!("frame {i} is not a piece of the stream after byte {from}"));
        from += at + frame.len();
    }

    // How the bytes were cut must not matter. Only promised while the frame limit cannot
    // trigger: past it the splitter drops the buffered frame when a push ends, so where the
    // pushes end matters.
    if stream.len() <= max_frame {
        assert_eq!(frames, split(max_frame, &[stream]), "chunks {:?} split differently", lengths);
    }
}

/// The stream in chunks of the given lengths, cycling through them.
fn cut<'a>(stream: &'a [u8], lengths: &[u8]) -> Vec<&'a [u8]> {
    if lengths.iter().all(|&l| l == 0) {
        return vec![stream];
    }
    let mut chunks = Vec::new();
    let mut rest = stream;
    for &len in lengths.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(usize::from(len).min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

fn split(max_frame: usize, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut splitter = JpegSplitter::new(max_frame);
    chunks.iter().flat_map(|chunk| splitter.push(chunk)).map(|frame| frame.to_vec()).collect()
}

/// Offset of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=haystack.len().checked_sub(needle.len())?).find(|&i| haystack[i..].starts_with(needle))
}
