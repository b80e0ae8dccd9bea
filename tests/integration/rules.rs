//! Marketplace rules: every built-in number cites docs/rules.md, specs cannot silently leave a
//! marketplace's bounds, and `shelfready check` catches what a marketplace would suppress.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde_json::Value;
use shelfready::pipeline::{process_source, Limits};
use shelfready::spec::{builtin, builtin_ids, Spec};

use crate::util::{assert_exit, shelfready};

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// One key of a spec file: its name, whether it is in `[bounds]`, and the comment block
/// above it (past the keys it also covers).
struct Cited {
    key: String,
    in_bounds: bool,
    comment: String,
}

fn citations(text: &str) -> Vec<Cited> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut in_bounds = false;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with('[') {
            in_bounds = line.trim() == "[bounds]";
            continue;
        }
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        if line.starts_with('#')
            || ["id", "description", "next_actor", "marketplace"].contains(&key)
        {
            continue;
        }
        let mut j = i;
        while j > 0 && !lines[j - 1].starts_with('#') && lines[j - 1].contains(" = ") {
            j -= 1;
        }
        let mut comment = String::new();
        while j > 0 && lines[j - 1].starts_with('#') {
            comment.insert_str(0, lines[j - 1]);
            j -= 1;
        }
        out.push(Cited {
            key: key.to_string(),
            in_bounds,
            comment,
        });
    }
    out
}

/// The anchors a comment cites (`[rules.md#amazon-size, checked ...]`).
fn anchors(comment: &str) -> Vec<&str> {
    comment
        .split("[rules.md#")
        .skip(1)
        .map(|cite| cite.split([']', ',']).next().unwrap())
        .collect()
}

#[test]
fn every_builtin_number_cites_a_rule_that_exists() {
    let rules = repo("docs/rules.md");
    let headings: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(str::trim)
        .collect();
    for id in builtin_ids() {
        let text = repo(&format!("assets/specs/{id}.toml"));
        for c in citations(&text) {
            assert!(
                c.comment.contains("[rules.md#"),
                "{id}.toml: `{}` cites no rule",
                c.key
            );
            for cite in c.comment.split("[rules.md#").skip(1) {
                let anchor = cite.split([']', ',']).next().unwrap();
                assert!(
                    headings.contains(&anchor),
                    "{id}.toml cites rules.md#{anchor}, which docs/rules.md does not have"
                );
                if !anchor.starts_with("house-") {
                    assert!(
                        cite.starts_with(&format!("{anchor}, checked 20")),
                        "{id}.toml: the citation of {anchor} carries no date checked"
                    );
                }
            }
        }
        assert!(
            !text.contains("../shared"),
            "{id}.toml cites outside the repo"
        );
    }
}

/// A bound fails an output; a recommendation only sends it to review. So a spec's
/// `[bounds]` may cite only rules whose kind is a limit, and a size target only advice.
#[test]
fn a_bounds_kind_in_rules_md_matches_its_severity_in_the_spec() {
    let rules = repo("docs/rules.md");
    let kind_of = |anchor: &str| -> String {
        let section = rules
            .split(&format!("### {anchor}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no rules.md#{anchor}"));
        let section = section.split("\n### ").next().unwrap();
        section
            .lines()
            .find_map(|l| l.strip_prefix("- Kind: "))
            .unwrap_or_else(|| panic!("rules.md#{anchor} states no kind"))
            .to_string()
    };
    for id in builtin_ids() {
        let text = repo(&format!("assets/specs/{id}.toml"));
        for c in citations(&text) {
            for anchor in anchors(&c.comment)
                .into_iter()
                .filter(|a| !a.starts_with("house-"))
            {
                let kind = kind_of(anchor);
                if c.in_bounds && c.key != "formats" || c.key == "max_bytes" {
                    assert!(
                        kind.starts_with("limit"),
                        "{id}.toml bounds `{}` by rules.md#{anchor}, whose kind is {kind:?}",
                        c.key
                    );
                }
                if c.key == "target_bytes" {
                    assert!(
                        kind.starts_with("recommendation"),
                        "{id}.toml aims `target_bytes` at rules.md#{anchor}, whose kind is {kind:?}"
                    );
                }
            }
        }
    }
    // The audit's corrections, held: eBay bounds width + height (9000x9000 is over, 10,000
    // x 1,000 is not), and Etsy bounds no size.
    let ebay = builtin("ebay").unwrap().unwrap().bounds.unwrap();
    assert!(!ebay.broken(9000, 9000, "jpeg", None).is_empty());
    assert!(ebay.broken(10_000, 1_000, "jpeg", None).is_empty());
    assert_eq!(ebay.max_long_side, None);
    let etsy = builtin("etsy").unwrap().unwrap().bounds.unwrap();
    assert!(etsy.broken(600, 600, "jpeg", None).is_empty());
}

