//! The layer between the pipeline and the disk: crash-safe re-runs, names that stay with
//! their source, the output folder's lock, pipeline versions, failed writes. Each test is
//! named after the bug it pins and runs the real binary on real folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::util::*;

/// Every file under `dir` (but the store's own `.shelfready/`), by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if rel == ".shelfready" {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A batch manifest without what may differ between a run and its re-run.
fn comparable(mut m: Value) -> Value {
    m["summary"]["up_to_date"] = Value::Null;
    for h in m["handoffs"].as_array_mut().unwrap() {
        h.as_object_mut().unwrap().remove("up_to_date");
    }
    m
}

fn copy_fixtures(dir: &Path, names: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    for n in names {
        std::fs::copy(fixtures().join(n), dir.join(n)).unwrap();
    }
}

fn fixed_clock_run(input: &Path, specs: &str, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shelfready"));
    c.args(["process", input.to_str().unwrap(), "--spec", specs])
        .args(["--out", out.to_str().unwrap()])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("SHELFREADY_SPECS")
        .env_remove("SHELFREADY_OUT");
    c
}

const KILL_SOURCES: &[&str] = &[
    "MUG01_1.png",
    "ROCKET02_1.png",
    "SUPPLIER03-main.jpg",
    "GREY10_1.jpg",
    "BROKEN08_1.png",
];

#[test]
fn an_interrupted_run_locks_outputs_out_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    copy_fixtures(&input, KILL_SOURCES);
    let specs = "amazon-main,mockup-input";
    let reference = dir.path().join("reference");
    let start = Instant::now();
    let o = fixed_clock_run(&input, specs, &reference).output().unwrap();
    let whole = start.elapsed();
    assert_exit(&o, 1);
    let want = tree(&reference);
    let want_manifest = comparable(read_json(&reference.join("manifest.json")));

    // Kill points spread over the whole run, from a fixed seed (a small LCG).
    let mut seed: u64 = 42;
    let mut points = Vec::new();
    for _ in 0..6 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        points.push(whole.mul_f64((seed >> 11) as f64 / (1u64 << 53) as f64));
    }
    for (k, at) in points.iter().enumerate() {
        let out = dir.path().join(format!("killed-{k}"));
        let mut child = fixed_clock_run(&input, specs, &out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(*at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let o = fixed_clock_run(&input, specs, &out).output().unwrap();
        assert_exit(&o, 1);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(!text.contains("output-exists"), "kill at {at:?}: {text}");
        let got = tree(&out);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "kill at {at:?}"
        );
        for (path, bytes) in &want {
            if path == "manifest.json" {
                continue;
            }
            assert!(got[path] == *bytes, "kill at {at:?}: {path} differs");
        }
        assert_eq!(
            comparable(read_json(&out.join("manifest.json"))),
            want_manifest,
            "kill at {at:?}"
        );
    }
}

#[test]
fn an_output_without_its_manifest_is_remade_not_refused() {
    // The exact window of the bug: the image was renamed into place, then the run died
    // before its handoff was recorded.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    copy_fixtures(&input, &["MUG01_1.png"]);
    let out = dir.path().join("out");
    assert_exit(&process(&input, "amazon-main", &out), 0);
    let image = std::fs::read(out.join("amazon-main/MUG01_1.jpg")).unwrap();
    std::fs::remove_file(out.join("manifests/MUG01_1.amazon-main.json")).unwrap();
    let journal = out.join(".shelfready/journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("\"op\":\"commit\""))
        .collect();
    std::fs::write(&journal, kept.join("\n") + "\n").unwrap();
    let o = process(&input, "amazon-main", &out);
    assert_exit(&o, 0);
    let h = handoff(&out, "MUG01_1", "amazon-main");
    assert_eq!(h["state"], "ready", "{h}");
    assert_eq!(
        std::fs::read(out.join("amazon-main/MUG01_1.jpg")).unwrap(),
        image
    );
}

#[test]
fn a_refused_state_change_is_dropped_silently() {
    // A manifest that cannot be written (here a folder stands at its path) fails the
    // output: no `ready` with an error, no image left behind, exit 1.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    copy_fixtures(&input, &["MUG01_1.png", "ROCKET02_1.png"]);
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("manifests/MUG01_1.amazon-main.json/blocker")).unwrap();
    let o = process(&input, "amazon-main", &out);
    assert_exit(&o, 1);
    let m = read_json(&out.join("manifest.json"));
    let h = m["handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "MUG01_1.amazon-main")
        .unwrap();
    assert_eq!(h["state"], "failed", "{h}");
    assert_eq!(h["error"]["code"], "manifest-write-failed");
    assert!(h["asset"].is_null());
    let states: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["received", "processing", "failed"]);
    assert!(!out.join("amazon-main/MUG01_1.jpg").exists());
    // The other source is not touched by it.
    assert_eq!(handoff(&out, "ROCKET02_1", "amazon-main")["state"], "ready");
}

