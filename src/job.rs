//! One source through the pipeline and into the store: what the store already holds for
//! this source, spec and pipeline is kept; the rest is made by the one per-source call;
//! every output is put before its handoff settles, and every handoff is put last. The CLI
//! batch, the server and the watcher all run sources through here.
//! [`batch_manifest`] is the one batch manifest every door writes.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use std::collections::BTreeMap;

use crate::handoff::{
    Asset, BatchManifest, CatalogReport, Clock, Context, ErrorCode, Failure, Goal, Handoff,
    Override, Photo, PhotoCounts, Provenance, Routing, Skipped, State, Summary, PIPELINE_VERSION,
    SCHEMA_VERSION, TOOL_VERSION,
};
use crate::pipeline::{process_source, Limits, Output, Severity};
use crate::spec::Spec;
use crate::store::{Claim, SourceName, Store, StoreError};

/// Reads at most `limit + 1` bytes: a device or a file growing under us cannot exhaust memory.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// Reads one source, or says why it cannot be read (the pipeline names a file over the
/// byte limit itself).
pub fn read_source(path: &Path, limits: &Limits) -> Result<Vec<u8>, Failure> {
    read_bounded(path, limits.max_bytes).map_err(|e| {
        Failure::new(
            ErrorCode::SourceUnreadable,
            format!("the file cannot be read: {e}"),
        )
    })
}

/// Everything a source job needs besides the source.
pub struct JobOptions<'a> {
    pub specs: &'a [Spec],
    pub limits: Limits,
    /// Re-make outputs even when the store holds current ones.
    pub force: bool,
    pub clock: &'a dyn Clock,
    pub cancel: &'a AtomicBool,
    /// Where outputs that wait for a person go, by why they wait.
    pub routing: &'a Routing,
    /// A reviewer's retry: the one output is made again from where its handoff stands.
    pub retry: Option<&'a Retry>,
}

/// A reviewer's retry of one output (run with one spec, the change already applied to it).
#[derive(Debug, Clone)]
pub struct Retry {
    /// The output's handoff as it stands: its history goes on.
    pub handoff: Handoff,
    pub actor: String,
    pub note: Option<String>,
    pub overrides: Override,
}

/// One source: its key and name in the store, where it came from, and its bytes (or why
/// they could not be read).
pub struct SourceJob {
    pub source: SourceName,
    /// The path or upload name, as the person gave it.
    pub origin: String,
    pub context: Context,
    pub bytes: Result<Vec<u8>, Failure>,
}

/// Runs one source for every spec; returns one handoff per spec, in spec order. Never
/// panics on bad input and never stops a batch: a bug in the pipeline becomes a failed
/// handoff with `internal-error`. An output the cancel flag stopped is left out (fewer
/// handoffs than specs): nothing about it is written, and its earlier output stands.
pub fn run_source(store: &dyn Store, job: SourceJob, opts: &JobOptions) -> Vec<Handoff> {
    let SourceJob {
        source,
        origin,
        context,
        bytes,
    } = job;
    let _span = tracing::info_span!("source", key = %source.key).entered();
    let (bytes, sha, size) = match bytes {
        Ok(b) => {
            let sha = crate::store::sha256_hex(&b);
            let n = b.len() as u64;
            (Ok(b), sha, n)
        }
        Err(f) => (Err(f), String::new(), 0),
    };
    let provenance = Provenance {
        source_key: source.key.clone(),
        source_path: origin,
        source_sha256: sha.clone(),
        source_bytes: size,
        source: None,
        operations: Vec::new(),
        tool_version: TOOL_VERSION.into(),
        pipeline_version: PIPELINE_VERSION.into(),
    };
    let received = |spec: &Spec| match opts.retry {
        Some(r) => retried(r, provenance.clone(), opts),
        None => Handoff::received(
            format!("{}.{}", source.name, spec.id),
            spec,
            provenance.clone(),
            context.clone(),
            opts.clock,
        ),
    };
    let mut done: Vec<Option<Handoff>> = opts
        .specs
        .iter()
        .map(|spec| {
            let kept = (!opts.force && bytes.is_ok())
                .then(|| store.current(&source, spec, &sha))
                .flatten();
            kept.map(|mut h| {
                h.up_to_date = true;
                h
            })
        })
        .collect();
    let todo: Vec<&Spec> = opts
        .specs
        .iter()
        .zip(&done)
        .filter(|(_, d)| d.is_none())
        .map(|(s, _)| s)
        .collect();
    if todo.is_empty() {
        return done.into_iter().flatten().collect();
    }
    let mut fresh = match bytes {
        Err(f) => todo
            .iter()
            .map(|spec| finish(store, &source, spec, received(spec), Err(f.clone()), opts))
            .collect::<Vec<_>>(),
        Ok(bytes) => {
            // A bug must cost one source, not the batch: a panic becomes a failed handoff.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                process_source(&bytes, &todo, &opts.limits, opts.cancel)
            }));
            drop(bytes);
            match result {
                Ok(r) => todo
                    .iter()
                    .zip(r.outputs)
                    .map(|(spec, out)| {
                        let mut h = received(spec);
                        h.provenance.source = r.source.clone();
                        h.provenance.operations = r.operations.clone();
                        finish(store, &source, spec, started(h, opts), out, opts)
                    })
                    .collect(),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    let f = Failure::new(
                        ErrorCode::InternalError,
                        format!("shelfready hit an internal error on this file ({what}); please report it with the file"),
                    );
                    todo.iter()
                        .map(|spec| finish(store, &source, spec, received(spec), Err(f.clone()), opts))
                        .collect()
                }
            }
        }
    }
    .into_iter();
    for d in done.iter_mut().filter(|d| d.is_none()) {
        *d = fresh.next().flatten();
    }
    done.into_iter().flatten().collect()
}

