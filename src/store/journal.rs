//! The folder store's own record: an append-only journal of JSON lines in
//! `<out>/.shelfready/journal.jsonl`. It says which source owns which name, which files the
//! store wrote (each recorded, and flushed to disk, before the file is renamed into place,
//! so a run killed at any point never leaves a file of ours that we cannot prove is ours),
//! and which output and handoff stand for each source and spec.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::handoff::State;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Record {
    /// `key` owns the output name `name`.
    Name { key: String, name: String },
    /// A file with this content is about to be put at `path`.
    Intent { path: String, sha256: String },
    /// The output and handoff now standing for `key` and `spec`.
    Commit(Commit),
    /// The store removed its file at `path`.
    Removed { path: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub key: String,
    pub spec: String,
    pub path: Option<String>,
    pub sha256: Option<String>,
    pub source_sha256: String,
    pub spec_hash: String,
    pub pipeline: String,
    pub state: State,
    pub manifest: String,
    pub manifest_sha256: String,
}

#[derive(Default)]
pub struct Index {
    /// The name each source key owns.
    pub names: HashMap<String, String>,
    /// The key owning each name, by the name in lower case.
    pub owners: HashMap<String, String>,
    /// Contents the store wrote at each path (the last few).
    pub written: HashMap<String, Vec<String>>,
    pub commits: HashMap<(String, String), Commit>,
    lines: usize,
}

impl Index {
    fn apply(&mut self, r: Record) {
        self.lines += 1;
        match r {
            Record::Name { key, name } => {
                self.owners.insert(name.to_lowercase(), key.clone());
                self.names.insert(key, name);
            }
            Record::Intent { path, sha256 } => {
                // Every intent since the last commit stays: each interrupted run may have
                // left its file in place.
                let v = self.written.entry(path).or_default();
                if !v.contains(&sha256) {
                    v.push(sha256);
                }
            }
            Record::Commit(c) => {
                // The committed file is the one in place: older intents are settled.
                if let (Some(path), Some(sha)) = (&c.path, &c.sha256) {
                    self.written.insert(path.clone(), vec![sha.clone()]);
                }
                self.commits.insert((c.key.clone(), c.spec.clone()), c);
            }
            Record::Removed { path } => {
                self.written.remove(&path);
            }
        }
    }

    /// The records that rebuild this index.
    fn live(&self) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        let mut names: Vec<_> = self.names.iter().collect();
        names.sort();
        out.extend(names.into_iter().map(|(k, n)| Record::Name {
            key: k.clone(),
            name: n.clone(),
        }));
        let mut written: Vec<_> = self.written.iter().collect();
        written.sort();
        for (path, shas) in written {
            out.extend(shas.iter().map(|s| Record::Intent {
                path: path.clone(),
                sha256: s.clone(),
            }));
        }
        let mut commits: Vec<_> = self.commits.values().cloned().collect();
        commits.sort_by(|a, b| (&a.key, &a.spec).cmp(&(&b.key, &b.spec)));
        out.extend(commits.into_iter().map(Record::Commit));
        out
    }
}

pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    index: Mutex<Index>,
}

impl Journal {
    /// Opens (or creates) the journal and reads it. A torn last line, left by a run killed
    /// mid-write, is ignored. A journal mostly made of superseded lines is rewritten.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let mut index = Index::default();
        let mut text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        // A run killed mid-append leaves a torn last line: cut it off, or the next record
        // would be glued to it.
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            tracing::warn!(journal = %path.display(), "dropped a torn last line");
            text.truncate(whole);
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)?
                .set_len(whole as u64)?;
        }
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Record>(line) {
                Ok(r) => index.apply(r),
                Err(_) => tracing::warn!(journal = %path.display(), "skipped a damaged line"),
            }
        }
        let live = index.live();
        if index.lines > 4 * live.len() + 256 {
            Self::write_all(path, &live)?;
            index.lines = live.len();
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            index: Mutex::new(index),
        })
    }

    /// Writes a whole journal at once (atomically): compaction, and a new store's first
    /// records.
    pub fn write_all(path: &Path, records: &[Record]) -> std::io::Result<()> {
        let mut text = Vec::new();
        for r in records {
            serde_json::to_writer(&mut text, r).map_err(std::io::Error::other)?;
            text.push(b'\n');
        }
        super::folder::write_atomic(path, &text)
    }

    /// The index, even if a thread panicked while holding it (records are applied whole).
    pub fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a record; with `durable`, it is on disk before this returns.
    pub fn append(&self, r: Record, durable: bool) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        {
            let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(&line)?;
            if durable {
                f.sync_data()?;
            }
        }
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(r);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
