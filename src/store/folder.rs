//! The output folder as a store: the layout a person uploads from, written atomically.
//!
//! - `<spec>/<name>.<ext>`: the images, one folder per spec, ready to upload as a set;
//! - `manifests/<name>.<spec>.json`: one handoff per output;
//! - `manifest.json`: the batch manifest;
//! - `.shelfready/`: the store's own journal and the lock that keeps a second run out.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::journal::{Commit, Journal, Record};
use super::{rules, Claim, PutOutput, SourceName, Store, StoreError};
use crate::handoff::{BatchManifest, Handoff};
use crate::spec::{hex, Spec};

pub struct FolderStore {
    root: PathBuf,
    journal: Journal,
    claims: std::sync::Mutex<()>,
    /// Held for the store's life: the OS releases it when the process ends, however.
    _lock: std::fs::File,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Removes the temp files [`write_atomic`] leaves when the process is killed mid-write
/// (never a finished file: theirs is a name no output takes). Only for a folder the caller
/// holds. Returns how many went.
pub fn sweep_temp_files(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let n = e.file_name().to_string_lossy();
            n.starts_with(".shelfready-") && n.ends_with(".tmp")
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// Writes a file so that readers see the old content or the new, never half: a temp file
/// in the same folder, fsync, then rename over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_atomic`] for a file written piece by piece (a zip of many images): `write`
/// fills the temp file, which takes the target's name only once it is complete.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".shelfready-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    write(tmp.as_file_mut())?;
    // tempfile creates 0600; outputs are meant to be shared, served and uploaded.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable once the folder entry is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl FolderStore {
    /// Opens the output folder as a store, creating it, and takes its lock: a second run
    /// into the same folder is refused with the holder named, instead of racing.
    pub fn open(root: &Path, holder: &str) -> Result<FolderStore, StoreError> {
        if root.components().any(|c| c.as_os_str() == ".shelfready") {
            return Err(StoreError::Write {
                path: root.display().to_string(),
                error: std::io::Error::other("the store's own folder cannot be an output folder"),
            });
        }
        let own = root.join(".shelfready");
        std::fs::create_dir_all(&own).map_err(|error| StoreError::Write {
            path: own.display().to_string(),
            error,
        })?;
        let lock_path = own.join("lock");
        let lock = super::lock::take(root, &lock_path, "output folder", holder)?;
        // Held now: what a killed run left half-written goes.
        sweep_temp_files(root);
        let journal_path = own.join("journal.jsonl");
        let read_err = |error| StoreError::Read {
            path: journal_path.display().to_string(),
            error,
        };
        if !journal_path.exists() {
            // Written whole before the journal is opened: a run killed while adopting
            // adopts again next time.
            Journal::write_all(&journal_path, &Self::earlier_outputs(root)).map_err(|error| {
                StoreError::Write {
                    path: journal_path.display().to_string(),
                    error,
                }
            })?;
        }
        let journal = Journal::open(&journal_path).map_err(read_err)?;
        let store = FolderStore {
            root: root.to_path_buf(),
            journal,
            claims: std::sync::Mutex::new(()),
            _lock: lock,
        };
        store.remove_stray_temp_files();
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The places this store writes (its spec folders, this run's and earlier runs',
    /// the manifests and its own folder), which an input walk must not read.
    pub fn written_paths(&self, specs: &[Spec]) -> Vec<PathBuf> {
        let mut tops: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
        tops.extend(
            self.journal
                .index()
                .written
                .keys()
                .filter_map(|p| p.split('/').next().map(str::to_owned)),
        );
        tops.extend(["manifests", "manifest.json", ".shelfready"].map(String::from));
        tops.sort();
        tops.dedup();
        tops.into_iter().map(|t| self.root.join(t)).collect()
    }

    fn image_rel(name: &str, spec: &Spec) -> String {
        format!("{}/{}.{}", spec.id, name, spec.format.extension())
    }

    fn manifest_rel(name: &str, spec: &Spec) -> String {
        format!("manifests/{name}.{}.json", spec.id)
    }

    /// True when the store wrote the file now at `rel`, or nothing is there.
    fn ours_or_free(&self, rel: &str) -> Result<bool, StoreError> {
        let path = self.root.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return Ok(true);
        };
        if !meta.is_file() {
            return Ok(false);
        }
        let bytes = std::fs::read(&path).map_err(|error| StoreError::Read {
            path: path.display().to_string(),
            error,
        })?;
        let sha = sha256_hex(&bytes);
        Ok(self
            .journal
            .index()
            .written
            .get(rel)
            .is_some_and(|v| v.contains(&sha)))
    }

    /// The handoff a commit recorded, if its manifest is still the one written.
    fn committed(&self, c: &Commit) -> Option<Handoff> {
        let manifest = std::fs::read(self.root.join(&c.manifest)).ok()?;
        if sha256_hex(&manifest) != c.manifest_sha256 {
            return None;
        }
        serde_json::from_slice(&manifest).ok()
    }

    /// A run killed mid-write leaves its temp file (our own prefix) beside the outputs.
    fn remove_stray_temp_files(&self) {
        let mut dirs: Vec<PathBuf> = self.written_paths(&[]);
        dirs.push(self.root.clone());
        for dir in dirs {
            // Outputs keep their sources' sub-folders: look in those too.
            let depth = if dir == self.root { 1 } else { usize::MAX };
            for e in walkdir::WalkDir::new(&dir)
                .max_depth(depth)
                .follow_links(false)
                .into_iter()
                .flatten()
            {
                let name = e.file_name().to_string_lossy();
                if e.file_type().is_file()
                    && name.starts_with(".shelfready-")
                    && name.ends_with(".tmp")
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// An output folder whose journal is missing (written before the journal existed, or
    /// its `.shelfready/` deleted): each manifest whose output is still what it recorded
    /// gives back the source's name, the file as ours, and the standing commit, so that
    /// names stay with their sources and nothing is made again.
    fn earlier_outputs(root: &Path) -> Vec<Record> {
        let mut names = Vec::new();
        let mut out = Vec::new();
        let manifests = walkdir::WalkDir::new(root.join("manifests")).follow_links(false);
        for e in manifests
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
        {
            let Ok(text) = std::fs::read(e.path()) else {
                continue;
            };
            let Ok(h) = serde_json::from_slice::<Handoff>(&text) else {
                continue;
            };
            let Some(asset) = &h.asset else {
                continue;
            };
            let rel = asset.path.as_str();
            let safe = !rel.split('/').any(|p| p == ".." || p.is_empty()) && !rel.starts_with('/');
            if !safe || !std::fs::read(root.join(rel)).is_ok_and(|b| sha256_hex(&b) == asset.sha256)
            {
                continue;
            }
            let manifest = e
                .path()
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if let Some(name) = h.id.strip_suffix(&format!(".{}", h.goal.spec_id)) {
                names.push(Record::Name {
                    key: h.provenance.source_key.clone(),
                    name: name.to_string(),
                });
            }
            out.push(Record::Intent {
                path: rel.to_string(),
                sha256: asset.sha256.clone(),
            });
            out.push(Record::Commit(Commit {
                key: h.provenance.source_key.clone(),
                spec: h.goal.spec_id.clone(),
                path: Some(rel.to_string()),
                sha256: Some(asset.sha256.clone()),
                source_sha256: h.provenance.source_sha256.clone(),
                spec_hash: h.goal.spec_hash.clone(),
                pipeline: h.provenance.pipeline_version.clone(),
                state: h.state,
                manifest,
                manifest_sha256: sha256_hex(&text),
            }));
        }
        let key = |r: &Record| serde_json::to_string(r).unwrap_or_default();
        names.sort_by_key(key);
        names.dedup();
        out.sort_by_key(key);
        // Names first: the index gives each name to one source (the first wins a clash).
        let mut seen = std::collections::HashSet::new();
        names.retain(|r| match r {
            Record::Name { name, .. } => seen.insert(name.to_lowercase()),
            _ => true,
        });
        names.extend(out);
        names
    }
}

impl Store for FolderStore {
    fn claim_name(&self, key: &str, wanted: &str) -> Result<Claim, StoreError> {
        let err = |error| StoreError::Write {
            path: self.journal.path().display().to_string(),
            error,
        };
        // One claim at a time: two sources must never be handed the same free name.
        let _one = self.claims.lock();
        let (claim, new) = {
            let index = self.journal.index();
            let owner =
                |name: &str| Ok::<_, StoreError>(index.owners.get(&name.to_lowercase()).cloned());
            rules::claim(key, wanted, index.names.get(key).cloned(), owner)?
        };
        if new {
            self.journal
                .append(
                    Record::Name {
                        key: key.to_string(),
                        name: claim.name.clone(),
                    },
                    true,
                )
                .map_err(err)?;
        }
        Ok(claim)
    }

    fn current(&self, source: &SourceName, spec: &Spec, source_sha256: &str) -> Option<Handoff> {
        let c = self
            .journal
            .index()
            .commits
            .get(&(source.key.clone(), spec.id.clone()))?
            .clone();
        let recorded = rules::Recorded {
            state: c.state,
            path: c.path.as_deref(),
            sha256: c.sha256.as_deref(),
            source_sha256: &c.source_sha256,
            spec_hash: &c.spec_hash,
            pipeline: &c.pipeline,
        };
        recorded
            .is_current(spec, source_sha256, |p| {
                std::fs::read(self.root.join(p)).ok()
            })
            .then(|| self.committed(&c))
            .flatten()
    }

    fn put_output(
        &self,
        source: &SourceName,
        spec: &Spec,
        bytes: &[u8],
    ) -> Result<PutOutput, StoreError> {
        let rel = Self::image_rel(&source.name, spec);
        // A file in the way with exactly these bytes loses nothing when taken as ours: it
        // is how outputs whose records were deleted are recovered (outputs are
        // deterministic, so an unchanged source and spec make the same bytes again).
        let at = self.root.join(&rel);
        let same = std::fs::symlink_metadata(&at)
            .is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
            && std::fs::read(&at).is_ok_and(|b| b == bytes);
        if !same && !self.ours_or_free(&rel)? {
            return Err(StoreError::NotOurs {
                path: self.root.join(&rel).display().to_string(),
            });
        }
        let write_err = |error| StoreError::Write {
            path: self.root.join(&rel).display().to_string(),
            error,
        };
        let sha256 = sha256_hex(bytes);
        let intent = Record::Intent {
            path: rel.clone(),
            sha256: sha256.clone(),
        };
        self.journal.append(intent, true).map_err(write_err)?;
        write_atomic(&self.root.join(&rel), bytes).map_err(write_err)?;
        Ok(PutOutput { path: rel, sha256 })
    }

    fn remove_output(&self, source: &SourceName, spec: &Spec) -> Result<(), StoreError> {
        let rel = Self::image_rel(&source.name, spec);
        let path = self.root.join(&rel);
        if std::fs::symlink_metadata(&path).is_err() || !self.ours_or_free(&rel)? {
            return Ok(());
        }
        let err = |error| StoreError::Write {
            path: path.display().to_string(),
            error,
        };
        std::fs::remove_file(&path).map_err(err)?;
        self.journal
            .append(Record::Removed { path: rel.clone() }, false)
            .map_err(err)
    }

    fn put_handoff(
        &self,
        source: &SourceName,
        spec: &Spec,
        handoff: &Handoff,
    ) -> Result<(), StoreError> {
        let rel = Self::manifest_rel(&source.name, spec);
        let path = self.root.join(&rel);
        let json = super::write_manifest(&path, handoff)?;
        let commit = Commit {
            key: source.key.clone(),
            spec: spec.id.clone(),
            path: handoff.asset.as_ref().map(|a| a.path.clone()),
            sha256: handoff.asset.as_ref().map(|a| a.sha256.clone()),
            source_sha256: handoff.provenance.source_sha256.clone(),
            spec_hash: handoff.goal.spec_hash.clone(),
            pipeline: handoff.provenance.pipeline_version.clone(),
            state: handoff.state,
            manifest: rel,
            manifest_sha256: sha256_hex(json.as_bytes()),
        };
        self.journal
            .append(Record::Commit(commit), false)
            .map_err(|error| StoreError::Manifest {
                path: path.display().to_string(),
                error,
            })
    }

    fn handoffs(&self) -> Vec<Handoff> {
        let mut commits: Vec<Commit> = self.journal.index().commits.values().cloned().collect();
        commits.sort_by(|a, b| (&a.key, &a.spec).cmp(&(&b.key, &b.spec)));
        commits.iter().filter_map(|c| self.committed(c)).collect()
    }

    fn put_batch(&self, manifest: &BatchManifest) -> Result<(), StoreError> {
        let path = self.root.join("manifest.json");
        super::write_manifest(&path, manifest).map(|_| ())
    }

    fn manifest(&self) -> Result<Option<BatchManifest>, StoreError> {
        let path = self.root.join("manifest.json");
        match std::fs::read(&path) {
            Ok(b) => Ok(serde_json::from_slice(&b).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StoreError::Read {
                path: path.display().to_string(),
                error,
            }),
        }
    }
}
