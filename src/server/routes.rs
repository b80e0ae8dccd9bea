//! The read and delete routes: batch status, manifest, assets and their files, specs,
//! health and metrics. Uploads are in `upload.rs`, events in `events.rs`, the zip in
//! `download.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::app::{asset_id, App};
use super::error::ApiError;
use super::files::{exists, serve_at};
use super::upload::Links;
use crate::handoff::{BatchManifest, ErrorCode, Handoff, PhotoCounts, State as HandoffState};
use crate::spec::Spec;
use crate::store::{BatchRow, BatchState, Deletion, FileAt};

/// A batch as `GET /v1/batches/{id}` shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BatchStatus {
    pub id: String,
    pub state: BatchState,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
    pub specs: Vec<String>,
    /// Outputs by handoff state; `received` counts those not made yet.
    pub outputs: BTreeMap<String, usize>,
    pub photos: PhotoCounts,
    /// Outputs delivered (ready, approved) that the next stage has not acknowledged
    /// (`POST /v1/assets/{id}/receipt`).
    pub awaiting_receipt: usize,
    /// One line per uploaded photo.
    pub assets: Vec<AssetLine>,
    pub links: Links,
}

/// One uploaded photo: its state, its summary line and its outputs.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AssetLine {
    pub source: String,
    pub name: String,
    pub state: HandoffState,
    /// The photo's line, as the command line prints it.
    pub line: String,
    pub outputs: Vec<OutputLine>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OutputLine {
    /// The asset id (`GET /v1/assets/{id}`).
    pub id: String,
    pub spec_id: String,
    pub state: HandoffState,
    /// Where its image is, when one was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

pub(super) fn batch_row(app: &App, id: &str) -> Result<BatchRow, ApiError> {
    app.store
        .batch_row(id)?
        .filter(|r| r.state != BatchState::Receiving)
        .ok_or_else(|| ApiError::not_found("batch", id))
}

fn specs_of(app: &App, row: &BatchRow) -> Result<Vec<Spec>, ApiError> {
    app.specs_of(&row.specs)
}

/// Runs store reads off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?
}

