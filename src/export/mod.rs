//! Listing exports: the end of the handoff. An export reads a batch's handoffs, takes only
//! `ready` and `approved` outputs, and writes what a marketplace's bulk tool imports as it
//! is: an Amazon image zip, a Shopify product CSV, a Google Merchant Center feed, or JSON/CSV
//! records for any other tool. Each export writes `export.json` beside its files: what
//! went in, and what was left out and why. Same handoffs, same options: same bytes.
//!
//! The published pages each format follows, and when they were read: docs/exports.md.

pub mod amazon;
pub mod cells;
pub mod feeds;
pub mod records;
pub mod stored;

pub use stored::{export_stored, refresh_stored};

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::handoff::{advice, BatchManifest, Context, Handoff, State};
use crate::store::{FileAt, Objects};

/// The export.json schema version.
pub const EXPORT_SCHEMA_VERSION: u32 = 1;

/// What an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Zips for Seller Central's bulk image upload, `<identifier>.<MAIN|PTnn|SWCH>.<ext>`.
    Amazon,
    /// A product CSV for Shopify's import, with the images laid out to host.
    Shopify,
    /// A Merchant Center feed (TSV) of image links, with the images laid out to host.
    Google,
    /// One record per product with its ordered images.
    Json,
    /// The same records, one row per image.
    Csv,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Amazon,
        Format::Shopify,
        Format::Google,
        Format::Json,
        Format::Csv,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Amazon => "amazon",
            Format::Shopify => "shopify",
            Format::Google => "google",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }

    pub fn parse(s: &str) -> Result<Format, ExportError> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| ExportError::UnknownFormat(s.to_string()))
    }

    /// The next actors (from the specs) whose outputs this format takes; none means every
    /// spec's.
    fn actors(self) -> &'static [&'static str] {
        match self {
            Format::Amazon => &["export:amazon"],
            Format::Shopify => &["export:shopify"],
            Format::Google => &["export:google-merchant", "export:google"],
            Format::Json | Format::Csv => &[],
        }
    }

    /// Formats whose files are fetched from where they will be hosted.
    pub fn needs_base_url(self) -> bool {
        matches!(self, Format::Shopify | Format::Google)
    }
}

/// Shopify's column names: the current template's, or the older ones some tools still read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShopifyColumns {
    #[default]
    Current,
    Legacy,
}

/// How an export is made. Recorded in export.json, so that the server can make it again
/// the same way when a decision changes what is exportable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Options {
    pub format: Format,
    /// Where the laid-out images will be hosted; image URLs are built under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Only these specs' outputs; by default the specs whose next actor is this format
    /// (`export:amazon`, ...), or every spec for json and csv.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specs: Option<Vec<String>>,
    /// The largest an Amazon zip may grow before the next one is started.
    pub zip_max_bytes: u64,
    #[serde(default)]
    pub shopify_columns: ShopifyColumns,
    /// Per product (by SKU): identifier, title, alt text, from `--identifiers`. They win
    /// over what the handoffs carry.
    #[serde(skip)]
    pub products: HashMap<String, Context>,
    /// The ids outputs go by where the export is read (the server's asset ids), by handoff
    /// id; an output not in it goes by its handoff id.
    #[serde(skip)]
    pub asset_ids: HashMap<String, String>,
}

impl Options {
    /// The id an output goes by in this export.
    pub fn asset_id(&self, h: &Handoff) -> String {
        self.asset_ids
            .get(&h.id)
            .cloned()
            .unwrap_or_else(|| h.id.clone())
    }
}

/// 1 GiB: Amazon's image upload page does not state a zip limit in any copy we could read
/// (docs/exports.md), so this stays well below the sizes its tools are known to take.
pub const ZIP_MAX_BYTES: u64 = 1 << 30;