/// A retried output back in `processing`, its history kept and the change recorded; its
/// goal stays the spec it must meet (the change is in `overrides`).
fn retried(r: &Retry, provenance: Provenance, opts: &JobOptions) -> Handoff {
    let mut h = r.handoff.clone();
    h.error = None;
    let note = match &r.note {
        Some(n) => format!("retry ({}): {n}", r.overrides.describe()),
        None => format!("retry ({})", r.overrides.describe()),
    };
    if let Err(e) = h.transition(State::Processing, &r.actor, Some(note), opts.clock) {
        tracing::error!("{e}");
        h.error = Some(internal(&e));
    }
    h.asset = None;
    h.quality.clear();
    h.provenance = provenance;
    h.overrides = (!r.overrides.is_empty()).then(|| r.overrides.clone());
    h.up_to_date = false;
    h.receipt = None;
    h
}

/// `received` -> `processing` (a retried output is there already).
fn started(mut h: Handoff, opts: &JobOptions) -> Handoff {
    if h.state == State::Processing {
        return h;
    }
    if let Err(e) = h.transition(State::Processing, "shelfready", None, opts.clock) {
        tracing::error!("{e}");
        h.error = Some(internal(&e));
    }
    h
}

fn internal(e: &dyn std::fmt::Display) -> Failure {
    Failure::new(
        ErrorCode::InternalError,
        format!("shelfready hit an internal error ({e}); please report it"),
    )
}

/// Puts one output and then its settled handoff. A failed write makes the output
/// `failed` with the reason, and no earlier output of the store's stays behind it.
fn finish(
    store: &dyn Store,
    source: &SourceName,
    spec: &Spec,
    mut h: Handoff,
    out: Result<Output, Failure>,
    opts: &JobOptions,
) -> Option<Handoff> {
    if matches!(&out, Err(f) if f.code == ErrorCode::Cancelled) {
        return None;
    }
    let mut not_ours = false;
    match out {
        Err(f) => h.error = h.error.take().or(Some(f)),
        Ok(out) => {
            h.quality = out.checks;
            h.provenance.operations.extend(out.operations);
            let unmet = h
                .quality
                .iter()
                .any(|c| !c.passed && c.severity == Severity::Fail);
            if !unmet && h.error.is_none() {
                match store.put_output(source, spec, &out.bytes) {
                    Ok(put) => {
                        h.asset = Some(Asset {
                            path: put.path,
                            sha256: put.sha256,
                            bytes: out.bytes.len() as u64,
                            width: out.width,
                            height: out.height,
                            format: out.format,
                            color_space: if spec.embed_icc {
                                "srgb (icc embedded)".into()
                            } else {
                                "srgb".into()
                            },
                            has_alpha: out.has_alpha,
                        })
                    }
                    Err(e) => {
                        not_ours = matches!(e, StoreError::NotOurs { .. });
                        h.error = Some(Failure::new(e.code(), e.to_string()));
                    }
                }
            }
        }
    }
    let settled = match h.settled(spec, opts.routing, opts.clock) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            h.asset = None;
            h.error = Some(internal(&e));
            match h.settled(spec, opts.routing, opts.clock) {
                Ok(s) => s,
                Err(_) => return Some(h),
            }
        }
    };
    if settled.state == State::Failed && !not_ours {
        if let Err(e) = store.remove_output(source, spec) {
            tracing::warn!("{e}");
        }
    }
    let Err(e) = store.put_handoff(source, spec, &settled) else {
        tracing::info!(spec = %spec.id, state = settled.state.as_str(), "output done");
        return Some(settled);
    };
    // The handoff could not be recorded: the output does not stand.
    tracing::error!("{e}");
    if let Err(e) = store.remove_output(source, spec) {
        tracing::warn!("{e}");
    }
    h.asset = None;
    h.error = Some(Failure::new(e.code(), e.to_string()));
    let failed = h
        .settled(spec, opts.routing, opts.clock)
        .unwrap_or_else(|e| {
            tracing::error!("{e}");
            h
        });
    if let Err(e) = store.put_handoff(source, spec, &failed) {
        tracing::warn!("{e}");
    }
    Some(failed)
}

