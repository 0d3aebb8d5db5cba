//! The recorded spans of a camera, from `GET /api/recordings`, for the timeline.

use framecast_shared::RecordedSpan;
use gloo_net::http::Request;

/// The spans of camera `camera` that reach into `from_us..=to_us`.
pub async fn spans(camera: &str, from_us: u64, to_us: u64) -> Result<Vec<RecordedSpan>, String> {
    let url = crate::token::with_token(&format!(
        "api/recordings?camera={}&from={from_us}&to={to_us}",
        js_sys::encode_uri_component(camera)
    ));
    let response = Request::get(&url).send().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// The export URL of camera `camera` from `from_us` to `to_us`, as a Matroska file.
pub fn export_url(camera: &str, from_us: u64, to_us: u64) -> String {
    crate::token::with_token(&format!(
        "export?camera={}&from={from_us}&to={to_us}&format=mkv",
        js_sys::encode_uri_component(camera)
    ))
}
