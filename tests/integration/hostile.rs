//! Hostile supplier files at the intake, on the real binary: catalogs that would make the
//! reader allocate without end, catalogs that are links to secrets, names that forge log
//! lines, formulas in catalog cells, and a watcher that must sleep when idle.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{fixtures, read_json, shelfready};

/// `shelfready watch <inbox> --once`: takes what is there, then exits; its stderr.
pub fn watch_once(inbox: &Path, out: &Path, data: &Path) -> (Option<i32>, String) {
    let o = crate::watch::start(inbox, out, data, &["--spec", "amazon-main", "--once"])
        .wait_with_output()
        .expect("run shelfready watch");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// An .xlsx workbook of one sheet: `cells` as (reference, text), `dimension` as declared.
fn workbook(cells: &[(&str, &str)], dimension: &str) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    let mut part = |name: &str, text: &str| {
        z.start_file(name, o).unwrap();
        z.write_all(text.as_bytes()).unwrap();
    };
    part(
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
    );
    part(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    part(
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    part(
        "xl/_rels/workbook.xml.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
    );
    let mut rows = String::new();
    for (r, text) in cells {
        let row: String = r.chars().filter(char::is_ascii_digit).collect();
        rows.push_str(&format!(
            r#"<row r="{row}"><c r="{r}" t="inlineStr"><is><t>{text}</t></is></c></row>"#
        ));
    }
    part(
        "xl/worksheets/sheet1.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>"#
        ),
    );
    z.finish().unwrap().into_inner()
}

/// A drop holding `mug.png` (a photo of its own: the drop's name follows the image's end,
/// where decoders do not read) and a catalog.
fn drop_with(inbox: &Path, name: &str, catalog: &str, bytes: &[u8]) {
    let d = inbox.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let mut photo = std::fs::read(fixtures().join("MUG01_1.png")).unwrap();
    photo.extend_from_slice(name.as_bytes());
    std::fs::write(d.join("mug.png"), photo).unwrap();
    std::fs::write(d.join(catalog), bytes).unwrap();
}

#[test]
fn catalogs_that_would_exhaust_memory_or_leak_a_secret_are_refused_and_the_photos_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    // One cell at the sheet's last place: read whole, a 549 GB range.
    drop_with(
        &inbox,
        "far-cell",
        "catalog.xlsx",
        &workbook(&[("A1", "file"), ("XFD1048576", "x")], "A1:XFD1048576"),
    );
    // A declared dimension of the whole sheet, with two ordinary rows.
    drop_with(
        &inbox,
        "big-dimension",
        "catalog.xlsx",
        &workbook(&[("A1", "file"), ("A2", "mug.png")], "A1:XFD1048576"),
    );
    // One cell in column 1,000 on each of 4,001 rows: 4 million empty cells once read as
    // a table, from a zip of a few KB.
    let far_right: Vec<(String, &str)> = (2..=4_002).map(|r| (format!("ALL{r}"), "x")).collect();
    let mut cells = vec![("A1", "file")];
    cells.extend(far_right.iter().map(|(r, t)| (r.as_str(), *t)));
    drop_with(
        &inbox,
        "wide-rows",
        "catalog.xlsx",
        &workbook(&cells, "A1:ALL4002"),
    );
    // A cell of 40,000 bytes.
    let huge = format!("file,title\nmug.png,{}\n", "T".repeat(40_000));
    drop_with(&inbox, "huge-cell", "catalog.csv", huge.as_bytes());
    // A catalog that is a link to a secret of the machine's.
    let secret = dir.path().join("shadow");
    std::fs::write(&secret, "root:SECRET-TOKEN-4711:19000:0:99999:7:::\n").unwrap();
    drop_with(&inbox, "linked", "readme.txt", b"");
    std::os::unix::fs::symlink(&secret, inbox.join("linked/catalog.csv")).unwrap();
    // A catalog without a file column: told so without its header being echoed.
    drop_with(
        &inbox,
        "no-file-column",
        "catalog.csv",
        b"SECRET-HEADER-1,SECRET-HEADER-2\na,b\n",
    );

    let started = Instant::now();
    let (code, log) = watch_once(&inbox, &out, &data);
    assert_eq!(code, Some(0), "{log}");
    eprintln!("six hostile drops in {:?}", started.elapsed());
    let error = |drop: &str| {
        let m = read_json(&out.join(drop).join("manifest.json"));
        assert_eq!(
            m["photos"][0]["outputs"][0]["state"], "ready",
            "{drop}: {m}"
        );
        m["catalog"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let far = error("far-cell");
    assert!(far.contains("column 16384"), "{far}");
    let wide = error("wide-rows");
    assert!(wide.contains("cells") && wide.contains("4000000"), "{wide}");
    let dimension = error("big-dimension");
    assert!(
        dimension.is_empty(),
        "a declared size alone is no fault: {dimension}"
    );
    let m = read_json(&out.join("big-dimension/manifest.json"));
    assert_eq!(m["catalog"]["rows"], 1);
    let cell = error("huge-cell");
    assert!(
        cell.contains("40000 bytes") && cell.contains("32767"),
        "{cell}"
    );
    let link = error("linked");
    assert!(link.contains("symbolic link"), "{link}");
    let header = error("no-file-column");
    assert!(header.contains("no column of file names"), "{header}");
    // Nothing of the secret or the header reaches the log or any manifest.
    for text in std::iter::once(log.clone()).chain(
        [
            "far-cell",
            "big-dimension",
            "wide-rows",
            "huge-cell",
            "linked",
            "no-file-column",
        ]
        .iter()
        .map(|d| std::fs::read_to_string(out.join(d).join("manifest.json")).unwrap()),
    ) {
        assert!(!text.contains("SECRET-TOKEN-4711"), "{text}");
        assert!(!text.contains("SECRET-HEADER"), "{text}");
    }
    // The secret itself is untouched, and so is the link.
    assert!(std::fs::read_to_string(&secret)
        .unwrap()
        .contains("SECRET-TOKEN-4711"));
}

#[test]
fn a_name_with_a_line_break_stays_on_one_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    let d = inbox.join("drop");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(
        fixtures().join("MUG01_1.png"),
        d.join("mug\nERROR forged: every photo failed.png"),
    )
    .unwrap();
    // A catalog row naming a file the drop does not hold is counted in a note, not named.
    std::fs::write(
        d.join("catalog.csv"),
        "file,sku\n\"gone\nWARN forged row.png\",X-1\n",
    )
    .unwrap();
    let (code, log) = watch_once(&inbox, &out, &data);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("mug\\nERROR forged"), "{log}");
    for line in log.lines() {
        assert!(
            !line.starts_with("ERROR forged") && !line.starts_with("WARN forged"),
            "a forged line: {line:?} in\n{log}"
        );
    }
}

