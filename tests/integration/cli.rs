use std::path::Path;

use crate::util::*;

#[test]
fn main_job_exit_code_and_states() {
    let run = fixture_run();
    // The truncated fixture fails; everything else is made.
    assert_eq!(run.status, 1, "{}", run.stdout);
    let m = read_json(&run.out.join("manifest.json"));
    assert_eq!(m["exit_code"], 1);
    assert_eq!(m["summary"]["sources"], 13);
    assert_eq!(m["summary"]["outputs"], 39);
    assert_eq!(m["summary"]["failed"], 3);
    for h in m["handoffs"].as_array().unwrap() {
        let id = h["id"].as_str().unwrap();
        if id.starts_with("BROKEN08_1.") {
            assert_eq!(h["state"], "failed");
            assert_eq!(h["error"]["code"], "decode-truncated");
            assert!(h["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ends early"));
            assert_eq!(h["next_actor"]["actor"], "review");
            assert!(h["asset"].is_null());
        } else {
            assert_ne!(h["state"], "failed", "{id}: {h}");
            assert!(
                run.out.join(h["asset"]["path"].as_str().unwrap()).is_file(),
                "{id}"
            );
        }
    }
    assert!(run.stdout.contains("BROKEN08_1"), "{}", run.stdout);
    assert!(run.stdout.contains("ends early"), "{}", run.stdout);
}

#[test]
fn every_manifest_validates_against_the_schema() {
    let run = fixture_run();
    validate(
        "manifest.schema.json",
        &read_json(&run.out.join("manifest.json")),
    );
    let mut n = 0;
    for e in std::fs::read_dir(run.out.join("manifests")).unwrap() {
        validate("handoff.schema.json", &read_json(&e.unwrap().path()));
        n += 1;
    }
    assert_eq!(n, 39);
}

#[test]
fn amazon_main_is_pure_white_filled_and_centred() {
    let run = fixture_run();
    let h = handoff(&run.out, "MUG01_1", "amazon-main");
    assert_eq!(h["state"], "ready", "{h}");
    assert_eq!(h["next_actor"]["actor"], "export:amazon");
    assert_eq!(h["context"]["sku"], "MUG01");
    assert_eq!(h["context"]["position"], 1);
    let path = run.out.join("amazon-main/MUG01_1.jpg");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    assert_eq!(h["asset"]["bytes"], bytes.len());
    let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (2000, 2000));
    // Every border pixel is exactly 255,255,255.
    for i in 0..2000 {
        for p in [
            img.get_pixel(i, 0),
            img.get_pixel(i, 1999),
            img.get_pixel(0, i),
            img.get_pixel(1999, i),
        ] {
            assert_eq!(p.0, [255, 255, 255]);
        }
    }
    let (x0, y0, x1, y1) = product_box_on_white(&img, 10);
    let (w, hh) = (x1 - x0 + 1, y1 - y0 + 1);
    let fill = f64::from(w.max(hh)) / 2000.0;
    assert!((fill - 0.85).abs() <= 0.0085, "fill {fill}");
    let cx = f64::from(x0 + x1 + 1) / 2.0;
    let cy = f64::from(y0 + y1 + 1) / 2.0;
    assert!(
        (cx - 1000.0).abs() <= 1.0 && (cy - 1000.0).abs() <= 1.0,
        "centre {cx},{cy}"
    );
    // The manifest's measured fill is what we measure.
    let mf = check(&h, "fill_ratio")["measured"].as_f64().unwrap();
    assert!((mf - fill).abs() < 0.002, "{mf} vs {fill}");
    assert_eq!(check(&h, "border_purity")["measured"], 0);
}

