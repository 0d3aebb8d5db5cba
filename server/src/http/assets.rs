//! The web client, embedded at build time from `frontend/dist` (see `build.rs`).

use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Shown at `/` when the binary was built without the web client.
const NOT_BUILT: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>framecast</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="background:#111;color:#ddd;font-family:sans-serif">
<p>The web client was not built into this binary (run <code>cargo xtask build</code>).
The camera is still here:</p>
<img src="stream.mjpg" alt="live camera" style="max-width:100%">
<p><a href="snapshot.jpg">snapshot.jpg</a> · <a href="api/state">api/state</a></p>
</body></html>
"#;

/// Whether the real web client is embedded.
pub fn client_embedded() -> bool {
    ASSETS.iter().any(|(path, _)| *path == "/index.html")
}

/// `/`: the client's `index.html`.
pub fn index() -> Response {
    match find("/index.html") {
        Some(body) => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body)
                .into_response()
        }
        None => Html(NOT_BUILT).into_response(),
    }
}

/// Any other path: an embedded file, or 404. Paths are looked up as exact keys of the
/// embedded table, never joined to a folder, so `..` and its encodings cannot reach a file.
pub async fn handler(uri: Uri) -> Response {
    let path = uri.path();
    if path == "/index.html" {
        return index();
    }
    match find(path) {
        Some(body) => {
            ([(header::CONTENT_TYPE, content_type(path)), (header::CACHE_CONTROL, cache_control(path))], body)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// Files whose name carries Trunk's content hash never change: cache them for a year. Others
/// (icons, manifest) for an hour.
fn cache_control(path: &str) -> &'static str {
    let stem = path.rsplit('/').next().unwrap_or(path).split('.').next().unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let hashed = stem
        .rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    if hashed { "public, max-age=31536000, immutable" } else { "public, max-age=3600" }
}

fn find(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, body)| *body)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasm_is_served_as_application_wasm() {
        assert_eq!(content_type("/app-123_bg.wasm"), "application/wasm");
        assert_eq!(content_type("/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/noext"), "application/octet-stream");
    }

    #[test]
    fn hashed_files_are_cached_for_good_and_others_for_an_hour() {
        assert!(cache_control("/framecast-frontend-704c754074c08ef0_bg.wasm").contains("immutable"));
        assert!(cache_control("/style-97d165986fc4157f.css").contains("immutable"));
        assert_eq!(cache_control("/icon-192.png"), "public, max-age=3600");
        assert_eq!(cache_control("/manifest.webmanifest"), "public, max-age=3600");
    }
}
