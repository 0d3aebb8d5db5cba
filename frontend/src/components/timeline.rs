//! The timeline under the picture: the recorded stretches of the last hour (zoomable to a
//! day) shaded, the live edge at the right, and where the viewer is. Dragging or tapping it
//! shows the recorded frame there at once (each move asks the server to play from there;
//! the first frame comes back immediately), and playback goes on from where it is released.
//! Releasing at the live edge goes back to live.
//!
//! For a camera with motion detection the timeline also marks its events; **Previous
//! event** / **Next event** (keys `,` and `.`) play one from a few seconds before it started,
//! and **Events** opens the list of them with their pictures.

use framecast_shared::{MotionEvent, PlaybackMode, RecordedSpan};
use leptos::html::Div;
use leptos::prelude::*;

use crate::stream::{self, Cameras, Playback, Viewer};

/// How far back the timeline reaches, as offered (seconds, label).
pub const ZOOMS: [(u64, &str); 4] = [(600, "10 min"), (3600, "1 h"), (6 * 3600, "6 h"), (24 * 3600, "24 h")];

/// The timeline's reach when the page opens: the last hour.
pub const DEFAULT_ZOOM: u64 = 3600;

/// Shortest time between two scrub requests while dragging.
const SCRUB_EVERY_MS: f64 = 120.0;

/// Releasing this close (CSS pixels) to the right end means "live".
const LIVE_EDGE_PX: f64 = 12.0;

/// What the timeline shows: `start_us..end_us`, the end being now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Left end.
    pub start_us: u64,
    /// Right end (now).
    pub end_us: u64,
}

impl Range {
    /// The last `seconds` up to `now_us`.
    pub fn ending(now_us: u64, seconds: u64) -> Range {
        Range { start_us: now_us.saturating_sub(seconds * 1_000_000), end_us: now_us }
    }

    /// Where `t` lies, 0.0 (left) to 1.0 (right), clamped.
    pub fn fraction(&self, t: u64) -> f64 {
        let span = self.end_us.saturating_sub(self.start_us).max(1) as f64;
        ((t as f64 - self.start_us as f64) / span).clamp(0.0, 1.0)
    }

    /// The time at `fraction` of the way.
    pub fn time_at(&self, fraction: f64) -> u64 {
        let span = self.end_us.saturating_sub(self.start_us) as f64;
        self.start_us + (span * fraction.clamp(0.0, 1.0)) as u64
    }

    /// The part of `span` inside the range, as left and width fractions; `None` outside.
    pub fn place(&self, span: &RecordedSpan) -> Option<(f64, f64)> {
        if span.end_us < self.start_us || span.start_us > self.end_us {
            return None;
        }
        let left = self.fraction(span.start_us);
        let right = self.fraction(span.end_us);
        // At least a sliver, so a short recording is visible at a day's zoom.
        Some((left, (right - left).max(0.002)))
    }
}

