//! The command line as a seller meets it: names that never swap products, product folders
//! kept, custom specs that say what they are, a summary per photo, Ctrl-C and recovery.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::*;

fn sha(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into()
}

#[test]
fn a_name_once_given_stays_with_its_product() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    let out = dir.path().join("out");
    std::fs::copy(fixtures().join("ROCKET02_1.png"), src.join("Grüße.png")).unwrap();
    assert_exit(&process(&src, "amazon-main", &out), 0);
    let rocket = sha(&out.join("amazon-main/Grusse.jpg"));

    // A mug arrives whose name is close, and one whose name transliterates the same.
    std::fs::copy(fixtures().join("MUG01_1.png"), src.join("Größe.png")).unwrap();
    std::fs::copy(fixtures().join("MUG01_1.png"), src.join("Grusse.png")).unwrap();
    let o = process(&src, "amazon-main", &out);
    assert_exit(&o, 0);
    assert_eq!(sha(&out.join("amazon-main/Grusse.jpg")), rocket);
    assert_eq!(
        handoff(&out, "Grusse", "amazon-main")["provenance"]["source_key"],
        "in/Grüße.png"
    );
    assert_eq!(
        handoff(&out, "Grosse", "amazon-main")["provenance"]["source_key"],
        "in/Größe.png"
    );
    assert_eq!(
        handoff(&out, "Grusse-2", "amazon-main")["provenance"]["source_key"],
        "in/Grusse.png"
    );
    // The clash is told, on screen and in the manifest.
    let text = stdout(&o);
    assert!(
        text.contains("named Grusse-2 because Grusse is the name of in/Grüße.png"),
        "{text}"
    );
    let m = read_json(&out.join("manifest.json"));
    let photo = m["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "in/Grusse.png")
        .unwrap();
    assert_eq!(photo["name"], "Grusse-2");
    assert!(photo["renamed"].as_str().unwrap().contains("in/Grüße.png"));

    // The store's records deleted (the manifests kept): names come back from the
    // manifests, so no product moves, on this run or the next.
    std::fs::remove_dir_all(out.join(".shelfready")).unwrap();
    for _ in 0..2 {
        assert_exit(&process(&src, "amazon-main", &out), 0);
        assert_eq!(sha(&out.join("amazon-main/Grusse.jpg")), rocket);
        assert_eq!(
            handoff(&out, "Grusse-2", "amazon-main")["provenance"]["source_key"],
            "in/Grusse.png"
        );
    }

    // A third run changes nothing.
    let o = process(&src, "amazon-main", &out);
    assert_exit(&o, 0);
    assert_eq!(sha(&out.join("amazon-main/Grusse.jpg")), rocket);
    assert!(stdout(&o).contains("3 outputs unchanged"), "{}", stdout(&o));
}

#[test]
fn names_differing_by_extension_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    std::fs::copy(fixtures().join("ROCKET02_1.png"), src.join("mug.png")).unwrap();
    std::fs::copy(fixtures().join("SUPPLIER03-main.jpg"), src.join("mug.jpg")).unwrap();
    let out = dir.path().join("out");
    assert_exit(&process(&src, "amazon-main", &out), 0);
    // Walk order is by file name: mug.jpg first.
    assert_eq!(
        handoff(&out, "mug", "amazon-main")["provenance"]["source_key"],
        "in/mug.jpg"
    );
    assert_eq!(
        handoff(&out, "mug-png", "amazon-main")["provenance"]["source_key"],
        "in/mug.png"
    );
}

