//! Fuzzes JSON text messages (`ClientMessage::parse`, `ServerMessage::parse`).
//! The checks live in `fuzz/checks/protocol.rs`, shared with the corpus regression test.
#![no_main]

#[path = "../checks/protocol.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_text_messages(data));