/// The timeline. Shown for recorded cameras.
#[component]
pub fn Timeline(
    /// The cameras (which one is shown, whether it is recorded).
    cameras: ReadSignal<Cameras>,
    /// Where this viewer is in time.
    playback: ReadSignal<Playback>,
    /// The range shown (the last hour by default); also the range Settings exports.
    range: ReadSignal<Range>,
    /// Seconds the range reaches back.
    zoom: RwSignal<u64>,
) -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let bar: NodeRef<Div> = NodeRef::new();
    let (spans, set_spans) = signal(Vec::<RecordedSpan>::new());
    let (events, set_events) = signal(Vec::<MotionEvent>::new());
    let shown_camera = move || cameras.with(|c| c.shown.clone());
    let motion_camera = move || cameras.with(|c| c.current().is_some_and(|c| c.motion.is_some()));
    let list_open = RwSignal::new(false);

    // Fetch the spans now, whenever the camera or the zoom changes, and every 10 s.
    let refresh = move || {
        let camera = shown_camera();
        let r = range.get_untracked();
        if camera.is_empty() {
            return;
        }
        let with_events = motion_camera();
        wasm_bindgen_futures::spawn_local(async move {
            match crate::recordings::spans(&camera, r.start_us, r.end_us).await {
                Ok(list) => set_spans.set(list),
                Err(e) => web_sys::console::warn_1(&format!("framecast: recordings: {e}").into()),
            }
            if !with_events {
                set_events.set(Vec::new());
                return;
            }
            match crate::recordings::events(&camera, r.start_us, u64::MAX).await {
                Ok(list) => set_events.set(list),
                Err(e) => web_sys::console::warn_1(&format!("framecast: events: {e}").into()),
            }
        });
    };
    // Also when an event starts or ends (the live badge changes): it shows at once.
    Effect::new(move |_| {
        let motion = cameras.with(|c| c.current().and_then(|c| c.motion).map(|m| (m.active, m.events)));
        let _ = (shown_camera(), zoom.get(), motion);
        refresh();
    });
    let play_event = move |forward: bool| {
        let p = playback.get_untracked();
        let position = if p.mode == PlaybackMode::Live { viewer.server_now_us() } else { p.position_us };
        if let Some(from) = events.with_untracked(|e| crate::recordings::event_to_play(e, position, forward))
        {
            viewer.play(from, p.speed);
        }
    };
    let keys = window_event_listener(leptos::ev::keydown, move |e| {
        if e.ctrl_key() || e.meta_key() || e.alt_key() || crate::app::typing_in_a_field(&e) {
            return;
        }
        match e.key().as_str() {
            "," => play_event(false),
            "." => play_event(true),
            _ => return,
        }
        e.prevent_default();
    });
    on_cleanup(move || keys.remove());
    let handle = set_interval_with_handle(refresh, std::time::Duration::from_secs(10)).ok();
    on_cleanup(move || {
        if let Some(h) = handle {
            h.clear();
        }
    });

    let dragging = RwSignal::new(false);
    let last_scrub = RwSignal::new(0.0f64);
    // Where the pointer is, as a fraction of the bar, and whether that is the live edge.
    let fraction_of = move |client_x: i32| -> Option<(f64, bool)> {
        let el = bar.get()?;
        let rect = el.get_bounding_client_rect();
        (rect.width() > 0.0).then(|| {
            let x = client_x as f64 - rect.left();
            ((x / rect.width()).clamp(0.0, 1.0), x >= rect.width() - LIVE_EDGE_PX)
        })
    };
    let scrub_to = move |(fraction, at_live_edge): (f64, bool), final_move: bool| {
        let now = stream::now_ms();
        if !final_move && now - last_scrub.get_untracked() < SCRUB_EVERY_MS {
            return;
        }
        last_scrub.set(now);
        if final_move && at_live_edge {
            viewer.go_live();
        } else if !at_live_edge {
            let speed = playback.get_untracked().speed;
            viewer.play(range.get_untracked().time_at(fraction), speed);
        }
    };

    let position = move || {
        let p = playback.get();
        if p.mode == PlaybackMode::Live { 1.0 } else { range.get().fraction(p.position_us) }
    };
    let value_text = move || {
        let p = playback.get();
        let now = range.get().end_us;
        if p.mode == PlaybackMode::Live {
            "live".to_string()
        } else {
            format!(
                "{}, {}",
                crate::timefmt::clock_text(p.position_us, now),
                crate::timefmt::behind_text(now.saturating_sub(p.position_us) as f64 / 1000.0)
            )
        }
    };
    let now_ms = move || range.get().end_us / 1000;
    let label = move || {
        let z = zoom.get();
        let name = ZOOMS.iter().find(|(s, _)| *s == z).map(|(_, n)| *n).unwrap_or("");
        format!("Timeline: recorded video of the last {name}; drag to look back, the right end is live")
    };

    view! {
        <div class="timeline-wrap" data-testid="timeline-wrap">
            <div
                class="timeline"
                role="slider"
                tabindex="0"
                data-testid="timeline"
                aria-label=label
                aria-valuemin=move || (range.get().start_us / 1000).to_string()
                aria-valuemax=move || now_ms().to_string()
                aria-valuenow=move || {
                    let p = playback.get();
                    if p.mode == PlaybackMode::Live { now_ms() } else { p.position_us / 1000 }.to_string()
                }
                aria-valuetext=value_text
                class:scrubbing=move || dragging.get()
                node_ref=bar
                on:pointerdown=move |e| {
                    e.prevent_default();
                    if let Some(target) = bar.get() {
                        let _ = target.set_pointer_capture(e.pointer_id());
                    }
                    dragging.set(true);
                    if let Some(f) = fraction_of(e.client_x()) {
                        last_scrub.set(0.0);
                        scrub_to(f, false);
                    }
                }
                on:pointermove=move |e| {
                    if dragging.get_untracked() && let Some(f) = fraction_of(e.client_x()) {
                        scrub_to(f, false);
                    }
                }
                on:pointerup=move |e| {
                    if dragging.get_untracked() {
                        dragging.set(false);
                        if let Some(f) = fraction_of(e.client_x()) {
                            scrub_to(f, true);
                        }
                    }
                }
                on:pointercancel=move |_| dragging.set(false)
            >
                {move || {
                    let r = range.get();
                    spans
                        .get()
                        .iter()
                        .filter_map(|s| r.place(s))
                        .map(|(left, width)| {
                            view! {
                                <div
                                    class="span"
                                    style=format!("left:{:.3}%;width:{:.3}%", left * 100.0, width * 100.0)
                                ></div>
                            }
                        })
                        .collect_view()
                }}
                {move || {
                    let r = range.get();
                    events
                        .get()
                        .iter()
                        .filter(|e| e.start_us >= r.start_us)
                        .map(|e| {
                            let left = r.fraction(e.start_us) * 100.0;
                            let width = e.end_us.map_or(0.0, |end| r.fraction(end) * 100.0 - left);
                            view! {
                                <div
                                    class="event-mark"
                                    data-testid="event-mark"
                                    data-start-us=e.start_us.to_string()
                                    style=format!("left:{left:.3}%;width:max(3px,{width:.3}%)")
                                ></div>
                            }
                        })
                        .collect_view()
                }}
                <div class="live-edge" title="live"></div>
                <div
                    class="playhead"
                    class:live=move || playback.get().mode == PlaybackMode::Live
                    style=move || format!("left:{:.3}%", position() * 100.0)
                ></div>
            </div>
            <div class="timeline-labels">
                <span>{move || crate::timefmt::clock_text(range.get().start_us, range.get().end_us)}</span>
                <span class="zooms" role="group" aria-label="Timeline length">
                    {ZOOMS
                        .iter()
                        .map(|(seconds, name)| {
                            let seconds = *seconds;
                            view! {
                                <button
                                    type="button"
                                    aria-pressed=move || (zoom.get() == seconds).to_string()
                                    on:click=move |_| zoom.set(seconds)
                                >
                                    {*name}
                                </button>
                            }
                        })
                        .collect_view()}
                </span>
                <Show when=motion_camera>
                    <span class="event-buttons" role="group" aria-label="Motion events">
                        <button type="button" title="Previous event (,)" on:click=move |_| play_event(false)>
                            "Previous event"
                        </button>
                        <button type="button" title="Next event (.)" on:click=move |_| play_event(true)>
                            "Next event"
                        </button>
                        <button
                            type="button"
                            aria-expanded=move || list_open.get().to_string()
                            on:click=move |_| list_open.update(|o| *o = !*o)
                        >
                            {move || format!("Events ({})", events.with(|e| e.len()))}
                        </button>
                    </span>
                </Show>
                <span>"live"</span>
            </div>
            <Show when=move || list_open.get() && motion_camera()>
                <ol class="event-list" data-testid="event-list" aria-label="Motion events, newest first">
                    {move || {
                        let now = range.get().end_us;
                        events
                            .get()
                            .iter()
                            .rev()
                            .map(|e| {
                                let from = e.start_us.saturating_sub(crate::recordings::EVENT_LEAD_US);
                                let when = crate::timefmt::clock_text(e.start_us, now);
                                let lasted = match e.end_us {
                                    Some(end) => crate::timefmt::duration_text((end - e.start_us) as f64 / 1000.0),
                                    None => "now".to_string(),
                                };
                                let picture = crate::token::with_token(e.thumbnail.trim_start_matches('/'));
                                view! {
                                    <li>
                                        <button
                                            type="button"
                                            on:click=move |_| viewer.play(from, playback.get_untracked().speed)
                                        >
                                            <img src=picture alt="" loading="lazy" width="128" height="72" />
                                            <span>{when}</span>
                                            <span>{lasted}</span>
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()
                    }}
                </ol>
            </Show>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn times_and_positions_map_both_ways() {
        let r = Range::ending(10_000_000_000, 3600);
        assert_eq!(r.start_us, 10_000_000_000 - 3_600_000_000);
        assert_eq!(r.fraction(r.start_us), 0.0);
        assert_eq!(r.fraction(r.end_us), 1.0);
        assert_eq!(r.fraction(0), 0.0, "before the range: clamped");
        let half = r.time_at(0.5);
        assert_eq!(half, r.end_us - 1_800_000_000);
        assert!((r.fraction(half) - 0.5).abs() < 1e-9);
    }

    #[wasm_bindgen_test]
    fn spans_are_placed_and_clipped() {
        let r = Range { start_us: 1_000, end_us: 2_000 };
        let span = |start_us, end_us| RecordedSpan { start_us, end_us, frames: 1, bytes: 1 };
        assert_eq!(r.place(&span(1_250, 1_500)), Some((0.25, 0.25)));
        assert_eq!(r.place(&span(0, 1_100)), Some((0.0, 0.1)));
        assert_eq!(r.place(&span(0, 900)), None);
        assert_eq!(r.place(&span(2_100, 2_200)), None);
        let (_, width) = r.place(&span(1_500, 1_500)).unwrap();
        assert!(width > 0.0, "a single frame still shows");
    }
}
