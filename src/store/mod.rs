//! Where outputs and handoffs live. The doors talk to a [`Store`]; the output folder of the
//! CLI is its first implementation ([`FolderStore`]), the SQLite job store and object
//! storage later ones.

mod folder;
mod journal;
mod rules;
mod sqlite;

pub use folder::{sha256_hex, sweep_temp_files, write_atomic, write_atomic_with, FolderStore};
pub use sqlite::{AssetRow, BatchRow, BatchState, BatchStore, Delivery, SqliteStore};

use thiserror::Error;

use crate::handoff::{BatchManifest, ErrorCode, Handoff};
use crate::spec::Spec;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{path} is in the way: a file there differs from this output and shelfready has no record of writing it, so it was left alone. Move it away or choose another output folder (if it is an older shelfready output whose records, .shelfready/, were deleted, deleting it is safe: the run makes it again)")]
    NotOurs { path: String },
    #[error("{folder} is in use by another shelfready run ({holder}); wait for it to finish or choose another output folder")]
    Locked { folder: String, holder: String },
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
}

impl StoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotOurs { .. } => ErrorCode::OutputExists,
            StoreError::Locked { .. } => ErrorCode::StoreLocked,
            StoreError::Write { .. } => ErrorCode::OutputWriteFailed,
            StoreError::Manifest { .. } => ErrorCode::ManifestWriteFailed,
            StoreError::Read { .. } => ErrorCode::StoreUnreadable,
            StoreError::Database { .. } => ErrorCode::DatabaseFailed,
        }
    }
}

/// Writes a manifest as pretty JSON, atomically; returns the text written. Every store
/// writes its handoffs and batch manifests through here.
pub(crate) fn write_manifest<T: serde::Serialize>(
    path: &std::path::Path,
    value: &T,
) -> Result<String, StoreError> {
    let err = |error| StoreError::Manifest {
        path: path.display().to_string(),
        error,
    };
    let json = serde_json::to_string_pretty(value).map_err(|e| err(e.into()))?;
    write_atomic(path, json.as_bytes()).map_err(err)?;
    Ok(json)
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
}
