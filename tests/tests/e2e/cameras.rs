//! Camera processes: `cmd:` and `pi` against real MJPEG written by ffmpeg, failure and
//! recovery, child processes that die with the server, and several cameras at once.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use framecast_shared::{CameraStatus, ServerMessage};

use crate::util::{Server, Viewer, alive, fps_of, header, http_get_body, is_jpeg, temp_dir, within};

/// ffmpeg writing a 30 fps MJPEG test picture to stdout.
fn ffmpeg_mjpeg(size: &str, rate: u32, extra: &str) -> String {
    format!(
        "ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size={size}:rate={rate} {extra} -f mjpeg -q:v 5 -"
    )
}

#[tokio::test]
async fn a_command_camera_streams_real_mjpeg() {
    let spec = format!("cmd:{}", ffmpeg_mjpeg("640x360", 25, ""));
    let server = Server::start(&["--camera", &spec]);
    let (mut viewer, hello) = Viewer::connect(&server, "").await;
    let ServerMessage::Hello { cameras, .. } = hello else { unreachable!() };
    assert_eq!((cameras[0].id.as_str(), cameras[0].kind.as_str()), ("cmd", "cmd"));
    viewer.watch_for(Duration::from_secs(2)).await;
    let headers = viewer.watch_for(Duration::from_secs(2)).await;
    let fps = fps_of(&headers);
    assert!((18.0..=30.0).contains(&fps), "{fps:.1} fps from a 25 fps command");
    assert_eq!((headers[0].width, headers[0].height), (640, 360));
    let (status, _, body) = http_get_body(&server, "/snapshot.jpg").await;
    assert_eq!(status, 200);
    assert!(is_jpeg(&body));
}

#[tokio::test]
async fn a_failing_command_is_offline_with_the_reason_and_the_server_stays_up() {
    let server = Server::start(&["--camera", "cmd:echo 'no such camera' >&2; exit 7"]);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let reason = within(10, "offline state", async {
        loop {
            if let ServerMessage::State { camera } = viewer.next_control(10).await
                && camera.status == CameraStatus::Offline
            {
                return camera.reason.unwrap_or_default();
            }
        }
    })
    .await;
    assert!(reason.contains("exit status: 7") && reason.contains("no such camera"), "reason: {reason}");
    // A snapshot of an offline camera answers at once, with the reason.
    let asked = Instant::now();
    let (status, _, body) = http_get_body(&server, "/snapshot.jpg").await;
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("no such camera"));
    assert!(asked.elapsed() < Duration::from_secs(2), "the snapshot waited {:?}", asked.elapsed());
    // The server is still serving.
    let (status, _, _) = http_get_body(&server, "/api/state").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_camera_that_dies_mid_stream_recovers_by_itself() {
    // 20 frames, then the process exits; the hub restarts it while viewers remain.
    let spec = format!("cmd:{}", ffmpeg_mjpeg("320x240", 20, "-frames:v 20"));
    let server = Server::start(&["--camera", &spec]);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let mut saw_offline = false;
    let mut frames_after = 0;
    within(30, "offline and back", async {
        while frames_after < 5 {
            match viewer.next(20).await {
                crate::util::Incoming::Frame(h, _) => {
                    viewer.ack(h.seq).await;
                    if saw_offline {
                        frames_after += 1;
                    }
                }
                crate::util::Incoming::Control(ServerMessage::State { camera })
                    if camera.status == CameraStatus::Offline =>
                {
                    saw_offline = true;
                }
                _ => {}
            }
        }
    })
    .await;
}

/// A stand-in for `rpicam-vid` that accepts its real flags and writes MJPEG (or, with
/// `--codec h264`, H.264 with SPS and PPS before each keyframe) with ffmpeg.
fn fake_rpicam_vid(dir: &Path, log: &Path) {
    fake_libcamera_program(dir, log, "rpicam-vid");
}

