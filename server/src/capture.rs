//! The capture thread: drives one opened camera, keeps software cameras on schedule, stamps
//! each frame with its grab time and hands it to the hub.
//!
//! It is a plain OS thread, not a tokio task: grabbing and JPEG encoding block and burn CPU,
//! and must never stall the async workers that serve viewers.

use std::sync::mpsc;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::config::Settings;
use crate::hub::Hub;
use crate::source::pacer::Pacer;
use crate::source::{Source, SourceError};

/// A running capture thread.
#[derive(Debug)]
pub struct CaptureHandle {
    stop: mpsc::Sender<()>,
    done: oneshot::Receiver<Result<(), SourceError>>,
}

impl CaptureHandle {
    /// Opens `source` on a new thread and publishes its frames to `hub` until stopped or failed.
    pub fn start(hub: Hub, source: std::sync::Arc<dyn Source>, settings: Settings) -> CaptureHandle {
        let (stop_tx, stop_rx) = mpsc::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let name = format!("capture-{}", hub.id());
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let result = capture_loop(&hub, &*source, &settings, &stop_rx);
            let _ = done_tx.send(result);
        });
        if let Err(e) = spawned {
            // The closure (and its sender) was dropped: `finished` reports the failure.
            tracing::error!("cannot start capture thread: {e}");
        }
        CaptureHandle { stop: stop_tx, done: done_rx }
    }

    /// Waits until the capture ends by itself (a failure) and returns why.
    pub async fn finished(&mut self) -> Result<(), SourceError> {
        match (&mut self.done).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::Io {
                path: "capture thread".into(),
                source: std::io::Error::other("capture thread ended without a result"),
            }),
        }
    }

    /// Asks the thread to stop and waits until it has.
    pub async fn stop(mut self) {
        let _ = self.stop.send(());
        let _ = self.finished().await;
    }
}

fn capture_loop(
    hub: &Hub,
    source: &dyn Source,
    settings: &Settings,
    stop: &mpsc::Receiver<()>,
) -> Result<(), SourceError> {
    let mut capture = source.open(settings)?;
    let mut pacer = capture.pace().map(Pacer::new);
    loop {
        let stop_requested = match &mut pacer {
            // Sleeping on the stop channel makes a stop request end the sleep at once.
            Some(pacer) => {
                let due = pacer.next_due(Instant::now());
                let wait = due.saturating_duration_since(Instant::now());
                !matches!(stop.recv_timeout(wait), Err(mpsc::RecvTimeoutError::Timeout))
            }
            None => !matches!(stop.try_recv(), Err(mpsc::TryRecvError::Empty)),
        };
        if stop_requested {
            return Ok(());
        }
        let captured_us = framecast_shared::unix_micros_now();
        let jpeg = capture.grab()?;
        hub.publish(jpeg, captured_us);
    }
}
