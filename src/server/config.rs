//! What `serve` runs with: command-line flags over `SHELFREADY_*` environment variables
//! over a TOML file over defaults. `shelfready serve` with nothing set listens on
//! 127.0.0.1:8080 and keeps its data in ./shelfready-data.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::pipeline::Limits;

/// The configuration in force. Every key is in assets/shelfready.sample.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Where the database, uploads, outputs and manifests are kept.
    pub data_dir: PathBuf,
    /// The job database: absent (or `sqlite://`) for the SQLite file in the data folder,
    /// `postgres://user:password@host/db` for one shared by many processes (`serve`
    /// nodes and `shelfready worker`s on one database and one data folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Where originals, outputs, manifests and exports are kept: absent for the data
    /// folder, `s3://bucket/prefix` for S3-compatible storage shared by many machines
    /// (endpoint, region and keys from the standard `AWS_*` variables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_url: Option<String>,
    /// Bearer token every route but /healthz and /readyz requires; required to listen
    /// anywhere but loopback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A folder of spec .toml files offered beside the built-in specs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_dir: Option<PathBuf>,
    /// Worker threads (0: one per core).
    pub jobs: usize,
    /// Queue workers in this process: sources taken from the job store's queue at once
    /// (absent: one per worker thread; 0: this node only takes uploads and answers, the
    /// `shelfready worker`s on its database do the work).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// Seconds a worker's claim of a source lasts unless renewed (its heartbeat renews it
    /// every third of this while the source runs); a worker that died loses its sources
    /// to the others after this long.
    pub lease_secs: u64,
    /// Times a source may be taken up by a worker; one whose workers all died holding it
    /// (it crashes the process?) fails with `worker-lost` after this many.
    pub max_attempts: u32,
    /// Largest upload request body, in bytes.
    pub max_body_bytes: u64,
    /// Most files in one batch.
    pub max_files: usize,
    /// Largest single file, in bytes.
    pub max_file_bytes: u64,
    /// Largest image opened, in pixels (width x height).
    pub max_pixels: u64,
    /// Most outputs (photos x specs) waiting or in flight across all batches; an upload
    /// that would pass it is answered 503 with Retry-After, one that alone asks for more
    /// is answered 413.
    pub queue_capacity: usize,
    /// Most connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (a connection left idle
    /// between requests is closed after as long).
    pub header_timeout_secs: u64,
    /// Seconds a request body may go without sending a byte before it is cut off.
    pub body_timeout_secs: u64,
    /// An inbox folder to watch in the same process (see `shelfready watch`); its batches
    /// show in the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<PathBuf>,
    /// Where the watched inbox's outputs go, one folder per drop.
    pub watch_out: PathBuf,
    /// The spec ids watched drops are made for.
    pub watch_specs: Vec<String>,
    /// Milliseconds a drop must stay unchanged before it is taken.
    pub watch_settle_ms: u64,
    /// Seconds a file that reads as cut off is held in the inbox (a copy that paused).
    pub watch_stalled_secs: u64,
    /// Whether catalog rows may name images on private, loopback or link-local addresses.
    pub allow_private_urls: bool,
    /// The key webhooks are signed with (HMAC-SHA256 of the body); a batch may name a
    /// webhook only when it is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Seconds before a failed webhook delivery is tried again (doubling each time).
    pub webhook_retry_secs: u64,
    /// Reviewers by name, each with a token of their own: a decision made with one is
    /// recorded under that name (decisions made with `token` are recorded as `api`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub reviewers: std::collections::BTreeMap<String, String>,
    /// Readers by name, each with a token that may only read (batches, outputs,
    /// exports, the review queue).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub readers: std::collections::BTreeMap<String, String>,
    /// Where outputs that wait for a person go, by why they wait, in order; the route with
    /// no checks takes the rest. File only.
    pub routes: Vec<crate::handoff::Route>,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("shelfready-data"),
            token: None,
            spec_dir: None,
            database_url: None,
            store_url: None,
            jobs: 0,
            workers: None,
            lease_secs: 60,
            max_attempts: 3,
            max_body_bytes: 2 * 1024 * 1024 * 1024,
            max_files: 1000,
            max_file_bytes: Limits::default().max_bytes,
            max_pixels: Limits::default().max_pixels,
            queue_capacity: 5000,
            max_connections: 512,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            watch: None,
            watch_out: PathBuf::from("outbox"),
            watch_specs: vec!["amazon-main".into()],
            watch_settle_ms: 2000,
            watch_stalled_secs: crate::watch::STALLED.as_secs(),
            allow_private_urls: false,
            webhook_secret: None,
            webhook_retry_secs: 5,
            reviewers: Default::default(),
            readers: Default::default(),
            routes: crate::handoff::Routing::default().routes,
        }
    }
}

