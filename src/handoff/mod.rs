//! The handoff manifest: what was made, for which goal, in what state, how it measured up,
//! and who acts next. Field names are stable and snake_case; `assets/schema/` holds the
//! JSON Schema generated from these types.

pub mod advice;
mod clock;
mod context;
mod photo;
pub mod review;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::error::{Category, ErrorCode, Failure};
pub use clock::{Clock, FixedClock, SystemClock, Timestamp};
pub use context::{
    context_from_name, context_from_path, position, position_only, product_of, Context,
};
pub use photo::{Photo, PhotoCounts, PhotoOutput};
pub use review::{Override, Receipt, Route, Routing};

use crate::quality::{Check, CheckName, Operation, Severity};
use crate::spec::{Format, Spec};

/// Version of the manifest layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 4;
/// This tool's version, recorded in provenance.
pub const TOOL_VERSION: &str = concat!("shelfready ", env!("CARGO_PKG_VERSION"));
/// Changes whenever output bytes can change: the crate version plus a fingerprint of the
/// pipeline's source, the built-in specs and the codec versions in Cargo.lock (build.rs).
/// An output made by another pipeline is never kept as up to date.
pub const PIPELINE_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "+",
    env!("SHELFREADY_PIPELINE_FINGERPRINT")
);

/// A state change the lifecycle does not allow: a bug, reported, never dropped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{id} cannot go from {} to {}", from.as_str(), to.as_str())]
pub struct TransitionError {
    pub id: String,
    pub from: State,
    pub to: State,
}

impl TransitionError {
    /// A refused transition is a bug in shelfready.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InternalError
    }
}

/// Lifecycle of one output.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Received,
    Processing,
    Ready,
    NeedsReview,
    Failed,
    Approved,
    Rejected,
    Exported,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Received,
        State::Processing,
        State::Ready,
        State::NeedsReview,
        State::Failed,
        State::Approved,
        State::Rejected,
        State::Exported,
    ];

    /// Whether an output in this state was made and not turned down: the same content
    /// arriving again is recognised as made before, not made twice.
    pub fn is_made(self) -> bool {
        self.stands() && self != State::Rejected
    }

    /// Whether an output in this state may go out (to an export, a download, the next
    /// stage): made and passed (`ready`), passed by a person (`approved`), or gone out.
    pub fn is_deliverable(self) -> bool {
        matches!(self, State::Ready | State::Approved | State::Exported)
    }

    /// Whether an output in this state stands while its source, spec and pipeline are
    /// unchanged (a person's decision included): a re-run keeps it instead of making it
    /// again. `received`, `processing` and `failed` are made again.
    pub fn stands(self) -> bool {
        self.is_deliverable() || matches!(self, State::NeedsReview | State::Rejected)
    }

    /// The transitions the lifecycle allows; anything else is refused.
    pub fn can_become(self, next: State) -> bool {
        use State::*;
        matches!(
            (self, next),
            (Received, Processing)
                | (Received, Failed)
                | (Processing, Ready)
                | (Processing, NeedsReview)
                | (Processing, Failed)
                | (Ready, Approved)
                | (Ready, Rejected)
                | (Ready, Exported)
                | (NeedsReview, Approved)
                | (NeedsReview, Rejected)
                // A reviewer's retry with a recorded change.
                | (NeedsReview, Processing)
                | (Approved, Exported)
                // A re-run with a new source or spec starts over.
                | (Failed, Processing)
                | (Rejected, Processing)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Processing => "processing",
            State::Ready => "ready",
            State::NeedsReview => "needs_review",
            State::Failed => "failed",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Exported => "exported",
        }
    }

    /// The state [`State::as_str`] names.
    pub fn parse(s: &str) -> Option<State> {
        use State::*;
        [
            Received,
            Processing,
            Ready,
            NeedsReview,
            Failed,
            Approved,
            Rejected,
            Exported,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// 1. The file that was produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Asset {
    /// Path of the image, relative to the batch output folder.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    pub format: Format,
    pub color_space: String,
    pub has_alpha: bool,
}

/// 2. What the output had to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Goal {
    pub spec_id: String,
    /// sha256 of the resolved spec; a changed spec shows as a changed hash.
    pub spec_hash: String,
    pub description: String,
}

