//! `/stream.mjpg` and its aliases, read as a raw HTTP client and by ffmpeg.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use framecast_tests::process::wait_for_exit;

use crate::util::{Server, header, http_get, is_jpeg, read_part};

#[tokio::test]
async fn parts_carry_length_and_timestamp_and_end_with_the_next_boundary() {
    let server = Server::start(&["--size", "320x240", "--fps", "20"]);
    let (status, headers, mut body) = http_get(&server, "/stream.mjpg").await;
    assert_eq!(status, 200);
    let content_type = header(&headers, "content-type").unwrap();
    assert_eq!(content_type, "multipart/x-mixed-replace; boundary=framecast");
    assert!(header(&headers, "content-encoding").is_none(), "the stream must never be compressed");
    assert!(header(&headers, "cache-control").unwrap().contains("no-cache"));
    assert_eq!(body.read_until(b"--framecast\r\n").await.unwrap(), b"--framecast\r\n");
    let started = Instant::now();
    let mut stamps = Vec::new();
    for _ in 0..20 {
        let part = read_part(&mut body, "framecast").await;
        assert_eq!(header(&part.headers, "content-type"), Some("image/jpeg"));
        assert!(is_jpeg(&part.jpeg));
        let stamp: f64 = header(&part.headers, "x-timestamp").unwrap().parse().unwrap();
        let now = framecast_shared::unix_micros_now() as f64 / 1e6;
        assert!((now - stamp).abs() < 5.0, "X-Timestamp {stamp} is far from now {now}");
        stamps.push(stamp);
    }
    assert!(stamps.windows(2).all(|w| w[1] > w[0]), "timestamps must increase: {stamps:?}");
    let fps = 19.0 / (stamps[19] - stamps[0]);
    assert!((14.0..=22.0).contains(&fps), "MJPEG at {fps:.1} fps, camera at 20");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn aliases_serve_the_same_stream() {
    let server = Server::start(&["--size", "160x120", "--fps", "10"]);
    for path in ["/stream", "/?action=stream", "/stream.mjpg?camera=emulated"] {
        let (status, headers, mut body) = http_get(&server, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(header(&headers, "content-type").unwrap().starts_with("multipart/x-mixed-replace"), "{path}");
        body.read_until(b"--framecast\r\n").await.unwrap();
        assert!(is_jpeg(&read_part(&mut body, "framecast").await.jpeg), "{path}");
    }
    let (status, _, _) = http_get(&server, "/stream.mjpg?camera=attic").await;
    assert_eq!(status, 404);
    let (status, _, _) = http_get(&server, "/?action=dance").await;
    assert_eq!(status, 400);
}

/// ffmpeg, the tool behind VLC, Home Assistant's camera and many NVRs, reads the stream.
#[test]
fn ffmpeg_reads_the_stream() {
    let server = Server::start(&["--size", "640x360", "--fps", "30"]);
    let mut child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            &server.url("/stream.mjpg"),
            "-frames:v",
            "30",
            "-f",
            "null",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg is installed (cargo xtask test installs it)");
    let Some(status) = wait_for_exit(&mut child, Duration::from_secs(30)) else {
        let _ = child.kill();
        panic!("ffmpeg did not read 30 frames within 30 s");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "ffmpeg failed: {stderr}");
}

/// `?fps=N`: at most N parts a second to this reader, each the newest frame when it goes, so
/// a reader that takes a frame a second and reads nothing in between (an OpenCV loop feeding a
/// detector) sees fresh pictures.
#[tokio::test]
async fn a_reader_can_cap_its_rate_and_still_gets_fresh_frames() {
    let server = Server::start(&["--size", "320x240", "--fps", "20"]);
    let stamp =
        |part: &crate::util::Part| -> f64 { header(&part.headers, "x-timestamp").unwrap().parse().unwrap() };

    // Read as fast as possible: the cap sets the pace.
    for path in ["/stream.mjpg?fps=4", "/stream?fps=4", "/?action=stream&fps=4"] {
        let (status, _, mut body) = http_get(&server, path).await;
        assert_eq!(status, 200, "{path}");
        body.read_until(b"--framecast\r\n").await.unwrap();
        let started = Instant::now();
        let mut stamps = Vec::new();
        for _ in 0..9 {
            stamps.push(stamp(&read_part(&mut body, "framecast").await));
        }
        let fps = 8.0 / started.elapsed().as_secs_f64();
        assert!((3.0..=4.5).contains(&fps), "{path}: {fps:.1} parts/s at fps=4");
        assert!(stamps.windows(2).all(|w| w[1] > w[0]), "{path}: each part newer: {stamps:?}");
    }

    // One frame a second, nothing read in between: each part is at most about a second old.
    let (_, _, mut body) = http_get(&server, "/stream.mjpg?fps=1").await;
    body.read_until(b"--framecast\r\n").await.unwrap();
    let mut ages = Vec::new();
    for _ in 0..5 {
        let part = read_part(&mut body, "framecast").await;
        ages.push(framecast_shared::unix_micros_now() as f64 / 1e6 - stamp(&part));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(ages.iter().all(|&age| age < 1.5), "ages at fps=1: {ages:?}");
}

#[tokio::test]
async fn a_bad_rate_is_a_400_with_the_reason() {
    let server = Server::start(&["--size", "160x120", "--fps", "10"]);
    for (query, reason) in [
        ("fps=0", "out of range"),
        ("fps=-2", "out of range"),
        ("fps=1000", "out of range"),
        ("fps=fast", "not a number"),
    ] {
        for path in [format!("/stream.mjpg?{query}"), format!("/?action=stream&{query}")] {
            let (status, _, body) = crate::util::http_get_body(&server, &path).await;
            let body = String::from_utf8_lossy(&body);
            assert_eq!(status, 400, "{path}: {body}");
            assert!(body.contains(reason), "{path}: {body}");
        }
    }
}
