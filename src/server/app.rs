//! What every route shares: the config, the job store, the engine, the server's specs, the
//! event channel and the queue. Sources run on the engine's threads; the async runtime
//! only moves bytes and answers requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use super::config::ServeConfig;
use super::error::ApiError;
use super::metrics::Metrics;
use crate::engine::Engine;
use crate::handoff::{BatchManifest, Clock, ErrorCode, State, SystemClock, Timestamp};
use crate::job::{
    batch_manifest, Batch, BatchSource, Item, JobOptions, Observer, Outcome, SourceDone,
};
use crate::pipeline::Limits;
use crate::spec::{builtin, builtin_ids, suggestions, Spec, SpecError};
use crate::store::{AssetRow, BatchState, JobStore, StoreError};

/// One change a client following a batch sees.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Event {
    pub batch: String,
    /// `asset` (an output settled) or `settled` (the whole batch).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetEvent>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AssetEvent {
    /// The asset's id (`GET /v1/assets/{id}`).
    pub id: String,
    pub source: String,
    pub name: String,
    pub spec_id: String,
    pub state: State,
}

pub struct App {
    pub config: ServeConfig,
    pub limits: Limits,
    pub store: Arc<dyn JobStore>,
    pub engine: Engine,
    /// Specs from the server's spec folder, by id.
    pub extra_specs: BTreeMap<String, Spec>,
    pub events: broadcast::Sender<Event>,
    pub metrics: Metrics,
    /// Set by SIGTERM: no new uploads; sources not started are left for the next start,
    /// sources in flight stop between stages.
    pub stopping: AtomicBool,
    /// Sources running on the engine right now.
    pub(super) running: AtomicUsize,
    /// This server's name as a worker on the job store's queue.
    pub(super) worker: String,
    /// Rung when this process queues work.
    pub(super) wake: super::worker::Wake,
    /// The sources this process's workers hold.
    pub(super) held: super::worker::Held,
}

pub use crate::store::asset_id;

/// The parts of an asset id.
pub fn parse_asset_id(id: &str) -> Option<(&str, i64, &str)> {
    let mut parts = id.splitn(3, '.');
    let batch = parts.next()?;
    let seq = parts.next()?.parse().ok()?;
    let spec = parts.next()?;
    Some((batch, seq, spec))
}

impl App {
    pub fn new(
        config: ServeConfig,
        store: Arc<dyn JobStore>,
        engine: Engine,
        extra_specs: BTreeMap<String, Spec>,
    ) -> Arc<App> {
        let (events, _) = broadcast::channel(4096);
        Arc::new(App {
            limits: config.limits(),
            config,
            store,
            engine,
            extra_specs,
            events,
            metrics: Metrics::default(),
            stopping: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            wake: Default::default(),
            held: Default::default(),
            // Unique across restarts of a process that got the same pid.
            worker: format!(
                "{}-{}",
                crate::job::worker_name(),
                &crate::store::new_batch_id()[..6]
            ),
        })
    }

    /// A spec by id: the server's spec folder first, then the built-ins. Never a path: a
    /// client cannot make the server read its files.
    pub fn spec(&self, id: &str) -> Result<Spec, ApiError> {
        if let Some(s) = self.extra_specs.get(id) {
            return Ok(s.clone());
        }
        match builtin(id) {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(ApiError::new(e.code(), e.to_string())),
            None => {
                let e = SpecError::Unknown {
                    name: id.to_string(),
                    suggestions: suggestions(id),
                };
                Err(ApiError::new(
                    ErrorCode::SpecUnknown,
                    e.to_string()
                        .replace("run `shelfready specs`", "GET /v1/specs")
                        .replace(", or pass a path to a .toml file", ""),
                ))
            }
        }
    }

    /// Every spec offered: built-in ones, then the spec folder's.
    pub fn all_specs(&self) -> Vec<Spec> {
        builtin_ids()
            .filter_map(|id| builtin(id).and_then(Result::ok))
            .chain(self.extra_specs.values().cloned())
            .collect()
    }

    /// The asset an id (`<batch>.<seq>.<spec>`) names: its batch, its row, its handoff.
    pub fn find_asset(
        &self,
        id: &str,
    ) -> Result<(String, AssetRow, crate::handoff::Handoff), ApiError> {
        let missing = || ApiError::not_found("asset", id);
        let (batch, seq, spec) = parse_asset_id(id).ok_or_else(missing)?;
        let asset = self
            .store
            .assets(batch)?
            .into_iter()
            .find(|a| a.seq == seq)
            .ok_or_else(missing)?;
        let h = self
            .store
            .handoff(batch, &asset.source_key, spec)?
            .ok_or_else(missing)?;
        Ok((batch.to_string(), asset, h))
    }

