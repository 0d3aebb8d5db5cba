//! What must hold for any bytes a WebSocket client sends: the server's frame parser
//! (`framecast::http::wsconn::parse_frame`) never panics, never hands out more than the limit,
//! keeps control frames small and whole, and finds the same frames however the bytes arrive.
//!
//! Shared by the fuzz target `ws_frame` and `server/tests/fuzz_corpus.rs` (both include this
//! file with `#[path]`). Input layout: `[cut: u8][the bytes a client sends]`; the bytes are
//! parsed whole, and again delivered in two pieces split at `cut` (scaled to the length).

use bytes::BytesMut;
use framecast::http::wsconn::{Frame, parse_frame};

/// The limit the viewer protocol uses (64 KB), small enough that the fuzzer reaches it.
const MAX: usize = 64 * 1024;

/// Parses `data` as the input says and checks every frame.
pub fn check_ws_frames(data: &[u8]) {
    let Some((&cut, stream)) = data.split_first() else { return };
    let whole = parse_all(&[stream]);
    let at = (usize::from(cut) * stream.len()) / 255;
    let pieces = parse_all(&[&stream[..at], &stream[at..]]);
    assert_eq!(whole, pieces, "frames depend on how the bytes arrived (cut at {at})");
}

/// Frames found, and whether parsing ended in an error.
fn parse_all(pieces: &[&[u8]]) -> (Vec<Frame>, bool) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match parse_frame(&mut buf, MAX) {
                Ok(Some(frame)) => {
                    assert!(
                        frame.payload.len() <= MAX,
                        "payload of {} bytes over the limit",
                        frame.payload.len()
                    );
                    if frame.opcode >= 8 {
                        assert!(
                            frame.fin && frame.payload.len() <= 125,
                            "control frame too long or fragmented"
                        );
                    }
                    assert!(before - buf.len() >= frame.payload.len() + 6, "consumed less than the frame");
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}