#[test]
fn amazon_main_minimum_fill_is_the_marketplace_number() {
    let s = builtin("amazon-main").unwrap().unwrap();
    assert_eq!(s.min_fill(), 0.85);
    let etsy = builtin("etsy").unwrap().unwrap();
    // Etsy's 1 MB is advice: a target, not a cap.
    assert_eq!(etsy.target_bytes, Some(1_000_000));
    assert!(etsy.hard_max_bytes().unwrap() > 1_000_000);
    assert_eq!(builtin("ebay").unwrap().unwrap().min_quality(), 90);
}

#[test]
fn extending_spec_cannot_leave_the_marketplace_bounds_silently() {
    let err = Spec::from_toml(
        "small.toml",
        "extends = \"amazon-main\"\nid = \"amazon-small\"\nwidth = 800\nheight = 800\n",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("800 px on the longest side is under Amazon's minimum of 1000 px")
            && msg.contains("leaves_marketplace_rules = true"),
        "{msg}"
    );
    assert_eq!(err.code().as_str(), "spec-breaks-marketplace-rules");
    // Nor by rewriting the bounds themselves.
    let err = Spec::from_toml(
        "loose.toml",
        "extends = \"amazon-main\"\nid = \"loose\"\n[bounds]\nmarketplace = \"Amazon\"\nmin_long_side = 100\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot be changed"), "{err}");
    // Said explicitly, the spec no longer claims Amazon's rules.
    let s = Spec::from_toml(
        "small.toml",
        "extends = \"amazon-main\"\nid = \"amazon-small\"\nwidth = 800\nheight = 800\nleaves_marketplace_rules = true\n",
    )
    .unwrap();
    assert_eq!((s.width, s.bounds), (800, None));
}

