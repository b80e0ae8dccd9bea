//! The review checkpoint in folder mode: `shelfready review <out>` lists what waits with its
//! question and route, and records approvals, rejections, retries and receipts in the
//! manifests.

use std::path::Path;

use crate::util::{
    assert_exit, check, fixtures, handoff, pixels_of, process, read_json, shelfready, small_cutout,
    AMBER, GREEN, RED,
};

fn review(out: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["review", out.to_str().unwrap()];
    all.extend_from_slice(args);
    shelfready(&all)
}

#[test]
fn a_reviewer_clears_a_folder_queue_and_each_decision_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for f in [
        "DEEP09_1.png",
        "ADOBE04_1.jpg",
        "P3TAG05_1.png",
        "ROCKET02_1.png",
    ] {
        std::fs::copy(fixtures().join(f), input.join(f)).unwrap();
    }
    small_cutout(&input.join("small.png"));
    let out = dir.path().join("out");
    assert_exit(&process(&input, "amazon-main", &out), 2);

    // The queue: each waiting output routed by its cause, with its question.
    let o = review(&out, &[]);
    assert_exit(&o, 2);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("4 output(s)"), "{text}");
    let line = |id: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("{id} not listed in {text}"))
            .to_string()
    };
    assert!(
        line("DEEP09_1.amazon-main").contains("-> supplier"),
        "{text}"
    );
    assert!(
        line("ADOBE04_1.amazon-main").contains("-> retouch"),
        "{text}"
    );
    assert!(line("small.amazon-main").contains("-> supplier"), "{text}");
    assert!(text.contains("would need 3.19x enlargement"), "{text}");
    let deep = handoff(&out, "DEEP09_1", "amazon-main");
    assert_eq!(deep["next_actor"]["actor"], "supplier");
    assert_eq!(deep["next_actor"]["owner"], "supplier");
    assert!(
        deep["next_actor"]["due"].as_str().unwrap() > deep["next_actor"]["since"].as_str().unwrap()
    );
    // Busy and too small (752 px for a 2000 px canvas): the size first, the supplier's.
    assert!(
        line("P3TAG05_1.amazon-main").contains("-> supplier"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&review(&out, &["--json", "--owner", "retouch"]).stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");

    // Approve: recorded with the reviewer's name; the photo's line and counts follow.
    let o = review(
        &out,
        &["--approve", "ADOBE04_1.amazon-main", "--reviewer", "ana"],
    );
    assert_exit(&o, 0);
    let adobe = handoff(&out, "ADOBE04_1", "amazon-main");
    assert_eq!(adobe["state"], "approved");
    let last = adobe["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["from"].as_str(),
            last["to"].as_str(),
            last["actor"].as_str()
        ),
        (Some("needs_review"), Some("approved"), Some("ana"))
    );
    assert_eq!(adobe["next_actor"]["actor"], "export:amazon");
    // Deciding again is refused: it no longer waits.
    assert_exit(&review(&out, &["--approve", "ADOBE04_1.amazon-main"]), 75);

    // Reject: a reason is required, then recorded and shown as the photo's line.
    assert_exit(&review(&out, &["--reject", "P3TAG05_1.amazon-main"]), 64);
    let o = review(
        &out,
        &[
            "--reject",
            "P3TAG05_1.amazon-main",
            "--note",
            "a lifestyle shot, not a main image",
            "--reviewer",
            "ben",
        ],
    );
    assert_exit(&o, 0);
    let p3 = handoff(&out, "P3TAG05_1", "amazon-main");
    assert_eq!(p3["state"], "rejected");
    assert_eq!(
        p3["history"].as_array().unwrap().last().unwrap()["note"],
        "a lifestyle shot, not a main image"
    );

    // Retry with a larger upscale allowance: the too-small product now fills the frame.
    let deep = handoff(&out, "small", "amazon-main");
    assert_eq!(deep["next_actor"]["checks"], serde_json::json!(["upscale"]));
    let before = check(&deep, "fill_ratio")["measured"].as_f64().unwrap();
    assert!(before < 0.84, "{before}");
    let o = review(
        &out,
        &[
            "--retry",
            "small.amazon-main",
            "--max-upscale",
            "4",
            "--reviewer",
            "ana",
        ],
    );
    assert_exit(&o, 0);
    let deep = handoff(&out, "small", "amazon-main");
    assert_eq!(deep["state"], "ready", "{deep}");
    assert_eq!(deep["overrides"]["max_upscale"], 4.0);
    let fill = check(&deep, "fill_ratio")["measured"].as_f64().unwrap();
    assert!(fill >= 0.84, "{fill}");
    let states: Vec<&str> = deep["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "received",
            "processing",
            "needs_review",
            "processing",
            "ready"
        ]
    );
    assert_eq!(deep["history"][3]["actor"], "ana");
    assert!(deep["history"][3]["note"]
        .as_str()
        .unwrap()
        .contains("upscale up to 4x"));
    let img = image::open(out.join("amazon-main/small.jpg"))
        .unwrap()
        .to_rgb8();
    assert_eq!(img.dimensions(), (2000, 2000));
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);

    // The batch manifest follows every decision.
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["summary"]["approved"], 1);
    assert_eq!(m["summary"]["rejected"], 1);
    assert_eq!(m["summary"]["needs_review"], 1);
    let photo = |name: &str| {
        m["photos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(photo("P3TAG05_1")["state"], "rejected");
    assert!(photo("P3TAG05_1")["todo"]
        .as_str()
        .unwrap()
        .contains("rejected by ben: a lifestyle shot"));
    assert_eq!(photo("ADOBE04_1")["todo"], serde_json::Value::Null);
    assert_exit(&review(&out, &["--approve", "DEEP09_1.amazon-main"]), 0);
    assert_exit(&review(&out, &[]), 0);

    // Receipt: the next stage acknowledges a delivered file; a rejected one it cannot.
    assert_exit(
        &review(
            &out,
            &[
                "--received",
                "ROCKET02_1.amazon-main",
                "--reviewer",
                "mockup",
            ],
        ),
        0,
    );
    let rocket = handoff(&out, "ROCKET02_1", "amazon-main");
    assert_eq!(rocket["receipt"]["by"], "mockup");
    // Delivered and not yet acknowledged: the approved ones and the retried one.
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["summary"]["awaiting_receipt"], 3, "{}", m["summary"]);
    assert_exit(&review(&out, &["--received", "P3TAG05_1.amazon-main"]), 75);
    // A re-run keeps every decision: nothing changed, nothing is made again.
    process(&input, "amazon-main", &out);
    assert_eq!(
        handoff(&out, "ADOBE04_1", "amazon-main")["state"],
        "approved"
    );
    assert_eq!(handoff(&out, "small", "amazon-main")["state"], "ready");
    assert_eq!(
        handoff(&out, "P3TAG05_1", "amazon-main")["state"],
        "rejected"
    );
}

