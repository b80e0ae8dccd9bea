//! The database's schema, as the migrations that build it: one list per database, each
//! counted in the database itself so a start applies only what it lacks.

use crate::store::sql::{Conn, Dialect};
use crate::store::StoreError;

/// Applies the migrations the database lacks.
pub(super) fn migrate(db: &mut dyn Conn) -> Result<(), StoreError> {
    match db.dialect() {
        Dialect::Sqlite => migrate_sqlite(db),
        Dialect::Postgres => migrate_postgres(db),
    }
}

/// SQLite counts the migrations applied in `PRAGMA user_version`; one process owns the
/// database (the data folder's lock), so nothing races it.
fn migrate_sqlite(db: &mut dyn Conn) -> Result<(), StoreError> {
    let done: i64 = db.query_value("PRAGMA user_version", &[])?;
    for (i, sql) in (0i64..)
        .zip(SQLITE)
        .skip(usize::try_from(done).unwrap_or(0))
    {
        db.transaction(|tx| {
            tx.execute_batch(sql)?;
            // A pragma takes no parameter; the number is ours.
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
        })?;
    }
    Ok(())
}

/// A key of PostgreSQL's advisory locks, ours alone: the migrations run under it.
const MIGRATION_LOCK: i64 = 0x5348_454c_4652_4459; // "SHELFRDY"

/// PostgreSQL counts the migrations applied in `schema_migrations`. All of them run in
/// one transaction holding an advisory lock: processes starting together wait for the
/// first, then find nothing left to do (PostgreSQL's DDL is transactional, so a failed
/// migration leaves the schema as it was).
fn migrate_postgres(db: &mut dyn Conn) -> Result<(), StoreError> {
    db.transaction(|tx| {
        tx.execute("SELECT pg_advisory_xact_lock(?1)", &[MIGRATION_LOCK.into()])?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )?;
        let done: i64 = tx.query_value(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?;
        for (i, sql) in (0i64..)
            .zip(POSTGRES)
            .skip(usize::try_from(done).unwrap_or(0))
        {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES (?1)",
                &[(i + 1).into()],
            )?;
        }
        Ok(())
    })
}

/// PostgreSQL's schema: SQLite's as its migrations left it, in one step. Every integer is
/// BIGINT (the store binds 64-bit integers); every text column compares byte by byte
/// (`COLLATE "C"`, as SQLite's BINARY), so ordering by ids and RFC 3339 times is the same
/// in both, whatever the database's locale. `deliveries.id` is an identity column, as
/// SQLite's INTEGER PRIMARY KEY is a rowid.
const POSTGRES: &[&str] = &[
    r#"
CREATE TABLE batches (
    id TEXT COLLATE "C" PRIMARY KEY,
    created_at TEXT COLLATE "C" NOT NULL,
    specs TEXT COLLATE "C" NOT NULL,
    idempotency_key TEXT COLLATE "C" UNIQUE,
    manifest TEXT,
    state TEXT COLLATE "C" NOT NULL DEFAULT 'receiving',
    settled_at TEXT COLLATE "C",
    dir TEXT,
    origin TEXT COLLATE "C" NOT NULL DEFAULT 'upload',
    intake TEXT,
    webhook TEXT,
    idempotency_fingerprint TEXT
);
CREATE TABLE names (
    batch_id TEXT COLLATE "C" NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    source_key TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    name_lower TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (batch_id, source_key),
    UNIQUE (batch_id, name_lower)
);
CREATE TABLE outputs (
    batch_id TEXT COLLATE "C" NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    source_key TEXT COLLATE "C" NOT NULL,
    spec_id TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    path TEXT COLLATE "C",
    sha256 TEXT COLLATE "C",
    source_sha256 TEXT COLLATE "C" NOT NULL,
    spec_hash TEXT COLLATE "C" NOT NULL,
    pipeline TEXT COLLATE "C" NOT NULL,
    handoff TEXT NOT NULL,
    PRIMARY KEY (batch_id, source_key, spec_id)
);
CREATE INDEX outputs_by_source ON outputs (source_sha256, spec_id);
CREATE TABLE transitions (
    batch_id TEXT COLLATE "C" NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    source_key TEXT COLLATE "C" NOT NULL,
    spec_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT,
    PRIMARY KEY (batch_id, source_key, spec_id, seq)
);
CREATE TABLE assets (
    batch_id TEXT COLLATE "C" NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    source_key TEXT COLLATE "C" NOT NULL,
    upload_name TEXT NOT NULL,
    original TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    context TEXT NOT NULL,
    failure TEXT,
    queued_at BIGINT,
    worker TEXT COLLATE "C",
    lease_until BIGINT,
    done_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, seq),
    UNIQUE (batch_id, source_key)
);
CREATE INDEX assets_queued ON assets (queued_at) WHERE queued_at IS NOT NULL AND done_at IS NULL;
CREATE TABLE deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id TEXT COLLATE "C" NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    asset_id TEXT COLLATE "C" NOT NULL,
    event TEXT COLLATE "C" NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    next_at TEXT COLLATE "C" NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    status BIGINT,
    error TEXT,
    delivered_at TEXT COLLATE "C",
    given_up BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_by_asset ON deliveries (asset_id, event);
