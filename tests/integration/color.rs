//! Colour and orientation on the real fixtures, through the library's decoder.

use palette::color_difference::Ciede2000;
use palette::{IntoColor, Lab, Srgb};
use shelfready::pipeline::{decode, Frame, Limits};

use crate::util::*;

fn load(name: &str) -> Frame {
    decode(
        &std::fs::read(fixtures().join(name)).unwrap(),
        &Limits::default(),
    )
    .unwrap()
}

/// Mean RGB of a 16x16 window around a centre.
fn mean(rgba: &[u8], width: u32, cx: u32, cy: u32) -> [f32; 3] {
    let mut s = [0f32; 3];
    for y in cy - 8..cy + 8 {
        for x in cx - 8..cx + 8 {
            let i = ((y * width + x) * 4) as usize;
            for c in 0..3 {
                s[c] += f32::from(rgba[i + c]);
            }
        }
    }
    s.map(|v| v / 256.0)
}

fn delta_e(a: [f32; 3], b: [f32; 3]) -> f32 {
    let lab = |c: [f32; 3]| -> Lab {
        Srgb::new(c[0] / 255.0, c[1] / 255.0, c[2] / 255.0)
            .into_linear()
            .into_color()
    };
    lab(a).difference(lab(b))
}

/// Checks each patch of `file` against `patches[..][key]` within `max_de` (Delta-E 2000),
/// and that reading the same file without colour management is off by more than
/// `unmanaged_de` somewhere, so the check can fail. Returns how many patches it checked.
fn check_patches<'a>(
    file: &str,
    patches: impl Iterator<Item = &'a serde_json::Value>,
    key: &str,
    max_de: f32,
    unmanaged_de: f32,
) -> usize {
    let frame = load(file);
    assert!(
        frame.operations.iter().any(|o| o.name == "icc_to_srgb"),
        "{file} converted: {:?}",
        frame.operations
    );
    let raw = image::open(fixtures().join(file)).unwrap().to_rgba8();
    let mut raw_worst = 0f32;
    let mut checked = 0;
    for p in patches {
        let c = &p["center"];
        let (cx, cy) = (c[0].as_u64().unwrap() as u32, c[1].as_u64().unwrap() as u32);
        let want = [0, 1, 2].map(|i| p[key][i].as_f64().unwrap() as f32);
        let got = mean(&frame.pixels, frame.width, cx, cy);
        let de = delta_e(got, want);
        assert!(
            de < max_de,
            "{file} {}: got {got:?} want {want:?}, dE2000 {de}",
            p["name"]
        );
        raw_worst = raw_worst.max(delta_e(mean(raw.as_raw(), raw.width(), cx, cy), want));
        checked += 1;
    }
    assert!(
        raw_worst > unmanaged_de,
        "{file}: unmanaged pixels should be visibly off ({raw_worst})"
    );
    checked
}

#[test]
fn tagged_photos_match_expected_srgb_patches() {
    let expected = read_json(&fixtures().join("expected_colors.json"));
    let patches = expected["patches"].as_array().unwrap();
    let mut checked = 0;
    for file in ["ADOBE04_1.jpg", "P3TAG05_1.png"] {
        let of_file = patches.iter().filter(|p| p["file"] == file);
        checked += check_patches(file, of_file, "expected_srgb", 1.5, 3.0);
    }
    assert!(checked >= 14, "{checked} patches");
}

#[test]
fn cmyk_jpeg_becomes_rgb() {
    let expected = read_json(&fixtures().join("expected_colors.json"));
    let frame = load("CMYK11_1.jpg");
    for p in expected["patches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["file"] == "CMYK11_1.jpg")
    {
        let c = &p["center"];
        let got = mean(
            &frame.pixels,
            frame.width,
            c[0].as_u64().unwrap() as u32,
            c[1].as_u64().unwrap() as u32,
        );
        for i in 0..3 {
            let want = p["expected_srgb"][i].as_f64().unwrap() as f32;
            assert!(
                (got[i] - want).abs() <= 6.0,
                "{}: got {got:?} want {}",
                p["name"],
                p["expected_srgb"]
            );
        }
    }
}

#[test]
fn exif_orientation_is_applied_for_jpeg_and_png() {
    let expected = read_json(&fixtures().join("expected_orientation.json"));
    for (file, e) in expected.as_object().unwrap() {
        let frame = load(file);
        assert_eq!(
            (u64::from(frame.width), u64::from(frame.height)),
            (
                e["displayed_width"].as_u64().unwrap(),
                e["displayed_height"].as_u64().unwrap()
            ),
            "{file}"
        );
        assert_eq!(
            u64::from(frame.source.exif_orientation),
            e["exif_orientation"].as_u64().unwrap()
        );
        for m in e["markers"].as_array().unwrap() {
            let c = &m["displayed_center"];
            let got = mean(
                &frame.pixels,
                frame.width,
                c[0].as_u64().unwrap() as u32,
                c[1].as_u64().unwrap() as u32,
            );
            for i in 0..3 {
                let want = m["color"][i].as_f64().unwrap() as f32;
                assert!(
                    (got[i] - want).abs() < 12.0,
                    "{file} {} marker: {got:?}",
                    m["name"]
                );
            }
        }
    }
}

#[test]
fn grey_and_sixteen_bit_sources_decode() {
    let g = load("GREY10_1.jpg");
    assert_eq!(g.source.color_type, "grey8");
    assert!(g
        .pixels
        .chunks_exact(4)
        .all(|p| p[0] == p[1] && p[1] == p[2] && p[3] == 255));
    let d = load("DEEP09_1.png");
    assert_eq!(d.source.color_type, "rgba16");
    assert!(
        d.pixels.chunks_exact(4).any(|p| p[3] == 0)
            && d.pixels.chunks_exact(4).any(|p| p[3] == 255)
    );
}

#[test]
fn cmyk_jpeg_with_profile_is_colour_managed() {
    // Against LittleCMS through the same embedded profile; the generic decoder's naive
    // CMYK conversion must be visibly off.
    let expected = read_json(&fixtures().join("expected_cmyk_icc.json"));
    let patches = expected["patches"].as_array().unwrap();
    assert_eq!(
        check_patches("CMYK12_1.jpg", patches.iter(), "lcms_srgb", 2.0, 4.0),
        6
    );
}