impl Goal {
    pub fn of(spec: &Spec) -> Goal {
        Goal {
            spec_id: spec.id.clone(),
            spec_hash: spec.content_hash(),
            description: spec.description.clone(),
        }
    }
}

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Transition {
    pub from: Option<State>,
    pub to: State,
    pub at: Timestamp,
    /// `shelfready` for automatic steps, or the person or system that acted.
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// 5. Who acts next, and what they decide.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NextActor {
    /// `export:amazon`, `mockup`, `review`, ...
    pub actor: String,
    /// What that actor does, in one sentence.
    pub action: String,
    /// For a reviewer: the question to answer, built from the failed checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The same, one question per failed check, each readable on its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub questions: Vec<String>,
    /// Names of the checks behind the question: the causes among the failed checks (a
    /// check another explains, such as the fill of a photo too small to fill the frame,
    /// is in `quality` but not here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckName>,
    /// Who answers for the route a waiting output took (from the config's routing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// When it started waiting for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// When it is overdue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Timestamp>,
}

/// Where the output came from and what was done to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Provenance {
    /// The source's stable key: its input folder's name and its path under it, or a key
    /// the caller gave. Outputs are named and kept by it.
    pub source_key: String,
    pub source_path: String,
    pub source_sha256: String,
    pub source_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::quality::SourceInfo>,
    pub operations: Vec<Operation>,
    pub tool_version: String,
    /// See [`PIPELINE_VERSION`].
    pub pipeline_version: String,
    /// Where it was made: the host's name and the process id (`host:pid`), so an operator
    /// of many workers sees where work ran. Absent in handoffs made before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

/// The manifest of one output (one source x one spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Handoff {
    pub schema_version: u32,
    /// `<name>.<spec_id>`, unique in a batch.
    pub id: String,
    /// 1. The produced file; absent when nothing could be produced.
    pub asset: Option<Asset>,
    /// 2. The spec it had to meet.
    pub goal: Goal,
    /// 3. Where it is in its lifecycle, and how it got there.
    pub state: State,
    pub history: Vec<Transition>,
    /// 4. Each check as measured on the written file.
    pub quality: Vec<Check>,
    /// 5. Who acts next.
    pub next_actor: NextActor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    pub provenance: Provenance,
    pub context: Context,
    /// True when this run kept the output as it was: source, spec and pipeline unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub up_to_date: bool,
    /// The change a reviewer asked for when this output was made again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Override>,
    /// The next stage's word that it received this file: the handoff is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

impl Handoff {
    /// A new handoff for one source and spec, in state `received`.
    pub fn received(
        id: String,
        spec: &Spec,
        provenance: Provenance,
        context: Context,
        clock: &dyn Clock,
    ) -> Handoff {
        Handoff {
            schema_version: SCHEMA_VERSION,
            id,
            asset: None,
            goal: Goal::of(spec),
            state: State::Received,
            history: vec![Transition {
                from: None,
                to: State::Received,
                at: clock.now(),
                actor: "shelfready".into(),
                note: None,
            }],
            quality: Vec::new(),
            next_actor: NextActor {
                actor: "shelfready".into(),
                action: "process".into(),
                question: None,
                questions: Vec::new(),
                checks: Vec::new(),
                owner: None,
                since: None,
                due: None,
            },
            error: None,
            provenance,
            context,
            up_to_date: false,
            overrides: None,
            receipt: None,
        }
    }

    /// Moves to `to` if the lifecycle allows it, recording who and when. A refused
    /// transition is a bug in the caller: it must be reported, never dropped.
    #[must_use = "a refused transition is a bug that must surface"]
    pub fn transition(
        &mut self,
        to: State,
        actor: &str,
        note: Option<String>,
        clock: &dyn Clock,
    ) -> Result<(), TransitionError> {
        if !self.state.can_become(to) {
            return Err(TransitionError {
                id: self.id.clone(),
                from: self.state,
                to,
            });
        }
        self.history.push(Transition {
            from: Some(self.state),
            to,
            at: clock.now(),
            actor: actor.into(),
            note,
        });
        self.state = to;
        Ok(())
    }

    /// This handoff settled: the end state from the checks (or the failure), with the next
    /// actor named. Pure: `self` is left as it was, so a caller whose last write fails can
    /// record the failure and settle again.
    #[must_use = "a refused transition is a bug that must surface"]
    pub fn settled(
        &self,
        spec: &Spec,
        routing: &Routing,
        clock: &dyn Clock,
    ) -> Result<Handoff, TransitionError> {
        let mut h = self.clone();
        let failed: Vec<&Check> = self.quality.iter().filter(|c| !c.passed).collect();
        let unmet: Vec<&Check> = failed
            .iter()
            .copied()
            .filter(|c| c.severity == Severity::Fail)
            .collect();
        if h.error.is_none() && !unmet.is_empty() {
            let msgs: Vec<&str> = unmet.iter().map(|c| c.message.as_str()).collect();
            h.error = Some(Failure::new(ErrorCode::ChecksFailed, msgs.join("; ")));
        }
        let to = if h.error.is_some() {
            State::Failed
        } else if failed.is_empty() {
            State::Ready
        } else {
            State::NeedsReview
        };
        let note = match to {
            State::Failed => h.error.as_ref().map(|e| e.message.clone()),
            State::NeedsReview => Some(failed_names(&failed)),
            _ => None,
        };
        h.transition(to, "shelfready", note, clock)?;
        h.next_actor = next_actor(to, spec, h.error.as_ref(), &failed);
        if to == State::NeedsReview {
            // Routed by cause, with its owner and its deadline.
            let route = routing.route_for(&h.next_actor.checks);
            let now = clock.now();
            h.next_actor.due = Timestamp::from_unix(now.unix() + (route.due_hours * 3600.0) as i64);
            h.next_actor.since = Some(now);
            h.next_actor.owner = Some(route.owner);
            h.next_actor.action = route.action;
            h.next_actor.actor = route.name;
        }
        Ok(h)
    }
}

