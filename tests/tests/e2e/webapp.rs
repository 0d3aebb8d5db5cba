//! The embedded web client: served from the binary, installable (manifest + icons), and
//! compressed as the browser accepts.

use std::io::Read;

use framecast_tests::http_client;

use crate::util::{Server, header, http_get_body, within};

#[tokio::test]
async fn the_binary_serves_the_built_client_and_it_is_installable() {
    let server = Server::start(&[]);
    let (status, headers, body) = http_get_body(&server, "/").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains(".wasm") || html.contains("_bg.wasm"),
        "the page does not load the wasm client: was the client built before the server? \
         (`cargo xtask test` builds it)\n{html}"
    );
    assert!(html.contains(r#"rel="manifest""#));

    let (status, headers, body) = http_get_body(&server, "/manifest.webmanifest").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/manifest+json"));
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(manifest["display"], "standalone");
    let icons = manifest["icons"].as_array().unwrap();
    assert!(icons.iter().any(|i| i["sizes"] == "512x512"), "an installable app needs a 512 px icon");
    for icon in icons {
        let src = icon["src"].as_str().unwrap();
        let (status, headers, body) = http_get_body(&server, &format!("/{src}")).await;
        assert_eq!(status, 200, "{src}");
        assert_eq!(header(&headers, "content-type"), icon["type"].as_str(), "{src}");
        assert!(!body.is_empty());
    }

    // The wasm module is served as application/wasm (needed for streaming compilation).
    let wasm = html.split('"').find(|part| part.ends_with("_bg.wasm")).expect("a wasm path in the page");
    let (status, headers, _) = http_get_body(&server, &format!("/{}", wasm.trim_start_matches('/'))).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
}

/// GET `path` with `Accept-Encoding: accept`: headers and body as sent.
async fn get_encoded(server: &Server, path: &str, accept: &str) -> (Vec<(String, String)>, Vec<u8>) {
    within(10, "response", async {
        let extra: Vec<(&str, &str)> =
            if accept.is_empty() { vec![] } else { vec![("accept-encoding", accept)] };
        let mut r = http_client::request(server.addr, "GET", path, &extra, &[]).await.unwrap();
        assert_eq!(r.status, 200, "{path}");
        let len: usize = header(&r.headers, "content-length").unwrap().parse().unwrap();
        let body = r.body.read_exact(len).await.unwrap();
        (r.headers, body)
    })
    .await
}

#[tokio::test]
async fn the_client_goes_out_compressed_as_the_browser_accepts() {
    let server = Server::start(&[]);
    let (_, _, html) = http_get_body(&server, "/").await;
    let html = String::from_utf8(html).unwrap();
    let wasm = html.split('"').find(|part| part.ends_with("_bg.wasm")).expect("a wasm path in the page");
    let wasm = format!("/{}", wasm.trim_start_matches('/'));
    for path in ["/", wasm.as_str()] {
        let (headers, raw) = get_encoded(&server, path, "").await;
        assert_eq!(
            header(&headers, "content-encoding"),
            None,
            "{path}: the original without Accept-Encoding"
        );
        assert_eq!(header(&headers, "vary"), Some("accept-encoding"), "{path}");

        // What Chromium, Firefox and Safari send: brotli.
        let (headers, br) = get_encoded(&server, path, "gzip, deflate, br, zstd").await;
        assert_eq!(header(&headers, "content-encoding"), Some("br"), "{path}");
        assert_eq!(header(&headers, "vary"), Some("accept-encoding"));
        let mut unpacked = Vec::new();
        brotli_decompressor::Decompressor::new(&br[..], 4096).read_to_end(&mut unpacked).unwrap();
        assert_eq!(unpacked, raw, "{path}: brotli unpacks to the file");

        // A client without brotli: gzip.
        let (headers, gz) = get_encoded(&server, path, "gzip;q=1.0, identity; q=0.5").await;
        assert_eq!(header(&headers, "content-encoding"), Some("gzip"), "{path}");
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut unpacked).unwrap();
        assert_eq!(unpacked, raw, "{path}: gzip unpacks to the file");

        if path == wasm {
            eprintln!(
                "wasm: {} bytes, brotli {} ({:.0} %), gzip {}",
                raw.len(),
                br.len(),
                br.len() as f64 * 100.0 / raw.len() as f64,
                gz.len()
            );
            assert!(
                br.len() * 3 < raw.len(),
                "the wasm compresses to under a third: {} of {}",
                br.len(),
                raw.len()
            );
            assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
        }
    }
    // Refused codings are not sent.
    let (headers, _) = get_encoded(&server, &wasm, "br;q=0, gzip;q=0").await;
    assert_eq!(header(&headers, "content-encoding"), None);
    // Images are compressed already: sent as they are.
    let (headers, _) = get_encoded(&server, "/icon-192.png", "br").await;
    assert_eq!(header(&headers, "content-encoding"), None);
}
