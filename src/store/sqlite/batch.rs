//! One batch's names, outputs and handoffs in the database, as the engine's jobs use them.

use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};

use super::{db_err, SqliteStore};
use crate::handoff::{BatchManifest, Handoff, State};
use crate::spec::Spec;
use crate::store::{
    rules, sha256_hex, write_atomic, BatchMark, Claim, JobStore, PutOutput, SourceName, Store,
    StoreError,
};

/// One batch of a [`SqliteStore`]: names, outputs and handoffs scoped to it.
pub struct BatchStore<'a> {
    pub(super) store: &'a SqliteStore,
    pub(super) batch: String,
}

impl BatchStore<'_> {
    fn dir(&self) -> PathBuf {
        self.store.batch_dir(&self.batch)
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
        let mut db = self.store.conn();
        let tx = db.transaction().map_err(db_err)?;
        let owner = |name: &str| -> Result<Option<String>, StoreError> {
            tx.query_row(
                "SELECT source_key FROM names WHERE batch_id = ?1 AND name_lower = ?2",
                params![self.batch, name.to_lowercase()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
        };
        let given: Option<String> = tx
            .query_row(
                "SELECT name FROM names WHERE batch_id = ?1 AND source_key = ?2",
                params![self.batch, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        let (claim, new) = rules::claim(key, wanted, given, owner)?;
        if !new {
            return Ok(claim);
        }
        tx.execute(
            "INSERT INTO names (batch_id, source_key, name, name_lower) VALUES (?1, ?2, ?3, ?4)",
            params![self.batch, key, claim.name, claim.name.to_lowercase()],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(claim)
    }

    fn current(&self, source: &SourceName, spec: &Spec, source_sha256: &str) -> Option<Handoff> {
        let row: (
            String,
            Option<String>,
            Option<String>,
            String,
            String,
            String,
            String,
        ) = self
            .store
            .conn()
            .query_row(
                "SELECT state, path, sha256, source_sha256, spec_hash, pipeline, handoff
                 FROM outputs WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3",
                params![self.batch, source.key, spec.id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .ok()?;
        let (state, path, sha, src, spec_hash, pipeline, handoff) = row;
        let recorded = rules::Recorded {
            state: State::parse(&state)?,
            path: path.as_deref(),
            sha256: sha.as_deref(),
            source_sha256: &src,
            spec_hash: &spec_hash,
            pipeline: &pipeline,
        };
        recorded
            .is_current(spec, source_sha256, |p| {
                std::fs::read(self.dir().join(p)).ok()
            })
            .then(|| serde_json::from_str(&handoff).ok())
            .flatten()
    }

    fn put_output(
        &self,
        source: &SourceName,
        spec: &Spec,
        bytes: &[u8],
    ) -> Result<PutOutput, StoreError> {
        // The data folder is the store's alone: nothing of anyone else's can be in the way.
        let rel = image_rel(&source.name, spec);
        let path = self.dir().join(&rel);
        write_atomic(&path, bytes).map_err(|error| StoreError::Write {
            path: path.display().to_string(),
            error,
        })?;
        Ok(PutOutput {
            path: rel,
            sha256: sha256_hex(bytes),
        })
    }

    fn remove_output(&self, source: &SourceName, spec: &Spec) -> Result<(), StoreError> {
        let path = self.dir().join(image_rel(&source.name, spec));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Write {
                path: path.display().to_string(),
                error: e,
            }),
            _ => Ok(()),
        }
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
        let path = self.dir().join(&rel);
        let json = crate::store::manifest_json(&path, handoff)?;
        let mut db = self.store.conn();
        let tx = db.transaction().map_err(db_err)?;
        tx.execute(
            "INSERT INTO outputs (batch_id, source_key, spec_id, state, path, sha256,
                                  source_sha256, spec_hash, pipeline, handoff)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (batch_id, source_key, spec_id) DO UPDATE SET
                 state = excluded.state, path = excluded.path, sha256 = excluded.sha256,
                 source_sha256 = excluded.source_sha256, spec_hash = excluded.spec_hash,
                 pipeline = excluded.pipeline, handoff = excluded.handoff",
            params![
                self.batch,
                source.key,
                spec.id,
                handoff.state.as_str(),
                handoff.asset.as_ref().map(|a| a.path.clone()),
                handoff.asset.as_ref().map(|a| a.sha256.clone()),
                handoff.provenance.source_sha256,
                handoff.goal.spec_hash,
                handoff.provenance.pipeline_version,
                json,
            ],
        )
        .map_err(db_err)?;
        // A handoff carries its whole history: the changes past those recorded before are
        // new (a decision, a retry, a write failure put the handoff again).
        let recorded: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM transitions
                 WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3",
                params![self.batch, source.key, spec.id],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        let recorded = usize::try_from(recorded).unwrap_or(0);
        for (i, t) in handoff.history.iter().enumerate().skip(recorded) {
            tx.execute(
                "INSERT INTO transitions (batch_id, source_key, spec_id, seq, from_state,
                                          to_state, at, actor, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    self.batch,
                    source.key,
                    spec.id,
                    i as i64 + 1,
                    t.from.map(State::as_str),
                    t.to.as_str(),
                    t.at.to_string(),
                    t.actor,
                    t.note,
                ],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        drop(db);
        crate::store::write_manifest_text(&path, &json)
    }

    fn handoffs(&self) -> Vec<Handoff> {
        let db = self.store.conn();
        let Ok(mut q) = db.prepare(
            "SELECT handoff FROM outputs WHERE batch_id = ?1 ORDER BY source_key, spec_id",
        ) else {
            return Vec::new();
        };
        q.query_map([&self.batch], |r| r.get::<_, String>(0))
            .map(|rows| {
                rows.flatten()
                    .filter_map(|t| serde_json::from_str(&t).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The batch manifest last put, if any.
    fn manifest(&self) -> Result<Option<BatchManifest>, StoreError> {
        let text: Option<Option<String>> = self
            .store
            .conn()
            .query_row(
                "SELECT manifest FROM batches WHERE id = ?1",
                [&self.batch],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        Ok(text.flatten().and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn put_batch(&self, manifest: &BatchManifest) -> Result<(), StoreError> {
        let path = self.dir().join("manifest.json");
        let json = crate::store::write_manifest(&path, manifest)?;
        let mark = BatchMark {
            data_dir: std::path::absolute(&self.store.root)
                .unwrap_or_else(|_| self.store.root.clone()),
            batch: self.batch.clone(),
        };
        crate::store::write_manifest(&self.dir().join(".shelfready").join("store.json"), &mark)?;
        self.store
            .conn()
            .execute(
                "UPDATE batches SET manifest = ?2 WHERE id = ?1",
                params![self.batch, json],
            )
            .map_err(db_err)?;
        Ok(())
    }
}
