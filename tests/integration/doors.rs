//! One batch, one truth at every door: what one door does to a batch (the command line, the
//! HTTP API, the watched inbox) every other door sees. Each test is named after the
//! disagreement it guards against; all run the real binary, a real server on port 0 and
//! real folders.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::server::{file, follow, get, read_zip, specs, upload, Server};
use crate::util::{assert_exit, fixtures, read_json, shelfready, small_cutout};

/// The first watched batch the server lists, once it is in `state`.
fn watched_batch(server: &Server, state: &str) -> Value {
    crate::util::wait_for(
        &format!("a watched batch {state}"),
        Duration::from_secs(120),
        || {
            let list = get(&server.url("/v1/batches"), &[]).json();
            list.as_array()?
                .iter()
                .find(|b| b["origin"] == "watch" && b["state"] == state)
                .cloned()
        },
    )
}

#[test]
fn a_cli_decision_on_a_served_batch_is_the_decision_at_every_door() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_cutout(&dir.path().join("small.png"));
    let small = std::fs::read(dir.path().join("small.png")).unwrap();
    let mut server = Server::start(&data, &[]);
    let r = upload(
        &server,
        &[
            specs("amazon-main"),
            file("MUG01_1.png", "MUG01_1.png"),
            ("files", Some("small.png"), small),
        ],
        &[],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let events = follow(&server, &id, &[]);
    let waiting = events
        .iter()
        .find(|e| e["asset"]["state"] == "needs_review")
        .unwrap_or_else(|| panic!("nothing waits: {events:?}"))["asset"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let batch_dir = data.join("batches").join(&id);

    // While the server holds the data folder, the command line refuses and names the route.
    let o = shelfready(&[
        "review",
        batch_dir.to_str().unwrap(),
        "--approve",
        "small.amazon-main",
    ]);
    assert_exit(&o, 75);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("POST /v1/assets/"), "{err}");
    assert_eq!(
        get(&server.url(&format!("/v1/assets/{waiting}")), &[]).json()["state"],
        "needs_review"
    );
    // Listing reads beside the server.
    let o = shelfready(&["review", batch_dir.to_str().unwrap()]);
    assert_exit(&o, 2);
    assert!(String::from_utf8_lossy(&o.stdout).contains("small.amazon-main"));

    // A JSON export made now leaves the waiting output out.
    let r = get(
        &server.url(&format!("/v1/batches/{id}/export?format=json")),
        &[],
    );
    assert_eq!(r.status, 200);
    let made = batch_dir.join("exports/json/export.json");
    assert_eq!(read_json(&made)["left_out"].as_array().unwrap().len(), 1);

    // With the server stopped, the decision goes through its job store.
    assert_eq!(server.signal("-TERM"), Some(0));
    let o = shelfready(&[
        "review",
        batch_dir.to_str().unwrap(),
        "--approve",
        "small.amazon-main",
        "--reviewer",
        "ana",
    ]);
    assert_exit(&o, 0);
    // The export the batch had is made again by the decision itself.
    let remade = read_json(&made);
    assert_eq!(remade["left_out"].as_array().unwrap().len(), 0, "{remade}");
    let server = Server::start(&data, &[]);
    let h = get(&server.url(&format!("/v1/assets/{waiting}")), &[]).json();
    assert_eq!(h["state"], "approved", "{h}");
    assert_eq!(
        h["history"].as_array().unwrap().last().unwrap()["actor"],
        "ana"
    );
    let m = get(&server.url(&format!("/v1/batches/{id}/manifest")), &[]).json();
    assert_eq!(m["summary"]["approved"], 1, "{}", m["summary"]);
    assert_eq!(m["summary"]["needs_review"], 0);
    assert_eq!(
        get(&server.url("/v1/review"), &[]).json()["count"],
        0,
        "the review queue still lists it"
    );
    // Both exports see the approval.
    let http = get(
        &server.url(&format!("/v1/batches/{id}/export?format=json")),
        &[],
    );
    assert_eq!(http.status, 200);
    let out = dir.path().join("exports");
    let o = shelfready(&[
        "export",
        batch_dir.to_str().unwrap(),
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let cli = read_json(&out.join("json/export.json"));
    let http_report = get(
        &server.url(&format!(
            "/v1/batches/{id}/export?format=json&file=export.json"
        )),
        &[],
    )
    .json();
    assert_eq!(cli["left_out"], http_report["left_out"]);
    assert_eq!(cli["left_out"].as_array().unwrap().len(), 0, "{cli}");
}

#[test]
fn a_batch_taken_by_serve_watch_streams_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, outbox) = (dir.path().join("inbox"), dir.path().join("outbox"));
    std::fs::create_dir_all(&inbox).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--jobs",
            "1",
            "--watch",
            inbox.to_str().unwrap(),
            "--watch-out",
            outbox.to_str().unwrap(),
            "--watch-specs",
            "amazon-main,shopify",
            "--watch-settle-ms",
            "200",
        ],
    );
    // Enough work, on one thread, that the stream is followed while the batch runs.
    let drop = inbox.join("order-7");
    std::fs::create_dir_all(&drop).unwrap();
    let photos = [
        "MUG01_1.png",
        "ROCKET02_1.png",
        "DEEP09_1.png",
        "P3TAG05_1.png",
        "ADOBE04_1.jpg",
    ];
    for p in photos {
        std::fs::copy(fixtures().join(p), drop.join(p)).unwrap();
    }
    let batch = watched_batch(&server, "processing");
    let id = batch["id"].as_str().unwrap();
    let events = follow(&server, id, &[]);
    assert_eq!(events.last().unwrap()["kind"], "settled");
    let assets: Vec<&Value> = events.iter().filter(|e| e["kind"] == "asset").collect();
    assert_eq!(assets.len(), photos.len() * 2, "{events:?}");
    for e in &assets {
        let aid = e["asset"]["id"].as_str().unwrap();
        let h = get(&server.url(&format!("/v1/assets/{aid}")), &[]).json();
        assert_eq!(h["state"], e["asset"]["state"], "{h}");
    }
}