#[test]
fn the_contact_sheet_shows_every_output_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for f in ["ROCKET02_1.png", "DEEP09_1.png", "BROKEN08_1.png"] {
        std::fs::copy(fixtures().join(f), input.join(f)).unwrap();
    }
    let out = dir.path().join("out");
    let sheet = dir.path().join("sheets/sheet.png");
    let with_sheet = |sheet: &Path| {
        shelfready(&[
            "process",
            input.to_str().unwrap(),
            "--spec",
            "amazon-main",
            "--out",
            out.to_str().unwrap(),
            "--contact-sheet",
            sheet.to_str().unwrap(),
        ])
    };
    assert_exit(&with_sheet(&sheet), 1);
    let png = std::fs::read(&sheet).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    // Three tiles in one row: 24 px margins, 216 px cards, 12 px gaps.
    assert_eq!(img.width(), 2 * 24 + 3 * 216 + 2 * 12);
    // One badge of each tone: ready, needs review (too small), failed (cut off).
    let (green, amber, red) = (
        pixels_of(&png, GREEN),
        pixels_of(&png, AMBER),
        pixels_of(&png, RED),
    );
    assert!(
        green > 300 && amber > 300 && red > 300,
        "{green} {amber} {red}"
    );
    // The rocket's preview is on its card: the cream of its body, not the page grey.
    let rocket = (0..img.height())
        .flat_map(|y| (0..240).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = img.get_pixel(x, y).0;
            p[0] > 150 && p[0] < 240 && p[2] < p[0] - 30
        })
        .count();
    assert!(rocket > 200, "{rocket}");
    // An unwritable sheet path is a write error after the outputs are made.
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, b"x").unwrap();
    let o = with_sheet(&blocked.join("sheet.png"));
    assert_exit(&o, 74);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("sheet.png"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
