//! `shelfready watch`: the real binary on temp folders, with slow writers, catalogs and a
//! kill mid-batch.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{files_under, fixtures, read_json};

pub fn start(inbox: &Path, out: &Path, data: &Path, extra: &[&str]) -> Child {
    command(inbox, out, data, extra)
        .spawn()
        .expect("start shelfready watch")
}

/// `shelfready watch` with fast settling, its stderr piped, not yet started.
fn command(inbox: &Path, out: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shelfready"));
    c.arg("watch")
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
        .stderr(Stdio::piped());
    c
}

/// Waits until `done` holds.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    crate::util::wait_for(what, limit, || done().then_some(()));
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
    crate::util::wait_for("the watcher to stop", Duration::from_secs(20), || {
        child.try_wait().unwrap().map(|s| s.code())
    })
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
    // (No holding of cut-off files here: BROKEN08_1.png is one, and goes to quarantine.)
    let mut w = start(
        &inbox,
        &out,
        &data,
        &["--spec", "amazon-main,shopify", "--stalled-secs", "0"],
    );

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
    // Nothing was deleted: every source is in the archive or quarantine (beside the
    // watcher's own lock).
    assert_eq!(
        files_under(&inbox)
            .iter()
            .filter(|p| !p.to_string_lossy().ends_with(".json"))
            .filter(|p| !p.ends_with(".shelfready-inbox.lock"))
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
    std::fs::write(
        inbox.join("order-17/catalog.csv"),
        "file,sku\nMUG01_1.png,MUG-17\n",
    )
    .unwrap();
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
    // The catalog read before the kill still reports in the batch finished after it.
    assert_eq!(m["catalog"]["rows"], 1);
    assert_eq!(
        m["catalog"]["unlisted_files"].as_array().unwrap().len(),
        names.len() - 1
    );
    // Each source moved exactly once, none left behind, none copied twice.
    let sources: Vec<String> = files_under(&inbox.join("archive"))
        .into_iter()
        .chain(files_under(&inbox.join("quarantine")))
        .filter(|p| !p.to_string_lossy().ends_with(".json"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.push("catalog.csv".into());
    let mut got = sources.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(!inbox.join("order-17").exists());
}

#[test]
fn a_drop_with_a_name_that_is_not_text_is_quarantined_whole_and_the_others_go_on() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    // A Latin-1 file name, as an old zip or file share writes it.
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.png");
    copy("MUG01_1.png", &inbox.join("latin").join(odd));
    copy("ROCKET02_1.png", &inbox.join("fine").join("rocket.png"));
    let o = command(&inbox, &out, &data, &["--once"]).output().unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{log}");
    assert!(log.contains("not UTF-8 text"), "{log}");
    // Nothing lost: the file is in quarantine under its own bytes, untouched.
    let kept = inbox.join("quarantine").join("latin").join(odd);
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        std::fs::read(fixtures().join("MUG01_1.png")).unwrap()
    );
    assert!(!out.join("latin").exists());
    assert!(
        out.join("fine/outputs/amazon-main/rocket.jpg").is_file(),
        "{log}"
    );
}

#[test]
fn a_move_the_disk_refused_is_made_at_the_next_start_into_the_same_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    copy("MUG01_1.png", &inbox.join("shoes").join("a.png"));
    // The drop's archive folder on a file system that takes no file (even from root):
    // the move itself fails, after its place is chosen, and the watcher stops.
    std::fs::create_dir_all(inbox.join("archive")).unwrap();
    std::os::unix::fs::symlink("/proc", inbox.join("archive").join("shoes")).unwrap();
    let o = command(&inbox, &out, &data, &["--once"]).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(74),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(inbox.join("shoes").join("a.png").is_file());
    // Out of the way, the next start finishes that batch: the photo archived once, its
    // handoff beside it, no second batch of it.
    std::fs::remove_file(inbox.join("archive").join("shoes")).unwrap();
    let o = command(&inbox, &out, &data, &["--once"]).output().unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{log}");
    let archived = inbox.join("archive").join("shoes");
    assert!(archived.join("a.png").is_file(), "{log}");
    assert!(archived.join("a.png.amazon-main.json").is_file(), "{log}");
    assert!(!inbox.join("shoes").exists(), "{log}");
    let outs: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(outs, ["shoes"], "{log}");
}

