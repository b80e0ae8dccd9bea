//! Copies that stall. A file that reads as cut off may be a copy that paused (a network
//! share, a sync client) rather than a broken file: while it was written recently it is
//! held back in the inbox, not quarantined, and taken again once it changes. One that stays
//! unchanged past the limit is what it reads as, and goes to quarantine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// What a file was when it was held: any change means the copy went on.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stamp {
    size: u64,
    modified: Option<SystemTime>,
}

/// Paths are kept absolute: the inbox may be given relative, and the files found under it
/// are recorded absolute.
fn key(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn stamp(p: &Path) -> Option<Stamp> {
    let meta = std::fs::symlink_metadata(p).ok()?;
    Some(Stamp {
        size: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// How long ago the file was last written (none known: long ago).
fn age(s: &Stamp) -> Duration {
    s.modified
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or(Duration::MAX)
}

/// The files held back, as they were when held.
#[derive(Debug, Default)]
pub struct Held {
    files: Mutex<HashMap<PathBuf, Stamp>>,
}

impl Held {
    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Stamp>> {
        // A panic elsewhere while holding the lock leaves a map still worth reading.
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds `p`, which read as cut off, when it was written within `limit`: returns how
    /// long ago. None: it is older, and is what it reads as.
    pub fn hold(&self, p: &Path, limit: Duration) -> Option<Duration> {
        let s = stamp(p)?;
        let age = age(&s);
        if age < limit {
            self.files().insert(key(p), s);
            Some(age)
        } else {
            self.files().remove(&key(p));
            None
        }
    }

    /// Lets go of the files that changed, went, or waited past `limit`: they are taken
    /// again (or, gone, no longer wait for anything).
    pub fn prune(&self, limit: Duration) {
        self.files()
            .retain(|p, s| stamp(p) == Some(*s) && age(s) < limit);
    }

    /// Whether `p` is held and has not changed since, within `limit`: not to be taken yet.
    pub fn waiting(&self, p: &Path, limit: Duration) -> bool {
        let p = key(p);
        let mut files = self.files();
        let Some(held) = files.get(&p).copied() else {
            return false;
        };
        let now = stamp(&p);
        if now == Some(held) && age(&held) < limit {
            return true;
        }
        // Changed, gone, or past the limit: taken again.
        files.remove(&p);
        false
    }

    /// Whether anything under `dir` is held (and still there, unchanged, within `limit`).
    pub fn any_under(&self, dir: &Path, limit: Duration) -> bool {
        self.prune(limit);
        let dir = key(dir);
        self.files().keys().any(|p| p.starts_with(&dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_file_waits_until_it_changes_or_its_time_is_up() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.png");
        std::fs::write(&f, b"half").unwrap();
        let held = Held::default();
        let limit = Duration::from_secs(600);
        assert!(held.hold(&f, limit).is_some());
        assert!(held.waiting(&f, limit));
        assert!(held.any_under(dir.path(), limit));
        // Gone: let go of, so its folder no longer waits for it.
        std::fs::rename(&f, dir.path().join("b.png")).unwrap();
        assert!(!held.any_under(dir.path(), limit));
        std::fs::rename(dir.path().join("b.png"), &f).unwrap();
        assert!(held.hold(&f, limit).is_some());
        // The copy goes on: taken again.
        std::fs::write(&f, b"half and the rest").unwrap();
        assert!(!held.waiting(&f, Duration::from_secs(600)));
        // Written longer ago than the limit: not held at all.
        assert!(held.hold(&f, Duration::ZERO).is_none());
        assert!(!held.any_under(dir.path(), limit));
    }
}