#[test]
fn supplier_sweep_is_lifted_to_pure_white() {
    let run = fixture_run();
    let h = handoff(&run.out, "SUPPLIER03-main", "amazon-main");
    assert_eq!(h["state"], "ready", "{h}");
    let img = image::open(run.out.join("amazon-main/SUPPLIER03-main.jpg"))
        .unwrap()
        .to_rgb8();
    // The off-white sweep (about 245,244,242 in the source) is now exactly white well
    // beyond the product, and the product is still there.
    let (x0, y0, x1, y1) = product_box_on_white(&img, 10);
    for (x, y) in [
        (x0 / 2, 1000),
        (1000, y0 / 2),
        ((x1 + 2000) / 2, 1000),
        (1000, (y1 + 2000) / 2),
    ] {
        assert_eq!(img.get_pixel(x, y).0, [255, 255, 255], "at {x},{y}");
    }
    assert!(
        img.get_pixel(1000, 1000).0.iter().any(|&c| c < 200),
        "product at the centre"
    );
}

#[test]
fn mockup_input_is_transparent_png_without_specks() {
    let run = fixture_run();
    let h = handoff(&run.out, "MUG01_1", "mockup-input");
    assert_eq!(h["asset"]["format"], "png");
    assert_eq!(h["asset"]["has_alpha"], true);
    let img = image::open(run.out.join("mockup-input/MUG01_1.png")).unwrap();
    assert!(img.color().has_alpha());
    let img = img.to_rgba8();
    assert_eq!(img.dimensions(), (2000, 2000));
    assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0, 0]);
    // Nothing visible outside the product's box: the five specks are gone.
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        if p.0[3] > 10 {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    let fill = f64::from((x1 - x0 + 1).max(y1 - y0 + 1)) / 2000.0;
    assert!((fill - 0.95).abs() < 0.01, "fill {fill}");
    let ops: Vec<&str> = h["provenance"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(
        ops.contains(&"drop_specks") && ops.contains(&"unpremultiply_edges"),
        "{ops:?}"
    );
}

/// Regression: the sweep key gave every pixel alpha from its colour distance to the
/// sweep, so a cup's white lip and inside (enclosed by the cup, but sweep-coloured) came out
/// as a transparent hole in the mockup cut-out.
#[test]
fn sweep_coloured_lip_and_inside_of_a_cup_stay_opaque() {
    let run = fixture_run();
    let h = handoff(&run.out, "RIMCUP13_1", "mockup-input");
    let op = |name: &str| -> serde_json::Value {
        h["provenance"]["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {h}"))["params"]
            .clone()
    };
    let (trim, resize, place) = (op("trim"), op("resize"), op("place"));
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let scale = f(&resize["scale"]);
    // Source pixel (make_rimcup.py's coordinates) to output pixel: trimmed, scaled, placed.
    let to_out = |x: f64, y: f64| {
        (
            (f(&place["subject"][0]) + (x + 0.5 - f(&trim["x"])) * scale - 0.5).round() as u32,
            (f(&place["subject"][1]) + (y + 0.5 - f(&trim["y"])) * scale - 0.5).round() as u32,
        )
    };
    let img = image::open(run.out.join("mockup-input/RIMCUP13_1.png"))
        .unwrap()
        .to_rgba8();
    // Lowest and highest alpha over a source rectangle [x0, x1) x [y0, y1).
    let alpha = |x0: f64, y0: f64, x1: f64, y1: f64| {
        let ((a, b), (c, d)) = (to_out(x0, y0), to_out(x1 - 1.0, y1 - 1.0));
        let mut range = (255u8, 0u8);
        for y in b..=d {
            for x in a..=c {
                let v = img.get_pixel(x, y).0[3];
                range = (range.0.min(v), range.1.max(v));
            }
        }
        range
    };
    // The opening is centred at (700, 380): the white lip runs between ellipses of semi-axes
    // 394x115 and 378x106, the white inside fills the inner one.
    for (what, rect) in [
        ("lip at the back", [690.0, 267.0, 710.0, 272.0]),
        ("lip at the front", [690.0, 488.0, 710.0, 493.0]),
        ("lip on the left", [310.0, 370.0, 318.0, 390.0]),
        ("lip on the right", [1082.0, 370.0, 1090.0, 390.0]),
        ("inside", [560.0, 320.0, 840.0, 460.0]),
    ] {
        let (lo, _) = alpha(rect[0], rect[1], rect[2], rect[3]);
        assert_eq!(lo, 255, "{what}: source {rect:?} has a hole");
    }
    // The sweep beside the cup, inside the trimmed box, is cleared.
    for (what, rect) in [
        ("above left of the opening", [305.0, 262.0, 340.0, 285.0]),
        ("left of the foot", [305.0, 880.0, 345.0, 940.0]),
    ] {
        let (_, hi) = alpha(rect[0], rect[1], rect[2], rect[3]);
        assert_eq!(hi, 0, "{what}: source {rect:?} is not clear");
    }
}