"#,
    FILE_HOME,
    OVERDUE_ONCE,
    HAND_BACK,
    ORIGINALS_COUNTED,
    ORIGINALS_UNUSED,
];

/// SQLite's migrations, applied in order at open.
const SQLITE: &[&str] = &[
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
    // An upload's fingerprint beside its idempotency key, written with the batch (it was
    // kept in the intake report, written after the key was claimed).
    r#"
ALTER TABLE batches ADD COLUMN idempotency_fingerprint TEXT;
UPDATE batches SET idempotency_fingerprint = json_extract(intake, '$.fingerprint')
    WHERE idempotency_key IS NOT NULL AND json_valid(intake);
"#,
    // How many times each source was claimed: a worker gives up on a source that keeps
    // taking its workers down.
    r#"
ALTER TABLE assets ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
"#,
    FILE_HOME,
    OVERDUE_ONCE,
    HAND_BACK,
    ORIGINALS_COUNTED,
    ORIGINALS_UNUSED,
];

// The migrations both databases take in the same words.

/// Where the batches keep their files (one row, written by the first process to open the
/// database): a process given another file store is refused at start.
const FILE_HOME: &str = r#"
CREATE TABLE file_home (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    store TEXT NOT NULL
);
"#;

/// An output's overdue notice goes out once, whichever API node queues it first (a second
/// node's is no row); any duplicate an earlier race left is dropped first.
const OVERDUE_ONCE: &str = r#"
DELETE FROM deliveries WHERE event = 'overdue' AND id NOT IN
    (SELECT MIN(id) FROM deliveries WHERE event = 'overdue' GROUP BY asset_id);
CREATE UNIQUE INDEX deliveries_overdue_once ON deliveries (asset_id) WHERE event = 'overdue';
"#;

/// A batch a watched inbox put on the queue of a shared database: where its results go
/// back to (JSON the watcher reads), until it has handed them back.
const HAND_BACK: &str = r#"
ALTER TABLE batches ADD COLUMN hand_back TEXT;
"#;

/// How many assets name each content-addressed original of a bucket (`originals/<sha256>`,
/// shared by every batch with the same photo): the last batch to let go of one deletes
/// it, under this row's lock (see `SqlStore::forget_originals`).
const ORIGINALS_COUNTED: &str = r#"
CREATE TABLE originals (
    key TEXT PRIMARY KEY,
    refs BIGINT NOT NULL
);
INSERT INTO originals (key, refs)
    SELECT original, COUNT(*) FROM assets
    WHERE original LIKE 'originals/%' AND LENGTH(original) = 74
    GROUP BY original;
"#;

/// The originals no asset names any more, found without reading every counter.
const ORIGINALS_UNUSED: &str = r#"
CREATE INDEX originals_unused ON originals (key) WHERE refs <= 0;
"#;
