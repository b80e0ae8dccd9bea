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

/// Header names understood for each field, compared after lowercasing and dropping
/// everything but letters and digits ("Item Number", "item_number" and "ITEM-NUMBER" are one).
pub const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "file",
        &[
            "file",
            "filename",
            "image",
            "imagefile",
            "imagename",
            "photo",
            "photofile",
            "picture",
            "path",
            "imagepath",
            "imageurl",
            "url",
            "imagelink",
            "link",
            "datei",
            "dateiname",
            "bild",
            "bilddatei",
            "bildname",
            "fichier",
            "nomdufichier",
            "archivo",
            "imagen",
        ],
    ),
    (
        "sku",
        &[
            "sku",
            "itemnumber",
            "itemno",
            "item",
            "articlenumber",
            "articleno",
            "itemcode",
            "productid",
            "productcode",
            "partnumber",
            "style",
            "stylenumber",
            "mpn",
            "variantsku",
            "sellersku",
            "artikelnummer",
            "artnr",
            "referenz",
            "reference",
            "referencia",
        ],
    ),
    (
        "position",
        &[
            "position",
            "pos",
            "imageposition",
            "order",
            "sequence",
            "index",
            "imagenumber",
            "imageno",
            "imgno",
            "photono",
            "photonumber",
            "photoposition",
            "picturenumber",
            "imageorder",
            "sortorder",
            "slot",
            "bildposition",
            "bildnr",
            "bildnummer",
            "reihenfolge",
        ],
    ),
    (
        "alt_text",
        &[
            "alttext",
            "alt",
            "imagealttext",
            "imagedescription",
            "imagealt",
            "alttag",
        ],
    ),
    (
        "title",
        &[
            "title",
            "producttitle",
            "productname",
            "name",
            "itemname",
            "description",
            "titel",
            "produktname",
            "bezeichnung",
            "titre",
            "titulo",
        ],
    ),
    (
        "identifier",
        &[
            "identifier",
            "asin",
            "upc",
            "ean",
            "gtin",
            "barcode",
            "isbn",
            "jan",
            "productidentifier",
            "upccode",
            "eancode",
            "gtin13",
            "gtin12",
            "gtin14",
            "ean13",
            "isbn13",
            "isbn10",
            "barcodenumber",
            "variantbarcode",
            "externalproductid",
            "codeean",
            "codeupc",
            "codebarres",
            "codebarre",
            "strichcode",
            "codigodebarras",
            "codigoean",
        ],
    ),
    (
        "handle",
        &[
            "handle",
            "producthandle",
            "urlhandle",
            "shopifyhandle",
            "slug",
        ],
    ),
];

fn normalized(header: &str) -> String {
    // Accents fold to their letters first: `Référence` is `reference`, not `rfrence`.
    deunicode::deunicode(header.trim_start_matches('\u{feff}'))
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

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

/// A catalog read as text cells: its header and its rows, each with its line (its row
/// number in a sheet, its position in a JSON array counting from 1).
struct Table {
    header: Vec<String>,
    /// The header's line.
    header_line: u64,
    rows: Vec<(u64, Vec<String>)>,
    /// How the file was read, in words (see [`CatalogReport::read_as`]).
    read_as: String,
}

/// A catalog file's text: UTF-8 (its BOM dropped), UTF-16 by its BOM, else Windows-1252
/// (what Excel's plain "CSV" is on a Western Windows), and the encoding's name.
fn text_of(bytes: &[u8]) -> (std::borrow::Cow<'_, str>, &'static str) {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        if let Ok(t) = std::str::from_utf8(rest) {
            return (t.into(), "UTF-8");
        }
    }
    for (bom, encoding, name) in [
        (&b"\xff\xfe"[..], encoding_rs::UTF_16LE, "UTF-16"),
        (&b"\xfe\xff"[..], encoding_rs::UTF_16BE, "UTF-16"),
    ] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            return (encoding.decode_without_bom_handling(rest).0, name);
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(t) => (t.into(), "UTF-8"),
        Err(_) => (
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0,
            "Windows-1252",
        ),
    }
}

