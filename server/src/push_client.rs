//! `framecast push`: the sending side of push cameras. Captures a local camera with the same
//! sources and hub as the server (so pacing, idle handling and camera retries are the same)
//! and POSTs frames to `URL/frame` on another framecast. JPEGs go as they are, and a frame
//! that is still being sent when newer ones arrive makes them skip: the receiver always gets
//! the newest. H.264 goes in order as frame messages (the `/ws` format, with the keyframe
//! flag and each keyframe's `avcC`); one that falls behind skips to the next keyframe, as a
//! viewer does. When the network or the receiver is down, it retries with backoff and resumes
//! by itself.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

use crate::camera::Settings;
use crate::config::PushArgs;
use crate::hub::Hub;

/// Why pushing stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum PushClientError {
    /// The local camera cannot work.
    #[error("camera: {0}")]
    Camera(#[from] crate::source::SourceError),
    /// `--to` is not a push camera's URL.
    #[error("--to must be http://HOST:PORT/api/cameras/NAME (or its /frame endpoint), not '{given}': {why}")]
    BadUrl {
        /// What `--to` said.
        given: String,
        /// What is wrong with it.
        why: String,
    },
    /// The receiver refused the token or does not have the camera: retrying will not help.
    #[error("the receiver refused: {0}")]
    Refused(String),
}