fn failed_names(failed: &[&Check]) -> String {
    let names: Vec<String> = failed.iter().map(|c| c.name.as_str()).collect();
    format!("checks not passed: {}", names.join(", "))
}

fn next_actor(state: State, spec: &Spec, error: Option<&Failure>, failed: &[&Check]) -> NextActor {
    // One question per cause: checks another failed check explains are not asked again.
    let causes = advice::causes(failed);
    let questions: Vec<String> = match error {
        Some(e) if advice::blames_source(e.code) => vec![format!(
            "This photo could not be used: {}. Supply a new file?",
            e.message
        )],
        Some(e) if e.code != ErrorCode::ChecksFailed => vec![format!(
            "This output was not made: {}. {}.",
            e.message,
            crate::quality::capitalise(advice::remedy(e.code))
        )],
        _ => causes.iter().map(|c| c.question()).collect(),
    };
    let (actor, action) = match state {
        State::Ready => {
            return NextActor {
                actor: spec.next_actor.clone(),
                action: format!("take this {} as it is: every check passed", spec.id),
                question: None,
                questions: Vec::new(),
                checks: Vec::new(),
                owner: None,
                since: None,
                due: None,
            }
        }
        State::Failed => (
            "review".to_string(),
            error
                .map_or("fix the source or the spec, then make it again", |e| {
                    advice::remedy(e.code)
                })
                .to_string(),
        ),
        _ => (
            "review".to_string(),
            format!(
                "look at the image and approve it for {} or reject it",
                spec.next_actor
            ),
        ),
    };
    NextActor {
        actor,
        action,
        question: (!questions.is_empty()).then(|| questions.join("\n")),
        questions,
        checks: causes.iter().map(|c| c.name).collect(),
        owner: None,
        since: None,
        due: None,
    }
}

/// Totals of a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub sources: usize,
    pub outputs: usize,
    pub ready: usize,
    pub needs_review: usize,
    pub failed: usize,
    /// Outputs left as they were because source, spec and pipeline were unchanged.
    pub up_to_date: usize,
    /// Files the walk left out (see `skipped`).
    #[serde(default)]
    pub skipped: usize,
    /// The same photos counted by photo (see `photos`).
    pub photos: PhotoCounts,
    /// Outputs a person approved (counted in `ready` too).
    #[serde(default)]
    pub approved: usize,
    /// Outputs a person rejected (counted in `failed` too).
    #[serde(default)]
    pub rejected: usize,
    /// Outputs delivered (ready, approved) whose next stage has not yet said it received
    /// them (`receipt`).
    #[serde(default)]
    pub awaiting_receipt: usize,
}

/// A file an input walk left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Skipped {
    pub path: String,
    pub reason: SkipReason,
    /// The reason in words.
    pub message: String,
}

/// Why a walk left a file out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// An image format shelfready does not read (.psd, .heic, .avif, ...).
    UnsupportedImageType,
    /// Not an image by its name (.txt, .csv, ...).
    NotAnImageType,
    /// A dot file or folder.
    Hidden,
    /// A symbolic link (never followed: it could loop or lead outside the input).
    Symlink,
    /// A device, socket or pipe.
    NotAFile,
    /// A folder this run writes to.
    OutputFolder,
    /// The folder could not be listed.
    Unreadable,
    /// Another file of the run has the same key (two input folders with the same name).
    SameKey,
    /// The same content (sha256) was made for the same specs in an earlier batch.
    AlreadyProcessed,
}

