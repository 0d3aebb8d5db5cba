//! `/snapshot.jpg`, its aliases, `/api/state`, and the `files:` camera.

use crate::util::{Server, header, http_get_body, is_jpeg, temp_dir};

#[tokio::test]
async fn snapshot_and_aliases_return_a_fresh_jpeg() {
    let server = Server::start(&["--size", "320x240", "--fps", "15"]);
    for path in ["/snapshot.jpg", "/snapshot", "/?action=snapshot", "/snapshot.jpg?camera=emulated"] {
        let (status, headers, body) = http_get_body(&server, path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&headers, "content-type"), Some("image/jpeg"), "{path}");
        assert_eq!(header(&headers, "cache-control"), Some("no-store"), "{path}");
        assert!(is_jpeg(&body), "{path}");
        let stamp: f64 = header(&headers, "x-timestamp").unwrap().parse().unwrap();
        let now = framecast_shared::unix_micros_now() as f64 / 1e6;
        assert!((now - stamp).abs() < 5.0, "{path}: X-Timestamp {stamp} vs now {now}");
    }
    let (status, _, body) = http_get_body(&server, "/snapshot.jpg?camera=attic").await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("unknown camera 'attic'; cameras: emulated"));
}

#[tokio::test]
async fn api_state_describes_the_camera() {
    let server = Server::start(&["--size", "320x240", "--fps", "15", "--quality", "60"]);
    let (status, headers, body) = http_get_body(&server, "/api/state").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let state: framecast_shared::ApiState = serde_json::from_slice(&body).unwrap();
    let cam = &state.cameras[0];
    assert_eq!((cam.id.as_str(), cam.kind.as_str()), ("emulated", "emulated"));
    assert_eq!((cam.width, cam.height, cam.fps, cam.quality), (320, 240, 15, 60));
    assert_eq!(cam.viewers, 0);
    assert!(!cam.running, "nobody watches yet, so the camera is off");
}

#[tokio::test]
async fn files_camera_plays_the_folder_in_order() {
    let dir = temp_dir("files-camera");
    let mut originals = Vec::new();
    for (i, (w, h)) in [(64, 48), (96, 64), (128, 96)].into_iter().enumerate() {
        let rgb = vec![(i * 80) as u8; (w * h * 3) as usize];
        let jpeg = framecast::media::jpeg::turbo::encode_rgb(&rgb, w, h, 80).unwrap();
        std::fs::write(dir.join(format!("{}.jpg", i + 1)), &jpeg).unwrap();
        originals.push(jpeg);
    }
    let server = Server::start(&["--camera", &format!("files:{}", dir.display()), "--fps", "10"]);
    let (mut viewer, _) = crate::util::Viewer::connect(&server, "").await;
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let (h, jpeg) = viewer.next_frame(10).await;
        viewer.ack(h.seq).await;
        let index = originals.iter().position(|o| *o == jpeg).expect("frames are the files, byte for byte");
        seen.push((index, h.width, h.height));
    }
    // Consecutive frames follow the folder order 1, 2, 3, 1, ... (a viewer that acks at once
    // at 10 fps sees every frame).
    for pair in seen.windows(2) {
        assert_eq!(pair[1].0, (pair[0].0 + 1) % 3, "order: {seen:?}");
    }
    for (index, w, h) in seen {
        assert_eq!((w, h), [(64, 48), (96, 64), (128, 96)][index]);
    }
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let server = Server::start(&[]);
    let (status, _, _) = http_get_body(&server, "/no/such/file.js").await;
    assert_eq!(status, 404);
}