#[test]
fn product_folders_keep_their_folders_and_skus() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("catalog");
    for (folder, fixture) in [
        ("red-mug", "MUG01_1.png"),
        ("blue-rocket", "ROCKET02_1.png"),
    ] {
        std::fs::create_dir_all(src.join(folder)).unwrap();
        std::fs::copy(fixtures().join(fixture), src.join(folder).join("main.png")).unwrap();
    }
    std::fs::copy(fixtures().join("MUG01_1.png"), src.join("red-mug/2.png")).unwrap();
    let out = dir.path().join("out");
    assert_exit(&process(&src, "amazon-main,shopify", &out), 0);
    for spec in ["amazon-main", "shopify"] {
        for name in ["red-mug/main", "red-mug/2", "blue-rocket/main"] {
            assert!(
                out.join(format!("{spec}/{name}.jpg")).is_file(),
                "{spec}/{name}"
            );
        }
    }
    let h = handoff(&out, "red-mug/main", "amazon-main");
    assert_eq!(h["context"]["sku"], "red-mug");
    assert_eq!(h["context"]["position"], 1);
    assert_eq!(h["context"]["from"], "folder");
    assert_eq!(h["asset"]["path"], "amazon-main/red-mug/main.jpg");
    assert_eq!(
        handoff(&out, "red-mug/2", "amazon-main")["context"]["position"],
        2
    );
    let h = handoff(&out, "blue-rocket/main", "shopify");
    assert_eq!(h["context"]["sku"], "blue-rocket");
    // One product's folder run on its own: `main.png` still belongs to the folder.
    let out2 = dir.path().join("out2");
    assert_exit(&process(&src.join("red-mug"), "amazon-main", &out2), 0);
    assert_eq!(
        handoff(&out2, "main", "amazon-main")["context"]["sku"],
        "red-mug"
    );
    // The two main.png are two products: different pixels.
    assert_ne!(
        sha(&out.join("amazon-main/red-mug/main.jpg")),
        sha(&out.join("amazon-main/blue-rocket/main.jpg"))
    );
}

#[test]
fn a_user_spec_without_an_id_never_touches_amazon_mains_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let rocket = fixtures().join("ROCKET02_1.png");
    assert_exit(&process(&rocket, "amazon-main", &out), 0);
    let main = sha(&out.join("amazon-main/ROCKET02_1.jpg"));
    let main_manifest = sha(&out.join("manifests/ROCKET02_1.amazon-main.json"));

    let spec = dir.path().join("amazon-1600.toml");
    std::fs::write(
        &spec,
        "extends = \"amazon-main\"\nwidth = 1600\nheight = 1600\n",
    )
    .unwrap();
    let o = process(&rocket, spec.to_str().unwrap(), &out);
    assert_exit(&o, 0);
    assert_eq!(sha(&out.join("amazon-main/ROCKET02_1.jpg")), main);
    assert_eq!(
        sha(&out.join("manifests/ROCKET02_1.amazon-main.json")),
        main_manifest
    );
    let img = image::open(out.join("amazon-1600/ROCKET02_1.jpg")).unwrap();
    assert_eq!((img.width(), img.height()), (1600, 1600));
    let h = handoff(&out, "ROCKET02_1", "amazon-1600");
    assert_eq!(h["goal"]["spec_id"], "amazon-1600");
    let description = h["goal"]["description"].as_str().unwrap();
    assert!(description.contains("width = 1600"), "{description}");
    assert!(!description.contains("2000"), "{description}");
    let main_hash = &handoff(&out, "ROCKET02_1", "amazon-main")["goal"]["spec_hash"];
    assert_ne!(&h["goal"]["spec_hash"], main_hash);

    // Taking a built-in's id is refused by name.
    std::fs::write(
        &spec,
        "id = \"amazon-main\"\nextends = \"amazon-main\"\nwidth = 1600\n",
    )
    .unwrap();
    let o = process(&rocket, spec.to_str().unwrap(), &out);
    assert_exit(&o, 64);
    assert!(
        stderr(&o).contains("id 'amazon-main' is the built-in amazon-main spec's"),
        "{}",
        stderr(&o)
    );
    assert_eq!(sha(&out.join("amazon-main/ROCKET02_1.jpg")), main);
}

