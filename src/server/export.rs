//! `GET /v1/batches/{id}/export?format=...`: the listing exports of a server batch, made by
//! the same export as the command line into the batch's `exports/<format>/`, and made
//! again with the same options after each review decision, so that what a listing tool
//! fetches follows the approvals.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::HeaderValue;
use axum::response::Response;
use serde::Deserialize;

use super::app::App;
use super::download::stream_zip;
use super::error::ApiError;
use super::files::serve_at;
use super::routes::blocking;
use crate::export::{ExportReport, Format, Options};
use crate::handoff::ErrorCode;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `amazon`, `shopify`, `google`, `json` or `csv`.
    pub format: String,
    /// Where the images will be hosted (shopify and google need it).
    #[serde(default)]
    pub base_url: Option<String>,
    /// One file of the export (`amazon-images-2.zip`, `export.json`); by default the
    /// export itself: the first Amazon zip, products.json, products.csv, or for shopify
    /// and google a zip of the feed with its images.
    #[serde(default)]
    pub file: Option<String>,
}

#[utoipa::path(get, path = "/v1/batches/{id}/export", params(("id" = String, Path, description = "the id"), ExportQuery), responses((status = 200, description = "the export (see `file`); headers X-Shelfready-Export-Files (every file it wrote) and X-Shelfready-Left-Out (how many outputs did not go in; export.json says why)", content_type = "application/zip"), (status = 400, description = "unknown format, or no base_url for shopify or google", body = ref("#/components/schemas/ErrorBody")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such batch, no such file in the export, or nothing went into it", body = ref("#/components/schemas/ErrorBody"))))]
/// The batch's export in one format, made now from its handoffs (the same handoffs give
/// the same bytes).
pub async fn batch_export(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let format = Format::parse(&q.format).map_err(usage)?;
    let mut opts = Options::new(format);
    opts.base_url = q.base_url.clone();
    let app2 = app.clone();
    let id2 = id.clone();
    let (report, dir) = blocking(move || {
        app2.store
            .batch_row(&id2)?
            .ok_or_else(|| ApiError::not_found("batch", &id2))?;
        make(&app2, &id2, &opts)
    })
    .await?;
    let files: Vec<String> = report.files.iter().map(|f| f.name.clone()).collect();
    let mut r = match q.file.as_deref() {
        Some(name) if name == "export.json" || files.iter().any(|f| f == name) => {
            let sha = report
                .files
                .iter()
                .find(|f| f.name == name)
                .map_or_else(|| sha_of(&dir.at(name)), |f| f.sha256.clone());
            serve_at(dir.at(name), &sha, req).await?
        }
        Some(name) => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "the {} export has no file '{name}'; it has export.json, {}",
                    format.as_str(),
                    files.join(", ")
                ),
            ))
        }
        None if report.included.is_empty() => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "nothing in batch '{id}' went into the {} export ({} output(s) left out): ?file=export.json says why",
                    format.as_str(),
                    report.left_out.len()
                ),
            ))
        }
        None => match format {
            Format::Shopify | Format::Google => {
                let mut entries: Vec<(String, crate::store::FileAt)> =
                    files.iter().map(|f| (f.clone(), dir.at(f))).collect();
                entries.push(("export.json".into(), dir.at("export.json")));
                stream_zip(entries, &format!("shelfready-{id}-{}.zip", format.as_str()))
            }
            _ => {
                let first = report.files.first().ok_or_else(|| {
                    ApiError::new(ErrorCode::InternalError, "the export wrote no file")
                })?;
                serve_at(dir.at(&first.name), &first.sha256, req).await?
            }
        },
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&files.join(", ")) {
        h.insert("x-shelfready-export-files", v);
    }
    h.insert(
        "x-shelfready-left-out",
        HeaderValue::from(report.left_out.len()),
    );
    Ok(r)
}

fn usage(e: crate::export::ExportError) -> ApiError {
    ApiError::new(e.code(), e.to_string())
}

fn sha_of(at: &crate::store::FileAt) -> String {
    at.read()
        .map(|b| crate::store::sha256_hex(&b))
        .unwrap_or_default()
}

/// Makes one export of a batch into its `exports/<format>/`.
fn make(
    app: &App,
    batch: &str,
    opts: &Options,
) -> Result<(ExportReport, crate::store::Objects), ApiError> {
    let manifest = app.current_manifest(batch)?;
    crate::export::export_stored(app.store.as_ref(), batch, &manifest, opts).map_err(usage)
}

/// Makes every export the batch has had again (see [`crate::export::refresh_stored`]).
pub fn refresh(app: &App, batch: &str) -> Result<usize, ApiError> {
    let manifest = app.current_manifest(batch)?;
    crate::export::refresh_stored(app.store.as_ref(), batch, &manifest).map_err(usage)
}
