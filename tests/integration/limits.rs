//! What a client may ask of `serve`, on the real binary: specs named once and counted
//! against the queue, fields that are never echoed, connections that must send their
//! headers and bodies in time, tokens that may only do their role's work, and a server
//! without a token that serves only this machine's own requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::server::{
    agent, file, fixture, follow, get, post_json, reply, specs, upload, Part, Server,
};

/// The server's `host:port`.
fn address(server: &Server) -> String {
    server.url("").trim_start_matches("http://").to_string()
}

/// Sends `request` as it is on a new connection and returns the status code of the
/// answer (0 if the connection was closed without one).
fn raw(server: &Server, request: &str) -> u16 {
    let mut s = TcpStream::connect(address(server)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_upload_names_each_spec_once_and_its_fields_are_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--queue-capacity", "4"]);
    // 5,000 repeats of one spec are one spec.
    let repeated = vec!["amazon-main"; 5000].join(",");
    let r = upload(
        &server,
        &[
            ("specs", None, repeated.into_bytes()),
            file("MUG01_1.png", "MUG01_1.png"),
        ],
        &[],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["specs"], serde_json::json!(["amazon-main"]));

    // More than 16 distinct specs, and a field over the 64 KiB of a text field (small
    // enough to be read through before the answer): refused, and what was
    // sent is not in the answer.
    let many: Vec<String> = (0..17).map(|i| format!("spec-{i}")).collect();
    let r = upload(
        &server,
        &[specs(&many.join(",")), file("MUG01_1.png", "MUG01_1.png")],
        &[],
    );
    assert_eq!(r.status, 400);
    assert!(!String::from_utf8_lossy(&r.body).contains("spec-16"));
    let huge = format!("amazon-main,{}", "Z".repeat(200_000));
    let r = upload(
        &server,
        &[
            ("specs", None, huge.into_bytes()),
            file("a.png", "MUG01_1.png"),
        ],
        &[],
    );
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.len() < 1000 && !String::from_utf8_lossy(&r.body).contains("ZZZZ"));
    // 30 MB of it, sent whole without waiting for a 100 Continue: the rest of the refused
    // field is read through, so the client finishes sending and hears the 413.
    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"specs\"\r\n\r\n{}\r\n--{boundary}--\r\n",
        "Z".repeat(30 << 20)
    );
    let request = format!(
        "POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(raw(&server, &request), 413);

    // The queue holds 4 outputs: 3 photos x 2 specs is more than it ever takes.
    let r = upload(
        &server,
        &[
            specs("amazon-main,shopify"),
            file("a.png", "MUG01_1.png"),
            file("b.png", "ROCKET02_1.png"),
            file("c.png", "GREY10_1.jpg"),
        ],
        &[],
    );
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "upload-too-large");
    assert!(String::from_utf8_lossy(&r.body).contains("6 outputs"));
}

#[test]
fn slow_clients_are_cut_off_and_the_server_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--max-connections",
            "8",
            "--header-timeout-secs",
            "1",
            "--body-timeout-secs",
            "1",
        ],
    );
    // Twenty clients that never finish their headers, more than the cap: some send half a
    // request, some nothing at all, some an HTTP/2 preface and then nothing.
    let slow: Vec<TcpStream> = (0..20)
        .map(|i| {
            let mut s = TcpStream::connect(address(&server)).unwrap();
            let sent: &[u8] = match i % 3 {
                0 => b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                1 => b"",
                _ => b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            };
            s.write_all(sent).unwrap();
            s
        })
        .collect();
    let start = Instant::now();
    let r = get(&server.url("/healthz"), &[]);
    assert_eq!(r.status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "/healthz took {:?}",
        start.elapsed()
    );
    // Each slow client was closed by the server.
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let closed = s.read_to_end(&mut buf).is_ok();
        assert!(closed, "a connection without headers was left open");
    }
    // A body that stops half-way is cut off, and nothing is kept of it.
    let head = format!(
        "POST /v1/batches HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=X\r\nContent-Length: 100000\r\n\r\n--X\r\nContent-Disposition: form-data; name=\"specs\"\r\n\r\namazon-main\r\n--X\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n\r\n\u{89}PNG",
        address(&server)
    );
    let start = Instant::now();
    let status = raw(&server, &head);
    assert!(status == 0 || status >= 400, "{status}");
    assert!(start.elapsed() < Duration::from_secs(10));
    let kept = std::fs::read_dir(dir.path().join("data").join("batches")).map_or(0, |d| d.count());
    assert_eq!(kept, 0);
}

