//! [`JobStore`] over the SQL seam: the statements, written once for both databases.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{asset_row, batch_row_of, deliveries, outputs, queue, SqlStore, ASSET_COLUMNS};
use crate::handoff::{Handoff, Timestamp};
use crate::naming;
use crate::spec::Spec;
use crate::store::{
    AssetRow, BatchRow, BatchState, Deletion, Delivery, FileAt, Idempotency, JobStore, KeyedBatch,
    Objects, RecordedTransition, Store, StoreError, Work, RECEIVING_MARK,
};

/// How old an upload-in-progress mark must be before a store whose data folder is shared
/// (PostgreSQL) takes its folder for abandoned: younger, it may be another node's upload
/// still arriving (no upload takes an hour; a cut-off one is removed at a later start).
const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

impl JobStore for SqlStore {
    fn root(&self) -> &Path {
        self.root_path()
    }

    fn reachable(&self) -> bool {
        // A real table, read at constant cost: a database that answers but cannot read
        // its pages is not ready.
        self.row("SELECT id FROM batches LIMIT 1", &[]).is_ok()
    }

    fn create_batch(
        &self,
        id: &str,
        specs: &[String],
        created_at: &Timestamp,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<String, StoreError> {
        let specs = specs.join(",");
        let created_at = created_at.to_string();
        let key = idempotency.map(|i| i.key);
        self.with(|db| {
            // One statement, so two nodes sent the same key at once (PostgreSQL) make one
            // batch: the second finds the key taken and answers with the first's id.
            let made = db.execute(
                "INSERT INTO batches (id, created_at, specs, idempotency_key,
                                      idempotency_fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (idempotency_key) DO NOTHING",
                &[
                    id.into(),
                    (&created_at).into(),
                    (&specs).into(),
                    key.into(),
                    idempotency.map(|i| i.fingerprint).into(),
                ],
            )?;
            match key {
                Some(k) if made == 0 => db.query_value(
                    "SELECT id FROM batches WHERE idempotency_key = ?1",
                    &[k.into()],
                ),
                _ => Ok(id.to_string()),
            }
        })
    }

    fn batch_ids(&self) -> Result<Vec<String>, StoreError> {
        self.column("SELECT id FROM batches ORDER BY created_at, id", &[])
    }

    fn delete_batch(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.delete(id, false)? == Deletion::Deleted)
    }

    fn delete_settled_batch(&self, id: &str) -> Result<Deletion, StoreError> {
        self.delete(id, true)
    }

    fn transitions(
        &self,
        batch: &str,
        key: &str,
        spec: &str,
    ) -> Result<Vec<RecordedTransition>, StoreError> {
        self.with(|db| outputs::transitions(db, batch, key, spec))
    }

    fn batch_row(&self, id: &str) -> Result<Option<BatchRow>, StoreError> {
        self.row(
            "SELECT id, created_at, specs, state, settled_at FROM batches WHERE id = ?1",
            &[id.into()],
        )?
        .map(|r| batch_row_of(&r))
        .transpose()
    }

    fn batch_with_key(&self, key: &str) -> Result<Option<KeyedBatch>, StoreError> {
        self.row(
            "SELECT id, idempotency_fingerprint FROM batches WHERE idempotency_key = ?1",
            &[key.into()],
        )?
        .map(|r| {
            Ok(KeyedBatch {
                id: r.get(0)?,
                fingerprint: r.get(1)?,
            })
        })
        .transpose()
    }

