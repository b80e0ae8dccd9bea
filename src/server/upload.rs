//! `POST /v1/batches`: a multipart upload streamed to the batch's folder file by file
//! (never a whole batch in memory: `receive.rs` reads it), recorded, named, and queued on
//! the engine; a retried upload with its `Idempotency-Key` answered with the first batch.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::app::App;
use super::error::ApiError;
use super::meter::{self, Meter, Refusal};
use super::receive::{linger, multipart_error, receive, too_large, Received};
use crate::handoff::{Clock, ErrorCode, SystemClock};
use crate::naming;
use crate::store::{BatchState, Idempotency, KeyedBatch};

/// Most distinct specs one upload may name (a name given twice counts once).
pub const MAX_SPECS: usize = 16;
/// The longest spec id read.
const MAX_SPEC_ID: usize = 64;

/// The answer to an accepted upload.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Created {
    pub id: String,
    pub state: BatchState,
    /// Files received.
    pub assets: usize,
    pub specs: Vec<String>,
    /// True when an `Idempotency-Key` already used made this the first upload's answer.
    pub replayed: bool,
    /// The catalog sent with the upload, as it was read: which columns gave which fields,
    /// which were not read, the cells that could not be used, the rows naming no file sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<crate::handoff::CatalogReport>,
    pub links: Links,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Links {
    pub status: String,
    pub events: String,
    pub manifest: String,
    pub download: String,
}

impl Links {
    pub fn of(id: &str) -> Links {
        Links {
            status: format!("/v1/batches/{id}"),
            events: format!("/v1/batches/{id}/events"),
            manifest: format!("/v1/batches/{id}/manifest"),
            download: format!("/v1/batches/{id}/download"),
        }
    }
}

/// An upload's stable key: its path as the client gave it, made safe. `\` reads as `/`;
/// empty, `.`, `..` and drive parts (`C:`) are dropped; control characters are removed.
/// `../../etc/passwd` becomes `etc/passwd`, `C:\shots\mug.png` becomes `shots/mug.png`.
/// The key never leaves the batch folder: files are kept under numbered names anyway.
pub fn upload_key(name: &str) -> Option<String> {
    crate::intake::archive::safe_path(name)
}

/// The output name an upload asks for: its folders and stem (see [`naming::wanted_from_path`]).
pub fn wanted_name(key: &str) -> String {
    naming::wanted_from_path(key)
}

/// An upload's fingerprint: sha256 over each field's name, file name, length and bytes'
/// digest, in order, so that the same files and fields sent again (with any boundary)
/// match, and anything else does not. Every part is framed by its length or a tag: no
/// bytes can be moved from one field into another's name and hash the same.
#[derive(Default)]
pub(super) struct Fingerprint {
    outer: sha2::Sha256,
    /// The field being read: its bytes' hash and count.
    field: Option<(sha2::Sha256, u64)>,
}

/// Marks fingerprints framed as above; one without it (kept by an earlier version) is
/// taken at its key's word.
const FINGERPRINT_VERSION: &str = "v2:";

impl Fingerprint {
    pub(super) fn field(&mut self, name: &str, file_name: Option<&str>) {
        use sha2::Digest;
        self.close();
        self.outer.update((name.len() as u64).to_le_bytes());
        self.outer.update(name.as_bytes());
        match file_name {
            Some(f) => {
                self.outer.update([1]);
                self.outer.update((f.len() as u64).to_le_bytes());
                self.outer.update(f.as_bytes());
            }
            None => self.outer.update([0]),
        }
        self.field = Some((sha2::Sha256::new(), 0));
    }

    pub(super) fn bytes(&mut self, chunk: &[u8]) {
        use sha2::Digest;
        if let Some((h, n)) = &mut self.field {
            h.update(chunk);
            *n += chunk.len() as u64;
        }
    }

    pub(super) fn close(&mut self) {
        use sha2::Digest;
        if let Some((h, n)) = self.field.take() {
            self.outer.update(n.to_le_bytes());
            self.outer.update(h.finalize());
        }
    }

    pub(super) fn hex(mut self) -> String {
        use sha2::Digest;
        self.close();
        let digest: String = self
            .outer
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{FINGERPRINT_VERSION}{digest}")
    }
}

