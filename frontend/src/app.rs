//! The page: the live canvas with an overlay of figures, a status line and controls.
//!
//! Keyboard: `space`/`k` pause, `s` snapshot, `f` fullscreen, `o` overlay.

use leptos::ev;
use leptos::html::{Canvas, Div, Input};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::stream::{self, Cameras, Reporters, Stats, ViewState};

/// The whole client.
#[component]
pub fn App() -> impl IntoView {
    let canvas: NodeRef<Canvas> = NodeRef::new();
    let stage: NodeRef<Div> = NodeRef::new();
    let (state, set_state) = signal(ViewState::Connecting);
    let (stats, set_stats) = signal(Stats::default());
    let (overlay, set_overlay) = signal(true);
    let (paused, set_paused) = signal(false);
    let (cameras, set_cameras) = signal(Cameras::default());
    let (panel, set_panel) = signal(false);

    // The canvas is outside Leptos' reactive world: the stream draws on it directly once it
    // is mounted, and reports back through the two signals.
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        let Some(element) = canvas.get() else { return false };
        stream::start(
            element,
            Reporters {
                state: Box::new(move |s| set_state.set(s)),
                stats: Box::new(move |s| set_stats.set(s)),
                cameras: Box::new(move |c| set_cameras.set(c)),
            },
        );
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
        if e.ctrl_key() || e.meta_key() || e.alt_key() || typing_in_a_field(&e) {
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
                <Show when=move || matches!(state.get(), ViewState::NeedsToken { .. })>
                    <TokenForm rejected=Signal::derive(move || {
                        matches!(state.get(), ViewState::NeedsToken { rejected: true })
                    }) />
                </Show>
                <Show when=move || panel.get()>
                    <SettingsPanel cameras=cameras />
                </Show>
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
                    <button
                        on:click=move |_| set_panel.update(|v| *v = !*v)
                        title="Camera settings"
                        data-testid="settings-button"
                        aria-pressed=move || panel.get().to_string()
                    >
                        "Settings"
                    </button>
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
            <dt>"decode"</dt>
            <dd data-testid="decode">{row(|s| opt(s.decode_ms, |(med, max)| format!("{med:.1} ms (max {max:.1})")))}</dd>
            <dt>"rtt"</dt><dd data-testid="rtt">{row(|s| opt(s.rtt_ms, |v| format!("{v:.1} ms")))}</dd>
            <dt>"size"</dt><dd data-testid="size">{row(|s| format!("{}×{}", s.width, s.height))}</dd>
            <dt>"frame"</dt><dd>{row(|s| format!("{:.0} KB", s.frame_bytes as f64 / 1000.0))}</dd>
            <dt>"bitrate"</dt><dd>{row(|s| format!("{:.1} Mbit/s", s.bitrate / 1e6))}</dd>
            <dt>"skipped"</dt><dd data-testid="skipped">{row(|s| format!("{}/s ({} total)", s.skipped.0, s.skipped.1))}</dd>
        </dl>
    }
}

/// Asks for the token the server wants; it is remembered on this device.
#[component]
fn TokenForm(
    /// Whether a remembered token was refused.
    rejected: Signal<bool>,
) -> impl IntoView {
    let input: NodeRef<Input> = NodeRef::new();
    view! {
        <form
            class="token"
            data-testid="token-form"
            on:submit=move |e| {
                e.prevent_default();
                if let Some(field) = input.get() {
                    stream::use_token(&field.value());
                }
            }
        >
            <label for="token">
                {move || {
                    if rejected.get() {
                        "That token was not accepted. Token:"
                    } else {
                        "This camera needs a token:"
                    }
                }}
            </label>
            <input
                id="token"
                name="token"
                type="password"
                autocomplete="current-password"
                required
                autofocus
                data-testid="token-input"
                node_ref=input
            />
            <button type="submit" data-testid="token-submit">"Open"</button>
        </form>
    }
}

/// Whether a key press belongs to a text field (shortcuts must not fire while typing).
fn typing_in_a_field(e: &web_sys::KeyboardEvent) -> bool {
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
}

/// Frame rates offered in the pickers (filtered by what the camera allows).
const FPS_CHOICES: [u32; 9] = [1, 2, 5, 10, 15, 20, 25, 30, 60];
/// JPEG qualities offered.
const QUALITY_CHOICES: [u8; 6] = [30, 50, 70, 80, 90, 95];
/// Per-viewer caps offered (0: none).
const OWN_CAP_CHOICES: [u32; 6] = [0, 1, 2, 5, 10, 15];

