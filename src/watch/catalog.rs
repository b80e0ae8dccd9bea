//! A supplier's catalog: a CSV naming each photo's product. Columns, by header name in any
//! order: `file` (required), `sku`, `position` (a number, `main`, or an Amazon code such as
//! `PT01`), `alt_text`, `title`, `identifier`. Headers match forgivingly: case, spaces and
//! punctuation are ignored, and common synonyms are understood ([`SYNONYMS`]). What a row
//! gives replaces what the file's name tells; what it leaves empty, the name still tells.

use std::collections::HashMap;

use thiserror::Error;

use super::context::{position, Context};

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
            "productid",
            "productcode",
            "partnumber",
            "style",
            "stylenumber",
            "mpn",
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
            "slot",
        ],
    ),
    (
        "alt_text",
        &["alttext", "alt", "imagedescription", "imagealt", "alttag"],
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
        ],
    ),
];

fn normalized(header: &str) -> String {
    header
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[derive(Debug, Error, PartialEq)]
pub enum CatalogError {
    #[error("the catalog has no column of file names (its header is: {header}); name it `file` (or Filename, Image, Photo)")]
    NoFileColumn { header: String },
    #[error("the catalog's line {line}: {message}")]
    Line { line: u64, message: String },
}

/// Catalog rows by file name (the whole name as uploaded, and its last part, lowercased).
#[derive(Debug, Default)]
pub struct Catalog {
    rows: HashMap<String, Context>,
    /// The file names as the rows give them, in row order.
    names: Vec<String>,
    /// Which column each field was read from: (field, header as written).
    pub mapping: Vec<(String, String)>,
}

impl Catalog {
    pub fn parse(bytes: &[u8]) -> Result<Catalog, CatalogError> {
        let mut r = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(bytes);
        let line_err = |e: csv::Error| CatalogError::Line {
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        };
        let header = r.headers().map_err(line_err)?.clone();
        let mut mapping = Vec::new();
        let mut col = |field: &str| {
            let names = SYNONYMS
                .iter()
                .find(|(f, _)| *f == field)
                .map_or(&[][..], |(_, n)| *n);
            // The first synonym that names a column wins (an `sku` column over an `item` one).
            let found = names
                .iter()
                .find_map(|n| header.iter().position(|h| normalized(h) == *n));
            if let Some(i) = found {
                mapping.push((
                    field.to_string(),
                    header
                        .get(i)
                        .unwrap_or_default()
                        .trim_start_matches('\u{feff}')
                        .to_string(),
                ));
            }
            found
        };
        let Some(file) = col("file") else {
            return Err(CatalogError::NoFileColumn {
                header: header.iter().collect::<Vec<_>>().join(","),
            });
        };
        let (sku, pos, alt, title, ident) = (
            col("sku"),
            col("position"),
            col("alt_text"),
            col("title"),
            col("identifier"),
        );
        let mut rows = HashMap::new();
        let mut names = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(line_err)?;
            let get = |c: Option<usize>| {
                c.and_then(|c| rec.get(c))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            };
            let Some(name) = get(Some(file)) else {
                continue;
            };
            let position_text = get(pos);
            let position = match &position_text {
                None => None,
                Some(p) => Some(position(p).ok_or_else(|| CatalogError::Line {
                    line: rec.position().map_or(0, |p| p.line()),
                    message: format!(
                        "position '{p}' of {name} is not a number, `main` or PT01-PT99"
                    ),
                })?),
            };
            names.push(name.clone());
            rows.insert(
                name.replace('\\', "/").to_lowercase(),
                Context {
                    sku: get(sku),
                    position,
                    alt_text: get(alt),
                    title: get(title),
                    identifier: get(ident),
                    from: "catalog".into(),
                },
            );
        }
        Ok(Catalog {
            rows,
            names,
            mapping,
        })
    }

    /// The file names the rows give, in row order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether a row names the file `name` (see [`Catalog::context`]).
    pub fn has(&self, name: &str) -> bool {
        self.row(name).is_some()
    }

    fn row(&self, name: &str) -> Option<&Context> {
        let name = name.replace('\\', "/").to_lowercase();
        let base = name.rsplit('/').next().unwrap_or(&name);
        self.rows.get(&name).or_else(|| self.rows.get(base))
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
            from: "catalog".into(),
        }
    }
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
        let e = Catalog::parse(b"file,position\na.png,front\n").unwrap_err();
        assert!(
            e.to_string().contains("line 2") && e.to_string().contains("front"),
            "{e}"
        );
    }
}
