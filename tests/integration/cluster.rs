//! Many processes on one job database: `serve --workers 0` takes the uploads and answers,
//! `shelfready worker`s do the work, all on a real PostgreSQL (tests/integration/pg.rs)
//! and one shared data folder. A worker is killed in the middle of a batch.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pg;
use crate::server::{file, follow, specs, upload, Server};
use crate::util::{files_under, fixtures};

const SOURCES: &[&str] = &[
    "MUG01_1.png",
    "ROCKET02_1.png",
    "SUPPLIER03-main.jpg",
    "GREY10_1.jpg",
    "BROKEN08_1.png",
    "DEEP09_1.png",
    "ADOBE04_1.jpg",
    "P3TAG05_1.png",
    "ROTATED06_1.jpg",
    "ROTATED07_1.png",
    "CMYK11_1.jpg",
    "RIMCUP13_1.jpg",
];
const SPECS: &str = "amazon-main,shopify";

/// A `shelfready worker` process; killed when dropped.
pub struct Worker {
    pub child: Child,
    log: Arc<Mutex<String>>,
}

impl Worker {
    fn start(url: &str, data: &Path) -> Worker {
        Self::start_with(url, data, &[], Vec::new())
    }

    /// A worker on the database `url` with a data folder `data`, more flags and
    /// environment (a bucket's).
    pub fn start_with(
        url: &str,
        data: &Path,
        flags: &[&str],
        env: Vec<(String, String)>,
    ) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shelfready"))
            .args(["worker", "--database-url", url, "--data-dir"])
            .arg(data)
            .args(flags)
            // One photo at a time, and a short lease: a dead worker's photo is taken
            // over within seconds.
            .args(["--jobs", "1", "--workers", "1", "--lease-secs", "3"])
            .envs(env)
            .env_remove("SHELFREADY_CONFIG")
            .env_remove("SHELFREADY_JOBS")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start shelfready worker");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log2.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Worker { child, log }
    }

    /// The `host:pid` its handoffs name.
    fn name(&self) -> String {
        format!(":{}", self.child.id())
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn db(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// (source key, spec, worker) of each output recorded so far.
fn made_by(db: &mut postgres::Client, batch: &str) -> Vec<(String, String, String)> {
    db.query(
        "SELECT source_key, spec_id, handoff::json->'provenance'->>'worker' FROM outputs
         WHERE batch_id = $1",
        &[&batch],
    )
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get(0),
            r.get(1),
            r.get::<_, Option<String>>(2).unwrap_or_default(),
        )
    })
    .collect()
}

#[test]
fn two_workers_share_a_batch_and_one_killed_midway_loses_nothing() {
    let url = pg::database();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--database-url", &url, "--workers", "0"]);
    let mut a = Worker::start(&url, &data);
    let b = Worker::start(&url, &data);

    let parts: Vec<_> = SOURCES
        .iter()
        .map(|n| file(n, n))
        .chain([specs(SPECS)])
        .collect();
    let r = upload(&server, &parts, &[]);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let batch = r.json()["id"].as_str().unwrap().to_string();

    // Kill worker A once it has finished a photo and holds another.
    let mut pg = db(&url);
    let start = Instant::now();
    loop {
        let done_by_a = made_by(&mut pg, &batch)
            .iter()
            .any(|(_, _, w)| w.ends_with(&a.name()));
        let holding: i64 = pg
            .query_one(
                "SELECT count(*) FROM assets WHERE batch_id = $1 AND worker LIKE $2",
                &[&batch, &format!("%{}-%", a.name())],
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
    let _ = a.child.kill(); // SIGKILL: no chance to give its photo back
    let _ = a.child.wait();

    // The API node follows the batch the workers make, to its end.
    let events = follow(&server, &batch, &[]);
    assert_eq!(events.last().unwrap()["kind"], "settled", "{events:?}");
    let streamed: BTreeSet<String> = events
        .iter()
        .filter_map(|e| e["asset"]["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(streamed.len(), SOURCES.len() * 2, "{events:?}");

    // Every output ends once in a final state; both workers made some.
    let made = made_by(&mut pg, &batch);
    assert_eq!(made.len(), SOURCES.len() * 2, "{made:?}");
    let workers: BTreeSet<String> = made
        .iter()
        .map(|(_, _, w)| w.rsplit_once(':').unwrap().1.to_string())
        .collect();
    assert_eq!(
        workers,
        [a.child.id(), b.child.id()]
            .iter()
            .map(u32::to_string)
            .collect(),
        "{made:?}"
    );
    // Nothing is left claimed, and the photo A died holding was taken up a second time.
    settled_once_and_released(&mut pg, &batch);
    let retaken: i64 = pg
        .query_one(
            "SELECT count(*) FROM assets WHERE batch_id = $1 AND attempts = 2",
            &[&batch],
        )
        .unwrap()
        .get(0);
    assert_eq!(retaken, 1, "B: {}", b.log());

    // The outputs are byte for byte those of one machine's run of the same photos.
    let want = one_machine(dir.path(), SOURCES, SPECS);
    let got = images(&data.join("batches").join(&batch).join("outputs"));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &want {
        assert!(got[path] == *bytes, "{path} differs from one machine's");
    }
    // SIGTERM stops a worker cleanly.
    let mut b = b;
    Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status()
        .unwrap();
    let status = b.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", b.log());
    drop(server);
}

/// Asserts every output of `batch` reached a final state once, and no source is left
/// claimed or undone.
pub fn settled_once_and_released(pg: &mut postgres::Client, batch: &str) {
    for r in pg
        .query(
            "SELECT source_key, spec_id, count(*) FROM transitions WHERE batch_id = $1
               AND to_state IN ('ready', 'needs_review', 'failed')
             GROUP BY source_key, spec_id",
            &[&batch],
        )
        .unwrap()
    {
        let (key, spec, n): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
        assert_eq!(n, 1, "{key} {spec} settled {n} times");
    }
    let left: i64 = pg
        .query_one(
            "SELECT count(*) FROM assets WHERE batch_id = $1
               AND (worker IS NOT NULL OR done_at IS NULL)",
            &[&batch],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

/// The images `shelfready process` makes of `sources` (fixtures) for `specs` on one
/// machine, by path under its output folder, made in `dir`.
pub fn one_machine(dir: &Path, sources: &[&str], specs: &str) -> BTreeMap<String, Vec<u8>> {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for n in sources {
        std::fs::copy(fixtures().join(n), input.join(n)).unwrap();
    }
    let single = dir.join("single");
    let o = Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .args(["process", input.to_str().unwrap(), "--spec", specs, "--out"])
        .arg(&single)
        .env_remove("SHELFREADY_SPECS")
        .output()
        .unwrap();
    assert!(o.status.code().is_some(), "{o:?}");
    images(&single)
}

/// The images under `root`, by path under it.
pub fn images(root: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(root)
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .filter(|p| !p.contains("manifest") && !p.starts_with('.'))
        .filter(|p| p.ends_with(".jpg") || p.ends_with(".png") || p.ends_with(".webp"))
        .map(|p| {
            let bytes = std::fs::read(root.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}
