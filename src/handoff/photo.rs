//! A photo as a whole: the states of its outputs, one per spec, and the one thing to do.
//! Summaries (the CLI's screen, the server's batch view) list photos, not outputs.

use std::fmt::Write;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{advice, Handoff, State};

/// One output of a photo, as a photo's line shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhotoOutput {
    pub spec_id: String,
    pub state: State,
    /// The image, relative to the output folder; absent when none was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One source photo and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Photo {
    /// The source's stable key (see `provenance.source_key`).
    pub key: String,
    /// The source as it was given: a path, or an upload's name.
    pub source: String,
    /// The name its outputs carry, with its sub-folders (`red-mug/main`).
    pub name: String,
    /// Why `name` is not the one the file's own name asks for: another source owns that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// The photo's state: its least finished output's (`failed` before `needs_review`
    /// before `ready`); `received` when the run stopped before reaching it.
    pub state: State,
    pub outputs: Vec<PhotoOutput>,
    /// The one thing to do, in plain words; absent when every output is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub todo: Option<String>,
    /// False for a photo whose outputs an earlier run made and this run did not touch.
    pub this_run: bool,
}

/// How far from done a state is; the photo takes its outputs' largest.
fn weight(s: State) -> u8 {
    match s {
        State::Received | State::Processing => 1,
        State::NeedsReview => 2,
        State::Failed | State::Rejected => 3,
        State::Ready | State::Approved | State::Exported => 0,
    }
}

impl Photo {
    /// The photo of a source from its handoffs (none when the run did not reach it).
    pub fn of(
        key: &str,
        source: &str,
        name: &str,
        renamed: Option<String>,
        handoffs: &[&Handoff],
        this_run: bool,
    ) -> Photo {
        let state = handoffs
            .iter()
            .map(|h| h.state)
            .max_by_key(|s| weight(*s))
            .unwrap_or(State::Received);
        let todo = if handoffs.is_empty() {
            Some("not reached: the run was stopped; run the same command again to finish".into())
        } else {
            advice::todo(handoffs)
        };
        Photo {
            key: key.into(),
            source: source.into(),
            name: name.into(),
            renamed,
            sku: handoffs.iter().find_map(|h| h.context.sku.clone()),
            state,
            outputs: handoffs
                .iter()
                .map(|h| PhotoOutput {
                    spec_id: h.goal.spec_id.clone(),
                    state: h.state,
                    path: h.asset.as_ref().map(|a| a.path.clone()),
                })
                .collect(),
            todo,
            this_run,
        }
    }

    /// A photo's line: its state, its path, its outputs' states when they differ, and the one
    /// thing to do.
    pub fn line(&self) -> String {
        let p = self;
        let state = match p.state {
            State::Ready | State::Exported => "ready",
            State::Approved => "approved",
            State::NeedsReview => "review",
            State::Failed => "failed",
            State::Rejected => "rejected",
            State::Received | State::Processing => "stopped",
        };
        let mut line = format!("  {state:<7} {}", p.source);
        if let Some(r) = &p.renamed {
            let _ = write!(line, " ({r})");
        }
        let first = p.outputs.first().map(|o| o.state);
        if p.outputs.iter().any(|o| Some(o.state) != first) {
            let mut by_state: Vec<(&str, Vec<&str>)> = Vec::new();
            for o in &p.outputs {
                let s = match o.state {
                    State::NeedsReview => "review",
                    s => s.as_str(),
                };
                match by_state.iter_mut().find(|b| b.0 == s) {
                    Some(b) => b.1.push(&o.spec_id),
                    None => by_state.push((s, vec![&o.spec_id])),
                }
            }
            let parts: Vec<String> = by_state
                .iter()
                .map(|(s, specs)| format!("{s}: {}", specs.join(", ")))
                .collect();
            let _ = write!(line, " [{}]", parts.join("; "));
        }
        if let Some(t) = &p.todo {
            let _ = write!(line, ": {t}");
        }
        line
    }

    /// True when every output is ready to go on.
    pub fn is_ready(&self) -> bool {
        weight(self.state) == 0
    }
}

/// Photos by state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhotoCounts {
    pub ready: usize,
    pub needs_review: usize,
    pub failed: usize,
    /// Photos the run stopped before reaching.
    pub not_reached: usize,
}

impl PhotoCounts {
    pub fn of<'a>(photos: impl IntoIterator<Item = &'a Photo>) -> PhotoCounts {
        let mut c = PhotoCounts::default();
        for p in photos {
            match weight(p.state) {
                0 => c.ready += 1,
                1 => c.not_reached += 1,
                2 => c.needs_review += 1,
                _ => c.failed += 1,
            }
        }
        c
    }
}