/// The separator of a CSV's header line: whichever of comma, semicolon, tab and pipe
/// occurs most outside quotes (a tie goes to the one listed first).
fn separator(header_line: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for b in header_line.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(c) = counts.iter_mut().find(|(s, _)| *s == b) {
                    c.1 += 1;
                }
            }
            _ => {}
        }
    }
    counts
        .iter()
        .fold((b',', 0), |best, &c| if c.1 > best.1 { c } else { best })
        .0
}

fn separator_name(sep: u8) -> &'static str {
    match sep {
        b';' => "semicolon",
        b'\t' => "tab",
        b'|' => "pipe",
        _ => "comma",
    }
}

/// Checks a cell's place and size before it is kept.
fn check_cell(line: u64, column: usize, bytes: usize) -> Result<(), CatalogError> {
    if column >= MAX_COLUMNS {
        return Err(CatalogError::TooLarge(format!(
            "line {line} has a cell in column {}, more than the {MAX_COLUMNS} columns a catalog may have",
            column + 1
        )));
    }
    if bytes > MAX_CELL_BYTES {
        return Err(CatalogError::TooLarge(format!(
            "the cell at line {line}, column {}, holds {bytes} bytes, more than the {MAX_CELL_BYTES} a cell may",
            column + 1
        )));
    }
    Ok(())
}

/// Checks that a table of `cells` cells may be built.
fn check_cells(cells: usize) -> Result<(), CatalogError> {
    if cells > MAX_CELLS {
        return Err(CatalogError::TooLarge(format!(
            "it makes a table of {cells} cells (rows x columns), more than the {MAX_CELLS} a catalog may have; drop unused columns or split it"
        )));
    }
    Ok(())
}

/// Checks that a row may be kept, `rows` being how many are kept already (the header too).
fn check_rows(line: u64, rows: usize) -> Result<(), CatalogError> {
    if rows > MAX_ROWS {
        return Err(CatalogError::TooLarge(format!(
            "it has rows up to line {line}, more than the {MAX_ROWS} rows a catalog may have; split it"
        )));
    }
    Ok(())
}

