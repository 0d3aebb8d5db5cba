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
