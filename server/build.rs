//! Embeds the built web client (`frontend/dist`, made by `trunk build`) into the binary, so a
//! single `framecast` file serves everything. When the client has not been built, the table is
//! empty and the server answers `/` with a small built-in page that says how to build it.
//!
//! Text and WebAssembly files are also compressed here, once, with brotli (best setting) and
//! gzip (level 9), and embedded beside the original: `http/assets.rs` serves the form the
//! browser accepts. A compressed form is kept only when it saves at least a tenth.

use std::io::Write;
use std::{env, fs, path::Path, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
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

    let compressed_dir = out_dir.join("compressed");
    let _ = fs::remove_dir_all(&compressed_dir);
    fs::create_dir_all(&compressed_dir).unwrap();
    let mut code = String::from("/// The embedded files.\npub static ASSETS: &[Embedded] = &[\n");
    for (index, (url, path)) in files.iter().enumerate() {
        let (mut br, mut gz) = (None, None);
        if compressible(url) {
            let raw = fs::read(path).unwrap();
            let worth = |packed: &[u8]| packed.len() * 10 <= raw.len() * 9;
            let brotli = brotli_compress(&raw);
            if worth(&brotli) {
                let file = compressed_dir.join(format!("{index}.br"));
                fs::write(&file, brotli).unwrap();
                br = Some(file);
            }
            let gzip = gzip_compress(&raw);
            if worth(&gzip) {
                let file = compressed_dir.join(format!("{index}.gz"));
                fs::write(&file, gzip).unwrap();
                gz = Some(file);
            }
        }
        let embed = |file: &Option<PathBuf>| match file {
            Some(file) => format!("Some(include_bytes!({:?}))", file.display().to_string()),
            None => "None".to_string(),
        };
        code.push_str(&format!(
            "    Embedded {{ path: {url:?}, raw: include_bytes!({:?}), br: {}, gz: {} }},\n",
            path.display().to_string(),
            embed(&br),
            embed(&gz)
        ));
    }
    code.push_str("];\n");
    fs::write(out_dir.join("assets.rs"), code).unwrap();
}

/// Types worth compressing (images are compressed already).
fn compressible(url: &str) -> bool {
    let ext = url.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    matches!(ext, "html" | "js" | "wasm" | "css" | "json" | "webmanifest" | "svg")
}

fn brotli_compress(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
    brotli::BrotliCompress(&mut &raw[..], &mut out, &params).unwrap();
    out
}

fn gzip_compress(raw: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(raw).unwrap();
    encoder.finish().unwrap()
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
