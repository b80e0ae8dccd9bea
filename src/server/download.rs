//! `GET /v1/batches/{id}/download`: a batch's outputs and manifests as a zip, made on a
//! blocking thread and streamed as it is written (never held whole); exports stream theirs
//! through [`stream_zip`] too.

use std::io::Write;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use futures_util::stream;

use super::app::App;
use super::error::ApiError;
use super::routes::{batch_row, blocking};
use crate::handoff::{BatchManifest, ErrorCode, Handoff};
use crate::store::FileAt;

/// Writes into a channel, in chunks: the zip is made on a blocking thread while the
/// response streams it.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const ZIP_CHUNK: usize = 256 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= ZIP_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

/// What a download holds.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// `deliverable` (the default): the ready and approved outputs, in `outputs/<spec>/`,
    /// with their manifests; `all`: every output, in `outputs/<state>/<spec>/`, with every
    /// manifest. The batch manifest is in both.
    #[serde(default)]
    pub outputs: Option<String>,
}

/// The entries of a batch's zip (name in the zip, file on disk): the outputs asked for
/// with their handoff manifests, then the batch manifest.
fn zip_entries(
    dir: &crate::store::Objects,
    manifest: &BatchManifest,
    all: bool,
) -> Vec<(String, FileAt)> {
    let mut files = Vec::new();
    let mut handoffs: Vec<&Handoff> = manifest
        .handoffs
        .iter()
        .filter(|h| all || h.state.is_deliverable())
        .collect();
    handoffs.sort_by(|a, b| a.id.cmp(&b.id));
    for h in &handoffs {
        let Some(a) = &h.asset else { continue };
        let name = match a.path.strip_prefix("outputs/") {
            Some(rest) if all => format!("outputs/{}/{rest}", h.state.as_str()),
            _ => a.path.clone(),
        };
        files.push((name, dir.at(&a.path)));
    }
    for h in &handoffs {
        let rel = format!("manifests/{}.json", h.id);
        files.push((rel.clone(), dir.at(&rel)));
    }
    let m = dir.at("manifest.json");
    if m.exists() {
        files.push(("manifest.json".into(), m));
    }
    files
}

/// A file time as a zip entry's (UTC, two-second steps).
fn zip_time(t: std::time::SystemTime) -> Option<zip::DateTime> {
    let t = time::OffsetDateTime::from(t);
    zip::DateTime::from_date_and_time(
        u16::try_from(t.year()).ok()?,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    .ok()
}

/// Writes the zip a file at a time, each streamed from where it is kept (a bucket's
/// objects are read a chunk at a time, never a batch at once).
fn write_zip(files: Vec<(String, FileAt)>, out: ChannelWriter) -> zip::result::ZipResult<()> {
    let mut z = zip::ZipWriter::new_stream(out);
    for (name, at) in files {
        let meta = at.size_and_time();
        let mut f = match at.reader() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("zip: cannot read {}: {e}", at.display());
                continue;
            }
        };
        let size = meta.map_or(0, |m| m.0);
        // Images are compressed already: stored, not deflated.
        let mut opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(size >= u32::MAX as u64);
        if let Some(t) = meta.and_then(|m| m.1).and_then(zip_time) {
            opts = opts.last_modified_time(t);
        }
        z.start_file(name, opts)?;
        std::io::copy(&mut f, &mut z)?;
    }
    let mut inner = z.finish()?.into_inner();
    inner.flush()?;
    Ok(())
}

#[utoipa::path(get, path = "/v1/batches/{id}/download", params(("id" = String, Path, description = "the id"), DownloadQuery), responses((status = 200, description = "a zip of the ready and approved outputs, their manifests and the batch manifest, streamed (`outputs=all`: every output, in folders named by state)", content_type = "application/zip"), (status = 400, description = "`outputs` is neither `deliverable` nor `all`", body = ref("#/components/schemas/ErrorBody")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such id", body = ref("#/components/schemas/ErrorBody"))))]
pub async fn batch_download(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    let all = match q.outputs.as_deref() {
        None | Some("deliverable") => false,
        Some("all") => true,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::UsageError,
                "outputs: use `deliverable` (ready and approved, the default) or `all`",
            ))
        }
    };
    let app2 = app.clone();
    let id2 = id.clone();
    let files = blocking(move || {
        batch_row(&app2, &id2)?;
        let manifest = app2.current_manifest(&id2)?;
        Ok(zip_entries(&app2.store.batch_files(&id2)?, &manifest, all))
    })
    .await?;
    let name = if all {
        format!("shelfready-{id}-all.zip")
    } else {
        format!("shelfready-{id}.zip")
    };
    Ok(stream_zip(files, &name))
}

/// A zip of `files` (name in the zip, file on disk), made on a blocking thread while the
/// response streams it, offered for download as `filename`.
pub(super) fn stream_zip(files: Vec<(String, FileAt)>, filename: &str) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let err_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let out = ChannelWriter {
            tx,
            buf: Vec::with_capacity(ZIP_CHUNK),
        };
        if let Err(e) = write_zip(files, out) {
            tracing::warn!("zip: {e}");
            let _ = err_tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body = Body::from_stream(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
