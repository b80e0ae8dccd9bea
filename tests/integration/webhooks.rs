//! Webhooks and overdue notices from `serve`: signed, retried after a failure, recorded,
//! and an overdue output's notice sent once.

use std::io::BufReader;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::{file, follow, get, specs, upload, Server};

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