#[test]
fn a_second_watcher_of_one_inbox_is_refused_whatever_its_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out) = (dir.path().join("inbox"), dir.path().join("outbox"));
    std::fs::create_dir_all(&inbox).unwrap();
    let mut first = start(&inbox, &out, &dir.path().join("a"), &[]);
    wait_for("the first watcher", Duration::from_secs(30), || {
        inbox.join(".shelfready-inbox.lock").is_file()
    });
    std::thread::sleep(Duration::from_millis(300));
    let o = command(&inbox, &out, &dir.path().join("b"), &["--once"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(75), "{said}");
    assert!(said.contains("in use by another shelfready run"), "{said}");
    assert!(said.contains(&first.id().to_string()), "{said}");
    assert_eq!(stop(&mut first, "-TERM"), Some(0));
}

#[test]
fn the_same_photo_dropped_again_is_recognised_until_its_spec_or_product_changes() {
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
    let again = run("tuesday", "rocket.png", "amazon-main");
    assert_eq!(again["handoffs"].as_array().unwrap().len(), 0);
    let skipped = &again["skipped"][0];
    assert_eq!(skipped["reason"], "already-processed");
    assert!(
        skipped["message"].as_str().unwrap().contains("monday"),
        "{skipped}"
    );
    assert!(inbox.join("archive/tuesday/rocket.png").is_file());
    assert!(!out.join("tuesday/outputs").exists());
    // The server on the same data folder says the same: a settled batch with no photo
    // (the one dropped is listed with the skipped), not one still waiting.
    {
        let server = crate::server::Server::start(&data, &[]);
        let id = read_json(&out.join("tuesday/.shelfready/store.json"))["batch"]
            .as_str()
            .unwrap()
            .to_string();
        let r = crate::server::get(&server.url(&format!("/v1/batches/{id}")), &[]).json();
        assert_eq!(r["state"], "settled", "{r}");
        assert_eq!(r["assets"].as_array().unwrap().len(), 0, "{r}");
        assert_eq!(r["outputs"], serde_json::json!({}), "{r}");
        let m = crate::server::get(&server.url(&format!("/v1/batches/{id}/manifest")), &[]).json();
        assert_eq!(m["skipped"][0]["reason"], "already-processed", "{m}");
    }
    let new_spec = run("wednesday", "rocket.png", "amazon-main,shopify");
    assert_eq!(new_spec["handoffs"].as_array().unwrap().len(), 2);
    // The same bytes under another product's name (a new SKU): made again, for it.
    let new_sku = run("thursday", "RKT-9_1.png", "amazon-main");
    let hs = new_sku["handoffs"].as_array().unwrap();
    assert_eq!(hs.len(), 1, "{new_sku}");
    assert_eq!(hs[0]["context"]["sku"], "RKT-9");
    assert_eq!(hs[0]["state"], "ready");
}

/// A loopback web server for catalog rows naming URLs: `/img/<fixture>` serves a fixture,
/// `/go` redirects to `/img/GREY10_1.jpg`, anything else is 404.
fn image_server() -> String {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            r.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let found = path
                .strip_prefix("/img/")
                .and_then(|f| std::fs::read(fixtures().join(f)).ok());
            let head = match (&found, path.as_str()) {
                (Some(b), _) => format!("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len()),
                (None, "/go") => "HTTP/1.1 302 Found\r\nLocation: /img/GREY10_1.jpg\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
            };
            let _ = s.write_all(head.as_bytes());
            if let Some(b) = found {
                let _ = s.write_all(&b);
            }
        }
    });
    base
}

