//! What must hold for any input to the wire-protocol decoders.
//!
//! One file, two users: the fuzz targets `frame_header` and `client_message` call these checks
//! on every input libFuzzer makes, and `shared/tests/fuzz_corpus.rs` replays the committed seeds
//! and crash inputs through the very same checks on stable Rust (both include this file with
//! `#[path]`). A check fails by panicking.

use framecast_shared::control::MAX_CLIENT_MESSAGE;
use framecast_shared::{ClientMessage, FrameDecodeError, FrameHeader, ProtocolError, ServerMessage};

/// Binary frame messages: decoding never panics; a decoded header ends inside the message; the
/// header's prefix alone decodes the same (the documented contract of `decode_message`); and
/// encoding the header again in front of the rest (whole, or as `encode_prefix` + JPEG) gives
/// back the same header and JPEG bytes.
pub fn check_frame_header(data: &[u8]) {
    match FrameHeader::header_len(data) {
        Ok(len) => {
            assert!(data.len() >= 2);
            assert_eq!(len, usize::from(u16::from_le_bytes([data[0], data[1]])));
        }
        Err(e) => assert_eq!(e, FrameDecodeError::TooShort(data.len())),
    }
    let Ok((header, offset)) = FrameHeader::decode_message(data) else {
        return;
    };
    assert!(offset <= data.len(), "JPEG offset {offset} past the end of a {}-byte message", data.len());
    assert_eq!(FrameHeader::decode_message(&data[..offset]), Ok((header.clone(), offset)));
    let jpeg = &data[offset..];
    // The decoded JSON was at most 65535 bytes, and serde_json writes it back no longer: no
    // whitespace, no unknown fields, every escape at its shortest (all fields are required).
    let message = header.encode_message(jpeg).expect("a decoded header fits the length prefix again");
    let prefix = header.encode_prefix().expect("the prefix alone fits too");
    assert_eq!([&prefix[..], jpeg].concat(), message, "encode_prefix + JPEG is not encode_message");
    let (again, at) = FrameHeader::decode_message(&message).expect("a re-encoded message decodes");
    assert_eq!(again, header);
    assert_eq!(&message[at..], jpeg);
}

/// JSON text messages: arbitrary bytes, as lossy UTF-8 (which is the input itself when it is
/// valid UTF-8), through both parsers.
pub fn check_text_messages(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_client_message(&text);
    check_server_message(&text);
}

/// Never panics; oversized text is refused before parsing; a parsed message survives
/// `to_json` and `parse` (floats to within rounding, see [`same_float`]).
fn check_client_message(text: &str) {
    let parsed = ClientMessage::parse(text);
    if text.len() > MAX_CLIENT_MESSAGE {
        assert_eq!(parsed, Err(ProtocolError::TooLarge(text.len())));
    }
    let Ok(msg) = parsed else { return };
    let json = msg.to_json();
    let again = ClientMessage::parse(&json).unwrap_or_else(|e| panic!("{json} does not parse again: {e}"));
    let same = match (&msg, &again) {
        (ClientMessage::Ping { t: a }, ClientMessage::Ping { t: b }) => same_float(*a, *b),
        (
            ClientMessage::Hello { window: wa, max_fps: fa, size: sa, canvas: ca, accept: aa },
            ClientMessage::Hello { window: wb, max_fps: fb, size: sb, canvas: cb, accept: ab },
        ) => {
            wa == wb
                && sa == sb
                && ca == cb
                && aa == ab
                && match (fa, fb) {
                    (Some(a), Some(b)) => same_float(*a, *b),
                    (a, b) => a == b,
                }
        }
        (a, b) => a == b,
    };
    assert!(same, "{msg:?} became {again:?} through {json}");
}

/// Never panics; a parsed message survives `to_json` and `parse`.
fn check_server_message(text: &str) {
    let Ok(msg) = ServerMessage::parse(text) else { return };
    let json = msg.to_json();
    let again = ServerMessage::parse(&json).unwrap_or_else(|e| panic!("{json} does not parse again: {e}"));
    let same = match (&msg, &again) {
        (ServerMessage::Pong { t: a, server_us: sa }, ServerMessage::Pong { t: b, server_us: sb }) => {
            same_float(*a, *b) && sa == sb
        }
        (a, b) => a == b,
    };
    assert!(same, "{msg:?} became {again:?} through {json}");
}

/// Equal to within a few units in the last place. serde_json is built without its
/// `float_roundtrip` feature, so parsing the shortest decimal form of an f64 can land one ULP
/// off (e.g. `1.947700395895162e-169`): floats are not guaranteed to survive JSON exactly.
fn same_float(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= a.abs().max(b.abs()) * 4.0 * f64::EPSILON
}
