//! The motion zone editor (Settings → "Motion zone…", admin only): the camera's live picture
//! (a snapshot a second) under a 32x18 grid; dragging over it by mouse or finger marks cells
//! ignored (a tree, a road, a timestamp) or, starting on an ignored cell, watched again.
//! Beside it, how faint a change counts (sensitivity) and how much of the picture must
//! change. **Save zone** sends it all to the server (`PUT /api/motion/zone`), which applies it
//! from the camera's next picture.

use framecast_shared::MotionZone;
use gloo_net::http::Request;
use leptos::html::Div;
use leptos::prelude::*;

/// The editor, shown while `open` is set.
#[component]
pub fn ZoneEditor(
    /// The camera whose zone is edited.
    camera: Signal<String>,
    /// Its picture's width and height (the grid takes its shape).
    size: Signal<(u32, u32)>,
    /// Whether the editor is shown (it clears it to close).
    open: RwSignal<bool>,
) -> impl IntoView {
    let columns = usize::from(MotionZone::COLUMNS);
    let rows = usize::from(MotionZone::ROWS);
    let cells = RwSignal::new(vec![false; columns * rows]);
    let sensitivity = RwSignal::new(50u8);
    let min_area = RwSignal::new(0.005f32);
    let status = RwSignal::new(String::new());
    let picture_tick = RwSignal::new(0u32);
    // While dragging: the value painted, and where the pointer was (as cell coordinates).
    let painting: RwSignal<Option<bool>> = RwSignal::new(None);
    let last: RwSignal<Option<(f64, f64)>> = RwSignal::new(None);
    let grid: NodeRef<Div> = NodeRef::new();

    // Load the zone each time the editor opens.
    Effect::new(move |_| {
        if !open.get() {
            return;
        }
        let camera = camera.get_untracked();
        status.set("loading…".into());
        wasm_bindgen_futures::spawn_local(async move {
            match load(&camera).await {
                Ok(zone) if zone.columns == MotionZone::COLUMNS && zone.rows == MotionZone::ROWS => {
                    cells.set(zone.ignored.bytes().map(|b| b == b'1').collect());
                    sensitivity.set(zone.sensitivity.unwrap_or(50));
                    min_area.set(zone.min_area.unwrap_or(0.005));
                    status.set(String::new());
                }
                Ok(_) => {
                    cells.set(vec![false; columns * rows]);
                    status.set("the saved zone has another grid: start again".into());
                }
                Err(e) => status.set(e),
            }
        });
    });
    // The live picture under the grid, a new snapshot a second while open.
    let ticker = set_interval_with_handle(
        move || {
            if open.get_untracked() {
                picture_tick.update(|t| *t = t.wrapping_add(1));
            }
        },
        std::time::Duration::from_secs(1),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = ticker {
            t.clear();
        }
    });
    let picture = move || {
        let camera = js_sys::encode_uri_component(&camera.get()).as_string().unwrap_or_default();
        crate::token::with_token(&format!("snapshot.jpg?camera={camera}&w=640&t={}", picture_tick.get()))
    };

    // Where a pointer is, in cells (fractional), clamped to the grid.
    let cell_point = move |x: i32, y: i32| -> Option<(f64, f64)> {
        let rect = grid.get()?.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return None;
        }
        let fx = ((f64::from(x) - rect.left()) / rect.width()).clamp(0.0, 0.9999);
        let fy = ((f64::from(y) - rect.top()) / rect.height()).clamp(0.0, 0.9999);
        Some((fx * columns as f64, fy * rows as f64))
    };
    let index = move |(cx, cy): (f64, f64)| cy as usize * columns + cx as usize;
    // Paints every cell on the way from the last point to this one: a quick drag (or a
    // browser that reports few moves) leaves no gaps.
    let paint = move |x: i32, y: i32| {
        let (Some(value), Some(to)) = (painting.get_untracked(), cell_point(x, y)) else { return };
        let from = last.get_untracked().unwrap_or(to);
        let steps = ((to.0 - from.0).abs().max((to.1 - from.1).abs()) * 4.0).ceil().max(1.0) as usize;
        cells.update(|c| {
            for s in 0..=steps {
                let t = s as f64 / steps as f64;
                let i = index((from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t));
                c[i] = value;
            }
        });
        last.set(Some(to));
    };
    let save = move |_| {
        let zone = MotionZone {
            columns: MotionZone::COLUMNS,
            rows: MotionZone::ROWS,
            ignored: cells.with_untracked(|c| c.iter().map(|&i| if i { '1' } else { '0' }).collect()),
            sensitivity: Some(sensitivity.get_untracked()),
            min_area: Some(min_area.get_untracked()),
        };
        let camera = camera.get_untracked();
        status.set("saving…".into());
        wasm_bindgen_futures::spawn_local(async move {
            match store(&camera, &zone).await {
                Ok(()) => status.set("saved: applied from the next picture".into()),
                Err(e) => status.set(e),
            }
        });
    };

    view! {
        <Show when=move || open.get()>
            <div class="zone-editor" role="dialog" aria-label="Motion zone" data-testid="zone-editor">
                <p class="zone-help">
                    "Drag over the picture to mark where motion is ignored (red); start on a red cell to watch it again."
                </p>
                <div
                    class="zone-picture"
                    style=move || {
                        let (w, h) = size.get();
                        format!("aspect-ratio:{w}/{h};max-width:calc((100vh - 140px) * {w} / {h})")
                    }
                >
                    <img src=picture alt="the camera's live picture" />
                    <div
                        class="zone-grid"
                        data-testid="zone-grid"
                        node_ref=grid
                        style=format!("grid-template-columns:repeat({columns},1fr);grid-template-rows:repeat({rows},1fr)")
                        on:pointerdown=move |e| {
                            e.prevent_default();
                            if let Some(target) = grid.get() {
                                let _ = target.set_pointer_capture(e.pointer_id());
                            }
                            if let Some(point) = cell_point(e.client_x(), e.client_y()) {
                                painting.set(Some(!cells.with_untracked(|c| c[index(point)])));
                                last.set(None);
                                paint(e.client_x(), e.client_y());
                            }
                        }
                        on:pointermove=move |e| paint(e.client_x(), e.client_y())
                        on:pointerup=move |e| {
                            paint(e.client_x(), e.client_y());
                            painting.set(None);
                        }
                        on:pointercancel=move |_| painting.set(None)
                    >
                        {(0..columns * rows)
                            .map(|i| view! { <div class:ignored=move || cells.with(|c| c[i])></div> })
                            .collect_view()}
                    </div>
                </div>
                <div class="zone-tuning">
                    <label>
                        "Sensitivity"
                        <input
                            type="range"
                            min="1"
                            max="100"
                            data-testid="zone-sensitivity"
                            prop:value=move || sensitivity.get().to_string()
                            on:input=move |e| {
                                if let Ok(v) = event_target_value(&e).parse::<u8>() {
                                    sensitivity.set(v);
                                }
                            }
                        />
                        <span>{move || sensitivity.get().to_string()}</span>
                    </label>
                    <label>
                        "Smallest change"
                        <select
                            data-testid="zone-min-area"
                            prop:value=move || area_choice(min_area.get())
                            on:change=move |e| {
                                if let Ok(percent) = event_target_value(&e).parse::<f32>() {
                                    min_area.set(percent / 100.0);
                                }
                            }
                        >
                            {move || {
                                let mut choices = AREA_CHOICES.to_vec();
                                let current = min_area.get() * 100.0;
                                if !choices.iter().any(|c| (c - current).abs() < 1e-4) {
                                    choices.push(current);
                                    choices.sort_by(f32::total_cmp);
                                }
                                choices
                                    .into_iter()
                                    .map(|p| view! { <option value=format!("{p}")>{format!("{p} % of the picture")}</option> })
                                    .collect_view()
                            }}
                        </select>
                    </label>
                </div>
                <div class="zone-buttons">
                    <button type="button" on:click=save>"Save zone"</button>
                    <button type="button" on:click=move |_| cells.set(vec![false; columns * rows])>
                        "Watch everywhere"
                    </button>
                    <button type="button" on:click=move |_| open.set(false)>"Close"</button>
                    <span class="zone-status" data-testid="zone-status" role="status">{move || status.get()}</span>
                </div>
            </div>
        </Show>
    }
}

/// Smallest changes offered, in % of the picture.
const AREA_CHOICES: [f32; 8] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0];

/// The option value for `min_area` (a share of the picture).
fn area_choice(min_area: f32) -> String {
    let percent = min_area * 100.0;
    AREA_CHOICES
        .iter()
        .find(|c| (*c - percent).abs() < 1e-4)
        .map_or_else(|| format!("{percent}"), |c| format!("{c}"))
}

fn zone_url(camera: &str) -> String {
    let camera = js_sys::encode_uri_component(camera).as_string().unwrap_or_default();
    crate::token::with_token(&format!("api/motion/zone?camera={camera}"))
}

async fn load(camera: &str) -> Result<MotionZone, String> {
    let response = Request::get(&zone_url(camera)).send().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}

async fn store(camera: &str, zone: &MotionZone) -> Result<(), String> {
    let request = Request::put(&zone_url(camera)).json(zone).map_err(|e| e.to_string())?;
    let response = request.send().await.map_err(|e| e.to_string())?;
    if response.ok() {
        return Ok(());
    }
    let why = response.text().await.unwrap_or_default();
    Err(format!("not saved: {} {}", response.status(), why.trim()))
}
