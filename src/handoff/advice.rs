//! What to do about a photo, in plain words: the cause behind its failed checks, said once.
//!
//! Checks are measured independently, but one cause trips several: a busy background
//! makes the product look small, off-centre and over-enlarged; a source too small to
//! fill the frame also fails the fill. Reviewers and summaries get the cause, not the pile.

use super::{Category, ErrorCode, Failure, Handoff, State};
use crate::quality::{Check, CheckName};

/// Whether a failed `check` is a consequence of a failed `cause`.
fn explained_by(check: CheckName, cause: CheckName) -> bool {
    use CheckName::*;
    match cause {
        // The whole photo was placed: its "product" is the photo, background and all. Its
        // size is its own cause: a photo too small stays too small whatever a retoucher
        // does to its background.
        PlainBackground => matches!(
            check,
            FillRatio
                | Centering
                | BackgroundPurity
                | BorderPurity
                | ShadowToEdge
                | CutoutSource
                | FrameLine
        ),
        // Text or a badge beside the product is in its box: the product looks small and
        // off-centre because of it.
        TextOrLogo => matches!(check, FillRatio | Centering),
        // Enlargement stopped at the spec's limit: the product is smaller than asked.
        Upscale => check == FillRatio,
        // The whole background is off: its edge and anything reaching it are too.
        BackgroundPurity => matches!(check, BorderPurity | ShadowToEdge),
        ShadowToEdge => check == BorderPurity,
        _ => false,
    }
}

/// How soon a cause is to be said, by who can fix it: a source too small blocks whatever
/// else is done (only the supplier can give a larger one), so it comes before what a
/// retoucher or a reviewer could settle.
fn rank(name: CheckName) -> u8 {
    match name {
        CheckName::Upscale | CheckName::CutOff => 0,
        _ => 1,
    }
}

/// The failed checks that no other failed check explains: those that stop a file first,
/// then by [`rank`], then in their order.
pub fn causes<'a>(failed: &[&'a Check]) -> Vec<&'a Check> {
    let mut causes: Vec<&Check> = failed
        .iter()
        .copied()
        .filter(|c| !failed.iter().any(|by| explained_by(c.name, by.name)))
        .collect();
    causes.sort_by_key(|c| (c.severity != crate::quality::Severity::Fail, rank(c.name)));
    causes
}

/// Who is to act on a failure, and how, by the kind of failure: a damaged source is the
/// supplier's to replace; a file in the way or a full disk is the output folder's.
pub fn remedy(code: ErrorCode) -> &'static str {
    match code.category() {
        Category::BadInput | Category::TooLarge | Category::Unsupported => {
            "replace the source file (export or download it again), or drop it from the batch"
        }
        Category::Unmet => "fix the source or the spec, then make it again",
        Category::Conflict => {
            "clear the output folder's way (the message names the file), or choose another output folder"
        }
        Category::Storage => "fix the output folder (space, permissions), then run again",
        Category::Usage => "fix the command or the spec, then run again",
        Category::Cancelled => "run the same command again to finish it",
        Category::Internal => "report it with the file; the rest of the batch is not affected",
        Category::Unauthorized => "send the server's token as `Authorization: Bearer <token>`",
        Category::Forbidden => "ask with a token that may do this (an operator's for uploads and deletes)",
        Category::NotFound => "check the id (list batches and specs to find it)",
        Category::Busy => "wait a little and send it again",
    }
}

/// Whether the failure is the source file's (the supplier acts) rather than the run's.
pub fn blames_source(code: ErrorCode) -> bool {
    matches!(
        code.category(),
        Category::BadInput | Category::TooLarge | Category::Unsupported
    )
}

/// A failure in words: what happened, and for a failure that is not the source's, what to
/// do (a source's messages already end with the fix).
pub fn failure_words(f: &Failure) -> String {
    // A source's messages and a file in the way's already end with the fix.
    if blames_source(f.code)
        || f.code == ErrorCode::ChecksFailed
        || f.code.category() == Category::Conflict
    {
        f.message.clone()
    } else {
        format!("{}; {}", f.message, remedy(f.code))
    }
}

