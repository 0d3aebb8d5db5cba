//! The page. The address says which view: one camera ([`LiveView`]: the canvas with the
//! overlay and recorded badge, the timeline, the control bar, the keyboard shortcuts), or with
//! `?view=grid` every camera at once ([`Grid`]). Going between them is a history entry, so
//! Back returns. The parts are in [`crate::components`].
//!
//! Keyboard: `space`/`k` pause, `s` snapshot, `f` fullscreen, `o` overlay; while the
//! recording is paused `←`/`→` step a frame; `j`/`l` jump 10 s back/on.

use framecast_shared::PlaybackMode;
use leptos::ev;
use leptos::html::{Canvas, Div};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::components::controls::ControlBar;
use crate::components::grid::Grid;
use crate::components::overlay::{MotionBadge, Overlay, RecordedBadge};
use crate::components::settings::SettingsPanel;
use crate::components::timeline::{Range, Timeline};
use crate::components::token_form::TokenForm;
use crate::stream::{Cameras, Playback, Reporters, Stats, ViewState, Viewer, Watch};

/// How far `j` and `l` jump, µs.
const JUMP_US: u64 = 10_000_000;

/// The views the address can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    /// One camera (`?camera=ID`, or the first).
    Live,
    /// Every camera (`?view=grid`).
    Grid,
}

/// The view the page's address asks for.
fn page_in_address() -> Page {
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    let grid = search.trim_start_matches('?').split('&').any(|pair| pair == "view=grid");
    if grid { Page::Grid } else { Page::Live }
}

/// The whole client: the view the address asks for.
#[component]
pub fn App() -> impl IntoView {
    crate::token::adopt_from_address();
    let (address, set_address) = signal(page_in_address());
    // Back and Forward move between the grid and a camera.
    let handle = window_event_listener(ev::popstate, move |_| set_address.set(page_in_address()));
    on_cleanup(move || handle.remove());
    // Only a change of view replaces it (and stops the pipelines of the one left).
    let page = Memo::new(move |_| address.get());
    let go = move |query: String| {
        if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
            let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&query));
        }
        set_address.set(page_in_address());
    };
    let to_grid = Callback::new(move |_| go("?view=grid".into()));
    let open = Callback::new(move |id: String| go(format!("?camera={}", js_sys::encode_uri_component(&id))));
    move || match page.get() {
        Page::Live => view! { <LiveView on_grid=to_grid /> }.into_any(),
        Page::Grid => view! { <Grid on_open=open /> }.into_any(),
    }
}

/// One camera, large, with everything to watch and control it.
#[component]
fn LiveView(
    /// Show every camera instead.
    on_grid: Callback<()>,
) -> impl IntoView {
    let viewer = Viewer::new();
    provide_context(viewer);
    let canvas: NodeRef<Canvas> = NodeRef::new();
    let stage: NodeRef<Div> = NodeRef::new();
    let (state, set_state) = signal(ViewState::Connecting);
    let (stats, set_stats) = signal(Stats::default());
    let overlay = RwSignal::new(true);
    let (paused, set_paused) = signal(false);
    let (cameras, set_cameras) = signal(Cameras::default());
    let (playback, set_playback) = signal(Playback::default());
    let panel = RwSignal::new(false);
    let zoom = RwSignal::new(crate::components::timeline::DEFAULT_ZOOM);
    let (range, set_range) = signal(Range::ending(viewer.server_now_us(), zoom.get_untracked()));
    // The timeline ends at now: move it on every second (and at once on a zoom).
    let tick = move || set_range.set(Range::ending(viewer.server_now_us(), zoom.get_untracked()));
    Effect::new(move |_| {
        zoom.track();
        tick();
    });
    let ticker = set_interval_with_handle(tick, std::time::Duration::from_secs(1)).ok();
    on_cleanup(move || {
        if let Some(t) = ticker {
            t.clear();
        }
    });

    // The canvas is outside Leptos' reactive world: the stream draws on it directly once it
    // is mounted, and reports back through the signals.
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        let Some(element) = canvas.get() else { return false };
        viewer.start(
            element,
            Watch::default(),
            Reporters {
                state: Box::new(move |s| set_state.set(s)),
                stats: Box::new(move |s| set_stats.set(s)),
                cameras: Box::new(move |c| set_cameras.set(c)),
                playback: Box::new(move |p| set_playback.set(p)),
            },
        );
        true
    });

    let in_playback = move || playback.get_untracked().mode != PlaybackMode::Live;
    let toggle_pause = move || {
        if in_playback() {
            viewer.toggle_playback_pause();
        } else {
            set_paused.set(viewer.toggle_pause());
        }
    };
    let jump = move |back: bool| {
        let p = playback.get_untracked();
        let now = viewer.server_now_us();
        let from = if p.mode == PlaybackMode::Live { now } else { p.position_us };
        if back {
            viewer.play(from.saturating_sub(JUMP_US), p.speed);
        } else if p.mode != PlaybackMode::Live {
            let to = from + JUMP_US;
            // Jumping into the last seconds (not yet on disk) is going live.
            if to + 3_000_000 >= now { viewer.go_live() } else { viewer.play(to, p.speed) }
        }
    };
    let snapshot = move || {
        let p = playback.get_untracked();
        download_snapshot((p.mode != PlaybackMode::Live).then_some(p.position_us));
    };
    let fullscreen = move || {
        if let Some(stage) = stage.get() {
            toggle_fullscreen(&stage);
        }
    };
    let handle = window_event_listener(ev::keydown, move |e| {
        if e.ctrl_key() || e.meta_key() || e.alt_key() || typing_in_a_field(&e) {
            return;
        }
        let recorded_pause = playback.get_untracked().mode == PlaybackMode::Paused;
        match e.key().as_str() {
            " " | "k" => toggle_pause(),
            "s" => snapshot(),
            "f" => fullscreen(),
            "o" => overlay.update(|v| *v = !*v),
            "ArrowLeft" if recorded_pause => viewer.step(-1),
            "ArrowRight" if recorded_pause => viewer.step(1),
            "j" => jump(true),
            "l" => jump(false),
            _ => return,
        }
        e.prevent_default();
    });
    on_cleanup(move || handle.remove());

    let recorded_camera = move || cameras.with(|c| c.current().is_some_and(|c| c.recording.is_some()));
    view! {
        <main>
            <div class="stage" node_ref=stage>
                <canvas
                    node_ref=canvas
                    width="1280"
                    height="720"
                    aria-label=move || if state.get().is_recorded() { "recorded camera picture" } else { "live camera" }
                    class:stale=move || state.get().is_stale()
                    class:recorded=move || state.get().is_recorded()
                ></canvas>
                <Overlay stats=stats visible=overlay.read_only() />
                <RecordedBadge state=state />
                <MotionBadge state=state cameras=cameras />
                <Show when=move || matches!(state.get(), ViewState::NeedsToken { .. })>
                    <TokenForm
                        rejected=Signal::derive(move || {
                            matches!(state.get(), ViewState::NeedsToken { rejected: true })
                        })
                        on_token=Callback::new(move |token: String| viewer.use_token(&token))
                    />
                </Show>
                <Show when=move || panel.get()>
                    <SettingsPanel cameras=cameras range=range />
                </Show>
                // The way out of fullscreen on a screen without an Esc key (shown only there).
                <button class="exit-fullscreen" title="Exit fullscreen (f)" on:click=move |_| fullscreen()>
                    "Exit fullscreen"
                </button>
            </div>
            <Show when=recorded_camera>
                <Timeline cameras=cameras playback=playback range=range zoom=zoom />
            </Show>
            <ControlBar
                state=state
                playback=playback
                cameras=cameras
                paused=paused
                on_pause=Callback::new(move |_| toggle_pause())
                on_snapshot=Callback::new(move |_| snapshot())
                on_fullscreen=Callback::new(move |_| fullscreen())
                panel=panel
                overlay=overlay
                on_grid=on_grid
            />
        </main>
    }
}