#[test]
fn a_cli_retry_of_a_watched_source_finds_it_in_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, outbox, data) = (
        dir.path().join("inbox"),
        dir.path().join("outbox"),
        dir.path().join("data"),
    );
    std::fs::create_dir_all(inbox.join("drop-1")).unwrap();
    small_cutout(&inbox.join("drop-1/small.png"));
    let o = shelfready(&[
        "watch",
        inbox.to_str().unwrap(),
        "--out",
        outbox.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--settle-ms",
        "100",
        "--once",
    ]);
    assert_exit(&o, 0);
    assert!(inbox.join("archive/drop-1/small.png").is_file());
    let drop_out = outbox.join("drop-1");
    let h = read_json(&drop_out.join("manifests/small.amazon-main.json"));
    assert_eq!(h["state"], "needs_review", "{h}");
    let o = shelfready(&[
        "review",
        drop_out.to_str().unwrap(),
        "--retry",
        "small.amazon-main",
        "--max-upscale",
        "8",
    ]);
    assert_exit(&o, 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("small.amazon-main: ready"));
    let h = read_json(&drop_out.join("manifests/small.amazon-main.json"));
    assert_eq!(h["state"], "ready", "{h}");
    let m = read_json(&drop_out.join("manifest.json"));
    assert_eq!(m["summary"]["ready"], 1, "{}", m["summary"]);
    // The store the server would read says the same.
    let server = Server::start(&data, &[]);
    let b = watched_batch(&server, "settled");
    let s = get(&server.url(b["links"]["status"].as_str().unwrap()), &[]).json();
    assert_eq!(s["assets"][0]["outputs"][0]["state"], "ready", "{s}");
}

#[test]
fn the_default_download_holds_ready_and_approved_outputs_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    small_cutout(&dir.path().join("small.png"));
    let r = upload(
        &server,
        &[
            specs("amazon-main"),
            file("MUG01_1.png", "MUG01_1.png"),
            file("BROKEN08_1.png", "BROKEN08_1.png"),
            (
                "files",
                Some("small.png"),
                std::fs::read(dir.path().join("small.png")).unwrap(),
            ),
        ],
        &[],
    );
    let id = r.json()["id"].as_str().unwrap().to_string();
    follow(&server, &id, &[]);
    let names = |zip: &[u8]| -> Vec<String> {
        let mut n: Vec<String> = read_zip(zip).into_iter().map(|(n, _)| n).collect();
        n.sort();
        n
    };
    let d = get(&server.url(&format!("/v1/batches/{id}/download")), &[]);
    assert_eq!(d.status, 200);
    assert_eq!(
        names(&d.body),
        [
            "manifest.json",
            "manifests/MUG01_1.amazon-main.json",
            "outputs/amazon-main/MUG01_1.jpg"
        ]
    );
    let all = get(
        &server.url(&format!("/v1/batches/{id}/download?outputs=all")),
        &[],
    );
    assert_eq!(all.status, 200);
    assert_eq!(
        names(&all.body),
        [
            "manifest.json",
            "manifests/BROKEN08_1.amazon-main.json",
            "manifests/MUG01_1.amazon-main.json",
            "manifests/small.amazon-main.json",
            "outputs/needs_review/amazon-main/small.jpg",
            "outputs/ready/amazon-main/MUG01_1.jpg",
        ]
    );
    let bad = get(
        &server.url(&format!("/v1/batches/{id}/download?outputs=some")),
        &[],
    );
    assert_eq!((bad.status, bad.code().as_str()), (400, "usage-error"));
}

