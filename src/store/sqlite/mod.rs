//! The embedded job store of `serve` and `watch`: a SQLite database (WAL) holding batches,
//! the names given to sources, the output and handoff standing for each source and spec,
//! and every state transition with time and actor; images and manifests live in a data
//! folder beside it, `batches/<batch>/{outputs/<spec>/,manifests/}`.
//!
//! The SQL stays portable (TEXT and INTEGER columns, composite keys instead of
//! AUTOINCREMENT, `ON CONFLICT ... DO UPDATE` upserts that PostgreSQL also has), so that a
//! PostgreSQL backend is a second implementation of the same statements.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::{
    AssetRow, BatchRow, BatchState, Delivery, Idempotency, JobStore, KeyedBatch,
    RecordedTransition, Store, StoreError, Work, RECEIVING_MARK,
};
use crate::handoff::{Handoff, Timestamp};
use crate::naming;
use crate::spec::Spec;

mod batch;
mod deliveries;
mod outputs;
mod queue;
mod schema;

pub use batch::BatchStore;
use schema::MIGRATIONS;

/// The columns of an [`AssetRow`], in the order [`asset_row`] reads them.
const ASSET_COLUMNS: &str = "seq, source_key, upload_name, original, bytes, context, failure";

fn asset_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AssetRow> {
    let context: String = r.get(5)?;
    let failure: Option<String> = r.get(6)?;
    Ok(AssetRow {
        seq: r.get(0)?,
        source_key: r.get(1)?,
        upload_name: r.get(2)?,
        original: r.get(3)?,
        bytes: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        context: serde_json::from_str(&context).unwrap_or_default(),
        failure: failure.and_then(|f| serde_json::from_str(&f).ok()),
    })
}

fn db_err(error: rusqlite::Error) -> StoreError {
    StoreError::Database {
        error: error.to_string(),
    }
}

/// A `batches` row whose first columns are id, created_at, specs, state, settled_at.
fn batch_row_of(r: &rusqlite::Row) -> rusqlite::Result<BatchRow> {
    let specs: String = r.get(2)?;
    Ok(BatchRow {
        id: r.get(0)?,
        created_at: r.get(1)?,
        specs: specs
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        state: BatchState::parse(&r.get::<_, String>(3)?),
        settled_at: r.get(4)?,
    })
}

/// The database and the data folder.
pub struct SqliteStore {
    root: PathBuf,
    db: Mutex<Connection>,
    /// The data folder's lock, held for the store's life (none when opened to read).
    _lock: Option<std::fs::File>,
}

impl SqliteStore {
    /// Opens (creating) `<root>/shelfready.db`, takes the data folder's lock for the store's
    /// life (a second process on the same folder is refused with the holder named) and
    /// applies the migrations it lacks.
    pub fn open(root: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(root).map_err(|error| StoreError::Write {
            path: root.display().to_string(),
            error,
        })?;
        let holder = format!(
            "pid {}, `{}`",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        let lock = super::lock::take(root, &root.join("lock"), "data folder", &holder)?;
        let batches = std::fs::read_dir(root.join("batches")).map_or(0, Iterator::count);
        if batches > 0 && !root.join("shelfready.db").is_file() {
            // Without its records the folder's batches cannot be told from debris: nothing
            // is created over them and nothing is deleted.
            return Err(StoreError::NoDatabase {
                folder: root.display().to_string(),
                batches,
            });
        }
        let mut store = Self::connect(root, false)?;
        store._lock = Some(lock);
        store.migrate()?;
        // The lock makes this process the folder's only worker: what an earlier process
        // held when it stopped goes back to the queue.
        queue::release_all(&store.conn())?;
        Ok(store)
    }

    /// Opens an existing store to read, without its lock: a listing beside the process
    /// that owns the folder (the database's WAL lets readers in while it writes).
    pub fn open_to_read(root: &Path) -> Result<SqliteStore, StoreError> {
        Self::connect(root, true)
    }

    fn connect(root: &Path, read_only: bool) -> Result<SqliteStore, StoreError> {
        let path = root.join("shelfready.db");
        let db = if read_only {
            Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        } else {
            Connection::open(&path)
        }
        .map_err(db_err)?;
        // WAL: readers (status calls) never wait for the writer; NORMAL sync is durable
        // across a process kill, which is what a restart must survive.
        if !read_only {
            db.pragma_update(None, "journal_mode", "WAL")
                .map_err(db_err)?;
        }
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err)?;
        Ok(SqliteStore {
            root: root.to_path_buf(),
            db: Mutex::new(db),
            _lock: None,
        })
    }

