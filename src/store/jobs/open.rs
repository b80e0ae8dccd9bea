//! Opening the job store: SQLite in the data folder (the embedded default), or PostgreSQL
//! chosen by a database URL, every check made at start.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::{queue, schema, SqlStore};
use crate::store::sql::{db_err, Conn, PgConn, PgTarget, PgWaiter, Sleeper, SqliteConn};
use crate::store::{JobStore, Objects, StoreError};

/// Opens the job store a database URL names, its files in the data folder `data`:
/// - none: SQLite, `<data>/shelfready.db`, the embedded default;
/// - `sqlite://<folder>`: SQLite in that folder, which is then the data folder too (a
///   SQLite store keeps its database beside its files); `sqlite://` alone is `data`;
/// - `postgres://...` or `postgresql://...`: that PostgreSQL database, shared by every
///   process given the same URL, with the files in `data` (a folder all of them reach).
///
/// The database is reached, and migrated, before this returns: a wrong or unreachable URL
/// is an error naming host, port, database and user, never the password.
pub fn open_job_store(
    database_url: Option<&str>,
    data: &Path,
) -> Result<Arc<dyn JobStore>, StoreError> {
    open_job_store_with(database_url, None, data)
}

/// [`open_job_store`] with the files in the store `store_url` names ([`Objects::open`]:
/// none is the data folder; `s3://bucket/prefix` a bucket, reached before this returns).
/// The data folder still holds what is local by nature (SQLite's database and its lock,
/// an upload while it is received, preview thumbnails).
pub fn open_job_store_with(
    database_url: Option<&str>,
    store_url: Option<&str>,
    data: &Path,
) -> Result<Arc<dyn JobStore>, StoreError> {
    // The bucket is checked first: a wrong one is said before the database is touched.
    let objects = match store_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => Some(Objects::open(Some(url), data)?),
        None => None,
    };
    let store = open_sql(database_url, data)?;
    let home = objects.as_ref().map_or(DATA_FOLDERS, Objects::name);
    store.with(|db| check_file_home(db, home))?;
    Ok(Arc::new(match objects {
        Some(o) => store.with_objects(o),
        None => store,
    }))
}

/// What a database records as its batches' file store when they are in data folders
/// (each process's own, or one they share: its path may differ between machines).
const DATA_FOLDERS: &str = "data folders";

/// Records `home` as the database's file store if none is yet, and refuses another: a
/// batch's records and its files must be read from the same place (an API node on a
/// bucket would otherwise resume a batch whose files are in a data folder).
fn check_file_home(db: &mut dyn Conn, home: &str) -> Result<(), StoreError> {
    db.transaction(|tx| {
        tx.execute(
            "INSERT INTO file_home (id, store) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING",
            &[home.into()],
        )?;
        let recorded: String = tx.query_value("SELECT store FROM file_home WHERE id = 1", &[])?;
        if recorded == home {
            return Ok(());
        }
        let start_with = if recorded == DATA_FOLDERS {
            "no --store-url (SHELFREADY_STORE_URL unset)".to_string()
        } else {
            format!("--store-url {recorded}")
        };
        Err(StoreError::FilesElsewhere {
            recorded,
            given: home.to_string(),
            start_with,
        })
    })
}

fn open_sql(database_url: Option<&str>, data: &Path) -> Result<SqlStore, StoreError> {
    let Some(url) = database_url.map(str::trim).filter(|u| !u.is_empty()) else {
        return SqlStore::open(data);
    };
    if let Some(folder) = url.strip_prefix("sqlite://") {
        let folder = if folder.is_empty() {
            data
        } else {
            Path::new(folder)
        };
        return SqlStore::open(folder);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return SqlStore::open_postgres(url, data);
    }
    // Only the scheme is repeated: the rest may hold a password.
    let scheme = url.split_once("://").map_or("(none)", |(s, _)| s);
    Err(StoreError::BadDatabaseUrl {
        error: format!(
            "its scheme is {scheme}; shelfready reads sqlite://<folder>, postgres:// and postgresql:// URLs"
        ),
    })
}

