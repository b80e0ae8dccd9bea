//! Where outputs and handoffs live. The doors talk to a [`Store`]; the output folder of the
//! CLI is its first implementation ([`FolderStore`]), a batch of the job store
//! ([`JobStore`]: SQLite or PostgreSQL, [`open_job_store`]) the second. A job store's
//! files go through [`Objects`] (objects.rs): the data folder, or an S3-compatible bucket
//! ([`open_job_store_with`]).

mod folder;
mod jobs;
mod journal;
mod lock;
mod objects;
mod records;
mod rules;
mod sql;

pub use folder::{sha256_hex, sweep_temp_files, write_atomic, write_atomic_with, FolderStore};
pub use jobs::{open_job_store, open_job_store_with, BatchStore, SqlStore, SqliteStore};
pub(crate) use lock::take as lock_folder;
pub use objects::{FileAt, ObjectReader, Objects};
pub use records::{
    AssetRow, BatchMark, BatchRow, BatchState, Deletion, Delivery, RecordedTransition,
};

use thiserror::Error;

use std::path::{Path, PathBuf};

use crate::handoff::{BatchManifest, ErrorCode, Handoff, Timestamp};
use crate::spec::Spec;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{path} is in the way: a file there differs from this output and shelfready has no record of writing it, so it was left alone. Move it away or choose another output folder (if it is an older shelfready output whose records, .shelfready/, were deleted, deleting it is safe: the run makes it again)")]
    NotOurs { path: String },
    /// `kind` names the folder as its user knows it: an output folder, a data folder.
    #[error("{folder} is in use by another shelfready run ({holder}); wait for it to finish or choose another {kind}")]
    Locked {
        folder: String,
        kind: &'static str,
        holder: String,
    },
    // Fields are not named `source`: the text already carries the OS error, and a
    // `source` would print it twice.
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("cannot write the manifest {path}: {error}")]
    Manifest { path: String, error: std::io::Error },
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("the job database failed: {error}")]
    Database { error: String },
    #[error("{folder} holds {batches} batch folder(s) but no job database (shelfready.db): restore the database from a backup, or move the batches folder away to start afresh; nothing was changed")]
    NoDatabase { folder: String, batches: usize },
    /// `target` names hosts, ports, database and user, never the password.
    #[error("cannot reach the job database ({target}): {error}")]
    Unreachable { target: String, error: String },
    #[error("the database URL cannot be used: {error}")]
    BadDatabaseUrl { error: String },
    /// A worker's write for a source it no longer holds: its lease ran out and another
    /// worker took the source over (that worker's records stand).
    #[error("{key} of batch {batch} is no longer held by worker {worker}: another worker took it over, and its records stand")]
    LeaseLost {
        batch: String,
        key: String,
        worker: String,
    },
    /// `store` is the folder or `s3://bucket/prefix`; object_store's messages name the
    /// request, never the keys that signed it.
    #[error("cannot read {key} in the file store {store}: {error}")]
    ObjectRead {
        key: String,
        store: String,
        error: String,
    },
    #[error("cannot write {key} in the file store {store}: {error}")]
    ObjectWrite {
        key: String,
        store: String,
        error: String,
    },
    #[error("the file store {store} cannot be used: {error} (check the bucket exists and AWS_ENDPOINT_URL, AWS_REGION and the access keys)")]
    ObjectStoreUnusable { store: String, error: String },
    #[error("the store URL cannot be used: {error}")]
    BadStoreUrl { error: String },
    #[error("this database's batches keep their files in {recorded}, and this process was given {given}: start it with {start_with}, or give it a database of its own")]
    FilesElsewhere {
        recorded: String,
        given: String,
        start_with: String,
    },
}

/// The file an upload in progress keeps in its batch folder until the batch is recorded: a
/// folder without a database row is deleted at start only if it carries this mark.
pub const RECEIVING_MARK: &str = ".receiving";