impl Table {
    /// Reads CSV, XLSX (by its zip signature) or JSON (by its opening bracket).
    fn read(bytes: &[u8]) -> Result<Table, CatalogError> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(CatalogError::TooLarge(format!(
                "it holds more than the {MAX_FILE_BYTES} bytes a catalog may"
            )));
        }
        if bytes.starts_with(b"PK\x03\x04") {
            return Table::xlsx(bytes);
        }
        let (text, encoding) = text_of(bytes);
        match text.chars().find(|c| !c.is_whitespace()) {
            Some('[' | '{') => Table::json(text.as_bytes()),
            _ => Table::csv(&text, encoding),
        }
    }

    fn csv(text: &str, encoding: &str) -> Result<Table, CatalogError> {
        // Excel's `sep=;` first line names the separator and is no row.
        let first = text.lines().next().unwrap_or_default();
        // (Not trimmed: `sep=` may name the tab.)
        let hinted = first
            .trim_end_matches('\r')
            .strip_prefix("sep=")
            .and_then(|s| (s.len() == 1).then(|| s.as_bytes()[0]));
        let (body, skipped) = match hinted {
            Some(_) => (text.split_once('\n').map_or("", |(_, rest)| rest), 1),
            None => (text, 0),
        };
        let sep = hinted.unwrap_or_else(|| separator(body));
        let mut r = csv::ReaderBuilder::new()
            .delimiter(sep)
            .trim(csv::Trim::All)
            .flexible(true)
            .has_headers(false)
            .from_reader(body.as_bytes());
        // Lines counted here from the record's byte offset: the csv crate's own count is
        // one short after a CRLF (what Excel writes).
        let bytes = body.as_bytes();
        let line_at = |from: usize, to: usize| {
            let part = &bytes[from.min(bytes.len())..to.min(bytes.len())];
            part.iter().filter(|&&b| b == b'\n').count() as u64
        };
        let line_err = |e: csv::Error| CatalogError::Line {
            line: e
                .position()
                .map_or(0, |p| 1 + line_at(0, p.byte() as usize))
                + skipped,
            message: e.to_string(),
        };
        let mut rows = Vec::new();
        let mut cells = 0usize;
        let (mut seen, mut line) = (0usize, 1u64);
        for rec in r.records() {
            let rec = rec.map_err(line_err)?;
            // (A record's offset can be that of the line break before it.)
            let mut at = rec.position().map_or(seen, |p| p.byte() as usize);
            while matches!(bytes.get(at), Some(b'\r' | b'\n')) {
                at += 1;
            }
            line += line_at(seen, at);
            seen = at;
            let line = line + skipped;
            check_rows(line, rows.len())?;
            cells += rec.len();
            check_cells(cells)?;
            for (column, cell) in rec.iter().enumerate() {
                check_cell(line, column, cell.len())?;
            }
            rows.push((line, rec.iter().map(str::to_owned).collect::<Vec<_>>()));
        }
        let mut rows = rows.into_iter();
        let (header_line, header) = rows.next().ok_or(CatalogError::Empty)?;
        Ok(Table {
            header,
            header_line,
            rows: rows.collect(),
            read_as: format!("CSV, {}-separated, {encoding}", separator_name(sep)),
        })
    }

    fn xlsx(bytes: &[u8]) -> Result<Table, CatalogError> {
        use calamine::Reader;
        let bad = |e: &dyn std::fmt::Display| CatalogError::Workbook(e.to_string());
        // Refuse a zip whose parts unpack to more than a catalog could need (sizes from
        // its central directory, before anything is unpacked).
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| bad(&e))?;
        let mut unpacked = 0u64;
        for i in 0..zip.len() {
            let part = zip.by_index_raw(i).map_err(|e| bad(&e))?;
            unpacked = unpacked.saturating_add(part.size());
        }
        if unpacked > MAX_UNPACKED_BYTES {
            return Err(CatalogError::Workbook(format!(
                "it unpacks to {unpacked} bytes, more than the {MAX_UNPACKED_BYTES} a catalog may"
            )));
        }
        let mut book: calamine::Xlsx<_> =
            calamine::Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| bad(&e))?;
        let first = book
            .sheet_names()
            .into_iter()
            .next()
            .ok_or_else(|| CatalogError::Workbook("it has no sheet".into()))?;
        let mut cells = book.worksheet_cells_reader(&first).map_err(|e| bad(&e))?;
        // Cells one by one, as the sheet stores them, each place checked before it is
        // kept: a sheet's declared size, or one cell far out, allocates nothing.
        let mut by_row: std::collections::BTreeMap<u32, Vec<(usize, String)>> =
            std::collections::BTreeMap::new();
        while let Some(cell) = cells.next_cell().map_err(|e| bad(&e))? {
            let (row, column) = cell.get_position();
            let line = u64::from(row) + 1;
            // Whole numbers print without a fraction: 4006381333931, not 4006381333931.0.
            let text = calamine::Data::from(cell.get_value().clone()).to_string();
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let column = column as usize;
            check_cell(line, column, text.len())?;
            if !by_row.contains_key(&row) {
                check_rows(line, by_row.len())?;
            }
            by_row
                .entry(row)
                .or_default()
                .push((column, text.to_owned()));
        }
        let width = |cells: &[(usize, String)]| cells.iter().map(|(c, _)| c + 1).max().unwrap_or(0);
        check_cells(by_row.values().map(|cells| width(cells)).sum())?;
        let mut rows = by_row.into_iter().map(|(row, cells)| {
            let width = width(&cells);
            let mut out = vec![String::new(); width];
            for (c, text) in cells {
                out[c] = text;
            }
            (u64::from(row) + 1, out)
        });
        let (header_line, header) = rows.next().ok_or(CatalogError::Empty)?;
        Ok(Table {
            header,
            header_line,
            rows: rows.collect(),
            read_as: "Excel workbook, first sheet".into(),
        })
    }

    fn json(text: &[u8]) -> Result<Table, CatalogError> {
        use serde_json::Value;
        let v: Value = serde_json::from_slice(text)
            .map_err(|e| CatalogError::Json(format!("is not valid: {e}")))?;
        // An array of rows, or an object holding one (`{"images": [...]}`).
        let items = match v {
            Value::Array(a) => a,
            Value::Object(o) => o
                .into_iter()
                .find_map(|(_, v)| match v {
                    Value::Array(a) => Some(a),
                    _ => None,
                })
                .ok_or_else(|| CatalogError::Json("holds no array of rows".into()))?,
            _ => return Err(CatalogError::Json("is not an array of rows".into())),
        };
        let mut header: Vec<String> = Vec::new();
        let mut known = HashSet::new();
        let mut objects = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let line = i as u64 + 1;
            check_rows(line, i)?;
            let Value::Object(o) = item else {
                return Err(CatalogError::Line {
                    line,
                    message: "a row is not an object of fields".into(),
                });
            };
            for k in o.keys() {
                if known.insert(k.clone()) {
                    check_cell(line, header.len(), k.len())?;
                    header.push(k.clone());
                }
            }
            objects.push((line, o));
        }
        check_cells(objects.len().saturating_mul(header.len()))?;
        let mut rows = Vec::with_capacity(objects.len());
        for (line, o) in objects {
            let mut cells = Vec::with_capacity(header.len());
            for (column, h) in header.iter().enumerate() {
                let cell = match o.get(h) {
                    Some(Value::String(s)) => s.trim().to_owned(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                check_cell(line, column, cell.len())?;
                cells.push(cell);
            }
            rows.push((line, cells));
        }
        Ok(Table {
            header,
            header_line: 1,
            rows,
            read_as: "JSON".into(),
        })
    }
}

