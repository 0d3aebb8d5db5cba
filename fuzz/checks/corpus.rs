//! Not a check itself: how the stable test suites (`shared/tests/fuzz_corpus.rs`,
//! `server/tests/fuzz_corpus.rs`) replay the committed fuzz inputs through the checks. Both
//! include this file with `#[path]`, as they include the checks.

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

/// Runs `check` on every committed seed (`fuzz/corpus/<target>/`, which must not be empty) and
/// every crash input kept since (`fuzz/regressions/<target>/`); a failure names the file
/// (printed before each check).
pub fn replay(target: &str, check: fn(&[u8])) {
    let seeds = inputs("corpus", target);
    assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/{target}");
    for (path, data) in seeds.iter().chain(&inputs("regressions", target)) {
        eprintln!("checking {}", path.display());
        check(data);
    }
}
