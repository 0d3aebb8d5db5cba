//! Webhooks (`--notify-url`): each motion event's start and end POSTed as JSON to every URL,
//! off the detectors' threads. A delivery that fails (no answer within 5 s, refused, or a
//! status other than 2xx) is retried with back-off (1, 2, 4, 8, 16 s), then dropped with a
//! warning; each delivery is a task of its own, so a dead receiver delays nothing else and
//! never detection. `--notify-cooldown` holds back a camera's events that start within that
//! time of the last one sent (and their ends), so a windy tree cannot flood a phone.
//!
//! The body: `{"type":"start"|"end","camera":"door","id":7,"start_us":T,"end_us":T|null,
//! "area":0.03,"score":118.5,"thumbnail":"/api/events/7/thumbnail.jpg"}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use framecast_shared::MotionEvent;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::motion::events::{EventLog, News};

/// Waits before each retry of a failed delivery.
const RETRIES: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

/// How long one delivery may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a webhook receives.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// `start` or `end`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The event as it is then.
    #[serde(flatten)]
    pub event: MotionEvent,
}

/// Which events a camera's cooldown lets through: pure logic, unit-tested.
#[derive(Debug, Default)]
pub struct Cooldown {
    cooldown_us: u64,
    /// Per camera: when the last event sent started.
    last_sent: HashMap<String, u64>,
    /// Events whose start was sent (their end is sent too).
    open: std::collections::HashSet<u64>,
}

impl Cooldown {
    /// Lets a camera's events through at most once per `cooldown`.
    pub fn new(cooldown: Duration) -> Cooldown {
        Cooldown { cooldown_us: cooldown.as_micros() as u64, ..Cooldown::default() }
    }

    /// What to send for `news`, if anything.
    pub fn pass(&mut self, news: &News) -> Option<Notification> {
        match news {
            News::Started(event) => {
                let last = self.last_sent.get(&event.camera);
                if last.is_some_and(|&last| event.start_us < last + self.cooldown_us) {
                    return None;
                }
                self.last_sent.insert(event.camera.clone(), event.start_us);
                self.open.insert(event.id);
                Some(Notification { kind: "start", event: event.clone() })
            }
            News::Ended(event) => {
                self.open.remove(&event.id).then(|| Notification { kind: "end", event: event.clone() })
            }
        }
    }
}

/// Sends every event of `log` to `urls` until `shutdown`.
pub fn spawn(
    log: &EventLog,
    urls: Vec<hyper::Uri>,
    cooldown: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let mut news = log.subscribe();
    tokio::spawn(async move {
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let urls = Arc::new(urls);
        let mut cooldown = Cooldown::new(cooldown);
        loop {
            let item = tokio::select! {
                _ = shutdown.cancelled() => return,
                item = news.recv() => item,
            };
            let notification = match item {
                Ok(news) => cooldown.pass(&news),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("webhooks: {missed} event notifications missed (too many at once)");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let Some(notification) = notification else { continue };
            let body = Bytes::from(serde_json::to_vec(&notification).unwrap_or_default());
            for url in urls.iter() {
                tokio::spawn(deliver(client.clone(), url.clone(), body.clone(), shutdown.clone()));
            }
        }
    })
}

/// POSTs `body` to `url`, retrying as the module doc says.
async fn deliver(
    client: Client<HttpConnector, Full<Bytes>>,
    url: hyper::Uri,
    body: Bytes,
    shutdown: CancellationToken,
) {
    let mut waits = RETRIES.iter();
    loop {
        let request = hyper::Request::post(url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, concat!("framecast/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(body.clone()));
        let Ok(request) = request else { return };
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(request)) => r,
        };
        let failure = match outcome {
            Ok(Ok(response)) if response.status().is_success() => return,
            Ok(Ok(response)) => format!("answered {}", response.status()),
            Ok(Err(e)) => format!("cannot be reached: {e}"),
            Err(_) => format!("gave no answer within {ATTEMPT_TIMEOUT:?}"),
        };
        let Some(wait) = waits.next() else {
            tracing::warn!(
                "webhook {url} {failure}; giving this notification up after {} tries",
                RETRIES.len() + 1
            );
            return;
        };
        tracing::debug!("webhook {url} {failure}; retrying in {wait:?}");
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(*wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, camera: &str, start_s: u64) -> MotionEvent {
        MotionEvent {
            id,
            camera: camera.into(),
            start_us: start_s * 1_000_000,
            end_us: None,
            area: 0.1,
            score: 50.0,
            thumbnail: format!("/api/events/{id}/thumbnail.jpg"),
        }
    }

    #[test]
    fn the_cooldown_holds_back_a_cameras_events_and_their_ends() {
        let mut cooldown = Cooldown::new(Duration::from_secs(60));
        let kinds = |n: Option<Notification>| n.map(|n| (n.kind, n.event.id));
        assert_eq!(kinds(cooldown.pass(&News::Started(event(1, "door", 100)))), Some(("start", 1)));
        // Another camera is not held back.
        assert_eq!(kinds(cooldown.pass(&News::Started(event(2, "yard", 110)))), Some(("start", 2)));
        // 30 s later on the same camera: held back, start and end.
        assert_eq!(kinds(cooldown.pass(&News::Started(event(3, "door", 130)))), None);
        assert_eq!(kinds(cooldown.pass(&News::Ended(event(3, "door", 130)))), None);
        assert_eq!(kinds(cooldown.pass(&News::Ended(event(1, "door", 100)))), Some(("end", 1)));
        // A minute after the last one sent: through again.
        assert_eq!(kinds(cooldown.pass(&News::Started(event(4, "door", 160)))), Some(("start", 4)));
    }

    #[test]
    fn the_body_says_what_and_which() {
        let n = Notification { kind: "end", event: MotionEvent { end_us: Some(9), ..event(7, "door", 1) } };
        let json: serde_json::Value = serde_json::to_value(&n).unwrap();
        assert_eq!(json["type"], "end");
        assert_eq!(json["id"], 7);
        assert_eq!(json["camera"], "door");
        assert_eq!(json["end_us"], 9);
        assert_eq!(json["thumbnail"], "/api/events/7/thumbnail.jpg");
    }
}