/// The column of `header` that holds `field`: the first synonym that names a column wins
/// (an `sku` column over an `item` one).
fn column(header: &[String], field: &str) -> Option<usize> {
    let names = SYNONYMS
        .iter()
        .find(|(f, _)| *f == field)
        .map_or(&[][..], |(_, n)| *n);
    names
        .iter()
        .find_map(|n| header.iter().position(|h| normalized(h) == *n))
}

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
mod tests {
    use super::*;
    use crate::handoff::context_from_name;

    #[test]
    fn rows_name_products_and_leave_the_rest_to_the_file_name() {
        let csv = "\u{feff}File,sku,position,alt_text,title,identifier\n\
                   mug.png,MUG-01,main,White mug,\"Mug, white\",0123456789012\n\
                   shots/side.jpg,,PT01,,,\n";
        let c = Catalog::parse(csv.as_bytes()).unwrap();
        assert_eq!(c.len(), 2);
        let m = c.context("uploads/MUG.png", context_from_name("MUG"));
        assert_eq!(m.sku.as_deref(), Some("MUG-01"));
        assert_eq!(m.position, Some(1));
        assert_eq!(m.title.as_deref(), Some("Mug, white"));
        assert_eq!(m.identifier.as_deref(), Some("0123456789012"));
        assert_eq!(m.from, "catalog");
        let s = c.context("shots/side.jpg", context_from_name("CUP_2"));
        assert_eq!((s.sku.as_deref(), s.position), (Some("CUP"), Some(2)));
        let none = c.context("other.png", context_from_name("other"));
        assert_eq!(none.from, "file_name");
    }

    #[test]
    fn a_row_with_folders_names_an_upload_of_the_bare_file_unless_two_rows_share_its_name() {
        let csv = "file,sku\ncutouts/mug_1.png,MUG\na/cup_1.png,CUP-A\nb/cup_1.png,CUP-B\n";
        let c = Catalog::parse(csv.as_bytes()).unwrap();
        // A browser or curl sends `mug_1.png` for cutouts/mug_1.png.
        let m = c.context("mug_1.png", context_from_name("mug_1"));
        assert_eq!(m.sku.as_deref(), Some("MUG"));
        // Two rows end in cup_1.png: which one is meant cannot be told.
        assert!(!c.has("cup_1.png"));
        assert!(c.has("b/cup_1.png"));
        let r = c.report("catalog.csv", &["mug_1.png".into()]);
        assert!(r.unlisted_files.is_empty(), "{r:?}");
    }

