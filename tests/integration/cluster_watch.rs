//! The watch door on a shared database: `serve --watch --workers 0` on PostgreSQL (pg.rs)
//! and an S3-compatible bucket (moto, s3.rs) puts each drop on the queue, two `shelfready
//! worker`s make it, and the watcher hands the results back (sources archived with their
//! manifests, outputs copied into the outbox), also after it was killed with the drop on
//! the queue. Then `shelfready watch --database-url ... --once` alone takes a second drop
//! whose one photo was made before.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::cluster::{images, one_machine, settled_once_and_released, Worker};
use crate::cluster_s3::workers_of;
use crate::server::{get, post_json, Server};
use crate::util::{fixtures, read_json, wait_for};
use crate::{pg, s3};
use shelfready::store::sha256_hex;

const SOURCES: &[&str] = &[
    "MUG01_1.png",
    "ROCKET02_1.png",
    "SUPPLIER03-main.jpg",
    "GREY10_1.jpg",
    "BROKEN08_1.png",
    "DEEP09_1.png",
];
const SPECS: &str = "amazon-main,shopify";
/// A drop's name as people write them: its outbox folder is `Order_7`, its archive
/// folder keeps the name.
const DROP: &str = "Order 7";

fn drop_folder(inbox: &Path, name: &str, sources: &[&str]) {
    // Copied beside the inbox, then moved in: the drop appears whole.
    let staging = inbox.parent().unwrap().join(format!("staging-{name}"));
    std::fs::create_dir_all(&staging).unwrap();
    for n in sources {
        std::fs::copy(fixtures().join(n), staging.join(n)).unwrap();
    }
    std::fs::rename(&staging, inbox.join(name)).unwrap();
}

