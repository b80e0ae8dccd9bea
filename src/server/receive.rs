//! Reading an upload's multipart body: each file streamed to the batch's folder as it
//! arrives (never a whole batch in memory) and made durable while the next arrives, zips
//! unpacked within limits, the small fields (specs, webhook, catalog) read within theirs,
//! everything hashed into the upload's fingerprint; a body over its limit is read on a
//! little (so the client hears the answer) and refused.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::Multipart;
use axum::http::StatusCode;
use tokio::io::AsyncWriteExt;

use super::app::App;
use super::error::ApiError;
use super::meter::{self, Meter, Refusal};
use super::upload::{spec_ids, upload_key, Fingerprint};
use crate::handoff::{context_from_path, ErrorCode, Failure};
use crate::intake::Catalog;
use crate::naming;
use crate::store::AssetRow;

/// The largest text field read (`specs`, `webhook`, and any other).
const TEXT_FIELD: usize = 64 * 1024;
/// The largest catalog (CSV, XLSX or JSON) read: the catalog reader's own file limit.
const CATALOG_FIELD: usize = crate::intake::catalog::MAX_FILE_BYTES as usize;

/// What has arrived so far.
#[derive(Default)]
pub(super) struct Received {
    pub(super) specs: Option<Vec<String>>,
    pub(super) catalog: Option<Catalog>,
    pub(super) webhook: Option<String>,
    pub(super) files: Vec<(String, String, AssetRow)>,
    pub(super) keys: HashSet<String>,
    /// Counts the body's bytes as they arrive, framing included.
    pub(super) meter: Arc<Meter>,
    /// What the upload sent, hashed as it arrives (see [`Fingerprint`]).
    pub(super) fingerprint: Fingerprint,
    /// Files received, being made durable while the next ones arrive.
    pub(super) syncing: tokio::task::JoinSet<Result<(), ApiError>>,
}

pub(super) fn too_large(max: u64) -> ApiError {
    ApiError::new(
        ErrorCode::UploadTooLarge,
        format!("the upload is over the limit of {max} bytes per request (max_body_bytes); send the photos in smaller batches"),
    )
}

pub(super) fn multipart_error(e: MultipartError, meter: &Meter, max: u64) -> ApiError {
    match meter.refusal() {
        Some(Refusal::TooLarge) => return too_large(max),
        Some(Refusal::Framing) => {
            return ApiError::new(
                ErrorCode::UploadMalformed,
                format!("the upload's multipart framing (part headers, empty parts, preamble) is over {} bytes; send files as multipart/form-data fields with short headers", meter::MAX_FRAMING),
            )
        }
        None => {}
    }
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(max);
    }
    ApiError::new(
        ErrorCode::UploadMalformed,
        format!("the upload is not a multipart form shelfready can read ({}); send files as multipart/form-data fields with file names, and a `specs` field", e.body_text()),
    )
}

/// Streams the fields to disk.
pub(super) async fn receive(
    app: &App,
    mp: &mut Multipart,
    dir: &Path,
    got: &mut Received,
) -> Result<(), ApiError> {
    let max_body = app.config.max_body_bytes;
    let originals = dir.join("originals");
    let cannot = |e: std::io::Error| {
        ApiError::new(
            ErrorCode::OutputWriteFailed,
            format!("cannot write {}: {e}", originals.display()),
        )
    };
    // Marks the folder as an upload in progress until it is recorded (see recover), before
    // anything else is put in it: a crash leaves no unmarked folder behind.
    tokio::fs::create_dir_all(dir).await.map_err(cannot)?;
    tokio::fs::write(dir.join(crate::store::RECEIVING_MARK), b"")
        .await
        .map_err(cannot)?;
    tokio::fs::create_dir(&originals).await.map_err(cannot)?;
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| multipart_error(e, &got.meter, max_body))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_owned);
        got.fingerprint.field(&name, file_name.as_deref());
        match (name.as_str(), file_name) {
            ("specs", None) => {
                let text = small_field(&mut field, got, max_body, TEXT_FIELD).await?;
                let ids = spec_ids(&String::from_utf8_lossy(&text))?;
                // Named before any more bytes are taken.
                app.specs_of(&ids)?;
                got.specs = Some(ids);
            }
            ("webhook", None) => {
                let text = small_field(&mut field, got, max_body, TEXT_FIELD).await?;
                let url = String::from_utf8_lossy(&text).trim().to_string();
                if !crate::intake::is_url(&url) {
                    return Err(ApiError::new(
                        ErrorCode::UsageError,
                        format!("webhook '{url}' is not an http or https URL"),
                    ));
                }
                if app.config.webhook_secret.is_none() {
                    return Err(ApiError::new(
                        ErrorCode::UsageError,
                        "this server has no webhook_secret, and webhooks are always signed: set one to use webhooks",
                    ));
                }
                got.webhook = Some(url);
            }
            ("catalog", _) => {
                let bytes = small_field(&mut field, got, max_body, CATALOG_FIELD).await?;
                // Parsing is work: on a blocking thread, never on the ones answering requests.
                let c = tokio::task::spawn_blocking(move || Catalog::parse(&bytes))
                    .await
                    .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?
                    .map_err(|e| ApiError::new(ErrorCode::UploadMalformed, e.to_string()))?;
                got.catalog = Some(c);
            }
            (_, Some(file_name)) => receive_file(app, &mut field, &file_name, dir, got).await?,
            _ => {
                // An unknown text field: read and dropped, still counted.
                small_field(&mut field, got, max_body, TEXT_FIELD).await?;
            }
        }
    }
    // Durable before the upload is answered: a restart must find every file.
    while let Some(synced) = got.syncing.join_next().await {
        synced.map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))??;
    }
    Ok(())
}