#[test]
fn spec_names_are_suggested_and_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let rocket = fixtures().join("ROCKET02_1.png");
    let r = rocket.to_str().unwrap();
    let o = process(&rocket, "Amazon-Main", &out);
    assert_exit(&o, 64);
    assert!(
        stderr(&o).contains("did you mean amazon-main?"),
        "{}",
        stderr(&o)
    );
    let o = process(&rocket, "amazon", &out);
    assert!(
        stderr(&o).contains("did you mean amazon-main or amazon-additional?"),
        "{}",
        stderr(&o)
    );
    let spec = dir.path().join("mine.toml");
    std::fs::write(&spec, "extends = \"amazon\"\nwidth = 1600\n").unwrap();
    let o = process(&rocket, spec.to_str().unwrap(), &out);
    assert_exit(&o, 64);
    let e = stderr(&o);
    assert!(
        e.contains("mine.toml") && e.contains("extends = \"amazon\""),
        "{e}"
    );
    assert!(e.contains("did you mean amazon-main"), "{e}");
    let o = process(&rocket, "missing.toml", &out);
    assert_exit(&o, 64);
    assert_eq!(
        stderr(&o).matches("No such file").count(),
        1,
        "{}",
        stderr(&o)
    );
    let o = shelfready(&["process", r, "-spec", "amazon-main"]);
    assert_exit(&o, 64);
    assert!(stderr(&o).contains("write --spec"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn the_summary_has_one_line_per_photo_in_plain_words() {
    let run = fixture_run();
    let photos = read_json(&run.out.join("manifest.json"))["photos"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(photos, 13);
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| {
            ["  ready ", "  review ", "  failed "]
                .iter()
                .any(|s| l.starts_with(s))
        })
        .collect();
    assert_eq!(lines.len(), photos, "{}", run.stdout);
    for internal in ["plain_background", "cutout_source", "fill_ratio", "upscale"] {
        assert!(!run.stdout.contains(internal), "{internal}: {}", run.stdout);
    }
    // Every line that is not ready says what to do.
    for l in lines.iter().filter(|l| !l.starts_with("  ready ")) {
        let after_states = l.rsplit(']').next().unwrap();
        assert!(
            after_states.contains(".png: ")
                || after_states.contains(".jpg: ")
                || after_states.starts_with(": "),
            "{l}"
        );
    }
    let adobe = lines.iter().find(|l| l.contains("ADOBE04_1.jpg")).unwrap();
    assert!(
        adobe.contains("busy background: remove it first"),
        "{adobe}"
    );
    // A busy photo too small for the canvas: the size comes first (only the supplier can
    // fix it), the busy background second; the fill and centring they explain are not
    // asked again.
    let h = handoff(&run.out, "CMYK11_1", "amazon-main");
    let checks: Vec<&str> = h["next_actor"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(checks, ["upscale", "plain_background"]);
    assert_eq!(h["next_actor"]["questions"].as_array().unwrap().len(), 2);
    assert_eq!(h["next_actor"]["owner"], "supplier");
    let m = read_json(&run.out.join("manifest.json"));
    assert_eq!(m["summary"]["photos"]["failed"], 1);
}

#[test]
fn a_file_in_the_way_names_the_output_folder_not_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("amazon-main")).unwrap();
    std::fs::write(
        out.join("amazon-main/ROCKET02_1.jpg"),
        b"someone else's file",
    )
    .unwrap();
    let o = process(&fixtures().join("ROCKET02_1.png"), "amazon-main", &out);
    assert_exit(&o, 1);
    let h = handoff(&out, "ROCKET02_1", "amazon-main");
    assert_eq!(h["error"]["code"], "output-exists");
    let action = h["next_actor"]["action"].as_str().unwrap();
    assert!(!action.contains("source"), "{action}");
    assert!(action.contains("output folder"), "{action}");
    assert!(stdout(&o).contains("Move it away"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read(out.join("amazon-main/ROCKET02_1.jpg")).unwrap(),
        b"someone else's file"
    );
}

#[test]
fn deleted_records_do_not_lock_a_seller_out() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    for f in ["ROCKET02_1.png", "MUG01_1.png"] {
        std::fs::copy(fixtures().join(f), src.join(f)).unwrap();
    }
    let out = dir.path().join("out");
    assert_exit(&process(&src, "amazon-main", &out), 0);
    let rocket = sha(&out.join("amazon-main/ROCKET02_1.jpg"));

    // The manifests folder deleted: the store's records still know its outputs.
    std::fs::remove_dir_all(out.join("manifests")).unwrap();
    let force = |out: &Path| {
        shelfready(&[
            "process",
            src.to_str().unwrap(),
            "--spec",
            "amazon-main",
            "--out",
            out.to_str().unwrap(),
            "--force",
        ])
    };
    assert_exit(&force(&out), 0);
    assert!(out.join("manifests/ROCKET02_1.amazon-main.json").is_file());
    assert_eq!(sha(&out.join("amazon-main/ROCKET02_1.jpg")), rocket);

    // Every record deleted: outputs that are exactly what this run makes are its own.
    std::fs::remove_dir_all(out.join("manifests")).unwrap();
    std::fs::remove_dir_all(out.join(".shelfready")).unwrap();
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    assert_exit(&force(&out), 0);
    assert_eq!(sha(&out.join("amazon-main/ROCKET02_1.jpg")), rocket);

    // A file that differs, with no record, is left alone, and the message says how to
    // recover.
    std::fs::remove_dir_all(out.join(".shelfready")).unwrap();
    std::fs::write(out.join("amazon-main/MUG01_1.jpg"), b"edited by hand").unwrap();
    let o = force(&out);
    assert_exit(&o, 1);
    let text = stdout(&o);
    assert!(text.contains("has no record of writing it"), "{text}");
    assert!(text.contains("deleting it is safe"), "{text}");
    // The record of the mug's manifest does not make the edited file ours: a second run
    // still leaves it alone.
    assert_exit(&force(&out), 1);
    assert_eq!(
        std::fs::read(out.join("amazon-main/MUG01_1.jpg")).unwrap(),
        b"edited by hand"
    );
}

#[test]
fn ctrl_c_stops_cleanly_and_the_same_command_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    for i in 0..16 {
        std::fs::copy(
            fixtures().join("ROCKET02_1.png"),
            src.join(format!("R{i:02}_1.png")),
        )
        .unwrap();
    }
    let out = dir.path().join("out");
    let args = [
        "process",
        src.to_str().unwrap(),
        "--spec",
        "amazon-main,shopify",
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "1",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Progress lines go to stderr: interrupt after the second photo is done.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("[2]") {
        line.clear();
    }
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("Interrupted after"), "{text}");
    assert!(
        text.contains("of 16; run the same command again to continue"),
        "{text}"
    );
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["interrupted"], true);
    assert_eq!(m["exit_code"], 130);
    let done = m["summary"]["photos"]["ready"].as_u64().unwrap();
    let stopped = m["summary"]["photos"]["not_reached"].as_u64().unwrap();
    assert!(
        done >= 2 && stopped > 0 && done + stopped == 16,
        "{done} + {stopped}"
    );
    // No half file anywhere.
    for e in walkdir_files(&out) {
        let name = Path::new(&e)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(!name.ends_with(".tmp"), "{e}");
    }

    let o = shelfready(&args);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains(&format!("{} outputs unchanged", done * 2)),
        "{}",
        stdout(&o)
    );
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["summary"]["photos"]["ready"], 16);
    assert_eq!(m["handoffs"].as_array().unwrap().len(), 32);
}

