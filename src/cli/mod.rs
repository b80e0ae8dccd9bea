//! What only the command line does: running a batch over the engine and the folder
//! store, the summary and exit codes.

pub mod args;
pub mod check;
pub mod export;
pub mod process;
pub mod review;
pub mod summary;

use thiserror::Error;

use crate::handoff::ErrorCode;

/// A failure that stops a command before or around its batch.
#[derive(Debug, Error)]
pub enum CliError {
    #[error("{0}: no such file or folder")]
    Missing(std::path::PathBuf),
    /// What the command names (an output id, an output folder) is not there.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Intake(#[from] crate::intake::IntakeError),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("{0}")]
    Usage(String),
    /// A bug: what cannot happen did.
    #[error("shelfready hit an internal error ({0}); please report it")]
    Internal(String),
    /// Another process holds what the command needs.
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Review(#[from] crate::review::ReviewError),
    #[error(transparent)]
    Sheet(#[from] crate::pipeline::contact_sheet::SheetError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
}

impl CliError {
    pub fn code(&self) -> ErrorCode {
        match self {
            CliError::Usage(_) => ErrorCode::UsageError,
            CliError::Internal(_) => ErrorCode::InternalError,
            CliError::Busy(_) => ErrorCode::StoreLocked,
            CliError::Missing(_) | CliError::NotFound(_) => ErrorCode::NotFound,
            CliError::Intake(e) => e.code(),
            CliError::Spec(e) => e.code(),
            CliError::Store(e) => e.code(),
            CliError::Engine(e) => e.code(),
            CliError::Sheet(e) => e.code(),
            CliError::Review(e) => e.code(),
            CliError::Export(e) => e.code(),
        }
    }

    /// The process exit code, from the code's category (64 usage, 74 I/O, 75 locked, ...).
    pub fn exit_code(&self) -> u8 {
        self.code().category().exit_code()
    }
}