    /// The store of one batch, as the engine's jobs use it.
    pub fn batch_store(&self, id: &str) -> BatchStore<'_> {
        BatchStore {
            store: self,
            batch: id.to_string(),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut db = self.conn();
        let done: i64 = db
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db_err)?;
        for (i, sql) in (0i64..)
            .zip(MIGRATIONS)
            .skip(usize::try_from(done).unwrap_or(0))
        {
            let tx = db.transaction().map_err(db_err)?;
            tx.execute_batch(sql).map_err(db_err)?;
            tx.pragma_update(None, "user_version", i + 1)
                .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
        }
        Ok(())
    }
}

impl JobStore for SqliteStore {
    fn root(&self) -> &Path {
        &self.root
    }

    fn reachable(&self) -> bool {
        self.conn()
            // A real table, read at constant cost: a database that opens but cannot read
            // its pages is not ready.
            .query_row("SELECT id FROM batches LIMIT 1", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .is_ok()
    }

    fn create_batch(
        &self,
        id: &str,
        specs: &[String],
        created_at: &Timestamp,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<String, StoreError> {
        let db = self.conn();
        if let Some(k) = idempotency.map(|i| i.key) {
            let first: Option<String> = db
                .query_row(
                    "SELECT id FROM batches WHERE idempotency_key = ?1",
                    [k],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if let Some(first) = first {
                return Ok(first);
            }
        }
        db.execute(
            "INSERT INTO batches (id, created_at, specs, idempotency_key, idempotency_fingerprint) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                created_at.to_string(),
                specs.join(","),
                idempotency.map(|i| i.key),
                idempotency.map(|i| i.fingerprint)
            ],
        )
        .map_err(db_err)?;
        Ok(id.to_string())
    }

    fn batch_ids(&self) -> Result<Vec<String>, StoreError> {
        let db = self.conn();
        let mut q = db
            .prepare("SELECT id FROM batches ORDER BY created_at, id")
            .map_err(db_err)?;
        let ids = q
            .query_map([], |r| r.get(0))
            .map_err(db_err)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(db_err)?;
        Ok(ids)
    }

    fn delete_batch(&self, id: &str) -> Result<bool, StoreError> {
        let dir = self.batch_dir(id);
        let n = self
            .conn()
            .execute("DELETE FROM batches WHERE id = ?1", [id])
            .map_err(db_err)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|error| StoreError::Write {
                path: dir.display().to_string(),
                error,
            })?;
        }
        Ok(n > 0)
    }

    fn transitions(
        &self,
        batch: &str,
        key: &str,
        spec: &str,
    ) -> Result<Vec<RecordedTransition>, StoreError> {
        outputs::transitions(&self.conn(), batch, key, spec)
    }

