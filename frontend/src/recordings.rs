//! The recorded spans of a camera (`GET /api/recordings`) and its motion events
//! (`GET /api/events`), for the timeline.

use framecast_shared::{MotionEvent, RecordedSpan};
use gloo_net::http::Request;

/// The spans of camera `camera` that reach into `from_us..=to_us`.
pub async fn spans(camera: &str, from_us: u64, to_us: u64) -> Result<Vec<RecordedSpan>, String> {
    list("api/recordings", camera, from_us, to_us).await
}

/// The motion events of camera `camera` that reach into `from_us..=to_us`, oldest first.
pub async fn events(camera: &str, from_us: u64, to_us: u64) -> Result<Vec<MotionEvent>, String> {
    list("api/events", camera, from_us, to_us).await
}

/// `GET PATH?camera=&from=&to=`, a JSON list.
async fn list<T: serde::de::DeserializeOwned>(
    path: &str,
    camera: &str,
    from_us: u64,
    to_us: u64,
) -> Result<Vec<T>, String> {
    let url = crate::token::with_token(&format!(
        "{path}?camera={}&from={from_us}&to={to_us}",
        js_sys::encode_uri_component(camera)
    ));
    let response = Request::get(&url).send().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// Events play from this long before their start, to see what came in.
pub const EVENT_LEAD_US: u64 = 3_000_000;

/// Where Previous / Next event goes from `position_us`: the start of the event to play
/// (less [`EVENT_LEAD_US`]), or `None` when there is none that way. An event counts as
/// passed once the position is a second past where it would be played from, so Previous
/// from inside an event plays it again from the start, and twice goes to the one before.
pub fn event_to_play(events: &[MotionEvent], position_us: u64, forward: bool) -> Option<u64> {
    let from = |e: &MotionEvent| e.start_us.saturating_sub(EVENT_LEAD_US);
    if forward {
        events.iter().map(from).filter(|&t| t > position_us + 500_000).min()
    } else {
        events.iter().map(from).filter(|&t| t + 1_000_000 < position_us).max()
    }
}

/// The export URL of camera `camera` from `from_us` to `to_us`, as a Matroska file.
pub fn export_url(camera: &str, from_us: u64, to_us: u64) -> String {
    crate::token::with_token(&format!(
        "export?camera={}&from={from_us}&to={to_us}&format=mkv",
        js_sys::encode_uri_component(camera)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn event(start_s: u64) -> MotionEvent {
        MotionEvent {
            id: start_s,
            camera: "c".into(),
            start_us: start_s * 1_000_000,
            end_us: Some(start_s * 1_000_000 + 2_000_000),
            area: 0.1,
            score: 50.0,
            thumbnail: String::new(),
        }
    }

    #[wasm_bindgen_test]
    fn previous_and_next_event_step_through_the_events() {
        let events = [event(100), event(200), event(300)];
        let s = |t: u64| t * 1_000_000;
        // From live (now, after them all): Previous is the last one, Next is nothing.
        assert_eq!(event_to_play(&events, s(1000), false), Some(s(297)));
        assert_eq!(event_to_play(&events, s(1000), true), None);
        // Just jumped to the second: Next is the third, Previous the first.
        assert_eq!(event_to_play(&events, s(197), true), Some(s(297)));
        assert_eq!(event_to_play(&events, s(197), false), Some(s(97)));
        // A few seconds into the second: Previous plays it again from its start.
        assert_eq!(event_to_play(&events, s(201), false), Some(s(197)));
        assert_eq!(event_to_play(&events, s(50), false), None);
        assert_eq!(event_to_play(&[], s(50), true), None);
    }
}
