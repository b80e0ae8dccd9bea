//! One stable, kebab-case code for every failure, whichever door reports it. Each code has
//! a category, and the category alone decides the HTTP status and the process exit code,
//! so the CLI, the server and the watcher never disagree about what a failure means.
//!
//! A leaf: it imports nothing of the crate, so the core (`pipeline`, `spec`) and the
//! handoff model both depend on it and not on each other.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every failure the library reports. Listed in the manifests' JSON Schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    // The source file.
    DecodeNotAnImage,
    DecodeUnsupportedFormat,
    DecodeUnsupportedLayout,
    DecodeFileTooBig,
    DecodeTooManyPixels,
    DecodeTooLargeDimension,
    DecodeTooMuchMemory,
    DecodeTruncated,
    DecodeCorrupt,
    DecodeEmpty,
    SourceUnreadable,
    // What comes with the sources.
    /// A supplier's catalog (or product list) that cannot be read as one.
    CatalogUnreadable,
    /// An image a catalog names by URL could not be fetched.
    FetchFailed,
    // Making the output.
    RenderNothingVisible,
    RenderResizeFailed,
    EncodeJpegFailed,
    EncodePngFailed,
    EncodeWebpFailed,
    EncodeAlphaUnsupported,
    /// A check of severity `fail` did not pass on the written file.
    ChecksFailed,
    // Where outputs go.
    OutputExists,
    OutputWriteFailed,
    ManifestWriteFailed,
    StoreLocked,
    StoreUnreadable,
    /// The job database (serve, watch) could not be read or written.
    DatabaseFailed,
    // Specs and the command line.
    SpecUnknown,
    SpecUnreadable,
    SpecBadField,
    SpecInvalidValue,
    /// A spec extending a built-in breaks that marketplace's hard rules.
    SpecBreaksMarketplaceRules,
    UsageError,
    // The HTTP service.
    /// No bearer token, or the wrong one.
    Unauthorized,
    /// The token may not do this (a reviewer's cannot upload), or a browser request from
    /// another site or for another host reached a server without a token.
    Forbidden,
    /// No batch, asset or spec by that id.
    NotFound,
    /// The queue is full, or the server is stopping: try again later.
    ServerBusy,
    /// The upload is over the body size limit.
    UploadTooLarge,
    /// The upload holds more files than a batch may.
    UploadTooManyFiles,
    /// The upload is not a multipart form shelfready can read.
    UploadMalformed,
    /// An `Idempotency-Key` already used for an upload with other files or fields.
    IdempotencyKeyReused,
    // Review.
    /// A decision on an output that is not waiting for one (already decided, or ready).
    ReviewNotWaiting,
    /// A retry whose source is no longer where the output was made from.
    ReviewSourceGone,
    // The run itself.
    Cancelled,
    /// A source whose processing stopped unfinished more times than a worker may take it
    /// up (each time the process running it died: out of memory, killed): not tried again.
    WorkerLost,
    InternalError,
}

/// What kind of failure a code is; decides the HTTP status and the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The source file is damaged, empty or not an image: the supplier must act.
    BadInput,
    /// The source is over a safety limit.
    TooLarge,
    /// A format or layout we do not read.
    Unsupported,
    /// The output did not meet its spec.
    Unmet,
    /// Something already there is in the way (a file we did not write, another run).
    Conflict,
    /// Reading or writing our own storage failed.
    Storage,
    /// The request itself is wrong: unknown spec, bad field, bad flag.
    Usage,
    /// The work was stopped on request.
    Cancelled,
    /// The request carries no valid credentials.
    Unauthorized,
    /// Allowed to ask, not to do this.
    Forbidden,
    /// What the request names does not exist.
    NotFound,
    /// Too much work already waiting; try again later.
    Busy,
    /// A bug in shelfready.
    Internal,
}

