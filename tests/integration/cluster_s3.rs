//! cluster.rs's scenario with the files in a bucket: `serve --workers 0` and two
//! `shelfready worker`s, all on one PostgreSQL (pg.rs) and one S3-compatible bucket
//! (moto, s3.rs), each with a data folder of its own (nothing is shared but the database
//! and the bucket). A worker is SIGKILLed in the middle of the batch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use shelfready::store::Objects;

use crate::cluster::{one_machine, settled_once_and_released, Worker};
use crate::server::{file, follow, specs, upload, Server};
use crate::util::files_under;
use crate::{pg, s3};

const SOURCES: &[&str] = &[
    "MUG01_1.png",
    "ROCKET02_1.png",
    "SUPPLIER03-main.jpg",
    "GREY10_1.jpg",
    "BROKEN08_1.png",
    "DEEP09_1.png",
    "ADOBE04_1.jpg",
    "P3TAG05_1.png",
];
const SPECS: &str = "amazon-main,shopify";

/// The pid each recorded output's handoff names as its worker.
pub fn workers_of(db: &mut postgres::Client, batch: &str) -> Vec<String> {
    db.query(
        "SELECT handoff::json->'provenance'->>'worker' FROM outputs WHERE batch_id = $1",
        &[&batch],
    )
    .unwrap()
    .iter()
    .map(|r| {
        let w: Option<String> = r.get(0);
        w.unwrap_or_default()
            .rsplit_once(':')
            .map_or(String::new(), |(_, pid)| pid.to_string())
    })
    .collect()
}

#[test]
fn two_workers_on_a_bucket_share_a_batch_and_one_killed_midway_loses_nothing() {
    let url = pg::database();
    let bucket = s3::bucket();
    let store_url = format!("s3://{bucket}/cluster");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::try_start_env(
        &dir.path().join("api"),
        &[
            "--database-url",
            &url,
            "--store-url",
            &store_url,
            "--workers",
            "0",
        ],
        &s3::env(),
    )
    .unwrap_or_else(|log| panic!("serve did not start: {log}"));
    let on_bucket =
        |data: &Path| Worker::start_with(&url, data, &["--store-url", &store_url], s3::env());
    let mut a = on_bucket(&dir.path().join("a"));
    let b = on_bucket(&dir.path().join("b"));

    let parts: Vec<_> = SOURCES
        .iter()
        .map(|n| file(n, n))
        .chain([specs(SPECS)])
        .collect();
    let r = upload(&server, &parts, &[]);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let batch = r.json()["id"].as_str().unwrap().to_string();

    // Kill worker A once it has finished a photo and holds another.
    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let a_pid = a.child.id().to_string();
    let start = Instant::now();
    loop {
        let done_by_a = workers_of(&mut pg, &batch).contains(&a_pid);
        let holding: i64 = pg
            .query_one(
                "SELECT count(*) FROM assets WHERE batch_id = $1 AND worker LIKE $2",
                &[&batch, &format!("%:{a_pid}-%")],
            )
            .unwrap()
            .get(0);
        if done_by_a && holding > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "worker A never got going: {}\nB: {}",
            a.log(),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = a.child.kill(); // SIGKILL
    let _ = a.child.wait();

    let events = follow(&server, &batch, &[]);
    assert_eq!(events.last().unwrap()["kind"], "settled", "{events:?}");

    // Every output settled once; both workers made some; nothing is left claimed.
    let workers: BTreeSet<String> = workers_of(&mut pg, &batch).into_iter().collect();
    assert_eq!(
        workers,
        [a_pid.clone(), b.child.id().to_string()]
            .into_iter()
            .collect(),
        "B: {}",
        b.log()
    );
    settled_once_and_released(&mut pg, &batch);
    let settled: i64 = pg
        .query_one(
            "SELECT count(*) FROM outputs WHERE batch_id = $1",
            &[&batch],
        )
        .unwrap()
        .get(0);
    assert_eq!(settled as usize, SOURCES.len() * 2);

    // The outputs in the bucket are byte for byte those of one machine's run.
    let want = one_machine(dir.path(), SOURCES, SPECS);
    let is_image = |p: &str| p.ends_with(".jpg") || p.ends_with(".png") || p.ends_with(".webp");
    let objects = Objects::open_with(Some(&store_url), dir.path(), s3::env()).unwrap();
    let outputs = objects.scoped(&format!("batches/{batch}/outputs"));
    let got: BTreeMap<String, Vec<u8>> = outputs
        .list("")
        .unwrap()
        .into_iter()
        .filter(|(k, _)| is_image(k))
        .map(|(k, _)| {
            let bytes = outputs.get(&k).unwrap().unwrap();
            (k, bytes)
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &want {
        assert!(got[path] == *bytes, "{path} differs from one machine's");
    }
    // No process kept a batch file in its own folder.
    for node in ["api", "a", "b"] {
        let batches = dir.path().join(node).join("batches");
        let local = files_under(&batches);
        assert!(local.is_empty(), "{node} kept {local:?}");
    }
    drop(b);
    drop(server);
}
