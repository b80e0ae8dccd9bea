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
    rules, sha256_hex, write_atomic, Claim, JobStore, PutOutput, SourceName, Store, StoreError,
    Work,
};
use crate::handoff::{BatchManifest, Handoff, State, Timestamp, PIPELINE_VERSION};
use crate::naming;
use crate::spec::Spec;

/// Migrations, applied in order at open; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    specs TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    manifest TEXT
);
CREATE TABLE names (
    batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    source_key TEXT NOT NULL,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    PRIMARY KEY (batch_id, source_key),
    UNIQUE (batch_id, name_lower)
);
CREATE TABLE outputs (
    batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    source_key TEXT NOT NULL,
    spec_id TEXT NOT NULL,
    state TEXT NOT NULL,
    path TEXT,
    sha256 TEXT,
    source_sha256 TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    handoff TEXT NOT NULL,
    PRIMARY KEY (batch_id, source_key, spec_id)
);
CREATE TABLE transitions (
    batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    source_key TEXT NOT NULL,
    spec_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT,
    PRIMARY KEY (batch_id, source_key, spec_id, seq)
);
"#,
    r#"
ALTER TABLE batches ADD COLUMN state TEXT NOT NULL DEFAULT 'receiving';
ALTER TABLE batches ADD COLUMN settled_at TEXT;
CREATE TABLE assets (
    batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    source_key TEXT NOT NULL,
    upload_name TEXT NOT NULL,
    original TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    context TEXT NOT NULL,
    failure TEXT,
    PRIMARY KEY (batch_id, seq),
    UNIQUE (batch_id, source_key)
);
"#,
    r#"
ALTER TABLE batches ADD COLUMN dir TEXT;
ALTER TABLE batches ADD COLUMN origin TEXT NOT NULL DEFAULT 'upload';
"#,
    r#"
ALTER TABLE batches ADD COLUMN intake TEXT;
"#,
    r#"
ALTER TABLE batches ADD COLUMN webhook TEXT;
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    asset_id TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    next_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status INTEGER,
    error TEXT,
    delivered_at TEXT,
    given_up INTEGER NOT NULL DEFAULT 0
);
"#,
    // The queue of work: a source is queued, then held by one worker until its lease
    // (unix seconds) runs out, then done.
    r#"
ALTER TABLE assets ADD COLUMN queued_at INTEGER;
ALTER TABLE assets ADD COLUMN worker TEXT;
ALTER TABLE assets ADD COLUMN lease_until INTEGER;
ALTER TABLE assets ADD COLUMN done_at INTEGER;
"#,
];

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

/// One webhook delivery: what is sent where, and how it went.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Delivery {
    pub id: i64,
    pub batch: String,
    /// The asset the event is about.
    pub asset: String,
    /// `ready`, `needs_review`, `approved`, `rejected`, `overdue`.
    pub event: String,
    pub url: String,
    #[serde(skip)]
    pub body: String,
    /// RFC 3339 UTC, as every time in the store.
    pub created_at: String,
    /// When the next attempt is due (after a failure, later each time).
    pub next_at: String,
    pub attempts: i64,
    /// The receiver's last HTTP status, or why there was none.
    pub status: Option<i64>,
    pub error: Option<String>,
    pub delivered_at: Option<String>,
    /// Attempts ran out.
    pub given_up: bool,
}

fn db_err(error: rusqlite::Error) -> StoreError {
    StoreError::Database {
        error: error.to_string(),
    }
}

/// One state change as the database holds it (states as their snake_case names).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedTransition {
    pub from: Option<String>,
    pub to: String,
    pub at: String,
    pub actor: String,
}

/// Where a batch is: its files are arriving, its sources wait or run, or every output
/// has settled and its manifest is written.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    Receiving,
    Processing,
    Settled,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Receiving => "receiving",
            BatchState::Processing => "processing",
            BatchState::Settled => "settled",
        }
    }

    fn parse(s: &str) -> BatchState {
        match s {
            "processing" => BatchState::Processing,
            "settled" => BatchState::Settled,
            _ => BatchState::Receiving,
        }
    }
}

