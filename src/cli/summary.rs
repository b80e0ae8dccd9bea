//! The one-screen summary of a batch.

use std::fmt::Write;
use std::path::Path;

use crate::handoff::{BatchManifest, SkipReason, State};

/// How many left-out files are listed by name; the rest are counted.
const SKIPPED_LISTED: usize = 10;

/// The summary as printed after a batch.
pub fn render(m: &BatchManifest, out_dir: &Path) -> String {
    let mut o = String::new();
    let s = &m.summary;
    let _ = writeln!(
        o,
        "shelfready: {} source(s) x {} spec(s) = {} output(s) in {}",
        s.sources,
        m.specs.len(),
        s.outputs,
        out_dir.display()
    );
    let _ = writeln!(o, "  ready         {:>4}", s.ready);
    let _ = writeln!(o, "  needs review  {:>4}", s.needs_review);
    let _ = writeln!(o, "  failed        {:>4}", s.failed);
    if s.up_to_date > 0 {
        let _ = writeln!(
            o,
            "  ({} unchanged since the last run and kept)",
            s.up_to_date
        );
    }
    let review: Vec<_> = m
        .handoffs
        .iter()
        .filter(|h| h.state == State::NeedsReview)
        .collect();
    if !review.is_empty() {
        let _ = writeln!(o, "\nNeeds review:");
        for h in review {
            let checks: Vec<String> = h.next_actor.checks.iter().map(|c| c.as_str()).collect();
            let _ = writeln!(o, "  {:<36} {}", h.id, checks.join(", "));
        }
    }
    let failed: Vec<_> = m
        .handoffs
        .iter()
        .filter(|h| h.state == State::Failed)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(o, "\nFailed:");
        // One line per source and reason, naming the specs it applies to.
        let mut lines: Vec<(String, Vec<String>, String)> = Vec::new();
        for h in failed {
            let source = h.provenance.source_path.clone();
            let reason = h
                .error
                .as_ref()
                .map(|e| format!("{}: {}", e.code, e.message))
                .unwrap_or_default();
            match lines.iter_mut().find(|l| l.0 == source && l.2 == reason) {
                Some(l) => l.1.push(h.goal.spec_id.clone()),
                None => lines.push((source, vec![h.goal.spec_id.clone()], reason)),
            }
        }
        for (source, specs, reason) in lines {
            let _ = writeln!(o, "  {source} ({})\n    {reason}", specs.join(", "));
        }
    }
    if !m.skipped.is_empty() {
        let _ = writeln!(
            o,
            "\nLeft out ({} file(s), not processed):",
            m.skipped.len()
        );
        for sk in m.skipped.iter().take(SKIPPED_LISTED) {
            let _ = writeln!(o, "  {}: {}", sk.path, sk.message);
        }
        if m.skipped.len() > SKIPPED_LISTED {
            let hidden = m
                .skipped
                .iter()
                .skip(SKIPPED_LISTED)
                .filter(|s| s.reason == SkipReason::Hidden)
                .count();
            let _ = writeln!(
                o,
                "  ... and {} more ({hidden} hidden); all are listed in the manifest",
                m.skipped.len() - SKIPPED_LISTED
            );
        }
    }
    let _ = writeln!(o, "\nManifest: {}", out_dir.join("manifest.json").display());
    let _ = writeln!(
        o,
        "{}",
        match m.exit_code {
            0 => "All outputs are ready (exit 0).",
            2 => "Some outputs need a person's review (exit 2); each manifest says what to decide.",
            _ => "Some outputs failed (exit 1); each manifest says why.",
        }
    );
    o
}
