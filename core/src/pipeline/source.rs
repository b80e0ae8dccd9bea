//! The one per-source call: source bytes, specs, limits and a cancel flag in; for each
//! spec an encoded, verified output or a failure out. It touches no file system. Every
//! door (the CLI batch, the server, the watcher) calls this; nothing else composes decode,
//! analyse, render, encode and verify.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::json;

use super::analyse::{classify_as, cut_off, locate, CutOff, SourceKind};
use super::fidelity::{ColourFacts, ColourReference};
use super::key::{key_sweep, EnclosedBackdrop};
use super::marks::Marks;
use super::render::{cut_out, render, Cutout, Rendered};
use super::verify::{verify, RenderFacts};
use super::{decode, encode, EncodeError, Limits, Operation, SourceInfo};
use crate::error::{ErrorCode, Failure};
use crate::quality::Check;
use crate::spec::{Format, Spec};

/// One spec's output: the encoded file and what was measured on it.
#[derive(Debug, Clone)]
pub struct Output {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
    pub has_alpha: bool,
    /// Every check, as measured on the encoded bytes read back.
    pub checks: Vec<Check>,
    /// What was done for this spec (cut-out, render, encode), after the source's own.
    pub operations: Vec<Operation>,
    /// What verify was told of the rendering that the file cannot show.
    pub facts: RenderFacts,
}

/// What one source gave.
#[derive(Debug, Clone)]
pub struct SourceResult {
    /// The source as stored, when it could be decoded.
    pub source: Option<SourceInfo>,
    /// What decoding did (orientation, colour conversion).
    pub operations: Vec<Operation>,
    /// One per spec, in the order asked.
    pub outputs: Vec<Result<Output, Failure>>,
}

impl SourceResult {
    fn failed(specs: usize, source: Option<SourceInfo>, ops: Vec<Operation>, f: Failure) -> Self {
        SourceResult {
            source,
            operations: ops,
            outputs: vec![Err(f); specs],
        }
    }
}

fn cancelled() -> Failure {
    Failure::new(
        ErrorCode::Cancelled,
        "the work was cancelled before this output was made",
    )
}

/// Processes one source for every spec: decode once, classify, key a sweep, locate the
/// product, cut it out once, then per spec (in parallel) render, encode within the spec's
/// byte limit and verify the encoded bytes. `cancel` is checked between stages and specs.
pub fn process_source(
    bytes: &[u8],
    specs: &[&Spec],
    limits: &Limits,
    cancel: &AtomicBool,
) -> SourceResult {
    let stop = || cancel.load(Ordering::Relaxed);
    if stop() {
        return SourceResult::failed(specs.len(), None, Vec::new(), cancelled());
    }
    let mut frame = match decode(bytes, limits) {
        Ok(f) => f,
        Err(e) => {
            tracing::info!(code = %e.code(), "decode failed: {e}");
            let f = Failure::new(e.code(), e.to_string());
            return SourceResult::failed(specs.len(), None, Vec::new(), f);
        }
    };
    let source = frame.source.clone();
    let operations = std::mem::take(&mut frame.operations);
    let colours = frame.colours.take();
    if stop() {
        return SourceResult::failed(specs.len(), Some(source), operations, cancelled());
    }
    // One classification serves every spec: the first that says how to take the source.
    let classified = classify_as(&frame, specs.iter().find_map(|s| s.treat_as));
    let enclosed = match classified.sweep_key() {
        Some(key) => key_sweep(&mut frame, key, specs.iter().find_map(|s| s.enclosed)),
        None => EnclosedBackdrop::default(),
    };
    let analysis = locate(&frame, classified);
    let found = Found {
        enclosed,
        cut_off: cut_off(&frame, &analysis),
        items: analysis.items,
        marks: analysis.marks,
    };
    let cut = match cut_out(frame, &analysis) {
        Ok(c) => c,
        Err(e) => {
            let f = Failure::new(e.code(), e.to_string());
            return SourceResult::failed(specs.len(), Some(source), operations, f);
        }
    };
    // Which cells are product is the cut-out's alpha (a sweep's key, an enclosed area
    // cleared), once for every spec.
    let reference = colours.map(|c| Arc::new(c.product_cells(cut.rect, &cut.pixels)));
    let outputs = specs
        .par_iter()
        .map(|spec| {
            if stop() {
                return Err(cancelled());
            }
            make_output(&cut, spec, found, reference.as_ref())
        })
        .collect();
    SourceResult {
        source: Some(source),
        operations,
        outputs,
    }
}

/// What analysing the source found that every spec's verification reports.
#[derive(Clone, Copy)]
struct Found {
    enclosed: EnclosedBackdrop,
    cut_off: CutOff,
    items: u8,
    marks: Marks,
}