/// A batch's row.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRow {
    pub id: String,
    pub created_at: String,
    pub specs: Vec<String>,
    pub state: BatchState,
    pub settled_at: Option<String>,
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

/// One uploaded file of a batch: where its bytes are kept and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetRow {
    /// Upload order, from 1.
    pub seq: i64,
    pub source_key: String,
    /// The name the file was uploaded under, cleaned of control characters.
    pub upload_name: String,
    /// The kept bytes, relative to the batch folder.
    pub original: String,
    pub bytes: u64,
    pub context: crate::handoff::Context,
    /// Why the upload itself was refused (over the per-file limit): the source fails
    /// with this instead of being read.
    pub failure: Option<crate::handoff::Failure>,
}

/// The database and the data folder.
pub struct SqliteStore {
    root: PathBuf,
    db: Mutex<Connection>,
    /// The data folder's lock, held for the store's life (none when opened to read).
    _lock: Option<std::fs::File>,
}

/// What a batch folder the store keeps says of its owner, in `.shelfready/store.json`: a
/// command pointed at the folder finds the store that holds its records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchMark {
    /// The data folder (absolute).
    pub data_dir: PathBuf,
    pub batch: String,
}

impl BatchMark {
    /// The mark a folder carries, if a store keeps it.
    pub fn of(dir: &Path) -> Option<BatchMark> {
        let text = std::fs::read(dir.join(".shelfready").join("store.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }
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
        let mut store = Self::connect(root, false)?;
        store._lock = Some(lock);
        store.migrate()?;
        // The lock makes this process the folder's only worker: what an earlier process
        // held when it stopped goes back to the queue.
        store
            .conn()
            .execute(
                "UPDATE assets SET worker = NULL, lease_until = NULL WHERE worker IS NOT NULL",
                [],
            )
            .map_err(db_err)?;
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

    fn deliveries_where(&self, filter: &str, arg: &str) -> Result<Vec<Delivery>, StoreError> {
        let db = self.conn();
        let mut q = db
            .prepare(&format!(
                "SELECT id, batch_id, asset_id, event, url, body, created_at, next_at, attempts,
                        status, error, delivered_at, given_up
                 FROM deliveries WHERE {filter} ORDER BY id"
            ))
            .map_err(db_err)?;
        let rows = q
            .query_map([arg], |r| {
                Ok(Delivery {
                    id: r.get(0)?,
                    batch: r.get(1)?,
                    asset: r.get(2)?,
                    event: r.get(3)?,
                    url: r.get(4)?,
                    body: r.get(5)?,
                    created_at: r.get(6)?,
                    next_at: r.get(7)?,
                    attempts: r.get(8)?,
                    status: r.get(9)?,
                    error: r.get(10)?,
                    delivered_at: r.get(11)?,
                    given_up: r.get::<_, i64>(12)? != 0,
                })
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        Ok(rows)
    }
}

impl JobStore for SqliteStore {
    fn root(&self) -> &Path {
        &self.root
    }

    fn reachable(&self) -> bool {
        self.conn()
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .is_ok()
    }

    fn create_batch(
        &self,
        id: &str,
        specs: &[String],
        created_at: &Timestamp,
        idempotency_key: Option<&str>,
    ) -> Result<String, StoreError> {
        let db = self.conn();
        if let Some(k) = idempotency_key {
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
            "INSERT INTO batches (id, created_at, specs, idempotency_key) VALUES (?1, ?2, ?3, ?4)",
            params![id, created_at.to_string(), specs.join(","), idempotency_key],
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
        let db = self.conn();
        let mut q = db
            .prepare(
                "SELECT from_state, to_state, at, actor FROM transitions
                 WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3 ORDER BY seq",
            )
            .map_err(db_err)?;
        let rows = q
            .query_map(params![batch, key, spec], |r| {
                Ok(RecordedTransition {
                    from: r.get(0)?,
                    to: r.get(1)?,
                    at: r.get(2)?,
                    actor: r.get(3)?,
                })
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        Ok(rows)
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

    fn batch_with_key(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id FROM batches WHERE idempotency_key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    fn remove_orphan_folders(&self) -> Result<usize, StoreError> {
        let dir = self.root.join("batches");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let known: std::collections::HashSet<String> = self.batch_ids()?.into_iter().collect();
        let mut n = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) && e.path().is_dir() {
                std::fs::remove_dir_all(e.path()).map_err(|error| StoreError::Write {
                    path: e.path().display().to_string(),
                    error,
                })?;
                n += 1;
            }
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
        let db = self.conn();
        let mut q = db
            .prepare(
                "SELECT o.batch_id, a.seq, o.handoff FROM outputs o
                 JOIN assets a ON a.batch_id = o.batch_id AND a.source_key = o.source_key
                 WHERE o.state = 'needs_review'
                 ORDER BY o.batch_id, a.seq, o.spec_id",
            )
            .map_err(db_err)?;
        let rows = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))
            .map_err(db_err)?
            .collect::<Result<Vec<(String, i64, String)>, _>>()
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|(b, seq, h)| Some((b, seq, serde_json::from_str(&h).ok()?)))
            .collect())
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
        let db = self.conn();
        let mut q = db
            .prepare("SELECT state, COUNT(*) FROM outputs GROUP BY state ORDER BY state")
            .map_err(db_err)?;
        let rows = q
            .query_map([], |r| {
                Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        Ok(rows)
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
        not_in: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        // The states are the lifecycle's own names, not input.
        let made = State::ALL
            .iter()
            .filter(|s| s.is_made())
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        self.conn()
            .query_row(
                &format!(
                    "SELECT batch_id, path FROM outputs
                     WHERE source_sha256 = ?1 AND spec_id = ?2 AND spec_hash = ?3
                       AND pipeline = ?4 AND batch_id <> ?5 AND path IS NOT NULL
                       AND state IN ({made})
                     ORDER BY batch_id LIMIT 1"
                ),
                params![
                    source_sha256,
                    spec.id,
                    spec.content_hash(),
                    PIPELINE_VERSION,
                    not_in
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err)
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
        self.conn()
            .execute(
                "INSERT INTO deliveries (batch_id, asset_id, event, url, body, created_at, next_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![batch, asset, event, url, body, now.to_string()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn has_delivery(&self, asset: &str, event: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM deliveries WHERE asset_id = ?1 AND event = ?2",
                params![asset, event],
                |_| Ok(()),
            )
            .optional()
            .map_err(db_err)?
            .is_some())
    }

    fn deliveries(&self, batch: &str) -> Result<Vec<Delivery>, StoreError> {
        self.deliveries_where("batch_id = ?1", batch)
    }

    fn due_deliveries(&self, now: &Timestamp) -> Result<Vec<Delivery>, StoreError> {
        self.deliveries_where(
            "delivered_at IS NULL AND given_up = 0 AND next_at <= ?1",
            &now.to_string(),
        )
    }

    fn record_attempt(
        &self,
        id: i64,
        status: Option<i64>,
        error: Option<&str>,
        delivered: Option<&Timestamp>,
        next_at: Option<&Timestamp>,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE deliveries SET attempts = attempts + 1, status = ?2, error = ?3,
                     delivered_at = ?4, next_at = COALESCE(?5, next_at),
                     given_up = CASE WHEN ?4 IS NULL AND ?5 IS NULL THEN 1 ELSE 0 END
                 WHERE id = ?1",
                params![
                    id,
                    status,
                    error,
                    delivered.map(ToString::to_string),
                    next_at.map(ToString::to_string)
                ],
            )
            .map_err(db_err)?;
        Ok(())
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

    fn queue_work(&self, batch: &str, now: &Timestamp) -> Result<usize, StoreError> {
        let db = self.conn();
        db.execute(
            "UPDATE assets SET queued_at = ?2
             WHERE batch_id = ?1 AND queued_at IS NULL AND done_at IS NULL",
            params![batch, now.unix()],
        )
        .map_err(db_err)?;
        not_done(&db, batch)
    }

    fn claim_work(
        &self,
        worker: &str,
        now: &Timestamp,
        lease_until: &Timestamp,
    ) -> Result<Option<Work>, StoreError> {
        // One statement, so two workers on one database never take the same source. A
        // worker never takes back its own running source, whatever its lease says.
        let sql = format!(
            "UPDATE assets SET worker = ?1, lease_until = ?3
             WHERE (batch_id, seq) = (
                 SELECT a.batch_id, a.seq FROM assets a JOIN batches b ON b.id = a.batch_id
                 WHERE a.queued_at IS NOT NULL AND a.done_at IS NULL
                   AND (a.worker IS NULL OR (a.lease_until < ?2 AND a.worker <> ?1))
                 ORDER BY a.queued_at, b.created_at, a.batch_id, a.seq LIMIT 1)
             RETURNING {ASSET_COLUMNS}, batch_id"
        );
        self.conn()
            .query_row(&sql, params![worker, now.unix(), lease_until.unix()], |r| {
                Ok(Work {
                    asset: asset_row(r)?,
                    batch: r.get(7)?,
                })
            })
            .optional()
            .map_err(db_err)
    }

    fn complete_work(
        &self,
        batch: &str,
        key: &str,
        worker: &str,
        now: &Timestamp,
    ) -> Result<Option<usize>, StoreError> {
        let db = self.conn();
        let changed = db
            .execute(
                "UPDATE assets SET done_at = ?4, worker = NULL, lease_until = NULL
                 WHERE batch_id = ?1 AND source_key = ?2 AND worker = ?3 AND done_at IS NULL",
                params![batch, key, worker, now.unix()],
            )
            .map_err(db_err)?;
        if changed == 0 {
            return Ok(None);
        }
        not_done(&db, batch).map(Some)
    }

    fn release_work(&self, batch: &str, key: &str, worker: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE assets SET worker = NULL, lease_until = NULL
                 WHERE batch_id = ?1 AND source_key = ?2 AND worker = ?3",
                params![batch, key, worker],
            )
            .map_err(db_err)?;
        Ok(())
    }
}

/// How many of a batch's sources are not done.
fn not_done(db: &Connection, batch: &str) -> Result<usize, StoreError> {
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM assets WHERE batch_id = ?1 AND done_at IS NULL",
            [batch],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// One batch of a [`SqliteStore`]: names, outputs and handoffs scoped to it.
pub struct BatchStore<'a> {
    store: &'a SqliteStore,
    batch: String,
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
        let rel = manifest_rel(&source.name, spec);
        let path = self.dir().join(&rel);
        let json = super::write_manifest(&path, handoff)?;
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
        // Every state change this handoff went through, after those recorded before.
        let next: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM transitions
                 WHERE batch_id = ?1 AND source_key = ?2 AND spec_id = ?3",
                params![self.batch, source.key, spec.id],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        for (i, t) in handoff.history.iter().enumerate() {
            tx.execute(
                "INSERT INTO transitions (batch_id, source_key, spec_id, seq, from_state,
                                          to_state, at, actor, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    self.batch,
                    source.key,
                    spec.id,
                    next + 1 + i as i64,
                    t.from.map(State::as_str),
                    t.to.as_str(),
                    t.at.to_string(),
                    t.actor,
                    t.note,
                ],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
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
        let json = super::write_manifest(&path, manifest)?;
        let mark = BatchMark {
            data_dir: std::path::absolute(&self.store.root)
                .unwrap_or_else(|_| self.store.root.clone()),
            batch: self.batch.clone(),
        };
        super::write_manifest(&self.dir().join(".shelfready").join("store.json"), &mark)?;
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
