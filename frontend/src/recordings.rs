//! The recorded spans of a camera, from `GET /api/recordings`, for the timeline.

use framecast_shared::RecordedSpan;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The spans of camera `camera` that reach into `from_us..=to_us`.
pub async fn spans(camera: &str, from_us: u64, to_us: u64) -> Result<Vec<RecordedSpan>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let url = crate::token::with_token(&format!(
        "api/recordings?camera={}&from={from_us}&to={to_us}",
        js_sys::encode_uri_component(camera)
    ));
    let response = JsFuture::from(window.fetch_with_str(&url)).await.map_err(|e| format!("{e:?}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "not a response")?;
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    let text =
        JsFuture::from(response.text().map_err(|e| format!("{e:?}"))?).await.map_err(|e| format!("{e:?}"))?;
    serde_json::from_str(&text.as_string().unwrap_or_default()).map_err(|e| e.to_string())
}

/// The export URL of camera `camera` from `from_us` to `to_us`, as a Matroska file.
pub fn export_url(camera: &str, from_us: u64, to_us: u64) -> String {
    crate::token::with_token(&format!(
        "export?camera={}&from={from_us}&to={to_us}&format=mkv",
        js_sys::encode_uri_component(camera)
    ))
}
