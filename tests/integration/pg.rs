//! A real PostgreSQL for the tests, and the job-store backends a test runs on.
//!
//! One server per run of the test binary, started at the first test that asks for it from
//! Debian's binaries (`/usr/lib/postgresql/<version>/bin/initdb` and `postgres`): a new
//! cluster in a temp folder, trust authentication, listening on 127.0.0.1 at a free port
//! (and a socket in the same folder), fsync off. Each test gets a database of its own.
//! When the binaries are missing, a test that needs them fails and says what to install.
//!
//! The server stops with the test process: it is spawned from a thread that lives as long
//! as the process, with a parent-death signal (Linux sends it when that thread ends, so
//! when the process ends, however it ends). Run as root, the server runs as the
//! `postgres` user (or `nobody`): PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use shelfready::store::{open_job_store, JobStore};

/// The running server (its cluster and socket are in a temp folder named for the run).
pub struct Server {
    pub port: u16,
}

/// Where this run's clusters go; a folder a finished run left is removed by the next.
const PREFIX: &str = "shelfready-test-pg-";

/// The server of this run, started at the first call.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// The URL of a new, empty database on this run's server.
pub fn database() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let s = server();
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = postgres::Client::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            s.port
        ),
        postgres::NoTls,
    )
    .expect("connect to the test server");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    format!("postgres://postgres@127.0.0.1:{}/{name}", s.port)
}

/// Debian's newest PostgreSQL server binaries: the folder with initdb and postgres.
fn binaries() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "the PostgreSQL tests need PostgreSQL's server binaries (/usr/lib/postgresql/<version>/bin/initdb and postgres), and none are installed: apt-get install postgresql".to_string()
    })
}

/// The user the server runs as when the tests run as root: (uid, gid).
fn unprivileged() -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    ["postgres", "nobody"].iter().find_map(|user| {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() > 3 && f[0] == *user {
                Some((f[2].parse().ok()?, f[3].parse().ok()?))
            } else {
                None
            }
        })
    })
}

fn command(bin: &Path, as_user: Option<(u32, u32)>, dir: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(bin);
    c.current_dir(dir).stdin(Stdio::null());
    if let Some((uid, gid)) = as_user {
        c.uid(uid).gid(gid);
    }
    c
}

/// Removes the clusters of earlier runs whose process is gone.
fn sweep_earlier_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn start() -> Result<Server, String> {
    let bin = binaries()?;
    sweep_earlier_runs();
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let as_user = unprivileged();
    if let Some((uid, gid)) = as_user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    }
    let data = dir.join("data");
    let init = command(&bin.join("initdb"), as_user, &dir)
        .args(["-D", &data.to_string_lossy()])
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !init.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        ));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("server log: {e}"))?;
    if let Some((uid, gid)) = as_user {
        let _ = std::os::unix::fs::chown(&log_path, Some(uid), Some(gid));
    }
    let mut c = command(&bin.join("postgres"), as_user, &dir);
    c.args(["-D", &data.to_string_lossy()])
        .args(["-c", "listen_addresses=127.0.0.1", "-p", &port.to_string()])
        .args(["-k", &dir.to_string_lossy(), "-F"])
        .args(["-c", "max_connections=200", "-c", "shared_buffers=32MB"])
        .stdout(Stdio::null())
        .stderr(log);
    // SIGQUIT is PostgreSQL's immediate shutdown: its backends go with it.
    crate::life::spawn_for_life("postgres", c, libc::SIGQUIT)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = postgres::Client::connect(
            &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2"),
            postgres::NoTls,
        );
        match ready {
            Ok(_) => return Ok(Server { port }),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                return Err(format!(
                    "the test PostgreSQL did not start: {e}\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ))
            }
        }
    }
}

/// A job-store backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BOTH: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A new, empty job store of one backend: a data folder and, for PostgreSQL, a database.
pub struct TestDb {
    pub backend: Backend,
    pub data: tempfile::TempDir,
    pub url: Option<String>,
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        TestDb {
            backend,
            data: tempfile::tempdir().unwrap(),
            url: (backend == Backend::Postgres).then(database),
        }
    }

    /// Opens the store (again: a restart reopens the same database and folder).
    pub fn open(&self) -> Arc<dyn JobStore> {
        open_job_store(self.url.as_deref(), self.data.path())
            .unwrap_or_else(|e| panic!("open the {:?} store: {e}", self.backend))
    }
}