/// The manifest of a whole batch: every handoff, and the totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchManifest {
    pub schema_version: u32,
    pub tool_version: String,
    pub created_at: Timestamp,
    pub pipeline_version: String,
    pub specs: Vec<Goal>,
    pub summary: Summary,
    /// Of this run: 0 all ready, 2 some need review, 1 some failed, 130 interrupted.
    pub exit_code: i32,
    /// True when the run was stopped (Ctrl-C) before every photo was reached.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Every photo with outputs in the output folder (this run's first, in input order,
    /// then earlier runs'), with its state and the one thing to do.
    pub photos: Vec<Photo>,
    /// Every output in the output folder, this run's and earlier runs'.
    pub handoffs: Vec<Handoff>,
    /// Files under the inputs that were not taken, each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// The supplier catalog the batch came with, how it was read, and what it did not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogReport>,
}

/// A batch's catalog as it was read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CatalogReport {
    /// The catalog file.
    pub file: String,
    /// Which column each field was read from (field -> header as written).
    pub mapping: std::collections::BTreeMap<String, String>,
    pub rows: usize,
    /// Rows naming a file the batch does not hold.
    pub missing_files: Vec<String>,
    /// Photos no row names: their SKU and position come from their names.
    pub unlisted_files: Vec<String>,
    /// Why the catalog could not be used, when it could not (the photos' names were used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Rows naming an image URL, fetched into the batch as the file named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetched: Vec<FetchedImage>,
    /// Rows naming an image URL that could not be fetched, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch_failed: Vec<FetchFailure>,
    /// How the file was read: `CSV, semicolon-separated, UTF-8`, `Excel workbook, first
    /// sheet`, `JSON`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub read_as: String,
    /// Columns no field is read from: nothing of them reaches a manifest or an export.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unused_columns: Vec<UnusedColumn>,
    /// Cells that were read but could not be used as they are, row by row, each with its
    /// fix (an identifier a spreadsheet damaged, a position that is none, one identifier on
    /// two products). The rest of the row is used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<RowProblem>,
}

/// A catalog column no field is read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UnusedColumn {
    /// Counting from 1.
    pub column: usize,
    /// Its header as written.
    pub header: String,
}

/// A catalog cell that could not be used as it is. The words name the row and the column,
/// never the cell's text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RowProblem {
    /// The line (a CSV's line, a sheet's row number, a JSON array's position from 1).
    pub line: u64,
    /// The column, counting from 1.
    pub column: usize,
    /// The field the column was read for: `identifier`, `position`...
    pub field: String,
    pub message: String,
}

impl CatalogReport {
    /// The report as lines for a person, one per finding: what was read, what was not,
    /// and why. Every door (the watcher's log, the server's) says these. Lines name rows
    /// and columns by number, never a cell's or a header's text (the manifest has those).
    pub fn notes(&self) -> Vec<String> {
        let file = &self.file;
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(format!("{file}: not used: {e}"));
            return out;
        }
        let fields: Vec<&str> = self.mapping.keys().map(String::as_str).collect();
        out.push(format!(
            "{file}: {} row(s) read as {}; fields: {}",
            self.rows,
            if self.read_as.is_empty() {
                "a catalog"
            } else {
                &self.read_as
            },
            fields.join(", ")
        ));
        if !self.unused_columns.is_empty() {
            let columns: Vec<String> = self
                .unused_columns
                .iter()
                .map(|c| c.column.to_string())
                .collect();
            out.push(format!(
                "{file}: column(s) {} are not read: their headers name no field (the manifest's catalog.unused_columns lists them; the README lists the names understood)",
                columns.join(", ")
            ));
        }
        for p in &self.problems {
            out.push(format!(
                "{file}: line {}, column {} ({}): {}",
                p.line, p.column, p.field, p.message
            ));
        }
        // The names are the catalog's cells: counted here, listed in the manifest.
        if !self.missing_files.is_empty() {
            out.push(format!(
                "{file}: {} row(s) name a file the batch does not hold (the manifest's catalog.missing_files lists them)",
                self.missing_files.len()
            ));
        }
        for u in &self.unlisted_files {
            out.push(format!(
                "{u}: no row of {file} names it; its SKU and position come from its name"
            ));
        }
        out
    }
}

/// An image a catalog row named by URL, fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FetchedImage {
    pub url: String,
    /// The file it became in the batch (its name in the drop).
    pub file: String,
    pub bytes: u64,
}

/// An image URL a catalog row named that was not fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FetchFailure {
    pub url: String,
    pub reason: String,
}

/// JSON Schema of a single handoff manifest.
pub fn handoff_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Handoff)).unwrap_or_default()
}

/// JSON Schema of the batch manifest.
pub fn batch_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(BatchManifest)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_refuses_skips() {
        assert!(State::Processing.can_become(State::Ready));
        assert!(State::NeedsReview.can_become(State::Approved));
        assert!(!State::NeedsReview.can_become(State::Exported));
        assert!(!State::Failed.can_become(State::Exported));
    }
}
