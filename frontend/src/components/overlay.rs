//! The figures over the picture (fps, latency, round trip, size and why, bitrate, skipped frames),
//! the badge that marks a recorded picture, and the one that says something moves now.

use leptos::prelude::*;

use crate::stream::{Stats, ViewState};

/// Figures over the picture: fps, latency, round trip, size, bitrate, skipped frames.
#[component]
pub fn Overlay(
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
            <dt>"picture"</dt><dd data-testid="picture">{row(|s| opt(s.picture.as_ref(), |p| p.label()))}</dd>
            <dt>"decoder"</dt><dd data-testid="decoder">{row(|s| s.decoder.to_string())}</dd>
            <dt>"frame"</dt><dd>{row(|s| format!("{:.0} KB", s.frame_bytes as f64 / 1000.0))}</dd>
            <dt>"bitrate"</dt><dd>{row(|s| format!("{:.1} Mbit/s", s.bitrate / 1e6))}</dd>
            <dt>"skipped"</dt><dd data-testid="skipped">{row(|s| format!("{}/s ({} total)", s.skipped.0, s.skipped.1))}</dd>
        </dl>
    }
}

/// Over a recorded picture: "RECORDED" and the frame's time, so it is never taken for live.
#[component]
pub fn RecordedBadge(
    /// The view state; the badge shows for [`ViewState::Recorded`].
    state: ReadSignal<ViewState>,
) -> impl IntoView {
    view! {
        <Show when=move || state.get().is_recorded()>
            <div class="badge recorded" data-testid="recorded-badge" role="status">
                {move || match state.get() {
                    ViewState::Recorded { at, paused, .. } => {
                        format!("RECORDED {at}{}", if paused { " · paused" } else { "" })
                    }
                    _ => String::new(),
                }}
            </div>
        </Show>
    }
}

/// Over the live picture of a camera where something is moving now (an open motion event,
/// `--motion`): "motion".
#[component]
pub fn MotionBadge(
    /// The view state; the badge shows only live.
    state: ReadSignal<ViewState>,
    /// The cameras; the shown one's `motion.active`.
    cameras: ReadSignal<crate::stream::Cameras>,
) -> impl IntoView {
    let moving = move || {
        !state.get().is_recorded()
            && cameras.with(|c| c.current().and_then(|c| c.motion).is_some_and(|m| m.active))
    };
    view! {
        <Show when=moving>
            <div class="badge motion" data-testid="motion-badge" role="status">"motion"</div>
        </Show>
    }
}

fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map(show).unwrap_or_else(|| "–".into())
}
