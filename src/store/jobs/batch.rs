//! One batch's names, outputs and handoffs in the database, as the engine's jobs use them.

use super::{queue, SqlStore};
use crate::handoff::{BatchManifest, Handoff, State};
use crate::spec::Spec;
use crate::store::sql::Conn;
use crate::store::{
    manifest_json, rules, sha256_hex, BatchMark, Claim, JobStore, Objects, PutOutput, SourceName,
    Store, StoreError,
};

/// A manifest's write failure as a manifest's (its own code), not an image's.
fn manifest_err(e: StoreError) -> StoreError {
    match e {
        StoreError::Write { path, error } => StoreError::Manifest { path, error },
        other => other,
    }
}

/// One batch of a [`SqlStore`]: names, outputs and handoffs scoped to it. A batch store
/// for a worker ([`JobStore::batch_for_worker`]) writes a source's output and handoff only
/// while that worker holds the source on the queue.
pub struct BatchStore<'a> {
    pub(super) store: &'a SqlStore,
    pub(super) batch: String,
    pub(super) worker: Option<String>,
}

impl BatchStore<'_> {
    /// The batch's files: its folder, or its prefix in the bucket.
    fn files(&self) -> Result<Objects, StoreError> {
        self.store.batch_files(&self.batch)
    }

    /// Refuses a write for `key` when this store is a worker's and the worker no longer
    /// holds the source; on PostgreSQL the source's row stays locked until `db`'s
    /// transaction ends, so it cannot be taken over before the write it guards.
    fn guard(&self, db: &mut dyn Conn, key: &str) -> Result<(), StoreError> {
        let Some(worker) = &self.worker else {
            return Ok(());
        };
        if queue::hold(db, &self.batch, key, worker)? {
            return Ok(());
        }
        Err(StoreError::LeaseLost {
            batch: self.batch.clone(),
            key: key.to_string(),
            worker: worker.clone(),
        })
    }
}

fn image_rel(name: &str, spec: &Spec) -> String {
    format!("outputs/{}/{}.{}", spec.id, name, spec.format.extension())
}

fn manifest_rel(name: &str, spec: &Spec) -> String {
    format!("manifests/{name}.{}.json", spec.id)
}