/// Flags and their environment variables; what is given replaces the file's value.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML config file (see assets/shelfready.sample.toml).
    #[arg(long, env = "SHELFREADY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SHELFREADY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data folder [default: ./shelfready-data].
    #[arg(long, env = "SHELFREADY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Job database URL: sqlite://<file> or postgres://... [default: the SQLite file in
    /// the data folder].
    #[arg(long, env = "SHELFREADY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// File store URL: s3://bucket/prefix, with the AWS_* variables (AWS_ENDPOINT_URL,
    /// AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) [default: the data folder].
    #[arg(long, env = "SHELFREADY_STORE_URL")]
    pub store_url: Option<String>,
    /// Bearer token clients must send (required off loopback).
    #[arg(long, env = "SHELFREADY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Folder of extra spec .toml files.
    #[arg(long, env = "SHELFREADY_SPEC_DIR")]
    pub spec_dir: Option<PathBuf>,
    /// Worker threads [default: one per core].
    #[arg(long, short, env = "SHELFREADY_JOBS")]
    pub jobs: Option<usize>,
    /// Sources this process takes from the queue at once; 0: none (an API-only node)
    /// [default: one per worker thread].
    #[arg(long, env = "SHELFREADY_WORKERS")]
    pub workers: Option<usize>,
    /// Seconds a worker's claim lasts unless renewed [default: 60].
    #[arg(long, env = "SHELFREADY_LEASE_SECS")]
    pub lease_secs: Option<u64>,
    /// Times a source may be taken up before it fails as `worker-lost` [default: 3].
    #[arg(long, env = "SHELFREADY_MAX_ATTEMPTS")]
    pub max_attempts: Option<u32>,
    /// Largest upload body in bytes [default: 2 GiB].
    #[arg(long, env = "SHELFREADY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<u64>,
    /// Most files per batch [default: 1000].
    #[arg(long, env = "SHELFREADY_MAX_FILES")]
    pub max_files: Option<usize>,
    /// Largest single file in bytes [default: 256 MiB].
    #[arg(long, env = "SHELFREADY_MAX_FILE_BYTES")]
    pub max_file_bytes: Option<u64>,
    /// Largest image in pixels [default: 100000000].
    #[arg(long, env = "SHELFREADY_MAX_PIXELS")]
    pub max_pixels: Option<u64>,
    /// Most outputs (photos x specs) waiting or in flight [default: 5000].
    #[arg(long, env = "SHELFREADY_QUEUE_CAPACITY")]
    pub queue_capacity: Option<usize>,
    /// Most connections served at once [default: 512].
    #[arg(long, env = "SHELFREADY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send its request headers [default: 10].
    #[arg(long, env = "SHELFREADY_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a request body may pause before it is cut off [default: 30].
    #[arg(long, env = "SHELFREADY_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Also watch this inbox folder in the same process [default: none].
    #[arg(long, env = "SHELFREADY_WATCH")]
    pub watch: Option<PathBuf>,
    /// Where the watched inbox's outputs go [default: outbox].
    #[arg(long, env = "SHELFREADY_WATCH_OUT")]
    pub watch_out: Option<PathBuf>,
    /// Spec ids for watched drops, comma-separated [default: amazon-main].
    #[arg(long, env = "SHELFREADY_WATCH_SPECS", value_delimiter = ',')]
    pub watch_specs: Option<Vec<String>>,
    /// Milliseconds a drop must stay unchanged before it is taken [default: 2000].
    #[arg(long, env = "SHELFREADY_WATCH_SETTLE_MS")]
    pub watch_settle_ms: Option<u64>,
    /// Seconds a file that reads as cut off is held in the inbox, counted from its last
    /// write, before it goes to quarantine [default: 600].
    #[arg(long, env = "SHELFREADY_WATCH_STALLED_SECS")]
    pub watch_stalled_secs: Option<u64>,
    /// Let catalog rows name images on private, loopback or link-local addresses [default: false].
    #[arg(long, env = "SHELFREADY_ALLOW_PRIVATE_URLS", num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_urls: Option<bool>,
    /// The key webhooks are signed with (HMAC-SHA256).
    #[arg(long, env = "SHELFREADY_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Seconds before a failed webhook delivery is tried again, doubling [default: 5].
    #[arg(long, env = "SHELFREADY_WEBHOOK_RETRY_SECS")]
    pub webhook_retry_secs: Option<u64>,
    /// Print the configuration in force (token hidden) and exit.
    #[arg(long)]
    pub print_config: bool,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("refusing to listen on {listen} without a token: anyone who can reach it could upload and delete batches. Set SHELFREADY_TOKEN (or --token), or listen on 127.0.0.1")]
    OpenWithoutToken { listen: SocketAddr },
    #[error("{key} must be at least 1")]
    Zero { key: &'static str },
    #[error("{key} may be at most {max}")]
    TooLarge { key: &'static str, max: u64 },
    #[error("workers = 0 leaves the work to `shelfready worker` processes, which need a job database they can share: set database_url (SHELFREADY_DATABASE_URL) to a postgres:// URL, or leave workers unset")]
    NoWorkers,
    #[error("tokens: {0}")]
    Tokens(String),
}

impl ConfigError {
    pub fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            ConfigError::Read { .. } => ErrorCode::SpecUnreadable,
            ConfigError::Parse { .. }
            | ConfigError::OpenWithoutToken { .. }
            | ConfigError::Zero { .. }
            | ConfigError::TooLarge { .. }
            | ConfigError::NoWorkers
            | ConfigError::Tokens(_) => ErrorCode::UsageError,
        }
    }
}

