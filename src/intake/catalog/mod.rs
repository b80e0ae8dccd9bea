//! A supplier's catalog: a CSV, an Excel workbook (.xlsx, its first sheet) or a JSON array of
//! objects, naming each photo's product. Columns, by header name in any order: `file`
//! (required: a file name, or an image URL to fetch), `sku`, `position` (a number, `main`, or
//! an Amazon code such as `PT01`), `alt_text`, `title`, `identifier`, `handle`. Headers match
//! forgivingly: case, spaces and punctuation are ignored, and common synonyms are understood
//! ([`SYNONYMS`]). What a row gives replaces what the file's name tells; what it leaves
//! empty, the name still tells.
//!
//! CSVs are read as spreadsheets write them: comma, semicolon or tab separated (told from
//! the header line, or Excel's `sep=` line), UTF-8 with or without a BOM, UTF-16 with one,
//! else Windows-1252. File names match whatever their Unicode form (a name typed on
//! Windows and the same name on a Mac disk) and case.

use std::collections::{HashMap, HashSet};

use thiserror::Error;

use crate::handoff::{position, CatalogReport, Context, RowProblem, UnusedColumn};

mod headers;
mod table;

use headers::column;
pub use headers::SYNONYMS;
use table::Table;

/// Why a catalog cannot be read. Messages name the line and the column, never a cell's
/// text: a catalog is a supplier's file, and its contents do not belong in logs.
#[derive(Debug, Error, PartialEq)]
pub enum CatalogError {
    #[error("the catalog has no column of file names (its header row, line {line}, has {columns} column(s) and none is named for files); name one `file` (or Filename, Image, Photo)")]
    NoFileColumn { line: u64, columns: usize },
    #[error("the product list has no SKU column (its header row, line {line}, has {columns} column(s) and none is named for SKUs); name one `sku`")]
    NoSkuColumn { line: u64, columns: usize },
    #[error("the catalog's line {line}: {message}")]
    Line { line: u64, message: String },
    #[error("the catalog is not a workbook Excel can open: {0}")]
    Workbook(String),
    #[error("the catalog's JSON {0}")]
    Json(String),
    #[error("the catalog is empty: it has no header row")]
    Empty,
    #[error("the catalog is too large: {0}")]
    TooLarge(String),
}

impl CatalogError {
    pub fn code(&self) -> crate::error::ErrorCode {
        crate::error::ErrorCode::CatalogUnreadable
    }
}

/// The largest a catalog file may be (a CSV of 100,000 rows of six columns is ~10 MB).
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// The largest a catalog may be once unpacked (an .xlsx is a zip: a small one can hold a
/// huge sheet).
pub const MAX_UNPACKED_BYTES: u64 = 64 << 20;
/// Rows after the header a catalog may have.
pub const MAX_ROWS: usize = 100_000;
/// Columns a catalog may have (a marketplace's full product export has a few hundred).
pub const MAX_COLUMNS: usize = 1_000;
/// Bytes one cell may hold: Excel's own limit is 32,767 characters.
pub const MAX_CELL_BYTES: usize = 32_767;
/// Cells (rows x their width, empty ones too) a catalog may have once read as a table:
/// 100,000 rows of 40 columns. Checked before the table is built: a small JSON file whose
/// rows each name a new key, or a sheet with one cell far right on every row, would
/// otherwise ask for rows x columns empty cells.
pub const MAX_CELLS: usize = 4_000_000;

/// A product list (CSV, XLSX or JSON) keyed by SKU, lowercased: each product's
/// identifier, title and alt text, for exports. Columns are found by the catalog's names.
pub fn products(bytes: &[u8]) -> Result<HashMap<String, Context>, CatalogError> {
    let Table {
        header,
        header_line,
        rows,
        ..
    } = Table::read(bytes)?;
    let Some(sku) = column(&header, "sku") else {
        return Err(CatalogError::NoSkuColumn {
            line: header_line,
            columns: header.len(),
        });
    };
    let (ident, title, alt, handle) = (
        column(&header, "identifier"),
        column(&header, "title"),
        column(&header, "alt_text"),
        column(&header, "handle"),
    );
    let mut out = HashMap::new();
    for (_, rec) in rows {
        let get = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let Some(key) = get(Some(sku)) else { continue };
        out.insert(
            key.to_lowercase(),
            Context {
                sku: Some(key),
                identifier: get(ident),
                title: get(title),
                alt_text: get(alt),
                handle: get(handle),
                position: None,
                from: "products".into(),
            },
        );
    }
    Ok(out)
}