#[test]
fn a_long_source_name_still_gets_its_outputs_and_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    std::fs::create_dir_all(&input).unwrap();
    let long = format!("{}.png", "ROCKET02-1-".repeat(22)); // 246 bytes
    std::fs::copy(fixtures().join("ROCKET02_1.png"), input.join(&long)).unwrap();
    let out = dir.path().join("out");
    let o = process(&input, "amazon-main,mockup-input", &out);
    assert_exit(&o, 0);
    let m = read_json(&out.join("manifest.json"));
    for h in m["handoffs"].as_array().unwrap() {
        assert_eq!(h["state"], "ready", "{h}");
        let path = out.join(h["asset"]["path"].as_str().unwrap());
        assert!(path.is_file());
        assert!(path.file_name().unwrap().len() <= 130);
    }
    assert_eq!(std::fs::read_dir(out.join("manifests")).unwrap().count(), 2);
}

#[test]
fn output_names_depend_on_walk_order() {
    // Two roots with the same file name: each keeps its own name across runs, and a run
    // of one root never overwrites the other's output.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(fixtures().join("MUG01_1.png"), a.join("X.png")).unwrap();
    std::fs::copy(fixtures().join("ROCKET02_1.png"), b.join("X.png")).unwrap();
    let out = dir.path().join("out");
    let o = shelfready(&[
        "process",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--spec",
        "amazon-main",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let mug = std::fs::read(out.join("amazon-main/X.jpg")).unwrap();
    let rocket = std::fs::read(out.join("amazon-main/X-2.jpg")).unwrap();
    assert_eq!(
        handoff(&out, "X-2", "amazon-main")["provenance"]["source_key"],
        "b/X.png"
    );

    let o = process(&b, "amazon-main", &out);
    assert_exit(&o, 0);
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["handoffs"][0]["id"], "X-2.amazon-main");
    assert_eq!(m["handoffs"][0]["up_to_date"], true);
    assert_eq!(std::fs::read(out.join("amazon-main/X.jpg")).unwrap(), mug);
    assert_eq!(
        std::fs::read(out.join("amazon-main/X-2.jpg")).unwrap(),
        rocket
    );
    assert_eq!(
        handoff(&out, "X", "amazon-main")["provenance"]["source_key"],
        "a/X.png"
    );
}

#[test]
fn two_runs_into_one_output_folder_race() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    copy_fixtures(&input, &["ROCKET02_1.png"]);
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join(".shelfready")).unwrap();
    // Another run holds the folder (a real lock on the real lock file).
    let lock_path = out.join(".shelfready/lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();
    std::fs::write(
        &lock_path,
        "pid 4242, `shelfready process other/`, since 2026-11-30T00:00:00Z\n",
    )
    .unwrap();
    let o = process(&input, "amazon-main", &out);
    assert_exit(&o, 75);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("in use by another shelfready run"), "{err}");
    assert!(err.contains("pid 4242"), "{err}");
    assert!(
        !out.join("amazon-main").exists(),
        "nothing written while locked"
    );
    drop(lock);
    assert_exit(&process(&input, "amazon-main", &out), 0);
}

#[test]
fn stale_outputs_survive_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    copy_fixtures(&input, &["ROCKET02_1.png"]);
    let out = dir.path().join("out");
    assert_exit(&process(&input, "amazon-main", &out), 0);
    let m = read_json(&out.join("manifest.json"));
    let version = m["pipeline_version"].as_str().unwrap().to_string();
    assert_eq!(m["handoffs"][0]["provenance"]["pipeline_version"], version);
    // What an older build would have recorded.
    let journal = out.join(".shelfready/journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, text.replace(&version, "0.0.9+000000000000")).unwrap();
    assert_exit(&process(&input, "amazon-main", &out), 0);
    assert_eq!(
        read_json(&out.join("manifest.json"))["summary"]["up_to_date"],
        0
    );
    // Made by this pipeline now: kept on the next run.
    assert_exit(&process(&input, "amazon-main", &out), 0);
    assert_eq!(
        read_json(&out.join("manifest.json"))["summary"]["up_to_date"],
        1
    );
}