/// Whether a key press belongs to a text field (shortcuts must not fire while typing).
pub(crate) fn typing_in_a_field(e: &web_sys::KeyboardEvent) -> bool {
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
}

/// Real fullscreen where the browser allows it on any element; elsewhere (Safari on iPhone,
/// or a browser that refuses the request later, e.g. with no window manager) a CSS fullscreen
/// that fills the viewport.
fn toggle_fullscreen(stage: &web_sys::HtmlDivElement) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    if document.fullscreen_element().is_some() {
        document.exit_fullscreen();
        return;
    }
    let classes = stage.class_list();
    if classes.contains("pseudo-fullscreen") {
        let _ = classes.remove_1("pseudo-fullscreen");
        return;
    }
    if document.fullscreen_enabled() {
        // The request is answered later: a refusal arrives as `fullscreenerror`.
        let refused = classes.clone();
        let on_error = wasm_bindgen::closure::Closure::once_into_js(move || {
            let _ = refused.add_1("pseudo-fullscreen");
        });
        document.set_onfullscreenerror(Some(on_error.unchecked_ref()));
        if stage.request_fullscreen().is_ok() {
            return;
        }
    }
    let _ = classes.add_1("pseudo-fullscreen");
}

/// Downloads the full-quality frame on screen from the server (the live one, or the recorded
/// one `at` µs) as `framecast-YYYY-MM-DD_HH-MM-SS.jpg` (local time of the frame).
fn download_snapshot(at: Option<u64>) {
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = try_download_snapshot(at).await {
            web_sys::console::warn_1(&format!("framecast: snapshot failed: {e:?}").into());
        }
    });
}

async fn try_download_snapshot(at: Option<u64>) -> Result<(), wasm_bindgen::JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let mut query = window.location().search().unwrap_or_default();
    if let Some(at) = at {
        query.push_str(&format!("{}at={at}", if query.is_empty() { "?" } else { "&" }));
    }
    let url = crate::token::with_token(&format!("snapshot.jpg{query}"));
    let response = gloo_net::http::Request::get(&url).send().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("server answered {}", response.status()).into());
    }
    // The body as a Blob straight from the browser's fetch: no copy through wasm memory.
    let response = web_sys::Response::from(response);
    let blob: web_sys::Blob = wasm_bindgen_futures::JsFuture::from(response.blob()?).await?.dyn_into()?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let document = window.document().ok_or("no document")?;
    let link: web_sys::HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
    link.set_href(&url);
    let taken = match at {
        Some(us) => js_sys::Date::new(&((us / 1000) as f64).into()),
        None => js_sys::Date::new_0(),
    };
    link.set_download(&snapshot_name(&taken));
    link.click();
    web_sys::Url::revoke_object_url(&url)?;
    Ok(())
}

fn snapshot_name(d: &js_sys::Date) -> String {
    format!(
        "framecast-{:04}-{:02}-{:02}_{:02}-{:02}-{:02}.jpg",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds()
    )
}
