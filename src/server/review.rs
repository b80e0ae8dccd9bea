//! The review checkpoint over HTTP: the queue of outputs waiting for a person, a decision
//! on one (approve, reject, retry with a change), and the next stage's receipt. Thin over
//! `crate::review`; a retry runs on the engine like any other photo.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::app::{asset_id, App, AssetEvent, Event};
use super::auth::Actor;
use super::error::ApiError;
use super::routes::blocking;
use crate::handoff::{Clock, ErrorCode, Handoff, Override, SystemClock, Timestamp};
use crate::job::{read_source, SourceJob};
use crate::pipeline::CheckName;
use crate::review::{self, Decision, QueueFilter, RetryRun};
use crate::store::BatchState;

/// One output waiting for a person, as the queue lists it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Waiting {
    /// The asset id (`POST /v1/assets/{id}/review`).
    pub id: String,
    pub batch: String,
    /// The photo's name and the spec.
    pub name: String,
    pub spec_id: String,
    /// The file as it was given.
    pub source: String,
    /// The route it took (`supplier`, `retouch`, `review`) and who owns it.
    pub route: String,
    pub owner: Option<String>,
    pub since: Option<Timestamp>,
    pub due: Option<Timestamp>,
    pub overdue: bool,
    /// The causes, and one question per cause.
    pub checks: Vec<CheckName>,
    pub questions: Vec<String>,
    /// What the route's owner does.
    pub action: String,
    /// The output image (`GET`), and its source photo.
    pub file: Option<String>,
    pub source_file: String,
    /// Other batches where the same photo (the same bytes) waits for the same spec: the
    /// same upload sent twice, or a drop taken again. Decide each, or reject the extra.
    pub also_waiting_in: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Queue {
    pub count: usize,
    pub overdue: usize,
    /// Overdue first, then the longest waiting.
    pub waiting: Vec<Waiting>,
}

#[utoipa::path(get, path = "/v1/review", params(("batch" = Option<String>, Query, description = "only this batch"), ("spec" = Option<String>, Query, description = "only this spec"), ("check" = Option<String>, Query, description = "only outputs waiting because of this check (fill_ratio, upscale, ...)"), ("owner" = Option<String>, Query, description = "only this route owner's"), ("route" = Option<String>, Query, description = "only this route (supplier, retouch, review)")), responses((status = 200, description = "the outputs waiting for a person, overdue first, then oldest first", body = ref("#/components/schemas/Queue")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody"))))]
/// The review queue.
pub async fn queue(
    State(app): State<Arc<App>>,
    Query(filter): Query<QueueFilter>,
) -> Result<Json<Queue>, ApiError> {
    blocking(move || {
        let now = SystemClock.now();
        let all = app.store.waiting()?;
        // The batches each photo (by its bytes) waits in, per spec, filter or not.
        let mut batches_of: std::collections::HashMap<(String, String), Vec<String>> =
            std::collections::HashMap::new();
        for (batch, _, h) in &all {
            let key = (h.provenance.source_sha256.clone(), h.goal.spec_id.clone());
            let list = batches_of.entry(key).or_default();
            if !list.contains(batch) {
                list.push(batch.clone());
            }
        }
        let mut items: Vec<(String, i64, Handoff)> = all
            .into_iter()
            .filter(|(b, _, h)| filter.keeps(b, h))
            .collect();
        review::sort_queue(&mut items, now, |(_, _, h)| h);
        // The upload names, read once per batch.
        let mut names: std::collections::HashMap<String, Vec<crate::store::AssetRow>> =
            std::collections::HashMap::new();
        let waiting: Vec<Waiting> = items
            .into_iter()
            .map(|(batch, seq, h)| {
                let id = asset_id(&batch, seq, &h.goal.spec_id);
                let source = names
                    .entry(batch.clone())
                    .or_insert_with(|| app.store.assets(&batch).unwrap_or_default())
                    .iter()
                    .find(|a| a.seq == seq)
                    .map_or_else(String::new, |a| a.upload_name.clone());
                let na = &h.next_actor;
                Waiting {
                    file: h.asset.as_ref().map(|_| format!("/v1/assets/{id}/file")),
                    source_file: format!("/v1/assets/{id}/source"),
                    name: review::source_of(&h).name,
                    spec_id: h.goal.spec_id.clone(),
                    source,
                    route: na.actor.clone(),
                    owner: na.owner.clone(),
                    since: na.since,
                    due: na.due,
                    overdue: review::overdue(&h, now),
                    checks: na.checks.clone(),
                    questions: na.questions.clone(),
                    action: na.action.clone(),
                    also_waiting_in: batches_of
                        .get(&(h.provenance.source_sha256.clone(), h.goal.spec_id.clone()))
                        .into_iter()
                        .flatten()
                        .filter(|b| **b != batch)
                        .cloned()
                        .collect(),
                    batch,
                    id,
                }
            })
            .collect();
        Ok(Json(Queue {
            count: waiting.len(),
            overdue: waiting.iter().filter(|w| w.overdue).count(),
            waiting,
        }))
    })
    .await
}

