//! Recording and looking back: `--record-dir`, `/api/recordings`, `/snapshot.jpg?at=`,
//! playback over `/ws`, `/export` (MKV, and MP4 of H.264), crash safety, retention, a full
//! disk, the last frame of a camera that went quiet, and all of it for an H.264 camera.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use framecast_shared::{
    ClientMessage, PlaybackEvent, PlaybackMode, RecordedSpan, RecordingState, ServerMessage, unix_micros_now,
};

use crate::util::{Incoming, Server, Viewer, api_state, header, http_get_body, is_jpeg, temp_dir, within};

/// What the recorder's flush interval allows a crash to lose (`record::FLUSH_INTERVAL`).
const FLUSH: Duration = framecast::record::FLUSH_INTERVAL;

fn recording_server(dir: &Path, extra: &[&str]) -> Server {
    let dir = dir.display().to_string();
    let mut args = vec!["--record-dir", &dir, "--size", "640x360", "--fps", "30"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

async fn spans(server: &Server, query: &str) -> Vec<RecordedSpan> {
    let (status, _, body) = http_get_body(server, &format!("/api/recordings{query}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The next `playback` message, acking frames met on the way.
async fn next_playback(viewer: &mut Viewer) -> (PlaybackMode, u64, Option<PlaybackEvent>) {
    within(10, "a playback message", async {
        loop {
            match viewer.next(10).await {
                Incoming::Control(ServerMessage::Playback { mode, position_us, event, .. }) => {
                    return (mode, position_us, event);
                }
                Incoming::Control(ServerMessage::Error { message, .. }) => panic!("refused: {message}"),
                Incoming::Frame(h, _) => viewer.ack(h.seq).await,
                _ => {}
            }
        }
    })
    .await
}

/// Plays from `from_us` at `speed` and watches the recorded frames for `window`: seconds of
/// recording shown per second.
async fn playback_speed(viewer: &mut Viewer, from_us: u64, speed: u32, window: Duration) -> f64 {
    viewer.send(&ClientMessage::Play { from_us, speed: Some(speed) }).await;
    next_playback(viewer).await;
    let (first, _, first_at) = next_recorded(viewer).await;
    let mut last = (first.clone(), first_at);
    while last.1.duration_since(first_at) < window {
        let (h, _, at) = next_recorded(viewer).await;
        last = (h, at);
    }
    (last.0.captured_us - first.captured_us) as f64 / 1e6 / last.1.duration_since(first_at).as_secs_f64()
}

/// The next recorded frame (acked), skipping live ones still in flight.
async fn next_recorded(viewer: &mut Viewer) -> (framecast_shared::FrameHeader, Vec<u8>, Instant) {
    loop {
        let (h, jpeg) = viewer.next_frame(10).await;
        viewer.ack(h.seq).await;
        if h.recorded {
            return (h, jpeg, Instant::now());
        }
    }
}

#[tokio::test]
async fn a_minute_of_recording_plays_back_exports_and_returns_to_live() {
    let dir = temp_dir("record-minute");
    // Taken before the start: the camera records from the moment the server is up.
    let started_us = unix_micros_now();
    let server = recording_server(&dir, &[]);
    // Recorded cameras run with nobody watching.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cam = api_state(&server).await.cameras.remove(0);
    assert!(cam.running, "a recorded camera runs without viewers");
    assert_eq!(cam.recording.as_ref().map(|r| r.state), Some(RecordingState::Recording));
    tokio::time::sleep(Duration::from_secs(60)).await;

    // One span of about a minute, at the camera's rate.
    let all = spans(&server, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    let span = all[0];
    let seconds = (span.end_us - span.start_us) as f64 / 1e6;
    assert!((57.0..=63.0).contains(&seconds), "span of {seconds:.1} s");
    assert!(
        span.start_us >= started_us && span.start_us < started_us + 3_000_000,
        "span starts {} ms after the server was started",
        (span.start_us as i64 - started_us as i64) / 1000
    );
    let fps = span.frames as f64 / seconds;
    assert!((27.0..=31.0).contains(&fps), "recorded {fps:.1} fps");
    assert!(
        spans(&server, &format!("?from={}&to={}", started_us - 10_000_000, started_us - 5_000_000))
            .await
            .is_empty()
    );

    // The recorded frame at or just before a moment 30 s back.
    let at = unix_micros_now() - 30_000_000;
    for query in [at.to_string(), rfc3339(at)] {
        let (status, headers, body) = http_get_body(&server, &format!("/snapshot.jpg?at={query}")).await;
        assert_eq!(status, 200, "at={query}");
        assert!(is_jpeg(&body));
        assert_eq!(header(&headers, "x-camera-status"), Some("recorded"));
        let stamp_us =
            (header(&headers, "x-timestamp").unwrap().parse::<f64>().unwrap() * 1e6).round() as u64;
        let rounded_at = if query.contains('T') { at / 1000 * 1000 } else { at };
        assert!(stamp_us <= rounded_at + 1, "at={query}: frame of {stamp_us} is after the moment asked");
        assert!(
            rounded_at - stamp_us <= 34_000,
            "at={query}: frame {} µs before the moment",
            rounded_at - stamp_us
        );
    }
    // A recorded frame comes in the size asked for too.
    let (status, headers, body) = http_get_body(&server, &format!("/snapshot.jpg?at={at}&w=320")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-camera-status"), Some("recorded"));
    assert_eq!(framecast::media::jpeg::dimensions(&body), Ok((320, 180)));
    let (status, _, _) = http_get_body(&server, &format!("/snapshot.jpg?at={at}&size=0x0")).await;
    assert_eq!(status, 400);
    let (status, _, body) =
        http_get_body(&server, &format!("/snapshot.jpg?at={}", started_us - 60_000_000)).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("nothing of camera 'emulated' is recorded"));
    let (status, _, _) = http_get_body(&server, "/snapshot.jpg?at=yesterday").await;
    assert_eq!(status, 400);

    // Playback from 30 s back: recorded frames from there, at the original pace.
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let from = unix_micros_now() - 30_000_000;
    viewer.send(&ClientMessage::Play { from_us: from, speed: None }).await;
    let (mode, position, event) = next_playback(&mut viewer).await;
    assert_eq!((mode, event), (PlaybackMode::Playing, Some(PlaybackEvent::Started)));
    assert!(position >= from && position - from < 40_000, "starts at the first frame at or after from");
    let (first, _, first_at) = next_recorded(&mut viewer).await;
    assert_eq!(first.captured_us, position);
    let mut last = (first.clone(), first_at);
    while last.1.duration_since(first_at) < Duration::from_secs(4) {
        let (h, jpeg, at) = next_recorded(&mut viewer).await;
        assert!(is_jpeg(&jpeg) && h.seq > last.0.seq && h.captured_us > last.0.captured_us);
        last = (h, at);
    }
    let recorded_s = (last.0.captured_us - first.captured_us) as f64 / 1e6;
    let wall_s = last.1.duration_since(first_at).as_secs_f64();
    assert!((recorded_s / wall_s - 1.0).abs() < 0.1, "{recorded_s:.2} s of recording in {wall_s:.2} s");

    // Pause holds; steps move one recorded frame.
    viewer.send(&ClientMessage::Pause).await;
    let (mode, held, _) = next_playback(&mut viewer).await;
    assert_eq!(mode, PlaybackMode::Paused);
    tokio::time::sleep(Duration::from_millis(300)).await;
    viewer.send(&ClientMessage::Step { frames: 1 }).await;
    let (_, stepped, _) = next_playback(&mut viewer).await;
    let (h, _, _) = next_recorded(&mut viewer).await;
    assert_eq!(h.captured_us, stepped);
    assert!(stepped > held && stepped - held < 40_000, "one frame on: {held} → {stepped}");
    viewer.send(&ClientMessage::Step { frames: -1 }).await;
    next_playback(&mut viewer).await;
    let (back, _, _) = next_recorded(&mut viewer).await;
    assert_eq!(back.captured_us, held, "one frame back is the frame held");

    // 8x: eight seconds of recording per second.
    let ratio = playback_speed(&mut viewer, unix_micros_now() - 50_000_000, 8, Duration::from_secs(2)).await;
    assert!((7.0..=9.0).contains(&ratio), "8x ran at {ratio:.1}x");

    // Back to live: frames within 100 ms of now.
    viewer.send(&ClientMessage::Live).await;
    let (mode, _, event) = next_playback(&mut viewer).await;
    assert_eq!((mode, event), (PlaybackMode::Live, Some(PlaybackEvent::Live)));
    let (h, _) = within(5, "a live frame", async {
        loop {
            let (h, jpeg) = viewer.next_frame(5).await;
            viewer.ack(h.seq).await;
            if !h.recorded {
                return (h, jpeg);
            }
        }
    })
    .await;
    let age_ms = (unix_micros_now() - h.captured_us) as f64 / 1000.0;
    assert!(age_ms < 100.0, "live frame {age_ms:.0} ms old");

    // Export 10 s: ffprobe sees MJPEG, the duration and the frame count.
    let (to, from) = (unix_micros_now() - 30_000_000, unix_micros_now() - 40_000_000);
    let (status, headers, body) =
        http_get_body(&server, &format!("/export?from={from}&to={to}&format=mkv")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("video/x-matroska"));
    let disposition = header(&headers, "content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"framecast-emulated-")
            && disposition.ends_with(".mkv\"")
    );
    let file = dir.join("export.mkv");
    std::fs::write(&file, &body).unwrap();
    let probe = ffprobe(&file);
    assert_eq!(probe.codec, "mjpeg");
    assert_eq!((probe.width, probe.height), (640, 360));
    assert!((probe.duration - 10.0).abs() < 0.1, "duration {}", probe.duration);
    assert!((probe.frames as f64 - 300.0).abs() <= 9.0, "{} frames in 10 s at 30 fps", probe.frames);
    let (status, _, _) = http_get_body(&server, &format!("/export?from={to}&to={from}")).await;
    assert_eq!(status, 400, "from after to");
    let (status, _, _) = http_get_body(&server, &format!("/export?from={from}&to={to}&format=avi")).await;
    assert_eq!(status, 400);
    let (status, _, body) = http_get_body(&server, &format!("/export?from={from}&to={to}&format=mp4")).await;
    assert_eq!(status, 400, "MP4 of a JPEG recording");
    assert!(String::from_utf8_lossy(&body).contains("format=mkv"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn an_h264_camera_is_recorded_as_it_comes_and_plays_back_snapshots_and_exports() {
    let dir = temp_dir("record-h264");
    let mut server = recording_server(&dir, &["--codec", "h264", "--keyframe-interval", "1"]);
    tokio::time::sleep(Duration::from_secs(25)).await;

    // One span at the camera's rate, in .h264 segment files that ffprobe reads as H.264.
    let all = spans(&server, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    let span = all[0];
    let seconds = (span.end_us - span.start_us) as f64 / 1e6;
    let fps = span.frames as f64 / seconds;
    assert!((27.0..=31.0).contains(&fps), "recorded {fps:.1} fps");
    // Pictures of the test pattern at 640x360 are a few KB, not the JPEGs' tens.
    assert!(span.bytes / span.frames < 15_000, "{} bytes a frame", span.bytes / span.frames);
    let segment = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "h264"))
        .expect("an .h264 segment file");
    let probe = ffprobe(&segment);
    assert_eq!((probe.codec.as_str(), probe.width, probe.height), ("h264", 640, 360));
    assert!(probe.frames > 100, "{} frames in the segment file", probe.frames);

    // A moment 10 s back, decoded on the server from the keyframe before it.
    let at = unix_micros_now() - 10_000_000;
    let (status, headers, body) = http_get_body(&server, &format!("/snapshot.jpg?at={at}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "x-camera-status"), Some("recorded"));
    assert_eq!(framecast::media::jpeg::dimensions(&body), Ok((640, 360)));
    let stamp_us = (header(&headers, "x-timestamp").unwrap().parse::<f64>().unwrap() * 1e6).round() as u64;
    assert!(stamp_us <= at && at - stamp_us <= 34_000, "frame {} µs before the moment", at - stamp_us);

    // Playback of H.264 goes out as JPEGs at the original pace, for any viewer.
    let (mut viewer, _) = Viewer::connect(&server, "?accept=h264,jpeg").await;
    let from = unix_micros_now() - 15_000_000;
    viewer.send(&ClientMessage::Play { from_us: from, speed: None }).await;
    let (mode, position, _) = next_playback(&mut viewer).await;
    assert_eq!(mode, PlaybackMode::Playing);
    let (first, jpeg, first_at) = next_recorded(&mut viewer).await;
    assert!(is_jpeg(&jpeg) && first.captured_us == position);
    let mut last = (first.clone(), first_at);
    let mut shown = 1;
    while last.1.duration_since(first_at) < Duration::from_secs(3) {
        let (h, jpeg, at) = next_recorded(&mut viewer).await;
        assert!(is_jpeg(&jpeg) && h.captured_us > last.0.captured_us);
        last = (h, at);
        shown += 1;
    }
    let recorded_s = (last.0.captured_us - first.captured_us) as f64 / 1e6;
    let wall_s = last.1.duration_since(first_at).as_secs_f64();
    assert!((recorded_s / wall_s - 1.0).abs() < 0.1, "{recorded_s:.2} s of recording in {wall_s:.2} s");
    assert!(shown as f64 / wall_s > 20.0, "{shown} frames in {wall_s:.1} s");
    // Steps between keyframes: one frame on and back, each decoded.
    viewer.send(&ClientMessage::Pause).await;
    let (_, held, _) = next_playback(&mut viewer).await;
    viewer.send(&ClientMessage::Step { frames: 1 }).await;
    let (_, stepped, _) = next_playback(&mut viewer).await;
    let (h, jpeg, _) = next_recorded(&mut viewer).await;
    assert!(is_jpeg(&jpeg) && h.captured_us == stepped && stepped > held && stepped - held < 40_000);
    viewer.send(&ClientMessage::Step { frames: -1 }).await;
    next_playback(&mut viewer).await;
    let (back, _, _) = next_recorded(&mut viewer).await;
    assert_eq!(back.captured_us, held);
    // 8x keeps its pace by starting at keyframes rather than decoding every picture.
    let ratio = playback_speed(&mut viewer, unix_micros_now() - 22_000_000, 8, Duration::from_secs(1)).await;
    assert!((7.0..=9.0).contains(&ratio), "8x ran at {ratio:.1}x");
    // Back to live: the camera's H.264 again, from a keyframe with its configuration.
    viewer.send(&ClientMessage::Live).await;
    let (mode, _, _) = next_playback(&mut viewer).await;
    assert_eq!(mode, PlaybackMode::Live);
    let (h, _) = within(5, "a live frame", async {
        loop {
            let (h, data) = viewer.next_frame(5).await;
            viewer.ack(h.seq).await;
            if !h.recorded {
                return (h, data);
            }
        }
    })
    .await;
    assert_eq!(h.codec.as_deref(), Some("h264"), "live is H.264 again");
    assert!(h.key && h.config.is_some(), "live starts at a keyframe with its configuration");
    drop(viewer);

    // Export 8 s as MP4 and as Matroska: H.264 as recorded, from the keyframe at or before
    // `from` (at most a second earlier).
    let (from, to) = (unix_micros_now() - 20_000_000, unix_micros_now() - 12_000_000);
    for (format, mime) in [("mp4", "video/mp4"), ("mkv", "video/x-matroska")] {
        let (status, headers, body) =
            http_get_body(&server, &format!("/export?from={from}&to={to}&format={format}")).await;
        assert_eq!(status, 200, "{format}: {}", String::from_utf8_lossy(&body));
        assert_eq!(header(&headers, "content-type"), Some(mime));
        assert_eq!(header(&headers, "x-export-ends-at-format-change"), Some("false"));
        let file = dir.join(format!("export.{format}"));
        std::fs::write(&file, &body).unwrap();
        let probe = ffprobe(&file);
        assert_eq!((probe.codec.as_str(), probe.width, probe.height), ("h264", 640, 360), "{format}");
        assert!((8.0..=9.2).contains(&probe.duration), "{format}: duration {}", probe.duration);
        assert!((235..=280).contains(&probe.frames), "{format}: {} frames", probe.frames);
        assert!(body.len() < 8 * 2_000_000, "{format}: {} bytes for 8 s", body.len());
    }

    // kill -9: what was flushed still decodes after the restart.
    let killed_us = unix_micros_now();
    server.kill();
    drop(server);
    let server = recording_server(&dir, &["--codec", "h264"]);
    let before = spans(&server, &format!("?to={killed_us}")).await;
    let end = before.last().expect("the recording survives").end_us;
    assert!(killed_us - end <= (FLUSH.as_millis() as u64 + 700) * 1000, "lost more than a flush interval");
    let (status, _, body) = http_get_body(&server, &format!("/snapshot.jpg?at={end}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(framecast::media::jpeg::dimensions(&body), Ok((640, 360)));
    let _ = std::fs::remove_dir_all(dir);
}

fn rfc3339(us: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{}.{:06}", us / 1_000_000, us % 1_000_000), "+%Y-%m-%dT%H:%M:%S.%3NZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Probe {
    codec: String,
    width: u32,
    height: u32,
    frames: u64,
    duration: f64,
}

fn ffprobe(file: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames:format=duration",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(file)
        .output()
        .expect("ffprobe (package ffmpeg) runs");
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .to_string()
    };
    Probe {
        codec: get("codec_name"),
        width: get("width").parse().unwrap(),
        height: get("height").parse().unwrap(),
        frames: get("nb_read_frames").parse().unwrap(),
        // A raw .h264 stream has no duration (N/A).
        duration: get("duration").parse().unwrap_or(f64::NAN),
    }
}

#[tokio::test]
async fn kill_9_keeps_everything_before_the_last_flush_playable() {
    let dir = temp_dir("record-kill");
    let mut server = recording_server(&dir, &[]);
    let started_us = unix_micros_now();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let killed_us = unix_micros_now();
    server.kill();
    drop(server);

    let server = recording_server(&dir, &[]);
    let all = spans(&server, &format!("?to={killed_us}")).await;
    assert!(!all.is_empty(), "recordings survive a kill -9");
    let first = all[0];
    assert!(first.start_us < started_us + 2_000_000);
    let lost_ms = (killed_us - first.end_us) as f64 / 1000.0;
    assert!(lost_ms <= (FLUSH.as_millis() + 700) as f64, "lost {lost_ms:.0} ms, more than a flush interval");
    // Every frame the index lists is there: play the whole stretch from its start.
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer.send(&ClientMessage::Play { from_us: first.start_us, speed: Some(8) }).await;
    next_playback(&mut viewer).await;
    let mut frames = 0;
    loop {
        match viewer.next(10).await {
            Incoming::Frame(h, jpeg) => {
                viewer.ack(h.seq).await;
                if h.recorded && h.captured_us <= first.end_us {
                    assert!(is_jpeg(&jpeg), "a recorded frame before the kill is whole");
                    frames += 1;
                }
                if h.recorded && h.captured_us >= first.end_us {
                    break;
                }
            }
            Incoming::Control(ServerMessage::Playback { event: Some(PlaybackEvent::Gap { .. }), .. }) => {
                break;
            }
            Incoming::Control(ServerMessage::Playback { mode: PlaybackMode::Live, .. }) => break,
            _ => {}
        }
    }
    assert!(frames > 20, "played {frames} frames of the stretch before the kill");
    // The recording goes on after the restart, as a new span.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = spans(&server, "").await;
    assert!(after.len() >= 2 && after.last().unwrap().start_us > killed_us, "{after:?}");
    let _ = std::fs::remove_dir_all(dir);
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.metadata().map(|m| m.len()).unwrap_or(0)).sum())
        .unwrap_or(0)
}

#[tokio::test]
async fn retention_keeps_disk_use_under_the_size_and_keeps_the_newest() {
    let dir = temp_dir("record-retention");
    // 1280x720 emulated frames are ~25 KB: 30 fps fills 2 MB in under 3 s.
    let server =
        Server::start(&["--record-dir", &dir.display().to_string(), "--retain-size", "2MB", "--fps", "30"]);
    let started_us = unix_micros_now();
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(14);
    while Instant::now() < deadline {
        peak = peak.max(dir_bytes(&dir.join("segments")));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Within the size plus one segment (an eighth of it).
    assert!(peak <= 2_000_000 + 250_000, "segments reached {peak} bytes");
    let all = spans(&server, "").await;
    let newest = all.last().unwrap().end_us;
    assert!(unix_micros_now() - newest < 4_000_000, "the newest recording is kept");
    assert!(all[0].start_us > started_us + 5_000_000, "the oldest went: {all:?}");
    let cam = api_state(&server).await.cameras.remove(0);
    assert!(cam.recording.unwrap().bytes <= 2_000_000 + 250_000);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_full_disk_pauses_recording_and_live_goes_on() {
    let dir = temp_dir("record-full-disk");
    // A small file system of its own (needs root, as `cargo xtask test` runs).
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"]).arg(&dir).status();
    assert!(
        mounted.is_ok_and(|s| s.success()),
        "cannot mount a 6 MB tmpfs at {} (this test needs root)",
        dir.display()
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&dir);
    // Someone else's file leaves ~4 % free: under the 5 % floor, with nothing of ours to delete.
    let filler = dir.join("someone-elses-file");
    std::fs::write(&filler, vec![0u8; 6 * 1024 * 1024 - 250 * 1024]).unwrap();
    let record = dir.join("rec");
    let server = Server::start(&["--record-dir", &record.display().to_string(), "--size", "640x360"]);
    let paused = within(15, "recording paused", async {
        loop {
            let cam = api_state(&server).await.cameras.remove(0);
            if let Some(r) = cam.recording.filter(|r| r.state == RecordingState::Paused) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let reason = paused.reason.unwrap_or_default();
    assert!(reason.contains("disk"), "reason: {reason}");
    // Live viewing is untouched.
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let frames = viewer.watch_for(Duration::from_secs(2)).await;
    assert!(frames.len() > 40, "live viewer got {} frames in 2 s while the disk is full", frames.len());
    let (status, _, body) = http_get_body(&server, "/snapshot.jpg").await;
    assert!(status == 200 && is_jpeg(&body));
    // Space comes back: recording resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    within(10, "recording resumed", async {
        loop {
            let cam = api_state(&server).await.cameras.remove(0);
            if cam.recording.is_some_and(|r| r.state == RecordingState::Recording && r.bytes > 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    drop(viewer);
    drop(server);
}

#[tokio::test]
async fn a_camera_that_goes_quiet_keeps_its_last_frame_even_across_a_restart() {
    let dir = temp_dir("record-last-frame");
    let token = "push-token-for-last-frame";
    let args = |dir: &Path| {
        vec![
            "--camera".to_string(),
            "yard=push".to_string(),
            "--push-token".to_string(),
            token.to_string(),
            "--record-dir".to_string(),
            dir.display().to_string(),
        ]
    };
    let frame = framecast::media::jpeg::turbo::encode_rgb(&vec![90u8; 96 * 64 * 3], 96, 64, 80).unwrap();
    let auth = format!("Bearer {token}");
    let push = |server: &Server| {
        let (addr, frame, auth) = (server.addr, frame.clone(), auth.clone());
        async move {
            let r = framecast_tests::http_client::request(
                addr,
                "POST",
                "/api/cameras/yard/frame",
                &[("Authorization", auth.as_str())],
                &frame,
            )
            .await
            .unwrap();
            assert_eq!(r.status, 204);
        }
    };
    let argv = args(&dir);
    let server = Server::start(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    for _ in 0..5 {
        push(&server).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pushed_us = unix_micros_now();
    // The sender stops: after 10 s the camera is offline, and still shows its last frame.
    within(20, "the push camera going offline", async {
        loop {
            let cam = api_state(&server).await.cameras.remove(0);
            if cam.status == framecast_shared::CameraStatus::Offline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    let check = |headers: &crate::util::Headers, body: &[u8]| {
        assert_eq!(body, frame.as_slice(), "the last frame, byte for byte");
        assert_eq!(header(headers, "x-camera-status"), Some("offline"));
        assert!(header(headers, "last-modified").is_some_and(|v| v.ends_with(" GMT")));
        let stamp = header(headers, "x-timestamp").unwrap().parse::<f64>().unwrap();
        assert!((pushed_us as f64 / 1e6 - stamp).abs() < 1.0, "X-Timestamp is the frame's capture time");
    };
    let (status, headers, body) = http_get_body(&server, "/snapshot.jpg?camera=yard").await;
    assert_eq!(status, 200);
    check(&headers, &body);
    // A viewer that connects now is shown it too.
    let (mut viewer, _) = Viewer::connect(&server, "?camera=yard").await;
    let (h, jpeg) = viewer.next_frame(5).await;
    assert_eq!(jpeg, frame);
    assert!(!h.recorded);
    drop(viewer);

    // Restarted, it still has it (read back from the recording).
    drop(server);
    let server = Server::start(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    let cam = api_state(&server).await.cameras.remove(0);
    assert!(cam.last_frame_us.is_some_and(|t| t.abs_diff(pushed_us) < 1_000_000));
    within(20, "offline after the restart", async {
        while api_state(&server).await.cameras[0].status != framecast_shared::CameraStatus::Offline {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    let (status, headers, body) = http_get_body(&server, "/snapshot.jpg?camera=yard").await;
    assert_eq!(status, 200);
    check(&headers, &body);
    let _ = std::fs::remove_dir_all(dir);
}

/// The next `error` message, skipping frames and state reports.
async fn next_error(viewer: &mut Viewer) -> (framecast_shared::ErrorCode, String) {
    within(5, "an error message", async {
        loop {
            if let ServerMessage::Error { code, message } = viewer.next_control(5).await {
                return (code, message);
            }
        }
    })
    .await
}

#[tokio::test]
async fn playback_needs_a_recording() {
    use framecast_shared::ErrorCode;
    let server = Server::start(&["--size", "320x240"]);
    let (status, _, body) = http_get_body(&server, "/api/recordings").await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("--record-dir"));
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer.send(&ClientMessage::Play { from_us: 1, speed: None }).await;
    let (code, message) = next_error(&mut viewer).await;
    assert_eq!(code, ErrorCode::NoRecording);
    assert!(message.contains("--record-dir"), "{message}");
    viewer.send_text(r#"{"type":"play","from_us":1,"speed":3}"#).await;
    assert_eq!(next_error(&mut viewer).await.0, ErrorCode::OutOfRange);
    viewer.send(&ClientMessage::Step { frames: 1 }).await;
    assert_eq!(next_error(&mut viewer).await.0, ErrorCode::NotNow);
}
