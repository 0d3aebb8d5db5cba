//! The page: the live canvas and a status line.

use leptos::html::Canvas;
use leptos::prelude::*;

use crate::stream::{Stats, Stream};

/// The whole client: one camera on a canvas, with connection state and frame rate below it.
#[component]
pub fn App() -> impl IntoView {
    let canvas: NodeRef<Canvas> = NodeRef::new();
    let (state, set_state) = signal(String::from("connecting"));
    let (stats, set_stats) = signal(Stats::default());

    // The canvas is outside Leptos' reactive world: the stream draws on it directly once it
    // is mounted, and reports back through the two signals.
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        let Some(element) = canvas.get() else {
            return false;
        };
        Stream::start(element, move |s| set_state.set(s), move |s| set_stats.set(s));
        true
    });

    view! {
        <main>
            <div class="stage">
                <canvas node_ref=canvas width="1280" height="720" aria-label="live camera"></canvas>
            </div>
            <div class="status">
                <span class="state" data-testid="state">{move || state.get()}</span>
                <span data-testid="fps">{move || format!("{:.1} fps", stats.get().fps)}</span>
                <span data-testid="size">{move || {
                    let s = stats.get();
                    format!("{}x{}", s.width, s.height)
                }}</span>
                <span data-testid="frames">{move || format!("{} frames", stats.get().drawn)}</span>
            </div>
        </main>
    }
}
