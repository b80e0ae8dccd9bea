//! Checks read from a JPEG's own headers: quality, chroma subsampling, progressive.

use serde_json::json;

use super::Mode;
use crate::pipeline::jpeg_info;
use crate::quality::{Check, CheckName, Severity};
use crate::spec::{Spec, Subsampling};

/// Quality, chroma subsampling and progressive, read from the JPEG's own headers.
pub(super) fn jpeg_checks(checks: &mut Vec<Check>, bytes: &[u8], spec: &Spec, mode: Mode) {
    let info = jpeg_info::inspect(bytes);
    match mode {
        Mode::Output(facts) => {
            let est = info.and_then(|i| i.quality);
            if let Some(q) = facts.quality {
                checks.push(Check::new(
                    CheckName::JpegQuality,
                    json!(est),
                    json!(q),
                    est == Some(q),
                    Severity::Fail,
                    format!(
                        "The quantisation tables read back as quality {}; the encoder was asked for {q}.",
                        est.map_or("unknown".to_string(), |e| e.to_string())
                    ),
                ));
            }
            let want = match spec.chroma_subsampling {
                Subsampling::S444 => "4:4:4",
                Subsampling::S420 => "4:2:0",
            };
            let got = info.and_then(|i| i.subsampling);
            checks.push(Check::new(
                CheckName::ChromaSubsampling,
                json!(got),
                json!(want),
                got == Some(want),
                Severity::Fail,
                format!(
                    "The file's chroma subsampling is {}; the spec asks for {want}.",
                    got.unwrap_or("unknown")
                ),
            ));
            let prog = info.map(|i| i.progressive);
            checks.push(Check::new(
                CheckName::Progressive,
                json!(prog),
                json!(spec.progressive),
                prog == Some(spec.progressive),
                Severity::Fail,
                format!(
                    "The file is {}; the spec asks for {}.",
                    match prog {
                        Some(true) => "progressive",
                        Some(false) => "baseline",
                        None => "unreadable",
                    },
                    if spec.progressive {
                        "progressive"
                    } else {
                        "baseline"
                    }
                ),
            ));
        }
        Mode::Existing => {
            // Only a standard table tells the quality; a custom one is not judged.
            if let Some(q) = info.and_then(|i| i.quality) {
                let min = spec.min_quality();
                checks.push(Check::new(
                    CheckName::JpegQuality,
                    json!(q),
                    json!(min),
                    q >= min,
                    Severity::Review,
                    format!("The JPEG was saved at quality {q}; {} wants {min} or more, and compression artefacts show when zoomed.", spec.id),
                ));
            }
        }
    }
}
