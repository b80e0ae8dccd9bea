//! When a dropped file is complete: its size and modification time have not changed for
//! the settle time. Copies, downloads and sync clients write in bursts and pause between
//! them; a file is never taken while anything in its drop still moves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::intake::is_temporary;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    size: u64,
    modified: Option<SystemTime>,
    since: Instant,
}

/// What the last scans saw of each file.
#[derive(Debug, Default)]
pub struct Settle {
    seen: HashMap<PathBuf, Seen>,
}

impl Settle {
    /// Notes the files under `paths` as they are now; returns, per path, how long it has
    /// been since anything in it changed (a folder: the latest change of any file in it,
    /// temporary ones included; an empty folder has not settled).
    pub fn observe(&mut self, paths: &[PathBuf], now: Instant) -> Vec<(PathBuf, Option<Duration>)> {
        let mut alive = HashMap::new();
        let mut out = Vec::new();
        for p in paths {
            let mut latest: Option<Instant> = None;
            let files: Vec<PathBuf> = if p.is_dir() {
                walkdir::WalkDir::new(p)
                    .follow_links(false)
                    .into_iter()
                    .flatten()
                    .filter(|e| e.file_type().is_file())
                    .map(|e| e.path().to_path_buf())
                    .collect()
            } else {
                vec![p.clone()]
            };
            for f in files {
                let Ok(meta) = std::fs::metadata(&f) else {
                    continue;
                };
                let now_seen = Seen {
                    size: meta.len(),
                    modified: meta.modified().ok(),
                    since: now,
                };
                let s = match self.seen.get(&f) {
                    Some(old) if old.size == now_seen.size && old.modified == now_seen.modified => {
                        *old
                    }
                    _ => now_seen,
                };
                latest = Some(latest.map_or(s.since, |l: Instant| l.max(s.since)));
                alive.insert(f, s);
            }
            out.push((p.clone(), latest.map(|l| now.saturating_duration_since(l))));
        }
        self.seen = alive;
        out
    }
}

/// The entries of the inbox a scan considers: folders (each one drop) and loose files,
/// leaving out the archive and quarantine folders and temporary names.
pub fn entries(inbox: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(inbox) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| !is_temporary(&e.file_name().to_string_lossy()))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir() || t.is_file()))
        .map(|e| e.path())
        .filter(|p| !skip.iter().any(|s| p == s))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_settles_only_when_it_stops_changing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.png");
        std::fs::write(&f, b"12").unwrap();
        let mut s = Settle::default();
        let t0 = Instant::now();
        let first = s.observe(std::slice::from_ref(&f), t0);
        assert_eq!(first[0].1, Some(Duration::ZERO));
        let later = s.observe(std::slice::from_ref(&f), t0 + Duration::from_secs(3));
        assert_eq!(later[0].1, Some(Duration::from_secs(3)));
        std::fs::write(&f, b"1234").unwrap();
        let grown = s.observe(std::slice::from_ref(&f), t0 + Duration::from_secs(4));
        assert_eq!(grown[0].1, Some(Duration::ZERO));
        assert!(
            is_temporary("photo.jpg.crdownload")
                && is_temporary("~$catalog.xlsx")
                && is_temporary(".DS_Store")
        );
        assert!(!is_temporary("photo.jpg"));
    }
}