/// A reviewer's decision on one output.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub decision: Decision,
    /// Why; required to reject.
    #[serde(default)]
    pub note: Option<String>,
    /// The change a retry makes.
    #[serde(default, rename = "override")]
    pub overrides: Option<Override>,
    /// Who decides: only ever the token's own name (decisions are recorded under it); a
    /// different name is refused.
    #[serde(default)]
    pub reviewer: Option<String>,
}

/// The next stage's word that it received an output.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    /// The stage (`mockup`, `listing`); defaults to the token's name. Only the server's
    /// token may name a stage other than its own name.
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/v1/assets/{id}/review", params(("id" = String, Path, description = "the asset id")), request_body(content = inline(Object), description = "`{\"decision\": \"approve\" | \"reject\" | \"retry\", \"note\": ..., \"override\": {\"fill_ratio\", \"align\", \"max_upscale\", \"treat_as\", \"enclosed\"}}`; see ReviewRequest"), responses((status = 200, description = "the handoff after the decision (a retry: after the output was made again)", body = ref("#/components/schemas/Handoff")), (status = 400, description = "a rejection without a note, a retry without a change or out of range", body = ref("#/components/schemas/ErrorBody")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such asset", body = ref("#/components/schemas/ErrorBody")), (status = 409, description = "the output is not waiting for a decision, or its source is gone", body = ref("#/components/schemas/ErrorBody"))))]
/// Records a decision on a waiting output; a retry makes it again with the change.
pub async fn decide(
    State(app): State<Arc<App>>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Json(req): Json<ReviewRequest>,
) -> Result<Json<Handoff>, ApiError> {
    short_text("note", req.note.as_deref())?;
    if let Some(r) = req.reviewer.as_deref().map(str::trim) {
        if !r.is_empty() && r != actor.name {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("decisions are recorded under the token's own name ({}); a reviewer decides with their own token", actor.name),
            ));
        }
    }
    let who = actor.name.clone();
    let app2 = app.clone();
    let id2 = id.clone();
    let (batch, asset, h) = blocking(move || app2.find_asset(&id2)).await?;
    let spec = app.spec(&h.goal.spec_id)?;
    let note = req.note.clone();
    let out = match req.decision {
        Decision::Approve | Decision::Reject => {
            let approve = req.decision == Decision::Approve;
            let (app3, b) = (app.clone(), batch.clone());
            blocking(move || {
                let store = app3.store.batch(&b);
                Ok(review::decide(
                    &store,
                    &spec,
                    h,
                    approve,
                    &who,
                    note,
                    &SystemClock,
                )?)
            })
            .await?
        }
        Decision::Retry => {
            let overrides = req.overrides.clone().unwrap_or_default();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let app3 = app.clone();
            let batch3 = batch.clone();
            app.engine.spawn(move || {
                let store = app3.store.batch(&batch3);
                let path = app3.store.original_at(&batch3, &asset.original);
                let job = SourceJob {
                    source: review::source_of(&h),
                    origin: asset.upload_name.clone(),
                    context: h.context.clone(),
                    bytes: read_source(&path, &app3.limits),
                };
                let routing = app3.config.routing();
                let run = RetryRun {
                    job,
                    limits: app3.limits,
                    routing: &routing,
                    clock: &SystemClock,
                    cancel: &app3.stopping,
                };
                let _ = tx.send(review::retry(&store, &spec, h, overrides, &who, note, run));
            });
            rx.await
                .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))??
        }
    };
    after_change(&app, &batch, &id, &out).await;
    Ok(Json(out))
}

