//! Supplier catalogs as spreadsheets write them, through the watched inbox and the upload:
//! separators, byte order marks, Windows-1252, names a Mac disk stores decomposed, columns
//! nobody asked for, and identifiers a spreadsheet damaged, all said when the file arrives.

use crate::hostile::watch_once;
use crate::server::{file, specs, upload, Server};
use crate::util::{fixtures, read_json};

/// The German Excel of a supplier: semicolons, a BOM, CRLF, names typed composed (NFC),
/// a barcode shown in scientific notation and a UPC that lost its leading zero.
const EXCEL_DE: &[u8] = b"\xef\xbb\xbfBilddatei;Artikelnummer;Bild Nr.;EAN;Farbe\r\n\
Kaffeetasse ros\xc3\xa9.png;TASSE-1;1;4,00638E+12;ros\xc3\xa9\r\n\
rocket.png;RKT-9;2;36000291452;blau\r\n";

#[test]
fn a_european_excel_catalog_with_mac_names_is_read_and_its_damage_named() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    let drop = inbox.join("acme");
    std::fs::create_dir_all(&drop).unwrap();
    // As a Mac disk stores the name: decomposed (NFD), e + combining acute.
    std::fs::copy(
        fixtures().join("MUG01_1.png"),
        drop.join("Kaffeetasse rose\u{301}.png"),
    )
    .unwrap();
    std::fs::copy(fixtures().join("ROCKET02_1.png"), drop.join("rocket.png")).unwrap();
    std::fs::write(drop.join("catalog.csv"), EXCEL_DE).unwrap();

    let (code, log) = watch_once(&inbox, &out, &data);
    assert_eq!(code, Some(0), "{log}");
    let m = read_json(&out.join("acme/manifest.json"));
    let c = &m["catalog"];
    assert_eq!(c["read_as"], "CSV, semicolon-separated, UTF-8", "{c}");
    assert_eq!(c["mapping"]["file"], "Bilddatei");
    assert_eq!(c["mapping"]["position"], "Bild Nr.");
    assert_eq!(c["mapping"]["identifier"], "EAN");
    assert_eq!(
        c["unused_columns"],
        serde_json::json!([{"column": 5, "header": "Farbe"}])
    );
    // The NFD name on disk is the NFC name in the catalog: nothing missing, nothing unlisted.
    assert_eq!(c["missing_files"], serde_json::json!([]), "{c}");
    assert_eq!(c["unlisted_files"], serde_json::json!([]), "{c}");
    let problems = c["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{c}");
    assert_eq!(
        (problems[0]["line"].as_u64(), problems[0]["column"].as_u64()),
        (Some(2), Some(4))
    );
    assert!(problems[0]["message"]
        .as_str()
        .unwrap()
        .contains("format the column as text"));
    assert!(problems[1]["message"]
        .as_str()
        .unwrap()
        .contains("lost its leading zero"));
    // The rows name the products.
    let context = |sku: &str| {
        m["handoffs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["context"]["sku"] == sku)
            .map(|h| h["context"].clone())
            .unwrap_or_else(|| panic!("no handoff of {sku}: {m}"))
    };
    assert_eq!(context("TASSE-1")["position"], 1);
    assert_eq!(context("RKT-9")["position"], 2);
    // Said as the drop was taken, by line and column, with no cell's text.
    assert!(log.contains("line 2, column 4 (identifier)"), "{log}");
    assert!(log.contains("column(s) 5 are not read"), "{log}");
    assert!(
        !log.contains("4,00638E+12") && !log.contains("blau"),
        "{log}"
    );
}

#[test]
fn an_upload_is_answered_with_how_its_catalog_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    // Excel's plain "CSV" on Windows: Windows-1252, and its `sep=` line.
    let catalog = b"sep=;\r\nfile;sku;title;Image No.\r\nmug.png;MUG-7;Caf\xe9 cup;1\r\n".to_vec();
    let r = upload(
        &server,
        &[
            specs("amazon-main"),
            file("mug.png", "MUG01_1.png"),
            ("catalog", Some("catalog.csv"), catalog),
        ],
        &[],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let c = &r.json()["catalog"];
    assert_eq!(
        c["read_as"], "CSV, semicolon-separated, Windows-1252",
        "{c}"
    );
    assert_eq!(c["mapping"]["position"], "Image No.");
    assert_eq!(c["rows"], 1);
    let id = r.json()["id"].as_str().unwrap().to_string();
    crate::server::follow(&server, &id, &[]);
    let m = crate::server::get(&server.url(&format!("/v1/batches/{id}/manifest")), &[]).json();
    assert_eq!(m["handoffs"][0]["context"]["title"], "Caf\u{e9} cup");
    assert_eq!(m["catalog"]["read_as"], c["read_as"]);
}

#[test]
fn a_zipped_folder_uploads_as_its_photos_with_their_folders_and_catalog() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        (
            "BOTTLE-GRN/1.png",
            std::fs::read(fixtures().join("ROCKET02_1.png")).unwrap(),
        ),
        (
            "BOTTLE-GRN/2.png",
            std::fs::read(fixtures().join("MUG01_1.png")).unwrap(),
        ),
        (
            "../../escape.png",
            std::fs::read(fixtures().join("MUG01_1.png")).unwrap(),
        ),
        ("__MACOSX/BOTTLE-GRN/._1.png", b"resource fork".to_vec()),
        (
            "catalog.csv",
            b"file;title\nBOTTLE-GRN/1.png;Green bottle\n".to_vec(),
        ),
    ] {
        z.start_file(name, o).unwrap();
        z.write_all(&bytes).unwrap();
    }
    let zip = z.finish().unwrap().into_inner();
    let r = upload(
        &server,
        &[specs("amazon-main"), ("files", Some("shoot.zip"), zip)],
        &[],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["assets"], 3);
    assert_eq!(
        r.json()["catalog"]["read_as"],
        "CSV, semicolon-separated, UTF-8"
    );
    let id = r.json()["id"].as_str().unwrap().to_string();
    crate::server::follow(&server, &id, &[]);
    let m = crate::server::get(&server.url(&format!("/v1/batches/{id}/manifest")), &[]).json();
    let ctx = |key: &str| {
        m["handoffs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["provenance"]["source_key"] == key)
            .map(|h| h["context"].clone())
            .unwrap_or_else(|| panic!("no {key}: {m}"))
    };
    // The folder names the product, the file its position; the catalog adds the title.
    assert_eq!(ctx("BOTTLE-GRN/1.png")["sku"], "BOTTLE-GRN");
    assert_eq!(ctx("BOTTLE-GRN/1.png")["title"], "Green bottle");
    assert_eq!(ctx("BOTTLE-GRN/2.png")["position"], 2);
    // A path out of the batch stays in it.
    assert_eq!(ctx("escape.png")["sku"], "escape");
    let batch_dir = dir.path().join("data/batches").join(&id);
    assert!(!dir.path().join("data/escape.png").exists());
    assert!(
        !batch_dir.join("originals/1.zip").exists(),
        "the zip itself is not kept"
    );
}
