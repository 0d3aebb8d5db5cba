//! H.264 cameras end to end over real sockets: ffmpeg's libx264 in a `cmd:` camera and the
//! emulated camera encoded with OpenH264, an IP camera over RTSP (GStreamer's server), viewers that take H.264 (`accept=h264`) and those
//! that take JPEG, a viewer that falls behind, and streams that are not what they claim.

use std::time::{Duration, Instant};

use framecast_shared::{CameraStatus, ClientMessage, FrameHeader, ServerMessage};

use framecast_tests::rtsp::RtspServer;

use crate::util::{Server, Viewer, api_state, http_get, http_get_body, is_jpeg, read_part, within};

/// ffmpeg encoding a moving test picture with libx264 to an H.264 byte stream on stdout,
/// a keyframe every second, SPS and PPS before each (as `rpicam-vid --inline` writes).
fn ffmpeg_h264(size: &str, rate: u32) -> String {
    format!(
        "ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size={size}:rate={rate} -c:v libx264 -preset ultrafast -tune zerolatency -g {rate} -bsf:v dump_extra -f h264 -"
    )
}

/// Takes `n` frames, acknowledging each, and returns their headers and payload sizes.
async fn take_frames(viewer: &mut Viewer, n: usize) -> Vec<(FrameHeader, usize)> {
    let mut frames = Vec::new();
    while frames.len() < n {
        let (header, payload) = viewer.next_frame(10).await;
        viewer.ack(header.seq).await;
        frames.push((header, payload.len()));
    }
    frames
}

/// Checks frames are an H.264 stream from a keyframe on, every frame in order.
fn assert_h264_in_order(frames: &[(FrameHeader, usize)], size: (u32, u32)) {
    let (first, _) = &frames[0];
    assert!(first.key, "the first frame is a keyframe");
    let config = first.config.as_ref().expect("a keyframe carries the decoder's configuration");
    assert!(config.codec.starts_with("avc1."), "{}", config.codec);
    assert_eq!((config.width, config.height), size);
    assert!(config.avcc_bytes().is_some_and(|avcc| avcc.len() > 8 && avcc[0] == 1), "an avcC record");
    for (header, _) in frames {
        assert_eq!(header.codec.as_deref(), Some("h264"));
        assert_eq!((header.width, header.height), size);
    }
    let seqs: Vec<u64> = frames.iter().map(|(h, _)| h.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "every frame in order: {seqs:?}");
}

#[tokio::test]
async fn a_command_writing_h264_is_passed_through_and_jpeg_readers_get_jpegs() {
    let spec = format!("cmd:{}", ffmpeg_h264("640x360", 25));
    let server = Server::start(&["--camera", &spec]);
    let (mut viewer, _) = Viewer::connect(&server, "?accept=h264,jpeg").await;
    let frames = take_frames(&mut viewer, 40).await;
    assert_h264_in_order(&frames, (640, 360));
    let bytes: usize = frames.iter().map(|(_, n)| n).sum();
    assert!(bytes / frames.len() < 30_000, "H.264 pictures of {} bytes on average", bytes / frames.len());
    let state = api_state(&server).await;
    assert_eq!(
        state.cameras[0].codec.as_deref(),
        Some("h264"),
        "the camera's codec is known from its output"
    );

    // A snapshot and an MJPEG stream of the same camera are JPEGs of its picture.
    let (status, _, body) = http_get_body(&server, "/snapshot.jpg").await;
    assert_eq!(status, 200);
    assert!(is_jpeg(&body));
    assert_eq!(framecast::media::jpeg::dimensions(&body), Ok((640, 360)));
    let (status, _, mut body) = http_get(&server, "/stream.mjpg").await;
    assert_eq!(status, 200);
    body.read_until(b"--framecast\r\n").await.unwrap();
    for _ in 0..3 {
        let part = read_part(&mut body, "framecast").await;
        assert_eq!(framecast::media::jpeg::dimensions(&part.jpeg), Ok((640, 360)));
    }
    // One decoder makes the JPEGs for every JPEG reader.
    let state = api_state(&server).await;
    assert_eq!(state.cameras[0].renditions.len(), 1, "{:?}", state.cameras[0].renditions);
}

