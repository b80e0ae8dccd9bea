//! A catalog file read as a table of text cells (CSV as spreadsheets write it, an .xlsx's
//! first sheet, a JSON array of objects), within the limits, before anything is kept.

use std::collections::HashSet;

use super::{
    CatalogError, MAX_CELLS, MAX_CELL_BYTES, MAX_COLUMNS, MAX_FILE_BYTES, MAX_ROWS,
    MAX_UNPACKED_BYTES,
};

/// A catalog read as text cells: its header and its rows, each with its line (its row
/// number in a sheet, its position in a JSON array counting from 1).
pub(super) struct Table {
    pub header: Vec<String>,
    /// The header's line.
    pub header_line: u64,
    pub rows: Vec<(u64, Vec<String>)>,
    /// How the file was read, in words (see [`crate::handoff::CatalogReport::read_as`]).
    pub read_as: String,
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
    pub(super) fn read(bytes: &[u8]) -> Result<Table, CatalogError> {
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
