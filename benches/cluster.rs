//! Sizing a deployment of many processes: `cargo bench --bench cluster [-- claims|throughput]`.
//!
//! - `claims`: queue claims per second, 8 workers taking and completing empty jobs (no image
//!   work) from one queue: on SQLite (one process: 8 threads on its one connection) and on
//!   PostgreSQL (8 connections, as 8 worker processes hold). How many workers one database
//!   serves is the image work per photo over this.
//! - `throughput`: one batch (a folder of photos, `SHELFREADY_BENCH_BATCH`, by default
//!   target/bench-realistic from benches/compare/make_realistic.py, else the test fixtures)
//!   for amazon-main and shopify, uploaded to `serve` and timed from the 202 to `settled`:
//!   the embedded default (SQLite, the server's own workers), then `serve --workers 0` on
//!   PostgreSQL with 1 and 2 `shelfready worker` processes, files in the data folder, and
//!   the same with files in an S3 bucket. Runs alternate; medians and ratios are printed
//!   with the CPU they ran on.
//!
//! PostgreSQL is started from Debian's binaries and the S3-compatible server (moto) from
//! PyPI's package, on loopback as the tests start them, and both stop with the bench. Nothing is timed against a fixed number: these machines are shared.

#[path = "../tests/integration/life.rs"]
mod life;
#[path = "../tests/integration/pg.rs"]
#[allow(dead_code)]
mod pg;
#[path = "../tests/integration/s3.rs"]
#[allow(dead_code)]
mod s3;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shelfready::handoff::Timestamp;
use shelfready::store::{AssetRow, JobStore};

const ROUNDS: usize = 3;
const CLAIM_JOBS: usize = 4000;
const CLAIM_WORKERS: usize = 8;
const SPECS: &str = "amazon-main,shopify";

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |w: &str| which.is_empty() || which.iter().any(|a| a == w);
    println!("CPU: {} ({} cores)", cpu(), cores());
    if wants("claims") {
        claims();
    }
    if wants("throughput") {
        throughput();
    }
}

fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix(seconds).unwrap()
}

/// A batch of `n` sources with nothing to make, queued.
fn queued_batch(store: &dyn JobStore, n: usize) -> String {
    let id = shelfready::store::new_batch_id();
    store
        .create_batch(&id, &["amazon-main".into()], &at(1_800_000_000), None)
        .unwrap();
    for seq in 1..=n as i64 {
        store
            .add_asset(
                &id,
                &AssetRow {
                    seq,
                    source_key: format!("s{seq}"),
                    upload_name: format!("s{seq}.png"),
                    original: format!("uploads/s{seq}.png"),
                    bytes: 1,
                    context: Default::default(),
                    failure: None,
                },
            )
            .unwrap();
    }
    store.queue_work(&id, &at(1_800_000_000)).unwrap();
    id
}