    /// Writes a settled batch's manifest again (after a decision changed an output).
    pub fn rewrite_manifest(&self, batch: &str) -> Result<(), ApiError> {
        let Some(row) = self.store.batch_row(batch)? else {
            return Ok(());
        };
        let specs = self.specs_of(&row.specs)?;
        let m = self.batch_manifest(batch, &specs)?;
        self.store.batch(batch).put_batch(&m)?;
        Ok(())
    }

    /// The batch manifest as it stands: a settled batch's as written (decisions rewrite
    /// it), an unsettled one's made from its handoffs now.
    pub fn current_manifest(&self, batch: &str) -> Result<BatchManifest, ApiError> {
        if let Some(m) = self.store.batch(batch).manifest()? {
            return Ok(m);
        }
        let row = self
            .store
            .batch_row(batch)?
            .ok_or_else(|| ApiError::not_found("batch", batch))?;
        Ok(self.batch_manifest(batch, &self.specs_of(&row.specs)?)?)
    }

    pub fn specs_of(&self, ids: &[String]) -> Result<Vec<Spec>, ApiError> {
        ids.iter().map(|id| self.spec(id)).collect()
    }

    /// Runs `work` on the engine's threads, within its bound on work in flight (previews
    /// share it with the batches), and waits for it without holding an async thread.
    pub async fn on_engine<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.engine.spawn(move || {
            let _ = tx.send(work());
        });
        rx.await.map_err(|_| {
            ApiError::new(
                ErrorCode::InternalError,
                "shelfready hit an internal error making this image; please report it",
            )
        })
    }

    /// Whether other processes may work this node's batches: a job database other than
    /// the data folder's own SQLite file.
    pub fn store_is_shared(&self) -> bool {
        self.config.shared_database()
    }

    /// Sources running on the engine right now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// A batch of this server's, for the one runner: its outputs in `store`, followed by
    /// the server (events, webhooks, metrics).
    pub(super) fn runner<'a>(
        &'a self,
        id: &'a str,
        store: &'a dyn crate::store::Store,
        specs: &'a [Spec],
        routing: &'a crate::handoff::Routing,
    ) -> Batch<'a> {
        Batch {
            id,
            store,
            jobs: Some(self.store.as_ref()),
            options: JobOptions {
                specs,
                limits: self.limits,
                force: false,
                clock: &SystemClock,
                cancel: &self.stopping,
                routing,
                retry: None,
                worker: Some(crate::job::worker_name()),
            },
            observer: self,
            settle_stopped: false,
        }
    }

    /// Settles a batch whose sources are all done: its manifest from what the store holds.
    pub(super) fn settle(&self, batch: &str) {
        if let Err(e) = self.try_settle(batch) {
            // Followers are not left waiting on a batch that cannot settle.
            tracing::error!(batch = %batch, "{e}");
            self.batch_settled(batch);
        }
    }

    fn try_settle(&self, batch: &str) -> Result<(), String> {
        let Some(row) = self.store.batch_row(batch).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let specs = self.specs_of(&row.specs).map_err(|e| e.message)?;
        let items: Vec<Item> = (self.store.assets(batch).map_err(|e| e.to_string())?)
            .into_iter()
            .map(|a| item_of(self.store.as_ref(), batch, a))
            .collect();
        let store = self.store.batch(batch);
        let routing = self.config.routing();
        let run = self.runner(batch, store.as_ref(), &specs, &routing);
        let claims = run.claim(&items).map_err(|e| e.to_string())?;
        // Each source's outputs, in the batch's spec order (as its run returned them).
        let mut by_key = by_source(store.handoffs());
        let outcomes: Vec<Outcome> = items
            .iter()
            .map(|item| {
                let mut hs = by_key.remove(&item.key).unwrap_or_default();
                hs.sort_by_key(|h| specs.iter().position(|s| s.id == h.goal.spec_id));
                Outcome::Done(hs)
            })
            .collect();
        let intake =
            crate::job::Intake::load(self.store.as_ref(), batch).map_err(|e| e.to_string())?;
        run.settle(&items, &claims, &outcomes, intake)
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The batch manifest as it stands: photos not yet settled are listed as waiting.
    pub fn batch_manifest(&self, batch: &str, specs: &[Spec]) -> Result<BatchManifest, StoreError> {
        let store = self.store.batch(batch);
        let assets = self.store.assets(batch)?;
        let mut by_key = by_source(store.handoffs());
        let wanted: Vec<String> = assets
            .iter()
            .map(|a| super::upload::wanted_name(&a.source_key))
            .collect();
        // Names were given at upload; this reads them back with who owns the one wanted.
        let claims = assets
            .iter()
            .zip(&wanted)
            .map(|(a, w)| store.claim_name(&a.source_key, w))
            .collect::<Result<Vec<_>, _>>()?;
        let sources = assets
            .iter()
            .zip(&claims)
            .zip(&wanted)
            .map(|((a, claim), wanted)| {
                let hs = by_key.remove(&a.source_key).unwrap_or_default();
                let all = specs
                    .iter()
                    .all(|s| hs.iter().any(|h| h.goal.spec_id == s.id));
                BatchSource {
                    key: &a.source_key,
                    origin: a.upload_name.clone(),
                    wanted_name: wanted,
                    claim,
                    handoffs: all.then(|| {
                        specs
                            .iter()
                            .filter_map(|s| hs.iter().find(|h| h.goal.spec_id == s.id).cloned())
                            .collect()
                    }),
                }
            })
            .collect();
        let intake = crate::job::Intake::load(self.store.as_ref(), batch)?;
        let mut m = batch_manifest(specs, &SystemClock, &store, sources, intake.skipped, false);
        m.catalog = intake.catalog;
        for p in m.photos.iter_mut().filter(|p| p.outputs.is_empty()) {
            p.todo = Some("waiting: being processed".into());
        }
        Ok(m)
    }

    /// At start: batches whose upload never finished are removed (their client got no
    /// answer and sends again); batches being processed are queued again. What was
    /// finished before the stop is kept (`current`), so nothing is made twice.
    pub fn recover(self: &Arc<Self>) -> Result<usize, StoreError> {
        let now = SystemClock.now().unix();
        for id in self.store.batches_from("upload", BatchState::Receiving)? {
            // On a shared database another node may be receiving it right now: only one
            // left for an hour is abandoned (no upload takes that long between its rows).
            if self.config.shared_database() {
                let created = self.store.batch_row(&id)?.and_then(|r| {
                    serde_json::from_value::<Timestamp>(serde_json::Value::String(r.created_at))
                        .ok()
                });
                if created.is_some_and(|t| now - t.unix() < 3600) {
                    continue;
                }
            }
            tracing::warn!(batch = %id, "removing a batch whose upload did not finish");
            self.store.delete_batch(&id)?;
        }
        self.store.remove_abandoned_uploads()?;
        for id in self.store.requeue_retryable("upload")? {
            tracing::warn!(batch = %id, "trying again what a write failure stopped (a full disk?)");
        }
        let mut n = 0;
        for id in self.store.batches_from("upload", BatchState::Processing)? {
            let Some(row) = self.store.batch_row(&id)? else {
                continue;
            };
            if let Err(e) = self.specs_of(&row.specs) {
                // Its sources fail at their turn (and do not hold up the queue).
                tracing::error!(batch = %id, "cannot resume: {}", e.message);
            }
            // A kill mid-write left temp files beside the outputs: they go.
            crate::store::sweep_temp_files(&self.store.batch_dir(&id));
            n += self.store.assets(&id)?.len();
            self.enqueue(&id)?;
        }
        Ok(n)
    }
}

