//! Fuzzes the MJPEG splitter (`JpegSplitter::push`), with fuzzer-chosen cuts and frame limit.
//! The checks live in `fuzz/checks/mjpeg.rs`, shared with the corpus regression test.
#![no_main]

#[path = "../checks/mjpeg.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_mjpeg_split(data));