impl StoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotOurs { .. } => ErrorCode::OutputExists,
            StoreError::Locked { .. } => ErrorCode::StoreLocked,
            StoreError::Write { .. } => ErrorCode::OutputWriteFailed,
            StoreError::Manifest { .. } => ErrorCode::ManifestWriteFailed,
            StoreError::Read { .. }
            | StoreError::ObjectRead { .. }
            | StoreError::ObjectStoreUnusable { .. }
            | StoreError::BadStoreUrl { .. }
            | StoreError::FilesElsewhere { .. } => ErrorCode::StoreUnreadable,
            StoreError::ObjectWrite { .. } => ErrorCode::OutputWriteFailed,
            StoreError::Database { .. }
            | StoreError::NoDatabase { .. }
            | StoreError::Unreachable { .. }
            | StoreError::BadDatabaseUrl { .. } => ErrorCode::DatabaseFailed,
            // Another worker holds the source: a conflict, not worth another try.
            StoreError::LeaseLost { .. } => ErrorCode::StoreLocked,
        }
    }
}

/// Writes a manifest as pretty JSON, atomically; returns the text written. Every store
/// writes its handoffs and batch manifests through here.
pub(crate) fn write_manifest<T: serde::Serialize>(
    path: &std::path::Path,
    value: &T,
) -> Result<String, StoreError> {
    let json = manifest_json(path, value)?;
    write_manifest_text(path, &json)?;
    Ok(json)
}

/// A manifest's text, as [`write_manifest`] writes it to `path`.
pub(crate) fn manifest_json<T: serde::Serialize>(
    path: &std::path::Path,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string_pretty(value).map_err(|e| StoreError::Manifest {
        path: path.display().to_string(),
        error: e.into(),
    })
}

/// Writes a manifest's text to `path`, atomically.
pub(crate) fn write_manifest_text(path: &std::path::Path, json: &str) -> Result<(), StoreError> {
    write_atomic(path, json.as_bytes()).map_err(|error| StoreError::Manifest {
        path: path.display().to_string(),
        error,
    })
}

/// One source as the store knows it: its stable key and the name its outputs carry.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceName {
    pub key: String,
    pub name: String,
}

/// The name a source's outputs carry, and, when it is not the one the source asked for,
/// the key of the source that owns that one.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub name: String,
    pub taken_by: Option<String>,
}

/// Where an output went, and the hash of what was written.
#[derive(Debug, Clone, PartialEq)]
pub struct PutOutput {
    pub path: String,
    pub sha256: String,
}

/// The store interface every door uses.
pub trait Store: Sync {
    /// The name the outputs of the source `key` carry: the one it was given before, or a
    /// new one, close to `wanted`, that no other source owns (names that differ only in
    /// case are one name: they are one file on macOS and Windows). Names never move
    /// between sources.
    fn claim_name(&self, key: &str, wanted: &str) -> Result<Claim, StoreError>;

    /// The handoff of this source and spec, if its output is still what this source
    /// (`source_sha256`), this spec and this pipeline make, and is intact.
    fn current(&self, source: &SourceName, spec: &Spec, source_sha256: &str) -> Option<Handoff>;

    /// Puts an output image; returns its path as handoffs record it. Never replaces a file
    /// the store did not write.
    fn put_output(
        &self,
        source: &SourceName,
        spec: &Spec,
        bytes: &[u8],
    ) -> Result<PutOutput, StoreError>;

    /// Removes the output of this source and spec, if the store wrote it (a failed re-run
    /// must not leave an earlier output where a good one is expected).
    fn remove_output(&self, source: &SourceName, spec: &Spec) -> Result<(), StoreError>;

    /// Puts a settled handoff: the record of the output that now stands.
    fn put_handoff(
        &self,
        source: &SourceName,
        spec: &Spec,
        handoff: &Handoff,
    ) -> Result<(), StoreError>;

    /// Every settled handoff the store holds, this run's and earlier runs', by source key
    /// and spec: a batch manifest describes the whole output folder.
    fn handoffs(&self) -> Vec<Handoff>;

    /// Puts the manifest of a whole batch.
    fn put_batch(&self, manifest: &BatchManifest) -> Result<(), StoreError>;

    /// The batch manifest last put, if any.
    fn manifest(&self) -> Result<Option<BatchManifest>, StoreError>;
}

