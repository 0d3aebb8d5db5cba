//! The WebSocket viewer protocol: hello, frames at the camera's rate, credit flow control,
//! ping/pong, errors for bad input, and no viewer slowing another.

use std::time::Duration;

use framecast_shared::{CameraStatus, ClientMessage, ErrorCode, ServerMessage};

use crate::util::{Server, Viewer, close_answer, fps_of, http_get, is_jpeg, within};

const SMALL: &[&str] = &["--size", "320x240", "--fps", "20"];

#[tokio::test]
async fn hello_describes_the_protocol_and_cameras() {
    let server = Server::start(SMALL);
    let (_viewer, hello) = Viewer::connect(&server, "").await;
    let ServerMessage::Hello { protocol, camera, window, cameras, .. } = hello else { unreachable!() };
    assert_eq!(protocol, framecast_shared::PROTOCOL_VERSION);
    assert_eq!(camera, "emulated");
    assert_eq!(window, 2);
    assert_eq!(cameras.len(), 1);
    assert_eq!((cameras[0].width, cameras[0].height, cameras[0].fps), (320, 240, 20));
}

#[tokio::test]
async fn frames_arrive_at_the_configured_rate_with_increasing_seq() {
    let server = Server::start(SMALL);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    // Let the camera start, then measure.
    viewer.watch_for(Duration::from_millis(500)).await;
    let headers = viewer.watch_for(Duration::from_secs(3)).await;
    assert!(headers.windows(2).all(|w| w[1].seq > w[0].seq), "seq must increase");
    let fps = fps_of(&headers);
    assert!(
        (14.0..=22.0).contains(&fps),
        "expected about 20 fps, got {fps:.1} over {} frames",
        headers.len()
    );
    for h in &headers {
        assert_eq!((h.width, h.height, h.camera.as_str()), (320, 240, "emulated"));
        assert!(h.sent_us >= h.captured_us, "sent before captured: {h:?}");
    }
    // A viewer that acks at once keeps up: it skips few frames.
    let span = headers.last().unwrap().seq - headers[0].seq + 1;
    assert!(headers.len() as u64 * 10 >= span * 8, "received {} of {span} frames", headers.len());
}

#[tokio::test]
async fn frames_are_jpegs() {
    let server = Server::start(SMALL);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let (_, jpeg) = viewer.next_frame(10).await;
    assert!(is_jpeg(&jpeg));
}

#[tokio::test]
async fn a_viewer_that_never_acks_gets_exactly_its_window() {
    let server = Server::start(SMALL);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let first = viewer.next_frame(10).await.0;
    let second = viewer.next_frame(5).await.0;
    assert!(second.seq > first.seq);
    // The camera runs at 20 fps; with no ack, nothing more may come.
    let more = tokio::time::timeout(Duration::from_millis(800), viewer.next_frame(5)).await;
    assert!(more.is_err(), "a third frame arrived without an ack: {:?}", more.map(|f| f.0));
    // One ack returns credit: the newest frame comes, never an old one.
    viewer.ack(first.seq).await;
    let third = viewer.next_frame(5).await.0;
    assert!(third.seq > second.seq + 5, "expected a fresh frame, got seq {} after {}", third.seq, second.seq);
    let more = tokio::time::timeout(Duration::from_millis(500), viewer.next_frame(5)).await;
    assert!(more.is_err(), "only one credit was returned");
}

#[tokio::test]
async fn the_window_can_be_chosen_in_the_first_message() {
    let server = Server::start(SMALL);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer
        .send(&ClientMessage::Hello {
            window: Some(1),
            max_fps: None,
            size: None,
            canvas: None,
            accept: None,
        })
        .await;
    // Frames may already be in flight under the default window; drain them, ack, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut newest = 0;
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), viewer.next_frame(5)).await {
        newest = frame.0.seq;
    }
    viewer.ack(newest).await;
    let one = viewer.next_frame(5).await.0;
    assert!(one.seq > newest);
    let more = tokio::time::timeout(Duration::from_millis(600), viewer.next_frame(5)).await;
    assert!(more.is_err(), "window 1 allows one frame in flight");
}