#[test]
fn exported_catalog_cells_never_run_as_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    drop_with(
        &inbox,
        "drop",
        "catalog.csv",
        b"file,sku,title,alt_text\nmug.png,+cmd|' /C calc'!A0,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",@SUM(A1:A9)\n",
    );
    let (code, log) = watch_once(&inbox, &out, &data);
    assert_eq!(code, Some(0), "{log}");
    let exports = dir.path().join("exports");
    let o = shelfready(&[
        "export",
        out.join("drop").to_str().unwrap(),
        "--format",
        "csv",
        "--out",
        exports.to_str().unwrap(),
    ]);
    assert!(matches!(o.status.code(), Some(0 | 2)), "{o:?}");
    let text = std::fs::read_to_string(exports.join("csv/products.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().unwrap().clone();
    let row = rows.records().next().unwrap().unwrap();
    let cell = |name: &str| {
        row.get(header.iter().position(|h| h == name).unwrap())
            .unwrap()
    };
    assert_eq!(cell("sku"), "'+cmd|' /C calc'!A0");
    assert_eq!(cell("title"), "'=HYPERLINK(\"http://evil.example\",\"x\")");
    assert_eq!(cell("alt_text"), "'@SUM(A1:A9)");
    // Shopify's CSV and Merchant Center's feed too.
    for (format, file) in [("shopify", "products.csv"), ("google", "feed.tsv")] {
        let o = shelfready(&[
            "export",
            out.join("drop").to_str().unwrap(),
            "--format",
            format,
            "--base-url",
            "https://cdn.example.com/p",
            "--out",
            exports.to_str().unwrap(),
        ]);
        assert!(matches!(o.status.code(), Some(0 | 2)), "{o:?}");
        let text = std::fs::read_to_string(exports.join(format).join(file)).unwrap();
        for cell in text.split(['\t', ',', '\n']) {
            let cell = cell.trim_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '@']),
                "{format}: {cell} in\n{text}"
            );
        }
    }
}

#[test]
fn an_idle_watcher_sleeps() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut w = crate::watch::start(
        &inbox,
        &dir.path().join("outbox"),
        &dir.path().join("data"),
        &["--spec", "amazon-main"],
    );
    // CPU time (user + system, clock ticks) from /proc.
    let ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split(' ').collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    std::thread::sleep(Duration::from_secs(2));
    let before = ticks(w.id());
    std::thread::sleep(Duration::from_secs(5));
    let used = ticks(w.id()) - before;
    let _ = w.kill();
    let _ = w.wait();
    // 5 s is 500 ticks; a watcher woken by its own scans used them all. Idle, it scans an
    // empty folder a few times a second.
    assert!(
        used <= 25,
        "an idle watcher used {used} ticks of CPU in 5 s"
    );
}

