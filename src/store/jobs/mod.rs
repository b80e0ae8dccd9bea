//! The job store of `serve` and `watch`, written once over the SQL seam ([`super::sql`]):
//! batches, the names given to sources, the output and handoff standing for each source
//! and spec with every state transition (time and actor), webhook deliveries and the queue
//! of work. Images and manifests live in a data folder beside the database,
//! `batches/<batch>/{outputs/<spec>/,manifests/}`.
//!
//! Two databases: SQLite in the data folder (the embedded default, one process owns the
//! folder) and PostgreSQL (many processes share one database and one data folder). The
//! statements are the same for both (TEXT and integer columns, composite keys, `ON
//! CONFLICT ... DO UPDATE` upserts, `RETURNING`); what differs is in [`Dialect`] and the
//! migrations (schema.rs).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::sql::{Arg, Conn, Dialect, Row, Waiter};
use super::{AssetRow, BatchRow, BatchState, StoreError};
use crate::naming;

mod api;
mod batch;
mod deliveries;
mod open;
mod outputs;
mod queue;
mod schema;

pub use batch::BatchStore;
pub use open::{open_job_store, open_job_store_with};

/// The columns of an [`AssetRow`], in the order [`asset_row`] reads them.
const ASSET_COLUMNS: &str = "seq, source_key, upload_name, original, bytes, context, failure";

fn asset_row(r: &Row) -> Result<AssetRow, StoreError> {
    let context: String = r.get(5)?;
    let failure: Option<String> = r.get(6)?;
    Ok(AssetRow {
        seq: r.get(0)?,
        source_key: r.get(1)?,
        upload_name: r.get(2)?,
        original: r.get(3)?,
        bytes: u64::try_from(r.get::<i64>(4)?).unwrap_or(0),
        context: serde_json::from_str(&context).unwrap_or_default(),
        failure: failure.and_then(|f| serde_json::from_str(&f).ok()),
    })
}

/// A `batches` row whose first columns are id, created_at, specs, state, settled_at.
fn batch_row_of(r: &Row) -> Result<BatchRow, StoreError> {
    let specs: String = r.get(2)?;
    Ok(BatchRow {
        id: r.get(0)?,
        created_at: r.get(1)?,
        specs: specs
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        state: BatchState::parse(&r.get::<String>(3)?),
        settled_at: r.get(4)?,
    })
}

/// The job store over one database and a data folder.
pub struct SqlStore {
    root: PathBuf,
    /// One connection, shared by the store's callers in turn.
    db: Mutex<Box<dyn Conn>>,
    dialect: Dialect,
    /// What a caller of [`super::JobStore::wait_for_work`] blocks on.
    waiter: Box<dyn Waiter>,
    /// Where the batches' files are: the data folder, or a bucket.
    objects: crate::store::Objects,
    /// The data folder's lock, held for the store's life (SQLite, opened to write).
    _lock: Option<std::fs::File>,
}

/// The embedded default: `SqliteStore::open(data_folder)`.
pub type SqliteStore = SqlStore;

impl SqlStore {
    fn conn(&self) -> MutexGuard<'_, Box<dyn Conn>> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the connection.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut **self.conn())
    }

    /// Runs one statement.
    fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize, StoreError> {
        self.conn().execute(sql, args)
    }

    /// The first row of one statement, if any.
    fn row(&self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>, StoreError> {
        self.conn().query_opt(sql, args)
    }

    /// The first column of every row of one statement.
    fn column<T: super::sql::FromValue>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, StoreError> {
        self.conn()
            .query(sql, args)?
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// The store of one batch, as the engine's jobs use it.
    pub fn batch_store(&self, id: &str) -> BatchStore<'_> {
        BatchStore {
            store: self,
            batch: id.to_string(),
            worker: None,
        }
    }

    /// The folder a batch was given of its own (a watched inbox's), if any.
    fn batch_home(&self, id: &str) -> Option<PathBuf> {
        self.row("SELECT dir FROM batches WHERE id = ?1", &[id.into()])
            .ok()
            .flatten()
            .and_then(|r| r.get::<Option<String>>(0).ok())
            .flatten()
            .map(PathBuf::from)
    }

    fn batch_dir_of(&self, id: &str) -> PathBuf {
        let dir: Option<String> = self
            .row("SELECT dir FROM batches WHERE id = ?1", &[id.into()])
            .ok()
            .flatten()
            .and_then(|r| r.get(0).ok())
            .flatten();
        match dir {
            Some(d) => PathBuf::from(d),
            // Batch ids are made by shelfready; a hostile one still cannot leave the folder.
            None => self.root.join("batches").join(naming::part(id)),
        }
    }

    fn wait(&self, timeout: Duration) -> Result<bool, StoreError> {
        self.waiter.wait(timeout)
    }

    fn root_path(&self) -> &Path {
        &self.root
    }
}
