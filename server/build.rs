//! Embeds the built web client (`frontend/dist`, made by `trunk build`) into the binary, so a
//! single `framecast` file serves everything. When the client has not been built, the table is
//! empty and the server answers `/` with a small built-in page that says how to build it.

use std::{env, fs, path::Path, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let dist = env::var_os("FRAMECAST_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../frontend/dist"));
    println!("cargo:rerun-if-env-changed=FRAMECAST_WEB_DIST");
    println!("cargo:rerun-if-changed={}", dist.display());

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    }
    files.sort();

    let mut code = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (url, path) in &files {
        code.push_str(&format!("    ({url:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("assets.rs");
    fs::write(out, code).unwrap();
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            files.push((url, path.canonicalize().unwrap_or(path)));
        }
    }
}