#[utoipa::path(post, path = "/v1/batches", request_body(content_type = "multipart/form-data", description = "image files (any field name, each with a file name), `specs` (comma-separated spec ids), optionally `webhook` (a URL the batch's events are POSTed to, signed) and `catalog` (CSV, XLSX or JSON: file, sku, position, alt_text, title, identifier)"), params(("Idempotency-Key" = Option<String>, Header, description = "a retried upload with the same key and the same fields and files returns the first batch; other fields or files with it: 409")), responses((status = 202, description = "accepted: processing has started", body = ref("#/components/schemas/Created")), (status = 409, description = "the Idempotency-Key was used for an upload of other files or fields", body = ref("#/components/schemas/ErrorBody")), (status = 400, description = "no specs, unknown spec, no files, not multipart", body = ref("#/components/schemas/ErrorBody")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 413, description = "body over max_body_bytes or more than max_files files", body = ref("#/components/schemas/ErrorBody")), (status = 503, description = "queue full or stopping; see Retry-After", body = ref("#/components/schemas/ErrorBody"))))]
pub async fn create_batch(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let max_body = app.config.max_body_bytes;
    let meter = Arc::new(Meter::default());
    let req = meter::metered(req, meter.clone(), max_body);
    let mut mp = Multipart::from_request(req, &()).await.map_err(|e| {
        ApiError::new(
            ErrorCode::UploadMalformed,
            format!("the upload is not a multipart form ({}); send files as multipart/form-data fields with file names, and a `specs` field", e.body_text()),
        )
    })?;
    // Answers that need no file come first, in this order: too large is final, a replay
    // is the first upload's answer even while the queue is full, then the queue. All but
    // the first read what the client still sends before they go (see `linger`).
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body) {
        // Not read: the meter stops any body at the limit anyway.
        return Err(too_large(max_body));
    }
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    if idempotency_key.as_ref().is_some_and(|k| k.len() > 255) {
        linger(&mut mp, &meter, max_body).await;
        return Err(ApiError::new(
            ErrorCode::UploadMalformed,
            "the Idempotency-Key header is over 255 characters",
        ));
    }
    if let Some(k) = &idempotency_key {
        let (store, k) = (app.store.clone(), k.clone());
        let first = super::routes::blocking(move || Ok(store.batch_with_key(&k)?)).await?;
        if let Some(first) = first {
            return replay(&app, &mut mp, &meter, first).await;
        }
    }
    if app.stopping.load(Ordering::SeqCst) {
        linger(&mut mp, &meter, max_body).await;
        return Err(ApiError::busy(
            "the server is stopping; send it again in a moment",
            10,
        ));
    }
    let store = app.store.clone();
    let waiting = super::routes::blocking(move || Ok(store.queued_outputs()?)).await?;
    if waiting >= app.config.queue_capacity {
        linger(&mut mp, &meter, max_body).await;
        return Err(queue_full(&app, waiting));
    }
    let id = crate::store::new_batch_id();
    let dir = {
        let (store, id) = (app.store.clone(), id.clone());
        super::routes::blocking(move || Ok(store.batch_dir(&id))).await?
    };
    let mut got = Received {
        meter,
        ..Received::default()
    };
    if let Err(e) = receive(&app, &mut mp, &dir, &mut got).await {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        // A body over the limit is not read on; any other refusal (a field or a zip over
        // its own limit, too many files) reads the rest so the client hears the answer.
        if got.meter.refusal() != Some(Refusal::TooLarge) {
            linger(
                &mut mp,
                &got.meter,
                max_body.saturating_sub(got.meter.total()),
            )
            .await;
        }
        return Err(e);
    }
    app.metrics.bytes_in(got.meter.total());
    let app2 = app.clone();
    let id2 = id.clone();
    let done =
        tokio::task::spawn_blocking(move || record(&app2, &id2, got, idempotency_key.as_deref()))
            .await
            .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?;
    match done {
        Ok(batch) if batch == id => accepted(&app, &id, false).await,
        // The same key raced in twice: the first one stands.
        Ok(first) => {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            accepted(&app, &first, true).await
        }
        Err(e) => {
            // Whatever was recorded goes too: a retry with the same key starts afresh.
            let store = app.store.clone();
            let _ = tokio::task::spawn_blocking(move || store.delete_batch(&id)).await;
            let _ = tokio::fs::remove_dir_all(&dir).await;
            Err(e)
        }
    }
}

/// An upload with an `Idempotency-Key` already used: read through (nothing kept) and
/// answered with the first batch when it sends the same fields and files, refused with 409
/// when it sends others (a new upload needs a new key).
async fn replay(
    app: &Arc<App>,
    mp: &mut Multipart,
    meter: &Meter,
    first: KeyedBatch,
) -> Result<Response, ApiError> {
    let max_body = app.config.max_body_bytes;
    let mut print = Fingerprint::default();
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| multipart_error(e, meter, max_body))?
    {
        print.field(field.name().unwrap_or_default(), field.file_name());
        while let Some(c) = field
            .chunk()
            .await
            .map_err(|e| multipart_error(e, meter, max_body))?
        {
            meter.field_bytes(c.len() as u64);
            print.bytes(&c);
        }
    }
    same_upload(&first, &print.hex())?;
    accepted(app, &first.id, true).await
}