/// How long, and how much, of a refused upload's body is read before the answer.
const LINGER: Duration = Duration::from_secs(5);
const LINGER_BYTES: u64 = 64 << 20;

/// Reads and drops what is left of a refused upload, within [`LINGER`] and
/// [`LINGER_BYTES`], before the answer goes: a client still sending when the connection
/// closes gets a reset, and with it loses the answer (other servers call it a lingering
/// close).
pub(super) async fn linger(mp: &mut Multipart, meter: &Meter, max: u64) {
    let cap = max.min(LINGER_BYTES);
    // What the parser skips of the field that was refused counts toward the cap, not as
    // framing: the meter would otherwise cut the body short and the client lose the answer.
    meter.drain(cap);
    let drain = async {
        while let Ok(Some(mut f)) = mp.next_field().await {
            while let Ok(Some(c)) = f.chunk().await {
                meter.field_bytes(c.len() as u64);
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// The field's next chunk, counted against the body limit.
async fn next_chunk(
    field: &mut Field<'_>,
    got: &mut Received,
    max_body: u64,
) -> Result<Option<axum::body::Bytes>, ApiError> {
    let chunk = field
        .chunk()
        .await
        .map_err(|e| multipart_error(e, &got.meter, max_body))?;
    if let Some(c) = &chunk {
        // Field content, not framing; the body limit is the meter's to enforce.
        got.meter.field_bytes(c.len() as u64);
        got.fingerprint.bytes(c);
    }
    Ok(chunk)
}

async fn small_field(
    field: &mut Field<'_>,
    got: &mut Received,
    max_body: u64,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = next_chunk(field, got, max_body).await? {
        if buf.len() + chunk.len() > limit {
            let name = naming::printable(field.name().unwrap_or_default()).into_owned();
            return Err(ApiError::new(
                ErrorCode::UploadTooLarge,
                format!(
                    "the form field `{}` is over {limit} bytes",
                    naming::cap(&name, 64)
                ),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

async fn receive_file(
    app: &App,
    field: &mut Field<'_>,
    file_name: &str,
    dir: &Path,
    got: &mut Received,
) -> Result<(), ApiError> {
    let (max_body, max_file, max_files) = (
        app.config.max_body_bytes,
        app.config.max_file_bytes,
        app.config.max_files,
    );
    let seq = got.files.len() + 1;
    if seq > max_files {
        return Err(ApiError::new(
            ErrorCode::UploadTooManyFiles,
            format!("the upload holds more than {max_files} files, the limit per batch (max_files); send them as several batches"),
        ));
    }
    let shown: String = file_name.chars().filter(|c| !c.is_control()).collect();
    let mut key = upload_key(file_name).unwrap_or_else(|| format!("upload-{seq}"));
    // A zip is a folder of photos sent as one file: kept aside, then unpacked (whatever
    // its name, even one sent twice).
    let zipped = key.to_ascii_lowercase().ends_with(".zip");
    if !zipped && !got.keys.insert(key.to_lowercase()) {
        // The same name twice in one batch: the second is told apart by its number.
        key = format!("{key}~{seq}");
        got.keys.insert(key.to_lowercase());
    }
    let original = if zipped {
        format!("originals/{seq}.zip")
    } else {
        format!("originals/{seq}")
    };
    let path = dir.join(&original);
    let write_err = |e: std::io::Error| cannot_keep(&shown, e);
    let mut out = Some(tokio::fs::File::create(&path).await.map_err(write_err)?);
    // A zip holds many photos: only the upload's limit holds for it as a whole.
    let max_file = if zipped { max_body } else { max_file };
    let mut size = 0u64;
    while let Some(chunk) = next_chunk(field, got, max_body).await? {
        size += chunk.len() as u64;
        if size > max_file {
            // Over the per-file limit: the rest is read and dropped, and the photo fails
            // with the reason; the other files go on.
            out = None;
            continue;
        }
        if let Some(f) = out.as_mut() {
            f.write_all(&chunk).await.map_err(write_err)?;
        }
    }
    let failure = match out {
        Some(mut f) => {
            f.flush().await.map_err(write_err)?;
            // Synced while the next file arrives; `receive` waits for all before answering.
            let shown = shown.clone();
            got.syncing
                .spawn(async move { f.sync_all().await.map_err(|e| cannot_keep(&shown, e)) });
            None
        }
        None => {
            let _ = tokio::fs::remove_file(&path).await;
            Some(Failure::new(
                ErrorCode::DecodeFileTooBig,
                format!("the file is over the {max_file}-byte limit for one source image (it is at least {size} bytes)"),
            ))
        }
    };
    if zipped && failure.is_none() {
        return unzip(app, &path, &shown, dir, got).await;
    }
    let (folders, stem) = naming::folders_and_stem(&key);
    got.files.push((
        shown.clone(),
        key.clone(),
        AssetRow {
            seq: seq as i64,
            source_key: key,
            upload_name: shown,
            original,
            bytes: size,
            context: context_from_path(&folders, &stem),
            failure,
        },
    ));
    Ok(())
}

/// Unpacks an uploaded zip into the batch's originals, each photo an upload of its own
/// named by its path in the zip (folders kept); its catalog, when it holds one and the
/// upload sent none, is the batch's.
async fn unzip(
    app: &App,
    zip: &Path,
    shown: &str,
    dir: &Path,
    got: &mut Received,
) -> Result<(), ApiError> {
    // Whole on disk before it is read.
    while let Some(synced) = got.syncing.join_next().await {
        synced.map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))??;
    }
    let limits = crate::intake::archive::ZipLimits {
        max_entries: app.config.max_files,
        max_entry_bytes: app.config.max_file_bytes,
        max_total_bytes: app.config.max_body_bytes,
    };
    let (zip2, into) = (zip.to_path_buf(), dir.join("originals"));
    let sent = got.files.len();
    let unpacked = tokio::task::spawn_blocking(move || {
        let u = crate::intake::archive::unpack(&zip2, &into, sent + 1, sent, limits);
        let _ = std::fs::remove_file(&zip2);
        u
    })
    .await
    .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?;
    let printable = naming::printable(shown);
    let shown_name = naming::cap(&printable, 80).to_string();
    let unpacked = unpacked.map_err(|e| {
        let code = match e {
            crate::intake::archive::ArchiveError::TooManyEntries(_) => {
                ErrorCode::UploadTooManyFiles
            }
            crate::intake::archive::ArchiveError::TooLarge(_) => ErrorCode::UploadTooLarge,
            crate::intake::archive::ArchiveError::Write(_) => ErrorCode::OutputWriteFailed,
            crate::intake::archive::ArchiveError::NotZip(_) => ErrorCode::UploadMalformed,
        };
        ApiError::new(code, format!("the zip {shown_name}: {e}"))
    })?;
    if let (Some(bytes), None) = (unpacked.catalog, &got.catalog) {
        let c = tokio::task::spawn_blocking(move || Catalog::parse(&bytes))
            .await
            .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::UploadMalformed,
                    format!("the zip {shown_name}: {e}"),
                )
            })?;
        got.catalog = Some(c);
    }
    for e in unpacked.entries {
        let mut key = e.key;
        if !got.keys.insert(key.to_lowercase()) {
            key = format!("{key}~{}", e.seq);
            got.keys.insert(key.to_lowercase());
        }
        let (folders, stem) = naming::folders_and_stem(&key);
        got.files.push((
            key.clone(),
            key.clone(),
            AssetRow {
                seq: e.seq as i64,
                source_key: key.clone(),
                upload_name: format!("{shown}/{key}"),
                original: format!("originals/{}", e.seq),
                bytes: e.bytes,
                context: context_from_path(&folders, &stem),
                failure: e.failure,
            },
        ));
    }
    Ok(())
}

fn cannot_keep(shown: &str, e: std::io::Error) -> ApiError {
    ApiError::new(
        ErrorCode::OutputWriteFailed,
        format!("cannot keep the upload {shown}: {e}"),
    )
}
