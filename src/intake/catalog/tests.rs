use super::headers::normalized;
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
    let c =
        Catalog::parse(b"file,title,position\r\na.png,\"two\r\nlines\",1\r\nb.png,,x\r\n").unwrap();
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
    let c = Catalog::parse(b"sep=\t\r\nfile\tsku\tnote;a;b\r\ntasse.png\tT-1;x\tn\r\n").unwrap();
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
    let c = Catalog::parse(include_bytes!("../../../tests/data/supplier-catalog.xlsx")).unwrap();
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
    let readme = include_str!("../../../README.md");
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
    let c = Catalog::parse(include_bytes!(
        "../../../tests/data/supplier-catalog-de.xlsx"
    ))
    .unwrap();
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
    let c = Catalog::parse(include_bytes!(
        "../../../tests/data/supplier-catalog-fr.xlsx"
    ))
    .unwrap();
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
