//! Checks that read the picture itself: the product's colours against the source's, the
//! parts of a picture beside the product (items, marks, a cut-off), an enclosed backdrop.

use serde_json::json;

use super::{round3, Pixels};
use crate::pipeline::analyse::{cut_off, locate_in_picture, CutOff};
use crate::pipeline::fidelity::{self, ColourFacts};
use crate::pipeline::key::EnclosedBackdrop;
use crate::pipeline::marks::Marks;
use crate::pipeline::measure::{is_seen, VISIBLE_DIFF};
use crate::pipeline::Frame;
use crate::quality::{Check, CheckName, Severity};
use crate::spec::{Background, Spec};

/// The product's colours in the file, read through its embedded profile, against the
/// source's through its own (docs/rules.md, house-color-fidelity).
pub(super) fn colour_check(
    colour: &ColourFacts,
    img: &Pixels,
    icc: Option<&[u8]>,
    spec: &Spec,
) -> Check {
    let f = fidelity::compare(
        colour,
        &img.data,
        (img.width, img.height),
        img.channels,
        icc,
    );
    let (max_mean, max_p95) = (spec.max_delta_e_mean, spec.max_delta_e_p95);
    let threshold = json!({ "mean": max_mean, "p95": max_p95 });
    let round2 = |v: f64| (v * 100.0).round() / 100.0;
    let (Some(mean), Some(p95)) = (f.mean, f.p95) else {
        return Check::new(
            CheckName::ColorFidelity,
            json!({ "mean": null, "p95": null, "cells": f.cells }),
            threshold,
            true,
            Severity::Review,
            format!(
                "Too few plain areas inside the product ({} of the {} needed) to compare its colours with the source's: not judged.",
                f.cells,
                fidelity::MIN_CELLS
            ),
        );
    };
    // The message says what the manifest records.
    let (mean, p95) = (round2(mean), round2(p95));
    let passed = mean <= max_mean && p95 <= max_p95;
    Check::new(
        CheckName::ColorFidelity,
        json!({ "mean": mean, "p95": p95, "cells": f.cells }),
        threshold,
        passed,
        Severity::Review,
        if passed {
            format!(
                "Product colours match the source's: ΔE2000 {mean:.1} on average (95% within {p95:.1}) over {} plain areas inside the product.",
                f.cells
            )
        } else {
            format!(
                "Product colours differ from the source's by ΔE2000 {mean:.1} on average (95% within {p95:.1}): a colour profile may have been ignored or misapplied; compare the output with the source."
            )
        },
    )
}

/// Items, marks and cut-off of a picture made elsewhere: its pixels that differ from the
/// backdrop (or, on transparency, are seen) are the product, as a cut-out's alpha says.
pub(super) fn parts_of_picture(img: &Pixels, backdrop: Background) -> (u8, Marks, CutOff) {
    let n = usize::from(img.channels);
    let alpha: Vec<u8> = img
        .data
        .chunks_exact(n)
        .flat_map(|p| {
            let a = if is_seen(p, backdrop, false, VISIBLE_DIFF) {
                255
            } else {
                0
            };
            [p[0], p[1], p[2], a]
        })
        .collect();
    let frame = Frame::from_rgba(img.width, img.height, alpha);
    let a = locate_in_picture(&frame);
    (a.items, a.marks, cut_off(&frame, &a))
}

/// The checks of what the product is made of, on `photo` (the source photo of an output,
/// or the picture itself): several items (docs/rules.md, house-several-items: a pair or a
/// set is one product, which only a person can tell), text or badges beside it
/// (house-text-and-badges), and a frame that cuts it off (amazon-main-whole-product: only
/// a new photo brings the missing part back).
pub(super) fn parts_checks(items: u8, marks: Marks, c: CutOff, photo: &str) -> [Check; 3] {
    let marks_words = match (marks.text_lines, marks.corner_marks) {
        (0, 0) => String::new(),
        (t, 0) => format!("{t} line(s) of text"),
        (0, m) => format!("{m} mark(s) alone in a corner (a badge or a logo)"),
        (t, m) => {
            format!("{t} line(s) of text and {m} mark(s) alone in a corner (a badge or a logo)")
        }
    };
    [
        Check::new(
            CheckName::SeveralItems,
            json!(items),
            json!(1),
            items <= 1,
            Severity::Review,
            if items <= 1 {
                "The product is one item.".into()
            } else {
                format!("The picture holds {items} separate items of a product's size: several products or views in one image, or one product in parts (a pair, a set).")
            },
        ),
        Check::new(
            CheckName::TextOrLogo,
            json!(marks),
            json!(Marks::default()),
            !marks.any(),
            Severity::Review,
            if marks.any() {
                format!("Beside the product in {photo}: {marks_words}.")
            } else {
                "Nothing stands beside the product but its own parts.".into()
            },
        ),
        Check::new(
            CheckName::CutOff,
            json!(c.sides),
            json!(0),
            c.sides == 0,
            Severity::Review,
            if c.sides == 0 {
                format!("The product is whole: it does not run into the edges of {photo}.")
            } else {
                format!(
                    "The product runs into {} edge(s) of {photo} ({} px along them): part of it is cut off by its frame.",
                    c.sides, c.pixels
                )
            },
        ),
    ]
}

/// The areas a sweep photo's product encloses in the backdrop's colour, when it has any:
/// undecided, they wait for a person (the sweep through a handle or a white part of the
/// product look the same); decided, the check says what was done.
pub(super) fn enclosed_check(e: &EnclosedBackdrop) -> Option<Check> {
    let largest = e.largest?;
    let share = e.pixels as f64 / e.product_pixels.max(1) as f64;
    let measured = json!({ "areas": e.areas, "share_of_product": round3(share),
        "largest": [largest.x, largest.y, largest.w, largest.h] });
    let (passed, message) = match e.decided {
        None => (false, format!(
            "{} area(s) inside the product are the backdrop's colour ({:.1}% of the product's box; the largest at {},{} in the source, {}x{} px): the backdrop seen through a handle or a gap, or a white part of the product. Kept as product until someone says which.",
            e.areas, share * 100.0, largest.x, largest.y, largest.w, largest.h
        )),
        Some(crate::spec::Enclosed::Clear) => (true, format!(
            "{} area(s) inside the product in the backdrop's colour were cleared to the background, as a reviewer asked.",
            e.areas
        )),
        Some(crate::spec::Enclosed::Keep) => (true, format!(
            "{} area(s) inside the product in the backdrop's colour were kept as the product's, as a reviewer asked.",
            e.areas
        )),
    };
    Some(Check::new(
        CheckName::EnclosedBackdrop,
        measured,
        json!(e.decided.map_or("decided by a person", |d| d.as_str())),
        passed,
        Severity::Review,
        message,
    ))
}
