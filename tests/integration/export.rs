//! `shelfready export`: the listing exports, checked on their bytes: names and order, check
//! digits, CSV header order and quoting, zip contents and split, URLs, and that only ready
//! and approved outputs go in.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{assert_exit, fixtures, process, read_json, shelfready, validate};

const BASE: &str = "https://cdn.example.com/shop";

/// One processed folder for every export test: products named by ASIN, by GTIN (positions
/// given out of order), by a GTIN with a wrong check digit, by a plain SKU; a photo that
/// waits for review and one that failed.
fn processed() -> &'static (tempfile::TempDir, PathBuf) {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir_all(&input).unwrap();
        for (from, to) in [
            ("ROCKET02_1.png", "B07XJ8C8F5_1.png"),
            ("MUG01_1.png", "B07XJ8C8F5_2.png"),
            ("SUPPLIER03-main.jpg", "B07XJ8C8F5_3.jpg"),
            ("MUG01_1.png", "B07XJ8C8F5_swatch.png"),
            ("MUG01_1.png", "4006381333931_2.png"),
            ("SUPPLIER03-main.jpg", "4006381333931_1.jpg"),
            ("MUG01_1.png", "4006381333932_1.png"),
            ("ROCKET02_1.png", "SHIRTRED01_1.png"),
            ("ADOBE04_1.jpg", "ADOBE04_1.jpg"),
            ("BROKEN08_1.png", "BROKEN08_1.png"),
        ] {
            std::fs::copy(fixtures().join(from), input.join(to)).unwrap();
        }
        let out = dir.path().join("out");
        assert_exit(
            &process(&input, "amazon-main,shopify,google-merchant", &out),
            1,
        );
        (dir, out)
    })
}

fn export(input: &Path, format: &str, out: &Path, more: &[&str]) -> std::process::Output {
    let mut args = vec![
        "export",
        input.to_str().unwrap(),
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(more);
    shelfready(&args)
}

/// A product list with titles that need quoting (a comma, quotes, non-ASCII).
fn product_list(dir: &Path) -> PathBuf {
    let file = dir.join("products.csv");
    std::fs::write(
        &file,
        "sku,identifier,title,alt_text\n\
         B07XJ8C8F5,,Rocket model,Cream rocket\n\
         4006381333931,,\"Café cup, red\",\n\
         SHIRTRED01,,\"Shirt, \"\"red\"\" – Größe M\",Red shirt\n",
    )
    .unwrap();
    file
}

fn zip_names(bytes: &[u8]) -> Vec<String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    // In the order they were written, not the archive's index order.
    (0..z.len())
        .map(|i| z.by_index_raw(i).unwrap().name().unwrap().to_string())
        .collect()
}

fn zip_entry(bytes: &[u8], name: &str) -> Vec<u8> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut f = z.by_name(name).unwrap();
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

