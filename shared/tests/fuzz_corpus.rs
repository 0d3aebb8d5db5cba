//! Replays the fuzz corpus through the fuzz targets' own checks, on stable Rust: the committed
//! seeds (`fuzz/corpus/<target>/`) and every crash input kept since
//! (`fuzz/regressions/<target>/`). `cargo xtask fuzz` does the fuzzing itself.

#[path = "../../fuzz/checks/protocol.rs"]
mod checks;

#[path = "../../fuzz/checks/corpus.rs"]
mod corpus;

use corpus::replay;

#[test]
fn frame_header_corpus_holds() {
    replay("frame_header", checks::check_frame_header);
}

#[test]
fn client_message_corpus_holds() {
    replay("client_message", checks::check_text_messages);
}
