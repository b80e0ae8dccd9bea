//! `shelfready serve`: the real binary on 127.0.0.1 with port 0, a real HTTP client, a real
//! SQLite file and data folder.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{files_under, fixtures};

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    base: String,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Self::try_start(data, extra).unwrap_or_else(|log| panic!("the server did not start: {log}"))
    }

    /// The server, or what it wrote before it gave up starting.
    pub fn try_start(data: &Path, extra: &[&str]) -> Result<Server, String> {
        Self::try_start_env(data, extra, &[])
    }

    /// [`Server::try_start`] with environment variables of its own (a bucket's `AWS_*`).
    pub fn try_start_env(
        data: &Path,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Result<Server, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shelfready"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("SHELFREADY_TOKEN")
            .env_remove("SHELFREADY_CONFIG")
            .env_remove("SHELFREADY_JOBS")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start shelfready serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(addr);
                }
                log2.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            // The reader thread may still hold the last lines.
            std::thread::sleep(Duration::from_millis(100));
            return Err(log.lock().unwrap().clone());
        };
        Ok(Server {
            child,
            base: format!("http://{addr}"),
            log,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a signal and waits for the process to end; returns its exit code.
    pub fn signal(&mut self, sig: &str) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args([sig, &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "the server did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("request");
    let body = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    Reply {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body,
    }
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.call())
}

/// One multipart form part: field name, file name, bytes.
pub type Part<'a> = (&'a str, Option<&'a str>, Vec<u8>);

fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "shelfready-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn upload(server: &Server, parts: &[Part], headers: &[(&str, &str)]) -> Reply {
    let (ct, body) = multipart(parts);
    // As curl does for large bodies: a refusal (401, 413, 503) comes before the body is sent.
    let mut req = agent()
        .post(server.url("/v1/batches"))
        .header("Content-Type", &ct)
        .header("Expect", "100-continue");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.send(&body[..]))
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

pub fn file<'a>(upload_name: &'a str, fixture_name: &str) -> Part<'a> {
    ("files", Some(upload_name), fixture(fixture_name))
}

pub fn specs(ids: &str) -> Part<'static> {
    ("specs", None, ids.as_bytes().to_vec())
}

/// Follows a batch's events to the `settled` event; returns them all.
pub fn follow(server: &Server, id: &str, headers: &[(&str, &str)]) -> Vec<Value> {
    let mut req = agent().get(server.url(&format!("/v1/batches/{id}/events")));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().expect("events");
    assert_eq!(r.status().as_u16(), 200);
    let reader = BufReader::new(r.body_mut().as_reader());
    let mut events = Vec::new();
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            let e: Value = serde_json::from_str(data).unwrap();
            let end = e["kind"] == "settled";
            events.push(e);
            if end {
                break;
            }
        }
    }
    events
}

pub fn read_zip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().to_string(), b)
        })
        .collect()
}

#[test]
fn upload_follow_download_a_batch_end_to_end() {
    upload_follow_download_a_batch(false);
}

/// The same uploads (a truncated file, a name climbing out of its folder, a text file, a
/// catalog) on an API node over PostgreSQL and a bucket.
#[test]
fn upload_follow_download_a_batch_on_postgresql_and_a_bucket() {
    upload_follow_download_a_batch(true);
}

