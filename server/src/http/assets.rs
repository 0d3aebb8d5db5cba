//! The web client, embedded at build time from `frontend/dist` (see `build.rs`), with the
//! brotli and gzip forms made there: each request gets the form its `Accept-Encoding`
//! prefers (`Vary: Accept-Encoding` tells caches so), the original when it accepts neither.
//! On a 2 Mbit/s phone link the client's `.wasm` is the page's largest paint by far.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

/// One file of the web client as embedded by `build.rs`.
#[derive(Debug)]
pub struct Embedded {
    /// Its URL path.
    pub path: &'static str,
    /// Its bytes.
    pub raw: &'static [u8],
    /// Its brotli form, when that is worth having.
    pub br: Option<&'static [u8]>,
    /// Its gzip form, when that is worth having.
    pub gz: Option<&'static [u8]>,
}

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
    ASSETS.iter().any(|asset| asset.path == "/index.html")
}

/// `/`: the client's `index.html`.
pub fn index(headers: &HeaderMap) -> Response {
    match find("/index.html") {
        Some(asset) => respond(asset, headers, "text/html; charset=utf-8", "no-cache"),
        None => Html(NOT_BUILT).into_response(),
    }
}

/// Any other path: an embedded file, or 404. Paths are looked up as exact keys of the
/// embedded table, never joined to a folder, so `..` and its encodings cannot reach a file.
pub async fn handler(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path == "/index.html" {
        return index(&headers);
    }
    match find(path) {
        Some(asset) => respond(asset, &headers, content_type(path), cache_control(path)),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// The form of `asset` the request accepts best.
fn respond(
    asset: &'static Embedded,
    request: &HeaderMap,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let Embedded { raw, br, gz, .. } = *asset;
    let accept = request.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok());
    let (body, encoding) = match choose(accept, br.is_some(), gz.is_some()) {
        Some(Encoding::Brotli) => (br.unwrap_or(raw), Some("br")),
        Some(Encoding::Gzip) => (gz.unwrap_or(raw), Some("gzip")),
        None => (raw, None),
    };
    let mut response =
        ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)], body).into_response();
    let headers = response.headers_mut();
    if br.is_some() || gz.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

/// A compressed form of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
}

/// Which form to send, given the request's `Accept-Encoding` (RFC 9110 §12.5.3) and the forms
/// there are: the acceptable one with the highest weight, brotli on a tie (it is smaller);
/// `None` for the original. `*` stands for any coding not named; a weight of 0 refuses.
fn choose(accept: Option<&str>, has_br: bool, has_gz: bool) -> Option<Encoding> {
    let accept = accept?;
    let (mut br, mut gz, mut any) = (None, None, None);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match name.as_str() {
            "br" => br = Some(weight),
            "gzip" | "x-gzip" => gz = Some(weight),
            "*" => any = Some(weight),
            _ => {}
        }
    }
    let br = if has_br { br.or(any).unwrap_or(0.0) } else { 0.0 };
    let gz = if has_gz { gz.or(any).unwrap_or(0.0) } else { 0.0 };
    match (br > 0.0, gz > 0.0) {
        (false, false) => None,
        (true, false) => Some(Encoding::Brotli),
        (false, true) => Some(Encoding::Gzip),
        (true, true) => Some(if gz > br { Encoding::Gzip } else { Encoding::Brotli }),
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

fn find(path: &str) -> Option<&'static Embedded> {
    ASSETS.iter().find(|asset| asset.path == path)
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
    fn the_best_accepted_encoding_is_chosen() {
        use Encoding::*;
        assert_eq!(choose(None, true, true), None);
        assert_eq!(choose(Some("gzip, deflate, br, zstd"), true, true), Some(Brotli));
        assert_eq!(choose(Some("gzip, deflate"), true, true), Some(Gzip));
        assert_eq!(choose(Some("br;q=0.5, gzip;q=0.8"), true, true), Some(Gzip));
        assert_eq!(choose(Some("br;q=0, gzip"), true, true), Some(Gzip));
        assert_eq!(choose(Some("br;q=0, gzip;q=0"), true, true), None);
        assert_eq!(choose(Some("identity"), true, true), None);
        assert_eq!(choose(Some("*"), true, true), Some(Brotli));
        assert_eq!(choose(Some("*;q=0.1, br;q=0"), true, true), Some(Gzip));
        assert_eq!(choose(Some("BR"), true, true), Some(Brotli));
        assert_eq!(choose(Some("x-gzip"), true, true), Some(Gzip));
        // Only forms that exist.
        assert_eq!(choose(Some("br"), false, true), None);
        assert_eq!(choose(Some("br, gzip"), false, true), Some(Gzip));
        assert_eq!(choose(Some("gzip ; q=0.3 , br ; q=0.2"), true, true), Some(Gzip));
    }

    #[test]
    fn hashed_files_are_cached_for_good_and_others_for_an_hour() {
        assert!(cache_control("/framecast-frontend-704c754074c08ef0_bg.wasm").contains("immutable"));
        assert!(cache_control("/style-97d165986fc4157f.css").contains("immutable"));
        assert_eq!(cache_control("/icon-192.png"), "public, max-age=3600");
        assert_eq!(cache_control("/manifest.webmanifest"), "public, max-age=3600");
    }
}
