//! The access token, asked for once and remembered on this device (`localStorage`).
//!
//! A link may carry it (`?token=...`, handy to set up a phone): it is stored and removed from
//! the address bar at once, so it does not end up in bookmarks, history or screenshots.
//! Browsers cannot put headers on a WebSocket upgrade, so the WebSocket and the snapshot
//! download carry it as `?token=`. Whether the server wants one is learnt by [`probe`].

const STORAGE_KEY: &str = "framecast.token";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The remembered token.
pub fn stored() -> Option<String> {
    storage()?.get_item(STORAGE_KEY).ok().flatten().filter(|t| !t.is_empty())
}

/// Remembers `token` on this device (an empty one forgets it).
pub fn store(token: &str) {
    if let Some(storage) = storage() {
        let token = token.trim();
        let _ = if token.is_empty() {
            storage.remove_item(STORAGE_KEY)
        } else {
            storage.set_item(STORAGE_KEY, token)
        };
    }
}

/// Moves a `?token=` of the page's address into storage and out of the address bar.
pub fn adopt_from_address() {
    let Some(window) = web_sys::window() else { return };
    let search = window.location().search().unwrap_or_default();
    let mut kept = Vec::new();
    let mut found = None;
    for pair in search.trim_start_matches('?').split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("token=") {
            Some(value) => found = js_sys::decode_uri_component(value).ok().and_then(|v| v.as_string()),
            None => kept.push(pair),
        }
    }
    let Some(token) = found else { return };
    store(&token);
    let path = window.location().pathname().unwrap_or_else(|_| "/".into());
    let query = if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) };
    if let Ok(history) = window.history() {
        let _ =
            history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("{path}{query}")));
    }
}

/// `url` with `token=` added to its query when a token is remembered.
pub fn with_token(url: &str) -> String {
    match stored() {
        None => url.to_string(),
        Some(token) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}token={}", String::from(js_sys::encode_uri_component(&token)))
        }
    }
}

/// What the server says about this device's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Allowed (with the remembered token, or the server needs none).
    Allowed,
    /// A token is needed: none is remembered, or the remembered one is wrong.
    NeedsToken,
    /// Too many wrong tokens from this address; retry after this many seconds.
    LockedOut(u32),
    /// No answer (server down, network).
    Unknown,
}

/// Asks `/api/state` whether this device may watch.
pub async fn probe() -> Access {
    let Ok(response) = gloo_net::http::Request::get(&with_token("api/state")).send().await else {
        return Access::Unknown;
    };
    match response.status() {
        200..=299 => Access::Allowed,
        401 => Access::NeedsToken,
        429 => {
            let wait = response.headers().get("retry-after").and_then(|v| v.parse().ok());
            Access::LockedOut(wait.unwrap_or(60))
        }
        _ => Access::Unknown,
    }
}