impl Store for BatchStore<'_> {
    fn claim_name(&self, key: &str, wanted: &str) -> Result<Claim, StoreError> {
        let batch = self.batch.as_str();
        self.store.with(|db| {
            db.transaction(|tx| {
                if tx.dialect().shared() {
                    // Locks the batch's row first: claims in one batch from several
                    // processes take turns instead of racing for a name (SQLite writes
                    // one at a time already).
                    tx.execute(
                        "UPDATE batches SET specs = specs WHERE id = ?1",
                        &[batch.into()],
                    )?;
                }
                let given: Option<String> = tx
                    .query_opt(
                        "SELECT name FROM names WHERE batch_id = ?1 AND source_key = ?2",
                        &[batch.into(), key.into()],
                    )?
                    .map(|r| r.get(0))
                    .transpose()?;
                let tx = std::cell::RefCell::new(tx);
                let owner = |name: &str| -> Result<Option<String>, StoreError> {
                    let lower = name.to_lowercase();
                    tx.borrow_mut()
                        .query_opt(
                            "SELECT source_key FROM names WHERE batch_id = ?1 AND name_lower = ?2",
                            &[batch.into(), (&lower).into()],
                        )?
                        .map(|r| r.get(0))
                        .transpose()
                };
                let (claim, new) = rules::claim(key, wanted, given, owner)?;
                if new {
                    let lower = claim.name.to_lowercase();
                    tx.borrow_mut().execute(
                        "INSERT INTO names (batch_id, source_key, name, name_lower)
                         VALUES (?1, ?2, ?3, ?4)",
                        &[
                            batch.into(),
                            key.into(),
                            (&claim.name).into(),
                            (&lower).into(),
                        ],
                    )?;
                }
                Ok(claim)
            })
        })
    }

    fn current(&self, source: &SourceName, spec: &Spec, source_sha256: &str) -> Option<Handoff> {
        let r = self
            .store
            .row(
                "SELECT state, path, sha256, source_sha256, spec_hash, pipeline, handoff
                 FROM outputs WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3",
                &[
                    (&self.batch).into(),
                    (&source.key).into(),
                    (&spec.id).into(),
                ],
            )
            .ok()??;
        let state: String = r.get(0).ok()?;
        let path: Option<String> = r.get(1).ok()?;
        let sha: Option<String> = r.get(2).ok()?;
        let (src, spec_hash, pipeline, handoff): (String, String, String, String) = (
            r.get(3).ok()?,
            r.get(4).ok()?,
            r.get(5).ok()?,
            r.get(6).ok()?,
        );
        let recorded = rules::Recorded {
            state: State::parse(&state)?,
            path: path.as_deref(),
            sha256: sha.as_deref(),
            source_sha256: &src,
            spec_hash: &spec_hash,
            pipeline: &pipeline,
        };
        // The output is read again and hashed, in a bucket too: an ETag is no sha256 (an
        // MD5, or none for a multipart put), and a re-run reads each output once.
        let files = self.files().ok()?;
        recorded
            .is_current(spec, source_sha256, |p| files.get(p).ok().flatten())
            .then(|| serde_json::from_str(&handoff).ok())
            .flatten()
    }

    fn put_output(
        &self,
        source: &SourceName,
        spec: &Spec,
        bytes: &[u8],
    ) -> Result<PutOutput, StoreError> {
        // A worker that lost the source leaves the file to the one that holds it (the
        // check narrows the window; the handoff's guard below closes it: a file written
        // late is not the one recorded, and is made again).
        self.store.with(|db| self.guard(db, &source.key))?;
        // The data folder is the store's alone: nothing of anyone else's can be in the way.
        let rel = image_rel(&source.name, spec);
        self.files()?.put(&rel, bytes)?;
        Ok(PutOutput {
            path: rel,
            sha256: sha256_hex(bytes),
        })
    }

    fn remove_output(&self, source: &SourceName, spec: &Spec) -> Result<(), StoreError> {
        self.store.with(|db| self.guard(db, &source.key))?;
        self.files()?.delete(&image_rel(&source.name, spec))
    }

    fn put_handoff(
        &self,
        source: &SourceName,
        spec: &Spec,
        handoff: &Handoff,
    ) -> Result<(), StoreError> {
        // The row is the record and goes first: a manifest file the disk cannot take
        // (full, a path too long) must not leave the output unrecorded.
        let rel = manifest_rel(&source.name, spec);
        let files = self.files()?;
        let json = manifest_json(std::path::Path::new(&rel), handoff)?;
        let batch = self.batch.as_str();
        let key = source.key.as_str();
        let spec_id = spec.id.as_str();
        let asset = handoff.asset.as_ref();
        self.store.with(|db| {
            db.transaction(|tx| {
                self.guard(tx, key)?;
                tx.execute(
                    "INSERT INTO outputs (batch_id, source_key, spec_id, state, path, sha256,
                                          source_sha256, spec_hash, pipeline, handoff)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (batch_id, source_key, spec_id) DO UPDATE SET
                         state = excluded.state, path = excluded.path, sha256 = excluded.sha256,
                         source_sha256 = excluded.source_sha256, spec_hash = excluded.spec_hash,
                         pipeline = excluded.pipeline, handoff = excluded.handoff",
                    &[
                        batch.into(),
                        key.into(),
                        spec_id.into(),
                        handoff.state.as_str().into(),
                        asset.map(|a| a.path.as_str()).into(),
                        asset.map(|a| a.sha256.as_str()).into(),
                        (&handoff.provenance.source_sha256).into(),
                        (&handoff.goal.spec_hash).into(),
                        (&handoff.provenance.pipeline_version).into(),
                        (&json).into(),
                    ],
                )?;
                // A handoff carries its whole history: the changes past those recorded
                // before are new (a decision, a retry, a write failure put it again).
                let recorded: i64 = tx.query_value(
                    "SELECT COALESCE(MAX(seq), 0) FROM transitions
                     WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3",
                    &[batch.into(), key.into(), spec_id.into()],
                )?;
                let recorded = usize::try_from(recorded).unwrap_or(0);
                for (i, t) in handoff.history.iter().enumerate().skip(recorded) {
                    let at = t.at.to_string();
                    tx.execute(
                        "INSERT INTO transitions (batch_id, source_key, spec_id, seq,
                                                  from_state, to_state, at, actor, note)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        &[
                            batch.into(),
                            key.into(),
                            spec_id.into(),
                            (i as i64 + 1).into(),
                            t.from.map(State::as_str).into(),
                            t.to.as_str().into(),
                            (&at).into(),
                            (&t.actor).into(),
                            (&t.note).into(),
                        ],
                    )?;
                }
                Ok(())
            })
        })?;
        files.put(&rel, json.as_bytes()).map_err(manifest_err)
    }

    fn handoffs(&self) -> Vec<Handoff> {
        self.store
            .column::<String>(
                "SELECT handoff FROM outputs WHERE batch_id = ?1 ORDER BY source_key, spec_id",
                &[(&self.batch).into()],
            )
            .unwrap_or_default()
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect()
    }

    /// The batch manifest last put, if any.
    fn manifest(&self) -> Result<Option<BatchManifest>, StoreError> {
        let text: Option<String> = self
            .store
            .row(
                "SELECT manifest FROM batches WHERE id = ?1",
                &[(&self.batch).into()],
            )?
            .map(|r| r.get(0))
            .transpose()?
            .flatten();
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn put_batch(&self, manifest: &BatchManifest) -> Result<(), StoreError> {
        let files = self.files()?;
        let json = manifest_json(std::path::Path::new("manifest.json"), manifest)?;
        files
            .put("manifest.json", json.as_bytes())
            .map_err(manifest_err)?;
        let root = self.store.root_path();
        let mark = BatchMark {
            data_dir: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
            batch: self.batch.clone(),
            shared: self.store.dialect == crate::store::sql::Dialect::Postgres,
        };
        let mark_rel = ".shelfready/store.json";
        let mark_json = manifest_json(std::path::Path::new(mark_rel), &mark)?;
        files
            .put(mark_rel, mark_json.as_bytes())
            .map_err(manifest_err)?;
        self.store.exec(
            "UPDATE batches SET manifest = ?2 WHERE id = ?1",
            &[(&self.batch).into(), (&json).into()],
        )?;
        Ok(())
    }
}
