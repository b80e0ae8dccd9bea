//! The database's schema, as the migrations that build it.

/// Migrations, applied in order at open; `PRAGMA user_version` counts those applied.
pub(super) const MIGRATIONS: &[&str] = &[
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
];