    fn remove_abandoned_uploads(&self) -> Result<usize, StoreError> {
        let dir = self.root_path().join("batches");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let known: std::collections::HashSet<String> = self.batch_ids()?.into_iter().collect();
        let mut n = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if known.contains(&name) || !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            // Only a folder this store marked as an upload in progress is ours to delete.
            let Ok(mark) = std::fs::metadata(path.join(RECEIVING_MARK)) else {
                tracing::warn!(
                    "{}: a batch folder the database has no record of; left alone",
                    crate::naming::printable(&path.display().to_string())
                );
                continue;
            };
            // With SQLite this process owns the folder, so a marked folder is a cut-off
            // upload. With PostgreSQL other nodes share the folder: a young mark may be
            // an upload still arriving on one of them, and is left for a later start.
            if self.dialect.shared() {
                let age = mark
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .unwrap_or_default();
                if age < ABANDONED_AFTER {
                    continue;
                }
            }
            tracing::warn!(batch = %name, "removing an upload that was cut off before its answer");
            std::fs::remove_dir_all(&path).map_err(|error| StoreError::Write {
                path: path.display().to_string(),
                error,
            })?;
            n += 1;
        }
        Ok(n)
    }

    fn set_batch_state(
        &self,
        id: &str,
        state: BatchState,
        at: &Timestamp,
    ) -> Result<(), StoreError> {
        let settled_at = (state == BatchState::Settled).then(|| at.to_string());
        self.exec(
            "UPDATE batches SET state = ?2, settled_at = ?3 WHERE id = ?1",
            &[id.into(), state.as_str().into(), (&settled_at).into()],
        )
        .map(drop)
    }

    fn add_asset(&self, batch: &str, a: &AssetRow) -> Result<(), StoreError> {
        let context = serde_json::to_string(&a.context).unwrap_or_default();
        let failure = a
            .failure
            .as_ref()
            .and_then(|f| serde_json::to_string(f).ok());
        self.with(|db| {
            db.transaction(|tx| {
                tx.execute(
                    "INSERT INTO assets (batch_id, seq, source_key, upload_name, original,
                                         bytes, context, failure)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    &[
                        batch.into(),
                        a.seq.into(),
                        (&a.source_key).into(),
                        (&a.upload_name).into(),
                        (&a.original).into(),
                        i64::try_from(a.bytes).unwrap_or(i64::MAX).into(),
                        (&context).into(),
                        (&failure).into(),
                    ],
                )?;
                // Counted before its bytes are put: a batch letting go of the same
                // original meanwhile then keeps it (or has deleted it before the put).
                if is_original_key(&a.original) {
                    tx.execute(
                        "INSERT INTO originals (key, refs) VALUES (?1, 1)
                         ON CONFLICT (key) DO UPDATE SET refs = originals.refs + 1",
                        &[(&a.original).into()],
                    )?;
                }
                Ok(())
            })
        })
    }

    fn assets(&self, batch: &str) -> Result<Vec<AssetRow>, StoreError> {
        self.with(|db| {
            db.query(
                &format!("SELECT {ASSET_COLUMNS} FROM assets WHERE batch_id = ?1 ORDER BY seq"),
                &[batch.into()],
            )?
            .iter()
            .map(asset_row)
            .collect()
        })
    }

    fn set_asset_original(
        &self,
        batch: &str,
        key: &str,
        original: &Path,
    ) -> Result<(), StoreError> {
        let original = original.display().to_string();
        self.exec(
            "UPDATE assets SET original = ?3 WHERE batch_id = ?1 AND source_key = ?2",
            &[batch.into(), key.into(), (&original).into()],
        )
        .map(drop)
    }

    fn waiting(&self) -> Result<Vec<(String, i64, Handoff)>, StoreError> {
        self.with(outputs::waiting)
    }

    fn handoff(&self, batch: &str, key: &str, spec: &str) -> Result<Option<Handoff>, StoreError> {
        let text: Option<String> = self
            .row(
                "SELECT handoff FROM outputs
                 WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3",
                &[batch.into(), key.into(), spec.into()],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn outputs_by_state(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.with(outputs::by_state)
    }

    fn batch_dir(&self, id: &str) -> PathBuf {
        self.batch_dir_of(id)
    }

    fn objects(&self) -> &Objects {
        &self.objects
    }

    fn batch_files(&self, id: &str) -> Result<Objects, StoreError> {
        match self.batch_home(id) {
            // A watched inbox's batch keeps its files beside the inbox, a local folder by
            // nature: watch needs the local data folder.
            Some(home) => Objects::local(&home),
            None => Ok(self
                .objects
                .scoped(&format!("batches/{}", naming::part(id)))),
        }
    }

    fn original_at(&self, batch: &str, original: &str) -> FileAt {
        if !self.objects.is_local() && is_original_key(original) {
            return FileAt::Object {
                objects: self.objects.clone(),
                key: original.to_string(),
            };
        }
        FileAt::Path(self.batch_dir_of(batch).join(original))
    }

    fn made_before(
        &self,
        source_sha256: &str,
        spec: &Spec,
        context: &crate::handoff::Context,
        not_in: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        self.with(|db| outputs::made_before(db, source_sha256, spec, context, not_in))
    }

    fn recent_batches(&self, limit: usize) -> Result<Vec<(BatchRow, String)>, StoreError> {
        self.with(|db| {
            db.query(
                "SELECT id, created_at, specs, state, settled_at, origin FROM batches
                 WHERE state <> 'receiving' ORDER BY created_at DESC, id DESC LIMIT ?1",
                &[i64::try_from(limit).unwrap_or(i64::MAX).into()],
            )?
            .iter()
            .map(|r| Ok((batch_row_of(r)?, r.get(5)?)))
            .collect()
        })
    }

    fn set_batch_home(&self, id: &str, dir: Option<&Path>, origin: &str) -> Result<(), StoreError> {
        let dir = dir.map(|d| d.display().to_string());
        self.exec(
            "UPDATE batches SET dir = ?2, origin = ?3 WHERE id = ?1",
            &[id.into(), dir.as_deref().into(), origin.into()],
        )
        .map(drop)
    }

    fn set_batch_hand_back(&self, id: &str, to: Option<&str>) -> Result<(), StoreError> {
        self.exec(
            "UPDATE batches SET hand_back = ?2 WHERE id = ?1",
            &[id.into(), to.into()],
        )
        .map(drop)
    }

    fn batches_to_hand_back(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|db| {
            db.query(
                "SELECT id, hand_back FROM batches WHERE hand_back IS NOT NULL
                 ORDER BY created_at, id",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
        })
    }

    fn set_batch_webhook(&self, id: &str, url: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE batches SET webhook = ?2 WHERE id = ?1",
            &[id.into(), url.into()],
        )
        .map(drop)
    }

    fn batch_webhook(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .row("SELECT webhook FROM batches WHERE id = ?1", &[id.into()])?
            .map(|r| r.get(0))
            .transpose()?
            .flatten())
    }

    fn add_delivery(
        &self,
        batch: &str,
        asset: &str,
        event: &str,
        url: &str,
        body: &str,
        now: &Timestamp,
    ) -> Result<(), StoreError> {
        self.with(|db| deliveries::add(db, batch, asset, event, url, body, now))
    }

    fn has_delivery(&self, asset: &str, event: &str) -> Result<bool, StoreError> {
        self.with(|db| deliveries::has(db, asset, event))
    }

    fn deliveries(&self, batch: &str) -> Result<Vec<Delivery>, StoreError> {
        self.with(|db| deliveries::of_batch(db, batch))
    }

    fn due_deliveries(&self, now: &Timestamp) -> Result<Vec<Delivery>, StoreError> {
        self.with(|db| deliveries::due(db, now))
    }

    fn record_attempt(
        &self,
        id: i64,
        status: Option<i64>,
        error: Option<&str>,
        delivered: Option<&Timestamp>,
        next_at: Option<&Timestamp>,
    ) -> Result<(), StoreError> {
        self.with(|db| deliveries::record_attempt(db, id, status, error, delivered, next_at))
    }

    fn set_batch_intake(&self, id: &str, json: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE batches SET intake = ?2 WHERE id = ?1",
            &[id.into(), json.into()],
        )
        .map(drop)
    }

    fn batch_intake(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .row("SELECT intake FROM batches WHERE id = ?1", &[id.into()])?
            .map(|r| r.get(0))
            .transpose()?
            .flatten())
    }

    fn batches_from(&self, origin: &str, state: BatchState) -> Result<Vec<String>, StoreError> {
        self.column(
            "SELECT id FROM batches WHERE origin = ?1 AND state = ?2 ORDER BY created_at, id",
            &[origin.into(), state.as_str().into()],
        )
    }

    fn batch(&self, id: &str) -> Box<dyn Store + '_> {
        Box::new(self.batch_store(id))
    }

    fn batch_for_worker(&self, id: &str, worker: &str) -> Box<dyn Store + '_> {
        let mut store = self.batch_store(id);
        store.worker = Some(worker.to_string());
        Box::new(store)
    }

    fn queued_outputs(&self) -> Result<usize, StoreError> {
        self.with(queue::queued_outputs)
    }

    fn requeue_retryable(&self, origin: &str) -> Result<Vec<String>, StoreError> {
        self.with(|db| queue::requeue_retryable(db, origin))
    }

    fn queue_work(&self, batch: &str, now: &Timestamp) -> Result<usize, StoreError> {
        self.with(|db| queue::queue(db, batch, now))
    }

    fn claim_work(
        &self,
        worker: &str,
        now: &Timestamp,
        lease_until: &Timestamp,
    ) -> Result<Option<Work>, StoreError> {
        self.with(|db| queue::claim(db, worker, now, lease_until))
    }

    fn renew_lease(
        &self,
        batch: &str,
        key: &str,
        worker: &str,
        until: &Timestamp,
    ) -> Result<bool, StoreError> {
        self.with(|db| queue::renew(db, batch, key, worker, until))
    }

    fn complete_work(
        &self,
        batch: &str,
        key: &str,
        worker: &str,
        now: &Timestamp,
    ) -> Result<Option<usize>, StoreError> {
        self.with(|db| queue::complete(db, batch, key, worker, now))
    }

    fn release_work(&self, batch: &str, key: &str, worker: &str) -> Result<(), StoreError> {
        self.with(|db| queue::release(db, batch, key, worker))
    }

    fn wait_for_work(&self, timeout: Duration) -> Result<bool, StoreError> {
        self.wait(timeout)
    }
}