/// The server follows every batch, whichever door took it: each settled output is an
/// `asset` event on the batch's stream and a webhook, each settled batch a `settled` event.
impl Observer for App {
    fn source_done(&self, d: &SourceDone) {
        self.metrics.source_done(d.seconds, d.handoffs);
        for h in d.handoffs {
            let id = asset_id(d.batch, d.seq, &h.goal.spec_id);
            super::webhook::notify(self, d.batch, &id, h);
            let _ = self.events.send(Event {
                batch: d.batch.to_string(),
                kind: "asset".into(),
                asset: Some(AssetEvent {
                    id,
                    source: d.origin.to_string(),
                    name: d.name.to_string(),
                    spec_id: h.goal.spec_id.clone(),
                    state: h.state,
                }),
            });
        }
        tracing::info!(batch = d.batch, "{}", d.line());
    }

    fn batch_settled(&self, batch: &str) {
        let _ = self.events.send(Event {
            batch: batch.to_string(),
            kind: "settled".into(),
            asset: None,
        });
    }

    fn note(&self, line: &str) {
        tracing::info!("{line}");
    }
}

/// A batch's handoffs grouped by their source's key.
fn by_source(
    handoffs: Vec<crate::handoff::Handoff>,
) -> HashMap<String, Vec<crate::handoff::Handoff>> {
    let mut by_key: HashMap<String, Vec<crate::handoff::Handoff>> = HashMap::new();
    for h in handoffs {
        by_key
            .entry(h.provenance.source_key.clone())
            .or_default()
            .push(h);
    }
    by_key
}

/// A source of the queue as the runner takes it: its bytes in the batch's folder, or in
/// the bucket ([`JobStore::original_at`]).
pub(super) fn item_of(store: &dyn JobStore, batch: &str, a: AssetRow) -> Item {
    Item {
        seq: a.seq,
        wanted_name: super::upload::wanted_name(&a.source_key),
        bytes_at: match a.failure {
            Some(f) => Err(f),
            None => Ok(store.original_at(batch, &a.original)),
        },
        key: a.source_key,
        origin: a.upload_name,
        context: a.context,
    }
}
