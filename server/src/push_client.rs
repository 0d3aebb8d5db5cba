//! `framecast push`: the sending side of push cameras. Captures a local camera with the same
//! sources and hub as the server (so pacing, idle handling and camera retries are the same)
//! and POSTs each newest frame to `URL/frame` on another framecast. A frame that is still
//! being sent when newer ones arrive makes them skip: the receiver always gets the newest.
//! When the network or the receiver is down, it retries with backoff and resumes by itself.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

use crate::config::{PushArgs, Settings};
use crate::hub::Hub;

/// Why pushing stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum PushClientError {
    /// The local camera cannot work.
    #[error("camera: {0}")]
    Camera(#[from] crate::source::SourceError),
    /// The target is not an http:// URL.
    #[error("--to must be http://HOST:PORT/api/cameras/NAME, not '{0}'")]
    BadUrl(String),
    /// The receiver refused the token or does not have the camera: retrying will not help.
    #[error("the receiver refused: {0}")]
    Refused(String),
}

/// Shortest and longest wait between attempts while the receiver is unreachable.
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// A single POST that takes longer than this is abandoned.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Pushes until `shutdown`, or until the receiver refuses for good.
pub async fn run(args: PushArgs, shutdown: CancellationToken) -> Result<(), PushClientError> {
    let base = args.to.trim_end_matches('/');
    if !base.starts_with("http://") {
        return Err(PushClientError::BadUrl(args.to.clone()));
    }
    let url: hyper::Uri =
        format!("{base}/frame").parse().map_err(|_| PushClientError::BadUrl(args.to.clone()))?;
    let settings = Settings { size: args.size, fps: args.fps, quality: args.quality };
    let source = crate::source::open_source(&args.camera, &settings)?;
    let hub = Hub::new("local".into(), source, settings, Duration::from_secs(10));
    let supervisor = hub.spawn_supervisor(shutdown.clone());
    let mut viewer = hub.watch();
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let auth = format!("Bearer {}", args.token);
    let mut retry = RETRY_MIN;
    let mut sent: u64 = 0;
    let mut down_since_logged = false;
    let result = loop {
        let Some(frame) = viewer.next_frame(&shutdown).await else { break Ok(()) };
        let request = hyper::Request::post(url.clone())
            .header(hyper::header::AUTHORIZATION, &auth)
            .header(hyper::header::CONTENT_TYPE, "image/jpeg")
            .header("x-timestamp", crate::http::mjpeg::timestamp(frame.captured_us))
            .body(Full::new(frame.jpeg.clone()))
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
                if !down_since_logged {
                    tracing::warn!("cannot reach {url}: {e}; retrying with backoff");
                    down_since_logged = true;
                }
                backoff(&mut retry, &shutdown).await;
            }
            Err(_) => {
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

async fn backoff(retry: &mut Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(*retry) => {}
    }
    *retry = (*retry * 2).min(RETRY_MAX);
}