#[test]
fn a_restart_deletes_only_what_its_records_say_was_abandoned() {
    use crate::server::{file, follow, specs, upload, Server};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let r = upload(
        &server,
        &[specs("amazon-main"), file("mug.png", "MUG01_1.png")],
        &[],
    );
    assert_eq!(r.status, 202);
    let id = r.json()["id"].as_str().unwrap().to_string();
    follow(&server, &id, &[]);
    // A second process on the data folder in use refuses to start, says who holds it,
    // and takes nothing from the first.
    for door in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["watch", "."][..],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_shelfready"))
            .args(door)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("SHELFREADY_TOKEN")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(75), "{door:?}: {err}");
        assert!(err.contains("in use by another shelfready run"), "{err}");
        assert!(err.contains(&format!("pid {}", server.child.id())), "{err}");
    }
    assert_eq!(
        crate::server::get(&server.url(&format!("/v1/batches/{id}")), &[]).status,
        200
    );
    assert_eq!(server.signal("-TERM"), Some(0));
    let batch = data.join("batches").join(&id);
    assert!(batch.join("outputs/amazon-main/mug.jpg").is_file());
    // Beside it: a folder someone put there, and an upload cut off before its answer.
    let stray = data.join("batches/stray");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("keep.txt"), "not shelfready's").unwrap();
    let cut = data.join("batches/cut-off");
    std::fs::create_dir_all(cut.join("originals")).unwrap();
    std::fs::write(cut.join(".receiving"), "").unwrap();

    let mut server = Server::start(&data, &[]);
    // Recovery runs beside the listener: its log lines come when they come.
    crate::util::wait_for("recovery's log lines", Duration::from_secs(20), || {
        let log = server.log.lock().unwrap();
        (log.contains("left alone") && !cut.exists()).then_some(())
    });
    assert!(
        stray.join("keep.txt").is_file(),
        "a folder without a record is left alone"
    );
    assert!(
        !cut.exists(),
        "a cut-off upload the store marked is removed"
    );
    assert_eq!(server.signal("-TERM"), Some(0));

    // A database whose pages are damaged is not ready, whatever opens.
    // Everything past each file's header is overwritten (the write-ahead log too: its
    // pages would otherwise stand in for the file's).
    let damaged = [("shelfready.db", 100), ("shelfready.db-wal", 32)].map(|(f, header)| {
        let path = data.join(f);
        let good = std::fs::read(&path).unwrap_or_default();
        let mut bad = good.clone();
        bad.iter_mut().skip(header).for_each(|b| *b = 0xA5);
        std::fs::write(&path, &bad).unwrap();
        (path, good)
    });
    match Server::try_start(&data, &[]) {
        Ok(server) => assert_ne!(crate::server::get(&server.url("/readyz"), &[]).status, 200),
        Err(log) => assert!(log.contains("database disk image is malformed"), "{log}"),
    }
    for (path, good) in damaged {
        std::fs::write(path, good).unwrap();
    }

    // The database lost: the server refuses to start, and deletes nothing.
    for f in ["shelfready.db", "shelfready.db-wal", "shelfready.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    let o = Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("SHELFREADY_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("no job database"), "{err}");
    assert!(batch.join("outputs/amazon-main/mug.jpg").is_file());
    assert!(stray.join("keep.txt").is_file());
    assert!(
        !data.join("shelfready.db").exists(),
        "no empty database made"
    );
}

/// A write a kill cut short leaves `<name>#<n>` beside its final name (object_store's local
/// staging): the next owner of the folder removes it, and nothing named by an upload.
#[test]
fn a_write_cut_short_by_a_kill_is_removed_at_the_next_start_and_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(shelfready::store::open_job_store(None, &data).unwrap());
    let batch = data.join("batches/b1");
    std::fs::create_dir_all(batch.join("outputs/amazon-main")).unwrap();
    std::fs::create_dir_all(batch.join("originals")).unwrap();
    let cut = batch.join("outputs/amazon-main/mug.jpg#1");
    let made = batch.join("outputs/amazon-main/mug.jpg");
    let upload = batch.join("originals/photo#2");
    let named = batch.join("outputs/amazon-main/a#b.jpg");
    for f in [&cut, &made, &upload, &named] {
        std::fs::write(f, b"bytes").unwrap();
    }
    drop(shelfready::store::open_job_store(None, &data).unwrap());
    assert!(!cut.exists(), "the cut-short write is left");
    for f in [&made, &upload, &named] {
        assert!(f.exists(), "{} was removed", f.display());
    }
}