impl SqlStore {
    /// The same store with its files in `objects` (a bucket rather than the data folder).
    pub fn with_objects(mut self, objects: Objects) -> SqlStore {
        self.objects = objects;
        self
    }

    /// Opens (creating) `<root>/shelfready.db`, takes the data folder's lock for the store's
    /// life (a second process on the same folder is refused with the holder named) and
    /// applies the migrations it lacks.
    pub fn open(root: &Path) -> Result<SqlStore, StoreError> {
        std::fs::create_dir_all(root).map_err(|error| StoreError::Write {
            path: root.display().to_string(),
            error,
        })?;
        let holder = format!(
            "pid {}, `{}`",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        let lock = crate::store::lock::take(root, &root.join("lock"), "data folder", &holder)?;
        let batches = std::fs::read_dir(root.join("batches")).map_or(0, Iterator::count);
        if batches > 0 && !root.join("shelfready.db").is_file() {
            // Without its records the folder's batches cannot be told from debris: nothing
            // is created over them and nothing is deleted.
            return Err(StoreError::NoDatabase {
                folder: root.display().to_string(),
                batches,
            });
        }
        let mut store = Self::open_sqlite(root, false)?;
        store._lock = Some(lock);
        sweep_staging(&root.join("batches"));
        store.with(schema::migrate)?;
        // The lock makes this process the folder's only worker: what an earlier process
        // held when it stopped goes back to the queue.
        store.with(queue::release_all)?;
        Ok(store)
    }

    /// Opens an existing SQLite store to read, without its lock: a listing beside the
    /// process that owns the folder (the database's WAL lets readers in while it writes).
    pub fn open_to_read(root: &Path) -> Result<SqlStore, StoreError> {
        Self::open_sqlite(root, true)
    }

    /// Opens the PostgreSQL database at `url` (migrating it under an advisory lock, so
    /// processes starting together do not race), with the files in `root`.
    ///
    /// Unlike SQLite's open, the data folder's lock is not taken (many processes share
    /// the folder; the database coordinates them) and no claim is released (other
    /// workers are alive: a dead worker's claims come back when their leases run out).
    pub fn open_postgres(url: &str, root: &Path) -> Result<SqlStore, StoreError> {
        let target = PgTarget::parse(url)?;
        let conn = PgConn::open(&target)?;
        std::fs::create_dir_all(root).map_err(|error| StoreError::Write {
            path: root.display().to_string(),
            error,
        })?;
        let store = SqlStore {
            root: root.to_path_buf(),
            db: Mutex::new(Box::new(conn)),
            dialect: crate::store::sql::Dialect::Postgres,
            waiter: Box::new(PgWaiter::new(&target)),
            objects: Objects::local(root)?,
            _lock: None,
        };
        store.with(schema::migrate)?;
        Ok(store)
    }

    fn open_sqlite(root: &Path, read_only: bool) -> Result<SqlStore, StoreError> {
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
        let conn: Box<dyn Conn> = Box::new(SqliteConn(db));
        Ok(SqlStore {
            root: root.to_path_buf(),
            db: Mutex::new(conn),
            dialect: crate::store::sql::Dialect::Sqlite,
            waiter: Box::new(Sleeper),
            objects: Objects::local(root)?,
            _lock: None,
        })
    }
}

/// Removes the files a write cut short left beside their final names: object_store's
/// local writes go to `<name>#<n>` and are renamed when complete, so a process killed in
/// between leaves one. Only at the open of a folder this process now owns alone (its
/// lock), where no write can be under way; symbolic links are not followed, and a batch's
/// `originals/` (named by their uploads) is left alone: every other name there is ours.
fn sweep_staging(batches: &Path) {
    let walk = walkdir::WalkDir::new(batches)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 2 && e.file_name() == "originals"));
    for entry in walk.flatten() {
        let staging = entry.file_type().is_file()
            && entry.file_name().to_str().is_some_and(|n| {
                n.rsplit_once('#').is_some_and(|(name, n)| {
                    !name.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                })
            });
        if staging {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed a write cut short")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), "cannot remove a write cut short: {e}")
                }
            }
        }
    }
}