#[test]
fn the_manifest_describes_the_whole_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let rocket = fixtures().join("ROCKET02_1.png");
    let mug = fixtures().join("MUG01_1.png");
    assert_exit(&process(&rocket, "amazon-main,shopify", &out), 0);
    assert_exit(&process(&mug, "amazon-main", &out), 0);
    let m = read_json(&out.join("manifest.json"));
    let ids: Vec<&str> = m["handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "MUG01_1.amazon-main",
            "ROCKET02_1.amazon-main",
            "ROCKET02_1.shopify"
        ]
    );
    assert_eq!(m["photos"][1]["this_run"], false);
}

#[test]
fn a_faint_feather_on_one_side_does_not_read_as_off_centre() {
    // A cut-out whose body is symmetric, with faint hair on its right: one-pixel strands
    // every 6 rows, 90 px long (alpha 18: over what reads as visible on white at full
    // size). Scaled down to fit the canvas, the strands blend below the visibility
    // threshold before JPEG, and JPEG noise lifts some back over it: the product must be
    // centred, and measured as centred.
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (3000u32, 3600u32);
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        let body = (800..2000).contains(&x) && (200..3400).contains(&y);
        let hair = (2000..2090).contains(&x) && y % 6 == 5 && (1000..2600).contains(&y);
        match (body, hair) {
            (true, _) => image::Rgba([40, 60, 90, 255]),
            (_, true) => image::Rgba([40, 60, 90, 18]),
            _ => image::Rgba([0, 0, 0, 0]),
        }
    });
    let src = dir.path().join("HAIR_1.png");
    img.save(&src).unwrap();
    let out = dir.path().join("out");
    let o = process(&src, "shopify,amazon-main", &out);
    for spec in ["shopify", "amazon-main"] {
        let h = handoff(&out, "HAIR_1", spec);
        let c = check(&h, "centering");
        assert_eq!(c["passed"], true, "{spec}: {c}");
        let img = image::open(out.join(format!("{spec}/HAIR_1.jpg")))
            .unwrap()
            .to_rgb8();
        // The body (plainly visible) is in the middle; JPEG noise lifts some hair over the
        // visibility threshold, which the check must not take for the product moving.
        let (x0, _, x1, _) = product_box_on_white(&img, 24);
        let side = img.width();
        assert!(
            (x0 + x1 + 1).abs_diff(side) <= 4,
            "{spec}: {x0}..{x1} of {side}"
        );
    }
    assert_exit(&o, 0);
}