    #[test]
    fn headers_match_forgivingly_and_the_mapping_is_kept() {
        let csv = "Image File,Item Number,Position,Product Name,UPC\nshots\\a.jpg,A-1,2,Mug,0001\n";
        let c = Catalog::parse(csv.as_bytes()).unwrap();
        let a = c.context("shots/a.jpg", Context::default());
        assert_eq!(
            (
                a.sku.as_deref(),
                a.position,
                a.title.as_deref(),
                a.identifier.as_deref()
            ),
            (Some("A-1"), Some(2), Some("Mug"), Some("0001"))
        );
        assert_eq!(c.mapping[0], ("file".to_string(), "Image File".to_string()));
        assert!(c
            .mapping
            .contains(&("identifier".to_string(), "UPC".to_string())));
        assert!(c.has("SHOTS/A.JPG") && !c.has("b.jpg"));
    }

    #[test]
    fn bad_catalogs_are_named() {
        let e = Catalog::parse(b"label,sku\na.png,A\n").unwrap_err();
        assert!(e.to_string().contains("no column of file names"), "{e}");
        // A position that is none: the row is used, the position comes from the name,
        // and the report says where.
        let c = Catalog::parse(b"file,position\na_3.png,front\n").unwrap();
        assert_eq!(
            c.context("a_3.png", context_from_name("a_3")).position,
            Some(3)
        );
        let r = c.report("catalog.csv", &["a_3.png".into()]);
        assert_eq!((r.problems[0].line, r.problems[0].column), (2, 2));
        // A supplier's cell is never echoed.
        let said = r.notes().join("\n");
        assert!(said.contains("line 2, column 2 (position)"), "{said}");
        assert!(!said.contains("front"), "{said}");
        // Lines as a spreadsheet numbers them, after CRLFs and a quoted line break too.
        let c = Catalog::parse(b"file,title,position\r\na.png,\"two\r\nlines\",1\r\nb.png,,x\r\n")
            .unwrap();
        assert_eq!(c.report("c", &[]).problems[0].line, 4);
    }

    #[test]
    fn csvs_are_read_as_spreadsheets_save_them() {
        let want = |c: &Catalog| {
            let m = c.context("tasse.png", Context::default());
            (m.sku, m.position)
        };
        let expected = (Some("T-1".to_string()), Some(2));
        // Excel in most of Europe: semicolons, a BOM, CRLF, a quoted semicolon.
        let c = Catalog::parse(b"\xef\xbb\xbfDatei;Artikelnummer;Position;Titel;Farbe\r\ntasse.png;T-1;2;\"Tasse; wei\xc3\x9f\";wei\xc3\x9f\r\n").unwrap();
        assert_eq!(want(&c), expected);
        let t = c.context("tasse.png", Context::default()).title;
        assert_eq!(t.as_deref(), Some("Tasse; wei\u{df}"));
        let r = c.report("c.csv", &[]);
        assert_eq!(r.read_as, "CSV, semicolon-separated, UTF-8");
        // A column no field is named by: named in the report, not guessed at.
        let unused: Vec<(usize, &str)> = r
            .unused_columns
            .iter()
            .map(|u| (u.column, u.header.as_str()))
            .collect();
        assert_eq!(unused, [(5, "Farbe")]);
        // Excel's `sep=` line names the separator.
        let c = Catalog::parse(b"sep=;\r\nfile;sku;pos\r\ntasse.png;T-1;2\r\n").unwrap();
        assert_eq!(want(&c), expected);
        let c = Catalog::parse(b"file\tsku\timage no.\ntasse.png\tT-1\t2\n").unwrap();
        assert_eq!(want(&c), expected);
        assert_eq!(c.report("c", &[]).read_as, "CSV, tab-separated, UTF-8");
        // `sep=` naming the tab itself.
        // (Its header alone would read as semicolon-separated.)
        let c =
            Catalog::parse(b"sep=\t\r\nfile\tsku\tnote;a;b\r\ntasse.png\tT-1;x\tn\r\n").unwrap();
        assert_eq!(
            c.context("tasse.png", Context::default()).sku.as_deref(),
            Some("T-1;x")
        );
        // Excel's plain "CSV" on Windows: Windows-1252 (0xE9 is e-acute).
        let c = Catalog::parse(b"file,sku,position,title\ntasse.png,T-1,2,Caf\xe9\n").unwrap();
        assert_eq!(
            c.context("tasse.png", Context::default()).title.as_deref(),
            Some("Caf\u{e9}")
        );
        assert_eq!(
            c.report("c", &[]).read_as,
            "CSV, comma-separated, Windows-1252"
        );
        // Excel's "Unicode Text": UTF-16 with its BOM, tabs.
        let mut utf16 = vec![0xff, 0xfe];
        for u in "file\tsku\tposition\r\ntasse.png\tT-1\t2\r\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let c = Catalog::parse(&utf16).unwrap();
        assert_eq!(want(&c), expected);
        assert_eq!(c.report("c", &[]).read_as, "CSV, tab-separated, UTF-16");
    }