#[test]
fn extending_spec_at_800_px_is_refused_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("small.toml");
    std::fs::write(
        &spec,
        "extends = \"amazon-main\"\nid = \"amazon-small\"\nwidth = 800\nheight = 800\n",
    )
    .unwrap();
    let o = shelfready(&[
        "process",
        crate::util::fixtures()
            .join("MUG01_1.png")
            .to_str()
            .unwrap(),
        "--spec",
        spec.to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert_exit(&o, 64);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Amazon's minimum of 1000 px"), "{err}");
    assert!(!dir.path().join("out/amazon-small").exists());
}

/// A soft-edged cut-out: an ellipse with a textured product colour, feathered by `feather`.
fn cutout_png(w: u32, h: u32, feather: f64) -> Vec<u8> {
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let (rx, ry) = (cx * 0.8, cy * 0.7);
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (
            (f64::from(x) + 0.5 - cx) / rx,
            (f64::from(y) + 0.5 - cy) / ry,
        );
        let d = ((dx * dx + dy * dy).sqrt() - 1.0) * rx.min(ry); // px outside the edge
        let a = (0.5 - d / feather.max(0.5)).clamp(0.0, 1.0);
        let t = ((x * 7 + y * 13) % 50) as u8;
        image::Rgba([60 + t, 90, 140 - t, (a * 255.0).round() as u8])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn amazon_main_outputs_measure_at_least_85_percent_on_the_written_file() {
    let spec = builtin("amazon-main").unwrap().unwrap();
    for (w, h, feather) in [
        (900, 1300, 0.0),
        (1700, 1100, 3.0),
        (2411, 2411, 6.0),
        (3001, 1777, 1.5),
        (1234, 1999, 10.0),
    ] {
        let r = process_source(
            &cutout_png(w, h, feather),
            &[&spec],
            &Limits::default(),
            &AtomicBool::new(false),
        );
        let out = r.outputs[0].as_ref().unwrap();
        let fill = out
            .checks
            .iter()
            .find(|c| c.name.as_str() == "fill_ratio")
            .unwrap();
        let measured = fill.measured.as_f64().unwrap();
        assert!(
            fill.passed && (0.85..0.86).contains(&measured),
            "{w}x{h} feather {feather}: fill {measured}"
        );
    }
}

// ---- `shelfready check` on files made elsewhere ----

/// A listing photo: a textured product `pw` x `ph` centred on a `side` px square of grey
/// level `bg`, with an optional grey band (`shadow`) from under the product to the bottom edge.
fn listing(side: u32, pw: u32, ph: u32, bg: u8, shadow: Option<u8>) -> image::RgbImage {
    let (x0, y0) = ((side - pw) / 2, (side - ph) / 2);
    image::RgbImage::from_fn(side, side, |x, y| {
        let inside = (x0..x0 + pw).contains(&x) && (y0..y0 + ph).contains(&y);
        let under = y >= y0 + ph && (x0 + pw / 4..x0 + 3 * pw / 4).contains(&x);
        if inside {
            let t = ((x * 7 + y * 13) % 60) as u8;
            image::Rgb([40 + t, 70 + t / 2, 120])
        } else if let Some(s) = shadow.filter(|_| under) {
            image::Rgb([s, s, s])
        } else {
            image::Rgb([bg, bg, bg])
        }
    })
}

/// As a JPEG, the way most tools write one (standard tables, 4:2:0).
fn jpeg(img: &image::RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(
            img.as_raw(),
            img.width() as u16,
            img.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    out
}

/// As a PNG: lossless, so the product's extent is exactly what was drawn.
fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn file_check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

fn failed_checks(f: &Value) -> Vec<&str> {
    f["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[test]
fn check_reports_each_broken_rule_in_words_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("catalog");
    std::fs::create_dir_all(shop.join("old")).unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("good.jpg", jpeg(&listing(2000, 1740, 1500, 255, None), 92)),
        // 1698 of 2000 px: 84.9%, under Amazon's 85%.
        ("fill849.png", png(&listing(2000, 1698, 1400, 255, None))),
        (
            "offwhite.jpg",
            jpeg(&listing(2000, 1740, 1500, 250, None), 92),
        ),
        // A faint shadow (7 levels off white) from under the product to the edge.
        (
            "old/shadow.jpg",
            jpeg(&listing(2000, 1740, 1300, 255, Some(248)), 92),
        ),
        ("small800.jpg", jpeg(&listing(800, 700, 600, 255, None), 92)),
        ("lowq.jpg", jpeg(&listing(2000, 1740, 1500, 255, None), 40)),
        (
            "broken.jpg",
            jpeg(&listing(2000, 1740, 1500, 255, None), 92)[..5000].to_vec(),
        ),
    ];
    for (name, bytes) in &files {
        std::fs::write(shop.join(name), bytes).unwrap();
    }
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|(n, _)| std::fs::read(shop.join(n)).unwrap())
        .collect();

    let o = shelfready(&["check", shop.to_str().unwrap(), "--spec", "amazon-main"]);
    assert_exit(&o, 1);
    let text = String::from_utf8_lossy(&o.stdout);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
            .to_string()
    };
    assert!(line("good.jpg").starts_with("ok"), "{text}");
    let l = line("fill849.png");
    assert!(
        l.starts_with("review") && l.contains("84.9%") && l.contains("at least 85.0%"),
        "{l}"
    );
    let l = line("offwhite.jpg");
    assert!(
        l.starts_with("review") && l.contains("backdrop is #FAFAFA"),
        "{l}"
    );
    let l = line("shadow.jpg");
    assert!(l.starts_with("review") && l.contains("shadow"), "{l}");
    let l = line("small800.jpg");
    assert!(
        l.starts_with("FAIL") && l.contains("under Amazon's minimum of 1000 px"),
        "{l}"
    );
    let l = line("lowq.jpg");
    assert!(l.starts_with("review") && l.contains("quality 40"), "{l}");
    let l = line("broken.jpg");
    assert!(l.starts_with("FAIL") && l.contains("cut off"), "{l}");
    assert!(
        text.contains(
            "7 files checked against amazon-main: 1 ready, 4 need review, 2 break a rule"
        ),
        "{text}"
    );

    let o = shelfready(&[
        "check",
        shop.to_str().unwrap(),
        "--spec",
        "amazon-main",
        "--json",
    ]);
    assert_exit(&o, 1);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["exit_code"], 1);
    assert_eq!(file_check(&report, "good.jpg")["state"], "ready");
    let f = file_check(&report, "fill849.png");
    assert_eq!(failed_checks(f), ["fill_ratio"], "{f}");
    let fill = f["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "fill_ratio")
        .unwrap();
    assert_eq!(
        (fill["measured"].as_f64(), fill["threshold"].as_f64()),
        (Some(0.849), Some(0.85))
    );
    let f = file_check(&report, "offwhite.jpg");
    assert!(failed_checks(f).contains(&"background_purity"), "{f}");
    let purity = f["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "background_purity")
        .unwrap();
    assert!(
        purity["measured"]["worst_difference"].as_u64().unwrap() >= 4,
        "{purity}"
    );
    assert!(
        purity["measured"]["off_share"].as_f64().unwrap() > 0.9,
        "{purity}"
    );
    let f = file_check(&report, "shadow.jpg");
    assert!(failed_checks(f).contains(&"shadow_to_edge"), "{f}");
    assert_eq!(file_check(&report, "small800.jpg")["state"], "failed");
    assert_eq!(
        failed_checks(file_check(&report, "lowq.jpg")),
        ["jpeg_quality"]
    );
    let f = file_check(&report, "broken.jpg");
    assert_eq!(f["error"]["code"], "decode-truncated", "{f}");

    // Nothing was written or changed.
    let after: Vec<Vec<u8>> = files
        .iter()
        .map(|(n, _)| std::fs::read(shop.join(n)).unwrap())
        .collect();
    assert!(before == after, "check changed a file");
    let entries = walkdir::WalkDir::new(&shop).into_iter().count();
    assert_eq!(entries, files.len() + 2, "check wrote something");
}

#[test]
fn check_passes_shelfreadys_own_outputs() {
    let run = crate::util::fixture_run();
    let o = shelfready(&[
        "check",
        run.out.join("amazon-main/MUG01_1.jpg").to_str().unwrap(),
        run.out.join("amazon-main/ROCKET02_1.jpg").to_str().unwrap(),
        "--spec",
        "amazon-main",
    ]);
    assert_exit(&o, 0);
}

/// The colour-fidelity check holds every built-in, and a spec that does not say, to the
/// numbers its rule states.
#[test]
fn colour_fidelity_thresholds_are_the_numbers_of_house_color_fidelity() {
    let rules = repo("docs/rules.md");
    let section = rules
        .split("### house-color-fidelity\n")
        .nth(1)
        .expect("rules.md#house-color-fidelity")
        .split("\n### ")
        .next()
        .unwrap();
    let number = |key: &str| -> f64 {
        section
            .split(&format!("`{key} = "))
            .nth(1)
            .and_then(|s| s.split('`').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("house-color-fidelity states no `{key} = ...`"))
    };
    let (mean, p95) = (number("max_delta_e_mean"), number("max_delta_e_p95"));
    for id in builtin_ids() {
        let spec = builtin(id).unwrap().unwrap();
        assert_eq!(
            (spec.max_delta_e_mean, spec.max_delta_e_p95),
            (mean, p95),
            "{id}"
        );
    }
    let own = Spec::from_toml(
        "mine.toml",
        "width = 1000\nheight = 1000\nfill_ratio = 0.8\nbackground = \"#FFFFFF\"\nformat = \"jpeg\"\nnext_actor = \"review\"\n",
    )
    .unwrap();
    assert_eq!((own.max_delta_e_mean, own.max_delta_e_p95), (mean, p95));
}