/// A boxed store is a store (a job store hands out its batches boxed).
impl<T: Store + ?Sized> Store for Box<T> {
    fn claim_name(&self, key: &str, wanted: &str) -> Result<Claim, StoreError> {
        (**self).claim_name(key, wanted)
    }
    fn current(&self, source: &SourceName, spec: &Spec, source_sha256: &str) -> Option<Handoff> {
        (**self).current(source, spec, source_sha256)
    }
    fn put_output(
        &self,
        source: &SourceName,
        spec: &Spec,
        bytes: &[u8],
    ) -> Result<PutOutput, StoreError> {
        (**self).put_output(source, spec, bytes)
    }
    fn remove_output(&self, source: &SourceName, spec: &Spec) -> Result<(), StoreError> {
        (**self).remove_output(source, spec)
    }
    fn put_handoff(
        &self,
        source: &SourceName,
        spec: &Spec,
        handoff: &Handoff,
    ) -> Result<(), StoreError> {
        (**self).put_handoff(source, spec, handoff)
    }
    fn handoffs(&self) -> Vec<Handoff> {
        (**self).handoffs()
    }
    fn put_batch(&self, manifest: &BatchManifest) -> Result<(), StoreError> {
        (**self).put_batch(manifest)
    }
    fn manifest(&self) -> Result<Option<BatchManifest>, StoreError> {
        (**self).manifest()
    }
}

/// An upload's idempotency key and the fingerprint of what it sent: a retry with the key
/// must send the same.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub fingerprint: &'a str,
}

/// The batch an idempotency key made, with the fingerprint of the upload that made it
/// (`None` for a batch recorded before fingerprints were kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedBatch {
    pub id: String,
    pub fingerprint: Option<String>,
}

/// The job store of `serve` and `watch`, and of the command line pointed at their batches:
/// batches and the door each came from, their sources (assets) and where each is kept,
/// the output and handoff standing for each source and spec with every transition (review
/// decisions and receipts are transitions and handoffs put through [`Store`]), webhook
/// deliveries, and what a door learned at intake. The doors hold an `Arc<dyn JobStore>`;
/// SQLite and a data folder is the embedded implementation, PostgreSQL with a bucket (or
/// a shared data folder) the second ([`open_job_store_with`] opens either from URLs), not
/// a change to any door.
///
/// Every method blocks its thread on the database. On PostgreSQL (its sync client runs a
/// small runtime of its own) a call made, or a store dropped, on a thread running async
/// code panics: call from rayon's threads, `spawn_blocking` or plain threads.
pub trait JobStore: Send + Sync {
    /// The data folder.
    fn root(&self) -> &Path;

    /// Whether the database answers (for readiness checks).
    fn reachable(&self) -> bool;

