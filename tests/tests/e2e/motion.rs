//! Motion detection against scripted clips where the truth is known: ffmpeg draws a noisy
//! grey scene whose light ramps up all along, and a white square crossing it at known
//! times; one camera gets it as MJPEG, one as H.264 (x264), both through `cmd:`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use framecast_shared::{MotionEvent, MotionZone};

use crate::util::{CLIP_FPS, Server, Viewer, api_state, http_get_body, is_jpeg, motion_clip, within};

/// Seconds into the clip the square crosses: it enters at the first time, leaves at the
/// second.
const CROSSINGS: [(f64, f64); 2] = [(5.0, 7.0), (13.0, 15.0)];

/// The clip as a `cmd:` camera's command.
fn clip_command(h264: bool) -> String {
    motion_clip(h264, &CROSSINGS, 30)
}

async fn events(server: &Server, camera: &str) -> Vec<MotionEvent> {
    events_in(server, &format!("/api/events?camera={camera}")).await
}

async fn events_in(server: &Server, path: &str) -> Vec<MotionEvent> {
    let (status, _, body) = http_get_body(server, path).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// When the clip's first frame was captured (µs since the epoch): from a frame's number
/// and capture time, the clip being paced at [`CLIP_FPS`].
async fn clip_start_us(server: &Server, camera: &str) -> u64 {
    let (mut viewer, _) = Viewer::connect(server, &format!("?camera={camera}")).await;
    let (header, _) = viewer.next_frame(10).await;
    header.captured_us - (header.seq - 1) * 1_000_000 / CLIP_FPS
}

/// A webhook receiver on loopback: the bodies it was sent, in order. It answers the first
/// POST with a 500, so the sender must retry.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
                if seen.len() == 1 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn every_scripted_crossing_is_an_event_starting_within_half_a_second_and_nothing_else_is() {
    let jpeg = format!("jpeg=cmd:{}", clip_command(false));
    let h264 = format!("h264=cmd:{}", clip_command(true));
    let (hook, received) = webhook_receiver().await;
    let server = Server::start(&[
        "--camera",
        &jpeg,
        "--camera",
        &h264,
        "--motion",
        "all",
        "--notify-url",
        &hook,
        "--notify-cooldown",
        "0",
    ]);
    let starts = [clip_start_us(&server, "jpeg").await, clip_start_us(&server, "h264").await];
    // The second crossing's event ends 5 s after it, 20 s into the clip.
    within(40, "both cameras' events to end", async {
        loop {
            let done = [events(&server, "jpeg").await, events(&server, "h264").await]
                .iter()
                .all(|e| e.len() >= 2 && e.iter().all(|e| e.end_us.is_some()));
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    for (camera, start) in ["jpeg", "h264"].into_iter().zip(starts) {
        let found = events(&server, camera).await;
        let clip_times: Vec<(f64, f64)> = found
            .iter()
            .map(|e| {
                let at = |us: u64| (us as f64 - start as f64) / 1e6;
                (at(e.start_us), at(e.end_us.unwrap()))
            })
            .collect();
        assert_eq!(found.len(), CROSSINGS.len(), "{camera}: events at {clip_times:?} (clip seconds)");
        for ((start, end), (enter, leave)) in clip_times.iter().zip(CROSSINGS) {
            assert!(
                (start - enter).abs() <= 0.5,
                "{camera}: started at {start:.2} s, the square entered at {enter}"
            );
            assert!((end - leave).abs() <= 0.5, "{camera}: ended at {end:.2} s, the square left at {leave}");
        }
        for event in &found {
            assert!(event.area > 0.01 && event.score > 30.0, "{camera}: {event:?}");
            let (status, headers, body) = http_get_body(&server, &event.thumbnail).await;
            assert_eq!(status, 200);
            assert_eq!(crate::util::header(&headers, "content-type"), Some("image/jpeg"));
            assert!(is_jpeg(&body));
        }
    }
    let state = api_state(&server).await;
    for camera in &state.cameras {
        let motion = camera.motion.expect("motion info");
        assert_eq!((motion.active, motion.events), (false, 2), "{}", camera.id);
    }
    // The webhook got each event's start and end, the first one twice (it was refused once
    // and retried a second later).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bodies = received.lock().unwrap().clone();
    let mut sent: Vec<(String, u64)> = bodies
        .iter()
        .map(|b| (b["type"].as_str().unwrap_or("?").to_string(), b["id"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(sent.len(), 9, "{bodies:#?}");
    let refused = sent[0].clone();
    assert_eq!(sent.iter().filter(|s| **s == refused).count(), 2, "the refused one is sent again: {sent:?}");
    sent.sort();
    sent.dedup();
    let mut expected = Vec::new();
    for camera in ["jpeg", "h264"] {
        for event in events(&server, camera).await {
            expected.push(("end".to_string(), event.id));
            expected.push(("start".to_string(), event.id));
        }
    }
    expected.sort();
    assert_eq!(sent, expected);
    let end = bodies.iter().find(|b| b["type"] == "end").unwrap();
    assert!(
        end["end_us"].as_u64().is_some() && end["thumbnail"].as_str().unwrap().ends_with("/thumbnail.jpg")
    );
}

#[tokio::test]
async fn events_say_clearly_when_motion_is_off_or_the_event_is_unknown() {
    let off = Server::start(&[]);
    let (status, _, body) = http_get_body(&off, "/api/events").await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("--motion"), "{}", String::from_utf8_lossy(&body));
    let on = Server::start(&["--motion", "all"]);
    for (path, want, says) in [
        ("/api/events/99/thumbnail.jpg", 404, "no event 99"),
        ("/api/events/x/thumbnail.jpg", 400, "not an event id"),
        ("/api/events?from=soon", 400, "from=soon is not a time"),
        ("/api/events?camera=nope", 404, "nope"),
    ] {
        let (status, _, body) = http_get_body(&on, path).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, want, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
    // Nothing started before the first microsecond.
    assert_eq!(events_in(&on, "/api/events?to=1").await, vec![]);
}

/// `PUT /api/motion/zone`: its answer's status and body.
async fn put_zone(server: &Server, zone: &MotionZone, token: Option<&str>) -> (u16, String) {
    let json = serde_json::to_vec(zone).unwrap();
    let auth = token.map(|t| format!("Bearer {t}"));
    // The server closes the connection after answering, so the body ends there (a 204 has
    // no length to read up to).
    let mut headers = vec![("Content-Type", "application/json"), ("Connection", "close")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    let mut response =
        framecast_tests::http_client::request(server.addr, "PUT", "/api/motion/zone", &headers, &json)
            .await
            .unwrap();
    let body = response.body.read_to_end().await.unwrap();
    (response.status, String::from_utf8_lossy(&body).into_owned())
}

/// The zone with rows `rows` (of 18) ignored.
fn ignoring_rows(rows: std::ops::Range<usize>) -> MotionZone {
    let cells: String = (0..18).map(|r| if rows.contains(&r) { "1" } else { "0" }.repeat(32)).collect();
    MotionZone { ignored: cells, ..MotionZone::everywhere() }
}

#[tokio::test]
async fn a_painted_zone_is_applied_at_once_kept_over_a_restart_and_only_admins_change_it() {
    let dir = crate::util::temp_dir("motion-zone");
    let record = dir.display().to_string();
    // The square crosses at 3 s, in rows 6 to 9 of the 18 (y 60 to 100 of 180).
    let clip = format!("cmd:{}", motion_clip(false, &[(3.0, 5.0)], 30));
    let server = Server::start(&["--camera", &clip, "--motion", "all", "--record-dir", &record]);
    let (status, _, body) = http_get_body(&server, "/api/motion/zone").await;
    assert_eq!(status, 200);
    // Everywhere, with the flags' sensitivity and smallest change.
    let fresh = MotionZone { sensitivity: Some(50), min_area: Some(0.005), ..MotionZone::everywhere() };
    assert_eq!(serde_json::from_slice::<MotionZone>(&body).unwrap(), fresh);
    let band = ignoring_rows(5..11);
    assert_eq!(put_zone(&server, &band, None).await.0, 204);
    // Bad zones are refused and say why.
    let (status, why) = put_zone(&server, &MotionZone { ignored: "01".into(), ..band.clone() }, None).await;
    assert!(status == 400 && why.contains("576 characters"), "{status} {why}");
    let (status, why) = put_zone(&server, &band, None).await;
    assert_eq!((status, why.as_str()), (204, ""));
    // The crossing happens wholly inside the ignored band: no event.
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(events(&server, "cmd").await, vec![], "an event inside the ignored band");
    drop(server);
    // A restart keeps it (it is saved beside the recordings).
    let server = Server::start(&["--camera", &clip, "--motion", "all", "--record-dir", &record]);
    let (_, _, body) = http_get_body(&server, "/api/motion/zone").await;
    let kept = serde_json::from_slice::<MotionZone>(&body).unwrap();
    // The flags' sensitivity and area are said with it.
    assert_eq!(kept, MotionZone { sensitivity: Some(50), min_area: Some(0.005), ..band.clone() });
    // Watching everywhere again but asking for a fifth of the picture to change: the square
    // (3 % of it) crossing again after the restart is no event.
    let large = MotionZone { min_area: Some(0.2), ..MotionZone::everywhere() };
    assert_eq!(put_zone(&server, &large, None).await.0, 204);
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(events(&server, "cmd").await, vec![], "an event smaller than the smallest change asked");
    drop(server);
    // With an admin token, only it may change the zone.
    let server = Server::start(&["--motion", "all", "--admin-token", "sesame"]);
    let (status, why) = put_zone(&server, &band, None).await;
    assert!(status == 403 && why.contains("admin token"), "{status} {why}");
    assert_eq!(put_zone(&server, &band, Some("sesame")).await.0, 204);
    let _ = std::fs::remove_dir_all(dir);
}
