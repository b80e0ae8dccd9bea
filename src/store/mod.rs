//! Where outputs and handoffs live. The doors talk to a [`Store`]; the output folder of the
//! CLI is its first implementation ([`FolderStore`]), the SQLite job store and object
//! storage later ones.

mod folder;
mod journal;

pub use folder::{sha256_hex, write_atomic, FolderStore};

use thiserror::Error;

use crate::handoff::{BatchManifest, ErrorCode, Handoff};
use crate::spec::Spec;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{path} already exists and was not written by shelfready; it was left alone. Move it away or choose another output folder")]
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
}

impl StoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotOurs { .. } => ErrorCode::OutputExists,
            StoreError::Locked { .. } => ErrorCode::StoreLocked,
            StoreError::Write { .. } => ErrorCode::OutputWriteFailed,
            StoreError::Manifest { .. } => ErrorCode::ManifestWriteFailed,
            StoreError::Read { .. } => ErrorCode::StoreUnreadable,
        }
    }
}

/// One source as the store knows it: its stable key and the name its outputs carry.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceName {
    pub key: String,
    pub name: String,
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
    /// new one, close to `wanted`, that no other source owns. Names never move between
    /// sources.
    fn claim_name(&self, key: &str, wanted: &str) -> Result<String, StoreError>;

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

    /// Puts the manifest of a whole batch.
    fn put_batch(&self, manifest: &BatchManifest) -> Result<(), StoreError>;
}
