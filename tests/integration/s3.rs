//! A real S3-compatible server for the tests: moto's server mode, from PyPI
//! (`pip install 'moto[server]'`).
//!
//! One server per run of the test binary, started at the first test that asks for it,
//! on 127.0.0.1 at a free port; each test makes a bucket of its own. When python3 or moto
//! is missing, a test that needs it fails and says what to install (never a silent pass).
//!
//! The server stops with the test process, as the test PostgreSQL does
//! ([`crate::life::spawn_for_life`]).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The running server.
pub struct Server {
    pub port: u16,
}

impl Server {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The server of this run, started at the first call.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// The `AWS_*` settings that reach this run's server (moto takes any keys).
pub fn env() -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", server().endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A new, empty bucket on this run's server; returns its name.
pub fn bucket() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "t-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    // moto checks no signature: a plain PUT makes a bucket.
    let url = format!("{}/{name}", server().endpoint());
    ureq::put(&url)
        .send_empty()
        .unwrap_or_else(|e| panic!("create the test bucket {name}: {e}"));
    name
}

/// Deletes a bucket and what is in it (a bucket that goes away under a server).
pub fn delete_bucket(name: &str) {
    let objects = shelfready::store::Objects::open_with(
        Some(&format!("s3://{name}")),
        std::path::Path::new("/nonexistent"),
        env(),
    )
    .expect("open the bucket to empty it");
    objects.delete_prefix("").expect("empty the bucket");
    let url = format!("{}/{name}", server().endpoint());
    ureq::delete(&url)
        .call()
        .unwrap_or_else(|e| panic!("delete the test bucket {name}: {e}"));
}

fn start() -> Result<Server, String> {
    let found = Command::new("python3")
        .args(["-c", "import moto.server"])
        .stdin(Stdio::null())
        .output();
    match found {
        Ok(o) if o.status.success() => {}
        _ => {
            return Err("the S3 tests need moto's S3-compatible server, and python3 cannot import it: pip install 'moto[server]'".into())
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let log_path =
        std::env::temp_dir().join(format!("shelfready-test-moto-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).map_err(|e| format!("moto log: {e}"))?;
    let mut c = Command::new("python3");
    c.args([
        "-m",
        "moto.server",
        "-H",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(log);
    crate::life::spawn_for_life("moto", c, libc::SIGKILL)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let probe = format!("http://127.0.0.1:{port}/moto-api/");
    loop {
        match ureq::get(&probe).call() {
            Ok(_) => return Ok(Server { port }),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                return Err(format!(
                    "the test S3 server (moto) did not start: {e}\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ))
            }
        }
    }
}