#[utoipa::path(get, path = "/v1/batches/{id}", params(("id" = String, Path, description = "the id")), responses((status = 200, description = "the batch: state, counts per state, one line per photo", body = ref("#/components/schemas/BatchStatus")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
pub async fn batch_status(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<BatchStatus>, ApiError> {
    blocking(move || {
        let row = batch_row(&app, &id)?;
        let specs = specs_of(&app, &row)?;
        let m = app.batch_manifest(&id, &specs)?;
        let seqs: BTreeMap<String, i64> = app
            .store
            .assets(&id)?
            .into_iter()
            .map(|a| (a.source_key, a.seq))
            .collect();
        let mut outputs: BTreeMap<String, usize> = BTreeMap::new();
        for h in &m.handoffs {
            *outputs.entry(h.state.as_str().to_string()).or_default() += 1;
        }
        let expected = seqs.len() * specs.len();
        let waiting = expected.saturating_sub(m.handoffs.len());
        if waiting > 0 {
            outputs.insert("received".into(), waiting);
        }
        let assets = m
            .photos
            .iter()
            .map(|p| {
                let seq = seqs.get(&p.key).copied().unwrap_or(0);
                AssetLine {
                    source: p.source.clone(),
                    name: p.name.clone(),
                    state: p.state,
                    line: p.line().trim().to_string(),
                    outputs: p
                        .outputs
                        .iter()
                        .map(|o| {
                            let id = asset_id(&id, seq, &o.spec_id);
                            OutputLine {
                                file: o.path.as_ref().map(|_| format!("/v1/assets/{id}/file")),
                                id,
                                spec_id: o.spec_id.clone(),
                                state: o.state,
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(Json(BatchStatus {
            links: Links::of(&id),
            id: row.id,
            state: row.state,
            created_at: row.created_at,
            settled_at: row.settled_at,
            specs: row.specs,
            outputs,
            awaiting_receipt: m.summary.awaiting_receipt,
            photos: m.summary.photos,
            assets,
        }))
    })
    .await
}

#[utoipa::path(get, path = "/v1/batches/{id}/manifest", params(("id" = String, Path, description = "the id")), responses((status = 200, description = "the batch manifest (the CLI's schema)", body = ref("#/components/schemas/BatchManifest")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
pub async fn batch_manifest(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<BatchManifest>, ApiError> {
    blocking(move || {
        batch_row(&app, &id)?;
        Ok(Json(app.current_manifest(&id)?))
    })
    .await
}

/// One batch in the list.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BatchSummary {
    pub id: String,
    pub state: BatchState,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
    pub specs: Vec<String>,
    /// `upload` (POST /v1/batches) or `watch` (a folder dropped into the watched inbox).
    pub origin: String,
    pub links: Links,
}

#[utoipa::path(get, path = "/v1/batches", responses((status = 200, description = "the newest 200 batches, newest first, uploaded or watched", body = ref("#/components/schemas/BatchList")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody"))))]
pub async fn batch_list(State(app): State<Arc<App>>) -> Result<Json<Vec<BatchSummary>>, ApiError> {
    blocking(move || {
        let rows = app.store.recent_batches(200)?;
        Ok(Json(
            rows.into_iter()
                .map(|(r, origin)| BatchSummary {
                    links: Links::of(&r.id),
                    id: r.id,
                    state: r.state,
                    created_at: r.created_at,
                    settled_at: r.settled_at,
                    specs: r.specs,
                    origin,
                })
                .collect(),
        ))
    })
    .await
}

/// The handoff and kept file of an asset id.
fn find_asset(app: &App, id: &str) -> Result<(Handoff, FileAt), ApiError> {
    let (batch, _, h) = app.find_asset(id)?;
    let files = app.store.batch_files(&batch)?;
    let file = files.at(h.asset.as_ref().map_or("", |a| a.path.as_str()));
    Ok((h, file))
}

#[utoipa::path(get, path = "/v1/batches/{id}/deliveries", params(("id" = String, Path, description = "the id")), responses((status = 200, description = "the batch's webhook deliveries, oldest first: event, attempts, last status or error, when delivered", body = ref("#/components/schemas/DeliveryList")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
/// How a batch's webhook deliveries went.
pub async fn batch_deliveries(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Vec<crate::store::Delivery>>, ApiError> {
    blocking(move || {
        batch_row(&app, &id)?;
        Ok(Json(app.store.deliveries(&id)?))
    })
    .await
}

#[utoipa::path(get, path = "/v1/assets/{id}", params(("id" = String, Path, description = "the id")), responses((status = 200, description = "one handoff", body = ref("#/components/schemas/Handoff")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
pub async fn asset(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Handoff>, ApiError> {
    blocking(move || Ok(Json(find_asset(&app, &id)?.0))).await
}

#[utoipa::path(get, path = "/v1/assets/{id}/file", params(("id" = String, Path, description = "the id")), responses((status = 200, description = "the image, with ETag and Range support", content_type = "image/*"), (status = 206, description = "a range of the image"), (status = 304, description = "unchanged (If-None-Match)"), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
/// The asset's image: content type from its format, a strong ETag (its sha256),
/// Content-Length, and Range requests.
pub async fn asset_file(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let id2 = id.clone();
    let (h, file) = blocking(move || find_asset(&app, &id2)).await?;
    let Some(a) = h.asset else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("asset '{id}' has no file: it is {}", h.state.as_str()),
        ));
    };
    serve_at(file, &a.sha256, req).await
}

#[utoipa::path(get, path = "/v1/assets/{id}/source", params(("id" = String, Path, description = "the id")), responses((status = 200, description = "the source photo the output was made from, as it was given, with ETag and Range support", content_type = "image/*"), (status = 304, description = "unchanged (If-None-Match)"), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id, or the source is no longer kept", body = ref("#/components/schemas/ErrorBody"))))]
/// The source photo an output was made from (for a reviewer to compare).
pub async fn asset_source(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let app2 = app.clone();
    let (path, h) = blocking(move || {
        let (batch, asset, h) = app2.find_asset(&id)?;
        Ok((app2.store.original_at(&batch, &asset.original), h))
    })
    .await?;
    if !exists(&path).await? {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("the source of {} is no longer kept", h.id),
        ));
    }
    serve_at(path, &h.provenance.source_sha256, req).await
}

/// Which image a preview shows, and how large.
#[derive(Debug, serde::Deserialize)]
pub struct ThumbQuery {
    /// `output` (the default) or `source`.
    #[serde(default)]
    pub of: Option<String>,
    /// The longest side in pixels, 64-1024 (default 480).
    #[serde(default)]
    pub size: Option<u32>,
}

#[utoipa::path(get, path = "/v1/assets/{id}/thumb", params(("id" = String, Path, description = "the id"), ("of" = Option<String>, Query, description = "`output` (default) or `source`"), ("size" = Option<u32>, Query, description = "longest side, 64-1024 (default 480)")), responses((status = 200, description = "a JPEG preview, transparency on a checkerboard; ETag from the image's sha256 and size", content_type = "image/jpeg"), (status = 304, description = "unchanged (If-None-Match)"), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id, or no such image", body = ref("#/components/schemas/ErrorBody"))))]
/// A preview of an output or its source, made by the core once and kept by content.
pub async fn asset_thumb(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<ThumbQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let size = q.size.unwrap_or(480).clamp(64, 1024);
    let of_source = match q.of.as_deref() {
        None | Some("output") => false,
        Some("source") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::UsageError,
                format!("of={other}: use `output` or `source`"),
            ))
        }
    };
    let app2 = app.clone();
    let (image, tag, kept) = blocking(move || {
        let (batch, asset, h) = app2.find_asset(&id)?;
        let (image, sha) = if of_source {
            (
                app2.store.original_at(&batch, &asset.original),
                h.provenance.source_sha256.clone(),
            )
        } else {
            let a = h.asset.as_ref().ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("asset '{id}' has no file: it is {}", h.state.as_str()),
                )
            })?;
            (
                app2.store.batch_files(&batch)?.at(&a.path),
                a.sha256.clone(),
            )
        };
        // Kept by content: the same image at the same size is made once.
        let tag = format!("{sha}-{size}");
        let kept = app2.store.root().join("thumbs").join(format!("{tag}.jpg"));
        Ok((image, tag, kept))
    })
    .await?;
    if !kept.is_file() {
        // Decoded on the engine, within its bound on work in flight: a burst of preview
        // requests for large photos waits its turn instead of decoding them all at once.
        // A request queued behind one that made the same preview finds it made.
        let limits = app.limits;
        let path = kept.clone();
        app.on_engine(move || -> Result<(), ApiError> {
            if path.is_file() {
                return Ok(());
            }
            let bytes = image.read().map_err(|e| {
                ApiError::new(ErrorCode::NotFound, format!("{}: {e}", image.display()))
            })?;
            let jpeg = crate::pipeline::thumbnail(&bytes, size, &limits)
                .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
            keep(&path, &jpeg)
        })
        .await??;
    }
    let path = kept;
    serve_made(&path, &tag, req).await
}

