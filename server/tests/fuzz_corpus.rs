//! Replays the server-side fuzz corpora (`mjpeg_split`, `ws_frame`) through the fuzz
//! targets' own checks, on stable Rust: the committed seeds (`fuzz/corpus/<target>/`) and
//! every crash input kept since (`fuzz/regressions/<target>/`). `cargo xtask fuzz` does the
//! fuzzing itself.

#[path = "../../fuzz/checks/mjpeg.rs"]
mod checks;

#[path = "../../fuzz/checks/wsframe.rs"]
mod wsframe;

use std::path::{Path, PathBuf};

/// Every file in `fuzz/<kind>/mjpeg_split/`, sorted, with its bytes.
fn inputs(kind: &str) -> Vec<(PathBuf, Vec<u8>)> {
    inputs_of(kind, "mjpeg_split")
}

/// Every file in `fuzz/<kind>/<target>/`, sorted, with its bytes.
fn inputs_of(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz").join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            (p, data)
        })
        .collect()
}

#[test]
fn mjpeg_split_corpus_holds() {
    let seeds = inputs("corpus");
    assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/mjpeg_split");
    for (path, data) in &seeds {
        eprintln!("checking {}", path.display());
        checks::check_mjpeg_split(data);
    }
}

/// Crash inputs found by fuzzing, each named after what it catches.
#[test]
fn mjpeg_split_regressions_hold() {
    for (path, data) in &inputs("regressions") {
        eprintln!("checking {}", path.display());
        checks::check_mjpeg_split(data);
    }
}

#[test]
fn ws_frame_corpus_holds() {
    let seeds = inputs_of("corpus", "ws_frame");
    assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/ws_frame");
    for (path, data) in seeds.iter().chain(&inputs_of("regressions", "ws_frame")) {
        eprintln!("checking {}", path.display());
        wsframe::check_ws_frames(data);
    }
}