#[test]
fn each_token_may_do_only_its_roles_work_and_decisions_are_recorded_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shelfready.toml");
    std::fs::write(
        &config,
        "token = \"t0\"\n\n[reviewers]\nana = \"t-ana\"\n\n[readers]\ncarl = \"t-carl\"\n",
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let op = [("authorization", "Bearer t0")];
    let ana = [("authorization", "Bearer t-ana")];
    let carl = [("authorization", "Bearer t-carl")];
    let parts = [specs("amazon-main"), file("MUG01_1.png", "MUG01_1.png")];
    // Only the operator's token uploads and deletes.
    for who in [&ana, &carl] {
        let r = upload(&server, &parts, who);
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.code(), "forbidden");
    }
    let r = upload(&server, &parts, &op);
    assert_eq!(r.status, 202);
    let id = r.json()["id"].as_str().unwrap().to_string();
    crate::server::follow(&server, &id, &op);
    let batch = server.url(&format!("/v1/batches/{id}"));
    let delete = |h: &[(&str, &str)]| {
        let mut req = crate::server::agent().delete(&batch);
        for (k, v) in h {
            req = req.header(*k, *v);
        }
        crate::server::reply(req.call()).status
    };
    assert_eq!(delete(&ana), 403);
    assert_eq!(delete(&carl), 403);
    // Everyone reads.
    for who in [&op, &ana, &carl] {
        assert_eq!(get(&batch, who).status, 200);
    }
    let asset = get(&batch, &op).json()["assets"][0]["outputs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let receipt = server.url(&format!("/v1/assets/{asset}/receipt"));
    // A reader confirms nothing; a reviewer confirms under their own name only.
    assert_eq!(
        post_json(&receipt, &carl, &serde_json::json!({})).status,
        403
    );
    let r = post_json(&receipt, &ana, &serde_json::json!({"by": "mockup"}));
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let r = post_json(
        &receipt,
        &ana,
        &serde_json::json!({"note": "in the mockup"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["receipt"]["by"], "ana");
    // A decision names nobody but the token's holder.
    let review = server.url(&format!("/v1/assets/{asset}/review"));
    let r = post_json(
        &review,
        &op,
        &serde_json::json!({"decision": "approve", "reviewer": "ana"}),
    );
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(delete(&op), 204);
}

#[test]
fn without_a_token_only_this_machines_own_requests_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let host = address(&server);
    let ask = |head: &str| raw(&server, &format!("{head}\r\nConnection: close\r\n\r\n"));
    assert_eq!(ask(&format!("GET /v1/specs HTTP/1.1\r\nHost: {host}")), 200);
    assert_eq!(ask("GET /v1/specs HTTP/1.1\r\nHost: localhost:1"), 200);
    // DNS rebinding: another site's name pointing here.
    assert_eq!(ask("GET /v1/specs HTTP/1.1\r\nHost: evil.example"), 403);
    assert_eq!(
        ask(&format!(
            "GET /v1/batches HTTP/1.1\r\nHost: {host}\r\nSec-Fetch-Site: cross-site"
        )),
        403
    );
    // A form on another site posting here.
    let form = format!(
        "POST /v1/batches HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example\r\nContent-Type: multipart/form-data; boundary=X\r\nContent-Length: 8\r\n\r\n--X--\r\n\r\n"
    );
    assert_eq!(raw(&server, &form), 403);
    // The server's own page may.
    let own = format!(
        "GET /v1/review HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nSec-Fetch-Site: same-origin\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(&server, &own), 200);
    assert_eq!(
        std::fs::read_dir(dir.path().join("data").join("batches")).map_or(0, |d| d.count()),
        0
    );
}

/// Posts `body` as a multipart upload with boundary `B` on a new connection, sending it
/// from another thread (the answer may come before the body is sent); the answer's text.
fn raw_upload(server: &Server, body: Vec<u8>) -> String {
    let mut s = TcpStream::connect(address(server)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut w = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = w.write_all(head.as_bytes());
        let _ = w.write_all(&body);
    });
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    drop(s);
    let _ = sender.join();
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn multipart_framing_past_its_allowance_is_refused_without_being_held() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    // One part whose headers never end: 24 MiB of one header line, under the body limit.
    let mut body = b"--B\r\nContent-Disposition: form-data; name=\"specs\"\r\nX-Pad: ".to_vec();
    body.resize(body.len() + (24 << 20), b'A');
    let answer = raw_upload(&server, body);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(
        answer.contains("upload-malformed") && answer.contains("framing"),
        "{answer}"
    );
    assert!(!answer.contains("AAAA"));
    // Fifty thousand empty parts of long headers: framing too, not content.
    let part = format!(
        "--B\r\nContent-Disposition: form-data; name=\"x\"\r\nX-Pad: {}\r\n\r\n\r\n",
        "A".repeat(400)
    );
    let answer = raw_upload(&server, part.repeat(50_000).into_bytes());
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(answer.contains("framing"), "{answer}");
    // The server goes on: an ordinary upload is taken.
    let r = upload(
        &server,
        &[specs("amazon-main"), file("MUG01_1.png", "MUG01_1.png")],
        &[],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
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
