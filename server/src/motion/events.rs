//! The motion events found since the server started, newest last, with their thumbnails:
//! what `/api/events` lists. Kept in memory, at most [`EventLog::KEEP`] of them (the oldest
//! go first), so a week of a busy camera cannot fill the memory.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use framecast_shared::MotionEvent;

use crate::lock::Unpoisoned;

/// One event as kept.
#[derive(Debug, Clone)]
struct Kept {
    event: MotionEvent,
    thumbnail: Option<Bytes>,
}

/// What happened to an event, for those who pass it on (webhooks).
#[derive(Debug, Clone, PartialEq)]
pub enum News {
    /// An event began (as it is then: its first picture is its peak).
    Started(MotionEvent),
    /// An event ended (with its peak).
    Ended(MotionEvent),
}

/// Every camera's events. Shared by the detectors (writing) and the HTTP side (reading).
#[derive(Debug)]
pub struct EventLog {
    inner: Mutex<Inner>,
    news: tokio::sync::broadcast::Sender<News>,
}

impl Default for EventLog {
    fn default() -> EventLog {
        EventLog { inner: Mutex::default(), news: tokio::sync::broadcast::Sender::new(256) }
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    events: VecDeque<Kept>,
}

impl EventLog {
    /// Events kept, all cameras together.
    pub const KEEP: usize = 1000;

    /// An empty log.
    pub fn new() -> EventLog {
        EventLog::default()
    }

    /// Every event's start and end from now on. A receiver that falls 256 behind misses
    /// the oldest (and is told how many).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<News> {
        self.news.subscribe()
    }

    /// Opens an event of `camera` that started at `start_us`; its id.
    pub fn open(&self, camera: &str, start_us: u64, area: f32, score: f32, thumbnail: Option<Bytes>) -> u64 {
        let mut inner = self.inner.locked();
        inner.next_id += 1;
        let id = inner.next_id;
        if inner.events.len() >= Self::KEEP {
            inner.events.pop_front();
        }
        let event = MotionEvent {
            id,
            camera: camera.to_string(),
            start_us,
            end_us: None,
            area,
            score,
            thumbnail: format!("/api/events/{id}/thumbnail.jpg"),
        };
        inner.events.push_back(Kept { event: event.clone(), thumbnail });
        drop(inner);
        let _ = self.news.send(News::Started(event));
        id
    }

    /// A new peak of event `id`: its area and score, and its picture when there is one.
    pub fn peak(&self, id: u64, area: f32, score: f32, thumbnail: Option<Bytes>) {
        self.update(id, |kept| {
            kept.event.area = area;
            kept.event.score = score;
            if thumbnail.is_some() {
                kept.thumbnail = thumbnail;
            }
        });
    }

    /// Event `id`'s picture.
    pub fn set_thumbnail(&self, id: u64, thumbnail: Bytes) {
        self.update(id, |kept| kept.thumbnail = Some(thumbnail));
    }

    /// Ends event `id` at `end_us`.
    pub fn close(&self, id: u64, end_us: u64) {
        if let Some(event) = self.update(id, |kept| kept.event.end_us = Some(end_us)) {
            let _ = self.news.send(News::Ended(event));
        }
    }

    /// Changes event `id`; the event as it is now, while it is kept.
    fn update(&self, id: u64, change: impl FnOnce(&mut Kept)) -> Option<MotionEvent> {
        let mut inner = self.inner.locked();
        let kept = inner.events.iter_mut().rev().find(|k| k.event.id == id)?;
        change(kept);
        Some(kept.event.clone())
    }

    /// The events of `camera` that overlap `from..=to` (an open one reaches to now), oldest
    /// first.
    pub fn list(&self, camera: &str, from: u64, to: u64) -> Vec<MotionEvent> {
        let inner = self.inner.locked();
        inner
            .events
            .iter()
            .map(|k| &k.event)
            .filter(|e| e.camera == camera && e.start_us <= to && e.end_us.is_none_or(|end| end >= from))
            .cloned()
            .collect()
    }

    /// Event `id`'s picture, while it is kept.
    pub fn thumbnail(&self, id: u64) -> Option<Bytes> {
        let inner = self.inner.locked();
        inner.events.iter().find(|k| k.event.id == id).and_then(|k| k.thumbnail.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_listed_by_camera_and_overlap() {
        let log = EventLog::new();
        let a = log.open("door", 100, 0.01, 20.0, Some(Bytes::from_static(b"a")));
        let b = log.open("garden", 150, 0.02, 30.0, None);
        log.close(a, 200);
        let c = log.open("door", 300, 0.01, 20.0, None);
        log.peak(c, 0.05, 60.0, Some(Bytes::from_static(b"c")));
        let ids = |from, to| log.list("door", from, to).iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(0, u64::MAX), vec![a, c]);
        assert_eq!(ids(201, 299), Vec::<u64>::new());
        // The open event reaches to now.
        assert_eq!(ids(1000, 2000), vec![c]);
        assert_eq!(ids(200, 200), vec![a]);
        let door = log.list("door", 0, u64::MAX);
        assert_eq!(
            (door[0].end_us, door[1].end_us, door[1].area, door[1].score),
            (Some(200), None, 0.05, 60.0)
        );
        assert_eq!(door[1].thumbnail, format!("/api/events/{c}/thumbnail.jpg"));
        assert_eq!(log.thumbnail(c).as_deref(), Some(&b"c"[..]));
        assert_eq!(log.thumbnail(b), None);
        assert_eq!(log.list("garden", 0, 10), vec![]);
    }

    #[test]
    fn starts_and_ends_are_news() {
        let log = EventLog::new();
        let mut news = log.subscribe();
        let id = log.open("door", 100, 0.01, 20.0, None);
        log.peak(id, 0.2, 90.0, None);
        log.close(id, 300);
        let started = news.try_recv().unwrap();
        assert!(matches!(&started, News::Started(e) if e.id == id && e.end_us.is_none() && e.area == 0.01));
        let ended = news.try_recv().unwrap();
        assert!(
            matches!(&ended, News::Ended(e) if e.end_us == Some(300) && e.area == 0.2 && e.score == 90.0)
        );
        assert!(news.try_recv().is_err(), "a peak is no news");
    }

    #[test]
    fn the_oldest_go_first_past_the_limit() {
        let log = EventLog::new();
        let first = log.open("a", 0, 0.0, 0.0, None);
        for i in 1..=EventLog::KEEP as u64 {
            log.open("a", i, 0.0, 0.0, None);
        }
        let kept = log.list("a", 0, u64::MAX);
        assert_eq!(kept.len(), EventLog::KEEP);
        assert!(kept.iter().all(|e| e.id != first));
    }
}