/// A batch's counts.
fn summary_of(photos: &[Photo], handoffs: &[Handoff], skipped: usize) -> Summary {
    let count = |s: State| handoffs.iter().filter(|h| h.state == s).count();
    Summary {
        sources: photos.len(),
        outputs: handoffs.len(),
        ready: count(State::Ready) + count(State::Approved) + count(State::Exported),
        needs_review: count(State::NeedsReview),
        failed: count(State::Failed) + count(State::Rejected),
        up_to_date: handoffs.iter().filter(|h| h.up_to_date).count(),
        skipped,
        photos: PhotoCounts::of(photos),
        approved: count(State::Approved),
        rejected: count(State::Rejected),
        awaiting_receipt: handoffs
            .iter()
            .filter(|h| h.state.is_deliverable())
            .filter(|h| h.receipt.is_none())
            .count(),
    }
}

/// A batch manifest with one output's handoff replaced (after a review decision, a retry or
/// a receipt): its photo's state and line and the batch's counts follow.
pub fn refresh_manifest(m: &mut BatchManifest, h: Handoff) {
    let key = h.provenance.source_key.clone();
    match m.handoffs.iter_mut().find(|o| o.id == h.id) {
        Some(slot) => *slot = h,
        None => m.handoffs.push(h),
    }
    if let Some(p) = m.photos.iter_mut().find(|p| p.key == key) {
        let refs: Vec<&Handoff> = m
            .handoffs
            .iter()
            .filter(|o| o.provenance.source_key == key)
            .collect();
        *p = Photo::of(
            &key,
            &p.source,
            &p.name,
            p.renamed.clone(),
            &refs,
            p.this_run,
        );
    }
    m.summary = summary_of(&m.photos, &m.handoffs, m.skipped.len());
}

/// One source of a batch, as its manifest tells it: `handoffs` is `None` when the run
/// did not reach (or finish) it.
/// What a door learned while taking a batch, kept with it (as JSON in the store) so its
/// manifest reports it even when the batch is finished after a restart.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Intake {
    /// Files not taken, with why.
    pub skipped: Vec<Skipped>,
    /// The catalog the batch came with, as it was read.
    pub catalog: Option<CatalogReport>,
}

impl Intake {
    pub fn save(&self, store: &crate::store::SqliteStore, batch: &str) -> Result<(), StoreError> {
        let json = serde_json::to_string(self).map_err(|e| StoreError::Database {
            error: e.to_string(),
        })?;
        store.set_batch_intake(batch, &json)
    }

    /// What [`Intake::save`] kept; nothing, for a batch taken before intakes were kept.
    pub fn load(store: &crate::store::SqliteStore, batch: &str) -> Result<Intake, StoreError> {
        Ok(store
            .batch_intake(batch)?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }
}

pub struct BatchSource<'a> {
    pub key: &'a str,
    /// The path or upload name, as the person gave it.
    pub origin: String,
    pub wanted_name: &'a str,
    pub claim: &'a Claim,
    pub handoffs: Option<Vec<Handoff>>,
}