impl SqlStore {
    /// Deletes a batch (only a settled one, if `settled_only`): its row locked first, so a
    /// second delete waits and then finds nothing, an asset being added to it is counted
    /// below or refused, and its state cannot change between the look and the delete.
    fn delete(&self, id: &str, settled_only: bool) -> Result<Deletion, StoreError> {
        let dir = self.batch_dir(id);
        let files = self.batch_files(id)?;
        let lock = self.dialect.row_lock();
        let n = self.with(|db| {
            db.transaction(|tx| {
                let state: Option<String> = tx
                    .query_opt(
                        &format!("SELECT state FROM batches WHERE id = ?1 {lock}"),
                        &[id.into()],
                    )?
                    .map(|r| r.get(0))
                    .transpose()?;
                match state {
                    None => return Ok(Deletion::NotFound),
                    Some(s) if settled_only && BatchState::parse(&s) != BatchState::Settled => {
                        return Ok(Deletion::Unsettled)
                    }
                    Some(_) => {}
                }
                // Only the assets this statement removed give back their count.
                let mut named: Vec<String> = tx
                    .query(
                        "DELETE FROM assets WHERE batch_id = ?1 RETURNING original",
                        &[id.into()],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect::<Result<_, _>>()?;
                let n = tx.execute("DELETE FROM batches WHERE id = ?1", &[id.into()])?;
                // In key order, so two deletes counting down shared originals never wait
                // on each other in a circle.
                named.retain(|k| is_original_key(k));
                named.sort();
                for k in &named {
                    tx.execute(
                        "UPDATE originals SET refs = refs - 1 WHERE key = ?1",
                        &[k.into()],
                    )?;
                }
                Ok(if n > 0 {
                    Deletion::Deleted
                } else {
                    Deletion::NotFound
                })
            })
        })?;
        if n != Deletion::Deleted {
            return Ok(n); // nothing of it was touched
        }
        // A bucket's batch files go first; the local folder (what an upload left there,
        // or the whole batch when the files are local) after; then the originals in the
        // bucket no batch names any more (shared by content, they stay while one does).
        if !files.is_local() {
            files.delete_prefix("")?;
        }
        self.forget_originals()?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|error| StoreError::Write {
                path: dir.display().to_string(),
                error,
            })?;
        }
        Ok(n)
    }
}

