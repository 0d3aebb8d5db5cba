//! Fuzzes the WebSocket client-frame parser (`wsconn::parse_frame`) with fuzzer-chosen cuts.
//! The checks live in `fuzz/checks/wsframe.rs`, shared with the corpus regression test.
#![no_main]

#[path = "../checks/wsframe.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_ws_frames(data));
