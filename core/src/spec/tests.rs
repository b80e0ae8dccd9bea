use super::*;

#[test]
fn every_builtin_parses_and_validates() {
    for id in builtin_ids() {
        let spec = builtin(id).expect("listed").expect("valid");
        assert_eq!(spec.id, *id);
    }
}

#[test]
fn user_spec_extends_builtin() {
    let spec = Spec::from_toml(
        "mine.toml",
        "extends = \"amazon-main\"\nid = \"amazon-small\"\nwidth = 1000\nheight = 1000\n",
    )
    .unwrap();
    assert_eq!(spec.width, 1000);
    assert_eq!(spec.background, Background::Color([255, 255, 255]));
    assert_eq!(spec.format, Format::Jpeg);
}

#[test]
fn unknown_field_is_named() {
    let err = Spec::from_toml("x.toml", "extends = \"shopify\"\nfil_ratio = 0.9\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("fil_ratio"), "{err}");
}

#[test]
fn out_of_range_value_is_named() {
    let err = Spec::from_toml("x.toml", "extends = \"shopify\"\nfill_ratio = 1.5\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("fill_ratio") && err.contains("1.5"), "{err}");
}

#[test]
fn background_parses() {
    assert_eq!(
        Background::parse("#fFfFfF"),
        Some(Background::Color([255, 255, 255]))
    );
    assert_eq!(
        Background::parse("transparent"),
        Some(Background::Transparent)
    );
    assert_eq!(Background::parse("white"), None);
}

#[test]
fn bounds_name_every_rule_broken() {
    let b = builtin("walmart").unwrap().unwrap().bounds.unwrap();
    let broken = b.broken(1200, 1000, "gif", None);
    assert_eq!(broken.len(), 4, "{broken:?}");
    assert!(broken[0].contains("1200 px on the longest side is under Walmart's minimum of 1500 px"));
    assert!(broken[2].contains("not the 1:1 width:height"));
    assert!(broken[3].contains("gif is not a format Walmart accepts"));
    assert!(b.broken(2200, 2200, "jpeg", Some(4_000_000)).is_empty());
    assert!(b.broken(2200, 2200, "jpeg", Some(6_000_000))[0]
        .contains("6.0 MB is over Walmart's limit of 5.0 MB"));
}

#[test]
fn every_builtin_canvas_keeps_its_own_bounds() {
    for id in builtin_ids() {
        let s = builtin(id).unwrap().unwrap();
        if let Some(b) = &s.bounds {
            assert!(
                b.broken(s.width, s.height, s.format.name(), None)
                    .is_empty(),
                "{id}"
            );
        } else {
            assert_eq!(id, "mockup-input", "every marketplace spec carries bounds");
        }
    }
}

#[test]
fn the_old_border_tolerance_name_still_overrides_a_builtin() {
    let s = Spec::from_toml(
        "old.toml",
        "extends = \"shopify\"\nid = \"old\"\nborder_tolerance = 3\n",
    )
    .unwrap();
    assert_eq!(s.background_tolerance, 3);
}

#[test]
fn sizes_that_round_alike_are_said_exactly() {
    assert_eq!(size_words(999_999), "1.0 MB");
    assert_eq!(
        sizes_words(1_000_001, 1_000_000),
        ("1000001 bytes".into(), "1000000 bytes".into())
    );
}