impl SqlStore {
    /// Deletes the originals of the bucket no asset names any more, each under its
    /// counter row's lock: an upload of the same photo meanwhile waits to count it (and
    /// then puts it again), so no batch is left naming a deleted original. Counters a
    /// process left at nothing (it stopped between the two steps) are taken up too.
    fn forget_originals(&self) -> Result<(), StoreError> {
        let unused: Vec<String> = self.column(
            "SELECT key FROM originals WHERE refs <= 0 ORDER BY key",
            &[],
        )?;
        let lock = self.dialect.row_lock();
        for k in unused {
            self.with(|db| {
                db.transaction(|tx| {
                    let refs: Option<i64> = tx
                        .query_opt(
                            &format!("SELECT refs FROM originals WHERE key = ?1 {lock}"),
                            &[(&k).into()],
                        )?
                        .map(|r| r.get(0))
                        .transpose()?;
                    if refs.is_some_and(|n| n <= 0) {
                        self.objects.delete(&k)?;
                        tx.execute("DELETE FROM originals WHERE key = ?1", &[(&k).into()])?;
                    }
                    Ok(())
                })
            })?;
        }
        Ok(())
    }
}

/// Whether an asset's `original` names a content-addressed object: `originals/<sha256>`.
fn is_original_key(original: &str) -> bool {
    original
        .strip_prefix("originals/")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}