/// Keeps an image the server made (a preview, a contact sheet) for the next request.
fn keep(path: &std::path::Path, bytes: &[u8]) -> Result<(), ApiError> {
    crate::store::write_atomic(path, bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::OutputWriteFailed,
            format!("{}: {e}", path.display()),
        )
    })
}

/// Serves a made image: revalidated on every use, as its ETag follows what it shows.
async fn serve_made(path: &std::path::Path, tag: &str, req: Request) -> Result<Response, ApiError> {
    let mut r = serve_file(path, tag, req).await?;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(r)
}

/// A local file with a strong ETag (its sha256), If-None-Match, content type, length and
/// ranges.
pub(super) async fn serve_file(
    file: &std::path::Path,
    sha256: &str,
    req: Request,
) -> Result<Response, ApiError> {
    serve_at(FileAt::Path(file.to_path_buf()), sha256, req).await
}

#[utoipa::path(get, path = "/v1/batches/{id}/contact-sheet.png", params(("id" = String, Path, description = "the id")), responses((status = 200, description = "every output of the batch as a preview with its state badge, spec and photo, on one PNG (the first 480); ETag from the outputs' states and contents", content_type = "image/png"), (status = 304, description = "unchanged (If-None-Match)"), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
/// The batch's contact sheet, made once per set of states and contents and kept in the
/// batch's folder.
pub async fn batch_contact_sheet(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let (path, tag) = blocking(move || {
        batch_row(&app, &id)?;
        let manifest = app.current_manifest(&id)?;
        let dir = app.store.batch_dir(&id);
        let files = app.store.batch_files(&id)?;
        // What the sheet shows, hashed: a decision or a retry makes a new sheet.
        let shown: String = manifest
            .handoffs
            .iter()
            .map(|h| {
                let sha = h.asset.as_ref().map_or("", |a| a.sha256.as_str());
                format!("{} {} {sha}\n", h.id, h.state.as_str())
            })
            .collect();
        let tag = crate::store::sha256_hex(shown.as_bytes());
        let sheets = dir.join("sheets");
        let kept = sheets.join(format!("{tag}.png"));
        if !kept.is_file() {
            let png = crate::job::contact_sheet(
                &app.engine,
                &format!("Batch {id}"),
                &manifest.handoffs,
                |h| files.get(&h.asset.as_ref()?.path).ok().flatten(),
                &app.limits,
            )
            .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?;
            keep(&kept, &png)?;
            // Only the newest sheet is kept.
            for e in std::fs::read_dir(&sheets).into_iter().flatten().flatten() {
                if e.path() != kept {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok((kept, tag))
    })
    .await?;
    serve_made(&path, &tag, req).await
}

#[utoipa::path(delete, path = "/v1/batches/{id}", params(("id" = String, Path, description = "the id")), responses((status = 204, description = "the batch, its files and rows are gone"), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody")), (status = 409, description = "still being received or processed", body = ref("#/components/schemas/ErrorBody"))))]
pub async fn batch_delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        batch_row(&app, &id)?; // 404 for an id never seen
        // A batch being received is its door's until recorded (an abandoned one is
        // cleared at the next start); the store decides under the batch's lock.
        match app.store.delete_settled_batch(&id)? {
            Deletion::Deleted => Ok(StatusCode::NO_CONTENT),
            Deletion::NotFound => Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no batch '{id}' (it was deleted meanwhile)"),
            )),
            Deletion::Unsettled => Err(ApiError::new(
                ErrorCode::StoreLocked,
                format!("batch '{id}' is still being received or processed; delete it once it has settled"),
            )),
        }
    })
    .await
}