/// The stand-in under `name` (`rpicam-vid`, or its older name `libcamera-vid`).
fn fake_libcamera_program(dir: &Path, log: &Path, name: &str) {
    let script = format!(
        r#"#!/bin/sh
# Stand-in for rpicam-vid: checks the flags framecast passes, then streams real MJPEG or H.264.
echo "$@" > {log}
w=; h=; fps=; q=; codec=; intra=
while [ $# -gt 0 ]; do
  case "$1" in
    --codec) codec=$2; [ "$2" = mjpeg ] || [ "$2" = h264 ] || {{ echo "codec must be mjpeg or h264" >&2; exit 2; }}; shift 2 ;;
    --timeout|--output|--bitrate|--profile) shift 2 ;;
    --intra) intra=$2; shift 2 ;;
    --nopreview|--inline|--flush|--low-latency) shift ;;
    --width) w=$2; shift 2 ;;
    --height) h=$2; shift 2 ;;
    --framerate) fps=$2; shift 2 ;;
    --quality) q=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$codec" = h264 ]; then
  exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=${{w}}x${{h}}:rate=$fps -c:v libx264 -preset ultrafast -tune zerolatency -g $intra -bsf:v dump_extra -f h264 -
fi
exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=${{w}}x${{h}}:rate=$fps -f mjpeg -q:v 5 -
"#,
        log = log.display()
    );
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn the_pi_camera_runs_rpicam_vid_with_the_settings() {
    let dir = temp_dir("fake-pi");
    let log = dir.join("args.txt");
    fake_rpicam_vid(&dir, &log);
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let server =
        Server::start_with_env(&["--camera", "pi", "--size", "640x480", "--fps", "15"], &[("PATH", path)]);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer.watch_for(Duration::from_secs(1)).await;
    let headers = viewer.watch_for(Duration::from_secs(2)).await;
    assert!(!headers.is_empty(), "no frames from the pi camera");
    assert_eq!((headers[0].width, headers[0].height), (640, 480));
    let fps = fps_of(&headers);
    assert!((10.0..=18.0).contains(&fps), "{fps:.1} fps at --fps 15");
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(args.contains("--width 640 --height 480 --framerate 15 --quality 80"), "{args}");

    // A settings change restarts rpicam-vid with the new flags.
    viewer
        .send(&framecast_shared::ClientMessage::Settings {
            width: Some(320),
            height: Some(180),
            fps: None,
            quality: None,
        })
        .await;
    viewer.wait_for_size(320, 180, 15).await;
}

#[tokio::test]
async fn the_pi_camera_in_h264_sends_h264_with_a_keyframe_every_interval() {
    let dir = temp_dir("fake-pi-h264");
    let log = dir.join("args.txt");
    fake_rpicam_vid(&dir, &log);
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let args = [
        "--camera",
        "pi",
        "--codec",
        "h264",
        "--size",
        "640x360",
        "--fps",
        "20",
        "--keyframe-interval",
        "0.5",
    ];
    let server = Server::start_with_env(&args, &[("PATH", path)]);
    let (mut viewer, _) = Viewer::connect(&server, "?accept=h264").await;
    let mut keys = Vec::new();
    while keys.len() < 25 {
        let (header, _) = viewer.next_frame(10).await;
        viewer.ack(header.seq).await;
        assert_eq!(header.codec.as_deref(), Some("h264"));
        keys.push(header.key);
    }
    assert!(keys[0], "the first frame is a keyframe");
    let every: Vec<usize> = keys.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i).collect();
    assert!(
        every.windows(2).all(|w| w[1] - w[0] == 10),
        "a keyframe every 10 frames (0.5 s at 20 fps): {every:?}"
    );
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(
        args.contains("--codec h264") && args.contains("--intra 10 --inline --flush --profile baseline"),
        "{args}"
    );
}