/// Claims and completes until the queue is empty, on `CLAIM_WORKERS` threads, each on the
/// store `handle` gives it; claims per second.
fn drain(handle: impl Fn(usize) -> std::sync::Arc<dyn JobStore> + Sync) -> f64 {
    let done = AtomicUsize::new(0);
    let stores: Vec<_> = (0..CLAIM_WORKERS).map(&handle).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (k, store) in stores.iter().enumerate() {
            let done = &done;
            s.spawn(move || {
                let worker = format!("bench-{k}");
                loop {
                    let now = at(1_800_000_100);
                    let Some(w) = store.claim_work(&worker, &now, &at(1_800_009_000)).unwrap()
                    else {
                        break;
                    };
                    store
                        .complete_work(&w.batch, &w.asset.source_key, &worker, &now)
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let n = done.load(Ordering::Relaxed);
    assert_eq!(n, CLAIM_JOBS, "every job claimed once");
    n as f64 / start.elapsed().as_secs_f64()
}

fn claims() {
    println!("\nqueue claims per second, {CLAIM_WORKERS} workers, {CLAIM_JOBS} empty jobs, median of {ROUNDS}:");
    let mut sqlite = Vec::new();
    let mut postgres = Vec::new();
    for _ in 0..ROUNDS {
        let db = pg::TestDb::new(pg::Backend::Sqlite);
        let store = db.open();
        queued_batch(store.as_ref(), CLAIM_JOBS);
        sqlite.push(drain(|_| store.clone()));
        drop(store);

        let db = pg::TestDb::new(pg::Backend::Postgres);
        let first = db.open();
        queued_batch(first.as_ref(), CLAIM_JOBS);
        postgres.push(drain(|_| db.open()));
    }
    let (s, p) = (median(sqlite), median(postgres));
    println!("  SQLite (one process):     {s:8.0} claims/s");
    println!(
        "  PostgreSQL (8 connections): {p:8.0} claims/s  ({:.2}x SQLite)",
        p / s
    );
}

/// The photos of the batch.
fn batch_folder() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHELFREADY_BENCH_BATCH") {
        return PathBuf::from(dir);
    }
    let realistic = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-realistic");
    if realistic.is_dir() {
        return realistic;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn photos(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| {
                ["png", "jpg", "jpeg", "webp", "tif", "tiff"]
                    .contains(&e.to_string_lossy().to_lowercase().as_str())
            })
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// A child process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shelfready(args: &[&str], data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shelfready"));
    c.args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("SHELFREADY_CONFIG")
        .env_remove("SHELFREADY_JOBS")
        .env_remove("SHELFREADY_TOKEN")
        .stdout(Stdio::null());
    c
}

/// `serve` on a free port; its address once it listens.
fn serve(data: &Path, extra: &[&str], env: &[(String, String)]) -> (Proc, String) {
    let mut child = shelfready(&["serve", "--listen", "127.0.0.1:0"], data)
        .args(extra)
        .envs(env.iter().cloned())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        // Whole lines: an address split across two reads is no address.
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                if let Some(addr) = rest.split_whitespace().next() {
                    let _ = tx.send(addr.to_string());
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server did not start");
    (Proc(child), format!("http://{addr}"))
}

fn worker(data: &Path, url: &str, jobs: usize, extra: &[&str], env: &[(String, String)]) -> Proc {
    let jobs = jobs.to_string();
    Proc(
        shelfready(&["worker", "--database-url", url, "--jobs", &jobs], data)
            .args(extra)
            .envs(env.iter().cloned())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into()
}

/// Uploads the batch; seconds from the 202 to the batch settled.
fn time_batch(base: &str, photos: &[(String, Vec<u8>)]) -> f64 {
    let boundary = "shelfready-bench-boundary-6c1f";
    let mut body = Vec::new();
    for (name, bytes) in photos {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"specs\"\r\n\r\n{SPECS}\r\n--{boundary}--\r\n").as_bytes());
    let a = agent();
    let mut r = a
        .post(format!("{base}/v1/batches"))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        // As curl does: the server's answer comes before the body is sent.
        .header("Expect", "100-continue")
        .send(&body[..])
        .unwrap_or_else(|e| panic!("upload to {base}: {e}"));
    let start = Instant::now();
    let mut text = String::new();
    r.body_mut().as_reader().read_to_string(&mut text).unwrap();
    assert_eq!(r.status().as_u16(), 202, "{base}: {:?} {text}", r.headers());
    let created: serde_json::Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    loop {
        let mut s = a.get(format!("{base}/v1/batches/{id}")).call().unwrap();
        let v: serde_json::Value = serde_json::from_reader(s.body_mut().as_reader()).unwrap();
        if v["state"] == "settled" {
            return start.elapsed().as_secs_f64();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One way of running the batch.
#[derive(Clone, Copy)]
enum Setup {
    /// SQLite and the data folder; the server's own workers (one per core).
    Embedded,
    /// PostgreSQL; `serve --workers 0` and this many worker processes of `jobs` threads;
    /// the files in an S3 bucket (`bucket`) or in the data folder.
    Workers {
        processes: usize,
        jobs: usize,
        bucket: bool,
    },
}

impl Setup {
    fn name(self) -> String {
        match self {
            Setup::Embedded => "serve, SQLite + folder, in-process workers".into(),
            Setup::Workers {
                processes,
                jobs,
                bucket,
            } => format!(
                "serve --workers 0 + {processes} worker process(es) x {jobs} thread(s), PostgreSQL{}",
                if bucket { " + S3" } else { "" }
            ),
        }
    }

    fn run(self, photos: &[(String, Vec<u8>)]) -> f64 {
        let data = tempfile::tempdir().unwrap();
        match self {
            Setup::Embedded => {
                let (_server, base) = serve(data.path(), &[], &[]);
                time_batch(&base, photos)
            }
            Setup::Workers {
                processes,
                jobs,
                bucket,
            } => {
                let url = pg::database();
                let (store, env) = if bucket {
                    (
                        vec![
                            "--store-url".to_string(),
                            format!("s3://{}/bench", s3::bucket()),
                        ],
                        s3::env(),
                    )
                } else {
                    (Vec::new(), Vec::new())
                };
                let store: Vec<&str> = store.iter().map(String::as_str).collect();
                let mut args = vec!["--database-url", url.as_str(), "--workers", "0"];
                args.extend(&store);
                let (_server, base) = serve(data.path(), &args, &env);
                // Each worker its own data folder, as on its own machine.
                let folders: Vec<tempfile::TempDir> = (0..processes)
                    .map(|_| tempfile::tempdir().unwrap())
                    .collect();
                let _workers: Vec<Proc> = folders
                    .iter()
                    .map(|f| {
                        worker(
                            if bucket { f.path() } else { data.path() },
                            &url,
                            jobs,
                            &store,
                            &env,
                        )
                    })
                    .collect();
                time_batch(&base, photos)
            }
        }
    }
}

fn throughput() {
    let dir = batch_folder();
    let photos = photos(&dir);
    let n = photos.len();
    println!(
        "\nthroughput: {n} photos of {} x {SPECS}, seconds from the upload's 202 to settled, median of {ROUNDS} (runs alternate):",
        dir.display()
    );
    let setups = [
        Setup::Embedded,
        Setup::Workers {
            processes: 1,
            jobs: 1,
            bucket: false,
        },
        Setup::Workers {
            processes: 2,
            jobs: 1,
            bucket: false,
        },
        Setup::Workers {
            processes: 1,
            jobs: cores(),
            bucket: false,
        },
        Setup::Workers {
            processes: 1,
            jobs: cores(),
            bucket: true,
        },
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    for _ in 0..ROUNDS {
        for (k, s) in setups.iter().enumerate() {
            times[k].push(s.run(&photos));
        }
    }
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    let base = medians[0];
    for (s, m) in setups.iter().zip(&medians) {
        println!(
            "  {:<72} {m:7.2} s  {:6.2} photos/s  {:.2}x the embedded default's time",
            s.name(),
            n as f64 / m,
            m / base
        );
    }
    println!(
        "  2 worker processes over 1 (1 thread each): {:.2}x the throughput",
        medians[1] / medians[2]
    );
    println!(
        "  files in S3 over the data folder (1 worker x {} threads): {:.2}x the time",
        cores(),
        medians[4] / medians[3]
    );
}