#[test]
fn workbook_and_json_catalogs_name_products_and_their_urls_are_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    // A supplier's workbook with its own header spelling, numbers typed as numbers.
    let a = inbox.join("acme");
    copy("MUG01_1.png", &a.join("mug.png"));
    copy("ROCKET02_1.png", &a.join("rocket.png"));
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/supplier-catalog.xlsx"),
        a.join("catalog.xlsx"),
    )
    .unwrap();
    std::fs::write(a.join("readme.txt"), "photos for the spring range").unwrap();
    // A JSON catalog whose rows name images by URL: one served, one redirected, one gone.
    let base = image_server();
    let b = inbox.join("studio");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(
        b.join("catalog.json"),
        serde_json::to_vec(&serde_json::json!([
            {"Image URL": format!("{base}/img/P3TAG05_1.png"), "SKU": "RKT-5", "Position": "main"},
            {"Image URL": format!("{base}/go"), "SKU": "CUP-3", "Position": 2},
            {"Image URL": format!("{base}/img/nothing.png"), "SKU": "NONE-1"}
        ]))
        .unwrap(),
    )
    .unwrap();
    let mut w = start(
        &inbox,
        &out,
        &data,
        &["--spec", "amazon-main", "--once", "--allow-private-urls"],
    );
    wait_for("both drops", Duration::from_secs(60), || {
        w.try_wait().unwrap().is_some()
    });

    let m = read_json(&out.join("acme/manifest.json"));
    let h = |m: &serde_json::Value, id: &str| {
        m["handoffs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == id)
            .unwrap_or_else(|| panic!("no handoff {id} in {m}"))
            .clone()
    };
    let mug = h(&m, "mug.amazon-main");
    assert_eq!(mug["context"]["sku"], "MUG-7");
    assert_eq!(mug["context"]["identifier"], "4006381333931");
    assert_eq!(mug["context"]["title"], "Stoneware mug, white");
    assert_eq!(h(&m, "rocket.amazon-main")["context"]["position"], 2);
    assert_eq!(m["catalog"]["mapping"]["sku"], "Item Code");
    assert_eq!(m["catalog"]["mapping"]["position"], "Pos.");
    assert_eq!(
        m["catalog"]["missing_files"],
        serde_json::json!(["gone.jpg"])
    );
    assert!(inbox.join("archive/acme/catalog.xlsx").is_file());
    // The file that is no photo is kept, in quarantine, and listed; the drop is emptied.
    assert_eq!(
        std::fs::read_to_string(inbox.join("quarantine/acme/readme.txt")).unwrap(),
        "photos for the spring range"
    );
    assert!(m["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["path"].as_str().unwrap().ends_with("readme.txt")));
    assert!(!a.exists());

    let m = read_json(&out.join("studio/manifest.json"));
    let c = &m["catalog"];
    let fetched: Vec<&str> = c["fetched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(fetched, ["P3TAG05_1.png", "go.jpg"]);
    assert_eq!(
        c["fetched"][0]["bytes"],
        std::fs::metadata(fixtures().join("P3TAG05_1.png"))
            .unwrap()
            .len()
    );
    assert_eq!(
        c["fetch_failed"][0]["url"],
        format!("{base}/img/nothing.png")
    );
    assert!(
        c["fetch_failed"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{c}"
    );
    assert_eq!(c["missing_files"], serde_json::json!([]));
    let rocket = h(&m, "P3TAG05_1.amazon-main");
    assert_eq!(rocket["context"]["sku"], "RKT-5");
    assert_eq!(rocket["context"]["position"], 1);
    assert_eq!(h(&m, "go.amazon-main")["context"]["sku"], "CUP-3");
    let img = image::open(out.join("studio/outputs/amazon-main/go.jpg")).unwrap();
    assert_eq!((img.width(), img.height()), (2000, 2000));
    // What was fetched is archived like any dropped file, with its handoff beside it.
    assert_eq!(
        std::fs::read(inbox.join("archive/studio/P3TAG05_1.png")).unwrap(),
        std::fs::read(fixtures().join("P3TAG05_1.png")).unwrap()
    );
    assert!(inbox
        .join("archive/studio/go.jpg.amazon-main.json")
        .is_file());

    // Without leave, a catalog cannot reach into the host's own network.
    let c = inbox.join("outsider");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(
        c.join("catalog.csv"),
        format!("image url,sku\n{base}/img/MUG01_1.png,X-1\n"),
    )
    .unwrap();
    let mut w = start(&inbox, &out, &data, &["--spec", "amazon-main", "--once"]);
    wait_for("the outsider's drop", Duration::from_secs(60), || {
        w.try_wait().unwrap().is_some()
    });
    let m = read_json(&out.join("outsider/manifest.json"));
    let reason = m["catalog"]["fetch_failed"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("127.0.0.1") && reason.contains("allow_private_urls"),
        "{reason}"
    );
    assert!(m["catalog"]["fetched"].is_null() && m["handoffs"].as_array().unwrap().is_empty());
}

#[test]
fn a_copy_that_stalls_is_held_until_it_finishes_and_one_that_never_does_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, out) = (dir.path().join("inbox"), dir.path().join("outbox"));
    std::fs::create_dir_all(&inbox).unwrap();
    let whole = std::fs::read(fixtures().join("MUG01_1.png")).unwrap();
    let half = &whole[..whole.len() / 2];
    // A copy that pauses for longer than the settle time, beside a whole photo.
    let drop = inbox.join("paused");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::write(drop.join("mug.png"), half).unwrap();
    copy("ROCKET02_1.png", &drop.join("rocket.png"));
    // Started as a person would, with the inbox relative to where it runs.
    let mut w = command(
        Path::new("inbox"),
        Path::new("outbox"),
        Path::new("data"),
        &["--spec", "amazon-main", "--stalled-secs", "8"],
    )
    .current_dir(dir.path())
    .spawn()
    .expect("start shelfready watch");
    // The whole photo is made; the cut-off one stays where it is, not in quarantine.
    wait_for("the first batch", Duration::from_secs(60), || {
        out.join("paused/manifest.json").is_file()
    });
    assert!(inbox.join("archive/paused/rocket.png").is_file());
    assert!(drop.join("mug.png").is_file(), "held in the inbox");
    assert!(!inbox.join("quarantine/paused/mug.png").exists());
    // Still held a few settle times later: not taken again while unchanged.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!out.join("paused-2").exists());
    // The copy goes on and finishes: taken again, whole, and made.
    std::fs::write(drop.join("mug.png"), &whole).unwrap();
    wait_for("the finished copy", Duration::from_secs(60), || {
        out.join("paused-2/manifest.json").is_file()
    });
    let m = read_json(&out.join("paused-2/manifest.json"));
    assert_eq!(m["handoffs"][0]["state"], "ready", "{m}");
    let archived = inbox.join("archive/paused/mug.png");
    assert_eq!(std::fs::read(&archived).unwrap(), whole);
    assert!(!inbox.join("quarantine/paused/mug.png").exists());

    // A copy that never finishes: quarantined once unchanged past the limit.
    let stuck = inbox.join("stuck");
    std::fs::create_dir_all(&stuck).unwrap();
    std::fs::write(stuck.join("cup.png"), half).unwrap();
    wait_for(
        "the stuck copy in quarantine",
        Duration::from_secs(60),
        || inbox.join("quarantine/stuck/cup.png").is_file(),
    );
    assert_eq!(
        std::fs::read(inbox.join("quarantine/stuck/cup.png")).unwrap(),
        half
    );
    let _ = stop(&mut w, "-TERM");
    let log = {
        let mut s = String::new();
        use std::io::Read;
        w.stderr.take().unwrap().read_to_string(&mut s).unwrap();
        s
    };
    assert!(log.contains("held in the inbox"), "{log}");
}