#[tokio::test]
async fn a_viewer_that_falls_behind_skips_to_the_next_keyframe() {
    let server =
        Server::start(&["--codec", "h264", "--size", "320x240", "--fps", "30", "--keyframe-interval", "1"]);
    let (mut viewer, _) = Viewer::connect(&server, "?accept=h264").await;
    viewer
        .send(&ClientMessage::Hello {
            window: Some(8),
            max_fps: None,
            size: None,
            canvas: None,
            accept: None,
        })
        .await;
    let frames = take_frames(&mut viewer, 10).await;
    assert_h264_in_order(&frames, (320, 240));
    let last = frames.last().unwrap().0.seq;
    // A stall: eight frames arrive (the window), none acknowledged for 1.5 s.
    let mut held = Vec::new();
    let stalled = Instant::now();
    while stalled.elapsed() < Duration::from_millis(1500) {
        let next = tokio::time::timeout(Duration::from_millis(200), viewer.next_frame(3)).await;
        if let Ok((header, _)) = next {
            held.push(header);
        }
    }
    assert!(held.len() <= 8, "{} frames sent without acks (window 8)", held.len());
    let held_last = held.last().map_or(last, |h| h.seq);
    viewer.ack(held_last).await;
    let (resumed, _) = viewer.next_frame(5).await;
    assert!(resumed.key, "after a stall the viewer resumes at a keyframe: {resumed:?}");
    assert!(resumed.seq > held_last + 1, "and is told (by the gap in seq) what it missed");
    viewer.ack(resumed.seq).await;
    let after = take_frames(&mut viewer, 10).await;
    let seqs: Vec<u64> = std::iter::once(resumed.seq).chain(after.iter().map(|(h, _)| h.seq)).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "then in order again: {seqs:?}");
}

