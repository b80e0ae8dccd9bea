//! `shelfready watch`: the real binary on temp folders, with slow writers, catalogs and a
//! kill mid-batch.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{files_under, fixtures, read_json};

fn start(inbox: &Path, out: &Path, data: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .arg("watch")
        .arg(inbox)
        .arg("--out")
        .arg(out)
        .arg("--data-dir")
        .arg(data)
        .args(["--settle-ms", "500", "--rescan-ms", "100"])
        .args(extra)
        .env_remove("SHELFREADY_SPECS")
        .env_remove("SHELFREADY_OUT")
        .env_remove("SHELFREADY_JOBS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shelfready watch")
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn copy(name: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join(name), to).unwrap();
}

fn stop(child: &mut Child, signal: &str) -> Option<i32> {
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the watcher did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn drops_become_outputs_with_their_catalog_and_a_slow_copy_is_taken_once_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    std::fs::create_dir_all(&inbox).unwrap();
    // Already there at start: a supplier's folder with a catalog whose headers are
    // spelled its own way, naming one file it does not hold.
    let drop = inbox.join("supplier-a");
    copy("MUG01_1.png", &drop.join("red-mug/main.png"));
    copy("ROCKET02_1.png", &drop.join("rocket.png"));
    copy("BROKEN08_1.png", &drop.join("BROKEN08_1.png"));
    std::fs::write(
        drop.join("catalog.csv"),
        "Filename,Item Number,Position,Product Name,UPC\nrocket.png,RKT-9,main,Toy rocket,0012345678905\nlost.png,LOST-1,2,,\n",
    )
    .unwrap();
    let mut w = start(&inbox, &out, &data, &["--spec", "amazon-main,shopify"]);

    // A file copied slowly, in bursts closer together than the settle time.
    let whole = std::fs::read(fixtures().join("GREY10_1.jpg")).unwrap();
    let slow = inbox.join("slow").join("grey.jpg");
    std::fs::create_dir_all(slow.parent().unwrap()).unwrap();
    {
        let mut f = std::fs::File::create(&slow).unwrap();
        for chunk in whole.chunks(whole.len() / 8 + 1) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    wait_for("both drops", Duration::from_secs(60), || {
        out.join("supplier-a/manifest.json").is_file() && out.join("slow/manifest.json").is_file()
    });
    assert_eq!(stop(&mut w, "-TERM"), Some(0));

    // Outputs, with sub-folders kept.
    for f in [
        "supplier-a/outputs/amazon-main/red-mug/main.jpg",
        "supplier-a/outputs/shopify/rocket.jpg",
        "slow/outputs/amazon-main/grey.jpg",
    ] {
        let img = image::open(out.join(f)).unwrap();
        assert!(img.width() >= 2000, "{f}");
    }
    // Sources moved, with their handoffs beside them; the broken one in quarantine.
    let archive = inbox.join("archive");
    assert!(archive.join("supplier-a/red-mug/main.png").is_file());
    assert!(archive
        .join("supplier-a/rocket.png.amazon-main.json")
        .is_file());
    assert!(archive.join("supplier-a/catalog.csv").is_file());
    let q = read_json(&inbox.join("quarantine/supplier-a/BROKEN08_1.png.shopify.json"));
    assert_eq!(q["state"], "failed");
    assert!(!drop.exists(), "the emptied drop folder is removed");
    // The slow file: taken once, whole.
    assert_eq!(std::fs::read(archive.join("slow/grey.jpg")).unwrap(), whole);
    assert!(!out.join("slow-2").exists());
    let m = read_json(&out.join("slow/manifest.json"));
    assert_eq!(m["photos"].as_array().unwrap().len(), 1);
    assert_eq!(
        m["handoffs"][0]["provenance"]["source_sha256"],
        shelfready::store::sha256_hex(&whole)
    );
    // The catalog: its SKUs reach the handoffs, its mapping and gaps are in the manifest.
    let m = read_json(&out.join("supplier-a/manifest.json"));
    let rocket = m["handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "rocket.amazon-main")
        .unwrap();
    assert_eq!(rocket["context"]["sku"], "RKT-9");
    assert_eq!(rocket["context"]["identifier"], "0012345678905");
    assert_eq!(rocket["context"]["from"], "catalog");
    let c = &m["catalog"];
    assert_eq!(c["mapping"]["sku"], "Item Number");
    assert_eq!(c["mapping"]["identifier"], "UPC");
    assert_eq!(c["missing_files"], serde_json::json!(["lost.png"]));
    assert_eq!(
        c["unlisted_files"],
        serde_json::json!(["BROKEN08_1.png", "red-mug/main.png"])
    );
    // Nothing was deleted: every source is in the archive or quarantine.
    assert_eq!(
        files_under(&inbox)
            .iter()
            .filter(|p| !p.to_string_lossy().ends_with(".json"))
            .count(),
        5
    );
}

#[test]
fn a_watcher_killed_mid_batch_finishes_it_once_when_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    let names = [
        "MUG01_1.png",
        "ROCKET02_1.png",
        "DEEP09_1.png",
        "P3TAG05_1.png",
        "ADOBE04_1.jpg",
        "GREY10_1.jpg",
        "SUPPLIER03-main.jpg",
        "ROTATED06_1.jpg",
    ];
    for n in names {
        copy(n, &inbox.join("order-17").join(n));
    }
    let mut w = start(
        &inbox,
        &out,
        &data,
        &["--spec", "amazon-main,shopify", "--jobs", "1"],
    );
    let archive = inbox.join("archive").join("order-17");
    wait_for("the first archived source", Duration::from_secs(60), || {
        files_under(&archive)
            .iter()
            .any(|p| !p.to_string_lossy().ends_with(".json"))
    });
    stop(&mut w, "-KILL");
    let moved_before = files_under(&archive)
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".json"))
        .count();
    assert!(
        moved_before < names.len(),
        "the batch finished before the kill"
    );

    let mut w = start(
        &inbox,
        &out,
        &data,
        &["--spec", "amazon-main,shopify", "--jobs", "2", "--once"],
    );
    wait_for(
        "the restarted watcher to finish",
        Duration::from_secs(120),
        || w.try_wait().unwrap().is_some(),
    );
    let m = read_json(&out.join("order-17/manifest.json"));
    assert_eq!(m["photos"].as_array().unwrap().len(), names.len());
    assert_eq!(m["handoffs"].as_array().unwrap().len(), names.len() * 2);
    assert!(!out.join("order-17-2").exists(), "the drop was taken twice");
    // Each source moved exactly once, none left behind, none copied twice.
    let sources: Vec<String> = files_under(&inbox.join("archive"))
        .into_iter()
        .chain(files_under(&inbox.join("quarantine")))
        .filter(|p| !p.to_string_lossy().ends_with(".json"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut got = sources.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(!inbox.join("order-17").exists());
}

#[test]
fn the_same_photo_dropped_again_is_recognised_until_its_spec_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    let run = |drop: &str, file: &str, specs: &str| {
        copy("ROCKET02_1.png", &inbox.join(drop).join(file));
        let mut w = start(&inbox, &out, &data, &["--spec", specs, "--once"]);
        wait_for(drop, Duration::from_secs(60), || {
            w.try_wait().unwrap().is_some()
        });
        read_json(&out.join(drop).join("manifest.json"))
    };
    let first = run("monday", "rocket.png", "amazon-main");
    assert_eq!(first["handoffs"].as_array().unwrap().len(), 1);
    let again = run("tuesday", "rocket-copy.png", "amazon-main");
    assert_eq!(again["handoffs"].as_array().unwrap().len(), 0);
    let skipped = &again["skipped"][0];
    assert_eq!(skipped["reason"], "already-processed");
    assert!(
        skipped["message"].as_str().unwrap().contains("monday"),
        "{skipped}"
    );
    assert!(inbox.join("archive/tuesday/rocket-copy.png").is_file());
    assert!(!out.join("tuesday/outputs").exists());
    let new_spec = run("wednesday", "rocket.png", "amazon-main,shopify");
    assert_eq!(new_spec["handoffs"].as_array().unwrap().len(), 2);
}
