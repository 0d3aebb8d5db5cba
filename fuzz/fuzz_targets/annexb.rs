//! Fuzzes the H.264 access unit assembler (`Assembler::push` and `idle`), with fuzzer-chosen
//! cuts and pauses. The checks live in `fuzz/checks/annexb.rs`, shared with the corpus
//! regression test.
#![no_main]

#[path = "../checks/annexb.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_annexb(data));