    #[test]
    fn names_match_in_any_unicode_form_and_case() {
        // Typed in Excel (composed), found on a Mac disk (decomposed), or the other way.
        let c = Catalog::parse("file,sku\nKaffeetasse ros\u{e9}.png,K-1\n".as_bytes()).unwrap();
        let mac = "drop/KAFFEETASSE rose\u{301}.png";
        assert_eq!(
            c.context(mac, Context::default()).sku.as_deref(),
            Some("K-1")
        );
        let r = c.report("catalog.csv", &[mac.to_string()]);
        assert!(
            r.missing_files.is_empty() && r.unlisted_files.is_empty(),
            "{r:?}"
        );
        let c = Catalog::parse("file,sku\nrose\u{301}.png,R-1\n".as_bytes()).unwrap();
        assert!(c.has("ros\u{e9}.png"));
    }

    #[test]
    fn identifiers_are_checked_row_by_row_at_the_door() {
        let csv = "file,sku,ean,handle\n\
                   a.png,A,4006381333931,mug-white\n\
                   a_2.png,A,4006381333931,\n\
                   b.png,B,4006381333931,\n\
                   c.png,C,4.00638E+12,\n\
                   d.png,D,36000291452,\n\
                   e.png,E,4006381333932,\n";
        let c = Catalog::parse(csv.as_bytes()).unwrap();
        let r = c.report("catalog.csv", &[]);
        let at: Vec<(u64, usize, &str)> = r
            .problems
            .iter()
            .map(|p| (p.line, p.column, p.field.as_str()))
            .collect();
        // One product's two photos share its identifier; another product may not.
        assert_eq!(
            at,
            [
                (4, 3, "identifier"),
                (5, 3, "identifier"),
                (6, 3, "identifier"),
                (7, 3, "identifier")
            ]
        );
        assert!(
            r.problems[0].message.contains("as line 2"),
            "{:?}",
            r.problems[0]
        );
        assert!(r.problems[1].message.contains("scientific notation"));
        assert!(r.problems[2].message.contains("lost its leading zero"));
        assert!(r.problems[3].message.contains("check digit should be 1"));
        // The rows are still used: their photos are the products'.
        assert_eq!(
            c.context("c.png", Context::default()).sku.as_deref(),
            Some("C")
        );
        assert_eq!(
            c.context("a.png", Context::default()).handle.as_deref(),
            Some("mug-white")
        );
        assert_eq!(
            c.mapping.iter().find(|(f, _)| f == "identifier").unwrap().1,
            "ean"
        );
        // Without a SKU column a product is what its folder or name says, else the photo.
        let csv = "file,ean\n\
                   mug.png,4006381333931\n\
                   bowl.png,4006381333931\n\
                   CUP/1.png,036000291452\n\
                   CUP/2.png,036000291452\n\
                   https://cdn.example.com/p/plate.jpg,5901234123457\n\
                   https://cdn.example.com/p/bowl.jpg,5901234123457\n";
        let r = Catalog::parse(csv.as_bytes())
            .unwrap()
            .report("catalog.csv", &[]);
        let at: Vec<u64> = r.problems.iter().map(|p| p.line).collect();
        // An image URL's host and path are no product folder: plate and bowl differ.
        assert_eq!(at, [3, 7], "{:?}", r.problems);
    }

