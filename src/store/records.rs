//! What the job store holds, as every implementation hands it out: batches, their
//! uploaded files, state changes and webhook deliveries.

use std::path::{Path, PathBuf};

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
/// What became of a request to delete a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// No such batch.
    NotFound,
    /// Still being received or processed: left as it is.
    Unsettled,
}

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

    /// A state as the store writes it; anything else reads as receiving.
    pub fn parse(s: &str) -> BatchState {
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

/// What a batch folder the store keeps says of its owner, in `.shelfready/store.json`: a
/// command pointed at the folder finds the store that holds its records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchMark {
    /// The data folder (absolute).
    pub data_dir: PathBuf,
    pub batch: String,
    /// Whether the batch's records are in a database other processes share (PostgreSQL):
    /// then the API node decides on it, not a command on this folder.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

impl BatchMark {
    /// The mark a folder carries, if a store keeps it.
    pub fn of(dir: &Path) -> Option<BatchMark> {
        let text = std::fs::read(dir.join(".shelfready").join("store.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }
}
