//! Bad input: never a crash, never a stopped batch, never a touched source.

use std::path::Path;

use crate::util::*;

/// A PNG whose header claims 50000x50000 pixels: 10 GB once decoded.
fn png_bomb() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn sha(p: &Path) -> String {
    shelfready::store::sha256_hex(&std::fs::read(p).unwrap())
}

#[test]
fn bad_files_fail_alone_with_clear_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    std::fs::copy(fixtures().join("ROCKET02_1.png"), src.join("good_1.png")).unwrap();
    std::fs::write(src.join("bomb_1.png"), png_bomb()).unwrap();
    std::fs::write(src.join("notes_1.png"), b"SKU,price\nMUG01,12.00\n").unwrap();
    std::fs::write(src.join("empty_1.jpg"), b"").unwrap();
    let jpeg = std::fs::read(fixtures().join("SUPPLIER03-main.jpg")).unwrap();
    std::fs::write(src.join("cut_1.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    // A JPEG named .png: content decides, not the name.
    std::fs::write(src.join("misnamed_1.png"), &jpeg).unwrap();
    let before: Vec<(String, String)> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), sha(&p))
        })
        .collect();

    let out = dir.path().join("out");
    let o = process(&src, "amazon-main", &out);
    assert_exit(&o, 1);

    let code = |name: &str| {
        handoff(&out, name, "amazon-main")["error"]["code"]
            .as_str()
            .map(String::from)
    };
    assert_eq!(code("bomb_1").as_deref(), Some("decode-too-many-pixels"));
    let bomb = handoff(&out, "bomb_1", "amazon-main");
    let msg = bomb["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("50000x50000") && msg.contains("100000000"),
        "{msg}"
    );
    assert_eq!(code("notes_1").as_deref(), Some("decode-not-an-image"));
    assert_eq!(code("empty_1").as_deref(), Some("decode-not-an-image"));
    assert_eq!(code("cut_1").as_deref(), Some("decode-truncated"));
    assert_eq!(handoff(&out, "good_1", "amazon-main")["state"], "ready");
    assert_ne!(
        handoff(&out, "misnamed_1", "amazon-main")["state"],
        "failed"
    );
    for name in ["bomb_1", "notes_1", "empty_1", "cut_1"] {
        let h = handoff(&out, name, "amazon-main");
        assert_eq!(h["state"], "failed");
        assert!(h["asset"].is_null());
        assert!(!out.join(format!("amazon-main/{name}.jpg")).exists());
    }
    // Sources untouched.
    for (p, h) in before {
        assert_eq!(sha(Path::new(&p)), h, "{p} changed");
    }
}

#[test]
fn hostile_names_stay_inside_the_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    let name = "..%2F..%2Fevil ..;rm -rf $HOME.png";
    std::fs::copy(fixtures().join("ROCKET02_1.png"), src.join(name)).unwrap();
    let out = dir.path().join("out");
    let o = process(&src.join(name), "amazon-main", &out);
    assert_exit(&o, 0);
    let files: Vec<String> = std::fs::read_dir(out.join("amazon-main"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(files, vec!["2F.._2Fevil_.._rm_-rf_HOME.jpg".to_string()]);
    // Nothing was written beside the output folder.
    let mut top: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    top.sort();
    assert_eq!(top, vec!["in", "out"]);
}

#[test]
fn a_missing_input_exits_66_as_the_help_says() {
    let o = shelfready(&["process", "/nonexistent/folder", "--out", "/tmp/x"]);
    assert_eq!(o.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such file"));
}

/// Regression: an output folder inside the input folder once let a run overwrite a source.
#[test]
fn sources_inside_the_output_folder_are_never_touched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalog");
    std::fs::create_dir_all(root.join("etsy")).unwrap();
    let src = root.join("etsy/ROCKET02_1.jpg");
    std::fs::copy(fixtures().join("SUPPLIER03-main.jpg"), &src).unwrap();
    std::fs::copy(
        fixtures().join("ROCKET02_1.png"),
        root.join("ROCKET02_1.png"),
    )
    .unwrap();
    let before = sha(&src);
    let o = process(&root, "etsy", &root);
    // The file in the way is left alone and that output fails with a reason.
    assert_exit(&o, 1);
    assert_eq!(
        handoff(&root, "ROCKET02_1", "etsy")["error"]["code"],
        "output-exists"
    );
    assert_eq!(
        sha(&src),
        before,
        "a source inside the output folder was overwritten"
    );
    let m = read_json(&root.join("manifest.json"));
    assert_eq!(m["summary"]["sources"], 1);
}

/// Regression: a failed re-run left the previous good image beside a failed manifest.
#[test]
fn a_failed_rerun_removes_the_stale_output() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("p_1.png");
    std::fs::copy(fixtures().join("ROCKET02_1.png"), &src).unwrap();
    let out = dir.path().join("out");
    assert_exit(&process(&src, "amazon-main", &out), 0);
    let img = out.join("amazon-main/p_1.jpg");
    assert!(img.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&img).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "outputs are readable by others");
    }
    let bytes = std::fs::read(fixtures().join("BROKEN08_1.png")).unwrap();
    std::fs::write(&src, bytes).unwrap();
    assert_exit(&process(&src, "amazon-main", &out), 1);
    assert!(!img.exists(), "stale output left behind");
    assert_eq!(handoff(&out, "p_1", "amazon-main")["state"], "failed");
}

