//! The review checkpoint: a person's decision on an output that waits for one (approve,
//! reject with a reason, or retry with a change), the next stage's receipt, and the queue
//! of what waits. Each decision is a recorded transition in the output's handoff, put
//! through the store like any other, so every door (HTTP, the folder CLI) decides the
//! same way.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{run_source, JobOptions, Retry, SourceJob};
use crate::handoff::{
    Clock, ErrorCode, Handoff, NextActor, Override, Receipt, Routing, State, Timestamp,
    TransitionError,
};
use crate::pipeline::Limits;
use crate::spec::Spec;
use crate::store::{SourceName, Store, StoreError};

/// What a reviewer decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
    Retry,
}

#[derive(Debug, Error)]
pub enum ReviewError {
    #[error("{id} is {state}, not waiting for a decision")]
    NotWaiting { id: String, state: &'static str },
    #[error("{id} is {state}: only a ready or approved output can be received")]
    NotDelivered { id: String, state: &'static str },
    #[error("a rejection needs a note saying why (the supplier reads it)")]
    NoteRequired,
    #[error("the change asked for: {0}")]
    Override(String),
    #[error("a retry needs a change: a fill ratio, an alignment, an upscale allowance, or how to take the source")]
    NoChange,
    #[error("the source of {id} is no longer at {path}; supply it again to make it again")]
    SourceGone { id: String, path: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

impl ReviewError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ReviewError::NotWaiting { .. } | ReviewError::NotDelivered { .. } => {
                ErrorCode::ReviewNotWaiting
            }
            ReviewError::NoteRequired | ReviewError::Override(_) | ReviewError::NoChange => {
                ErrorCode::UsageError
            }
            ReviewError::SourceGone { .. } => ErrorCode::ReviewSourceGone,
            ReviewError::Store(e) => e.code(),
            ReviewError::Transition(_) => ErrorCode::InternalError,
        }
    }
}

/// The store's name of the source an output was made from.
pub fn source_of(h: &Handoff) -> SourceName {
    let suffix = format!(".{}", h.goal.spec_id);
    SourceName {
        key: h.provenance.source_key.clone(),
        name: h.id.strip_suffix(&suffix).unwrap_or(&h.id).to_string(),
    }
}

/// Approves or rejects a waiting output: the transition is recorded (who, when, the note)
/// and the handoff put back through the store. Approval hands the output to the spec's
/// next actor; rejection hands it back to whoever supplies the photo.
pub fn decide(
    store: &dyn Store,
    spec: &Spec,
    mut h: Handoff,
    approve: bool,
    actor: &str,
    note: Option<String>,
    clock: &dyn Clock,
) -> Result<Handoff, ReviewError> {
    if h.state != State::NeedsReview {
        return Err(ReviewError::NotWaiting {
            id: h.id,
            state: h.state.as_str(),
        });
    }
    let note = note.filter(|n| !n.trim().is_empty());
    if approve {
        h.transition(State::Approved, actor, note, clock)?;
        h.next_actor = NextActor {
            actor: spec.next_actor.clone(),
            action: format!("take this {} as it is: {actor} approved it", spec.id),
            ..NextActor::default()
        };
    } else {
        let Some(reason) = note else {
            return Err(ReviewError::NoteRequired);
        };
        h.transition(State::Rejected, actor, Some(reason.clone()), clock)?;
        h.next_actor = NextActor {
            actor: "supplier".into(),
            action: format!("supply a new photo: {actor} rejected this one ({reason})"),
            ..NextActor::default()
        };
    }
    store.put_handoff(&source_of(&h), spec, &h)?;
    Ok(h)
}

/// What a retry needs besides the decision.
pub struct RetryRun<'a> {
    /// The source's bytes, read again from where the output was made from.
    pub job: SourceJob,
    pub limits: Limits,
    pub routing: &'a Routing,
    pub clock: &'a dyn Clock,
    pub cancel: &'a std::sync::atomic::AtomicBool,
}