impl ServeConfig {
    /// Defaults, then the file (if any), then flags and environment.
    pub fn load(args: &ServeArgs) -> Result<ServeConfig, ConfigError> {
        let mut c = match &args.config {
            Some(path) => ServeConfig::from_file(path)?,
            None => ServeConfig::default(),
        };
        macro_rules! over {
            ($($f:ident),*) => {$( if let Some(v) = &args.$f { c.$f = v.clone(); } )*};
        }
        over!(
            listen,
            data_dir,
            jobs,
            lease_secs,
            max_attempts,
            max_body_bytes,
            max_files,
            max_file_bytes,
            max_pixels,
            queue_capacity,
            max_connections,
            header_timeout_secs,
            body_timeout_secs,
            watch_out,
            watch_specs,
            watch_settle_ms,
            watch_stalled_secs,
            allow_private_urls,
            webhook_retry_secs
        );
        if args.webhook_secret.is_some() {
            c.webhook_secret = args.webhook_secret.clone();
        }
        if args.token.is_some() {
            c.token = args.token.clone();
        }
        if args.database_url.is_some() {
            c.database_url = args.database_url.clone();
        }
        if args.store_url.is_some() {
            c.store_url = args.store_url.clone();
        }
        if args.workers.is_some() {
            c.workers = args.workers;
        }
        if args.spec_dir.is_some() {
            c.spec_dir = args.spec_dir.clone();
        }
        if args.watch.is_some() {
            c.watch = args.watch.clone();
        }
        // An empty token is no token.
        c.token = c.token.filter(|t| !t.trim().is_empty());
        c.check()?;
        Ok(c)
    }

    pub fn from_file(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            error,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string().trim().to_string(),
        })
    }

    /// Whether other processes may share the job database: one other than the data
    /// folder's own SQLite file.
    pub fn shared_database(&self) -> bool {
        self.database_url
            .as_deref()
            .is_some_and(|u| !u.starts_with("sqlite:"))
    }

    pub fn routing(&self) -> crate::handoff::Routing {
        crate::handoff::Routing {
            routes: self.routes.clone(),
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let tokens = self.token.is_some() || !self.reviewers.is_empty() || !self.readers.is_empty();
        if !tokens && !self.listen.ip().is_loopback() {
            return Err(ConfigError::OpenWithoutToken {
                listen: self.listen,
            });
        }
        for (key, v) in [
            ("max_files", self.max_files as u64),
            ("max_body_bytes", self.max_body_bytes),
            ("max_file_bytes", self.max_file_bytes),
            ("queue_capacity", self.queue_capacity as u64),
            ("max_connections", self.max_connections as u64),
            ("header_timeout_secs", self.header_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("lease_secs", self.lease_secs),
            ("max_attempts", u64::from(self.max_attempts)),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { key });
            }
        }
        if self.workers == Some(0) && !self.shared_database() {
            return Err(ConfigError::NoWorkers);
        }
        // Past these the runtime itself gives out (a semaphore's permits, a timer's
        // deadline), and no real setting comes near them.
        for (key, v, max) in [
            ("max_connections", self.max_connections as u64, 65_536),
            ("header_timeout_secs", self.header_timeout_secs, 3_600),
            ("body_timeout_secs", self.body_timeout_secs, 3_600),
        ] {
            if v > max {
                return Err(ConfigError::TooLarge { key, max });
            }
        }
        self.check_tokens()
    }

    /// Each token names one holder and one role: a token shared by two roles would take
    /// the last one's, and `api` is the server token's own name in the records.
    fn check_tokens(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        let all = self
            .token
            .iter()
            .chain(self.reviewers.values())
            .chain(self.readers.values());
        for t in all {
            if t.trim().is_empty() {
                return Err(ConfigError::Tokens("a token is empty".into()));
            }
            if !seen.insert(t) {
                return Err(ConfigError::Tokens(
                    "two holders share one token; give each its own".into(),
                ));
            }
        }
        for name in self.reviewers.keys().chain(self.readers.keys()) {
            if name == "api" {
                return Err(ConfigError::Tokens(
                    "`api` is the server token's name in the records; name reviewers and readers otherwise".into(),
                ));
            }
            if self.reviewers.contains_key(name) && self.readers.contains_key(name) {
                return Err(ConfigError::Tokens(format!(
                    "{} is both a reviewer and a reader; give them one role",
                    crate::naming::printable(name)
                )));
            }
        }
        Ok(())
    }

    /// The core's limits under this configuration (only ever tighter than the defaults).
    pub fn limits(&self) -> Limits {
        let mut l = Limits::default().with_max_pixels(self.max_pixels);
        l.max_bytes = self.max_file_bytes;
        Limits::default().tightened(l)
    }

    /// The configuration as TOML, with the token hidden.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.token.is_some() {
            shown.token = Some("(set, hidden)".into());
        }
        if shown.webhook_secret.is_some() {
            shown.webhook_secret = Some("(set, hidden)".into());
        }
        shown.database_url = shown.database_url.as_deref().map(hide_password);
        for t in shown
            .reviewers
            .values_mut()
            .chain(shown.readers.values_mut())
        {
            *t = "(set, hidden)".into();
        }
        toml::to_string(&shown).unwrap_or_default()
    }
}