#[test]
fn small_source_goes_to_review_with_the_factor() {
    let run = fixture_run();
    let h = handoff(&run.out, "DEEP09_1", "amazon-main");
    assert_eq!(h["state"], "needs_review");
    let up = check(&h, "upscale");
    assert_eq!(up["passed"], false);
    assert!(up["measured"].as_f64().unwrap() > 2.0);
    // Routed by its cause: a larger original is the supplier's to give.
    assert_eq!(h["next_actor"]["actor"], "supplier");
    assert!(h["next_actor"]["question"]
        .as_str()
        .unwrap()
        .contains("larger source"));
    // One question per failed check, each a sentence of its own that ends in a question.
    let questions = h["next_actor"]["questions"].as_array().unwrap();
    assert_eq!(
        questions.len(),
        h["next_actor"]["checks"].as_array().unwrap().len()
    );
    for q in questions {
        let q = q.as_str().unwrap();
        assert!(q.starts_with(char::is_uppercase) && q.ends_with('?'), "{q}");
        assert_eq!(q.matches('?').count(), 1, "{q}");
    }
    // Rendered anyway, at the cap.
    assert!(run.out.join("amazon-main/DEEP09_1.jpg").is_file());
    assert_eq!(h["provenance"]["source"]["color_type"], "rgba16");
}

#[test]
fn outputs_carry_no_source_metadata_and_an_srgb_profile() {
    let run = fixture_run();
    // The rotated JPEG had EXIF; its outputs must not.
    let h = handoff(&run.out, "ROTATED06_1", "shopify");
    assert_eq!(check(&h, "metadata_stripped")["passed"], true);
    assert_eq!(check(&h, "color_space")["passed"], true);
    let bytes = std::fs::read(run.out.join("shopify/ROTATED06_1.jpg")).unwrap();
    assert!(!bytes.windows(6).any(|w| w == b"Exif\0\0"));
    assert!(bytes.windows(12).any(|w| w == b"ICC_PROFILE\0"));
}

