//! Settings: camera picker, the camera's settings and device controls (for every viewer),
//! this screen's own picture size (auto, full or a smaller one), decoder (H.264 through WebCodecs
//! or MediaSource, or JPEG) and frame-rate cap, export of the timeline's range, the motion
//! zone (admins, cameras with motion detection), forgetting the token.

use leptos::prelude::*;

use super::timeline::Range;
use super::zone_editor::ZoneEditor;
use crate::stream::{self, Cameras, Viewer};

/// Frame rates offered in the pickers (filtered by what the camera allows).
const FPS_CHOICES: [u32; 9] = [1, 2, 5, 10, 15, 20, 25, 30, 60];
/// JPEG qualities offered.
const QUALITY_CHOICES: [u8; 6] = [30, 50, 70, 80, 90, 95];
/// Per-viewer caps offered (0: none).
const OWN_CAP_CHOICES: [u32; 6] = [0, 1, 2, 5, 10, 15];

/// Camera picker and settings. Changes to the camera apply live for every viewer; "this
/// screen" caps only this viewer's frame rate (the server then never sends the rest).
#[component]
pub fn SettingsPanel(
    /// Cameras and their current settings and modes.
    cameras: ReadSignal<Cameras>,
    /// The timeline's range, which "Export" saves.
    range: ReadSignal<Range>,
) -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let (own_cap, set_own_cap) = signal(0u32);
    let (picture, set_picture) = signal(stream::size_choice());
    let (decoder, set_decoder) = signal(stream::capability::decoder_choice());
    let current = move || cameras.with(|c| c.current().cloned());
    let size_value = move || current().map(|c| format!("{}x{}", c.width, c.height)).unwrap_or_default();
    let fps_value = move || current().map(|c| c.fps.to_string()).unwrap_or_default();
    let quality_value = move || current().map(|c| c.quality.to_string()).unwrap_or_default();
    let zone_open = RwSignal::new(false);
    let shown = Signal::derive(move || cameras.with(|c| c.shown.clone()));
    let shown_size =
        Signal::derive(move || current().map(|c| (c.width.max(1), c.height.max(1))).unwrap_or((16, 9)));
    view! {
        <ZoneEditor camera=shown size=shown_size open=zone_open />
        <form class="panel" data-testid="settings" on:submit=|e| e.prevent_default()>
            <Show when=move || cameras.with(|c| c.all.len() > 1)>
                <label>
                    "Camera"
                    <select
                        data-testid="camera-select"
                        prop:value=move || cameras.with(|c| c.shown.clone())
                        on:change=move |e| viewer.switch_camera(&event_target_value(&e))
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
                            viewer.change_settings(Some((w, h)), None, None);
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
                            viewer.change_settings(None, Some(fps), None);
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
                                viewer.change_settings(None, None, Some(q));
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
                                            viewer.set_control(&name, value);
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
                "Picture on this screen"
                <select
                    data-testid="picture-select"
                    prop:value=move || picture.get()
                    on:change=move |e| {
                        let choice = event_target_value(&e);
                        set_picture.set(choice.clone());
                        viewer.set_size_choice(&choice);
                    }
                >
                    <option value="auto">"Auto (what the link carries)"</option>
                    <option value="full">"Full size"</option>
                    {move || {
                        let cam = current();
                        let (w, h) = cam.map(|c| (c.width, c.height)).unwrap_or((0, 0));
                        (1..8u32)
                            .rev()
                            .map(|n| ((w * n).div_ceil(8), (h * n).div_ceil(8)))
                            .filter(|(w, h)| *w > 0 && *h > 0)
                            .map(|(w, h)| view! { <option value=format!("{w}x{h}")>{format!("{w}×{h}")}</option> })
                            .collect_view()
                    }}
                </select>
            </label>
            <label>
                "Decoder"
                <select
                    data-testid="decoder-select"
                    prop:value=move || decoder.get()
                    on:change=move |e| {
                        let choice = event_target_value(&e);
                        set_decoder.set(choice.clone());
                        viewer.set_decoder_choice(&choice);
                    }
                >
                    <option value="auto">"Auto (H.264 where this browser can)"</option>
                    <option value="webcodecs" disabled=!stream::capability::has_webcodecs()>"H.264 · WebCodecs"</option>
                    <option value="mse" disabled=!stream::capability::has_media_source()>"H.264 · MSE"</option>
                    <option value="jpeg">"JPEG"</option>
                </select>
            </label>
            <label>
                "This screen at most"
                <select
                    data-testid="own-cap-select"
                    prop:value=move || own_cap.get().to_string()
                    on:change=move |e| {
                        if let Ok(cap) = event_target_value(&e).parse::<u32>() {
                            set_own_cap.set(cap);
                            viewer.set_own_max_fps(cap as f64);
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
            <Show when=move || current().is_some_and(|c| c.recording.is_some())>
                <a
                    class="button"
                    data-testid="export-link"
                    download
                    href=move || {
                        let r = range.get();
                        crate::recordings::export_url(&cameras.with(|c| c.shown.clone()), r.start_us, r.end_us)
                    }
                    title="Save the recording of the timeline's range as a video file (Matroska, MJPEG)"
                >
                    "Export the timeline's range (MKV)"
                </a>
            </Show>
            <Show when=move || cameras.with(|c| c.admin) && current().is_some_and(|c| c.motion.is_some())>
                <button
                    type="button"
                    data-testid="zone-button"
                    on:click=move |_| zone_open.set(true)
                    title="Paint where motion is ignored"
                >
                    "Motion zone…"
                </button>
            </Show>
            <Show when=|| crate::token::stored().is_some()>
                <button
                    type="button"
                    data-testid="forget-token"
                    on:click=move |_| viewer.use_token("")
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