/// A database URL with its password replaced, for logs and `--print-config`.
pub fn hide_password(url: &str) -> String {
    // scheme://user:password@host...: the password is between the first ':' after the
    // scheme's '//' and the last '@' before the path.
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.find('/') {
        Some(slash) => rest[..slash]
            .rfind('@')
            .map_or(("", rest), |at| (&rest[..at], &rest[at + 1..])),
        None => rest
            .rfind('@')
            .map_or(("", rest), |at| (&rest[..at], &rest[at + 1..])),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:(hidden)@{host}"),
        None if auth.is_empty() => url.to_string(),
        None => format!("{scheme}://{auth}@{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_config_names_every_key_and_parses_to_the_defaults() {
        let sample = include_str!("../../assets/shelfready.sample.toml");
        let parsed: ServeConfig = toml::from_str(sample).unwrap();
        assert_eq!(parsed, ServeConfig::default());
        let every = ServeConfig {
            token: Some("t".into()),
            spec_dir: Some("specs".into()),
            watch: Some("inbox".into()),
            reviewers: [("ana".to_string(), "t2".to_string())].into(),
            readers: [("carl".to_string(), "t3".to_string())].into(),
            webhook_secret: Some("s".into()),
            database_url: Some("postgres://h/d".into()),
            workers: Some(2),
            ..Default::default()
        };
        let keys: toml::Table = toml::from_str(&toml::to_string(&every).unwrap()).unwrap();
        for key in keys.keys() {
            assert!(
                sample.contains(&format!("# {key} ="))
                    || sample.contains(&format!("\n{key} ="))
                    || sample.contains(&format!("[[{key}]]"))
                    || sample.contains(&format!("[{key}]")),
                "the sample config does not name {key}"
            );
            // Tables are set in the file only.
            if matches!(key.as_str(), "routes" | "reviewers" | "readers") {
                continue;
            }
            let env = format!("SHELFREADY_{}", key.to_uppercase());
            assert!(
                sample.contains(&env),
                "the sample config does not name {env}"
            );
        }
    }

    #[test]
    fn a_database_password_is_never_shown() {
        assert_eq!(
            hide_password("postgres://shop:s3cr@t@db.example:5432/jobs"),
            "postgres://shop:(hidden)@db.example:5432/jobs"
        );
        assert_eq!(
            hide_password("postgres://db.example/jobs"),
            "postgres://db.example/jobs"
        );
        assert_eq!(hide_password("sqlite://x/y.db"), "sqlite://x/y.db");
        let c = ServeConfig {
            database_url: Some("postgresql://a:pw@h/d".into()),
            ..Default::default()
        };
        assert!(!c.to_toml().contains("pw"), "{}", c.to_toml());
    }

    #[test]
    fn flags_beat_the_file_and_open_addresses_need_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "max_files = 7\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let args = ServeArgs {
            config: Some(file.clone()),
            max_files: Some(9),
            ..Default::default()
        };
        let c = ServeConfig::load(&args).unwrap();
        assert_eq!((c.max_files, c.listen.port()), (9, 9000));
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\n").unwrap();
        let e = ServeConfig::load(&ServeArgs {
            config: Some(file.clone()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("without a token"), "{e}");
        std::fs::write(&file, "listn = \"127.0.0.1:1\"\n").unwrap();
        let e = ServeConfig::load(&ServeArgs {
            config: Some(file),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("listn"), "{e}");
    }
}
