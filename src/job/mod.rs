//! One source through the pipeline and into the store: what the store already holds for
//! this source, spec and pipeline is kept; the rest is made by the one per-source call;
//! every output is put before its handoff settles, and every handoff is put last. The CLI
//! batch, the server and the watcher all run their batches through the one runner
//! ([`Batch`]), which tells what happened to an [`Observer`] and writes the one batch
//! manifest ([`batch_manifest`]).
//! Review decisions and retries ([`review`]) go through the same store.

mod manifest;
mod observer;
pub mod review;
mod runner;
mod sheet;

pub use manifest::{batch_manifest, refresh_manifest, BatchSource, Intake};
pub use observer::{Observer, SourceDone};
pub use runner::{Batch, Enqueue, Handling, Item, Outcome, Plain, Ran};
pub use sheet::contact_sheet;

use std::sync::atomic::AtomicBool;

use crate::error::{ErrorCode, Failure};
use crate::handoff::{
    Asset, Clock, Context, Handoff, Override, Provenance, Routing, State, PIPELINE_VERSION,
    TOOL_VERSION,
};
use crate::pipeline::{process_source, Limits, Output, Severity};
use crate::spec::Spec;
use crate::store::{FileAt, SourceName, Store, StoreError};

/// Reads at most `limit + 1` bytes: a device or a file growing under us cannot exhaust
/// memory (an object is streamed, and so read no further either).
fn read_bounded(at: &FileAt, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    at.reader()?
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// Reads one source, or says why it cannot be read (the pipeline names a file over the
/// byte limit itself).
pub fn read_source(at: &FileAt, limits: &Limits) -> Result<Vec<u8>, Failure> {
    read_bounded(at, limits.max_bytes).map_err(|e| {
        Failure::new(
            ErrorCode::SourceUnreadable,
            format!("the file cannot be read: {e}"),
        )
    })
}

/// This process as handoffs name where they were made: `host:pid`.
pub fn worker_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = gethostname::gethostname();
        let host = host.to_string_lossy();
        let host = if host.is_empty() { "localhost" } else { &host };
        format!("{host}:{}", std::process::id())
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
    /// The worker making it, for its provenance: a queue worker of `serve` or `shelfready
    /// worker` ([`worker_name`]); none for a run on the machine at hand (the command line,
    /// the watcher), whose manifests then stay byte-identical from run to run.
    pub worker: Option<&'a str>,
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
        worker: opts.worker.map(str::to_owned),
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