#[tokio::test]
async fn a_new_viewer_starts_at_once_from_the_last_keyframe() {
    let server =
        Server::start(&["--codec", "h264", "--size", "640x360", "--fps", "25", "--keyframe-interval", "2"]);
    // One viewer keeps the camera running.
    let (mut first, _) = Viewer::connect(&server, "?accept=h264").await;
    take_frames(&mut first, 30).await;
    let started = Instant::now();
    let (mut second, _) = Viewer::connect(&server, "?accept=h264").await;
    let (header, _) = second.next_frame(5).await;
    let waited = started.elapsed();
    assert!(header.key && header.config.is_some(), "the newcomer's first frame is the last keyframe");
    // Generous (a shared machine); `cargo xtask bench` reports the real figure.
    assert!(waited < Duration::from_secs(1), "first frame after {waited:?}");
    second.ack(header.seq).await;
    // The frames of the group follow at once, then live.
    let frames = take_frames(&mut second, 20).await;
    let seqs: Vec<u64> = std::iter::once(header.seq).chain(frames.iter().map(|(h, _)| h.seq)).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[tokio::test]
async fn a_stream_that_claims_h264_and_is_not_goes_offline_with_the_reason() {
    // A start code, then bytes that are no NAL unit header (forbidden bit set), for ever.
    let spec = r"cmd:while true; do printf '\000\000\000\001\377\377\377\377\000\000\000\001\377\377'; sleep 0.05; done";
    let server = Server::start(&["--camera", spec]);
    let (mut viewer, _) = Viewer::connect(&server, "?accept=h264").await;
    let reason = within(20, "offline state", async {
        loop {
            if let ServerMessage::State { camera } = viewer.next_control(20).await
                && camera.status == CameraStatus::Offline
            {
                return camera.reason.unwrap_or_default();
            }
        }
    })
    .await;
    assert!(reason.contains("no usable frame") && reason.contains("not H.264"), "reason: {reason}");
    let (status, _, _) = http_get_body(&server, "/api/state").await;
    assert_eq!(status, 200, "the server goes on");
}

/// A free loopback port (for a server that must come back on the same one).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until camera 0's status is `want`; returns its description then.
async fn wait_for_status(server: &Server, want: CameraStatus, secs: u64) -> framecast_shared::CameraInfo {
    within(secs, "camera status", async {
        loop {
            let camera = api_state(server).await.cameras.remove(0);
            if camera.status == want {
                return camera;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
}

#[tokio::test]
async fn an_ip_camera_over_rtsp_is_passed_through_and_its_credentials_never_shown() {
    let credentials = Some(("viewer", "s3cret-pass"));
    let rtsp = RtspServer::start(free_port(), "640x360", 25, credentials).expect("RTSP server");
    let spec = format!("door={}", rtsp.url(credentials));
    let server = Server::start(&["--camera", &spec]);
    let (mut viewer, hello) = Viewer::connect(&server, "?accept=h264").await;
    let frames = take_frames(&mut viewer, 30).await;
    assert_h264_in_order(&frames, (640, 360));
    let ServerMessage::Hello { cameras, .. } = hello else { unreachable!() };
    assert_eq!(cameras[0].kind, "rtsp");
    let (_, _, state) = http_get_body(&server, "/api/state").await;
    let state = String::from_utf8(state).unwrap();
    assert!(state.contains("\"codec\":\"h264\""), "{state}");
    assert!(!state.contains("s3cret"), "the password shows in /api/state: {state}");

    // Wrong credentials: offline, and the reason says so without repeating them.
    let wrong = format!("rtsp://viewer:guess@127.0.0.1:{}/cam", rtsp.port);
    let refused = Server::start(&["--camera", &wrong]);
    let (_viewer, _) = Viewer::connect(&refused, "").await;
    let camera = wait_for_status(&refused, CameraStatus::Offline, 20).await;
    let reason = camera.reason.unwrap_or_default();
    assert!(reason.contains("401"), "reason: {reason}");
    assert!(!reason.contains("guess"), "reason repeats the password: {reason}");
}

#[tokio::test]
async fn an_rtsp_camera_that_goes_away_and_comes_back_recovers_by_itself() {
    let port = free_port();
    let rtsp = RtspServer::start(port, "320x240", 15, None).expect("RTSP server");
    let server = Server::start(&["--camera", &rtsp.url(None)]);
    let (mut viewer, _) = Viewer::connect(&server, "?accept=h264").await;
    take_frames(&mut viewer, 10).await;
    drop(rtsp);
    let camera = wait_for_status(&server, CameraStatus::Offline, 20).await;
    assert!(camera.reason.is_some(), "an offline camera says why");
    let _back = RtspServer::start(port, "320x240", 15, None).expect("RTSP server again");
    wait_for_status(&server, CameraStatus::Running, 30).await;
    // The viewer that stayed gets the camera again, from a keyframe.
    let (header, _) = within(20, "a keyframe after the return", async {
        loop {
            let (header, payload) = viewer.next_frame(20).await;
            viewer.ack(header.seq).await;
            if header.key {
                return (header, payload);
            }
        }
    })
    .await;
    assert!(header.config.is_some());
}

/// Plays `url` with ffmpeg for `seconds` (a real player reading the live stream) and returns
/// ffprobe's count of decoded frames and the size, from what ffmpeg saved.
fn play_with_ffmpeg(url: &str, seconds: u32, name: &str) -> (u64, u32, u32) {
    let out = crate::util::temp_dir(name).join("copy.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-t",
            &seconds.to_string(),
            "-i",
            url,
            "-c",
            "copy",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not read {url}");
    let decode = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(&out)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "decoding errors: {}",
        String::from_utf8_lossy(&decode.stderr)
    );
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&probe.stdout).trim().to_string();
    let fields: Vec<u64> = text.split(',').map(|f| f.parse().unwrap_or(0)).collect();
    assert_eq!(fields.len(), 3, "ffprobe said {text:?}");
    (fields[2], fields[0] as u32, fields[1] as u32)
}

#[tokio::test]
async fn stream_mp4_plays_in_ffmpeg_for_h264_and_jpeg_cameras() {
    let h264 = Server::start(&["--codec", "h264", "--size", "640x360", "--fps", "25"]);
    let url = h264.url("/stream.mp4");
    let (frames, width, height) =
        tokio::task::spawn_blocking(move || play_with_ffmpeg(&url, 2, "mp4-h264")).await.unwrap();
    assert_eq!((width, height), (640, 360));
    assert!(frames >= 30, "{frames} frames in 2 s at 25 fps");
    // A JPEG camera is encoded once for such readers (an H.264 rendition), at the size asked.
    let jpeg = Server::start(&["--size", "640x360", "--fps", "25"]);
    let url = jpeg.url("/stream.mp4?size=320x180");
    let (frames, width, height) =
        tokio::task::spawn_blocking(move || play_with_ffmpeg(&url, 2, "mp4-jpeg")).await.unwrap();
    assert_eq!((width, height), (320, 180));
    assert!(frames >= 30, "{frames} frames in 2 s at 25 fps");
    let state = api_state(&jpeg).await;
    assert_eq!(
        state.cameras[0].renditions[0].codec.as_deref(),
        Some("h264"),
        "{:?}",
        state.cameras[0].renditions
    );
}