/// A file name as catalogs and folders are matched by it: `\\` read as `/`, Unicode in
/// its composed form (NFC: a Mac disk stores names decomposed, Excel types them composed),
/// lower case.
pub fn name_key(name: &str) -> String {
    let nfc = icu_normalizer::ComposingNormalizerBorrowed::new_nfc().normalize(name);
    nfc.replace('\\', "/").to_lowercase()
}

/// The last part of a [`name_key`].
fn base(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Catalog rows by file name (the whole name as uploaded, and its last part; see
/// [`name_key`]).
#[derive(Debug, Default)]
pub struct Catalog {
    rows: HashMap<String, Context>,
    /// The file names as the rows give them, in row order.
    names: Vec<String>,
    /// Which column each field was read from: (field, header as written).
    pub mapping: Vec<(String, String)>,
    /// How the file was read.
    read_as: String,
    /// Columns no field is read from.
    unused: Vec<UnusedColumn>,
    /// Cells read but not usable as they are.
    problems: Vec<RowProblem>,
    /// The row keys with folders (`cutouts/mug_1.png`) by their last part, where no other
    /// row has that last part: an upload sends file names without their folders.
    by_base: HashMap<String, String>,
}

impl Catalog {
    /// Reads a catalog from its bytes: CSV, XLSX or JSON, told apart by their first bytes.
    pub fn parse(bytes: &[u8]) -> Result<Catalog, CatalogError> {
        let Table {
            header,
            header_line,
            rows: table,
            read_as,
        } = Table::read(bytes)?;
        let mut mapping = Vec::new();
        let mut used = HashSet::new();
        let mut col = |field: &str| {
            let found = column(&header, field);
            if let Some(i) = found {
                used.insert(i);
                mapping.push((
                    field.to_string(),
                    header
                        .get(i)
                        .map_or("", String::as_str)
                        .trim_start_matches('\u{feff}')
                        .to_string(),
                ));
            }
            found
        };
        let Some(file) = col("file") else {
            return Err(CatalogError::NoFileColumn {
                line: header_line,
                columns: header.len(),
            });
        };
        let (sku, pos, alt, title, ident, handle) = (
            col("sku"),
            col("position"),
            col("alt_text"),
            col("title"),
            col("identifier"),
            col("handle"),
        );
        let unused = header
            .iter()
            .enumerate()
            .filter(|(i, h)| !used.contains(i) && !h.trim().is_empty())
            .map(|(i, h)| UnusedColumn {
                column: i + 1,
                header: h.trim_start_matches('\u{feff}').to_string(),
            })
            .collect();
        let mut rows = HashMap::new();
        let mut names = Vec::new();
        let mut problems = Vec::new();
        // Each identifier's first row and product, to find one identifier on two products.
        let mut products_of: HashMap<String, (u64, String)> = HashMap::new();
        for (line, rec) in table {
            let get = |c: Option<usize>| {
                c.and_then(|c| rec.get(c))
                    .filter(|v| !v.is_empty())
                    .cloned()
            };
            let Some(name) = get(Some(file)) else {
                continue;
            };
            let mut problem = |column: Option<usize>, field: &str, message: String| {
                problems.push(RowProblem {
                    line,
                    column: column.map_or(0, |c| c + 1),
                    field: field.into(),
                    message,
                });
            };
            let position = get(pos).and_then(|p| {
                let read = position(&p);
                if read.is_none() {
                    problem(
                        pos,
                        "position",
                        "not a number, `main`, PT01-PT99 or `swatch`; the position comes from the file's name".into(),
                    );
                }
                read
            });
            let identifier = get(ident);
            if let Some(raw) = &identifier {
                match crate::identifier::check(raw) {
                    Err(p) => problem(ident, "identifier", p.to_string()),
                    Ok((id, _)) => {
                        let product = get(sku)
                            .unwrap_or_else(|| product_of_name(&name))
                            .to_lowercase();
                        match products_of.get(&id) {
                            Some((first, other)) if *other != product => problem(
                                ident,
                                "identifier",
                                format!("the same identifier as line {first}, which is another product's: one of them is wrong; exports leave both out until it is put right"),
                            ),
                            Some(_) => {}
                            None => {
                                products_of.insert(id, (line, product));
                            }
                        }
                    }
                }
            }
            names.push(name.clone());
            rows.insert(
                name_key(&name),
                Context {
                    sku: get(sku),
                    position,
                    alt_text: get(alt),
                    title: get(title),
                    identifier,
                    handle: get(handle),
                    from: "catalog".into(),
                },
            );
        }
        let mut bases: HashMap<String, Option<String>> = HashMap::new();
        // A URL row names the file it is fetched to (`alias`), not its last part.
        for key in rows
            .keys()
            .filter(|k| k.contains('/') && !crate::intake::is_url(k))
        {
            bases
                .entry(base(key).to_string())
                .and_modify(|v| *v = None)
                .or_insert_with(|| Some(key.clone()));
        }
        let by_base = bases
            .into_iter()
            .filter_map(|(b, key)| Some((b, key?)))
            .filter(|(b, _)| !rows.contains_key(b))
            .collect();
        Ok(Catalog {
            rows,
            by_base,
            names,
            mapping,
            read_as,
            unused,
            problems,
        })
    }

    /// The file names the rows give, in row order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The report of this catalog, read from `file`, for a batch holding the files `held`
    /// (their paths in the batch): how it was read, which column gave each field and which
    /// columns none, the cells that could not be used, the rows naming no file of the batch
    /// (URL rows aside: their fetch reports them), and the files no row names.
    pub fn report(&self, file: &str, held: &[String]) -> CatalogReport {
        let have: HashSet<String> = held
            .iter()
            .flat_map(|r| {
                let r = name_key(r);
                let b = base(&r).to_string();
                [r, b]
            })
            .collect();
        let missing_files = self
            .names
            .iter()
            .filter(|n| !super::fetch::is_url(n))
            .filter(|n| {
                let n = name_key(n);
                !have.contains(&n) && !have.contains(base(&n))
            })
            .cloned()
            .collect();
        CatalogReport {
            file: file.to_string(),
            mapping: self.mapping.iter().cloned().collect(),
            rows: self.names.len(),
            missing_files,
            unlisted_files: held.iter().filter(|h| !self.has(h)).cloned().collect(),
            read_as: self.read_as.clone(),
            unused_columns: self.unused.clone(),
            problems: self.problems.clone(),
            ..Default::default()
        }
    }

    /// Makes the row of `name` (a URL) also the row of `file` (where it was fetched to).
    pub fn alias(&mut self, name: &str, file: &str) {
        if let Some(row) = self.rows.get(&name_key(name)).cloned() {
            self.rows.insert(name_key(file), row);
        }
    }

    /// Whether a row names the file `name` (see [`Catalog::context`]).
    pub fn has(&self, name: &str) -> bool {
        self.row(name).is_some()
    }

    fn row(&self, name: &str) -> Option<&Context> {
        let key = name_key(name);
        self.rows
            .get(&key)
            .or_else(|| self.rows.get(base(&key)))
            .or_else(|| self.by_base.get(&key).and_then(|k| self.rows.get(k)))
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The context of the file `name` (as uploaded or found, with or without its folders):
    /// the row's values over what `fallback` (from the file's name) tells.
    pub fn context(&self, name: &str, fallback: Context) -> Context {
        let Some(row) = self.row(name) else {
            return fallback;
        };
        Context {
            sku: row.sku.clone().or(fallback.sku),
            position: row.position.or(fallback.position),
            alt_text: row.alt_text.clone().or(fallback.alt_text),
            title: row.title.clone(),
            identifier: row.identifier.clone(),
            handle: row.handle.clone(),
            from: "catalog".into(),
        }
    }
}

/// The product a listed file belongs to when no SKU is given: the one its folder or name
/// says, else the photo alone (as the exports group it). An image URL's host and path are
/// not folders of the drop: its file name alone tells.
fn product_of_name(name: &str) -> String {
    let mut parts: Vec<String> = name.split(['/', '\\']).map(str::to_string).collect();
    parts.pop();
    if crate::intake::is_url(name) {
        parts.clear();
    }
    let sku = crate::handoff::context_from_path(&parts, stem(name)).sku;
    crate::handoff::product_of(sku.as_deref(), name)
}

/// A file name's stem: its last part without its extension.
fn stem(name: &str) -> &str {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    last.rsplit_once('.').map_or(last, |(s, _)| s)
}

#[cfg(test)]
mod tests;