/// Shortest and longest wait between attempts while the receiver is unreachable.
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// A single POST that takes longer than this is abandoned.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The receiver's frame endpoint from what `--to` says: the camera's URL
/// (`http://HOST:PORT/api/cameras/NAME`) or one of its endpoints (`…/frame`, `…/ingest`), the
/// forms people copy from the protocol page. Anything else is refused with the reason.
pub fn frame_url(to: &str) -> Result<hyper::Uri, PushClientError> {
    let bad = |why: &str| PushClientError::BadUrl { given: to.to_string(), why: why.to_string() };
    let given = to.trim();
    let Some((scheme, rest)) = given.split_once("://") else {
        return Err(bad("it needs http:// in front"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" => return Err(bad("push sends plain http; use the receiver's http:// address")),
        "ws" | "wss" => {
            return Err(bad("push POSTs frames over http; use http:// with the same host and path"));
        }
        _ => return Err(bad("only http:// is supported")),
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(bad("HOST:PORT is missing"));
    }
    if path.contains(['?', '#']) {
        return Err(bad("no query string: the token goes in --token"));
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let name = match segments.as_slice() {
        ["api", "cameras", name] | ["api", "cameras", name, "frame" | "ingest"] if !name.is_empty() => *name,
        _ => return Err(bad("the path must be /api/cameras/NAME")),
    };
    format!("http://{authority}/api/cameras/{name}/frame")
        .parse()
        .map_err(|_| bad("HOST:PORT or NAME is not valid in a URL"))
}

/// Pushes until `shutdown`, or until the receiver refuses for good.
pub async fn run(args: PushArgs, shutdown: CancellationToken) -> Result<(), PushClientError> {
    let url = frame_url(&args.to)?;
    let settings = Settings { size: args.size, fps: args.fps, quality: args.quality };
    let source = crate::source::open_source(&args.camera, &args.encoding())?;
    let hub = Hub::new("local".into(), source, settings, Duration::from_secs(10));
    let supervisor = hub.spawn_supervisor(shutdown.clone());
    let mut viewer = hub.watch();
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let auth = format!("Bearer {}", args.token);
    let mut retry = RETRY_MIN;
    let mut sent: u64 = 0;
    let mut down_since_logged = false;
    let mut last_sent = None;
    // H.264 after a frame that did not get through: nothing until the next keyframe.
    let mut resync = false;
    let result = loop {
        let Some(frame) = next_to_send(&mut viewer, last_sent, &shutdown).await else { break Ok(()) };
        last_sent = Some(frame.seq);
        if resync && !frame.keyframe() {
            continue;
        }
        resync = false;
        let (content_type, body) = match body_of(&frame) {
            Some(body) => body,
            None => continue,
        };
        let request = hyper::Request::post(url.clone())
            .header(hyper::header::AUTHORIZATION, &auth)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .header("x-timestamp", crate::clock::seconds(frame.captured_us))
            .body(Full::new(body))
            .expect("a valid request");
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            r = tokio::time::timeout(POST_TIMEOUT, client.request(request)) => r,
        };
        match outcome {
            Ok(Ok(response)) if response.status() == StatusCode::NO_CONTENT => {
                if down_since_logged {
                    tracing::info!("receiver reachable again; pushing");
                    down_since_logged = false;
                }
                retry = RETRY_MIN;
                sent += 1;
                if sent == 1 {
                    tracing::info!("first frame pushed to {url}");
                }
            }
            Ok(Ok(response)) => {
                let status = response.status();
                let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                let reason = format!("{status}: {}", String::from_utf8_lossy(&body).trim());
                resync = frame.h264.is_some();
                if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND) {
                    break Err(PushClientError::Refused(reason));
                }
                // 400/413: this frame was refused; 5xx: the receiver has trouble. Go on.
                tracing::warn!("frame refused ({reason})");
                if status.is_server_error() {
                    backoff(&mut retry, &shutdown).await;
                }
            }
            Ok(Err(e)) => {
                resync = frame.h264.is_some();
                if !down_since_logged {
                    tracing::warn!("cannot reach {url}: {e}; retrying with backoff");
                    down_since_logged = true;
                }
                backoff(&mut retry, &shutdown).await;
            }
            Err(_) => {
                resync = frame.h264.is_some();
                tracing::warn!("pushing a frame took over {POST_TIMEOUT:?}; retrying");
                backoff(&mut retry, &shutdown).await;
            }
        }
    };
    drop(viewer);
    shutdown.cancel();
    let _ = supervisor.await;
    result
}

/// The next frame to push after `sent` (see [`crate::hub::Viewer::next_after`]), waiting for
/// it; `None` at shutdown.
async fn next_to_send(
    viewer: &mut crate::hub::Viewer,
    sent: Option<u64>,
    shutdown: &CancellationToken,
) -> Option<std::sync::Arc<crate::hub::Frame>> {
    loop {
        if let Some(frame) = viewer.next_after(sent) {
            return Some(frame);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            change = viewer.changed(true) => {
                change?;
                viewer.mark_seen();
            }
        }
    }
}

/// What a frame is POSTed as: a JPEG as it is, H.264 as a frame message.
fn body_of(frame: &crate::hub::Frame) -> Option<(&'static str, Bytes)> {
    let Some(h264) = &frame.h264 else { return Some(("image/jpeg", frame.data.clone())) };
    let stream = &h264.stream;
    let header = framecast_shared::FrameHeader {
        seq: frame.seq,
        camera: "push".into(),
        width: frame.width,
        height: frame.height,
        captured_us: frame.captured_us,
        sent_us: framecast_shared::unix_micros_now(),
        recorded: false,
        codec: Some("h264".into()),
        key: h264.keyframe,
        config: h264.keyframe.then(|| {
            framecast_shared::VideoConfig::new(&stream.codec, &stream.avcc, stream.width, stream.height)
        }),
    };
    match header.encode_message(&frame.data) {
        Ok(message) => Some(("application/x-framecast-frame", Bytes::from(message))),
        Err(e) => {
            tracing::error!("cannot build a frame message: {e}");
            None
        }
    }
}

async fn backoff(retry: &mut Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(*retry) => {}
    }
    *retry = (*retry * 2).min(RETRY_MAX);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_camera_url_and_its_endpoints_all_push_to_frame() {
        for to in [
            "http://pi.local:8080/api/cameras/pi4",
            "http://pi.local:8080/api/cameras/pi4/",
            "http://pi.local:8080/api/cameras/pi4/frame",
            "http://pi.local:8080/api/cameras/pi4/ingest",
            "HTTP://pi.local:8080/api/cameras/pi4",
        ] {
            assert_eq!(
                frame_url(to).unwrap().to_string(),
                "http://pi.local:8080/api/cameras/pi4/frame",
                "{to}"
            );
        }
        assert_eq!(
            frame_url("http://[::1]:9/api/cameras/a").unwrap().to_string(),
            "http://[::1]:9/api/cameras/a/frame"
        );
    }

    #[test]
    fn wrong_forms_say_what_is_wrong_and_show_the_right_one() {
        for (to, why) in [
            ("pi.local:8080/api/cameras/pi4", "http:// in front"),
            ("https://pi.local/api/cameras/pi4", "plain http"),
            ("ws://pi.local:8080/api/cameras/pi4/ingest", "POSTs frames over http"),
            ("ftp://pi.local/api/cameras/pi4", "only http://"),
            ("http:///api/cameras/pi4", "HOST:PORT is missing"),
            ("http://pi.local:8080", "/api/cameras/NAME"),
            ("http://pi.local:8080/", "/api/cameras/NAME"),
            ("http://pi.local:8080/api/cameras/", "/api/cameras/NAME"),
            ("http://pi.local:8080/api/cameras/pi4/snapshot", "/api/cameras/NAME"),
            ("http://pi.local:8080/cameras/pi4", "/api/cameras/NAME"),
            ("http://pi.local:8080/api/cameras/pi4?token=x", "--token"),
            ("http://pi local:8080/api/cameras/pi4", "not valid"),
        ] {
            let message = frame_url(to).unwrap_err().to_string();
            assert!(message.contains(why), "{to}: {message}");
            assert!(message.contains("http://HOST:PORT/api/cameras/NAME"), "{to}: {message}");
        }
    }
}
