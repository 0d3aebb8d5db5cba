//! Replays the fuzz corpus through the fuzz targets' own checks, on stable Rust: the committed
//! seeds (`fuzz/corpus/<target>/`) and every crash input kept since
//! (`fuzz/regressions/<target>/`). `cargo xtask fuzz` does the fuzzing itself.

#[path = "../../fuzz/checks/protocol.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// Every file in `fuzz/<kind>/<target>/`, sorted, with its bytes.
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
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

/// Runs `check` on every input; a failure names the file (printed before each check).
fn replay(target: &str, check: fn(&[u8])) {
    let seeds = inputs("corpus", target);
    assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/{target}");
    for (path, data) in seeds.iter().chain(&inputs("regressions", target)) {
        eprintln!("checking {}", path.display());
        check(data);
    }
}

#[test]
fn frame_header_corpus_holds() {
    replay("frame_header", checks::check_frame_header);
}

#[test]
fn client_message_corpus_holds() {
    replay("client_message", checks::check_text_messages);
}