    /// Records a new batch, with its idempotency key and the fingerprint of the upload
    /// that made it in the same write. With the key already used, nothing is written and
    /// the first batch's id is returned instead.
    fn create_batch(
        &self,
        id: &str,
        specs: &[String],
        created_at: &Timestamp,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<String, StoreError>;

    /// Ids of the batches, oldest first.
    fn batch_ids(&self) -> Result<Vec<String>, StoreError>;

    /// Removes a batch: its rows, then its files, and the originals no other batch names.
    fn delete_batch(&self, id: &str) -> Result<bool, StoreError>;

    /// [`JobStore::delete_batch`] if the batch has settled, decided under the batch row's
    /// lock (a retry cannot set it processing in between): what a client may delete.
    fn delete_settled_batch(&self, id: &str) -> Result<Deletion, StoreError>;

    /// The transitions recorded for one output, oldest first.
    fn transitions(
        &self,
        batch: &str,
        key: &str,
        spec: &str,
    ) -> Result<Vec<RecordedTransition>, StoreError>;

    /// A batch's row.
    fn batch_row(&self, id: &str) -> Result<Option<BatchRow>, StoreError>;

    /// The batch an idempotency key made, if any.
    fn batch_with_key(&self, key: &str) -> Result<Option<KeyedBatch>, StoreError>;

    /// Removes batch folders the database has no row for that carry the upload-in-progress
    /// mark ([`RECEIVING_MARK`]: an upload cut off by a crash); other folders without a row
    /// are logged and left alone.
    fn remove_abandoned_uploads(&self) -> Result<usize, StoreError>;

    /// Moves a batch to `state` (a settled batch records when).
    fn set_batch_state(
        &self,
        id: &str,
        state: BatchState,
        at: &Timestamp,
    ) -> Result<(), StoreError>;

    /// Records an uploaded file of a batch.
    fn add_asset(&self, batch: &str, a: &AssetRow) -> Result<(), StoreError>;

    /// A batch's uploaded files, in upload order.
    fn assets(&self, batch: &str) -> Result<Vec<AssetRow>, StoreError>;

    /// Where a source's kept bytes now are (a watched source moved to the archive).
    fn set_asset_original(&self, batch: &str, key: &str, original: &Path)
        -> Result<(), StoreError>;

    /// Every output of every batch that waits for a person: (batch, asset seq, handoff).
    fn waiting(&self) -> Result<Vec<(String, i64, Handoff)>, StoreError>;

    /// The handoff standing for one source and spec of a batch.
    fn handoff(&self, batch: &str, key: &str, spec: &str) -> Result<Option<Handoff>, StoreError>;

    /// Outputs of every batch by handoff state (for metrics).
    fn outputs_by_state(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Where the batches' files are: the data folder (the default), or a bucket.
    fn objects(&self) -> &Objects;

    /// One batch's files (outputs, manifests, exports), keyed as under its folder today
    /// (`outputs/<spec>/<name>.jpg`): the store's objects under `batches/<id>/`, or, for a
    /// batch with a home of its own (a watched inbox's outbox, [`JobStore::set_batch_home`]),
    /// that local folder. Its writes are whole-object puts.
    fn batch_files(&self, id: &str) -> Result<Objects, StoreError>;

    /// Where an asset's kept bytes are ([`AssetRow::original`]): an object
    /// `originals/<sha256>` of a bucket, or a path under the batch's folder (or absolute:
    /// a watched source).
    fn original_at(&self, batch: &str, original: &str) -> FileAt;

    /// The folder of one batch's files: the one set with [`JobStore::set_batch_home`]
    /// (a watched inbox's outbox), else `batches/<id>` in the data folder.
    fn batch_dir(&self, id: &str) -> PathBuf;

    /// An earlier batch's output of the same source content for the same spec content,
    /// pipeline and product (context), still standing: (batch, output path in that batch's
    /// folder).
    fn made_before(
        &self,
        source_sha256: &str,
        spec: &Spec,
        context: &crate::handoff::Context,
        not_in: &str,
    ) -> Result<Option<(String, String)>, StoreError>;

    /// The newest `limit` batches past the upload stage, newest first, with the door that
    /// made each (`upload`, `watch`).
    fn recent_batches(&self, limit: usize) -> Result<Vec<(BatchRow, String)>, StoreError>;

    /// Which door made a batch (`upload`, `watch`), and where it keeps its files: a
    /// folder of its own (a watched inbox's outbox), or the store's (`None`).
    fn set_batch_home(&self, id: &str, dir: Option<&Path>, origin: &str) -> Result<(), StoreError>;

    /// Where a batch a watched inbox put on the queue hands its results back when it
    /// settles (the watcher's own words, kept as given), or `None` once it has.
    fn set_batch_hand_back(&self, id: &str, to: Option<&str>) -> Result<(), StoreError>;

    /// The batches whose results are still to be handed back (those still being
    /// received too): (id, where to), oldest first.
    fn batches_to_hand_back(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// The URL a batch's events are POSTed to.
    fn set_batch_webhook(&self, id: &str, url: &str) -> Result<(), StoreError>;

    fn batch_webhook(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Queues a delivery, due now.
    fn add_delivery(
        &self,
        batch: &str,
        asset: &str,
        event: &str,
        url: &str,
        body: &str,
        now: &Timestamp,
    ) -> Result<(), StoreError>;

    /// Whether an event was ever queued for an asset (an overdue notice goes out once).
    fn has_delivery(&self, asset: &str, event: &str) -> Result<bool, StoreError>;

    /// A batch's deliveries, oldest first.
    fn deliveries(&self, batch: &str) -> Result<Vec<Delivery>, StoreError>;

    /// Deliveries due by `now` and not yet done or given up, each held a while for the
    /// caller (another process on the same database does not get it meanwhile).
    fn due_deliveries(&self, now: &Timestamp) -> Result<Vec<Delivery>, StoreError>;

    /// Records one attempt: delivered, or when to try again (`None`: give up).
    fn record_attempt(
        &self,
        id: i64,
        status: Option<i64>,
        error: Option<&str>,
        delivered: Option<&Timestamp>,
        next_at: Option<&Timestamp>,
    ) -> Result<(), StoreError>;

    /// Keeps what a door learned while taking a batch (its catalog's report, the files it
    /// did not take), as JSON, so a batch finished after a restart reports it too.
    fn set_batch_intake(&self, id: &str, json: &str) -> Result<(), StoreError>;

    /// What [`JobStore::set_batch_intake`] kept.
    fn batch_intake(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Ids of the batches a door made that are in a state, oldest first.
    fn batches_from(&self, origin: &str, state: BatchState) -> Result<Vec<String>, StoreError>;

    /// The store of one batch, as the engine's jobs use it.
    fn batch(&self, id: &str) -> Box<dyn Store + '_>;

    /// The store of one batch for a worker of the queue: its `put_output`,
    /// `remove_output` and `put_handoff` for a source take effect only while `worker`
    /// holds that source ([`JobStore::claim_work`]), and fail with
    /// [`StoreError::LeaseLost`] once it does not (its lease ran out and another worker
    /// took the source over: that worker's output and handoff stand). The handoff's check
    /// and write are one transaction. Name claims, `current` and the batch manifest are
    /// not guarded.
    fn batch_for_worker(&self, id: &str, worker: &str) -> Box<dyn Store + '_>;

    /// Puts a batch's sources on the queue of work (those not done and not queued yet);
    /// returns how many of its sources are not done.
    fn queue_work(&self, batch: &str, now: &Timestamp) -> Result<usize, StoreError>;

    /// Claims the next queued source (oldest batch first, then upload order) for
    /// `worker` until `lease_until`: a source nobody holds, or one whose holder's lease
    /// ran out. `None` when the queue is empty. Each claim counts one attempt
    /// ([`Work::attempts`]); concurrent claims, from any number of processes on one
    /// database, never hand out the same source.
    fn claim_work(
        &self,
        worker: &str,
        now: &Timestamp,
        lease_until: &Timestamp,
    ) -> Result<Option<Work>, StoreError>;

    /// Moves the lease `worker` holds on a source to `until` (a heartbeat while the work
    /// runs); false when it no longer holds it (done, released, or taken over after its
    /// lease ran out).
    fn renew_lease(
        &self,
        batch: &str,
        key: &str,
        worker: &str,
        until: &Timestamp,
    ) -> Result<bool, StoreError>;

    /// Blocks up to `timeout` for work to be queued; true when told, false at the
    /// timeout. On PostgreSQL a connection of its own LISTENs for [`JobStore::queue_work`]
    /// (and released work) from any process. Listening starts at the first call, and
    /// what is queued between two calls wakes the next one at once; so a worker claims
    /// until the queue is empty, then waits, then claims again. It may wake for work
    /// another worker takes first. SQLite has no one to tell it: it sleeps the timeout
    /// (the caller polls).
    fn wait_for_work(&self, timeout: std::time::Duration) -> Result<bool, StoreError>;

    /// Outputs (sources x their batch's specs) queued and not done, across all batches:
    /// the work an upload is weighed against.
    fn queued_outputs(&self) -> Result<usize, StoreError>;

    /// Puts back on the queue every source of a settled batch of `origin` whose output
    /// failed for a reason worth another try (a full disk: [`ErrorCode::is_retryable`]),
    /// its batch `processing` again; returns those batches. Run once at start, so a
    /// disk still full fails them again rather than in a loop.
    fn requeue_retryable(&self, origin: &str) -> Result<Vec<String>, StoreError>;

    /// Marks a claimed source done and returns how many of its batch's sources are not
    /// (0: the batch is ready to settle). `None` if `worker` no longer holds it (its
    /// lease ran out and another worker took it): that worker completes it.
    fn complete_work(
        &self,
        batch: &str,
        key: &str,
        worker: &str,
        now: &Timestamp,
    ) -> Result<Option<usize>, StoreError>;

    /// Gives a claimed source back to the queue undone (a stop came first); the claim does
    /// not count as an attempt.
    fn release_work(&self, batch: &str, key: &str, worker: &str) -> Result<(), StoreError>;
}

/// A source claimed from the queue of work ([`JobStore::claim_work`]).
#[derive(Debug, Clone)]
pub struct Work {
    pub batch: String,
    pub asset: AssetRow,
    /// How many times the source was claimed, this claim included (a worker gives up on
    /// a source after so many: the store does not decide).
    pub attempts: u32,
}

/// An asset id: the batch, the source's number in it, the spec (`<batch>.<seq>.<spec>`).
pub fn asset_id(batch: &str, seq: i64, spec: &str) -> String {
    format!("{batch}.{seq}.{spec}")
}

/// A new batch id: 16 hex digits from the time, the process and a counter (every door
/// makes its batches' ids here).
pub fn new_batch_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!(
        "{nanos}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sha256_hex(seed.as_bytes())[..16].to_string()
}