/// The thing to do about one failed check, in plain words. `h` is the handoff it is from.
fn check_words(c: &Check, h: &Handoff) -> String {
    use CheckName::*;
    match c.name {
        PlainBackground => {
            "busy background: remove it first, or use the photo as an additional image".into()
        }
        Upscale => {
            let ratio = shortfall(c);
            match &h.provenance.source {
                // The photo has the pixels, the product does not: it is small in the frame.
                Some(s) => match product_needs(c, h) {
                    Some((spans, needs)) if needs <= f64::from(s.width.max(s.height)) => format!(
                        "the product is small in the photo: it spans {spans:.0} px of this {} px photo and needs {needs:.0}; shoot it closer or at a higher resolution, or approve it smaller than asked",
                        s.width.max(s.height)
                    ),
                    _ => {
                        let long = (f64::from(s.width.max(s.height)) * ratio).ceil();
                        format!(
                            "too small: supply an original of at least {long:.0} px on its longest side (this one has {}), or approve the product smaller than asked",
                            s.width.max(s.height)
                        )
                    }
                },
                None => {
                    "too small: supply a larger original, or approve the product smaller than asked"
                        .into()
                }
            }
        }
        Sharpness => {
            "may be blurry: look at it at full size, and re-shoot or re-export it if it is soft"
                .into()
        }
        CutoutSource => {
            "the background was removed by colour: check its edges before the mockup".into()
        }
        SeveralItems => {
            "several items in one picture: approve it if they are one product (a pair, a set), or supply one photo per product or view".into()
        }
        CutOff => {
            "the product runs into the photo's edge: supply a photo with the whole product in the frame, or approve it if nothing is missing".into()
        }
        TextOrLogo => {
            "text, a logo or a badge beside the product: have it removed from the source, or approve it if it is the product's".into()
        }
        FrameLine => {
            "a frame or line runs around the picture: remove it from the source, or approve it if it is the product's".into()
        }
        EnclosedBackdrop => {
            "an area inside the product is the backdrop's colour: make it again with the enclosed backdrop cleared if the sweep shows through (a handle, a gap), or kept if it is the product's".into()
        }
        BackgroundPurity | ShadowToEdge | BorderPurity => {
            "marks or a shadow on the background: clean the cut-out, or approve it as it is".into()
        }
        FillRatio => {
            "the product is smaller in the frame than asked: crop the source tighter, or approve it"
                .into()
        }
        Centering => "the product is off-centre: approve it, or re-frame the source".into(),
        FileSizeTarget => {
            "the file is over the recommended size: approve it, or lower the spec's quality".into()
        }
        ColorFidelity => {
            "the colours differ from the source's: compare the output with the source; if they look wrong, have the source saved again in sRGB (or with its colour profile) and report the file, or approve it".into()
        }
        JpegQuality | ColorSpace => {
            format!("{} Export it again from the original.", c.message)
        }
        Decodes | Format | Dimensions | MetadataStripped | Alpha | MarketplaceBounds | FileSize
        | ChromaSubsampling | Progressive => c.message.clone(),
    }
}

/// How many pixels the product spans in the source (its box as trimmed, longest side),
/// and how many it would need to fill the frame as asked without enlarging past the limit.
fn product_needs(c: &Check, h: &Handoff) -> Option<(f64, f64)> {
    let trim = h.provenance.operations.iter().find(|o| o.name == "trim")?;
    let side = |k: &str| trim.params.get(k).and_then(serde_json::Value::as_f64);
    let spans = side("w")?.max(side("h")?);
    Some((spans, (spans * shortfall(c)).ceil()))
}

/// How much larger the source would have to be to pass an upscale check.
fn shortfall(c: &Check) -> f64 {
    c.measured.as_f64().unwrap_or(1.0) / c.threshold.as_f64().unwrap_or(1.0)
}

/// The one thing to do about a photo, from its handoffs (one per spec): the first cause in
/// plain words, naming the specs it concerns when not all, then the other causes by their
/// short names. `None` when every output is ready.
pub fn todo(handoffs: &[&Handoff]) -> Option<String> {
    // One item per cause, in order of weight: failures, then the checks that stop a file,
    // then those a reviewer weighs. Each keeps the specs it concerns and the instance said.
    struct Item {
        words: String,
        specs: Vec<String>,
        key: String,
        weight: f64,
    }
    let mut items: Vec<Item> = Vec::new();
    let mut add = |key: String, words: String, weight: f64, spec: &str| match items
        .iter_mut()
        .find(|i| i.key == key)
    {
        Some(i) => {
            i.specs.push(spec.to_string());
            if weight > i.weight {
                (i.words, i.weight) = (words, weight);
            }
        }
        None => items.push(Item {
            words,
            specs: vec![spec.to_string()],
            key,
            weight,
        }),
    };
    for h in handoffs.iter().filter(|h| h.state == State::Rejected) {
        // A person's rejection says it all: their reason, and that a new photo is needed.
        let last = h.history.last();
        let by = last.map_or("a reviewer", |t| t.actor.as_str());
        let why = last
            .and_then(|t| t.note.as_deref())
            .unwrap_or("no reason given");
        add(
            "rejected".into(),
            format!("rejected by {by}: {why}; supply a new photo"),
            0.0,
            &h.goal.spec_id,
        );
    }
    for h in handoffs {
        if let Some(e) = h
            .error
            .as_ref()
            .filter(|e| e.code != ErrorCode::ChecksFailed)
        {
            add(e.code.as_str(), failure_words(e), 0.0, &h.goal.spec_id);
        }
    }
    let mut checks: Vec<(&Check, &Handoff)> = Vec::new();
    // Decided outputs ask nothing more: an approval settles what its checks asked.
    for h in handoffs
        .iter()
        .filter(|h| !matches!(h.state, State::Approved | State::Rejected))
    {
        let failed: Vec<&Check> = h.quality.iter().filter(|c| !c.passed).collect();
        checks.extend(causes(&failed).into_iter().map(|c| (c, *h)));
    }
    checks.sort_by_key(|(c, _)| (c.severity != crate::quality::Severity::Fail, rank(c.name)));
    for (c, h) in checks {
        // The largest shortfall names the size that satisfies every spec.
        let weight = if c.name == CheckName::Upscale {
            shortfall(c)
        } else {
            0.0
        };
        add(c.name.as_str(), check_words(c, h), weight, &h.goal.spec_id);
    }
    let first = items.first()?;
    let mut line = first.words.clone();
    if first.specs.len() < handoffs.len() {
        line.push_str(&format!(" ({})", first.specs.join(", ")));
    }
    let others: Vec<&str> = items[1..]
        .iter()
        .map(|i| i.words.split(':').next().unwrap_or_default())
        .collect();
    if !others.is_empty() {
        line.push_str(&format!("; also: {}", others.join("; ")));
    }
    Some(line)
}