fn left_out_reason(report: &Value, asset: &str) -> String {
    report["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["asset"] == asset)
        .unwrap_or_else(|| panic!("{asset} is not left out: {report}"))["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn amazon_zips_name_images_by_identifier_main_first_and_say_what_was_left_out() {
    let (_keep, out) = processed();
    let dir = tempfile::tempdir().unwrap();
    let o = export(out, "amazon", dir.path(), &[]);
    assert_exit(&o, 2);
    let zip = std::fs::read(dir.path().join("amazon/amazon-images-1.zip")).unwrap();
    // By identifier, never by SKU; MAIN is position 1 whatever the file order, and comes
    // before PT01, PT02 numbered in position order; everything at the zip's root.
    assert_eq!(
        zip_names(&zip),
        [
            "4006381333931.MAIN.jpg",
            "4006381333931.PT01.jpg",
            "B07XJ8C8F5.MAIN.jpg",
            "B07XJ8C8F5.PT01.jpg",
            "B07XJ8C8F5.PT02.jpg",
            "B07XJ8C8F5.SWCH.jpg",
        ]
    );
    assert_eq!(
        zip_entry(&zip, "4006381333931.MAIN.jpg"),
        std::fs::read(out.join("amazon-main/4006381333931_1.jpg")).unwrap()
    );
    assert_eq!(
        zip_entry(&zip, "B07XJ8C8F5.PT02.jpg"),
        std::fs::read(out.join("amazon-main/B07XJ8C8F5_3.jpg")).unwrap()
    );
    let report = read_json(&dir.path().join("amazon/export.json"));
    validate("export.schema.json", &report);
    assert_eq!(report["products"], 2);
    assert!(
        left_out_reason(&report, "4006381333932_1.amazon-main").contains("check digit should be 1")
    );
    assert!(left_out_reason(&report, "SHIRTRED01_1.amazon-main").contains("never by the SKU"));
    assert!(
        left_out_reason(&report, "ADOBE04_1.amazon-main").starts_with("not ready: busy background")
    );
    assert!(left_out_reason(&report, "BROKEN08_1.amazon-main").starts_with("not ready"));
    // Only amazon specs: the shopify outputs are neither in nor left out.
    assert!(!report.to_string().contains(".shopify\""));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2 product(s), 6 image(s)"), "{text}");

    // Deterministic: the same handoffs make the same bytes.
    let again = tempfile::tempdir().unwrap();
    assert_exit(&export(out, "amazon", again.path(), &[]), 2);
    assert_eq!(
        std::fs::read(again.path().join("amazon/amazon-images-1.zip")).unwrap(),
        zip
    );
    assert_eq!(
        std::fs::read(again.path().join("amazon/export.json")).unwrap(),
        std::fs::read(dir.path().join("amazon/export.json")).unwrap()
    );

    // Split under a size limit, a product's images never across two zips; the zips of
    // the last export are replaced, not left beside the new ones.
    let o = export(out, "amazon", dir.path(), &["--zip-max-mb", "1"]);
    assert_exit(&o, 2);
    let zips: Vec<PathBuf> = (1..=5)
        .map(|n| dir.path().join(format!("amazon/amazon-images-{n}.zip")))
        .filter(|p| p.exists())
        .collect();
    assert!(zips.len() >= 2, "{zips:?}");
    let mut all = Vec::new();
    for z in &zips {
        let bytes = std::fs::read(z).unwrap();
        let names = zip_names(&bytes);
        let products: std::collections::BTreeSet<&str> =
            names.iter().map(|n| n.split('.').next().unwrap()).collect();
        assert!(
            bytes.len() <= 1 << 20 || products.len() == 1,
            "{z:?} is {} bytes with {products:?}",
            bytes.len()
        );
        all.extend(names);
    }
    assert_eq!(all.len(), 6);
    let report = read_json(&dir.path().join("amazon/export.json"));
    assert_eq!(report["files"].as_array().unwrap().len(), zips.len());
}

#[test]
fn shopify_csv_has_the_import_columns_one_row_per_image_and_hosted_files() {
    let (_keep, out) = processed();
    let dir = tempfile::tempdir().unwrap();
    // Image URLs need to know where the files will be.
    let o = export(out, "shopify", dir.path(), &[]);
    assert_exit(&o, 64);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--base-url"));

    let list = product_list(dir.path());
    let o = export(
        out,
        "shopify",
        dir.path(),
        &[
            "--base-url",
            &format!("{BASE}/"),
            "--identifiers",
            list.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 2);
    let bytes = std::fs::read(dir.path().join("shopify/products.csv")).unwrap();
    let text = String::from_utf8(bytes).expect("UTF-8");
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "Title,URL handle,Product image URL,Image position,Image alt text"
    );
    // Quoted when a field holds a comma or quotes; quotes doubled; non-ASCII as written.
    assert!(
        text.contains("\"Shirt, \"\"red\"\" – Größe M\",shirt-red-grosse-m,"),
        "{text}"
    );
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let of =
        |handle: &str| -> Vec<&Vec<String>> { rows.iter().filter(|r| r[1] == handle).collect() };
    let rocket = of("rocket-model");
    assert_eq!(rocket.len(), 4);
    // The product's first row carries its title; the others only the image columns.
    assert_eq!(rocket[0][0], "Rocket model");
    assert_eq!((rocket[1][0].as_str(), rocket[2][0].as_str()), ("", ""));
    let positions: Vec<&str> = rocket.iter().map(|r| r[3].as_str()).collect();
    // The swatch comes last, never first.
    assert_eq!(positions, ["1", "2", "3", "4"]);
    assert_eq!(rocket[0][4], "Cream rocket");
    // Each URL is a file laid out under the export, at the same path under the base URL.
    for r in &rows {
        let path = r[2].strip_prefix(&format!("{BASE}/")).unwrap();
        assert!(dir.path().join("shopify").join(path).is_file(), "{path}");
    }
    let cup = of("cafe-cup-red");
    assert_eq!(
        std::fs::read(
            dir.path()
                .join("shopify")
                .join(cup[0][2].strip_prefix(&format!("{BASE}/")).unwrap())
        )
        .unwrap(),
        std::fs::read(out.join("shopify/4006381333931_1.jpg")).unwrap(),
        "position 1 is the _1 photo"
    );
    // No title, no product: Shopify's import needs one.
    let report = read_json(&dir.path().join("shopify/export.json"));
    assert!(left_out_reason(&report, "4006381333932_1.shopify").contains("no title"));
    assert!(!text.contains("ADOBE04") && !text.contains("adobe04"));

    // The older column names, on request.
    let o = export(
        out,
        "shopify",
        dir.path(),
        &[
            "--base-url",
            BASE,
            "--identifiers",
            list.to_str().unwrap(),
            "--shopify-legacy-columns",
        ],
    );
    assert_exit(&o, 2);
    let text = std::fs::read_to_string(dir.path().join("shopify/products.csv")).unwrap();
    assert!(
        text.starts_with("Handle,Title,Image Src,Image Position,Image Alt Text\r\n")
            && text.contains("\r\nrocket-model,Rocket model,"),
        "{text}"
    );
}

#[test]
fn google_feed_has_a_main_link_and_additional_links_per_product() {
    let (_keep, out) = processed();
    let dir = tempfile::tempdir().unwrap();
    assert_exit(&export(out, "google", dir.path(), &["--base-url", BASE]), 2);
    let text = std::fs::read_to_string(dir.path().join("google/feed.tsv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id\timage_link\tadditional_image_link");
    let row: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("B07XJ8C8F5\t"))
        .unwrap()
        .split('\t')
        .collect();
    // google-merchant writes WebP, which Merchant Center takes.
    assert_eq!(row[1], format!("{BASE}/images/b07xj8c8f5-1.webp"));
    assert_eq!(
        row[2],
        format!("{BASE}/images/b07xj8c8f5-2.webp,{BASE}/images/b07xj8c8f5-3.webp,{BASE}/images/b07xj8c8f5-4.webp")
    );
    // Every product with a ready output, one row each; none waiting or failed.
    assert_eq!(lines.len(), 1 + 4, "{text}");
    assert!(!text.contains("ADOBE04") && !text.contains("BROKEN08"));
}

#[test]
fn json_and_csv_records_validate_and_an_approval_brings_an_output_in() {
    let (_keep, processed_out) = processed();
    // A copy to approve in, so the other tests keep their folder as it was.
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    for entry in walkdir::WalkDir::new(processed_out) {
        let entry = entry.unwrap();
        let to = out.join(entry.path().strip_prefix(processed_out).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    let dir = work.path().join("exports");
    assert_exit(&export(&out, "json", &dir, &[]), 2);
    let records = read_json(&dir.join("json/products.json"));
    validate("export-products.schema.json", &records);
    let skus: Vec<&str> = records["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    assert_eq!(
        skus,
        ["4006381333931", "4006381333932", "B07XJ8C8F5", "SHIRTRED01"]
    );
    let first = &records["products"][0]["images"][0];
    assert_eq!(first["spec"], "amazon-main");
    assert_eq!(first["position"], 1);
    assert_eq!(
        (first["width"].as_u64(), first["height"].as_u64()),
        (Some(2000), Some(2000))
    );
    let file = dir.join("json").join(first["file"].as_str().unwrap());
    assert_eq!(
        first["sha256"].as_str().unwrap(),
        sha256_hex(&std::fs::read(file).unwrap())
    );
    assert!(!records.to_string().contains("ADOBE04"));

    // Approve the waiting photo: the next export takes it, as approved.
    let o = shelfready(&[
        "review",
        out.to_str().unwrap(),
        "--approve",
        "ADOBE04_1.amazon-main",
        "--reviewer",
        "ana",
    ]);
    assert_exit(&o, 0);
    assert_exit(&export(&out, "csv", &dir, &[]), 2);
    let text = std::fs::read_to_string(dir.join("csv/products.csv")).unwrap();
    assert!(text.starts_with(
        "sku,identifier,title,position,spec,file,url,width,height,format,bytes,sha256,state,alt_text,asset\r\n"
    ));
    let adobe: Vec<&str> = text.lines().filter(|l| l.starts_with("ADOBE04,")).collect();
    assert_eq!(adobe.len(), 1, "{text}");
    assert!(adobe[0].contains(",approved,"), "{}", adobe[0]);
    assert!(adobe[0].contains(",amazon-main,"));
}

fn sha256_hex(bytes: &[u8]) -> String {
    shelfready::store::sha256_hex(bytes)
}

#[test]
fn one_identifier_on_two_products_leaves_both_out_and_the_rest_is_written() {
    let (_keep, out) = processed();
    let dir = tempfile::tempdir().unwrap();
    // A supplier's copy-paste: SHIRTRED01 given the barcode of product 4006381333931.
    let list = dir.path().join("products.csv");
    std::fs::write(&list, "sku;barcode\r\nSHIRTRED01;4006381333931\r\n").unwrap();
    let o = export(
        out,
        "amazon",
        dir.path(),
        &["--identifiers", list.to_str().unwrap()],
    );
    assert_exit(&o, 2);
    let zip = std::fs::read(dir.path().join("amazon/amazon-images-1.zip")).unwrap();
    assert_eq!(
        zip_names(&zip),
        [
            "B07XJ8C8F5.MAIN.jpg",
            "B07XJ8C8F5.PT01.jpg",
            "B07XJ8C8F5.PT02.jpg",
            "B07XJ8C8F5.SWCH.jpg",
        ]
    );
    let report = read_json(&dir.path().join("amazon/export.json"));
    validate("export.schema.json", &report);
    let shirt = left_out_reason(&report, "SHIRTRED01_1.amazon-main");
    assert!(shirt.contains("also product 4006381333931's"), "{shirt}");
    let cup = left_out_reason(&report, "4006381333931_1.amazon-main");
    assert!(cup.contains("also product SHIRTRED01's"), "{cup}");
}

#[test]
fn a_handle_column_names_the_shop_product_and_a_title_is_then_not_needed() {
    let (_keep, out) = processed();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("products.csv");
    // Shopify's own export headers: Handle, Variant SKU, Title.
    std::fs::write(
        &list,
        "Handle,Variant SKU,Title\n\
         rocket-classic-1969,B07XJ8C8F5,Rocket model\n\
         ,4006381333931,Cafe cup\n\
         shirt-red,SHIRTRED01,\n\
         shirt-red,4006381333932,\n\
         cafe-cup,ADOBE04,\n",
    )
    .unwrap();
    let o = export(
        out,
        "shopify",
        dir.path(),
        &["--base-url", BASE, "--identifiers", list.to_str().unwrap()],
    );
    assert_exit(&o, 2);
    let text = std::fs::read_to_string(dir.path().join("shopify/products.csv")).unwrap();
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let handles: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    // The catalog's handle, not one made from the title; a product the shop has needs no
    // title; a handle given to two products goes to the first only.
    assert!(handles.contains("rocket-classic-1969"), "{text}");
    assert!(!handles.contains("rocket-model"), "{text}");
    // A handle made from a title keeps off one a catalog gives another product.
    assert!(!handles.contains("cafe-cup"), "{text}");
    assert!(handles.contains("cafe-cup-4006381333931"), "{text}");
    let shirt: Vec<&Vec<String>> = rows.iter().filter(|r| r[1] == "shirt-red").collect();
    assert_eq!(shirt.len(), 1, "{text}");
    let report = read_json(&dir.path().join("shopify/export.json"));
    let second = report["left_out"].as_array().unwrap().iter().find(|l| {
        l["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("another product's too")
    });
    assert!(second.is_some(), "{report}");
}