impl Options {
    pub fn new(format: Format) -> Options {
        Options {
            format,
            base_url: None,
            specs: None,
            zip_max_bytes: ZIP_MAX_BYTES,
            shopify_columns: ShopifyColumns::Current,
            products: HashMap::new(),
            asset_ids: HashMap::new(),
        }
    }
}

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("unknown export format '{0}': use amazon, shopify, google, json or csv")]
    UnknownFormat(String),
    #[error("the {0} export builds image URLs: give --base-url, the address the images will be hosted under (https://...)")]
    NoBaseUrl(&'static str),
    #[error("--base-url '{0}' is not an http(s) address")]
    BadBaseUrl(String),
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("the product list: {0}")]
    Products(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl ExportError {
    pub fn code(&self) -> crate::handoff::ErrorCode {
        use crate::handoff::ErrorCode;
        match self {
            ExportError::UnknownFormat(_)
            | ExportError::NoBaseUrl(_)
            | ExportError::BadBaseUrl(_)
            | ExportError::Products(_) => ErrorCode::UsageError,
            ExportError::Read { .. } => ErrorCode::StoreUnreadable,
            ExportError::Write { .. } => ErrorCode::OutputWriteFailed,
            ExportError::Store(e) => e.code(),
        }
    }
}

/// export.json: what an export wrote, what went in, what was left out and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExportReport {
    pub schema_version: u32,
    pub tool_version: String,
    pub format: Format,
    /// The batch the handoffs came from: an output folder or a server batch id.
    pub batch: String,
    pub options: Options,
    /// Every file the export wrote, relative to its folder, with its sha256.
    pub files: Vec<ExportFile>,
    /// Products with at least one image in the export.
    pub products: usize,
    /// Each output that went in, and under which name.
    pub included: Vec<Included>,
    /// Each output of this format's specs that did not go in, and why.
    pub left_out: Vec<LeftOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExportFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Included {
    /// The handoff id.
    pub asset: String,
    pub product: String,
    pub spec: String,
    /// Its name in the export (`B000123456.MAIN.jpg`, `images/rocket-1.jpg`), inside
    /// `file` when it is in a zip.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeftOut {
    pub asset: String,
    pub product: String,
    pub spec: String,
    pub state: State,
    pub reason: String,
}

/// One output an export may take, with its product's fields.
#[derive(Debug, Clone)]
pub struct Image<'a> {
    pub handoff: &'a Handoff,
    /// 1 is the main image; 0 a swatch.
    pub position: u32,
}

/// A product: its images, ordered by position, and what the listing needs to name it.
#[derive(Debug, Clone)]
pub struct Product<'a> {
    pub sku: String,
    pub title: Option<String>,
    pub identifier: Option<String>,
    pub alt_text: Option<String>,
    /// The product's handle in the shop, when a catalog or product list gives one.
    pub handle: Option<String>,
    pub images: Vec<Image<'a>>,
    /// The first position among all of the product's outputs for this format, ready or
    /// not (swatches aside): the main image's.
    pub first: u32,
}

impl<'a> Product<'a> {
    /// The product's photos in order, each with its outputs (one per spec it was made
    /// for, in spec order): an export that takes one image per photo picks from these.
    pub fn photos(&self) -> Vec<Vec<&Image<'a>>> {
        let mut photos: Vec<Vec<&Image<'a>>> = Vec::new();
        for image in &self.images {
            match photos.last_mut() {
                Some(last)
                    if last[0].position == image.position
                        && last[0].handoff.provenance.source_key
                            == image.handoff.provenance.source_key =>
                {
                    last.push(image)
                }
                _ => photos.push(vec![image]),
            }
        }
        photos
    }

    /// The alt text of one image: the catalog's for that photo, else the product's.
    pub fn alt(&self, image: &Image) -> Option<String> {
        image
            .handoff
            .context
            .alt_text
            .clone()
            .or_else(|| self.alt_text.clone())
    }
}

/// What a format's writer gives back: files written, outputs in, outputs out.
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<String>,
    pub included: Vec<Included>,
    pub left_out: Vec<LeftOut>,
}

impl Written {
    pub fn leave_out(&mut self, product: &str, h: &Handoff, reason: impl Into<String>) {
        self.left_out.push(LeftOut {
            asset: h.id.clone(),
            product: product.to_string(),
            spec: h.goal.spec_id.clone(),
            state: h.state,
            reason: reason.into(),
        });
    }
}

