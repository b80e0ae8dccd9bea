//! The folder store's own record: an append-only journal of JSON lines in
//! `<out>/.shelfready/journal.jsonl`. It says which source owns which name, which files the
//! store wrote (each recorded, and flushed to disk, before the file is renamed into place,
//! so a run killed at any point never leaves a file of ours that we cannot prove is ours),
//! and which output and handoff stand for each source and spec.

use std::collections::HashMap;
use std::io::{BufRead, Write};
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
    pub names: HashMap<String, String>,
    pub owners: HashMap<String, String>,
    /// Contents the store wrote at each path (the last few).
    pub written: HashMap<String, Vec<String>>,
    pub commits: HashMap<(String, String), Commit>,
    lines: usize,
}

/// Content hashes kept per path: the current file and one that may be mid-rename.
const KEEP_PER_PATH: usize = 2;

impl Index {
    fn apply(&mut self, r: Record) {
        self.lines += 1;
        match r {
            Record::Name { key, name } => {
                self.owners.insert(name.clone(), key.clone());
                self.names.insert(key, name);
            }
            Record::Intent { path, sha256 } => {
                let v = self.written.entry(path).or_default();
                v.retain(|s| *s != sha256);
                v.push(sha256);
                if v.len() > KEEP_PER_PATH {
                    v.remove(0);
                }
            }
            Record::Commit(c) => {
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
    pub index: Mutex<Index>,
}

impl Journal {
    /// Opens (or creates) the journal and reads it. A torn last line, left by a run killed
    /// mid-write, is ignored. A journal mostly made of superseded lines is rewritten.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let mut index = Index::default();
        if let Ok(f) = std::fs::File::open(path) {
            for line in std::io::BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Record>(&line) {
                    Ok(r) => index.apply(r),
                    Err(_) => tracing::warn!(journal = %path.display(), "skipped a damaged line"),
                }
            }
        }
        let live = index.live();
        if index.lines > 4 * live.len() + 256 {
            let mut text = Vec::new();
            for r in &live {
                serde_json::to_writer(&mut text, r).map_err(std::io::Error::other)?;
                text.push(b'\n');
            }
            super::folder::write_atomic(path, &text)?;
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

    /// Appends a record; with `durable`, it is on disk before this returns.
    pub fn append(&self, r: Record, durable: bool) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        {
            let mut f = self
                .file
                .lock()
                .map_err(|_| std::io::Error::other("journal lock poisoned"))?;
            f.write_all(&line)?;
            if durable {
                f.sync_data()?;
            }
        }
        self.index
            .lock()
            .map_err(|_| std::io::Error::other("journal index lock poisoned"))?
            .apply(r);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