#[test]
fn files_left_out_by_the_walk_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("supplier");
    copy_fixtures(&input, &["ROCKET02_1.png"]);
    for f in ["mug.psd", "shoe.HEIC", "prices.csv", ".DS_Store"] {
        std::fs::write(input.join(f), b"not processed").unwrap();
    }
    let out = dir.path().join("out");
    let o = process(&input, "amazon-main", &out);
    assert_exit(&o, 0);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("mug.psd: a .psd file: an image type shelfready does not read"),
        "{text}"
    );
    assert!(text.contains("shoe.HEIC"), "{text}");
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["summary"]["skipped"], 4);
    let reasons: Vec<(&str, &str)> = m["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let p = Path::new(s["path"].as_str().unwrap());
            (
                p.file_name().unwrap().to_str().unwrap(),
                s["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (".DS_Store", "hidden"),
            ("mug.psd", "unsupported-image-type"),
            ("prices.csv", "not-an-image-type"),
            ("shoe.HEIC", "unsupported-image-type"),
        ]
    );
}

#[test]
fn an_unwritable_output_folder_is_an_io_error_not_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    copy_fixtures(&input, &["ROCKET02_1.png"]);
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out: PathBuf = file.join("out");
    let o = process(&input, "amazon-main", &out);
    assert_exit(&o, 74);
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot write"));
}

#[test]
fn two_interrupted_runs_with_new_sources_still_remake_the_output() {
    // Two runs, each with a changed source, died after recording their intent and before
    // the rename: the file in place is still the first run's, and stays ours.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(fixtures().join("MUG01_1.png"), input.join("p.png")).unwrap();
    let out = dir.path().join("out");
    assert_exit(&process(&input, "amazon-main", &out), 0);
    let journal = out.join(".shelfready/journal.jsonl");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    for sha in ["1".repeat(64), "2".repeat(64)] {
        text +=
            &format!("{{\"op\":\"intent\",\"path\":\"amazon-main/p.jpg\",\"sha256\":\"{sha}\"}}\n");
    }
    std::fs::write(&journal, text).unwrap();
    std::fs::copy(fixtures().join("ROCKET02_1.png"), input.join("p.png")).unwrap();
    let o = process(&input, "amazon-main", &out);
    assert_exit(&o, 0);
    let h = handoff(&out, "p", "amazon-main");
    assert_eq!(
        h["provenance"]["source_sha256"],
        sha256_file(&input.join("p.png"))
    );
}

fn sha256_file(p: &Path) -> String {
    shelfready::store::sha256_hex(&std::fs::read(p).unwrap())
}

#[test]
fn a_torn_journal_line_loses_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    copy_fixtures(&input, &["MUG01_1.png"]);
    let out = dir.path().join("out");
    assert_exit(&process(&input, "amazon-main", &out), 0);
    // A run killed in the middle of a record, and of a UTF-8 character.
    let journal = out.join(".shelfready/journal.jsonl");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(b"{\"op\":\"name\",\"key\":\"photos/t\xc3");
    std::fs::write(&journal, bytes).unwrap();
    copy_fixtures(&input, &["ROCKET02_1.png"]);
    assert_exit(&process(&input, "amazon-main", &out), 0);
    let o = process(&input, "amazon-main", &out);
    assert_exit(&o, 0);
    assert_eq!(
        read_json(&out.join("manifest.json"))["summary"]["up_to_date"],
        2
    );
}

#[test]
fn two_input_folders_with_the_same_name_are_both_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a/photos"), dir.path().join("b/photos"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(fixtures().join("MUG01_1.png"), a.join("x.png")).unwrap();
    std::fs::copy(fixtures().join("ROCKET02_1.png"), b.join("x.png")).unwrap();
    let out = dir.path().join("out");
    let o = shelfready(&[
        "process",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        a.join("x.png").to_str().unwrap(),
        "--spec",
        "amazon-main",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(
        m["summary"]["sources"], 1,
        "the same file given twice is one source"
    );
    assert_eq!(m["skipped"][0]["reason"], "same-key", "{m}");
    assert!(m["skipped"][0]["path"]
        .as_str()
        .unwrap()
        .contains("b/photos"));
}

#[test]
fn an_output_folder_inside_the_input_is_never_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photos");
    copy_fixtures(&input, &["ROCKET02_1.png"]);
    let out = input.join("out");
    assert_exit(&process(&input, "etsy", &out), 0);
    let o = process(&input, "ebay", &out);
    assert_exit(&o, 0);
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["summary"]["sources"], 1, "{m}");
    // The output folder is the input folder: earlier runs' spec folders stay out too.
    assert_exit(&process(&input, "etsy", &input), 0);
    let o = process(&input, "ebay", &input);
    assert_exit(&o, 0);
    assert_eq!(
        read_json(&input.join("manifest.json"))["summary"]["sources"],
        1
    );
}