    #[test]
    fn a_workbook_is_read_from_its_first_sheet_with_numbers_as_typed() {
        let c = Catalog::parse(include_bytes!("../../tests/data/supplier-catalog.xlsx")).unwrap();
        let mug = c.context("mug.png", Context::default());
        assert_eq!(mug.sku.as_deref(), Some("MUG-7"));
        assert_eq!(mug.position, Some(1));
        assert_eq!(mug.identifier.as_deref(), Some("4006381333931"));
        assert_eq!(mug.title.as_deref(), Some("Stoneware mug, white"));
        assert_eq!(mug.alt_text.as_deref(), Some("White mug, front"));
        assert_eq!(
            c.context("rocket.png", Context::default()).position,
            Some(2)
        );
        assert_eq!(c.names(), ["mug.png", "rocket.png", "gone.jpg"]);
        let m: HashMap<_, _> = c.mapping.iter().cloned().collect();
        assert_eq!(m["file"], "Image Name");
        assert_eq!(m["sku"], "Item Code");
        assert_eq!(m["position"], "Pos.");
        assert_eq!(m["identifier"], "EAN Code");
        assert_eq!(m["alt_text"], "Alt Tag");
    }

    #[test]
    fn json_rows_are_objects_and_urls_take_the_place_of_files() {
        let json = br#"{"images": [
            {"Image URL": "https://cdn.example.com/a/mug.png", "SKU": "M-1", "position": 1, "gtin": 4006381333931},
            {"Image URL": "side.jpg", "SKU": "M-1", "position": "PT01", "gtin": null}
        ]}"#;
        let mut c = Catalog::parse(json).unwrap();
        assert_eq!(c.names()[0], "https://cdn.example.com/a/mug.png");
        assert!(!c.has("mug.png"));
        c.alias("https://cdn.example.com/a/mug.png", "mug.png");
        let m = c.context("mug.png", Context::default());
        assert_eq!((m.sku.as_deref(), m.position), (Some("M-1"), Some(1)));
        assert_eq!(m.identifier.as_deref(), Some("4006381333931"));
        assert_eq!(c.context("side.jpg", Context::default()).position, Some(2));
        let e = Catalog::parse(b"[1, 2]").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = Catalog::parse(b"{\"a\": ").unwrap_err();
        assert!(e.to_string().contains("JSON"), "{e}");
        let e = Catalog::parse(b"PK\x03\x04broken").unwrap_err();
        assert!(e.to_string().contains("Excel"), "{e}");
    }

    #[test]
    fn tables_of_more_cells_than_a_catalog_may_have_are_refused_before_they_are_built() {
        // 4,001 rows, each naming one of 1,000 keys: 48 KB of JSON, 4 million empty cells.
        let rows: Vec<String> = (0..4_001)
            .map(|i| format!("{{\"k{}\":1}}", i % 1_000))
            .collect();
        let json = format!("[{}]", rows.join(","));
        let e = Catalog::parse(json.as_bytes()).unwrap_err();
        assert!(matches!(e, CatalogError::TooLarge(_)), "{e}");
        assert!(e.to_string().contains("4001000 cells"), "{e}");
        // 1,000 empty cells on each of 4,001 lines: 4 MB of commas.
        let csv = format!("file{}", format!("\n{}", ",".repeat(999)).repeat(4_001));
        let e = Catalog::parse(csv.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("4000001 cells"), "{e}");
        // An ordinary catalog is read.
        let rows: String = (0..1_000).map(|i| format!("\nm{i}.png,M")).collect();
        let csv = format!("file,sku{rows}");
        assert_eq!(Catalog::parse(csv.as_bytes()).unwrap().len(), 1_000);
    }

    #[test]
    fn the_readme_lists_every_header_understood() {
        let readme = include_str!("../../README.md");
        for (field, names) in SYNONYMS {
            let label = if *field == "file" {
                "file (required)"
            } else {
                field
            };
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| {label} |")))
                .unwrap_or_else(|| panic!("README has no synonyms row for {field}"));
            let cell = row.split('|').nth(2).unwrap_or_default();
            // The names, without the note in brackets after them.
            let names_only = cell.split('(').next().unwrap_or_default();
            let listed: Vec<String> = names_only.split(',').map(normalized).collect();
            for n in *names {
                assert!(
                    listed.iter().any(|l| l == n),
                    "README's {field} row lacks {n}"
                );
            }
        }
    }

    #[test]
    fn a_workbook_a_spreadsheet_app_wrote_is_checked_as_a_csv_is() {
        // Written by openpyxl (tests/data/make_damaged_xlsx.py): German headers, an unused
        // column, a UPC typed as a number that lost its zero, one EAN on two products.
        let c =
            Catalog::parse(include_bytes!("../../tests/data/supplier-catalog-de.xlsx")).unwrap();
        let r = c.report("catalog.xlsx", &[]);
        assert_eq!(r.read_as, "Excel workbook, first sheet");
        assert_eq!(r.mapping["file"], "Bilddatei");
        assert_eq!(r.mapping["position"], "Bild Nr.");
        let unused: Vec<&str> = r.unused_columns.iter().map(|u| u.header.as_str()).collect();
        assert_eq!(unused, ["Farbe"]);
        let at: Vec<(u64, &str)> = r
            .problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(at.len(), 2, "{at:?}");
        assert!(
            at[0].0 == 4 && at[0].1.contains("lost its leading zero"),
            "{at:?}"
        );
        assert!(at[1].0 == 5 && at[1].1.contains("as line 2"), "{at:?}");
        // The name typed composed matches the Mac disk's decomposed one.
        let m = c.context("Kaffeetasse rose\u{301}.png", Context::default());
        assert_eq!((m.sku.as_deref(), m.position), (Some("TASSE-1"), Some(1)));
    }

    #[test]
    fn a_workbook_libreoffice_wrote_from_a_semicolon_csv_is_checked_the_same() {
        // tests/data/make_libreoffice_xlsx.sh: Calc's default CSV import, saved as xlsx.
        let c =
            Catalog::parse(include_bytes!("../../tests/data/supplier-catalog-fr.xlsx")).unwrap();
        let r = c.report("catalogue.xlsx", &[]);
        assert_eq!(r.read_as, "Excel workbook, first sheet");
        assert_eq!(r.mapping["file"], "Fichier");
        assert_eq!(r.mapping["sku"], "R\u{e9}f\u{e9}rence");
        assert_eq!(r.mapping["identifier"], "Code EAN");
        assert_eq!(r.mapping["title"], "Titre");
        let unused: Vec<&str> = r.unused_columns.iter().map(|u| u.header.as_str()).collect();
        assert_eq!(unused, ["Couleur"]);
        let at: Vec<(u64, usize, &str)> = r
            .problems
            .iter()
            .map(|p| (p.line, p.column, p.message.as_str()))
            .collect();
        assert_eq!(at.len(), 2, "{at:?}");
        assert!(
            at[0].0 == 4 && at[0].1 == 4 && at[0].2.contains("lost its leading zero"),
            "{at:?}"
        );
        assert!(at[1].0 == 5 && at[1].2.contains("as line 2"), "{at:?}");
        let m = c.context("tasse-rouge_2.png", Context::default());
        assert_eq!(
            (m.sku.as_deref(), m.position, m.title.as_deref()),
            (
                Some("TASSE-R"),
                Some(2),
                Some("Tasse \u{e0} caf\u{e9} rouge")
            )
        );
    }
}
