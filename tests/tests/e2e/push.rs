//! Push cameras: frames POSTed or sent over the ingest WebSocket, with a token; bad bodies
//! refused without losing the last good frame.

use std::time::Duration;

use framecast_tests::http_client;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::util::{Server, Viewer, close_answer, header, http_get_body, within};

const TOKEN: &str = "correct-horse-battery";

fn jpeg(w: u32, h: u32, shade: u8) -> Vec<u8> {
    framecast::media::jpeg::turbo::encode_rgb(&vec![shade; (w * h * 3) as usize], w, h, 80).unwrap()
}

async fn post(server: &Server, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let mut r =
        within(10, "POST", http_client::request(server.addr, "POST", path, &headers, body)).await.unwrap();
    let len: usize = header(&r.headers, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let text = String::from_utf8_lossy(&r.body.read_exact(len).await.unwrap()).to_string();
    (r.status, text)
}

fn push_server(extra: &[&str]) -> Server {
    let mut args = vec!["--camera", "pi4=push", "--camera", "local=emulated", "--push-token", TOKEN];
    args.extend_from_slice(extra);
    Server::start(&args)
}

#[tokio::test]
async fn pushed_frames_reach_viewers_and_snapshots() {
    let server = push_server(&[]);
    let frame = jpeg(96, 64, 120);
    let (status, _) = post(&server, "/api/cameras/pi4/frame", Some(TOKEN), &frame).await;
    assert_eq!(status, 204);
    let (status, _, body) = http_get_body(&server, "/snapshot.jpg?camera=pi4").await;
    assert_eq!(status, 200);
    assert_eq!(body, frame, "the snapshot is the pushed frame, byte for byte");

    let (mut viewer, _) = Viewer::connect(&server, "?camera=pi4").await;
    let newer = jpeg(96, 64, 200);
    post(&server, "/api/cameras/pi4/frame", Some(TOKEN), &newer).await;
    within(10, "the pushed frame on the WebSocket", async {
        loop {
            let (h, data) = viewer.next_frame(10).await;
            viewer.ack(h.seq).await;
            if data == newer {
                assert_eq!((h.width, h.height, h.camera.as_str()), (96, 64, "pi4"));
                break;
            }
        }
    })
    .await;
    let (_, _, body) = http_get_body(&server, "/api/state").await;
    let state: framecast_shared::ApiState = serde_json::from_slice(&body).unwrap();
    let pi4 = state.cameras.iter().find(|c| c.id == "pi4").unwrap();
    assert!(pi4.running && pi4.kind == "push");
}

#[tokio::test]
async fn bad_tokens_and_bad_bodies_are_refused_and_keep_the_last_good_frame() {
    let server = push_server(&["--push-max-bytes", "20000"]);
    let good = jpeg(64, 48, 90);
    assert_eq!(post(&server, "/api/cameras/pi4/frame", Some(TOKEN), &good).await.0, 204);

    let (status, _) = post(&server, "/api/cameras/pi4/frame", None, &good).await;
    assert_eq!(status, 401);
    let (status, _) = post(&server, "/api/cameras/pi4/frame", Some("correct-horse-batterY"), &good).await;
    assert_eq!(status, 401);
    let (status, reason) = post(&server, "/api/cameras/pi4/frame", Some(TOKEN), b"GIF89a not a jpeg").await;
    assert_eq!(status, 400);
    assert!(reason.contains("not a complete JPEG"), "{reason}");
    let truncated = &good[..good.len() - 20];
    let (status, reason) = post(&server, "/api/cameras/pi4/frame", Some(TOKEN), truncated).await;
    assert_eq!(status, 400, "{reason}");
    let big: Vec<u8> = jpeg(400, 300, 7).into_iter().chain(std::iter::repeat_n(0, 20_000)).collect();
    let (status, _) = post(&server, "/api/cameras/pi4/frame", Some(TOKEN), &big).await;
    assert_eq!(status, 413);
    let (status, reason) = post(&server, "/api/cameras/local/frame", Some(TOKEN), &good).await;
    assert_eq!(status, 404);
    assert!(reason.contains("not a push camera"), "{reason}");
    let (status, _) = post(&server, "/api/cameras/attic/frame", Some(TOKEN), &good).await;
    assert_eq!(status, 404);

    let (status, _, body) = http_get_body(&server, "/snapshot.jpg?camera=pi4").await;
    assert_eq!(status, 200);
    assert_eq!(body, good, "refused bodies must not replace the last good frame");
}

#[tokio::test]
async fn frames_can_be_pushed_over_a_websocket() {
    let server = push_server(&[]);
    let url = server.ws_url("/api/cameras/pi4/ingest");
    // Without the token: refused before the upgrade.
    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(refused.is_err(), "ingest without a token was accepted");

    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ingest, _) = tokio_tungstenite::connect_async(request).await.expect("ingest with the token");
    let (mut viewer, _) = Viewer::connect(&server, "?camera=pi4").await;
    for shade in [10u8, 60, 110, 160, 210] {
        ingest.send(Message::Binary(jpeg(80, 60, shade).into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (h, _) = viewer.next_frame(10).await;
    assert_eq!((h.width, h.height), (80, 60));

    // Close frames are answered as RFC 6455 §7.4 says: a valid code is echoed, a code a peer
    // may not send is a protocol error (1002).
    assert_eq!(close_answer(ingest, 1000).await, Some(1000));
    for (sent, answer) in [(4001, 4001), (999, 1002), (1005, 1002), (2000, 1002)] {
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let (ingest, _) = tokio_tungstenite::connect_async(request).await.expect("ingest with the token");
        assert_eq!(close_answer(ingest, sent).await, Some(answer), "close {sent}");
    }
}

/// A `framecast push` process, killed on drop.
struct Sender(std::process::Child);

impl Sender {
    fn start(to: &str, token: &str) -> Sender {
        Sender::start_with(to, token, &[])
    }

    fn start_with(to: &str, token: &str, extra: &[&str]) -> Sender {
        let child = std::process::Command::new(crate::util::binary())
            .args([
                "push", "--to", to, "--token", token, "--camera", "emulated", "--size", "160x120", "--fps",
                "10",
            ])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("framecast push starts");
        Sender(child)
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for_pushed_frames(server: &Server, secs: u64) {
    let (mut viewer, _) = Viewer::connect(server, "?camera=pi4").await;
    viewer.wait_for_size(160, 120, secs).await;
}

#[tokio::test]
async fn framecast_push_feeds_a_remote_camera_and_survives_a_receiver_restart() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--camera", "pi4=push", "--push-token", TOKEN, "--listen", listen.as_str()];
    let receiver = Server::start(&args);
    let _sender = Sender::start(&format!("http://{listen}/api/cameras/pi4"), TOKEN);
    wait_for_pushed_frames(&receiver, 15).await;

    // The receiver goes away for a moment and comes back on the same address.
    drop(receiver);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let receiver = Server::start(&args);
    wait_for_pushed_frames(&receiver, 15).await;
}

#[tokio::test]
async fn framecast_push_with_a_wrong_token_stops_with_a_clear_error() {
    let receiver = push_server(&[]);
    let mut sender = Sender::start(&receiver.url("/api/cameras/pi4"), "wrong-token");
    // The sender is a separate process: blocking this test's thread while waiting is harmless.
    let status = framecast_tests::process::wait_for_exit(&mut sender.0, Duration::from_secs(15))
        .expect("framecast push kept running with a refused token");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut sender.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refused") && stderr.contains("401"), "{stderr}");
}

#[tokio::test]
async fn framecast_push_takes_the_frame_endpoint_and_refuses_wrong_forms_with_the_right_one() {
    // The POST endpoint itself, as copied from the protocol page.
    let receiver = push_server(&[]);
    let _sender = Sender::start(&receiver.url("/api/cameras/pi4/frame"), TOKEN);
    wait_for_pushed_frames(&receiver, 15).await;

    let addr = receiver.addr;
    for to in [
        format!("{addr}/api/cameras/pi4"),
        format!("ws://{addr}/api/cameras/pi4/ingest"),
        format!("http://{addr}/"),
        format!("http://{addr}/api/cameras/pi4/snapshot"),
    ] {
        let mut sender = Sender::start(&to, TOKEN);
        let status = framecast_tests::process::wait_for_exit(&mut sender.0, Duration::from_secs(10))
            .expect("framecast push kept running with a wrong --to");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut sender.0.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{to}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{to}: one clear line, got {stderr}");
        assert!(stderr.contains("--to must be http://HOST:PORT/api/cameras/NAME"), "{to}: {stderr}");
    }
}

#[tokio::test]
async fn framecast_push_of_an_h264_camera_sends_h264_in_order() {
    let receiver = push_server(&[]);
    let _sender = Sender::start_with(&receiver.url("/api/cameras/pi4"), TOKEN, &["--codec", "h264"]);
    let (mut viewer, _) = Viewer::connect(&receiver, "?camera=pi4&accept=h264").await;
    let mut headers = Vec::new();
    while headers.len() < 25 {
        let (header, payload) = viewer.next_frame(15).await;
        viewer.ack(header.seq).await;
        assert_eq!(header.codec.as_deref(), Some("h264"), "H.264 reaches the receiver's viewers");
        assert!(payload.len() < 20_000);
        headers.push(header);
    }
    assert!(headers[0].key && headers[0].config.is_some(), "{:?}", headers[0]);
    assert_eq!((headers[0].width, headers[0].height), (160, 120));
    let seqs: Vec<u64> = headers.iter().map(|h| h.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "every pushed picture, in order: {seqs:?}");
    // JPEG readers of the receiver get JPEGs decoded from the pushed H.264.
    let (status, _, body) = http_get_body(&receiver, "/snapshot.jpg?camera=pi4").await;
    assert_eq!(status, 200);
    assert_eq!(framecast::media::jpeg::dimensions(&body), Ok((160, 120)));
}