/// Camera picker and settings. Changes to the camera apply live for every viewer; "this
/// screen" caps only this viewer's frame rate (the server then never sends the rest).
#[component]
fn SettingsPanel(
    /// Cameras and their current settings and modes.
    cameras: ReadSignal<Cameras>,
) -> impl IntoView {
    let (own_cap, set_own_cap) = signal(0u32);
    let current = move || cameras.with(|c| c.current().cloned());
    let size_value = move || current().map(|c| format!("{}x{}", c.width, c.height)).unwrap_or_default();
    let fps_value = move || current().map(|c| c.fps.to_string()).unwrap_or_default();
    let quality_value = move || current().map(|c| c.quality.to_string()).unwrap_or_default();
    view! {
        <form class="panel" data-testid="settings" on:submit=|e| e.prevent_default()>
            <Show when=move || cameras.with(|c| c.all.len() > 1)>
                <label>
                    "Camera"
                    <select
                        data-testid="camera-select"
                        prop:value=move || cameras.with(|c| c.shown.clone())
                        on:change=move |e| stream::switch_camera(&event_target_value(&e))
                    >
                        {move || {
                            cameras
                                .with(|c| c.all.clone())
                                .into_iter()
                                .map(|cam| view! { <option value=cam.id.clone()>{format!("{} ({})", cam.id, cam.kind)}</option> })
                                .collect_view()
                        }}
                    </select>
                </label>
            </Show>
            <Show when=move || !cameras.with(|c| c.admin)>
                <p class="note" data-testid="needs-admin">"Changing the camera needs the admin token."</p>
            </Show>
            <fieldset class="camera-settings" prop:disabled=move || !cameras.with(|c| c.admin)>
            <label>
                "Resolution"
                <select
                    data-testid="size-select"
                    prop:value=size_value
                    prop:disabled=move || current().is_none_or(|c| c.modes.sizes.is_empty())
                    on:change=move |e| {
                        if let Some((w, h)) = event_target_value(&e).split_once('x')
                            && let (Ok(w), Ok(h)) = (w.parse(), h.parse())
                        {
                            stream::change_settings(Some((w, h)), None, None);
                        }
                    }
                >
                    {move || {
                        let cam = current();
                        let sizes = cam.as_ref().map(|c| c.modes.sizes.clone()).unwrap_or_default();
                        with_current(sizes, cam.map(|c| [c.width, c.height]), |[w, h]| u64::from(*w) * u64::from(*h))
                            .into_iter()
                            .map(|[w, h]| view! { <option value=format!("{w}x{h}")>{format!("{w}×{h}")}</option> })
                            .collect_view()
                    }}
                </select>
            </label>
            <label>
                "Frame rate"
                <select
                    data-testid="fps-select"
                    prop:value=fps_value
                    on:change=move |e| {
                        if let Ok(fps) = event_target_value(&e).parse() {
                            stream::change_settings(None, Some(fps), None);
                        }
                    }
                >
                    {move || {
                        let cam = current();
                        let max = cam.as_ref().map(|c| c.modes.max_fps).unwrap_or(30);
                        let choices: Vec<u32> = FPS_CHOICES.into_iter().filter(|f| *f <= max).collect();
                        with_current(choices, cam.map(|c| c.fps), |f| *f)
                            .into_iter().map(|f| view! { <option value=f.to_string()>{format!("{f} fps")}</option> }).collect_view()
                    }}
                </select>
            </label>
            <Show when=move || current().is_some_and(|c| c.modes.quality)>
                <label>
                    "JPEG quality"
                    <select
                        data-testid="quality-select"
                        prop:value=quality_value
                        on:change=move |e| {
                            if let Ok(q) = event_target_value(&e).parse() {
                                stream::change_settings(None, None, Some(q));
                            }
                        }
                    >
                        {move || {
                            with_current(QUALITY_CHOICES.to_vec(), current().map(|c| c.quality), |q| *q)
                                .into_iter().map(|q| view! { <option value=q.to_string()>{q.to_string()}</option> }).collect_view()
                        }}
                    </select>
                </label>
            </Show>
            // Device controls (USB cameras): one slider each, applied when released.
            {move || {
                current()
                    .map(|c| c.controls)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|control| {
                        let name = control.name.clone();
                        view! {
                            <label>
                                {control.name.clone()}
                                <input
                                    type="range"
                                    data-control=control.name.clone()
                                    min=control.min.to_string()
                                    max=control.max.to_string()
                                    step=control.step.to_string()
                                    prop:value=control.value.to_string()
                                    on:change=move |e| {
                                        if let Ok(value) = event_target_value(&e).parse() {
                                            stream::set_control(&name, value);
                                        }
                                    }
                                />
                            </label>
                        }
                    })
                    .collect_view()
            }}
            </fieldset>
            <label>
                "This screen at most"
                <select
                    data-testid="own-cap-select"
                    prop:value=move || own_cap.get().to_string()
                    on:change=move |e| {
                        if let Ok(cap) = event_target_value(&e).parse::<u32>() {
                            set_own_cap.set(cap);
                            stream::set_own_max_fps(cap as f64);
                        }
                    }
                >
                    {OWN_CAP_CHOICES
                        .into_iter()
                        .map(|f| {
                            let label = if f == 0 { "no limit".to_string() } else { format!("{f} fps") };
                            view! { <option value=f.to_string()>{label}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <Show when=|| crate::token::stored().is_some()>
                <button
                    type="button"
                    data-testid="forget-token"
                    on:click=|_| stream::use_token("")
                    title="Remove the token remembered on this device"
                >
                    "Forget token"
                </button>
            </Show>
        </form>
    }
}

/// The offered choices plus the current value when it is not among them (so a picker always
/// shows what is in force), ordered by `key`.
fn with_current<T: PartialEq + Copy, K: Ord>(
    mut choices: Vec<T>,
    current: Option<T>,
    key: fn(&T) -> K,
) -> Vec<T> {
    if let Some(c) = current
        && !choices.contains(&c)
    {
        choices.push(c);
    }
    choices.sort_by_key(key);
    choices
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
    let url = crate::token::with_token(&format!("snapshot.jpg{query}"));
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url)).await?.dyn_into()?;
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