/// The batch manifest: this run's photos in input order, then every other photo whose
/// outputs stand in the folder, so that it describes the whole folder.
pub fn batch_manifest(
    specs: &[Spec],
    clock: &dyn Clock,
    store: &dyn Store,
    sources: Vec<BatchSource>,
    skipped: Vec<crate::handoff::Skipped>,
    interrupted: bool,
) -> BatchManifest {
    let this_run: Vec<Handoff> = sources
        .iter()
        .filter_map(|s| s.handoffs.as_ref())
        .flatten()
        .cloned()
        .collect();
    let exit_code = if interrupted {
        130
    } else if this_run.iter().any(|h| h.state == State::Failed) {
        1
    } else if this_run.iter().any(|h| h.state == State::NeedsReview) {
        2
    } else {
        0
    };
    // Outputs an earlier run made, by source key, that this run did not make again.
    let remade: std::collections::HashSet<(&str, &str)> = this_run
        .iter()
        .map(|h| (h.provenance.source_key.as_str(), h.goal.spec_id.as_str()))
        .collect();
    let mut earlier: BTreeMap<String, Vec<Handoff>> = BTreeMap::new();
    for h in store.handoffs() {
        if !remade.contains(&(h.provenance.source_key.as_str(), h.goal.spec_id.as_str())) {
            earlier
                .entry(h.provenance.source_key.clone())
                .or_default()
                .push(h);
        }
    }
    let mut photos = Vec::new();
    let mut handoffs = Vec::new();
    for source in sources {
        let (claim, hs) = (source.claim, source.handoffs);
        let reached = hs.is_some();
        // The photo's line is about this run's specs, as the exit code is; outputs an
        // earlier run made for other specs are listed in `handoffs` all the same.
        let hs = hs.unwrap_or_default();
        let refs: Vec<&Handoff> = hs.iter().collect();
        let renamed = claim.taken_by.as_ref().map(|owner| {
            format!(
                "named {} because {} is the name of {owner}",
                claim.name, source.wanted_name
            )
        });
        let photo = Photo::of(
            source.key,
            &source.origin,
            &claim.name,
            renamed,
            if reached { &refs } else { &[] },
            true,
        );
        photos.push(photo);
        handoffs.extend(hs);
        handoffs.extend(earlier.remove(source.key).unwrap_or_default());
    }
    for (key, hs) in earlier {
        let refs: Vec<&Handoff> = hs.iter().collect();
        let name = hs
            .iter()
            .find_map(|h| h.id.strip_suffix(&format!(".{}", h.goal.spec_id)))
            .unwrap_or_default()
            .to_string();
        let source = hs[0].provenance.source_path.clone();
        photos.push(Photo::of(&key, &source, &name, None, &refs, false));
        handoffs.extend(hs);
    }
    let summary = summary_of(&photos, &handoffs, skipped.len());
    BatchManifest {
        schema_version: SCHEMA_VERSION,
        tool_version: TOOL_VERSION.into(),
        created_at: clock.now(),
        pipeline_version: PIPELINE_VERSION.into(),
        specs: specs.iter().map(Goal::of).collect(),
        summary,
        exit_code,
        interrupted,
        photos,
        handoffs,
        skipped,
        catalog: None,
    }
}

/// The contact sheet of `handoffs`, titled `title`, with a line of counts by state.
/// `load` gives an output's image bytes (none when it cannot be read); previews are made
/// on the engine's threads.
pub fn contact_sheet(
    engine: &crate::engine::Engine,
    title: &str,
    handoffs: &[Handoff],
    load: impl Fn(&Handoff) -> Option<Vec<u8>> + Sync,
    limits: &Limits,
) -> Result<Vec<u8>, crate::pipeline::contact_sheet::SheetError> {
    use crate::pipeline::contact_sheet::{render, Tile, Tone, MAX_TILES, PREVIEW};
    let mut counts: BTreeMap<State, usize> = BTreeMap::new();
    for h in handoffs {
        *counts.entry(h.state).or_default() += 1;
    }
    let mut line = format!(
        "{} output{}",
        handoffs.len(),
        if handoffs.len() == 1 { "" } else { "s" }
    );
    for (state, n) in counts {
        line.push_str(&format!(" · {n} {}", state.as_str().replace('_', " ")));
    }
    let tiles: Vec<Tile> = handoffs
        .iter()
        .map(|h| {
            let tone = match h.state {
                s if s.is_deliverable() => Tone::Good,
                State::NeedsReview => Tone::Waiting,
                State::Failed | State::Rejected => Tone::Bad,
                _ => Tone::Neutral,
            };
            // The photo line's words: short, and the cause first.
            let note = crate::handoff::advice::todo(&[h]);
            Tile {
                name: h.provenance.source_key.clone(),
                spec: h.goal.spec_id.clone(),
                badge: h.state.as_str().replace('_', " "),
                tone,
                note,
            }
        })
        .collect();
    let shown: Vec<&Handoff> = handoffs.iter().take(MAX_TILES).collect();
    let previews = engine.map(&shown, |h| {
        h.asset.as_ref()?;
        let bytes = load(h)?;
        crate::pipeline::thumbnail::preview(&bytes, PREVIEW, limits).ok()
    });
    render(&[title.to_string(), line], &tiles, &previews)
}