/// Render, encode and verify one spec's output from the cut-out.
fn make_output(
    cut: &Cutout,
    spec: &Spec,
    found: Found,
    reference: Option<&Arc<ColourReference>>,
) -> Result<Output, Failure> {
    let rendered = render(cut, spec).map_err(|e| Failure::new(e.code(), e.to_string()))?;
    let mut operations = cut.operations.clone();
    operations.extend(rendered.operations.iter().cloned());
    let (bytes, quality) =
        encode_within_limit(&rendered, spec).map_err(|e| Failure::new(e.code(), e.to_string()))?;
    operations.push(Operation::new(
        "encode",
        json!({ "format": spec.format, "quality": quality,
            "icc": if spec.embed_icc { "sRGB embedded" } else { "none" }, "metadata": "stripped" }),
    ));
    let facts = RenderFacts {
        quality: Some(quality),
        enclosed: found.enclosed,
        cut_off: found.cut_off,
        items: found.items,
        marks: found.marks,
        colour: reference.map(|r| ColourFacts::new(Arc::clone(r), cut.rect, &rendered.placement)),
        ..render_facts(&rendered, cut.kind)
    };
    let checks = verify(&bytes, spec, &facts);
    Ok(Output {
        bytes,
        format: spec.format,
        width: rendered.width,
        height: rendered.height,
        has_alpha: rendered.channels == 4,
        checks,
        operations,
        facts,
    })
}

/// What verification needs to know of a rendering that the file cannot show.
pub fn render_facts(rendered: &Rendered, kind: SourceKind) -> RenderFacts {
    let p = rendered.placement;
    RenderFacts {
        scale: p.scale,
        wanted_scale: p.wanted_scale,
        kind,
        quality: None,
        enclosed: EnclosedBackdrop::default(),
        cut_off: CutOff::default(),
        items: 1,
        marks: Marks::default(),
        colour: None,
    }
}

/// Encodes at the spec's quality, stepping down by 5 while the file is over the spec's size
/// cap or target, but never below its `min_quality`: past that, a file too big is left as it
/// is for verify to report. Returns the bytes and the quality used.
fn encode_within_limit(img: &Rendered, spec: &Spec) -> Result<(Vec<u8>, u8), EncodeError> {
    let goal = [spec.hard_max_bytes(), spec.target_bytes]
        .into_iter()
        .flatten()
        .min();
    let floor = spec.min_quality();
    let mut s = spec.clone();
    loop {
        let bytes = encode(img, &s)?;
        let over = goal.is_some_and(|m| bytes.len() as u64 > m);
        // WebP at 100 is lossless; JPEG at 100 is still lossy and may step down.
        let lossy = match s.format {
            Format::Png => false,
            Format::Webp => s.quality < 100,
            Format::Jpeg => true,
        };
        if !over || !lossy || s.quality <= floor {
            return Ok((bytes, s.quality));
        }
        s.quality = s.quality.saturating_sub(5).max(floor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::{CheckName, Severity};

    /// A noisy opaque photo: hard to compress, so size limits bite.
    fn noisy_png(w: u32, h: u32) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        let img = image::RgbImage::from_fn(w, h, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let b = state.to_le_bytes();
            image::Rgb([b[0], b[1], b[2]])
        });
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    fn one(spec: &Spec) -> Output {
        let r = process_source(
            &noisy_png(600, 600),
            &[spec],
            &Limits::default(),
            &AtomicBool::new(false),
        );
        r.outputs.into_iter().next().unwrap().unwrap()
    }

    fn check(out: &Output, name: CheckName) -> &Check {
        out.checks.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn a_size_target_steps_down_to_the_quality_floor_and_then_asks_a_person() {
        let mut spec = crate::spec::builtin("etsy").unwrap().unwrap();
        spec.target_bytes = Some(20_000);
        let out = one(&spec);
        // Never below the floor: the file stays over the target...
        assert_eq!(check(&out, CheckName::JpegQuality).measured, 80);
        let target = check(&out, CheckName::FileSizeTarget);
        assert!(!target.passed && target.severity == Severity::Review);
        // ...and over a target is not over the marketplace's cap.
        assert!(check(&out, CheckName::FileSize).passed);
    }

    #[test]
    fn a_hard_cap_missed_at_the_floor_fails() {
        let mut spec = crate::spec::builtin("ebay").unwrap().unwrap();
        spec.max_bytes = Some(20_000);
        let out = one(&spec);
        assert_eq!(check(&out, CheckName::JpegQuality).measured, 90);
        let size = check(&out, CheckName::FileSize);
        assert!(!size.passed && size.severity == Severity::Fail);
    }

    #[test]
    fn lossless_webp_is_never_stepped_down() {
        let mut spec = crate::spec::builtin("google-merchant").unwrap().unwrap();
        spec.quality = 100;
        spec.max_bytes = Some(20_000);
        let out = one(&spec);
        let encode = out.operations.iter().find(|o| o.name == "encode").unwrap();
        assert_eq!(encode.params["quality"], 100);
    }
}