/// Every file under `dir`, as a path string.
fn walkdir_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

/// The README's first command, as a newcomer runs it from the repository: the demo folder
/// comes out mostly ready, its catalog names the products, the two honest cases say what to
/// do, and the README shows exactly what it prints.
#[test]
fn the_readme_first_command_on_the_demo_folder_prints_what_the_readme_shows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = readme
        .lines()
        .find(|l| l.starts_with("cargo run -- process"))
        .expect("the README's first command");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args: Vec<String> = command
        .split_whitespace()
        .skip(3)
        .map(str::to_string)
        .collect();
    let at = args.iter().position(|a| a == "--out").unwrap() + 1;
    args[at] = format!("{}/", out.display());
    let o = Command::new(env!("CARGO_BIN_EXE_shelfready"))
        .args(&args)
        .current_dir(root)
        .env_remove("SHELFREADY_SPECS")
        .env_remove("SHELFREADY_OUT")
        .output()
        .unwrap();
    assert_exit(&o, 1);
    let printed = stdout(&o).replace(&format!("{}/", dir.path().display()), "");
    let printed = &printed[printed.find("shelfready:").unwrap()..];
    let shown = &readme[readme.find("\nshelfready: ").unwrap() + 1..];
    let shown = &shown[..shown.find("```").unwrap()];
    assert_eq!(
        printed, shown,
        "the README's summary is not what the command prints"
    );
    assert!(
        printed.contains("4 ready, 1 to review, 1 failed"),
        "{printed}"
    );

    // The catalog named the products: their barcodes and titles are on the handoffs, and
    // the catalog file itself is not listed as a file left out.
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["catalog"]["rows"], 6);
    assert_eq!(m["catalog"]["missing_files"], serde_json::json!([]));
    assert!(
        m["skipped"].as_array().is_none_or(|s| s.is_empty()),
        "{}",
        m["skipped"]
    );
    let h = handoff(&out, "supplier/ROCKET02_2", "amazon-main");
    assert_eq!(h["state"], "ready");
    assert_eq!(h["context"]["from"], "catalog");
    assert_eq!(h["context"]["identifier"], "0012345678905");
    assert_eq!(h["context"]["position"], 2);
    let img = image::open(out.join("amazon-main/supplier/ROCKET02_2.jpg"))
        .unwrap()
        .to_rgb8();
    assert_eq!(img.dimensions(), (2000, 2000));
    assert_eq!(img.get_pixel(5, 5).0, [255, 255, 255]);

    // Amazon's bundle from it: MAIN and PT01 of the rocket under its catalog barcode.
    let o = shelfready(&[
        "export",
        out.to_str().unwrap(),
        "--format",
        "amazon",
        "--out",
        dir.path().join("exports").to_str().unwrap(),
    ]);
    assert_exit(&o, 2);
    let zip = std::fs::File::open(dir.path().join("exports/amazon/amazon-images-1.zip")).unwrap();
    let zip = zip::ZipArchive::new(zip).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "0012345678905.MAIN.jpg",
            "0012345678905.PT01.jpg",
            "4006381333931.MAIN.jpg",
            "B07XJ8C8F5.MAIN.jpg"
        ]
    );
}

