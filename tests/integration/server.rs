//! `shelfready serve`: the real binary on 127.0.0.1 with port 0, a real HTTP client, a real
//! SQLite file and data folder.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{files_under, fixtures, pixels_of, AMBER, GREEN, RED};

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
fn every_limit_answers_with_its_code_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = "s3cret-token-for-tests";
    let server = Server::start(
        &data,
        &[
            "--token",
            token,
            "--max-body-bytes",
            "600000",
            "--max-files",
            "3",
            "--max-file-bytes",
            "200000",
            "--jobs",
            "1",
        ],
    );
    let auth = format!("Bearer {token}");
    let ok = [("Authorization", auth.as_str())];
    let batches = || std::fs::read_dir(data.join("batches")).map_or(0, |d| d.count());

    // No token, a wrong token: 401 everywhere but health; nothing kept.
    let r = upload(
        &server,
        &[specs("shopify"), file("MUG01_1.png", "MUG01_1.png")],
        &[],
    );
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    assert_eq!(r.header("www-authenticate"), "Bearer");
    let r = upload(
        &server,
        &[specs("shopify"), file("MUG01_1.png", "MUG01_1.png")],
        &[("Authorization", "Bearer s3cret-token-for-tesTs")],
    );
    assert_eq!(r.status, 401);
    for path in ["/v1/specs", "/metrics", "/v1/openapi.json", "/v1/batches/x"] {
        assert_eq!(get(&server.url(path), &[]).status, 401, "{path}");
    }
    assert_eq!(get(&server.url("/healthz"), &[]).status, 200);
    assert_eq!(get(&server.url("/readyz"), &[]).status, 200);
    assert_eq!(batches(), 0);

    // Body over the limit (MUG01 and ROCKET02 are over 1.5 MB together).
    let big = [
        specs("shopify"),
        file("a.png", "MUG01_1.png"),
        file("b.png", "ROCKET02_1.png"),
        file("c.png", "MUG01_1.png"),
    ];
    let r = upload(&server, &big, &ok);
    assert_eq!(
        (r.status, r.code().as_str()),
        (413, "upload-too-large"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // Too many files.
    let small = ("files", Some("x.png"), vec![0u8; 10]);
    let many = [
        specs("shopify"),
        small.clone(),
        small.clone(),
        small.clone(),
        small.clone(),
    ];
    let r = upload(&server, &many, &ok);
    assert_eq!(
        (r.status, r.code().as_str()),
        (413, "upload-too-many-files")
    );
    // Unknown spec, no specs, not multipart.
    let r = upload(&server, &[specs("amazon"), small.clone()], &ok);
    assert_eq!((r.status, r.code().as_str()), (400, "spec-unknown"));
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("amazon-main"));
    let r = upload(&server, std::slice::from_ref(&small), &ok);
    assert_eq!((r.status, r.code().as_str()), (400, "usage-error"));
    let r = reply(
        agent()
            .post(&server.url("/v1/batches"))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send("{}"),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "upload-malformed"));
    assert_eq!(batches(), 0, "refused uploads keep nothing");

    // A file over the per-file limit fails alone; the rest of the batch goes on. A
    // control character in a name is dropped.
    let parts = [
        specs("shopify"),
        file("ADOBE04_1.jpg", "ADOBE04_1.jpg"),
        file("SUPPLIER03-main.jpg", "SUPPLIER03-main.jpg"),
        file("bad\tname.png", "GREY10_1.jpg"),
    ];
    let sizes: Vec<usize> = parts[1..].iter().map(|p| p.2.len()).collect();
    assert!(sizes[0] > 200_000 && sizes[1] < 200_000, "{sizes:?}");
    let r = upload(
        &server,
        &parts,
        &[("Authorization", &auth), ("Idempotency-Key", "batch-42")],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    // The same key again: the first batch, not a second.
    let again = upload(
        &server,
        &parts,
        &[("Authorization", &auth), ("Idempotency-Key", "batch-42")],
    );
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["id"], id.as_str());
    assert_eq!(again.json()["replayed"], true);
    assert_eq!(batches(), 1);
    // The same key with other files: refused, not answered with a batch it is not.
    let other = upload(
        &server,
        &[specs("shopify"), file("other.jpg", "GREY10_1.jpg")],
        &[("Authorization", &auth), ("Idempotency-Key", "batch-42")],
    );
    assert_eq!(
        (other.status, other.code().as_str()),
        (409, "idempotency-key-reused"),
        "{}",
        String::from_utf8_lossy(&other.body)
    );
    assert_eq!(batches(), 1);
    follow(&server, &id, &ok);
    let s = get(&server.url(&format!("/v1/batches/{id}")), &ok).json();
    let mug = s["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["source"] == "ADOBE04_1.jpg")
        .unwrap();
    assert_eq!(mug["state"], "failed");
    assert!(
        mug["line"].as_str().unwrap().contains("200000-byte limit"),
        "{mug}"
    );
    let h = get(
        &server.url(&format!(
            "/v1/assets/{}",
            mug["outputs"][0]["id"].as_str().unwrap()
        )),
        &ok,
    )
    .json();
    assert_eq!(h["error"]["code"], "decode-file-too-big");
    assert!(
        s["assets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["source"] == "badname.png" && a["state"] != "failed"),
        "{s}"
    );

    // A full queue: 503 with Retry-After while a batch is in flight. The queue counts
    // outputs: 5 photos x 3 specs fill 15, and the same again does not fit until they
    // are all done.
    drop(server);
    let server = Server::start(&data, &["--queue-capacity", "15", "--jobs", "1"]);
    let five: Vec<Part> = std::iter::once(specs("amazon-main,shopify,etsy"))
        .chain(["a", "b", "c", "d", "e"].map(|n| ("files", Some(n), fixture("ROCKET02_1.png"))))
        .collect();
    let r = upload(&server, &five, &[]);
    assert_eq!(r.status, 202);
    let busy = upload(&server, &five, &[]);
    assert_eq!((busy.status, busy.code().as_str()), (503, "server-busy"));
    assert!(busy.header("retry-after").parse::<u64>().unwrap() > 0);
    follow(&server, r.json()["id"].as_str().unwrap(), &[]);
    let after = upload(
        &server,
        &[specs("shopify"), file("MUG01_1.png", "MUG01_1.png")],
        &[],
    );
    assert_eq!(after.status, 202);
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

/// A server with the token `t0` and a reviewer `ana` (token `t-ana`), and the bytes of a
/// clean cut-out too small for amazon-main.
/// `serve` with its data folder `data` on the embedded default, or (`shared`) on a
/// PostgreSQL database and an S3 bucket of its own, as an API node of many machines runs.
fn start_on(shared: bool, data: &Path, extra: &[&str]) -> Server {
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

fn review_server() -> (tempfile::TempDir, Server, Vec<u8>) {
    review_server_on(false)
}

/// The review server ([`start_on`]).
fn review_server_on(shared: bool) -> (tempfile::TempDir, Server, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shelfready.toml");
    std::fs::write(&config, "token = \"t0\"\n\n[reviewers]\nana = \"t-ana\"\n").unwrap();
    // One worker thread: outputs wait in upload order (the queue's order is by waiting
    // time, and two threads can finish a small photo a second before a larger one).
    let server = start_on(
        shared,
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap(), "--jobs", "1"],
    );
    crate::util::small_cutout(&dir.path().join("small.png"));
    let small = std::fs::read(dir.path().join("small.png")).unwrap();
    (dir, server, small)
}

#[test]
fn the_review_queue_routes_by_cause_and_decisions_move_outputs_on() {
    let (_dir, server, small) = review_server();
    let main = [("authorization", "Bearer t0")];
    let ana = [("authorization", "Bearer t-ana")];
    let r = upload(
        &server,
        &[
            specs("amazon-main"),
            file("DEEP09_1.png", "DEEP09_1.png"),
            file("ADOBE04_1.jpg", "ADOBE04_1.jpg"),
            file("P3TAG05_1.png", "P3TAG05_1.png"),
            file("ROCKET02_1.png", "ROCKET02_1.png"),
            ("files", Some("small.png"), small.clone()),
        ],
        &main,
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    follow(&server, &id, &main);
    let sheet_url = server.url(&format!("/v1/batches/{id}/contact-sheet.png"));
    let before = get(&sheet_url, &main);
    assert_eq!(
        (before.status, before.header("content-type").as_str()),
        (200, "image/png")
    );
    let etag = before.header("etag");
    assert_eq!(
        get(&sheet_url, &[main[0], ("if-none-match", etag.as_str())]).status,
        304
    );
    // Four badges wait (amber), one is ready (green), none red yet.
    let amber = pixels_of(&before.body, AMBER);
    let green = pixels_of(&before.body, GREEN);
    assert!(amber > 3 * green && green > 300, "{amber} {green}");
    assert_eq!(pixels_of(&before.body, RED), 0);

    // The queue: routed by cause, each with its question, owner and deadline.
    let q = get(&server.url("/v1/review"), &ana).json();
    assert_eq!(q["count"], 4, "{q}");
    let item = |q: &Value, source: &str| {
        q["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["source"] == source)
            .unwrap_or_else(|| panic!("{source} not in {q}"))
            .clone()
    };
    assert_eq!(item(&q, "DEEP09_1.png")["route"], "supplier");
    let deep = item(&q, "small.png");
    assert_eq!(deep["route"], "supplier");
    assert_eq!(deep["checks"], serde_json::json!(["upscale"]));
    assert!(
        deep["questions"][0].as_str().unwrap().contains("enlarge"),
        "{deep}"
    );
    assert!(deep["due"].as_str().unwrap() > deep["since"].as_str().unwrap());
    assert_eq!(deep["overdue"], false);
    assert_eq!(item(&q, "ADOBE04_1.jpg")["route"], "retouch");
    // A busy photo too small for the canvas (P3TAG05, 752 px) is the supplier's first.
    assert_eq!(item(&q, "P3TAG05_1.png")["route"], "supplier");
    let only = get(&server.url("/v1/review?route=retouch"), &ana).json();
    assert_eq!(only["count"], 1);
    let by_check = get(&server.url("/v1/review?check=sharpness"), &ana).json();
    assert_eq!(by_check["count"], 1);
    assert_eq!(by_check["waiting"][0]["source"], "DEEP09_1.png");
    // The source and the output are both served for a side-by-side look.
    let src = get(&server.url(deep["source_file"].as_str().unwrap()), &ana);
    assert_eq!(src.status, 200);
    assert_eq!(src.body, small);

    // Approve with a reviewer's own token: recorded under their name.
    let adobe = item(&q, "ADOBE04_1.jpg")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let review_url = |asset: &str| server.url(&format!("/v1/assets/{asset}/review"));
    let r = post_json(
        &review_url(&adobe),
        &ana,
        &serde_json::json!({"decision": "approve", "note": "fine as an additional image"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let h = r.json();
    assert_eq!(h["state"], "approved");
    let last = h["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["actor"].as_str(), last["note"].as_str()),
        (Some("ana"), Some("fine as an additional image"))
    );
    let again = post_json(
        &review_url(&adobe),
        &ana,
        &serde_json::json!({"decision": "approve"}),
    );
    assert_eq!(
        (again.status, again.code()),
        (409, "review-not-waiting".to_string())
    );

    // Reject: a note is required.
    let p3 = item(&q, "P3TAG05_1.png")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post_json(
        &review_url(&p3),
        &main,
        &serde_json::json!({"decision": "reject"}),
    );
    assert_eq!(r.status, 400);
    let r = post_json(
        &review_url(&p3),
        &main,
        &serde_json::json!({"decision": "reject", "note": "not a main image"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["history"].as_array().unwrap().last().unwrap()["actor"],
        "api"
    );

    // Retry with a larger upscale allowance: the too-small product comes back ready.
    let deep_id = deep["id"].as_str().unwrap();
    let bad = post_json(
        &review_url(deep_id),
        &ana,
        &serde_json::json!({"decision": "retry", "override": {"max_upscale": 20}}),
    );
    assert_eq!(bad.status, 400, "{}", String::from_utf8_lossy(&bad.body));
    let r = post_json(
        &review_url(deep_id),
        &ana,
        &serde_json::json!({"decision": "retry", "override": {"max_upscale": 4}}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let h = r.json();
    assert_eq!(h["state"], "ready", "{h}");
    assert_eq!(h["overrides"]["max_upscale"], 4.0);
    let f = get(&server.url(&format!("/v1/assets/{deep_id}/file")), &ana);
    let img = image::load_from_memory(&f.body).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (2000, 2000));
    assert_eq!(get(&server.url("/v1/review"), &ana).json()["count"], 1);

    // Receipt closes a delivered handoff; a rejected output cannot be received.
    let rocket = get(&server.url(&format!("/v1/batches/{id}")), &main).json()["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["source"] == "ROCKET02_1.png")
        .unwrap()["outputs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post_json(
        &server.url(&format!("/v1/assets/{rocket}/receipt")),
        &main,
        &serde_json::json!({"by": "mockup"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["receipt"]["by"], "mockup");
    // The batch shows what was delivered and not yet acknowledged: the approved output and
    // the retried one, no longer the received rocket.
    let status = get(&server.url(&format!("/v1/batches/{id}")), &main).json();
    assert_eq!(status["awaiting_receipt"], 2, "{status}");
    let r = post_json(
        &server.url(&format!("/v1/assets/{p3}/receipt")),
        &main,
        &serde_json::json!({}),
    );
    assert_eq!(r.status, 409);

    // The batch manifest follows.
    let m = get(&server.url(&format!("/v1/batches/{id}/manifest")), &main).json();
    assert_eq!(m["summary"]["approved"], 1, "{}", m["summary"]);
    assert_eq!(m["summary"]["rejected"], 1);
    assert_eq!(m["summary"]["needs_review"], 1);
    // The contact sheet follows the decisions: a new sheet, one badge red (rejected), three
    // green (approved, retried to ready, ready), one still amber.
    let after = get(&sheet_url, &main);
    assert_ne!(after.header("etag"), etag);
    let (g, a, r) = (
        pixels_of(&after.body, GREEN),
        pixels_of(&after.body, AMBER),
        pixels_of(&after.body, RED),
    );
    assert!(g > 2 * green && a < amber / 2 && r > 300, "{g} {a} {r}");
    // A reviewer token is a token: without one, nothing.
    assert_eq!(get(&server.url("/v1/review"), &[]).status, 401);
    assert_eq!(get(&sheet_url, &[]).status, 401);
}

#[test]
fn a_batch_exports_over_http_and_an_approval_refreshes_its_exports() {
    let (dir, server, _) = review_server();
    let main = [("authorization", "Bearer t0")];
    let catalog = b"file,sku,title\nB07XJ8C8F5_1.png,B07XJ8C8F5,\"Rocket, model\"\nB07XJ8C8F5_2.jpg,B07XJ8C8F5,\n".to_vec();
    let r = upload(
        &server,
        &[
            specs("amazon-main,shopify"),
            file("B07XJ8C8F5_1.png", "ROCKET02_1.png"),
            file("B07XJ8C8F5_2.jpg", "ADOBE04_1.jpg"),
            ("catalog", Some("catalog.csv"), catalog),
        ],
        &main,
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    follow(&server, &id, &main);
    let export = |q: &str| get(&server.url(&format!("/v1/batches/{id}/export?{q}")), &main);

    // Amazon: the zip itself, MAIN only while the second photo waits for review.
    let r = export("format=amazon");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/zip");
    assert_eq!(r.header("x-shelfready-export-files"), "amazon-images-1.zip");
    assert_eq!(r.header("x-shelfready-left-out"), "1");
    let names =
        |bytes: &[u8]| -> Vec<String> { read_zip(bytes).into_iter().map(|(n, _)| n).collect() };
    assert_eq!(names(&r.body), ["B07XJ8C8F5.MAIN.jpg"]);
    let report = export("format=amazon&file=export.json").json();
    // Left out under the id the API knows it by.
    let left = report["left_out"][0]["asset"].as_str().unwrap().to_string();
    assert_eq!(
        get(&server.url(&format!("/v1/assets/{left}")), &main).status,
        200
    );
    assert!(report["left_out"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("not ready"));
    // Shopify needs to know where the images will be; then a zip of the CSV and images.
    let r = export("format=shopify");
    assert_eq!((r.status, r.code()), (400, "usage-error".to_string()));
    let r = export("format=shopify&base_url=https://cdn.example.com/b");
    assert_eq!(r.status, 200);
    let files: BTreeMap<String, Vec<u8>> = read_zip(&r.body).into_iter().collect();
    let csv = String::from_utf8(files["products.csv"].clone()).unwrap();
    assert_eq!(
        csv,
        "Title,URL handle,Product image URL,Image position,Image alt text\r\n\
         \"Rocket, model\",rocket-model,https://cdn.example.com/b/images/rocket-model-1.jpg,1,\r\n"
    );
    assert!(files.contains_key("images/rocket-model-1.jpg") && files.contains_key("export.json"));
    assert_eq!(export("format=ebay").status, 400);
    // Nothing made for Google in this batch: said, not an empty feed.
    let r = export("format=google&base_url=https://cdn.example.com/b");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nothing in batch"));
    assert_eq!(export("format=json&file=../manifest.json").status, 404);

    // Approving the waiting photo makes the batch's exports again, on the server's disk,
    // before anyone asks for them.
    let waiting = get(&server.url("/v1/review"), &main).json();
    let adobe = waiting["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["spec_id"] == "amazon-main")
        .unwrap_or_else(|| panic!("{waiting}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post_json(
        &server.url(&format!("/v1/assets/{adobe}/review")),
        &main,
        &serde_json::json!({"decision": "approve"}),
    );
    assert_eq!(r.status, 200);
    let zip = files_under(&dir.path().join("data"))
        .into_iter()
        .find(|p| p.ends_with("exports/amazon/amazon-images-1.zip"))
        .unwrap();
    assert_eq!(
        names(&std::fs::read(&zip).unwrap()),
        ["B07XJ8C8F5.MAIN.jpg", "B07XJ8C8F5.PT01.jpg"]
    );
    let r = export("format=amazon");
    assert_eq!(r.header("x-shelfready-left-out"), "0");
    assert_eq!(r.body, std::fs::read(&zip).unwrap());
}

#[test]
fn the_review_page_clears_a_queue_by_keyboard_in_a_real_browser() {
    review_page_clears_a_queue_by_keyboard(false);
}

/// The same page and keys on an API node over PostgreSQL and a bucket: decisions and the
/// retry go through the shared database, images stream from the bucket.
#[test]
fn the_review_page_clears_a_queue_by_keyboard_on_postgresql_and_a_bucket() {
    review_page_clears_a_queue_by_keyboard(true);
}

fn review_page_clears_a_queue_by_keyboard(shared: bool) {
    let (_dir, server, small) = review_server_on(shared);
    let main = [("authorization", "Bearer t0")];
    let r = upload(
        &server,
        &[
            specs("amazon-main"),
            file("ADOBE04_1.jpg", "ADOBE04_1.jpg"),
            file("P3TAG05_1.png", "P3TAG05_1.png"),
            ("files", Some("small.png"), small.clone()),
        ],
        &main,
    );
    assert_eq!(r.status, 202);
    let id = r.json()["id"].as_str().unwrap().to_string();
    follow(&server, &id, &main);
    // The page holds no data: it is served without a token, and calls the API with one.
    let page = get(&server.url("/review"), &[]);
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));

    let b = crate::browser::Browser::start();
    b.goto(&server.url("/review#token=t-ana"));
    b.wait_until(
        "three cards with their images",
        "const imgs = [...document.querySelectorAll('.card img')];
         return document.querySelectorAll('.card').length === 3
           && imgs.every(i => i.complete && i.naturalWidth > 0);",
    );
    // Screenshots for a person to look at, when asked for.
    let shots = std::env::var_os("SHELFREADY_SCREENSHOTS").map(std::path::PathBuf::from);
    let shot = |name: &str| {
        if let Some(d) = &shots {
            std::fs::create_dir_all(d).unwrap();
            let name = if shared {
                format!("shared-{name}")
            } else {
                name.to_string()
            };
            std::fs::write(d.join(name), b.screenshot()).unwrap();
        }
    };
    shot("review-1.png");
    let ids: Vec<String> = serde_json::from_value(
        b.script("return [...document.querySelectorAll('.card')].map(c => c.dataset.id)"),
    )
    .unwrap();
    let state = |asset: &str| get(&server.url(&format!("/v1/assets/{asset}")), &main).json();

    // `a` approves the first; focus moves on by itself.
    b.press("a");
    b.wait_until(
        "the approval",
        "return document.querySelector('.card[data-decided]') !== null",
    );
    // `r`, a reason, Enter rejects the next.
    b.press("r");
    b.wait_until(
        "the reason field",
        "return document.activeElement && document.activeElement.name === 'note'",
    );
    b.press("not a main image\u{E007}");
    b.wait_until(
        "the rejection",
        "return document.querySelectorAll('.card[data-decided]').length === 2",
    );
    shot("review-2.png");

    let first = state(&ids[0]);
    assert_eq!(first["state"], "approved", "{first}");
    let last = first["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "ana");
    let second = state(&ids[1]);
    assert_eq!(second["state"], "rejected", "{second}");
    let last = second["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["actor"].as_str(), last["note"].as_str()),
        (Some("ana"), Some("not a main image"))
    );
    // The third still waits and has the focus; the page says so.
    assert_eq!(state(&ids[2])["state"], "needs_review");
    assert_eq!(
        b.script("return document.activeElement.dataset.id"),
        Value::String(ids[2].clone())
    );
    assert_eq!(
        b.script("return document.getElementById('summary').textContent"),
        Value::String("1 of 3 waiting".into())
    );
    assert_eq!(get(&server.url("/v1/review"), &main).json()["count"], 1);

    // `z` shows the output at 100%; Esc closes it and gives the focus back.
    b.press("z");
    b.wait_until(
        "the output at 100%",
        "const i = document.getElementById('zoom-img');
         return document.getElementById('zoom').dataset.shown && i.naturalWidth === 2000;",
    );
    shot("review-zoom.png");
    // It opens on the middle of the image, where the product is.
    let scrolled =
        b.script("const z = document.getElementById('zoom'); return [z.scrollLeft, z.scrollTop];");
    assert!(
        scrolled[0].as_f64().unwrap() > 300.0 && scrolled[1].as_f64().unwrap() > 300.0,
        "{scrolled}"
    );
    b.press("\u{E00C}");
    b.wait_until(
        "the zoom closed",
        &format!(
            "return document.getElementById('zoom').hidden
               && document.activeElement.dataset.id === '{}'",
            ids[2]
        ),
    );
    // `t` opens the retry form; a larger upscale allowance and Enter make the too-small
    // cut-out again, and it comes back ready.
    assert_eq!(state(&ids[2])["provenance"]["source_key"], "small.png");
    b.press("t");
    b.wait_until(
        "the retry form",
        "return document.activeElement && document.activeElement.name === 'fill_ratio'",
    );
    b.script("document.activeElement.form.elements.max_upscale.value = '4';");
    shot("review-retry.png");
    b.press("\u{E007}");
    b.wait_until(
        "the retry",
        "return document.querySelectorAll('.card[data-decided]').length === 3",
    );
    let retried = state(&ids[2]);
    assert_eq!(retried["state"], "ready", "{retried}");
    assert_eq!(retried["overrides"]["max_upscale"], 4.0);
    assert_eq!(
        b.script("return document.getElementById('summary').textContent"),
        Value::String("0 of 3 waiting: the queue is clear".into())
    );

    // The batch page: every output with its state; the filter shows one state.
    b.goto(&server.url(&format!("/batches/{id}")));
    b.wait_until(
        "the contact sheet",
        "const imgs = [...document.querySelectorAll('.tile img')];
         return imgs.length === 3 && imgs.every(i => i.complete && i.naturalWidth > 0);",
    );
    let badges: Vec<String> = serde_json::from_value(
        b.script("return [...document.querySelectorAll('.tile .badge')].map(x => x.textContent)"),
    )
    .unwrap();
    let mut sorted = badges.clone();
    sorted.sort();
    assert_eq!(sorted, ["approved", "ready", "rejected"]);
    shot("batch-1.png");
    // The same sheet as a PNG, fetched with the token.
    b.script("document.getElementById('sheet-png').click();");
    b.wait_until(
        "the contact sheet PNG",
        "const s = document.getElementById('sheet-png');
         return !s.disabled && s.textContent === 'Contact sheet (PNG)';",
    );
    b.script(
        "const s = document.getElementById('state'); s.value = 'rejected';
         s.dispatchEvent(new Event('change'));",
    );
    assert_eq!(
        b.script("return [...document.querySelectorAll('.tile')].filter(t => !t.hidden).length"),
        Value::from(1)
    );

    // The same photo sent in two uploads waits twice: each card names its batch and the
    // other one it also waits in.
    let mut twice = Vec::new();
    for _ in 0..2 {
        let r = upload(
            &server,
            &[
                specs("amazon-main"),
                ("files", Some("small.png"), small.clone()),
            ],
            &main,
        );
        assert_eq!(r.status, 202);
        let id = r.json()["id"].as_str().unwrap().to_string();
        follow(&server, &id, &main);
        twice.push(id);
    }
    b.goto(&server.url("/review#token=t-ana"));
    b.wait_until(
        "two cards",
        "return document.querySelectorAll('.card .batch a').length === 2;",
    );
    let lines: Vec<String> = serde_json::from_value(
        b.script("return [...document.querySelectorAll('.card .batch')].map(x => x.textContent)"),
    )
    .unwrap();
    for (own, other) in [(&twice[0], &twice[1]), (&twice[1], &twice[0])] {
        assert!(
            lines
                .iter()
                .any(|l| l == &format!("Batch {own} also waiting in {other}")),
            "{lines:?}"
        );
    }
    shot("review-twice.png");
}

/// A webhook receiver on loopback: answers 500 to its first request and 200 after, and keeps
/// each request's headers (lowercased) and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn webhook_receiver() -> (String, Received) {
    use std::io::{BufRead, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Received = Arc::new(Mutex::new(Vec::new()));
    let got2 = got.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line.to_ascii_lowercase());
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let first = {
                let mut g = got2.lock().unwrap();
                g.push((head, body));
                g.len() == 1
            };
            let status = if first {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, got)
}

#[test]
fn webhooks_are_signed_retried_after_a_500_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shelfready.toml");
    std::fs::write(
        &config,
        "webhook_secret = \"k3y\"\nwebhook_retry_secs = 1\nallow_private_urls = true\n",
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let (hook, got) = webhook_receiver();
    let r = upload(
        &server,
        &[
            specs("amazon-main"),
            file("ROCKET02_1.png", "ROCKET02_1.png"),
            ("webhook", None, hook.clone().into_bytes()),
        ],
        &[],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    follow(&server, &id, &[]);
    // The first attempt gets 500; the retry, a second later, is delivered.
    let start = std::time::Instant::now();
    while got.lock().unwrap().len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(30), "no retry came");
        std::thread::sleep(Duration::from_millis(50));
    }
    let requests = got.lock().unwrap().clone();
    assert_eq!(requests[0].1, requests[1].1, "a retry sends the same body");
    let (head, body) = &requests[1];
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["event"], "ready");
    assert_eq!(v["batch"], id);
    assert_eq!(v["handoff"]["state"], "ready");
    assert!(head.contains("x-shelfready-event: ready"), "{head}");
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k3y").unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        head.contains(&format!("x-shelfready-signature: sha256={hex}")),
        "{head}"
    );
    // Each attempt is recorded.
    let start = std::time::Instant::now();
    let d = loop {
        let d = get(&server.url(&format!("/v1/batches/{id}/deliveries")), &[]).json();
        if !d[0]["delivered_at"].is_null() {
            break d;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{d}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(d.as_array().unwrap().len(), 1, "{d}");
    assert_eq!(
        (d[0]["attempts"].as_i64(), d[0]["status"].as_i64()),
        (Some(2), Some(200))
    );
    assert_eq!(d[0]["event"], "ready");

    // A webhook needs the server's secret to sign with.
    let plain = Server::start(&dir.path().join("data2"), &[]);
    let r = upload(
        &plain,
        &[
            specs("amazon-main"),
            file("ROCKET02_1.png", "ROCKET02_1.png"),
            ("webhook", None, hook.into_bytes()),
        ],
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("webhook_secret"));
}

#[test]
fn an_overdue_output_comes_first_is_counted_and_notified_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shelfready.toml");
    // One route, due about a second after an output starts waiting.
    std::fs::write(
        &config,
        "webhook_secret = \"k\"\nwebhook_retry_secs = 1\nallow_private_urls = true\n\n\
         [[routes]]\nname = \"review\"\nowner = \"studio\"\naction = \"look at it\"\ndue_hours = 0.0003\n",
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    crate::util::small_cutout(&dir.path().join("small.png"));
    let (hook, got) = webhook_receiver();
    let r = upload(
        &server,
        &[
            specs("amazon-main"),
            (
                "files",
                Some("small.png"),
                std::fs::read(dir.path().join("small.png")).unwrap(),
            ),
            ("webhook", None, hook.into_bytes()),
        ],
        &[],
    );
    assert_eq!(r.status, 202);
    let id = r.json()["id"].as_str().unwrap().to_string();
    follow(&server, &id, &[]);
    let events = || -> Vec<String> {
        got.lock()
            .unwrap()
            .iter()
            .map(|(_, b)| {
                serde_json::from_slice::<Value>(b).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let start = Instant::now();
    while !events().contains(&"overdue".to_string()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no overdue notice: {:?}",
            events()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let q = get(&server.url("/v1/review"), &[]).json();
    assert_eq!(
        (q["overdue"].as_i64(), q["waiting"][0]["overdue"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(q["waiting"][0]["owner"], "studio");
    let metrics = String::from_utf8(get(&server.url("/metrics"), &[]).body).unwrap();
    assert!(
        metrics.contains("shelfready_outputs_overdue 1"),
        "{metrics}"
    );
    // Once: later checks do not send it again.
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(
        events().iter().filter(|e| *e == "overdue").count(),
        1,
        "{:?}",
        events()
    );
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
