//! Records for any other listing tool: one per product with its ordered images, their
//! specs, sizes, sha256, URLs and states; as JSON (`products.json`, schema in
//! assets/schema/export-products.schema.json) or flat CSV (`products.csv`, one row per
//! image). The images are laid out as `images/<spec>/<product>-<n>.<ext>`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{extension, slug, ExportError, Included, Product, Target, Written};
use crate::handoff::State;

/// `products.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductRecords {
    pub schema_version: u32,
    pub products: Vec<ProductRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductRecord {
    pub sku: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// In position order within each spec.
    pub images: Vec<ImageRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageRecord {
    /// 1 is the main image; 0 a swatch; none when the photo gave no position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    pub spec: String,
    /// The file in the export folder.
    pub file: String,
    /// The file under `--base-url`, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub width: u32,
    pub height: u32,
    /// `jpeg`, `png` or `webp`.
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
    /// `ready` or `approved`.
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
    /// The handoff id.
    pub asset: String,
}

/// The records, laying out each image.
fn records(
    products: &[Product],
    t: &Target,
    w: &mut Written,
) -> Result<Vec<ProductRecord>, ExportError> {
    let mut out = Vec::new();
    for p in products {
        let mut images: Vec<ImageRecord> = Vec::new();
        for image in &p.images {
            let h = image.handoff;
            let Some(a) = &h.asset else { continue };
            let spec = &h.goal.spec_id;
            let n = images.iter().filter(|i| i.spec == *spec).count() + 1;
            let file = format!(
                "images/{}/{}-{n}.{}",
                slug(spec),
                slug(&p.sku),
                extension(h)
            );
            t.lay_out(h, &file)?;
            let url = t.url(&file);
            w.included.push(Included {
                asset: h.id.clone(),
                product: p.sku.clone(),
                spec: spec.clone(),
                name: file.clone(),
                file: None,
                url: url.clone(),
            });
            images.push(ImageRecord {
                position: h.context.position,
                spec: spec.clone(),
                file,
                url,
                width: a.width,
                height: a.height,
                format: a.format.name().to_string(),
                bytes: a.bytes,
                sha256: a.sha256.clone(),
                state: h.state,
                alt_text: p.alt(image),
                asset: t.opts.asset_id(h),
            });
        }
        if images.is_empty() {
            continue;
        }
        out.push(ProductRecord {
            sku: p.sku.clone(),
            identifier: p.identifier.clone(),
            title: p.title.clone(),
            images,
        });
    }
    Ok(out)
}

pub fn json(products: &[Product], t: &Target) -> Result<Written, ExportError> {
    let mut w = Written::default();
    let records = ProductRecords {
        schema_version: super::EXPORT_SCHEMA_VERSION,
        products: records(products, t, &mut w)?,
    };
    let text = serde_json::to_string_pretty(&records).unwrap_or_default() + "\n";
    t.write("products.json", text.as_bytes())?;
    w.files.push("products.json".into());
    w.files.extend(w.included.iter().map(|i| i.name.clone()));
    Ok(w)
}

/// The CSV's columns, in order.
pub const CSV_HEADER: [&str; 15] = [
    "sku",
    "identifier",
    "title",
    "position",
    "spec",
    "file",
    "url",
    "width",
    "height",
    "format",
    "bytes",
    "sha256",
    "state",
    "alt_text",
    "asset",
];

pub fn csv(products: &[Product], t: &Target) -> Result<Written, ExportError> {
    let mut w = Written::default();
    let records = records(products, t, &mut w)?;
    let cerr = |e: &dyn std::fmt::Display| ExportError::Write {
        path: "products.csv".into(),
        error: std::io::Error::other(e.to_string()),
    };
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    out.write_record(CSV_HEADER).map_err(|e| cerr(&e))?;
    fn safe(v: Option<&str>) -> std::borrow::Cow<'_, str> {
        super::cells::spreadsheet_safe(v.unwrap_or(""))
    }
    for p in &records {
        for i in &p.images {
            out.write_record([
                &*safe(Some(&p.sku)),
                &*safe(p.identifier.as_deref()),
                &*safe(p.title.as_deref()),
                &i.position.map(|n| n.to_string()).unwrap_or_default(),
                &i.spec,
                &i.file,
                i.url.as_deref().unwrap_or(""),
                &i.width.to_string(),
                &i.height.to_string(),
                &i.format,
                &i.bytes.to_string(),
                &i.sha256,
                i.state.as_str(),
                &*safe(i.alt_text.as_deref()),
                &i.asset,
            ])
            .map_err(|e| cerr(&e))?;
        }
    }
    let bytes = out.into_inner().map_err(|e| cerr(&e))?;
    t.write("products.csv", &bytes)?;
    w.files.push("products.csv".into());
    w.files.extend(w.included.iter().map(|i| i.name.clone()));
    Ok(w)
}
