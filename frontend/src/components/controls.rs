//! The bar under the picture: the status line and the buttons (Live, speed, Pause,
//! Snapshot, Fullscreen, Settings, Info).

use framecast_shared::{PLAYBACK_SPEEDS, PlaybackMode};
use leptos::prelude::*;

use crate::stream::{Cameras, Playback, ViewState, Viewer};

/// The status line and the controls. Live and the speed show for recorded cameras; while
/// the recording is played, Pause holds its frame.
#[component]
pub fn ControlBar(
    /// What the viewer is doing.
    state: ReadSignal<ViewState>,
    /// Live or playback.
    playback: ReadSignal<Playback>,
    /// The cameras (whether the shown one is recorded).
    cameras: ReadSignal<Cameras>,
    /// Whether the live picture is paused on this screen.
    paused: ReadSignal<bool>,
    /// Pause or resume (the live picture here, or the recording's playback).
    on_pause: Callback<()>,
    /// Download what is on screen.
    on_snapshot: Callback<()>,
    /// Fullscreen on or off.
    on_fullscreen: Callback<()>,
    /// Whether the settings panel is open.
    panel: RwSignal<bool>,
    /// Whether the figures are shown.
    overlay: RwSignal<bool>,
    /// Every camera in a grid (offered when there are several).
    on_grid: Callback<()>,
) -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let several = move || cameras.with(|c| c.all.len() > 1);
    let recorded_camera = move || cameras.with(|c| c.current().is_some_and(|c| c.recording.is_some()));
    let live = move || playback.get().mode == PlaybackMode::Live;
    let pause_label = move || {
        let p = playback.get();
        let held = if p.mode == PlaybackMode::Live { paused.get() } else { p.mode == PlaybackMode::Paused };
        if held { "Resume" } else { "Pause" }
    };
    view! {
        <div class="bar">
            <span
                class="state"
                data-testid="state"
                class:warn=move || state.get().is_stale()
                class:recorded=move || state.get().is_recorded()
            >
                {move || state.get().label()}
            </span>
            <div class="controls">
                <Show when=recorded_camera>
                    <button
                        class="live-button"
                        data-testid="live-button"
                        on:click=move |_| viewer.go_live()
                        prop:disabled=live
                        title="Back to the live picture"
                    >
                        "Live"
                    </button>
                    <Show when=move || !live()>
                        <select
                            class="speed"
                            data-testid="speed-select"
                            aria-label="Playback speed"
                            prop:value=move || playback.get().speed.to_string()
                            on:change=move |e| {
                                if let Ok(speed) = event_target_value(&e).parse() {
                                    viewer.play(playback.get_untracked().position_us, speed);
                                }
                            }
                        >
                            {PLAYBACK_SPEEDS
                                .iter()
                                .map(|s| view! { <option value=s.to_string()>{format!("{s}×")}</option> })
                                .collect_view()}
                        </select>
                    </Show>
                </Show>
                <Show when=several>
                    <button
                        on:click=move |_| on_grid.run(())
                        title="Every camera at once"
                        data-testid="grid-button"
                    >
                        "Grid"
                    </button>
                </Show>
                <button on:click=move |_| on_pause.run(()) title="Pause / resume (space)">{pause_label}</button>
                <button on:click=move |_| on_snapshot.run(()) title="Save the frame on screen (s)">"Snapshot"</button>
                <button on:click=move |_| on_fullscreen.run(()) title="Fullscreen (f)">"Fullscreen"</button>
                <button
                    on:click=move |_| panel.update(|v| *v = !*v)
                    title="Camera settings"
                    data-testid="settings-button"
                    aria-pressed=move || panel.get().to_string()
                >
                    "Settings"
                </button>
                <button
                    on:click=move |_| overlay.update(|v| *v = !*v)
                    title="Show / hide figures (o)"
                    aria-pressed=move || overlay.get().to_string()
                >
                    "Info"
                </button>
            </div>
        </div>
    }
}
