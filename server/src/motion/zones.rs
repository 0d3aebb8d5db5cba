//! Each watched camera's motion zone (where to look, where to ignore; how faint a change
//! counts and how much must change), as painted and set in the web client's Settings: kept in memory, written to `motion-zones.json` in the recordings'
//! folder when the server records (so it survives a restart; without `--record-dir` there
//! is no folder of the server's own, and a restart watches everywhere again), and picked up
//! by the camera's detector at its next picture.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use framecast_shared::MotionZone;

use crate::lock::Unpoisoned;

/// Why a zone was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// The camera is not looked at for motion.
    #[error("camera '{0}' is not watched for motion (see --motion)")]
    NotWatched(String),
    /// The zone itself is wrong.
    #[error("{0}")]
    Bad(String),
    /// It could not be kept on disk.
    #[error("the zone could not be saved to {path}: {source}")]
    Save {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Every watched camera's zone, with a revision the detectors compare against.
#[derive(Debug)]
pub struct Zones {
    path: Option<PathBuf>,
    /// The flags' sensitivity and area, for zones that do not say.
    defaults: (u8, f32),
    cameras: Mutex<HashMap<String, (u64, MotionZone)>>,
}

impl Zones {
    /// The zones of `cameras`: as saved in `path` when there is one and it can be read
    /// (anything wrong with it is logged and that camera watches everywhere), else
    /// everywhere. `defaults`: the sensitivity and area of a zone that does not say.
    pub fn load(path: Option<PathBuf>, cameras: &[String], defaults: (u8, f32)) -> Zones {
        let saved: HashMap<String, MotionZone> = match &path {
            Some(p) if p.exists() => match std::fs::read(p)
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            {
                Ok(saved) => saved,
                Err(e) => {
                    tracing::warn!("motion zones in {}: {e}; watching everywhere", p.display());
                    HashMap::new()
                }
            },
            _ => HashMap::new(),
        };
        let zones = cameras
            .iter()
            .map(|id| {
                let zone = match saved.get(id) {
                    Some(zone) if zone.check().is_ok() => zone.clone(),
                    Some(_) => {
                        tracing::warn!(camera = %id, "a saved motion zone is not valid; watching everywhere");
                        MotionZone::everywhere()
                    }
                    None => MotionZone::everywhere(),
                };
                (id.clone(), (0, zone))
            })
            .collect();
        Zones { path, defaults, cameras: Mutex::new(zones) }
    }

    /// `zone` with the flags' sensitivity and area where it does not say.
    fn complete(&self, zone: &MotionZone) -> MotionZone {
        MotionZone {
            sensitivity: zone.sensitivity.or(Some(self.defaults.0)),
            min_area: zone.min_area.or(Some(self.defaults.1)),
            ..zone.clone()
        }
    }

    /// Camera `id`'s zone, sensitivity and area always said; `None` when it is not watched
    /// for motion.
    pub fn get(&self, id: &str) -> Option<MotionZone> {
        self.cameras.locked().get(id).map(|(_, zone)| self.complete(zone))
    }

    /// Sets camera `id`'s zone, from its next picture on, and saves every zone.
    pub fn set(&self, id: &str, zone: MotionZone) -> Result<(), ZoneError> {
        zone.check().map_err(ZoneError::Bad)?;
        let mut cameras = self.cameras.locked();
        let (rev, current) = cameras.get_mut(id).ok_or_else(|| ZoneError::NotWatched(id.to_string()))?;
        *rev += 1;
        *current = zone;
        let all: HashMap<&String, &MotionZone> = cameras.iter().map(|(id, (_, zone))| (id, zone)).collect();
        if let Some(path) = &self.path {
            let json = serde_json::to_vec_pretty(&all).unwrap_or_default();
            let save = || -> std::io::Result<()> {
                let tmp = path.with_extension("json.tmp");
                std::fs::write(&tmp, json)?;
                std::fs::rename(&tmp, path)
            };
            save().map_err(|source| ZoneError::Save { path: path.display().to_string(), source })?;
        }
        Ok(())
    }

    /// Camera `id`'s zone and revision, unless `applied` is that revision already.
    pub(super) fn changed_since(&self, id: &str, applied: Option<u64>) -> Option<(u64, MotionZone)> {
        let cameras = self.cameras.locked();
        let (rev, zone) = cameras.get(id)?;
        (applied != Some(*rev)).then(|| (*rev, self.complete(zone)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left_half_ignored() -> MotionZone {
        let row = format!("{}{}", "1".repeat(16), "0".repeat(16));
        MotionZone { ignored: row.repeat(18), ..MotionZone::everywhere() }
    }

    #[test]
    fn zones_are_kept_saved_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("motion-zones.json");
        let cameras = ["door".to_string(), "yard".to_string()];
        let zones = Zones::load(Some(path.clone()), &cameras, (50, 0.005));
        let everywhere =
            MotionZone { sensitivity: Some(50), min_area: Some(0.005), ..MotionZone::everywhere() };
        assert_eq!(zones.get("door"), Some(everywhere.clone()));
        assert_eq!(zones.get("garage"), None);
        let (rev, _) = zones.changed_since("door", None).unwrap();
        assert!(zones.changed_since("door", Some(rev)).is_none());
        let painted = MotionZone { sensitivity: Some(80), ..left_half_ignored() };
        zones.set("door", painted.clone()).unwrap();
        let (new_rev, zone) = zones.changed_since("door", Some(rev)).unwrap();
        let expected = MotionZone { min_area: Some(0.005), ..painted };
        assert!(new_rev != rev && zone == expected);
        // A restart reads it back.
        let again = Zones::load(Some(path.clone()), &cameras, (50, 0.005));
        assert_eq!(again.get("door"), Some(expected.clone()));
        assert_eq!(again.get("yard"), Some(everywhere.clone()));
        // Wrong zones and cameras are refused and change nothing.
        let bad = MotionZone { ignored: "01".into(), ..MotionZone::everywhere() };
        assert!(matches!(zones.set("door", bad), Err(ZoneError::Bad(_))));
        assert!(matches!(zones.set("garage", left_half_ignored()), Err(ZoneError::NotWatched(_))));
        assert_eq!(zones.get("door"), Some(expected));
        // A damaged file: everywhere, and the server goes on.
        std::fs::write(&path, b"{ not json").unwrap();
        assert_eq!(Zones::load(Some(path), &cameras, (50, 0.005)).get("door"), Some(everywhere));
    }
}