/// Makes the export of `manifest`'s handoffs (their files in `root`: an output folder, or
/// a job-store batch's files, a bucket's included) into the local folder `dir`, and
/// writes `dir/export.json`. Files a previous export of the same folder wrote and this
/// one does not are removed, so the folder holds exactly this export.
pub fn export(
    manifest: &BatchManifest,
    root: &Objects,
    batch: &str,
    dir: &Path,
    opts: &Options,
) -> Result<ExportReport, ExportError> {
    let base_url = match (&opts.base_url, opts.format.needs_base_url()) {
        (Some(u), _) => Some(base_url(u)?),
        (None, true) => return Err(ExportError::NoBaseUrl(opts.format.as_str())),
        (None, false) => None,
    };
    let mut written = Written::default();
    let products = products(&manifest.handoffs, opts, &mut written);
    let ctx = Target {
        root,
        dir,
        base_url: base_url.as_deref(),
        opts,
    };
    let mut w = match opts.format {
        Format::Amazon => amazon::write(&products, &ctx)?,
        Format::Shopify => feeds::shopify(&products, &ctx)?,
        Format::Google => feeds::google(&products, &ctx)?,
        Format::Json => records::json(&products, &ctx)?,
        Format::Csv => records::csv(&products, &ctx)?,
    };
    written.left_out.append(&mut w.left_out);
    if !opts.asset_ids.is_empty() {
        let map = |id: &mut String| {
            if let Some(to) = opts.asset_ids.get(id.as_str()) {
                *id = to.clone();
            }
        };
        w.included.iter_mut().for_each(|i| map(&mut i.asset));
        written.left_out.iter_mut().for_each(|l| map(&mut l.asset));
    }
    let mut files = Vec::new();
    for name in &w.files {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|error| ExportError::Read {
            path: path.display().to_string(),
            error,
        })?;
        files.push(ExportFile {
            name: name.clone(),
            bytes: bytes.len() as u64,
            sha256: crate::store::sha256_hex(&bytes),
        });
    }
    let report = ExportReport {
        schema_version: EXPORT_SCHEMA_VERSION,
        tool_version: crate::handoff::TOOL_VERSION.to_string(),
        format: opts.format,
        batch: batch.to_string(),
        options: Options {
            base_url,
            ..opts.clone()
        },
        products: {
            let mut p: Vec<&str> = w.included.iter().map(|i| i.product.as_str()).collect();
            p.dedup();
            p.len()
        },
        files,
        included: w.included,
        left_out: written.left_out,
    };
    let report_path = dir.join("export.json");
    // Files the last export here wrote and this one does not: gone, so nothing stale is
    // uploaded with the new ones.
    if let Ok(old) = std::fs::read(&report_path) {
        if let Ok(old) = serde_json::from_slice::<ExportReport>(&old) {
            for f in old.files {
                if !w.files.contains(&f.name) && is_plain_relative(&f.name) {
                    let _ = std::fs::remove_file(dir.join(&f.name));
                }
            }
        }
    }
    let text = serde_json::to_string_pretty(&report).unwrap_or_default() + "\n";
    write(&report_path, text.as_bytes())?;
    Ok(report)
}

/// Where a format's writer puts things, and what it builds URLs from.
pub struct Target<'a> {
    pub root: &'a Objects,
    pub dir: &'a Path,
    pub base_url: Option<&'a str>,
    pub opts: &'a Options,
}

impl Target<'_> {
    /// The output file of a handoff.
    pub fn source(&self, h: &Handoff) -> Option<FileAt> {
        h.asset.as_ref().map(|a| self.root.at(&a.path))
    }

    /// The URL an exported file will have once `dir` is hosted at the base URL.
    pub fn url(&self, name: &str) -> Option<String> {
        self.base_url.map(|b| {
            let path: Vec<String> = name
                .split('/')
                .map(|p| {
                    percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC)
                        .to_string()
                        .replace("%2D", "-")
                        .replace("%2E", ".")
                        .replace("%5F", "_")
                })
                .collect();
            format!("{b}/{}", path.join("/"))
        })
    }

    /// Copies a handoff's output to `name` under the export folder.
    pub fn lay_out(&self, h: &Handoff, name: &str) -> Result<(), ExportError> {
        let from = self.source(h).ok_or_else(|| ExportError::Read {
            path: h.id.clone(),
            error: std::io::Error::other("the output has no file"),
        })?;
        let bytes = from.read().map_err(|error| ExportError::Read {
            path: from.display(),
            error,
        })?;
        write(&self.dir.join(name), &bytes)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ExportError> {
        write(&self.dir.join(name), bytes)
    }
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    // Unchanged bytes are not rewritten: a refresh leaves file times alone.
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    crate::store::write_atomic(path, bytes).map_err(|error| ExportError::Write {
        path: path.display().to_string(),
        error,
    })
}

