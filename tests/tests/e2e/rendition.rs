//! Renditions: `?size=`, `?w=` and `?quality=` on snapshots and streams, one shared pipeline
//! per size, stopped when nobody watches; and the 400s for sizes and rates that make no sense.

use std::time::{Duration, Instant};

use framecast::media::jpeg::dimensions;

use crate::util::{Server, api_state, http_get, http_get_body, read_part};

async fn snapshot_size(server: &Server, path: &str) -> (u32, u32, usize) {
    let (status, _, body) = http_get_body(server, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    let (w, h) = dimensions(&body).unwrap_or_else(|e| panic!("{path}: not a JPEG: {e}"));
    (w, h, body.len())
}

#[tokio::test]
async fn snapshots_and_streams_come_in_the_size_asked_for() {
    let server = Server::start(&["--size", "1280x720", "--fps", "15"]);
    // The JPEG's own start-of-frame says the size.
    for (path, want) in [
        ("/snapshot.jpg?size=640x360", (640, 360)),
        ("/snapshot.jpg?size=700x400", (640, 360)),
        ("/snapshot.jpg?w=390", (320, 180)),
        ("/snapshot?size=320x240", (320, 180)),
        ("/?action=snapshot&w=1170", (1120, 630)),
        ("/snapshot.jpg?size=100x50", (160, 90)),
        ("/snapshot.jpg?size=4000x4000", (1280, 720)),
        ("/snapshot.jpg", (1280, 720)),
    ] {
        let (w, h, _) = snapshot_size(&server, path).await;
        assert_eq!((w, h), want, "{path}");
    }
    let (_, _, rough) = snapshot_size(&server, "/snapshot.jpg?size=640x360&quality=20").await;
    let (_, _, fine) = snapshot_size(&server, "/snapshot.jpg?size=640x360&quality=95").await;
    assert!(rough * 2 < fine, "quality 20 ({rough} B) should be far smaller than 95 ({fine} B)");
    let (w, h, _) = snapshot_size(&server, "/snapshot.jpg?quality=30").await;
    assert_eq!((w, h), (1280, 720), "quality alone keeps the size");

    for (path, want) in
        [("/stream.mjpg?size=320x180", (320, 180)), ("/?action=stream&w=640&fps=5", (640, 360))]
    {
        let (status, _, mut body) = http_get(&server, path).await;
        assert_eq!(status, 200, "{path}");
        body.read_until(b"--framecast\r\n").await.unwrap();
        let mut stamps = Vec::new();
        let started = Instant::now();
        for _ in 0..10 {
            let part = read_part(&mut body, "framecast").await;
            assert_eq!(dimensions(&part.jpeg), Ok(want), "{path}");
            let stamp: f64 = crate::util::header(&part.headers, "x-timestamp").unwrap().parse().unwrap();
            stamps.push(stamp);
        }
        // Stamped with the camera's capture time: fresh, and newer with each part (one part
        // per camera frame, never the same camera frame twice).
        let age = framecast_shared::unix_micros_now() as f64 / 1e6 - stamps[9];
        assert!((0.0..2.0).contains(&age), "{path}: a part {age:.2} s old");
        assert!(stamps.windows(2).all(|w| w[1] > w[0]), "{path}: {stamps:?}");
        let rate = 9.0 / started.elapsed().as_secs_f64();
        assert!(rate < 20.0, "{path}: {rate:.1} parts/s from a 15 fps camera");
    }
}

#[tokio::test]
async fn one_pipeline_serves_every_viewer_of_a_size_and_stops_when_unwatched() {
    let server = Server::start(&["--size", "640x480", "--fps", "20", "--idle-timeout", "0.5"]);
    let mut streams = Vec::new();
    for _ in 0..6 {
        let (status, _, mut body) = http_get(&server, "/stream.mjpg?size=320x240").await;
        assert_eq!(status, 200);
        body.read_until(b"--framecast\r\n").await.unwrap();
        read_part(&mut body, "framecast").await;
        streams.push(body);
    }
    let (status, _, mut other) = http_get(&server, "/stream.mjpg?size=160x120&quality=40").await;
    assert_eq!(status, 200);
    other.read_until(b"--framecast\r\n").await.unwrap();
    read_part(&mut other, "framecast").await;

    let camera = &api_state(&server).await.cameras[0];
    let mut renditions: Vec<_> =
        camera.renditions.iter().map(|r| (r.width, r.height, r.quality, r.viewers, r.running)).collect();
    renditions.sort();
    let q = camera.quality;
    assert_eq!(renditions, vec![(160, 120, 40, 1, true), (320, 240, q, 6, true)], "{:?}", camera.renditions);
    assert_eq!(camera.viewers, 2, "the camera has one viewer per rendition, not per stream");

    drop(streams);
    drop(other);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = api_state(&server).await;
        let camera = &now.cameras[0];
        if camera.renditions.iter().all(|r| !r.running && r.viewers == 0) && !camera.running {
            let frames: Vec<u64> = camera.renditions.iter().map(|r| r.frames).collect();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let later: Vec<u64> =
                api_state(&server).await.cameras[0].renditions.iter().map(|r| r.frames).collect();
            assert_eq!(frames, later, "a stopped rendition makes no frames");
            break;
        }
        assert!(Instant::now() < deadline, "renditions and camera still running: {camera:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Asked for again, the same rendition starts again.
    let (w, h, _) = snapshot_size(&server, "/snapshot.jpg?size=320x240").await;
    assert_eq!((w, h), (320, 240));
}

#[tokio::test]
async fn sizes_qualities_and_rates_that_make_no_sense_are_a_400_with_the_reason() {
    let server = Server::start(&["--size", "320x240", "--fps", "10"]);
    for (query, reason) in [
        ("size=0x0", "size width 0 is out of range"),
        ("size=99999x1", "size width 99999 is out of range"),
        ("size=640", "not WIDTHxHEIGHT"),
        ("w=tiny", "not a number"),
        ("quality=500", "quality '500' is out of range"),
        ("fps=0", "fps 0 is out of range"),
    ] {
        let paths = [
            format!("/stream.mjpg?{query}"),
            format!("/?action=stream&{query}"),
            format!("/snapshot.jpg?{query}"),
            format!("/?action=snapshot&{query}"),
        ];
        for path in paths {
            if query.starts_with("fps") && path.contains("snapshot") {
                continue;
            }
            let (status, _, body) = http_get_body(&server, &path).await;
            let body = String::from_utf8_lossy(&body);
            assert_eq!(status, 400, "{path}: {body}");
            assert!(body.contains(reason), "{path}: {body}");
        }
    }
}

/// A viewer's `hello` asking for `size` (nothing else).
fn size_hello(size: &str) -> framecast_shared::ClientMessage {
    framecast_shared::ClientMessage::Hello {
        window: None,
        max_fps: None,
        size: Some(size.into()),
        canvas: None,
        accept: None,
    }
}

/// A WebSocket viewer asks for a size in the URL or in its `hello`, and can change it; its
/// status messages still describe the camera.
#[tokio::test]
async fn a_websocket_viewer_gets_the_size_it_asks_for_and_can_change_it() {
    use framecast_shared::{ErrorCode, ServerMessage};

    use crate::util::Viewer;

    let server = Server::start(&["--size", "1280x720", "--fps", "20"]);
    let (mut viewer, _) = Viewer::connect(&server, "?size=320x180").await;
    viewer.wait_for_size(320, 180, 10).await;
    let headers = viewer.watch_for(Duration::from_secs(1)).await;
    assert!(headers.iter().all(|h| (h.width, h.height) == (320, 180)), "{headers:?}");
    assert!(headers.windows(2).all(|w| w[1].seq > w[0].seq), "seq increases");
    let seq_before = headers.last().unwrap().seq;

    viewer.send(&size_hello("640x360")).await;
    viewer.wait_for_size(640, 360, 10).await;
    viewer.send(&size_hello("full")).await;
    viewer.wait_for_size(1280, 720, 10).await;
    let after = viewer.watch_for(Duration::from_millis(500)).await;
    assert!(after.iter().all(|h| h.seq > seq_before), "seq never goes back across a switch");

    viewer.send(&size_hello("0x0")).await;
    loop {
        match viewer.next_control(5).await {
            ServerMessage::Error { code, message } => {
                assert_eq!(code, ErrorCode::OutOfRange, "{message}");
                assert!(message.contains("out of range"), "{message}");
                break;
            }
            ServerMessage::State { camera } => assert_eq!((camera.width, camera.height), (1280, 720)),
            other => panic!("expected an error, got {other:?}"),
        }
    }
    viewer.wait_for_size(1280, 720, 5).await;

    let (status, _, body) = http_get_body(&server, "/ws?size=0x0").await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("out of range"));
}

/// A switch of picture skips no numbers: a viewer that takes every frame sees no gap in
/// `seq` when it goes from the camera to a rendition (which counts its own frames) and back,
/// so its skipped-frame count and rate stay true.
#[tokio::test]
async fn switching_the_picture_leaves_no_gap_in_seq() {
    use crate::util::Viewer;

    let server = Server::start(&["--size", "1280x720", "--fps", "20"]);
    let (mut viewer, _) = Viewer::connect(&server, "?size=full").await;
    // Long enough for the camera's counter to run well ahead of a new rendition's.
    let mut headers = viewer.watch_for(Duration::from_millis(1500)).await;
    for (size, (width, height)) in [("320x180", (320, 180)), ("full", (1280, 720))] {
        viewer.send(&size_hello(size)).await;
        headers.extend(viewer.wait_for_size(width, height, 10).await);
        headers.extend(viewer.watch_for(Duration::from_millis(500)).await);
    }
    let gaps: Vec<u64> = headers.windows(2).map(|w| w[1].seq - w[0].seq - 1).collect();
    // The viewer keeps up, so a gap is at most a frame or two the rendition could not make.
    assert!(gaps.iter().all(|&g| g <= 3), "gaps {gaps:?}");
    assert!(headers.iter().any(|h| h.width == 320) && headers.last().unwrap().width == 1280);
}

/// `"size":"auto"`: a viewer on a slow link is stepped down to a size it takes at about the
/// camera's rate, and back up to what its canvas takes when the link clears; the `picture`
/// messages say the size and why.
#[tokio::test]
async fn auto_steps_down_on_a_slow_link_and_back_up_when_it_clears() {
    use framecast_shared::{ClientMessage, FrameHeader, PictureMode, ServerMessage};
    use futures_util::{SinkExt, StreamExt};
    use std::sync::atomic::Ordering;
    use tokio_tungstenite::tungstenite::Message;

    let server = Server::start(&["--size", "1280x720", "--fps", "20"]);
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let slow = framecast_tests::throttle::Throttled::new(tcp, 40_000);
    let rate = slow.rate();
    let (mut ws, _) = tokio_tungstenite::client_async(server.ws_url("/ws"), slow).await.unwrap();
    // A 640x360 canvas: auto never goes above 4/8 of the 1280x720 camera.
    let hello = ClientMessage::Hello {
        window: None,
        max_fps: None,
        size: Some("auto".into()),
        canvas: Some([640, 360]),
        accept: None,
    };
    ws.send(Message::Text(hello.to_json().into())).await.unwrap();

    // Receives (and acks) for `secs`: the frames' widths with their arrival, and the pictures.
    struct Seen {
        frames: Vec<(Instant, u32)>,
        pictures: Vec<(PictureMode, u32, Option<u64>, Option<String>)>,
        /// Frames that came before the first `picture` message: sent before the server read
        /// the `hello` (the session starts live at once), so of the camera's own size.
        before_picture: usize,
    }
    async fn watch<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, secs: f64) -> Seen
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut seen = Seen { frames: Vec::new(), pictures: Vec::new(), before_picture: 0 };
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, ws.next()).await {
            match message.expect("connection open") {
                Message::Binary(bytes) => {
                    let (header, _): (FrameHeader, usize) = FrameHeader::decode_message(&bytes).unwrap();
                    seen.frames.push((Instant::now(), header.width));
                    if seen.pictures.is_empty() {
                        seen.before_picture += 1;
                    }
                    let ack = ClientMessage::Ack { seq: header.seq }.to_json();
                    ws.send(Message::Text(ack.into())).await.unwrap();
                }
                Message::Text(text) => {
                    if let Ok(ServerMessage::Picture { mode, width, link_bps, reason, .. }) =
                        ServerMessage::parse(&text)
                    {
                        seen.pictures.push((mode, width, link_bps, reason));
                    }
                }
                _ => {}
            }
        }
        seen
    }

    // On 0.32 Mbit/s the 640x360 picture cannot keep up: auto steps down, and says why.
    let weak = watch(&mut ws, 12.0).await;
    assert_eq!(
        weak.pictures.first().map(|p| (p.0, p.1)),
        Some((PictureMode::Auto, 640)),
        "{:?}",
        weak.pictures
    );
    let widths: Vec<u32> = weak.frames.iter().map(|(_, w)| *w).collect();
    assert!(weak.before_picture <= 2, "{} frames before the hello was answered", weak.before_picture);
    assert!(widths[weak.before_picture..].iter().all(|w| *w <= 640), "never above the canvas: {widths:?}");
    let stepped = weak.pictures.iter().find(|p| p.1 < 640 && p.3.as_deref() == Some("link"));
    let (_, small, link, _) = stepped.unwrap_or_else(|| panic!("no step down: {:?}", weak.pictures)).clone();
    let link = link.expect("the link's measure") as f64;
    assert!((0.1e6..1.0e6).contains(&link), "link ≈ {:.2} Mbit/s through a 0.32 Mbit/s throttle", link / 1e6);
    // At the smaller size the viewer takes most of the camera's frames.
    let settled = watch(&mut ws, 4.0).await;
    let small_frames = settled.frames.iter().filter(|(_, w)| *w <= small).count();
    assert!(
        small_frames as f64 / 4.0 >= 12.0,
        "{small_frames} frames in 4 s at {small} wide, camera at 20 fps"
    );

    // The link clears: probed back up to the canvas's size, a step at a time (a failed probe
    // on the weak link made the next one wait longer, so this takes a while).
    rate.store(100_000_000, Ordering::Relaxed);
    let cleared = watch(&mut ws, 40.0).await;
    assert!(cleared.frames.iter().all(|(_, w)| *w <= 640), "never above the canvas");
    assert!(
        cleared.frames.iter().rev().take(10).all(|(_, w)| *w == 640),
        "back at 640 wide: {:?}",
        cleared.pictures
    );
    assert!(cleared.pictures.iter().any(|p| p.3.as_deref() == Some("probe")), "{:?}", cleared.pictures);
}
