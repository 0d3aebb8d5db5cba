//! The camera grid (`/?view=grid`): every camera at once, one tile each.
//!
//! Each tile is its own pipeline ([`Viewer`]) on its own WebSocket, asking for its camera
//! with `"size":"auto"` and the tile as the canvas: the server sends each tile the largest
//! rendition that fits it in device pixels (at most 2 per CSS pixel, [`TILE_DENSITY`]), and
//! steps down on a weak link, so four tiles on a phone cost what the tiles show, not four full
//! streams. Each tile says its own state
//! ("live", "camera offline: ...") and size; tapping one opens that camera full. The layout is
//! CSS: as many columns of at least 400 px as fit (one on a phone).

use framecast_shared::{ApiState, CameraInfo};
use leptos::html::Canvas;
use leptos::prelude::*;

use super::token_form::TokenForm;
use crate::stream::{Reporters, Stats, ViewState, Viewer, Watch};

/// At most this many device pixels per CSS pixel for a tile's picture. A tile is a preview
/// among several: on a phone's 3x screen, 2x looks the same in a moving picture of a few
/// centimetres and is 2.25x fewer pixels to send; the camera opened full gets every pixel.
const TILE_DENSITY: f64 = 2.0;

/// How long before asking for the cameras again after the server did not answer.
const RETRY_MS: u64 = 2000;

/// What the grid knows of the cameras.
#[derive(Debug, Clone, PartialEq)]
enum Listing {
    /// Asking the server.
    Loading,
    /// The server's cameras.
    Cameras(Vec<CameraInfo>),
    /// The server wants a token (`rejected`: the remembered one was refused).
    NeedsToken { rejected: bool },
    /// No answer, or a refusal other than the token; retried.
    Failed(String),
}

/// Every camera in a tile; `on_open` shows one of them full.
#[component]
pub fn Grid(
    /// Open this camera (by id) on its own.
    on_open: Callback<String>,
) -> impl IntoView {
    let (listing, set_listing) = signal(Listing::Loading);
    // Retries after a failure; stops when the grid goes away.
    let alive = StoredValue::new(true);
    on_cleanup(move || alive.set_value(false));
    let load = move || {
        leptos::task::spawn_local(async move {
            loop {
                let answer = cameras().await;
                let failed = matches!(answer, Listing::Failed(_));
                if alive.try_get_value() != Some(true) {
                    return;
                }
                set_listing.set(answer);
                if !failed {
                    return;
                }
                sleep_ms(RETRY_MS).await;
            }
        })
    };
    load();
    let on_token = Callback::new(move |token: String| {
        crate::token::store(&token);
        set_listing.set(Listing::Loading);
        load();
    });
    view! {
        <main class="grid-page">
            {move || match listing.get() {
                Listing::Loading => {
                    view! { <p class="grid-note" data-testid="grid-state">"connecting"</p> }.into_any()
                }
                Listing::Failed(why) => {
                    view! { <p class="grid-note warn" data-testid="grid-state">{why}</p> }.into_any()
                }
                Listing::NeedsToken { rejected } => {
                    view! {
                        <div class="grid-token">
                            <TokenForm rejected=Signal::derive(move || rejected) on_token=on_token />
                        </div>
                    }
                        .into_any()
                }
                Listing::Cameras(cameras) => {
                    view! {
                        <div class="grid" data-testid="grid">
                            {cameras
                                .into_iter()
                                .map(|camera| view! { <Tile camera=camera on_open=on_open /> })
                                .collect_view()}
                        </div>
                    }
                        .into_any()
                }
            }}
        </main>
    }
}

/// The server's cameras, from `/api/state`.
async fn cameras() -> Listing {
    let request = gloo_net::http::Request::get(&crate::token::with_token("api/state"));
    let response = match request.send().await {
        Ok(response) => response,
        Err(_) => return Listing::Failed("cannot reach the server; retrying".into()),
    };
    match response.status() {
        200..=299 => match response.json::<ApiState>().await {
            Ok(state) => Listing::Cameras(state.cameras),
            Err(e) => Listing::Failed(format!("the server's answer was not understood: {e}")),
        },
        401 => Listing::NeedsToken { rejected: crate::token::stored().is_some() },
        429 => Listing::Failed("too many wrong tokens; retrying".into()),
        status => Listing::Failed(format!("the server answered {status}; retrying")),
    }
}

/// Waits `ms` (a browser timeout).
async fn sleep_ms(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// One camera's tile: its picture at the tile's size, its name, state and size.
#[component]
fn Tile(
    /// The camera shown.
    camera: CameraInfo,
    /// Open this camera on its own.
    on_open: Callback<String>,
) -> impl IntoView {
    let viewer = Viewer::new();
    let canvas: NodeRef<Canvas> = NodeRef::new();
    let (state, set_state) = signal(ViewState::Connecting);
    let (stats, set_stats) = signal(Stats::default());
    let id = camera.id.clone();
    Effect::new({
        let id = id.clone();
        move |started: Option<bool>| {
            if started == Some(true) {
                return true;
            }
            let Some(element) = canvas.get() else { return false };
            let watch = Watch {
                camera: Some(id.clone()),
                size: Some("auto".into()),
                max_density: Some(TILE_DENSITY),
            };
            let report = Reporters {
                state: Box::new(move |s| set_state.set(s)),
                stats: Box::new(move |s| set_stats.set(s)),
                cameras: Box::new(|_| {}),
                playback: Box::new(|_| {}),
            };
            viewer.start(element, watch, report);
            true
        }
    });
    let href = format!("?camera={}", String::from(js_sys::encode_uri_component(&id)));
    let aspect = format!("aspect-ratio: {} / {}", camera.width.max(1), camera.height.max(1));
    let size = move || {
        stats.with(|s| {
            if s.width == 0 {
                String::new()
            } else {
                format!("{}×{} · {:.0} fps", s.width, s.height, s.drawn_fps)
            }
        })
    };
    let open_id = id.clone();
    view! {
        <a
            class="tile"
            href=href
            data-testid="tile"
            data-camera=id.clone()
            title=format!("Open {id}")
            on:click=move |e| {
                // A plain click opens it here; a middle or modified click opens a new tab.
                if e.button() == 0 && !(e.ctrl_key() || e.meta_key() || e.shift_key()) {
                    e.prevent_default();
                    on_open.run(open_id.clone());
                }
            }
        >
            <div class="tile-picture" style=aspect>
                <canvas
                    node_ref=canvas
                    width=camera.width
                    height=camera.height
                    aria-label=format!("live camera {id}")
                    class:stale=move || state.get().is_stale()
                ></canvas>
                // Over a dimmed or empty picture, what is wrong, in full.
                <Show when=move || state.get().is_stale()>
                    <span class="tile-note">{move || state.get().label()}</span>
                </Show>
            </div>
            <span class="tile-caption">
                <span class="tile-name">{id.clone()}</span>
                <span class="tile-state" data-testid="tile-state" class:warn=move || state.get().is_stale()>
                    {move || state.get().label()}
                </span>
                <span class="tile-size" data-testid="tile-size">{size}</span>
            </span>
        </a>
    }
}