impl ErrorCode {
    /// The failures of the machine, not of the file (a full disk, an unreadable
    /// database): the same work may succeed when tried again.
    pub const RETRYABLE: &'static [ErrorCode] = &[
        ErrorCode::OutputWriteFailed,
        ErrorCode::ManifestWriteFailed,
        ErrorCode::StoreUnreadable,
        ErrorCode::DatabaseFailed,
    ];

    pub fn is_retryable(self) -> bool {
        Self::RETRYABLE.contains(&self)
    }

    pub fn category(self) -> Category {
        use ErrorCode::*;
        match self {
            DecodeNotAnImage | DecodeTruncated | DecodeCorrupt | DecodeEmpty | SourceUnreadable
            | RenderNothingVisible | CatalogUnreadable | FetchFailed => Category::BadInput,
            DecodeFileTooBig
            | UploadTooLarge
            | UploadTooManyFiles
            | DecodeTooManyPixels
            | DecodeTooLargeDimension
            | DecodeTooMuchMemory => Category::TooLarge,
            DecodeUnsupportedFormat | DecodeUnsupportedLayout | EncodeAlphaUnsupported => {
                Category::Unsupported
            }
            ChecksFailed => Category::Unmet,
            OutputExists | StoreLocked | ReviewNotWaiting | ReviewSourceGone
            | IdempotencyKeyReused => Category::Conflict,
            OutputWriteFailed | ManifestWriteFailed | StoreUnreadable | DatabaseFailed => {
                Category::Storage
            }
            SpecUnknown
            | SpecUnreadable
            | SpecBadField
            | SpecInvalidValue
            | SpecBreaksMarketplaceRules
            | UsageError
            | UploadMalformed => Category::Usage,
            Cancelled => Category::Cancelled,
            Unauthorized => Category::Unauthorized,
            Forbidden => Category::Forbidden,
            NotFound => Category::NotFound,
            ServerBusy => Category::Busy,
            RenderResizeFailed | EncodeJpegFailed | EncodePngFailed | EncodeWebpFailed
            | WorkerLost | InternalError => Category::Internal,
        }
    }

    /// The kebab-case text, as in manifests and HTTP bodies.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn http_status(self) -> u16 {
        self.category().http_status()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Category {
    pub fn http_status(self) -> u16 {
        match self {
            Category::BadInput | Category::Unmet => 422,
            Category::TooLarge => 413,
            Category::Unsupported => 415,
            Category::Conflict => 409,
            Category::Storage => 507,
            Category::Usage => 400,
            Category::Cancelled => 499,
            Category::Internal => 500,
            Category::Unauthorized => 401,
            Category::Forbidden => 403,
            Category::NotFound => 404,
            Category::Busy => 503,
        }
    }

    /// Exit code of a command that stops on this failure (sysexits.h). A batch in which
    /// some outputs failed and the rest were made exits 1 instead.
    pub fn exit_code(self) -> u8 {
        match self {
            Category::BadInput | Category::TooLarge | Category::Unsupported | Category::Unmet => {
                65 // EX_DATAERR
            }
            Category::Usage => 64,        // EX_USAGE
            Category::Conflict => 75,     // EX_TEMPFAIL: try again when the other run is done
            Category::Storage => 74,      // EX_IOERR
            Category::Cancelled => 130,   // as after Ctrl-C
            Category::Internal => 70,     // EX_SOFTWARE
            Category::Unauthorized => 77, // EX_NOPERM
            Category::Forbidden => 77,    // EX_NOPERM
            Category::NotFound => 66,     // EX_NOINPUT
            Category::Busy => 75,         // EX_TEMPFAIL
        }
    }
}

/// Why an asset failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// Stable kebab-case code (`decode-truncated`).
    pub code: ErrorCode,
    /// What happened, in words for the person who supplied the file.
    pub message: String,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_and_round_trip() {
        assert_eq!(
            ErrorCode::DecodeTooManyPixels.as_str(),
            "decode-too-many-pixels"
        );
        assert_eq!(ErrorCode::OutputExists.to_string(), "output-exists");
        let back: ErrorCode = serde_json::from_str("\"store-locked\"").unwrap();
        assert_eq!(back, ErrorCode::StoreLocked);
        assert_eq!(ErrorCode::StoreLocked.http_status(), 409);
        assert_eq!(ErrorCode::DecodeTooManyPixels.http_status(), 413);
        assert_eq!(ErrorCode::OutputWriteFailed.category().exit_code(), 74);
    }
}