#[tokio::test]
async fn ping_is_answered_with_the_servers_clock() {
    let server = Server::start(SMALL);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer.send(&ClientMessage::Ping { t: 12345.5 }).await;
    let now = framecast_shared::unix_micros_now();
    loop {
        if let ServerMessage::Pong { t, server_us } = viewer.next_control(5).await {
            assert_eq!(t, 12345.5);
            assert!(server_us.abs_diff(now) < 5_000_000, "server clock {server_us} vs {now}");
            break;
        }
    }
}

#[tokio::test]
async fn bad_messages_get_an_error_and_the_connection_stays_usable() {
    let server = Server::start(SMALL);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let oversized = format!(r#"{{"type":"ping","t":1,"x":"{}"}}"#, "y".repeat(5000));
    // (payload, sent as text?, expected error)
    let cases: Vec<(&[u8], bool, ErrorCode)> = vec![
        (b"not json", true, ErrorCode::BadMessage),
        (br#"{"type":"teleport"}"#, true, ErrorCode::BadMessage),
        (br#"{"type":"ack","seq":"seven"}"#, true, ErrorCode::BadMessage),
        (br#"{"type":"hello","window":0}"#, true, ErrorCode::OutOfRange),
        (br#"{"type":"ack","seq":999999999}"#, true, ErrorCode::BadAck),
        (oversized.as_bytes(), true, ErrorCode::TooLarge),
        (&[1, 2, 3], false, ErrorCode::NotText),
    ];
    for (payload, as_text, expected) in cases {
        if as_text {
            viewer.send_text(std::str::from_utf8(payload).unwrap()).await;
        } else {
            viewer.send_binary(payload).await;
        }
        loop {
            match viewer.next_control(5).await {
                ServerMessage::Error { code, message } => {
                    assert_eq!(code, expected, "{message}");
                    assert!(!message.is_empty());
                    break;
                }
                ServerMessage::State { .. } => continue,
                other => {
                    panic!("expected an error for {:?}, got {other:?}", String::from_utf8_lossy(payload))
                }
            }
        }
    }
    viewer.send(&ClientMessage::Ping { t: 1.0 }).await;
    loop {
        if let ServerMessage::Pong { .. } = viewer.next_control(5).await {
            break;
        }
    }
}

/// RFC 6455 §7.4 (Autobahn cases 7.7.x and 7.9.x against the real endpoint): a valid close
/// code is echoed, one a peer may not send is answered with a protocol error.
#[tokio::test]
async fn close_frames_are_answered_as_the_rfc_says() {
    let server = Server::start(SMALL);
    for (sent, answer) in [(1000, 1000), (1001, 1001), (3000, 3000), (0, 1002), (999, 1002), (1006, 1002)] {
        let (ws, _) = within(10, "websocket connect", tokio_tungstenite::connect_async(server.ws_url("/ws")))
            .await
            .expect("websocket upgrade");
        assert_eq!(close_answer(ws, sent).await, Some(answer), "close {sent}");
    }
}

#[tokio::test]
async fn camera_status_changes_are_reported() {
    let server = Server::start(SMALL);
    let (mut viewer, hello) = Viewer::connect(&server, "").await;
    let ServerMessage::Hello { cameras, .. } = hello else { unreachable!() };
    if cameras[0].status != CameraStatus::Running {
        let running = within(10, "running state", async {
            loop {
                if let ServerMessage::State { camera } = viewer.next_control(10).await
                    && camera.status == CameraStatus::Running
                {
                    return camera;
                }
            }
        })
        .await;
        assert!(running.running);
        assert!(running.viewers >= 1);
    }
}

#[tokio::test]
async fn unknown_camera_is_refused_before_upgrade() {
    let server = Server::start(SMALL);
    let (status, _, _) = http_get(&server, "/ws?camera=garage").await;
    assert_eq!(status, 404);
}

/// A viewer whose TCP connection is stalled (it never reads) must not lower anyone else's
/// frame rate. Frames are large so the stalled socket's buffers fill up quickly.
#[tokio::test]
async fn a_stalled_viewer_does_not_slow_the_others() {
    let server = Server::start(&["--size", "1280x720", "--fps", "20", "--quality", "95"]);
    // Stalled MJPEG reader: sends the request, never reads.
    let (_status, _headers, stalled_mjpeg) = http_get(&server, "/stream.mjpg").await;
    // Stalled WebSocket viewer with the largest window: never reads after its hello.
    let (mut stalled_ws, _) = Viewer::connect(&server, "").await;
    stalled_ws
        .send(&ClientMessage::Hello {
            window: Some(8),
            max_fps: None,
            size: None,
            canvas: None,
            accept: None,
        })
        .await;

    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer.watch_for(Duration::from_millis(500)).await;
    let headers = viewer.watch_for(Duration::from_secs(3)).await;
    let fps = fps_of(&headers);
    assert!(fps >= 14.0, "a normal viewer got {fps:.1} fps next to stalled ones (camera: 20)");
    drop((stalled_mjpeg, stalled_ws));
}

#[tokio::test]
async fn a_plain_get_on_the_websocket_path_is_a_clear_400() {
    let server = Server::start(SMALL);
    let (status, _, _) = http_get(&server, "/ws").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn settings_change_live_for_every_viewer() {
    let server = Server::start(&["--size", "640x360", "--fps", "20"]);
    let (mut a, hello) = Viewer::connect(&server, "").await;
    let ServerMessage::Hello { cameras, .. } = hello else { unreachable!() };
    assert!(cameras[0].modes.sizes.contains(&[320, 180]), "offered sizes: {:?}", cameras[0].modes);
    assert!(cameras[0].modes.quality);
    let (mut b, _) = Viewer::connect(&server, "").await;
    a.watch_for(Duration::from_millis(300)).await;
    a.send(&ClientMessage::Settings {
        width: Some(320),
        height: Some(180),
        fps: Some(10),
        quality: Some(50),
    })
    .await;
    // Both viewers get frames of the new size, and a state message saying so.
    for viewer in [&mut a, &mut b] {
        viewer.wait_for_size(320, 180, 10).await;
    }
    let headers = b.watch_for(Duration::from_secs(2)).await;
    let fps = fps_of(&headers);
    assert!((7.0..=12.0).contains(&fps), "new rate {fps:.1}, asked for 10");
    let (_, _, body) = crate::util::http_get_body(&server, "/api/state").await;
    let state: framecast_shared::ApiState = serde_json::from_slice(&body).unwrap();
    let cam = &state.cameras[0];
    assert_eq!((cam.width, cam.height, cam.fps, cam.quality), (320, 180, 10, 50));
}

#[tokio::test]
async fn settings_the_camera_cannot_take_are_refused() {
    let server = Server::start(&["--size", "640x360", "--fps", "20"]);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    for bad in [
        ClientMessage::Settings { width: Some(333), height: Some(111), fps: None, quality: None },
        ClientMessage::Settings { width: Some(320), height: None, fps: None, quality: None },
        ClientMessage::Settings { width: None, height: None, fps: Some(0), quality: None },
        ClientMessage::Settings { width: None, height: None, fps: None, quality: Some(101) },
        // The emulated camera has no device controls.
        ClientMessage::Control { name: "Brightness".into(), value: 1 },
    ] {
        viewer.send(&bad).await;
        loop {
            match viewer.next_control(5).await {
                ServerMessage::Error { code, message } => {
                    assert_eq!(code, ErrorCode::BadSettings, "{bad:?}: {message}");
                    break;
                }
                ServerMessage::State { .. } => continue,
                other => panic!("expected an error for {bad:?}, got {other:?}"),
            }
        }
    }
    // Nothing changed.
    let (h, _) = viewer.next_frame(5).await;
    assert_eq!((h.width, h.height), (640, 360));
}

#[tokio::test]
async fn a_viewer_can_cap_its_own_frame_rate() {
    let server = Server::start(&["--size", "160x120", "--fps", "20"]);
    let (mut capped, _) = Viewer::connect(&server, "").await;
    capped
        .send(&ClientMessage::Hello {
            window: None,
            max_fps: Some(5.0),
            size: None,
            canvas: None,
            accept: None,
        })
        .await;
    let (mut full, _) = Viewer::connect(&server, "").await;
    capped.watch_for(Duration::from_millis(500)).await;
    let (capped_frames, full_frames) =
        tokio::join!(capped.watch_for(Duration::from_secs(3)), full.watch_for(Duration::from_secs(3)));
    let (c, f) = (fps_of(&capped_frames), fps_of(&full_frames));
    assert!((3.5..=5.5).contains(&c), "capped viewer got {c:.1} fps, asked for 5");
    assert!(f >= 14.0, "the other viewer must keep the camera's 20 fps, got {f:.1}");
}