    fn batch_row(&self, id: &str) -> Result<Option<BatchRow>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, created_at, specs, state, settled_at FROM batches WHERE id = ?1",
                [id],
                batch_row_of,
            )
            .optional()
            .map_err(db_err)
    }

    fn batch_with_key(&self, key: &str) -> Result<Option<KeyedBatch>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, idempotency_fingerprint FROM batches WHERE idempotency_key = ?1",
                [key],
                |r| {
                    Ok(KeyedBatch {
                        id: r.get(0)?,
                        fingerprint: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(db_err)
    }

    fn remove_abandoned_uploads(&self) -> Result<usize, StoreError> {
        let dir = self.root.join("batches");
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
            if !path.join(RECEIVING_MARK).is_file() {
                tracing::warn!(
                    "{}: a batch folder the database has no record of; left alone",
                    crate::naming::printable(&path.display().to_string())
                );
                continue;
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
        self.conn()
            .execute(
                "UPDATE batches SET state = ?2, settled_at = ?3 WHERE id = ?1",
                params![id, state.as_str(), settled_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn add_asset(&self, batch: &str, a: &AssetRow) -> Result<(), StoreError> {
        let context = serde_json::to_string(&a.context).unwrap_or_default();
        let failure = a
            .failure
            .as_ref()
            .and_then(|f| serde_json::to_string(f).ok());
        self.conn()
            .execute(
                "INSERT INTO assets (batch_id, seq, source_key, upload_name, original, bytes,
                                     context, failure)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    batch,
                    a.seq,
                    a.source_key,
                    a.upload_name,
                    a.original,
                    a.bytes as i64,
                    context,
                    failure
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn assets(&self, batch: &str) -> Result<Vec<AssetRow>, StoreError> {
        let db = self.conn();
        let mut q = db
            .prepare(&format!(
                "SELECT {ASSET_COLUMNS} FROM assets WHERE batch_id = ?1 ORDER BY seq"
            ))
            .map_err(db_err)?;
        let rows = q
            .query_map([batch], asset_row)
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    fn set_asset_original(
        &self,
        batch: &str,
        key: &str,
        original: &Path,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE assets SET original = ?3 WHERE batch_id = ?1 AND source_key = ?2",
                params![batch, key, original.display().to_string()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn waiting(&self) -> Result<Vec<(String, i64, Handoff)>, StoreError> {
        outputs::waiting(&self.conn())
    }

    fn handoff(&self, batch: &str, key: &str, spec: &str) -> Result<Option<Handoff>, StoreError> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT handoff FROM outputs WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3",
                params![batch, key, spec],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn outputs_by_state(&self) -> Result<Vec<(String, u64)>, StoreError> {
        outputs::by_state(&self.conn())
    }

    fn batch_dir(&self, id: &str) -> PathBuf {
        let dir: Option<String> = self
            .conn()
            .query_row("SELECT dir FROM batches WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .ok()
            .flatten()
            .flatten();
        match dir {
            Some(d) => PathBuf::from(d),
            // Batch ids are made by shelfready; a hostile one still cannot leave the folder.
            None => self.root.join("batches").join(naming::part(id)),
        }
    }

    fn made_before(
        &self,
        source_sha256: &str,
        spec: &Spec,
        context: &crate::handoff::Context,
        not_in: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        outputs::made_before(&self.conn(), source_sha256, spec, context, not_in)
    }

    fn recent_batches(&self, limit: usize) -> Result<Vec<(BatchRow, String)>, StoreError> {
        let db = self.conn();
        let mut q = db
            .prepare(
                "SELECT id, created_at, specs, state, settled_at, origin FROM batches
                 WHERE state <> 'receiving' ORDER BY created_at DESC, id DESC LIMIT ?1",
            )
            .map_err(db_err)?;
        let rows = q
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok((batch_row_of(r)?, r.get(5)?))
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    fn set_batch_home(&self, id: &str, dir: &Path, origin: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE batches SET dir = ?2, origin = ?3 WHERE id = ?1",
                params![id, dir.display().to_string(), origin],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn set_batch_webhook(&self, id: &str, url: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE batches SET webhook = ?2 WHERE id = ?1",
                params![id, url],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn batch_webhook(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT webhook FROM batches WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?
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
        deliveries::add(&self.conn(), batch, asset, event, url, body, now)
    }

    fn has_delivery(&self, asset: &str, event: &str) -> Result<bool, StoreError> {
        deliveries::has(&self.conn(), asset, event)
    }

    fn deliveries(&self, batch: &str) -> Result<Vec<Delivery>, StoreError> {
        deliveries::of_batch(&self.conn(), batch)
    }

    fn due_deliveries(&self, now: &Timestamp) -> Result<Vec<Delivery>, StoreError> {
        deliveries::due(&self.conn(), now)
    }

    fn record_attempt(
        &self,
        id: i64,
        status: Option<i64>,
        error: Option<&str>,
        delivered: Option<&Timestamp>,
        next_at: Option<&Timestamp>,
    ) -> Result<(), StoreError> {
        deliveries::record_attempt(&self.conn(), id, status, error, delivered, next_at)
    }

    fn set_batch_intake(&self, id: &str, json: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE batches SET intake = ?2 WHERE id = ?1",
                params![id, json],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn batch_intake(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT intake FROM batches WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?
            .flatten())
    }

    fn batches_from(&self, origin: &str, state: BatchState) -> Result<Vec<String>, StoreError> {
        let db = self.conn();
        let mut q = db
            .prepare(
                "SELECT id FROM batches WHERE origin = ?1 AND state = ?2 ORDER BY created_at, id",
            )
            .map_err(db_err)?;
        let ids = q
            .query_map(params![origin, state.as_str()], |r| r.get(0))
            .map_err(db_err)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(db_err)?;
        Ok(ids)
    }

    fn batch(&self, id: &str) -> Box<dyn Store + '_> {
        Box::new(self.batch_store(id))
    }

    fn queued_outputs(&self) -> Result<usize, StoreError> {
        queue::queued_outputs(&self.conn())
    }

    fn requeue_retryable(&self, origin: &str) -> Result<Vec<String>, StoreError> {
        queue::requeue_retryable(&mut self.conn(), origin)
    }

    fn queue_work(&self, batch: &str, now: &Timestamp) -> Result<usize, StoreError> {
        queue::queue(&self.conn(), batch, now)
    }

    fn claim_work(
        &self,
        worker: &str,
        now: &Timestamp,
        lease_until: &Timestamp,
    ) -> Result<Option<Work>, StoreError> {
        queue::claim(&self.conn(), worker, now, lease_until)
    }

    fn complete_work(
        &self,
        batch: &str,
        key: &str,
        worker: &str,
        now: &Timestamp,
    ) -> Result<Option<usize>, StoreError> {
        queue::complete(&self.conn(), batch, key, worker, now)
    }

    fn release_work(&self, batch: &str, key: &str, worker: &str) -> Result<(), StoreError> {
        queue::release(&self.conn(), batch, key, worker)
    }
}
