//! Camera life cycle (start on first viewer, idle stop, restart), one capture for many
//! viewers, and graceful shutdown.

use std::time::{Duration, Instant};

use framecast_shared::{ApiState, CameraStatus};

use crate::util::{Incoming, Server, Viewer, alive, api_state, http_get, read_part};

async fn wait_for_status(server: &Server, wanted: CameraStatus, limit: Duration) -> ApiState {
    let deadline = Instant::now() + limit;
    loop {
        let s = api_state(server).await;
        if s.cameras[0].status == wanted {
            return s;
        }
        assert!(Instant::now() < deadline, "camera did not become {wanted:?} within {limit:?}: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn camera_stops_when_idle_and_restarts_for_the_next_viewer() {
    let server = Server::start(&["--size", "160x120", "--fps", "20", "--idle-timeout", "0.5"]);
    assert_eq!(api_state(&server).await.cameras[0].status, CameraStatus::Stopped);

    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let first = viewer.watch_for(Duration::from_millis(600)).await;
    assert!(!first.is_empty());
    let during = api_state(&server).await;
    assert_eq!(during.cameras[0].status, CameraStatus::Running);
    assert_eq!(during.cameras[0].viewers, 1);
    drop(viewer);

    // Still running inside the idle timeout, stopped after it.
    let stopped = wait_for_status(&server, CameraStatus::Stopped, Duration::from_secs(5)).await;
    assert_eq!(stopped.cameras[0].viewers, 0);
    let frames_when_stopped = stopped.cameras[0].frames;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        api_state(&server).await.cameras[0].frames,
        frames_when_stopped,
        "a stopped camera captures nothing"
    );

    // A new viewer restarts it; seq keeps counting from where it was.
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    let (header, _) = viewer.next_frame(10).await;
    assert!(
        header.seq > first.last().unwrap().seq,
        "seq restarted: {} after {}",
        header.seq,
        first.last().unwrap().seq
    );
    assert!(
        header.captured_us > first.last().unwrap().captured_us + 400_000,
        "the new viewer got a stale frame"
    );
}

#[tokio::test]
async fn one_capture_serves_every_viewer() {
    let server = Server::start(&["--size", "160x120", "--fps", "20"]);
    let mut viewers = Vec::new();
    for _ in 0..5 {
        viewers.push(Viewer::connect(&server, "").await.0);
    }
    let (_s, _h, mut mjpeg) = http_get(&server, "/stream.mjpg").await;
    mjpeg.read_until(b"--framecast\r\n").await.unwrap();
    read_part(&mut mjpeg, "framecast").await;
    let before = api_state(&server).await.cameras[0].frames;
    let started = Instant::now();
    // Keep every viewer fed for two seconds.
    let handles: Vec<_> = viewers
        .into_iter()
        .map(|mut v| {
            tokio::spawn(async move {
                let received = v.watch_for(Duration::from_secs(2)).await.len();
                (v, received)
            })
        })
        .collect();
    let mut viewers = Vec::new();
    for h in handles {
        let (viewer, received) = h.await.unwrap();
        assert!(received > 20, "a viewer received only {received} frames in 2 s at 20 fps");
        viewers.push(viewer);
    }
    let s = api_state(&server).await;
    let captured = s.cameras[0].frames - before;
    let expected = started.elapsed().as_secs_f64() * 20.0;
    assert!(
        (captured as f64) < expected * 1.2,
        "{captured} frames captured in {:?} with 6 viewers: more than one capture is running",
        started.elapsed()
    );
    assert_eq!(s.cameras[0].viewers, 6);
}

#[tokio::test]
async fn sigterm_closes_every_viewer_and_exits_within_a_second() {
    let mut server = Server::start(&["--size", "320x240", "--fps", "20"]);
    let (mut viewer, _) = Viewer::connect(&server, "").await;
    viewer.watch_for(Duration::from_millis(300)).await;
    let (_s, _h, mut mjpeg) = http_get(&server, "/stream.mjpg").await;
    mjpeg.read_until(b"--framecast\r\n").await.unwrap();

    let asked = Instant::now();
    server.terminate();
    let close_code = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match viewer.try_next().await {
                Some(Incoming::Close(code)) => return code,
                Some(Incoming::Frame(h, _)) => viewer.ack(h.seq).await,
                Some(Incoming::Control(_)) => {}
                None => return None,
            }
        }
    })
    .await
    .expect("no close frame within 1 s of SIGTERM");
    assert_eq!(close_code, Some(1001), "close code 'going away'");
    assert!(mjpeg.ends_within(Duration::from_secs(1)).await, "the MJPEG stream did not end within 1 s");
    let status =
        server.wait_exit(Duration::from_millis(1500)).expect("framecast still running after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(asked.elapsed() < Duration::from_millis(2500));
}

/// A server the harness started dies with the thread that started it even when no `Drop`
/// runs (a test binary that aborts): no orphan is left holding the runner's output open.
#[test]
fn a_test_server_dies_with_its_thread_even_without_drop() {
    let pid = std::thread::spawn(|| {
        let server = Server::start(&["--size", "160x120"]);
        let pid = server.pid();
        std::mem::forget(server);
        pid
    })
    .join()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if Instant::now() > deadline {
            // Or the orphan would hang whatever reads this run's output.
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("server {pid} outlived the thread that started it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
