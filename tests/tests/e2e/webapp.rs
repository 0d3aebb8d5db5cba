//! The embedded web client: served from the binary, installable (manifest + icons).

use crate::util::{Server, header, http_get_body};

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