/// A folder's catalog is read by `process` as by the other doors: its problems are said
/// in the summary and kept in the manifest; two folders with a catalog each are refused.
#[test]
fn process_reads_the_folders_catalog_and_says_what_it_could_not_use() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(a.join("MUG")).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(fixtures().join("ROCKET02_1.png"), a.join("MUG/1.png")).unwrap();
    std::fs::write(
        a.join("catalog.csv"),
        "Dateiname;Artikelnummer;EAN;Farbe\nMUG/1.png;MUG-RED;4.00638E+12;rot\ngone.png;X;;\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = process(&a, "amazon-main", &out);
    assert_exit(&o, 0);
    let text = stdout(&o);
    assert!(text.contains("CSV, semicolon-separated"), "{text}");
    assert!(text.contains("line 2, column 3 (identifier)"), "{text}");
    assert!(
        text.contains("1 row(s) name a file the batch does not hold"),
        "{text}"
    );
    assert!(!text.contains("gone.png"), "a cell echoed: {text}");
    assert!(!text.contains("rot"), "cell text echoed: {text}");
    let h = handoff(&out, "MUG/1", "amazon-main");
    assert_eq!(h["context"]["sku"], "MUG-RED");
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["catalog"]["unused_columns"][0]["header"], "Farbe");

    // A photo named beside the folder is not the catalog's, though a row names its file.
    let loose = dir.path().join("loose");
    std::fs::create_dir_all(&loose).unwrap();
    std::fs::copy(fixtures().join("MUG01_1.png"), loose.join("1.png")).unwrap();
    std::fs::write(a.join("catalog.csv"), "file;sku\n1.png;MUG-RED\n").unwrap();
    let o = shelfready(&[
        "process",
        a.to_str().unwrap(),
        &format!("{}/", a.display()),
        loose.join("1.png").to_str().unwrap(),
        "--spec",
        "amazon-main",
        "--out",
        dir.path().join("out3").to_str().unwrap(),
    ]);
    assert_exit(&o, 0);
    let out3 = dir.path().join("out3");
    assert_eq!(
        handoff(&out3, "MUG/1", "amazon-main")["context"]["sku"],
        "MUG-RED"
    );
    assert_eq!(
        handoff(&out3, "1", "amazon-main")["context"]["from"],
        "folder"
    );
    // A catalog named as a file is not taken for a photo; its folder is what to give.
    let o = shelfready(&[
        "process",
        a.join("catalog.csv").to_str().unwrap(),
        "--spec",
        "amazon-main",
        "--out",
        dir.path().join("out4").to_str().unwrap(),
    ]);
    assert_exit(&o, 64);
    assert!(
        stderr(&o).contains("give the folder it is in"),
        "{}",
        stderr(&o)
    );

    // Any case of the name is the catalog; two folders with one each are refused.
    std::fs::write(b.join("Catalog.CSV"), "file,sku\nx.png,X\n").unwrap();
    std::fs::copy(fixtures().join("ROCKET02_1.png"), b.join("x.png")).unwrap();
    let o = shelfready(&[
        "process",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--spec",
        "amazon-main",
        "--out",
        dir.path().join("out2").to_str().unwrap(),
    ]);
    assert_exit(&o, 64);
    assert!(stderr(&o).contains("each hold a catalog"), "{}", stderr(&o));
}