/// Peak resident memory of a process so far (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

/// A large cut-out as a background remover writes one: a grainy product on transparency.
fn large_cutout(path: &Path, w: u32, h: u32, seed: u32) {
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (
            (x as f32 - w as f32 / 2.0) / (w as f32 * 0.35),
            (y as f32 - h as f32 / 2.0) / (h as f32 * 0.4),
        );
        if dx * dx + dy * dy > 1.0 {
            return image::Rgba([0, 0, 0, 0]);
        }
        let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed) % 23;
        image::Rgba([120 + n as u8, 60 + (x % 50) as u8, 40 + (y % 40) as u8, 255])
    });
    img.save(path).unwrap();
}

#[test]
fn a_burst_of_previews_stays_inside_the_engines_bound() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--jobs", "2"]);
    let mut parts = vec![specs("shopify")];
    for i in 0..6u32 {
        let p = dir.path().join(format!("big{i}.png"));
        large_cutout(&p, 3000 + 200 * (i % 3), 4000, i);
        parts.push((
            "files",
            Some(
                [
                    "big0.png", "big1.png", "big2.png", "big3.png", "big4.png", "big5.png",
                ][i as usize],
            ),
            std::fs::read(&p).unwrap(),
        ));
    }
    let r = upload(&server, &parts, &[]);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let events = follow(&server, &id, &[]);
    let ids: Vec<String> = events
        .iter()
        .filter_map(|e| e["asset"]["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 6);
    let pid = server.child.id();
    // The work's own peak: six 12-13 MP sources through the engine's two lanes.
    let work = peak_rss(pid);
    // Fifty previews of the large sources at once, each a size not made before.
    let handles: Vec<_> = (0..50u32)
        .map(|i| {
            let url = server.url(&format!(
                "/v1/assets/{}/thumb?of=source&size={}",
                ids[i as usize % ids.len()],
                64 + i * 19
            ));
            std::thread::spawn(move || get(&url, &[]).status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    let burst = peak_rss(pid);
    eprintln!(
        "peak RSS: {} MB after the batch, {} MB after 50 previews",
        work >> 20,
        burst >> 20
    );
    assert!(
        burst <= work + work / 4,
        "50 previews took the server from {} MB to {} MB",
        work >> 20,
        burst >> 20
    );
}

#[test]
fn exit_codes_are_the_ones_each_help_names() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let m = missing.to_str().unwrap();
    assert_exit(&shelfready(&["export", "--format", "json", m]), 66);
    let nowhere = dir.path().join("nowhere");
    assert_exit(
        &shelfready(&["process", m, "--out", nowhere.to_str().unwrap()]),
        66,
    );
    assert_exit(&shelfready(&["check", m]), 66);
    assert_exit(&shelfready(&["review", m]), 66);
    let out = dir.path().join("out");
    assert_exit(
        &shelfready(&[
            "process",
            fixtures().join("MUG01_1.png").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]),
        0,
    );
    let o = shelfready(&[
        "review",
        out.to_str().unwrap(),
        "--approve",
        "NOSUCH.amazon-main",
    ]);
    assert_exit(&o, 66);
    assert!(String::from_utf8_lossy(&o.stderr).contains("MUG01_1.amazon-main"));
    // Each help names the codes it can exit with.
    for (cmd, codes) in [
        ("process", &["64", "66", "74", "75", "130"][..]),
        ("check", &["64", "66"][..]),
        ("export", &["64", "66"][..]),
        ("review", &["64", "66", "75"][..]),
        ("serve", &["64", "74", "75"][..]),
        ("watch", &["64", "66", "74", "75"][..]),
    ] {
        let help = String::from_utf8_lossy(&shelfready(&[cmd, "--help"]).stdout).to_string();
        for c in codes {
            assert!(help.contains(c), "{cmd} --help does not name {c}: {help}");
        }
    }
}
