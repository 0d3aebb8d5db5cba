//! The page: the live canvas with an overlay of figures, a status line and controls.
//!
//! Keyboard: `space`/`k` pause, `s` snapshot, `f` fullscreen, `o` overlay.

use leptos::ev;
use leptos::html::{Canvas, Div};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::stream::{self, Stats, ViewState};

/// The whole client.
#[component]
pub fn App() -> impl IntoView {
    let canvas: NodeRef<Canvas> = NodeRef::new();
    let stage: NodeRef<Div> = NodeRef::new();
    let (state, set_state) = signal(ViewState::Connecting);
    let (stats, set_stats) = signal(Stats::default());
    let (overlay, set_overlay) = signal(true);
    let (paused, set_paused) = signal(false);

    // The canvas is outside Leptos' reactive world: the stream draws on it directly once it
    // is mounted, and reports back through the two signals.
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        let Some(element) = canvas.get() else { return false };
        stream::start(element, move |s| set_state.set(s), move |s| set_stats.set(s));
        true
    });

    let toggle_pause = move || set_paused.set(stream::toggle_pause());
    let toggle_overlay = move || set_overlay.update(|v| *v = !*v);
    let fullscreen = move || {
        if let Some(stage) = stage.get() {
            toggle_fullscreen(&stage);
        }
    };
    let handle = window_event_listener(ev::keydown, move |e| {
        if e.ctrl_key() || e.meta_key() || e.alt_key() {
            return;
        }
        match e.key().as_str() {
            " " | "k" => toggle_pause(),
            "s" => download_snapshot(),
            "f" => fullscreen(),
            "o" => toggle_overlay(),
            _ => return,
        }
        e.prevent_default();
    });
    on_cleanup(move || handle.remove());

    view! {
        <main>
            <div class="stage" node_ref=stage>
                <canvas
                    node_ref=canvas
                    width="1280"
                    height="720"
                    aria-label="live camera"
                    class:stale=move || state.get().is_stale()
                ></canvas>
                <Overlay stats=stats visible=overlay />
            </div>
            <div class="bar">
                <span class="state" data-testid="state" class:warn=move || state.get().is_stale()>
                    {move || state.get().label()}
                </span>
                <div class="controls">
                    <button on:click=move |_| toggle_pause() title="Pause / resume (space)">
                        {move || if paused.get() { "Resume" } else { "Pause" }}
                    </button>
                    <button on:click=move |_| download_snapshot() title="Save the current frame (s)">
                        "Snapshot"
                    </button>
                    <button on:click=move |_| fullscreen() title="Fullscreen (f)">"Fullscreen"</button>
                    <button on:click=move |_| toggle_overlay() title="Show / hide figures (o)" aria-pressed=move || overlay.get().to_string()>
                        "Info"
                    </button>
                </div>
            </div>
        </main>
    }
}

/// Figures over the picture: fps, latency, round trip, size, bitrate, skipped frames.
#[component]
fn Overlay(
    /// The figures, refreshed four times a second.
    stats: ReadSignal<Stats>,
    /// Whether the overlay is shown.
    visible: ReadSignal<bool>,
) -> impl IntoView {
    let row = move |f: fn(&Stats) -> String| move || stats.with(f);
    view! {
        <dl class="overlay" data-testid="overlay" class:hidden=move || !visible.get()>
            <dt>"drawn"</dt><dd data-testid="drawn-fps">{row(|s| format!("{:.0} fps", s.drawn_fps))}</dd>
            <dt>"camera"</dt><dd data-testid="camera-fps">{row(|s| opt(s.camera_fps, |v| format!("{v:.0} fps")))}</dd>
            <dt>"latency"</dt>
            <dd data-testid="latency">{row(|s| opt(s.latency_ms, |(med, max)| format!("{med:.0} ms (max {max:.0})")))}</dd>
            <dt>"rtt"</dt><dd data-testid="rtt">{row(|s| opt(s.rtt_ms, |v| format!("{v:.1} ms")))}</dd>
            <dt>"size"</dt><dd data-testid="size">{row(|s| format!("{}×{}", s.width, s.height))}</dd>
            <dt>"frame"</dt><dd>{row(|s| format!("{:.0} KB", s.frame_bytes as f64 / 1000.0))}</dd>
            <dt>"bitrate"</dt><dd>{row(|s| format!("{:.1} Mbit/s", s.bitrate / 1e6))}</dd>
            <dt>"skipped"</dt><dd data-testid="skipped">{row(|s| format!("{}/s ({} total)", s.skipped.0, s.skipped.1))}</dd>
        </dl>
    }
}

fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map(show).unwrap_or_else(|| "–".into())
}

/// Real fullscreen where the browser allows it on any element; elsewhere (Safari on iPhone)
/// a CSS fullscreen that fills the viewport.
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
    if document.fullscreen_enabled() && stage.request_fullscreen().is_ok() {
        return;
    }
    let _ = classes.add_1("pseudo-fullscreen");
}

/// Downloads the current full-quality frame from the server as
/// `framecast-YYYY-MM-DD_HH-MM-SS.jpg` (local time).
fn download_snapshot() {
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = try_download_snapshot().await {
            web_sys::console::warn_1(&format!("framecast: snapshot failed: {e:?}").into());
        }
    });
}

async fn try_download_snapshot() -> Result<(), wasm_bindgen::JsValue> {
    use wasm_bindgen_futures::JsFuture;
    let window = web_sys::window().ok_or("no window")?;
    let query = window.location().search().unwrap_or_default();
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str(&format!("snapshot.jpg{query}"))).await?.dyn_into()?;
    if !response.ok() {
        return Err(format!("server answered {}", response.status()).into());
    }
    let blob: web_sys::Blob = JsFuture::from(response.blob()?).await?.dyn_into()?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let document = window.document().ok_or("no document")?;
    let link: web_sys::HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
    link.set_href(&url);
    link.set_download(&snapshot_name(&js_sys::Date::new_0()));
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