/// A spec as the API lists it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SpecInfo {
    pub id: String,
    pub description: String,
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub background: String,
    pub fill_ratio: f32,
    /// `builtin` or `server` (the server's spec folder).
    pub origin: String,
    /// The spec in full, as TOML.
    pub toml: String,
}

fn spec_info(app: &App, s: &Spec) -> SpecInfo {
    SpecInfo {
        id: s.id.clone(),
        description: s.description.clone(),
        width: s.width,
        height: s.height,
        format: s.format.extension().to_string(),
        background: s.background.to_string(),
        fill_ratio: s.fill_ratio as f32,
        origin: if app.extra_specs.contains_key(&s.id) {
            "server"
        } else {
            "builtin"
        }
        .into(),
        toml: s.to_toml(),
    }
}

#[utoipa::path(get, path = "/v1/specs", responses((status = 200, description = "built-in specs and the server's", body = ref("#/components/schemas/SpecList")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
pub async fn specs(State(app): State<Arc<App>>) -> Json<Vec<SpecInfo>> {
    Json(app.all_specs().iter().map(|s| spec_info(&app, s)).collect())
}

#[utoipa::path(get, path = "/v1/specs/{id}", params(("id" = String, Path, description = "the id")), responses((status = 200, description = "one spec", body = ref("#/components/schemas/SpecInfo")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
pub async fn spec(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<SpecInfo>, ApiError> {
    let s = app
        .spec(&id)
        .map_err(|e| ApiError::new(ErrorCode::NotFound, e.message))?;
    Ok(Json(spec_info(&app, &s)))
}

#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200, description = "alive", content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/readyz", security(()), responses((status = 200, description = "database reachable and data folder writable", content_type = "text/plain"), (status = 503, description = "not ready", body = ref("#/components/schemas/ErrorBody")), (status = 507, description = "data folder not writable", body = ref("#/components/schemas/ErrorBody"))))]
/// Ready when the database answers and the data folder takes a file.
pub async fn readyz(State(app): State<Arc<App>>) -> Result<&'static str, ApiError> {
    blocking(move || {
        if app.stopping.load(Ordering::SeqCst) {
            return Err(ApiError::busy("the server is stopping", 10));
        }
        if !app.store.reachable() {
            return Err(ApiError::new(
                ErrorCode::DatabaseFailed,
                "the job database does not answer",
            ));
        }
        let objects = app.store.objects();
        if !objects.is_local() {
            // The bucket answers a listing, or the node is not ready (503, so a balancer
            // sends its traffic elsewhere until it is back).
            if let Err(e) = objects.check() {
                tracing::warn!("{e}");
                return Err(ApiError::busy(
                    format!("the file store {} does not answer", objects.name()),
                    10,
                ));
            }
        }
        let probe = app.store.root().join(".ready-probe");
        std::fs::write(&probe, b"ok")
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::OutputWriteFailed,
                    format!(
                        "the data folder {} is not writable: {e}",
                        app.store.root().display()
                    ),
                )
            })?;
        Ok("ready\n")
    })
    .await
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text: batches, outputs by state, processing seconds, bytes in and out, queue depth", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let text = blocking(move || {
        let by_state = app.store.outputs_by_state()?;
        // From the database: other processes may be working the queue.
        let queued = app.store.queued_outputs()?;
        let now = crate::handoff::Clock::now(&crate::handoff::SystemClock);
        let overdue = app
            .store
            .waiting()?
            .iter()
            .filter(|(_, _, h)| crate::review::overdue(h, now))
            .count();
        Ok(app.metrics.render(&by_state, queued, overdue))
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