#[test]
fn a_watched_inbox_on_a_shared_database_queues_its_drops_and_hands_them_back() {
    let url = pg::database();
    let bucket = s3::bucket();
    let store_url = format!("s3://{bucket}/watch");
    let dir = tempfile::tempdir().unwrap();
    let (inbox, outbox) = (dir.path().join("inbox"), dir.path().join("outbox"));
    std::fs::create_dir_all(&inbox).unwrap();
    let (inbox_s, outbox_s) = (inbox.to_str().unwrap(), outbox.to_str().unwrap());
    let api_args = [
        "--database-url",
        &url,
        "--store-url",
        &store_url,
        "--workers",
        "0",
        "--watch",
        inbox_s,
        "--watch-out",
        outbox_s,
        "--watch-specs",
        SPECS,
        "--watch-settle-ms",
        "300",
        // The broken photo reads as cut off: quarantined at once, not held for a copy
        // that paused.
        "--watch-stalled-secs",
        "0",
    ];
    let api = dir.path().join("api");
    let mut server = Server::try_start_env(&api, &api_args, &s3::env())
        .unwrap_or_else(|log| panic!("serve did not start: {log}"));
    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();

    // The drop is taken and queued; the API node is then killed before anything is made
    // (no worker runs yet): the batch waits on the queue, its sources in the inbox.
    drop_folder(&inbox, DROP, SOURCES);
    // A link beside the photos: never followed, quarantined as it is.
    std::os::unix::fs::symlink("/etc/passwd", inbox.join(DROP).join("link.png")).unwrap();
    let batch: String = wait_for("the drop to be queued", Duration::from_secs(60), || {
        let row = pg
            .query_opt(
                "SELECT b.id, count(a.seq) FROM batches b JOIN assets a ON a.batch_id = b.id
                 WHERE b.origin = 'watch' AND a.queued_at IS NOT NULL
                   AND a.original LIKE 'originals/%' GROUP BY b.id",
                &[],
            )
            .unwrap()?;
        (row.get::<_, i64>(1) == SOURCES.len() as i64).then(|| row.get(0))
    });
    let _ = server.child.kill(); // SIGKILL
    let _ = server.child.wait();
    assert!(inbox.join(DROP).join("MUG01_1.png").is_file());

    // Two workers, each with a data folder of its own, make it.
    let on_bucket =
        |data: &Path| Worker::start_with(&url, data, &["--store-url", &store_url], s3::env());
    let a = on_bucket(&dir.path().join("a"));
    let b = on_bucket(&dir.path().join("b"));
    wait_for("the workers to settle it", Duration::from_secs(180), || {
        let state: String = pg
            .query_one("SELECT state FROM batches WHERE id = $1", &[&batch])
            .unwrap()
            .get(0);
        (state == "settled").then_some(())
    });
    settled_once_and_released(&mut pg, &batch);
    let made_by: BTreeSet<String> = workers_of(&mut pg, &batch).into_iter().collect();
    let both: BTreeSet<String> = [a.child.id(), b.child.id()]
        .iter()
        .map(u32::to_string)
        .collect();
    assert_eq!(made_by, both, "A: {}\nB: {}", a.log(), b.log());
    // Settled, but not handed back: nobody watches the inbox.
    assert!(!outbox.join("Order_7/manifest.json").exists());
    assert!(inbox.join(DROP).join("MUG01_1.png").is_file());

    // The API node started again follows the batch again and hands it back.
    let server = Server::try_start_env(&api, &api_args, &s3::env())
        .unwrap_or_else(|log| panic!("serve did not start again: {log}"));
    let out7 = outbox.join("Order_7");
    wait_for("the hand-back", Duration::from_secs(60), || {
        (out7.join("manifest.json").is_file() && !inbox.join(DROP).exists()).then_some(())
    });
    // The outbox holds what one machine makes of the same photos, byte for byte.
    let want = one_machine(dir.path(), SOURCES, SPECS);
    let got = images(&out7.join("outputs"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &want {
        assert!(got[path] == *bytes, "{path} differs from one machine's");
    }
    let manifest = read_json(&out7.join("manifest.json"));
    assert_eq!(manifest["photos"].as_array().unwrap().len(), SOURCES.len());
    let mark = read_json(&out7.join(".shelfready").join("store.json"));
    assert_eq!(mark["batch"], batch.as_str());
    assert_eq!(mark["shared"], true);
    // Each source archived (the broken one quarantined) with its handoffs beside it, and
    // the drop's folder gone from the inbox.
    for n in SOURCES {
        let home = if n.starts_with("BROKEN") {
            "quarantine"
        } else {
            "archive"
        };
        let moved = inbox.join(home).join(DROP).join(n);
        assert!(moved.is_file(), "{n} not in {home}");
        let h = read_json(
            &inbox
                .join(home)
                .join(DROP)
                .join(format!("{n}.shopify.json")),
        );
        assert_eq!(h["provenance"]["source_key"], format!("{DROP}/{n}"));
    }
    assert!(!inbox.join(DROP).exists());
    let link = inbox.join("quarantine").join(DROP).join("link.png");
    assert!(
        std::fs::symlink_metadata(&link).unwrap().is_symlink(),
        "{link:?}"
    );
    // The API node answers for the batch the workers made.
    let r = get(&server.url(&format!("/v1/batches/{batch}")), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["state"], "settled", "{}", r.json());
    // A command on the copy is sent to the API node, which every door reads.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .args(["review", out7.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(75), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("/v1/review?batch="));

    // Killed while outputs wait for a person; meanwhile a new drop of the same name
    // comes, with a different photo under a name the first drop had. Started again, the
    // watcher follows the first batch without touching the new drop, which it takes as
    // a batch of its own.
    let mut server = server;
    let _ = server.child.kill();
    let _ = server.child.wait();
    let staging = dir.path().join("staging-new");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::copy(
        fixtures().join("ADOBE04_1.jpg"),
        staging.join("DEEP09_1.png"),
    )
    .unwrap();
    std::fs::rename(&staging, inbox.join(DROP)).unwrap();
    let server = Server::try_start_env(&api, &api_args, &s3::env())
        .unwrap_or_else(|log| panic!("serve did not start again: {log}"));
    let out7b = outbox.join("Order_7-2");
    wait_for("the new drop", Duration::from_secs(120), || {
        (out7b.join("manifest.json").is_file() && !inbox.join(DROP).exists()).then_some(())
    });
    let newer = read_json(&out7b.join("manifest.json"));
    assert_eq!(newer["photos"].as_array().unwrap().len(), 1, "{newer}");
    let adobe = sha256_hex(&std::fs::read(fixtures().join("ADOBE04_1.jpg")).unwrap());
    let deep = sha256_hex(&std::fs::read(fixtures().join("DEEP09_1.png")).unwrap());
    let archived = inbox.join("archive").join(DROP);
    let first = std::fs::read(archived.join("DEEP09_1.png")).unwrap();
    assert_eq!(
        sha256_hex(&first),
        deep,
        "the first drop's photo was replaced"
    );
    let second = std::fs::read(archived.join("DEEP09_1-2.png")).unwrap();
    assert_eq!(sha256_hex(&second), adobe);
    let beside = read_json(&archived.join("DEEP09_1-2.png.amazon-main.json"));
    assert_eq!(beside["provenance"]["source_sha256"], adobe.as_str());

    // Decisions made over the API reach the copy: the watcher hands the batch back again
    // while an output waits for a person, and lets it go once none does.
    let waiting = get(&server.url(&format!("/v1/review?batch={batch}")), &[]).json();
    let ids: Vec<String> = waiting["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.is_empty(), "{waiting}");
    let back = |pg: &mut postgres::Client| -> Option<String> {
        pg.query_one("SELECT hand_back FROM batches WHERE id = $1", &[&batch])
            .unwrap()
            .get(0)
    };
    assert!(back(&mut pg).is_some(), "let go while outputs wait");
    let image = out7.join("outputs/amazon-main/MUG01_1.jpg");
    let written = std::fs::metadata(&image).unwrap().modified().unwrap();
    for id in &ids {
        let r = post_json(
            &server.url(&format!("/v1/assets/{id}/review")),
            &[],
            &serde_json::json!({"decision": "approve", "note": "fine"}),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    wait_for("the copy to follow", Duration::from_secs(60), || {
        back(&mut pg).is_none().then_some(())
    });
    let m = read_json(&out7.join("manifest.json"));
    assert_eq!(m["summary"]["approved"], ids.len(), "{}", m["summary"]);
    assert_eq!(m["summary"]["needs_review"], 0);
    let states: Vec<String> = std::fs::read_dir(out7.join("manifests"))
        .unwrap()
        .map(|e| {
            read_json(&e.unwrap().path())["state"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let approved = states.iter().filter(|s| *s == "approved").count();
    assert_eq!(approved, ids.len(), "{states:?}");
    // A decision changes manifests, not images: the copy's images are not fetched again.
    assert_eq!(
        std::fs::metadata(&image).unwrap().modified().unwrap(),
        written
    );
    drop(server);
    drop((a, b));

    // `shelfready watch` alone on the same database and bucket, with a worker of its
    // own: a photo made before is archived and listed, not made again. Loose files
    // beside the drop make one batch, each file taken and moved once.
    drop_folder(&inbox, "order-8", &["MUG01_1.png", "ADOBE04_1.jpg"]);
    for (name, bytes) in [
        (
            "loose shot.jpg",
            std::fs::read(fixtures().join("GREY10_1.jpg")).unwrap(),
        ),
        ("layers.psd", b"8BPS layers".to_vec()),
    ] {
        let staged = dir.path().join(name);
        std::fs::write(&staged, bytes).unwrap();
        std::fs::rename(&staged, inbox.join(name)).unwrap();
    }
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .args([
            "watch", inbox_s, "--out", outbox_s, "--spec", SPECS, "--once",
        ])
        .args(["--settle-ms", "200", "--rescan-ms", "100", "--workers", "1"])
        .args([
            "--database-url",
            &url,
            "--store-url",
            &store_url,
            "--data-dir",
        ])
        .arg(dir.path().join("lone"))
        .envs(s3::env())
        .env_remove("SHELFREADY_SPECS")
        .env_remove("SHELFREADY_JOBS")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{log}");
    let out8 = outbox.join("order-8");
    let m = read_json(&out8.join("manifest.json"));
    let photos: Vec<&str> = m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["source"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(photos.len(), 1, "{m}");
    let skipped = m["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{m}");
    assert_eq!(skipped[0]["reason"], "already-processed");
    // Named where it is: an output of the first batch, in the bucket.
    let said = skipped[0]["message"].as_str().unwrap();
    assert!(said.contains(&format!("of batch {batch}")), "{said}");
    assert!(out8.join("outputs/amazon-main/ADOBE04_1.jpg").is_file());
    assert!(!out8.join("outputs/amazon-main/MUG01_1.jpg").exists());
    for n in ["MUG01_1.png", "ADOBE04_1.jpg"] {
        assert!(inbox.join("archive/order-8").join(n).is_file(), "{log}");
    }
    let loose: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("inbox"))
        .collect();
    assert_eq!(loose.len(), 1, "{loose:?}\n{log}");
    // A loose file is taken whatever its type (the layered file fails: it cannot be
    // read as an image) and quarantined once, never a batch of its own.
    let m = read_json(&outbox.join(&loose[0]).join("manifest.json"));
    assert_eq!(m["photos"].as_array().unwrap().len(), 2, "{}", m["photos"]);
    let kept: Vec<String> = crate::util::files_under(&inbox)
        .iter()
        .map(|p| {
            p.strip_prefix(&inbox)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|p| p.contains("layers") || p.contains("loose shot"))
        .filter(|p| !p.ends_with(".json"))
        .collect();
    assert_eq!(
        kept,
        [
            format!("archive/{}/loose shot.jpg", loose[0]),
            format!("quarantine/{}/layers.psd", loose[0])
        ],
        "{log}"
    );
}