#[utoipa::path(post, path = "/v1/assets/{id}/receipt", params(("id" = String, Path, description = "the asset id")), request_body(content = inline(Object), description = "`{\"by\": \"mockup\", \"note\": ...}` (both optional); see ReceiptRequest"), responses((status = 200, description = "the handoff, now with its receipt", body = ref("#/components/schemas/Handoff")), (status = 401, description = "no or wrong token", body = ref("#/components/schemas/ErrorBody")), (status = 404, description = "no such asset", body = ref("#/components/schemas/ErrorBody")), (status = 409, description = "the output is not delivered (not ready or approved)", body = ref("#/components/schemas/ErrorBody"))))]
/// Records that the next stage received a usable file: the handoff is complete.
pub async fn receipt(
    State(app): State<Arc<App>>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<Json<ReceiptRequest>>,
) -> Result<Json<Handoff>, ApiError> {
    let req = body.map(|Json(r)| r).unwrap_or_default();
    short_text("by", req.by.as_deref())?;
    short_text("note", req.note.as_deref())?;
    let by = match req
        .by
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
    {
        Some(b) if b != actor.name && !actor.operator => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "receipts are recorded under the token's own name ({})",
                    actor.name
                ),
            ))
        }
        Some(b) => b,
        None => actor.name,
    };
    let app2 = app.clone();
    let id2 = id.clone();
    let (batch, _, h) = blocking(move || app2.find_asset(&id2)).await?;
    let spec = app.spec(&h.goal.spec_id)?;
    let (app3, b) = (app.clone(), batch.clone());
    let out = blocking(move || {
        let store = app3.store.batch(&b);
        Ok(review::receive(
            &store,
            &spec,
            h,
            &by,
            req.note,
            &SystemClock,
        )?)
    })
    .await?;
    after_change(&app, &batch, &id, &out).await;
    Ok(Json(out))
}

/// The longest note or name a decision or receipt records.
const MAX_TEXT_BYTES: usize = 2000;

fn short_text(field: &str, text: Option<&str>) -> Result<(), ApiError> {
    match text {
        Some(t) if t.len() > MAX_TEXT_BYTES => Err(ApiError::new(
            ErrorCode::UsageError,
            format!("`{field}` is over {MAX_TEXT_BYTES} bytes"),
        )),
        _ => Ok(()),
    }
}

/// After a decision or receipt: a settled batch's manifest is written again, and the
/// change is sent to the batch's event streams.
async fn after_change(app: &Arc<App>, batch: &str, id: &str, h: &Handoff) {
    let app2 = app.clone();
    let (b, id2, h2) = (batch.to_string(), id.to_string(), h.clone());
    let refreshed = blocking(move || {
        super::webhook::notify(&app2, &b, &id2, &h2);
        let settled = app2
            .store
            .batch_row(&b)?
            .is_some_and(|r| r.state == BatchState::Settled);
        if settled {
            app2.rewrite_manifest(&b)?;
            // The exports the batch has had follow the decision.
            super::export::refresh(&app2, &b)?;
        }
        Ok(())
    })
    .await;
    if let Err(e) = refreshed {
        tracing::warn!(
            batch,
            "the batch manifest or its exports were not refreshed: {}",
            e.message()
        );
    }
    let _ = app.events.send(Event {
        batch: batch.to_string(),
        kind: "asset".into(),
        asset: Some(AssetEvent {
            id: id.to_string(),
            source: h.provenance.source_path.clone(),
            name: review::source_of(h).name,
            spec_id: h.goal.spec_id.clone(),
            state: h.state,
        }),
    });
}