fn upload_follow_download_a_batch(shared: bool) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_on(shared, &data, &["--jobs", "2"]);
    let catalog = "file,sku,position,alt_text,title,identifier\n\
                   MUG01_1.png,MUG-WHITE,main,A white mug,White mug 350 ml,0012345678905\n\
                   lost.png,LOST-1,2,,,\n";
    let r = upload(
        &server,
        &[
            specs("amazon-main,shopify"),
            file("MUG01_1.png", "MUG01_1.png"),
            file("BROKEN08_1.png", "BROKEN08_1.png"),
            file("../../escape/rocket.png", "ROCKET02_1.png"),
            ("files", Some("notes.txt"), b"not an image at all".to_vec()),
            ("catalog", Some("catalog.csv"), catalog.as_bytes().to_vec()),
        ],
        &[],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["assets"], 4);
    assert_eq!(r.header("location"), format!("/v1/batches/{id}"));

    // Events: one per output, then `settled`.
    let events = follow(&server, &id, &[]);
    assert_eq!(events.last().unwrap()["kind"], "settled");
    let assets: Vec<&Value> = events.iter().filter(|e| e["kind"] == "asset").collect();
    assert_eq!(assets.len(), 8, "{events:?}");

    // Status: the photo lines, the states.
    let s = get(&server.url(&format!("/v1/batches/{id}")), &[]).json();
    assert_eq!(s["state"], "settled");
    assert_eq!(s["outputs"]["ready"], 4, "{s}");
    assert_eq!(s["outputs"]["failed"], 4, "{s}");
    assert_eq!(s["photos"]["ready"], 2);
    assert_eq!(s["photos"]["failed"], 2);
    let lines: Vec<&str> = s["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["line"].as_str().unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("failed")
            && l.contains("BROKEN08_1.png")
            && l.contains("ends early")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("failed") && l.contains("notes.txt")),
        "{lines:?}"
    );

    // The traversal name stayed inside the batch.
    let traversal = s["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["source"] == "../../escape/rocket.png")
        .unwrap();
    assert_eq!(traversal["name"], "escape/rocket");
    assert!(!dir.path().join("escape").exists());
    for f in files_under(dir.path()) {
        assert!(
            f.starts_with(&data),
            "{} is outside the data folder",
            f.display()
        );
    }

    // One asset: its handoff carries the catalog's context; its file has the right
    // type, length, ETag and ranges.
    let mug = &s["assets"][0]["outputs"][0];
    let asset_id = mug["id"].as_str().unwrap();
    let h = get(&server.url(&format!("/v1/assets/{asset_id}")), &[]).json();
    assert_eq!(h["state"], "ready");
    assert_eq!(h["context"]["sku"], "MUG-WHITE");
    assert_eq!(h["context"]["title"], "White mug 350 ml");
    assert_eq!(h["context"]["identifier"], "0012345678905");
    assert_eq!(h["context"]["from"], "catalog");
    let f = get(&server.url(mug["file"].as_str().unwrap()), &[]);
    assert_eq!(f.status, 200);
    assert_eq!(f.header("content-type"), "image/jpeg");
    assert_eq!(f.header("content-length"), f.body.len().to_string());
    assert_eq!(
        f.header("etag"),
        format!("\"{}\"", h["asset"]["sha256"].as_str().unwrap())
    );
    let img = image::load_from_memory(&f.body).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (2000, 2000));
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
    let etag = f.header("etag");
    let again = get(
        &server.url(mug["file"].as_str().unwrap()),
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    let part = get(
        &server.url(mug["file"].as_str().unwrap()),
        &[("Range", "bytes=10-19")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, f.body[10..20]);

    // The zip: every written image and manifest, and the batch manifest.
    let z = get(&server.url(&format!("/v1/batches/{id}/download")), &[]);
    assert_eq!(z.status, 200);
    assert_eq!(z.header("content-type"), "application/zip");
    let entries = read_zip(&z.body);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "outputs/amazon-main/MUG01_1.jpg",
        "outputs/shopify/escape/rocket.jpg",
        "manifest.json",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    // The default download holds what can go out; `outputs=all` holds the failed too.
    assert!(!names.contains(&"manifests/BROKEN08_1.amazon-main.json"));
    let all = get(
        &server.url(&format!("/v1/batches/{id}/download?outputs=all")),
        &[],
    );
    let all_entries = read_zip(&all.body);
    let all_names: Vec<String> = all_entries.iter().map(|(n, _)| n.clone()).collect();
    for want in [
        "manifests/BROKEN08_1.amazon-main.json",
        "manifests/notes.shopify.json",
        "outputs/ready/amazon-main/MUG01_1.jpg",
    ] {
        assert!(
            all_names.iter().any(|n| n == want),
            "{want} not in {all_names:?}"
        );
    }
    let (_, mug_zip) = entries
        .iter()
        .find(|(n, _)| n == "outputs/amazon-main/MUG01_1.jpg")
        .unwrap();
    assert_eq!(mug_zip, &f.body);
    let (_, m) = entries.iter().find(|(n, _)| n == "manifest.json").unwrap();
    let m: Value = serde_json::from_slice(m).unwrap();
    assert_eq!(m["photos"].as_array().unwrap().len(), 4);
    assert_eq!(m["handoffs"].as_array().unwrap().len(), 8);
    let m2 = get(&server.url(&format!("/v1/batches/{id}/manifest")), &[]).json();
    assert_eq!(m2["summary"], m["summary"]);
    // The catalog as it was read: its columns, the row naming no upload, the uploads no
    // row names.
    assert_eq!(m2["catalog"]["mapping"]["identifier"], "identifier");
    assert_eq!(
        m2["catalog"]["missing_files"],
        serde_json::json!(["lost.png"])
    );
    assert_eq!(
        m2["catalog"]["unlisted_files"],
        serde_json::json!(["BROKEN08_1.png", "../../escape/rocket.png", "notes.txt"])
    );
    let broken: Value = serde_json::from_slice(
        &all_entries
            .iter()
            .find(|(n, _)| n == "manifests/BROKEN08_1.amazon-main.json")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(broken["state"], "failed");
    assert_eq!(broken["error"]["code"], "decode-truncated");

    // Specs, OpenAPI, metrics, health.
    let specs_list = get(&server.url("/v1/specs"), &[]).json();
    assert!(specs_list
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == "amazon-main"));
    assert_eq!(
        get(&server.url("/v1/specs/shopify"), &[]).json()["width"],
        2048
    );
    assert_eq!(get(&server.url("/v1/specs/amazn"), &[]).code(), "not-found");
    let doc = get(&server.url("/v1/openapi.json"), &[]).json();
    assert!(doc["paths"]["/v1/batches/{id}/events"].is_object());
    assert!(doc["components"]["schemas"]["BatchManifest"].is_object());
    let metrics = String::from_utf8(get(&server.url("/metrics"), &[]).body).unwrap();
    assert!(metrics.contains("shelfready_batches_total 1"), "{metrics}");
    assert!(
        metrics.contains("shelfready_outputs{state=\"ready\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("shelfready_processing_seconds_count 4"),
        "{metrics}"
    );
    assert_eq!(get(&server.url("/healthz"), &[]).status, 200);
    assert_eq!(get(&server.url("/readyz"), &[]).status, 200);
    // Unknown routes and methods answer in the same JSON shape.
    assert_eq!(get(&server.url("/v2/nothing"), &[]).code(), "not-found");
    let put = reply(agent().put(&server.url("/v1/specs")).send(""));
    assert_eq!(put.code(), "usage-error");

    // Delete: rows and files go.
    let del = reply(
        agent()
            .delete(&server.url(&format!("/v1/batches/{id}")))
            .call(),
    );
    assert_eq!(del.status, 204);
    assert_eq!(
        get(&server.url(&format!("/v1/batches/{id}")), &[]).status,
        404
    );
    assert!(!data.join("batches").join(&id).exists());
    assert_eq!(
        get(&server.url(&format!("/v1/assets/{asset_id}")), &[]).code(),
        "not-found"
    );
}

#[test]
fn listening_off_loopback_needs_a_token_and_config_layers_in_order() {
    let o = Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env_remove("SHELFREADY_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("without a token"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shelfready.toml");
    std::fs::write(&file, "max_files = 7\nqueue_capacity = 70\njobs = 3\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .args(["serve", "--print-config", "--config"])
        .arg(&file)
        .args(["--max-files", "9"])
        .env("SHELFREADY_MAX_FILES", "8")
        .env("SHELFREADY_QUEUE_CAPACITY", "80")
        .env("SHELFREADY_TOKEN", "hidden-value")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    let c: toml::Table = toml::from_str(&text).unwrap();
    // flag > env > file > default
    assert_eq!(c["max_files"].as_integer(), Some(9));
    assert_eq!(c["queue_capacity"].as_integer(), Some(80));
    assert_eq!(c["jobs"].as_integer(), Some(3));
    assert_eq!(c["listen"].as_str(), Some("127.0.0.1:8080"));
    assert!(!text.contains("hidden-value"), "{text}");
}

/// Whether a path names a write's staging file (`<name>#<digits>`, or an older `.tmp`).
fn staging(rel: &str) -> bool {
    rel.ends_with(".tmp")
        || rel
            .rsplit_once('#')
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Outputs on disk and their hashes, by path under the batch folder.
fn outputs(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = files_under(&dir.join("outputs"))
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            (
                rel,
                shelfready::store::sha256_hex(&std::fs::read(&p).unwrap()),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_server_killed_mid_batch_finishes_it_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
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
    let mut parts = vec![specs("amazon-main,shopify")];
    parts.extend(names.iter().map(|n| file(n, n)));
    let mut server = Server::start(&data, &["--jobs", "1"]);
    let r = upload(&server, &parts, &[]);
    assert_eq!(r.status, 202);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let batch_dir = data.join("batches").join(&id);
    // Kill it once some outputs are made, and before all are.
    let start = Instant::now();
    while files_under(&batch_dir.join("outputs")).len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    server.signal("-KILL");
    // What was finished before the kill (a file the kill caught mid-write is a staging
    // file, `<name>#<n>`, which the next start removes).
    let before: Vec<_> = outputs(&batch_dir)
        .into_iter()
        .filter(|(rel, _)| !staging(rel))
        .collect();
    assert!(
        before.len() < names.len() * 2,
        "the batch finished before the kill: {before:?}"
    );

    // Started again: it finishes the batch on its own.
    let mut server = Server::start(&data, &["--jobs", "1"]);
    let events = follow(&server, &id, &[]);
    assert_eq!(events.last().unwrap()["kind"], "settled");
    let s = get(&server.url(&format!("/v1/batches/{id}")), &[]).json();
    assert_eq!(s["state"], "settled");
    assert_eq!(s["assets"].as_array().unwrap().len(), names.len());
    let made: usize = s["outputs"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap() as usize)
        .sum();
    assert_eq!(made, names.len() * 2, "{s}");
    assert!(s["outputs"].get("received").is_none(), "{s}");
    // What was written before the kill stands unchanged, nothing was made twice into a
    // different result, and every handoff names the file on disk.
    let after = outputs(&batch_dir);
    // Nothing half-written is left from the kill.
    assert!(after.iter().all(|(rel, _)| !staging(rel)), "{after:?}");
    for b in &before {
        assert!(after.contains(b), "{b:?} changed after the restart");
    }
    let m = get(&server.url(&format!("/v1/batches/{id}/manifest")), &[]).json();
    for h in m["handoffs"].as_array().unwrap() {
        if let Some(a) = h["asset"].as_object() {
            let rel = a["path"].as_str().unwrap();
            assert!(
                after.contains(&(rel.to_string(), a["sha256"].as_str().unwrap().to_string())),
                "{rel}"
            );
        }
    }

    // SIGTERM mid-batch: it stops, exits 0, and the next start finishes the new batch.
    let r = upload(&server, &parts, &[]);
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.signal("-TERM"),
        Some(0),
        "{}",
        server.log.lock().unwrap()
    );
    let server = Server::start(&data, &["--jobs", "2"]);
    follow(&server, &id2, &[]);
    let s2 = get(&server.url(&format!("/v1/batches/{id2}")), &[]).json();
    assert_eq!(s2["state"], "settled");
    let made: usize = s2["outputs"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap() as usize)
        .sum();
    assert_eq!(made, names.len() * 2);
    // The same photos and specs make the same bytes in both batches.
    let o1: Vec<String> = outputs(&batch_dir).into_iter().map(|(_, h)| h).collect();
    let o2: Vec<String> = outputs(&data.join("batches").join(&id2))
        .into_iter()
        .map(|(_, h)| h)
        .collect();
    assert_eq!(o1, o2);
}

#[test]
fn serve_with_watch_shows_dropped_folders_as_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, outbox) = (dir.path().join("inbox"), dir.path().join("outbox"));
    std::fs::create_dir_all(&inbox).unwrap();
    let inbox_s = inbox.to_str().unwrap();
    let outbox_s = outbox.to_str().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--watch",
            inbox_s,
            "--watch-out",
            outbox_s,
            "--watch-specs",
            "shopify",
            "--watch-settle-ms",
            "300",
        ],
    );
    let drop = inbox.join("order-9");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::copy(fixtures().join("MUG01_1.png"), drop.join("mug.png")).unwrap();
    let start = Instant::now();
    let batch = loop {
        let list = get(&server.url("/v1/batches"), &[]).json();
        if let Some(b) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["origin"] == "watch" && b["state"] == "settled")
        {
            break b.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no watched batch settled: {list}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let s = get(&server.url(batch["links"]["status"].as_str().unwrap()), &[]).json();
    assert_eq!(s["assets"][0]["state"], "ready", "{s}");
    let file = s["assets"][0]["outputs"][0]["file"].as_str().unwrap();
    let f = get(&server.url(file), &[]);
    assert_eq!(
        (f.status, f.header("content-type").as_str()),
        (200, "image/jpeg")
    );
    assert_eq!(
        f.body,
        std::fs::read(outbox.join("order-9/outputs/shopify/mug.jpg")).unwrap()
    );
    assert!(inbox.join("archive/order-9/mug.png").is_file());
}

pub fn post_json(url: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    let mut req = agent().post(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.send(serde_json::to_vec(body).unwrap()))
}

/// `serve` with its data folder `data` on the embedded default, or (`shared`) on a
/// PostgreSQL database and an S3 bucket of its own, as an API node of many machines runs.
pub fn start_on(shared: bool, data: &Path, extra: &[&str]) -> Server {
    if !shared {
        return Server::start(data, extra);
    }
    let (database, bucket) = (crate::pg::database(), crate::s3::bucket());
    let store = format!("s3://{bucket}/shop");
    let mut args = vec!["--database-url", &database, "--store-url", &store];
    args.extend(extra);
    Server::try_start_env(data, &args, &crate::s3::env())
        .unwrap_or_else(|log| panic!("serve did not start: {log}"))
}

#[test]
fn the_openapi_document_validates_and_lists_every_route_the_router_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let doc = get(&server.url("/v1/openapi.json"), &[]).json();
    // A standard validator: the OpenAPI 3.1 schema, as the OpenAPI Initiative publishes it.
    let schema = crate::util::read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/integration/data/openapi-3.1.schema.json"),
    );
    let validator = jsonschema::validator_for(&schema).expect("the OpenAPI schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // Routes behind the token say what a role may not do.
    let forbidden = |m: &str, p: &str| {
        doc["paths"][p][m]["responses"]["403"]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(forbidden("post", "/v1/batches").contains("upload or delete batches"));
    assert!(forbidden("post", "/v1/assets/{id}/review").contains("a reviewer's"));
    assert!(forbidden("get", "/v1/batches/{id}").contains("a reader's"));
    assert_eq!(forbidden("get", "/healthz"), "");
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        let template: std::collections::BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|p| p.split('}').next())
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let declared: std::collections::BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            // A query parameter declared in the path cannot be called by a generated client.
            assert_eq!(declared, template, "{method} {path}: path parameters");
        }
    }
    // Every route the router serves is in the document...
    let served = shelfready::server::served_routes();
    assert!(served.len() >= 25, "{served:?}");
    for (method, path) in &served {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is served but not in /v1/openapi.json"
        );
    }
    // ...and every documented route answers (not the router's fallback).
    for (path, item) in paths {
        let url = server.url(
            &path
                .replace("{id}", "no-such-id")
                .replace("{file}", "api.js"),
        );
        for method in item.as_object().unwrap().keys() {
            let r = match method.as_str() {
                "get" if path.ends_with("/events") => reply(agent().get(&url).call()),
                "get" => get(&url, &[]),
                "post" => post_json(&url, &[], &serde_json::json!({})),
                "delete" => reply(agent().delete(&url).call()),
                m => panic!("{m} {path}: a method this test does not send"),
            };
            let fallback = r.status == 405
                || (r.status == 404 && String::from_utf8_lossy(&r.body).contains("no such route"));
            assert!(
                !fallback,
                "{method} {path} is documented but not served: {}",
                r.status
            );
        }
    }
    // The export's options are query parameters.
    let export = &doc["paths"]["/v1/batches/{id}/export"]["get"]["parameters"];
    for name in ["format", "base_url", "file"] {
        let p = export
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {export}"));
        assert_eq!(p["in"], "query", "{p}");
    }
}