/// Refuses a key's reuse for another upload. A batch recorded before fingerprints were
/// kept, or kept another way, is taken at its key's word.
fn same_upload(first: &KeyedBatch, fingerprint: &str) -> Result<(), ApiError> {
    let kept = first
        .fingerprint
        .as_deref()
        .filter(|k| k.starts_with(FINGERPRINT_VERSION));
    if kept.is_some_and(|k| k != fingerprint) {
        return Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            format!("this Idempotency-Key was used for batch {}, an upload of other files or fields; a new upload needs a new key", first.id),
        ));
    }
    Ok(())
}

async fn accepted(app: &Arc<App>, id: &str, replayed: bool) -> Result<Response, ApiError> {
    let (store, id2) = (app.store.clone(), id.to_string());
    let (row, assets, catalog) = super::routes::blocking(move || {
        let row = store
            .batch_row(&id2)?
            .ok_or_else(|| ApiError::not_found("batch", &id2))?;
        let assets = store.assets(&id2)?.len();
        let catalog = crate::job::Intake::load(store.as_ref(), &id2)?.catalog;
        Ok((row, assets, catalog))
    })
    .await?;
    let body = Created {
        id: id.to_string(),
        state: row.state,
        assets,
        specs: row.specs,
        replayed,
        catalog,
        links: Links::of(id),
    };
    let mut r = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&format!("/v1/batches/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// The spec ids of a `specs` field: comma-separated, each named once, at most
/// [`MAX_SPECS`]. Nothing of the field is echoed but a short id.
pub(super) fn spec_ids(text: &str) -> Result<Vec<String>, ApiError> {
    let mut ids: Vec<String> = Vec::new();
    for id in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if id.len() > MAX_SPEC_ID {
            return Err(ApiError::new(
                ErrorCode::SpecUnknown,
                format!(
                    "a spec id in `specs` is over {MAX_SPEC_ID} bytes; GET /v1/specs lists them"
                ),
            ));
        }
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
        if ids.len() > MAX_SPECS {
            return Err(ApiError::new(
                ErrorCode::UsageError,
                format!("`specs` names more than {MAX_SPECS} specs; send the photos again in another upload for the rest"),
            ));
        }
    }
    Ok(ids)
}

fn queue_full(app: &App, waiting: usize) -> ApiError {
    ApiError::busy(
        format!("the queue is full ({waiting} outputs waiting, the limit is {}); send it again in a little while", app.config.queue_capacity),
        10,
    )
}

/// Records the batch, its files and their names, and queues it. Returns the batch that
/// stands: this one, or the first with the same idempotency key.
fn record(
    app: &Arc<App>,
    id: &str,
    mut got: Received,
    idempotency_key: Option<&str>,
) -> Result<String, ApiError> {
    let Some(spec_ids) = got.specs.filter(|s| !s.is_empty()) else {
        return Err(ApiError::new(
            ErrorCode::UsageError,
            "the upload has no `specs` field: add one with comma-separated spec ids (GET /v1/specs lists them)",
        ));
    };
    if got.files.is_empty() {
        return Err(ApiError::new(
            ErrorCode::UsageError,
            "the upload holds no files: send each photo as a multipart field with a file name",
        ));
    }
    // Unknown specs are refused before anything is written.
    app.specs_of(&spec_ids)?;
    // The work asked for, weighed against the queue: photos x specs.
    let work = got.files.len().saturating_mul(spec_ids.len());
    let capacity = app.config.queue_capacity;
    if work > capacity {
        return Err(ApiError::new(
            ErrorCode::UploadTooLarge,
            format!("the upload asks for {work} outputs ({} photos x {} specs); the queue holds {capacity}: send fewer photos or specs at a time", got.files.len(), spec_ids.len()),
        ));
    }
    let waiting = app.store.queued_outputs()?;
    if waiting + work > capacity {
        return Err(queue_full(app, waiting));
    }
    let fingerprint = std::mem::take(&mut got.fingerprint).hex();
    let idempotency = idempotency_key.map(|key| Idempotency {
        key,
        fingerprint: &fingerprint,
    });
    let first = app
        .store
        .create_batch(id, &spec_ids, &SystemClock.now(), idempotency)?;
    if first != id {
        // The same key raced in twice: the first stands if this one sent the same.
        if let Some(k) = idempotency_key {
            if let Some(keyed) = app.store.batch_with_key(k)? {
                same_upload(&keyed, &fingerprint)?;
            }
        }
        return Ok(first);
    }
    let store = app.store.batch(id);
    if let Some(url) = &got.webhook {
        app.store.set_batch_webhook(id, url)?;
    }
    let catalog = got.catalog.as_ref().map(|c| {
        let shown: Vec<String> = got.files.iter().map(|(s, _, _)| s.clone()).collect();
        let report = c.report("catalog", &shown);
        for note in report.notes() {
            tracing::info!(batch = id, "{note}");
        }
        report
    });
    crate::job::Intake {
        skipped: Vec::new(),
        catalog,
    }
    .save(app.store.as_ref(), id)?;
    let files = got.files.len();
    let objects = app.store.objects();
    let dir = app.store.batch_dir(id);
    for (shown, _, mut a) in got.files {
        if let Some(c) = &got.catalog {
            a.context = c.context(&shown, a.context);
        }
        // With the files in a bucket, every process reads the original from there, by
        // its content; the received copy in the local folder goes with the folder below.
        let mut kept = None;
        if !objects.is_local() && a.failure.is_none() {
            let path = dir.join(&a.original);
            let bytes = std::fs::read(&path).map_err(|error| crate::store::StoreError::Read {
                path: path.display().to_string(),
                error,
            })?;
            a.original = crate::store::Objects::original_key(&bytes);
            kept = Some(bytes);
        }
        app.store.add_asset(id, &a)?;
        if let Some(bytes) = kept {
            objects.keep_original(&bytes)?;
        }
        // Names are given in upload order, before any work starts, as the CLI does.
        crate::store::Store::claim_name(&store, &a.source_key, &wanted_name(&a.source_key))?;
    }
    app.store
        .set_batch_state(id, BatchState::Processing, &SystemClock.now())?;
    app.metrics.batch_created();
    tracing::info!(batch = id, files, "batch accepted");
    // Recorded: the folder is the database's now. With a bucket, nothing of the batch is
    // left in it (its files are in the bucket).
    if objects.is_local() {
        let _ = std::fs::remove_file(dir.join(crate::store::RECEIVING_MARK));
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    app.enqueue(id)?;
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field: its name, file name, and its bytes in the chunks they arrived in.
    type Sent<'a> = (&'a str, Option<&'a str>, &'a [&'a [u8]]);

    fn print(fields: &[Sent]) -> String {
        let mut f = Fingerprint::default();
        for (name, file, chunks) in fields {
            f.field(name, *file);
            for c in *chunks {
                f.bytes(c);
            }
        }
        f.hex()
    }

    #[test]
    fn a_fingerprint_tells_apart_uploads_that_share_their_bytes() {
        let two = print(&[
            ("files", Some("a.png"), &[b"AAAA"]),
            ("files", Some("b.png"), &[b"BB"]),
        ]);
        assert!(two.starts_with(FINGERPRINT_VERSION));
        // The same fields cut into other chunks (another boundary, another client).
        assert_eq!(
            two,
            print(&[
                ("files", Some("a.png"), &[b"AA", b"AA"]),
                ("files", Some("b.png"), &[b"B", b"B"]),
            ])
        );
        // One field whose bytes hold what the other two sent, names and all.
        let mut forged = b"AAAA".to_vec();
        forged.extend_from_slice(&5u64.to_le_bytes());
        forged.extend_from_slice(b"files");
        forged.extend_from_slice(&[1]);
        forged.extend_from_slice(&5u64.to_le_bytes());
        forged.extend_from_slice(b"b.png");
        forged.extend_from_slice(b"BB");
        assert_ne!(two, print(&[("files", Some("a.png"), &[&forged])]));
        // No file name is not a file name of a NUL.
        assert_ne!(
            print(&[("specs", None, &[b"x"])]),
            print(&[("specs", Some("\u{0}"), &[b"x"])])
        );
        // A fingerprint kept another way is taken at the key's word; a current one is held.
        let kept = |fingerprint: &str| KeyedBatch {
            id: "b".into(),
            fingerprint: Some(fingerprint.into()),
        };
        assert!(same_upload(&kept("0badc0de"), &two).is_ok());
        assert!(same_upload(&kept(&two), &two).is_ok());
        let other = print(&[("files", Some("a.png"), &[b"AAAA"])]);
        assert_eq!(
            same_upload(&kept(&other), &two).unwrap_err().code,
            ErrorCode::IdempotencyKeyReused
        );
    }

    #[test]
    fn upload_names_cannot_leave_the_batch() {
        assert_eq!(
            upload_key("../../etc/passwd").as_deref(),
            Some("etc/passwd")
        );
        assert_eq!(
            upload_key("C:\\shots\\mug.png").as_deref(),
            Some("shots/mug.png")
        );
        assert_eq!(
            upload_key("/abs/./x\u{0}y.png").as_deref(),
            Some("abs/xy.png")
        );
        assert_eq!(upload_key("../.."), None);
        assert_eq!(wanted_name("red mug/main.png"), "red_mug/main");
    }
}
