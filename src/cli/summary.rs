//! The one-screen summary of a batch.

use std::fmt::Write;
use std::path::Path;

use crate::handoff::{BatchManifest, Photo, PhotoCounts, SkipReason, Skipped, State};

/// How many left-out files are listed by name; the rest are counted.
const SKIPPED_LISTED: usize = 10;

/// How many of a catalog's notes are printed; the manifest has them all.
const CATALOG_NOTES: usize = 10;

/// Up to this many photos, every photo gets its line; above it, only those that need
/// something, and at most [`LISTED_WHEN_LONG`] of them.
const LIST_ALL: usize = 20;
const LISTED_WHEN_LONG: usize = 12;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary as printed after a batch: one line per photo, then what to do next.
pub fn render(m: &BatchManifest, out_dir: &Path) -> String {
    let mut o = String::new();
    let run: Vec<&Photo> = m.photos.iter().filter(|p| p.this_run).collect();
    let c = PhotoCounts::of(run.iter().copied());
    let _ = writeln!(
        o,
        "shelfready: {} x {} -> {}",
        plural(run.len(), "photo", "photos"),
        plural(m.specs.len(), "spec", "specs"),
        out_dir.display()
    );
    let mut counts = vec![
        format!("{} ready", c.ready),
        format!("{} to review", c.needs_review),
        format!("{} failed", c.failed),
    ];
    if c.not_reached > 0 {
        counts.push(format!("{} not reached", c.not_reached));
    }
    let _ = writeln!(o, "  {}", counts.join(", "));
    let kept = m.handoffs.iter().filter(|h| h.up_to_date).count();
    if kept > 0 {
        let _ = writeln!(
            o,
            "  ({} unchanged since the last run and kept)",
            plural(kept, "output", "outputs")
        );
    }
    let _ = writeln!(o);
    if run.len() <= LIST_ALL {
        for p in &run {
            let _ = writeln!(o, "{}", p.line());
        }
    } else {
        // Failed first, then review, then not reached: the lines that matter.
        let mut todo: Vec<&&Photo> = run.iter().filter(|p| !p.is_ready()).collect();
        todo.sort_by_key(|p| match p.state {
            State::Failed | State::Rejected => 0,
            State::NeedsReview => 1,
            _ => 2,
        });
        for p in todo.iter().take(LISTED_WHEN_LONG) {
            let _ = writeln!(o, "{}", p.line());
        }
        if todo.len() > LISTED_WHEN_LONG {
            let _ = writeln!(
                o,
                "  ... and {} more {} that need something (all in the manifest)",
                todo.len() - LISTED_WHEN_LONG,
                if todo.len() - LISTED_WHEN_LONG == 1 {
                    "photo"
                } else {
                    "photos"
                }
            );
        }
        let _ = writeln!(
            o,
            "  ({} ready, not listed)",
            plural(c.ready, "photo", "photos")
        );
    }
    let earlier = m.photos.len() - run.len();
    if earlier > 0 {
        let _ = writeln!(
            o,
            "\nThe folder also holds the outputs of {} from earlier runs; the manifest lists them too.",
            plural(earlier, "photo", "photos")
        );
    }
    // What the folder's catalog gave, and what it could not: said before the run's end.
    if let Some(report) = &m.catalog {
        let notes = report.notes();
        let _ = writeln!(o, "\nCatalog:");
        for note in notes.iter().take(CATALOG_NOTES) {
            let _ = writeln!(o, "  {note}");
        }
        if notes.len() > CATALOG_NOTES {
            let _ = writeln!(
                o,
                "  ... and {} more; the manifest's catalog lists them",
                notes.len() - CATALOG_NOTES
            );
        }
    }
    // Files someone may have meant as photos are named; notes, hidden files and the like
    // are only counted.
    let (quiet, named): (Vec<&Skipped>, Vec<&Skipped>) = m
        .skipped
        .iter()
        .partition(|s| matches!(s.reason, SkipReason::NotAnImageType | SkipReason::Hidden));
    if !named.is_empty() {
        let _ = writeln!(
            o,
            "\nLeft out ({}, not processed):",
            plural(named.len(), "file", "files")
        );
        for sk in named.iter().take(SKIPPED_LISTED) {
            let _ = writeln!(o, "  {}: {}", sk.path, sk.message);
        }
        if named.len() > SKIPPED_LISTED {
            let _ = writeln!(
                o,
                "  ... and {} more; all are listed in the manifest",
                named.len() - SKIPPED_LISTED
            );
        }
    }
    if !quiet.is_empty() {
        let hidden = quiet
            .iter()
            .filter(|s| s.reason == SkipReason::Hidden)
            .count();
        let mut why = Vec::new();
        if quiet.len() > hidden {
            why.push(format!("{} not images by name", quiet.len() - hidden));
        }
        if hidden > 0 {
            why.push(format!("{hidden} hidden"));
        }
        let _ = writeln!(
            o,
            "\n{} not taken ({}), e.g. {}; the manifest lists them.",
            plural(quiet.len(), "file was", "files were"),
            why.join(", "),
            quiet[0].path
        );
    }
    let _ = writeln!(o, "\nManifest: {}", out_dir.join("manifest.json").display());
    let done = run.iter().filter(|p| p.state != State::Received).count();
    if m.exit_code == 130 {
        let _ = writeln!(
            o,
            "Interrupted after {done} of {}; run the same command again to continue.",
            run.len()
        );
        return o;
    }
    if c.ready > 0 && c.ready < run.len() {
        let _ = writeln!(
            o,
            "Ready outputs can be uploaded now, from {}/.",
            out_dir.join("<spec>").display()
        );
    }
    if c.needs_review > 0 {
        let _ = writeln!(
            o,
            "To review: look at each output named above and keep it or make it again as the line says; its manifest in {} asks the question.",
            out_dir.join("manifests").display()
        );
    }
    let _ = writeln!(
        o,
        "{}",
        match m.exit_code {
            0 => "Every photo is ready to upload (exit 0).",
            2 => "Nothing failed; some photos need a person's look (exit 2).",
            _ => "Some photos failed (exit 1): their lines above say what to do.",
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::{Summary, Timestamp};

    fn photo(i: usize, state: State) -> Photo {
        Photo {
            key: format!("in/P{i:02}.png"),
            source: format!("in/P{i:02}.png"),
            name: format!("P{i:02}"),
            renamed: None,
            sku: None,
            state,
            outputs: Vec::new(),
            todo: (state != State::Ready).then(|| "do something".into()),
            this_run: true,
        }
    }

    #[test]
    fn a_long_batch_ends_with_the_lines_that_matter() {
        let mut photos: Vec<Photo> = (0..40).map(|i| photo(i, State::Ready)).collect();
        photos[3].state = State::Failed;
        for p in &mut photos[10..25] {
            p.state = State::NeedsReview;
        }
        let m = BatchManifest {
            schema_version: 0,
            tool_version: String::new(),
            created_at: Timestamp::from_unix(0).unwrap(),
            pipeline_version: String::new(),
            specs: Vec::new(),
            summary: Summary::default(),
            exit_code: 1,
            interrupted: false,
            photos,
            handoffs: Vec::new(),
            skipped: Vec::new(),
            catalog: None,
        };
        let text = render(&m, Path::new("out"));
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("in/P")).collect();
        assert_eq!(lines.len(), LISTED_WHEN_LONG, "{text}");
        // The failed photo comes first, and no ready photo is listed.
        assert!(lines[0].starts_with("  failed  in/P03.png"), "{text}");
        assert!(lines.iter().all(|l| !l.starts_with("  ready")), "{text}");
        assert!(
            text.contains("... and 4 more photos that need something"),
            "{text}"
        );
        assert!(text.contains("(24 photos ready, not listed)"), "{text}");
        assert!(text.contains("Manifest: out/manifest.json"), "{text}");
    }
}