fn is_plain_relative(name: &str) -> bool {
    let p = Path::new(name);
    p.is_relative()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn base_url(u: &str) -> Result<String, ExportError> {
    let t = u.trim().trim_end_matches('/');
    let ok = (t.starts_with("https://") || t.starts_with("http://"))
        && t.len() > "https://".len()
        && !t.contains(char::is_whitespace);
    if ok {
        Ok(t.to_string())
    } else {
        Err(ExportError::BadBaseUrl(u.to_string()))
    }
}

/// The handoffs of this format's specs, grouped into products (by SKU, else by file),
/// each product's images by position. What cannot go in (not ready, not approved) is
/// left out with the reason a person reads in the photo's line.
fn products<'a>(handoffs: &'a [Handoff], opts: &Options, w: &mut Written) -> Vec<Product<'a>> {
    let actors = opts.format.actors();
    // A spec belongs to this format when its next actor is the format's: built-ins by
    // their definition, others by what their ready outputs say.
    let mut spec_actor: HashMap<&str, String> = HashMap::new();
    for h in handoffs {
        if h.state.is_deliverable() {
            spec_actor.insert(&h.goal.spec_id, h.next_actor.actor.clone());
        }
    }
    let wanted = |h: &Handoff| match &opts.specs {
        Some(ids) => ids.contains(&h.goal.spec_id),
        None if actors.is_empty() => true,
        None => {
            let actor = spec_actor
                .get(h.goal.spec_id.as_str())
                .cloned()
                .or_else(|| {
                    crate::spec::builtin(&h.goal.spec_id)
                        .and_then(Result::ok)
                        .map(|s| s.next_actor)
                });
            actor.is_some_and(|a| actors.contains(&a.as_str()))
        }
    };
    let mut by_sku: BTreeMap<String, Product<'a>> = BTreeMap::new();
    for h in handoffs.iter().filter(|h| wanted(h)) {
        let sku = product_key(h);
        let extra = opts.products.get(&sku.to_lowercase());
        let p = by_sku.entry(sku.clone()).or_insert_with(|| Product {
            sku: sku.clone(),
            title: extra.and_then(|c| c.title.clone()),
            identifier: extra.and_then(|c| c.identifier.clone()),
            alt_text: extra.and_then(|c| c.alt_text.clone()),
            handle: extra.and_then(|c| c.handle.clone()),
            images: Vec::new(),
            first: u32::MAX,
        });
        let position = h.context.position.unwrap_or(u32::MAX);
        if position != 0 {
            p.first = p.first.min(position);
        }
        // What the handoffs carry (a catalog's row) fills what the product list left empty.
        p.title = p.title.take().or_else(|| h.context.title.clone());
        p.identifier = p.identifier.take().or_else(|| h.context.identifier.clone());
        p.handle = p.handle.take().or_else(|| h.context.handle.clone());
        if h.state.is_deliverable() {
            p.images.push(Image {
                handoff: h,
                position,
            });
        } else {
            let reason =
                advice::todo(&[h]).unwrap_or_else(|| format!("it is {}", h.state.as_str()));
            w.leave_out(&sku, h, format!("not ready: {reason}"));
        }
    }
    let mut products: Vec<Product<'a>> = by_sku.into_values().collect();
    // Position order, the swatch (0) last: it is never a listing's first image.
    let order = |i: &Image| {
        (
            i.position.checked_sub(1).unwrap_or(u32::MAX),
            i.handoff.provenance.source_key.clone(),
            i.handoff.goal.spec_id.clone(),
        )
    };
    for p in &mut products {
        p.images.sort_by_key(order);
    }
    products
}

/// A handoff's product: its SKU, else its file's stem (a photo with no SKU is a product
/// of its own).
fn product_key(h: &Handoff) -> String {
    crate::handoff::product_of(h.context.sku.as_deref(), &h.provenance.source_key)
}

/// A name part made of lower-case letters, digits and single dashes: accents dropped to
/// their letters, everything else a dash (Shopify's handle rule; safe in any URL).
pub fn slug(text: &str) -> String {
    let ascii = deunicode::deunicode(text).to_ascii_lowercase();
    let mut out = String::new();
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The file extension of an output, from its format.
pub fn extension(h: &Handoff) -> &'static str {
    h.asset.as_ref().map_or("bin", |a| a.format.extension())
}

/// JSON Schema of export.json.
pub fn report_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ExportReport)).unwrap_or_default()
}

/// JSON Schema of the json export's products.json.
pub fn products_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(records::ProductRecords)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_dashes_and_digits() {
        assert_eq!(slug("Crème Brûlée, 250 ml"), "creme-brulee-250-ml");
        assert_eq!(slug("  --Rocket__02--  "), "rocket-02");
        assert_eq!(slug("Ракета"), "raketa");
    }

    #[test]
    fn base_urls_must_be_http_addresses() {
        assert_eq!(
            base_url("https://cdn.example.com/img/").unwrap(),
            "https://cdn.example.com/img"
        );
        assert!(base_url("cdn.example.com").is_err());
        assert!(base_url("https://").is_err());
    }
}
