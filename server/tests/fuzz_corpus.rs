//! Replays the `mjpeg_split` fuzz corpus through the fuzz target's own check, on stable Rust:
//! the committed seeds (`fuzz/corpus/mjpeg_split/`) and every crash input kept since
//! (`fuzz/regressions/mjpeg_split/`). `cargo xtask fuzz` does the fuzzing itself.

#[path = "../../fuzz/checks/mjpeg.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// Every file in `fuzz/<kind>/mjpeg_split/`, sorted, with its bytes.
fn inputs(kind: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz").join(kind).join("mjpeg_split");
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
