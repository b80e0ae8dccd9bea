//! The review checkpoint over HTTP, on the real binary: the queue by cause and route,
//! decisions and receipts, exports an approval refreshes, and the review page driven by
//! keyboard in a real browser, on the embedded default and on PostgreSQL and a bucket.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::server::{file, follow, get, post_json, read_zip, specs, start_on, upload, Server};
use crate::util::{files_under, pixels_of, AMBER, GREEN, RED};

fn review_server() -> (tempfile::TempDir, Server, Vec<u8>) {
    review_server_on(false)
}

/// A server with the token `t0` and a reviewer `ana` (token `t-ana`), and the bytes of a
/// clean cut-out too small for amazon-main; on the embedded default, or (`shared`) on
/// PostgreSQL and a bucket ([`start_on`]).
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
