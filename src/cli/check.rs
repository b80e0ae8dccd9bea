//! `shelfready check`: the verify step alone, for images made elsewhere. Each file is held
//! to a spec's marketplace rules as it is (no processing, nothing written, sources
//! untouched), and the rules it breaks are said in plain words.

use std::path::PathBuf;

use serde::Serialize;

use super::CliError;
use crate::engine::Engine;
use crate::handoff::{Failure, Skipped, State};
use crate::intake::collect_inputs;
use crate::job::read_source;
use crate::pipeline::verify::check_existing;
use crate::pipeline::Limits;
use crate::quality::{capitalise, Check, Severity};
use crate::spec::Spec;
use crate::store::FileAt;

/// One file held to one spec.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub path: String,
    pub spec: String,
    /// `ready`, `needs_review` or `failed`, as `process` would say of an output.
    pub state: State,
    /// Every check, passed or not, with measured value and threshold.
    pub checks: Vec<Check>,
    /// Why the file could not be checked at all (unreadable, not an image, over a limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

impl FileCheck {
    /// The checks that did not pass.
    pub fn broken(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }
}

/// Totals of a check run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckSummary {
    pub files: usize,
    pub ready: usize,
    pub needs_review: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// What `shelfready check` reports (`--json` prints it as is).
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub specs: Vec<String>,
    pub files: Vec<FileCheck>,
    pub skipped: Vec<Skipped>,
    pub summary: CheckSummary,
    /// 0 every file keeps every rule, 2 some need a person's look, 1 some break a hard rule.
    pub exit_code: u8,
}

/// Checks every image under `inputs` against every spec, files in parallel.
pub fn check(
    inputs: &[PathBuf],
    specs: &[Spec],
    limits: &Limits,
    engine: &Engine,
) -> Result<CheckReport, CliError> {
    // No output folder: nothing is written, so nothing needs leaving out.
    let walk = collect_inputs(inputs, std::path::Path::new(""), &[])?;
    let spec_refs: Vec<&Spec> = specs.iter().collect();
    let per_file = engine.map(&walk.inputs, |input| {
        let path = input.path.display().to_string();
        // Read and decoded once, judged against every spec.
        let result = read_source(&FileAt::Path(input.path.clone()), limits).and_then(|b| {
            check_existing(&b, &spec_refs, limits)
                .map_err(|e| Failure::new(e.code(), e.to_string()))
        });
        specs
            .iter()
            .enumerate()
            .map(|(i, spec)| match &result {
                Ok(per_spec) => {
                    let checks = per_spec.get(i).cloned().unwrap_or_default();
                    FileCheck {
                        path: path.clone(),
                        spec: spec.id.clone(),
                        state: state_of(&checks),
                        checks,
                        error: None,
                    }
                }
                Err(e) => FileCheck {
                    path: path.clone(),
                    spec: spec.id.clone(),
                    state: State::Failed,
                    checks: Vec::new(),
                    error: Some(e.clone()),
                },
            })
            .collect::<Vec<_>>()
    });
    let files: Vec<FileCheck> = per_file.into_iter().flatten().collect();
    let count = |s: State| files.iter().filter(|f| f.state == s).count();
    let summary = CheckSummary {
        files: walk.inputs.len(),
        ready: count(State::Ready),
        needs_review: count(State::NeedsReview),
        failed: count(State::Failed),
        skipped: walk.skipped.len(),
    };
    let exit_code = if summary.failed > 0 {
        1
    } else if summary.needs_review > 0 {
        2
    } else {
        0
    };
    Ok(CheckReport {
        specs: specs.iter().map(|s| s.id.clone()).collect(),
        files,
        skipped: walk.skipped,
        summary,
        exit_code,
    })
}

/// A hard rule broken fails the file; a judgement call sends it to a person.
fn state_of(checks: &[Check]) -> State {
    let broken = |sev: Severity| checks.iter().any(|c| !c.passed && c.severity == sev);
    if broken(Severity::Fail) {
        State::Failed
    } else if broken(Severity::Review) {
        State::NeedsReview
    } else {
        State::Ready
    }
}

/// One line per file (and spec), the rules it breaks in words, then the totals.
pub fn render(report: &CheckReport) -> String {
    let mut out = String::new();
    let many_specs = report.specs.len() > 1;
    for f in &report.files {
        let label = match f.state {
            State::Ready => "ok    ",
            State::NeedsReview => "review",
            _ => "FAIL  ",
        };
        let spec = if many_specs {
            format!(" [{}]", f.spec)
        } else {
            String::new()
        };
        let why: Vec<String> = match &f.error {
            Some(e) => vec![format!("{}.", capitalise(&e.message))],
            None => f.broken().map(|c| c.message.clone()).collect(),
        };
        if why.is_empty() {
            out.push_str(&format!("{label} {}{spec}\n", f.path));
        } else {
            out.push_str(&format!("{label} {}{spec}: {}\n", f.path, why.join(" ")));
        }
    }
    for s in &report.skipped {
        out.push_str(&format!("left out {}: {}\n", s.path, s.message));
    }
    let s = &report.summary;
    // With several specs each file gives several results; the counts are of results.
    let results = if many_specs {
        format!(" ({} results)", report.files.len())
    } else {
        String::new()
    };
    out.push_str(&format!(
        "\n{} file{} checked against {}{results}: {} ready, {} need review, {} break a rule{}\n",
        s.files,
        if s.files == 1 { "" } else { "s" },
        report.specs.join(", "),
        s.ready,
        s.needs_review,
        s.failed,
        if s.skipped > 0 {
            format!(", {} left out", s.skipped)
        } else {
            String::new()
        }
    ));
    out
}