#[test]
fn rerun_keeps_unchanged_outputs_and_force_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    std::fs::copy(
        fixtures().join("ROCKET02_1.png"),
        src.join("ROCKET02_1.png"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let args = |force: bool| {
        let mut a = vec![
            "process",
            src.to_str().unwrap(),
            "--spec",
            "amazon-main,mockup-input",
            "--out",
            out.to_str().unwrap(),
        ];
        if force {
            a.push("--force");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |force| {
        let a = args(force);
        shelfready(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(run(false).status.code(), Some(0));
    let first = std::fs::read(out.join("amazon-main/ROCKET02_1.jpg")).unwrap();
    let o = run(false);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 outputs unchanged"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["summary"]["up_to_date"], 2);
    assert_eq!(run(true).status.code(), Some(0));
    assert_eq!(
        std::fs::read(out.join("amazon-main/ROCKET02_1.jpg")).unwrap(),
        first,
        "deterministic"
    );
    assert_eq!(
        read_json(&out.join("manifest.json"))["summary"]["up_to_date"],
        0
    );
}

#[test]
fn specs_lists_and_prints() {
    let o = shelfready(&["specs"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for id in [
        "amazon-main",
        "amazon-additional",
        "shopify",
        "etsy",
        "ebay",
        "walmart",
        "google-merchant",
        "mockup-input",
    ] {
        assert!(text.contains(id), "{id} missing:\n{text}");
    }
    let o = shelfready(&["specs", "amazon-main"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("width = 2000") && text.contains("background = \"#FFFFFF\""),
        "{text}"
    );
}

#[test]
fn user_spec_extends_and_bad_field_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("small.toml");
    std::fs::write(
        &good,
        "extends = \"amazon-main\"\nid = \"amazon-small\"\nwidth = 1000\nheight = 1000\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let src = fixtures().join("MUG01_1.png");
    let o = process(&src, good.to_str().unwrap(), &out);
    assert_exit(&o, 0);
    let img = image::open(out.join("amazon-small/MUG01_1.jpg")).unwrap();
    assert_eq!((img.width(), img.height()), (1000, 1000));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "extends = \"shopify\"\nfill_ratio = 0.9\nbackgrund = \"#FFFFFF\"\n",
    )
    .unwrap();
    let o = process(&src, bad.to_str().unwrap(), &out);
    assert_eq!(o.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("backgrund"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn no_temp_files_are_left_behind() {
    let run = fixture_run();
    fn walk(p: &Path, n: &mut usize) {
        for e in std::fs::read_dir(p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, n);
            } else if p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".shelfready-")
            {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&run.out, &mut n);
    assert_eq!(n, 0);
}

#[test]
fn every_builtin_spec_makes_a_verified_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let src = fixtures().join("ROCKET02_1.png");
    let specs = "amazon-additional,etsy,ebay,walmart,google-merchant";
    let o = process(&src, specs, &out);
    assert_exit(&o, 0);
    for (spec, ext, size, magic) in [
        ("amazon-additional", "jpg", 2000, &b"\xFF\xD8\xFF"[..]),
        ("etsy", "jpg", 2000, b"\xFF\xD8\xFF"),
        ("ebay", "jpg", 1600, b"\xFF\xD8\xFF"),
        ("walmart", "jpg", 2200, b"\xFF\xD8\xFF"),
        ("google-merchant", "webp", 1500, b"RIFF"),
    ] {
        let path = out.join(format!("{spec}/ROCKET02_1.{ext}"));
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(magic), "{spec}");
        let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (size, size), "{spec}");
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255], "{spec} corner");
        let h = handoff(&out, "ROCKET02_1", spec);
        assert_eq!(h["state"], "ready", "{spec}: {h}");
        assert!(h["quality"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true));
    }
    // Etsy asks for under 1 MB.
    assert!(
        std::fs::metadata(out.join("etsy/ROCKET02_1.jpg"))
            .unwrap()
            .len()
            < 1_000_000
    );
}

/// Files run on parallel workers; the number of workers must change nothing a user sees:
/// the same bytes in every output, the same handoffs in the same order.
#[test]
fn outputs_and_manifest_order_do_not_depend_on_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let run = |jobs: &str| {
        let out = dir.path().join(format!("out{jobs}"));
        let o = shelfready(&[
            "process",
            fixtures().to_str().unwrap(),
            "--spec",
            "amazon-main,mockup-input",
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            jobs,
        ]);
        assert_exit(&o, 1); // the truncated fixture fails in both
        out
    };
    // 13 sources: one worker, and more workers than cores (each worker takes whole files).
    let (one, many) = (run("1"), run("3"));
    let handoffs = |out: &Path| -> Vec<(String, String)> {
        read_json(&out.join("manifest.json"))["handoffs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["id"].to_string(), h["state"].to_string()))
            .collect()
    };
    let (a, b) = (handoffs(&one), handoffs(&many));
    assert_eq!(a.len(), 26, "{a:?}");
    assert_eq!(a, b);
    let mut compared = 0;
    for spec in ["amazon-main", "mockup-input"] {
        for entry in std::fs::read_dir(one.join(spec)).unwrap() {
            let path = entry.unwrap().path();
            let other = many.join(spec).join(path.file_name().unwrap());
            assert!(
                std::fs::read(&path).unwrap() == std::fs::read(&other).unwrap(),
                "{} differs between --jobs 1 and 3",
                path.display()
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 24, "12 good sources x 2 specs");
}