/// Makes a waiting output again with a reviewer's change, its history going on: it comes
/// back `ready`, or waits again with the new measurements.
pub fn retry(
    store: &dyn Store,
    spec: &Spec,
    h: Handoff,
    overrides: Override,
    actor: &str,
    note: Option<String>,
    run: RetryRun,
) -> Result<Handoff, ReviewError> {
    if h.state != State::NeedsReview {
        return Err(ReviewError::NotWaiting {
            id: h.id,
            state: h.state.as_str(),
        });
    }
    if overrides.is_empty() {
        return Err(ReviewError::NoChange);
    }
    let changed = overrides.apply(spec).map_err(ReviewError::Override)?;
    let id = h.id.clone();
    let r = Retry {
        handoff: h,
        actor: actor.to_string(),
        note: note.filter(|n| !n.trim().is_empty()),
        overrides,
    };
    let specs = [changed];
    let opts = JobOptions {
        specs: &specs,
        limits: run.limits,
        force: true,
        clock: run.clock,
        cancel: run.cancel,
        routing: run.routing,
        retry: Some(&r),
        worker: None,
    };
    if let Err(f) = &run.job.bytes {
        if f.code == ErrorCode::SourceUnreadable {
            return Err(ReviewError::SourceGone {
                id,
                path: run.job.origin.clone(),
            });
        }
    }
    run_source(store, run.job, &opts)
        .pop()
        .ok_or(ReviewError::Store(StoreError::Database {
            error: "the retry was stopped before it finished".into(),
        }))
}

/// Records the next stage's word that it received a usable file: the handoff is complete.
pub fn receive(
    store: &dyn Store,
    spec: &Spec,
    mut h: Handoff,
    by: &str,
    note: Option<String>,
    clock: &dyn Clock,
) -> Result<Handoff, ReviewError> {
    if !h.state.is_deliverable() {
        return Err(ReviewError::NotDelivered {
            id: h.id,
            state: h.state.as_str(),
        });
    }
    h.receipt = Some(Receipt {
        by: by.to_string(),
        at: clock.now(),
        note: note.filter(|n| !n.trim().is_empty()),
    });
    store.put_handoff(&source_of(&h), spec, &h)?;
    Ok(h)
}

/// Which waiting outputs a queue shows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueFilter {
    pub batch: Option<String>,
    pub spec: Option<String>,
    /// A check among the causes (`fill_ratio`).
    pub check: Option<String>,
    /// The route's owner.
    pub owner: Option<String>,
    /// The route (`supplier`, `retouch`, `review`).
    pub route: Option<String>,
}

impl QueueFilter {
    pub fn keeps(&self, batch: &str, h: &Handoff) -> bool {
        let na = &h.next_actor;
        self.batch.as_deref().is_none_or(|b| b == batch)
            && self.spec.as_deref().is_none_or(|s| s == h.goal.spec_id)
            && self
                .check
                .as_deref()
                .is_none_or(|c| na.checks.iter().any(|k| k.as_str() == c))
            && self
                .owner
                .as_deref()
                .is_none_or(|o| na.owner.as_deref() == Some(o))
            && self.route.as_deref().is_none_or(|r| r == na.actor)
    }
}

/// Whether a waiting output is past its due time.
pub fn overdue(h: &Handoff, now: Timestamp) -> bool {
    h.state == State::NeedsReview && h.next_actor.due.is_some_and(|d| d < now)
}

/// Orders a queue: overdue first, then the longest waiting, then by id (stable).
pub fn sort_queue<T>(items: &mut [T], now: Timestamp, handoff: impl Fn(&T) -> &Handoff) {
    items.sort_by(|a, b| {
        let (a, b) = (handoff(a), handoff(b));
        (!overdue(a, now), a.next_actor.since, &a.id).cmp(&(
            !overdue(b, now),
            b.next_actor.since,
            &b.id,
        ))
    });
}