#[tokio::test]
async fn older_systems_with_only_libcamera_vid_work_too() {
    let dir = temp_dir("fake-old-pi");
    let log = dir.join("args.txt");
    fake_libcamera_program(&dir, &log, "libcamera-vid");
    let path = format!("{}:/usr/bin:/bin", dir.display());
    let server =
        Server::start_with_env(&["--camera", "pi", "--size", "320x240", "--fps", "10"], &[("PATH", path)]);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer.wait_for_size(320, 240, 15).await;
    assert!(std::fs::read_to_string(&log).unwrap().contains("--codec mjpeg"));
}

#[tokio::test]
async fn a_missing_rpicam_vid_is_a_clear_offline_reason() {
    let server = Server::start_with_env(&["--camera", "pi"], &[("PATH", "/usr/bin:/bin".to_string())]);
    let (status, _, body) = http_get_body(&server, "/snapshot.jpg").await;
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("rpicam-vid"), "{}", String::from_utf8_lossy(&body));
}

/// Child pids of `pid` (all its threads).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>())
        .collect()
}

#[tokio::test]
async fn camera_processes_die_with_the_server_even_on_sigkill() {
    let spec = format!("cmd:exec {}", ffmpeg_mjpeg("160x120", 10, ""));
    let mut server = Server::start(&["--camera", &spec]);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer.next_frame(10).await;
    let children = children_of(server.pid());
    assert!(!children.is_empty(), "the camera process is not a child of the server");
    server.kill();
    let deadline = Instant::now() + Duration::from_secs(3);
    while children.iter().any(|&c| alive(c)) {
        assert!(Instant::now() < deadline, "camera processes {children:?} outlived the killed server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn idle_stop_ends_the_camera_process() {
    let spec = format!("cmd:{}", ffmpeg_mjpeg("160x120", 10, ""));
    let server = Server::start(&["--camera", &spec, "--idle-timeout", "0.3"]);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer.next_frame(10).await;
    let children = children_of(server.pid());
    assert!(!children.is_empty());
    drop(viewer);
    let deadline = Instant::now() + Duration::from_secs(5);
    while children.iter().any(|&c| alive(c)) {
        assert!(Instant::now() < deadline, "camera process still running after the idle timeout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_cameras_of_different_kinds_at_once() {
    let spec = format!("yard=cmd:{}", ffmpeg_mjpeg("320x240", 15, ""));
    let server =
        Server::start(&["--camera", "desk=emulated", "--camera", &spec, "--size", "640x360", "--fps", "20"]);
    let (mut desk, _) = Viewer::connect(&server, "?camera=desk").await;
    let (mut yard, hello) = Viewer::connect(&server, "?camera=yard").await;
    let ServerMessage::Hello { camera, cameras, .. } = hello else { unreachable!() };
    assert_eq!(camera, "yard");
    assert_eq!(cameras.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["desk", "yard"]);
    let (d, y) = tokio::join!(desk.watch_for(Duration::from_secs(3)), yard.watch_for(Duration::from_secs(3)));
    assert!(d.iter().all(|h| h.camera == "desk" && (h.width, h.height) == (640, 360)));
    assert!(y.iter().all(|h| h.camera == "yard" && (h.width, h.height) == (320, 240)));
    assert!(fps_of(&d) > 12.0 && fps_of(&y) > 9.0, "desk {:.1} fps, yard {:.1} fps", fps_of(&d), fps_of(&y));
    for (path, size) in [("/snapshot.jpg?camera=desk", (640, 360)), ("/snapshot.jpg?camera=yard", (320, 240))]
    {
        let (status, headers, body) = http_get_body(&server, path).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-type"), Some("image/jpeg"));
        assert_eq!(framecast::media::jpeg::dimensions(&body), Ok(size), "{path}");
    }
    let (_, _, body) = http_get_body(&server, "/api/state").await;
    let state: framecast_shared::ApiState = serde_json::from_slice(&body).unwrap();
    assert_eq!(state.cameras.len(), 2);
}

/// No camera hardware exists on these machines: the real nokhwa path is started against a
/// device that is not there, and must give a clear reason, keep the server up, and retry.
#[tokio::test]
async fn a_missing_usb_camera_is_offline_with_a_clear_reason_and_retried() {
    let server = Server::start(&["--camera", "usb:/dev/video0"]);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let mut offline_reports = 0;
    let reason = within(15, "two offline reports (a retry)", async {
        loop {
            if let ServerMessage::State { camera } = viewer.next_control(15).await
                && camera.status == CameraStatus::Offline
            {
                offline_reports += 1;
                if offline_reports == 2 {
                    return camera.reason.unwrap_or_default();
                }
            }
        }
    })
    .await;
    assert!(reason.contains("/dev/video0"), "reason: {reason}");
    let (status, _, body) = http_get_body(&server, "/snapshot.jpg").await;
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("/dev/video0"));
}

/// How much the chroma is subsampled (horizontally, vertically), from the SOF0's sampling
/// factors: (2, 1) is 4:2:2, (2, 2) 4:2:0, (1, 1) 4:4:4. Encoders write the same ratio with
/// different factors (ffmpeg's 4:2:2 is luma 2x2 with chroma 1x2, libjpeg's 2x1 with 1x1).
fn chroma_subsampling(jpeg: &[u8]) -> (u8, u8) {
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline SOF");
    assert_eq!(jpeg[sof + 9], 3, "three components");
    let factors = |c: usize| (jpeg[sof + 11 + 3 * c] >> 4, jpeg[sof + 11 + 3 * c] & 0x0F);
    let ((yh, yv), (ch, cv)) = (factors(0), factors(1));
    assert_eq!(factors(1), factors(2), "both chroma components alike");
    (yh / ch, yv / cv)
}

/// Renditions of another encoder's MJPEG, as a real camera sends it: ffmpeg's frames at a
/// webcam's 4:2:2 and at 4:4:4, at a size that is no multiple of 8 or 16 (1366x768). Each
/// scales to the n/8 size asked (the SOF says so), keeps its subsampling, and streams.
#[tokio::test]
async fn renditions_of_real_mjpeg_at_other_subsamplings_and_odd_sizes() {
    for (pix_fmt, ratio) in [("yuvj422p", (2, 1)), ("yuvj444p", (1, 1))] {
        let spec = format!("cmd:{}", ffmpeg_mjpeg("1366x768", 15, &format!("-pix_fmt {pix_fmt}")));
        let server = Server::start(&["--camera", &spec]);
        let (status, _, full) = http_get_body(&server, "/snapshot.jpg").await;
        assert_eq!(status, 200, "{pix_fmt}");
        assert_eq!(framecast::media::jpeg::dimensions(&full), Ok((1366, 768)));
        assert_eq!(chroma_subsampling(&full), ratio, "{pix_fmt}: ffmpeg's own frame");
        // 683x384 is 4/8; 300 wide fits only 1/8 (171x96: 2/8 would be 342).
        for (query, want) in
            [("size=683x384", (683, 384)), ("w=300", (171, 96)), ("size=1000x1000", (854, 480))]
        {
            let (status, _, body) = http_get_body(&server, &format!("/snapshot.jpg?{query}")).await;
            assert_eq!(status, 200, "{pix_fmt} {query}: {}", String::from_utf8_lossy(&body));
            assert_eq!(framecast::media::jpeg::dimensions(&body), Ok(want), "{pix_fmt} {query}");
            assert_eq!(chroma_subsampling(&body), ratio, "{pix_fmt} {query}: subsampling kept");
        }
        let (status, _, mut body) = crate::util::http_get(&server, "/stream.mjpg?size=683x384").await;
        assert_eq!(status, 200);
        body.read_until(b"--framecast\r\n").await.unwrap();
        for _ in 0..5 {
            let part = crate::util::read_part(&mut body, "framecast").await;
            assert_eq!(framecast::media::jpeg::dimensions(&part.jpeg), Ok((683, 384)), "{pix_fmt} stream");
        }
    }
}