#[test]
fn max_pixels_flag_only_tightens() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb_1.png");
    std::fs::write(&bomb, png_bomb()).unwrap();
    let out = dir.path().join("out");
    let o = shelfready(&[
        "process",
        bomb.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--max-pixels",
        "10000000000",
    ]);
    assert_exit(&o, 1);
    let h = handoff(&out, "bomb_1", "amazon-main");
    assert_eq!(h["error"]["code"], "decode-too-many-pixels");
    assert!(h["error"]["message"]
        .as_str()
        .unwrap()
        .contains("100000000"));
}

#[test]
fn empty_input_and_no_spec_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = process(dir.path(), "amazon-main", &dir.path().join("out"));
    assert_exit(&o, 64);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no image files"));
    let o = process(
        &fixtures().join("ROCKET02_1.png"),
        ",",
        &dir.path().join("out"),
    );
    assert_exit(&o, 64);
}

/// Pillow's own files of images that crashed, hung or exhausted memory in image readers
/// (tests/data/hostile/, see its README), with one good photo, in one batch.
#[test]
fn pillows_hostile_files_fail_alone_in_one_batch_and_the_good_photo_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    let mut hostile = Vec::new();
    for e in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile")).unwrap()
    {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("LICENSE") || name.ends_with(".md") {
            continue;
        }
        std::fs::copy(&p, src.join(&name)).unwrap();
        hostile.push(name);
    }
    assert!(hostile.len() >= 40, "{hostile:?}");
    std::fs::copy(fixtures().join("MUG01_1.png"), src.join("good.png")).unwrap();
    let before: Vec<String> = hostile.iter().map(|n| sha(&src.join(n))).collect();

    let out = dir.path().join("out");
    let o = process(&src, "amazon-main", &out);
    assert_exit(&o, 1);
    assert_eq!(handoff(&out, "good", "amazon-main")["state"], "ready");
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["summary"]["sources"], hostile.len() + 1);
    let mut failed = 0;
    for name in &hostile {
        let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
        let h = handoff(&out, stem, "amazon-main");
        let state = h["state"].as_str().unwrap();
        assert!(
            ["failed", "needs_review", "ready"].contains(&state),
            "{name}: {h}"
        );
        if state == "failed" {
            failed += 1;
            let message = h["error"]["message"].as_str().unwrap();
            assert!(
                h["error"]["code"].as_str().is_some_and(|c| !c.is_empty()),
                "{name}: {h}"
            );
            // A sentence a person reads, with no bytes of the file in it.
            assert!(
                message.len() > 20 && message.is_ascii(),
                "{name}: {message}"
            );
        }
    }
    assert!(failed >= 30, "{failed} of {} failed", hostile.len());
    let code = |stem: &str| handoff(&out, stem, "amazon-main")["error"]["code"].clone();
    assert_eq!(code("zero_width"), "decode-empty");
    assert_eq!(code("crash-2020-10-test"), "decode-too-much-memory");
    assert_eq!(code("truncated_jpeg"), "decode-truncated");
    assert_eq!(code("bmp-badwidth"), "decode-corrupt");
    assert_eq!(code("broken"), "decode-corrupt");
    // The originals are as they were.
    let after: Vec<String> = hostile.iter().map(|n| sha(&src.join(n))).collect();
    assert_eq!(before, after);
}
