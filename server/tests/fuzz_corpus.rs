//! Replays the server-side fuzz corpora (`mjpeg_split`, `ws_frame`) through the fuzz
//! targets' own checks, on stable Rust: the committed seeds (`fuzz/corpus/<target>/`) and
//! every crash input kept since (`fuzz/regressions/<target>/`). `cargo xtask fuzz` does the
//! fuzzing itself.

#[path = "../../fuzz/checks/mjpeg.rs"]
mod checks;

#[path = "../../fuzz/checks/wsframe.rs"]
mod wsframe;

#[path = "../../fuzz/checks/annexb.rs"]
mod annexb;

#[path = "../../fuzz/checks/corpus.rs"]
mod corpus;

use corpus::replay;

/// Seeds and crash inputs found by fuzzing (e.g. `frame_over_max_frame_in_one_push`).
#[test]
fn mjpeg_split_corpus_holds() {
    replay("mjpeg_split", checks::check_mjpeg_split);
}

#[test]
fn ws_frame_corpus_holds() {
    replay("ws_frame", wsframe::check_ws_frames);
}

#[test]
fn annexb_corpus_holds() {
    replay("annexb", annexb::check_annexb);
}
