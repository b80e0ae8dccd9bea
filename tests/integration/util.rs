use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

pub fn shelfready(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .args(args)
        .env_remove("SHELFREADY_SPECS")
        .env_remove("SHELFREADY_OUT")
        .output()
        .expect("run shelfready")
}

/// The edge-case fixtures through three specs, run once for all tests that read its outputs
/// (the README's first command runs the demo folder instead: `seller::the_readme_first_command_*`).
pub struct FixtureRun {
    pub _dir: tempfile::TempDir,
    pub out: PathBuf,
    pub status: i32,
    pub stdout: String,
}

pub fn fixture_run() -> &'static FixtureRun {
    static RUN: OnceLock<FixtureRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let o = shelfready(&[
            "process",
            fixtures().to_str().unwrap(),
            "--spec",
            "amazon-main,shopify,mockup-input",
            "--out",
            out.to_str().unwrap(),
        ]);
        FixtureRun {
            _dir: dir,
            out,
            status: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
        }
    })
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

pub fn handoff(out: &Path, name: &str, spec: &str) -> Value {
    read_json(&out.join("manifests").join(format!("{name}.{spec}.json")))
}

/// The check `name` of a handoff (its `quality`) or of a file in `check --json`'s report
/// (its `checks`).
pub fn check<'a>(h: &'a Value, name: &str) -> &'a Value {
    let list = if h["quality"].is_array() {
        &h["quality"]
    } else {
        &h["checks"]
    };
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {}", h["id"]))
}

/// Box (x0, y0, x1, y1 inclusive) of pixels differing from white by more than `t`.
pub fn product_box_on_white(img: &image::RgbImage, t: u8) -> (u32, u32, u32, u32) {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        if p.0.iter().any(|&c| 255 - c > t) {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    (x0, y0, x1, y1)
}

pub fn validate(schema_file: &str, instance: &Value) {
    let schema = read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/schema")
            .join(schema_file),
    );
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:?}");
}

/// `shelfready process <input> --spec <specs> --out <out>`.
pub fn process(input: &Path, specs: &str, out: &Path) -> Output {
    shelfready(&[
        "process",
        input.to_str().unwrap(),
        "--spec",
        specs,
        "--out",
        out.to_str().unwrap(),
    ])
}

/// Asserts the exit code, showing the command's output when it differs.
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    v.sort();
    v
}

/// A clean cut-out too small for a 2000 px canvas at 85% (ROCKET02 at 480x720): only its
/// upscale check fails, so a larger upscale allowance makes it ready.
pub fn small_cutout(to: &Path) {
    let img = image::open(fixtures().join("ROCKET02_1.png")).unwrap();
    img.resize_exact(480, 720, image::imageops::FilterType::Lanczos3)
        .save(to)
        .unwrap();
}

/// How many pixels of a contact sheet are exactly `rgb`: its badges' colours are exact
/// (green ready or approved, amber needs review, red failed or rejected).
pub fn pixels_of(png: &[u8], rgb: [u8; 3]) -> usize {
    let img = image::load_from_memory(png).unwrap().to_rgb8();
    img.pixels().filter(|p| p.0 == rgb).count()
}
pub const GREEN: [u8; 3] = [26, 127, 55];
pub const AMBER: [u8; 3] = [154, 103, 0];
pub const RED: [u8; 3] = [207, 34, 46];

/// Polls `ready` until it gives a value; fails the test after `limit`, naming `what`.
pub fn wait_for<T>(
    what: &str,
    limit: std::time::Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = ready() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
