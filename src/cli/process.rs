//! `shelfready process`: a thin loop over the one per-source call, through the folder store.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::CliError;
use crate::engine::Engine;
use crate::handoff::{BatchManifest, Clock, Handoff};
use crate::intake::{collect_inputs, Input};
use crate::job::{batch_manifest, read_source, run_source, BatchSource, JobOptions, SourceJob};
use crate::pipeline::Limits;
use crate::spec::Spec;
use crate::store::{Claim, FolderStore, SourceName, Store};

/// What a `process` run is asked to do.
pub struct ProcessOptions<'a> {
    pub inputs: &'a [PathBuf],
    pub out_dir: &'a Path,
    pub specs: &'a [Spec],
    pub limits: Limits,
    pub force: bool,
    pub clock: &'a dyn Clock,
    /// Who holds the output folder, as a second run is told.
    pub holder: String,
    /// Set to stop the run (Ctrl-C): what is done stays, the rest is left for the next run.
    pub cancel: &'a AtomicBool,
}

/// Runs the batch. `on_source` is called as each source finishes (from worker threads).
/// When `opts.cancel` is set (Ctrl-C), sources not yet started are left for the next run
/// and sources in flight stop between stages without touching their earlier outputs.
pub fn process(
    opts: &ProcessOptions,
    engine: &Engine,
    on_start: &dyn Fn(usize),
    on_source: &(dyn Fn(&Input, &[Handoff]) + Sync),
) -> Result<BatchManifest, CliError> {
    let store = FolderStore::open(opts.out_dir, &opts.holder)?;
    let walk = collect_inputs(opts.inputs, opts.out_dir, &store.written_paths(opts.specs))?;
    if walk.inputs.is_empty() {
        return Err(CliError::Usage(format!(
            "no image files found in the inputs (folders are searched for .{}; nothing inside the output folder is taken){}",
            crate::intake::IMAGE_EXTENSIONS.join(" ."),
            if walk.skipped.is_empty() { String::new() } else { format!("; {} file(s) were left out, e.g. {}: {}", walk.skipped.len(), walk.skipped[0].path, walk.skipped[0].message) }
        )));
    }
    // Names are claimed in input order before any work starts: the same run gives the same
    // names whatever the thread count, and a name owned by another source is never taken.
    let claims = walk
        .inputs
        .iter()
        .map(|i| store.claim_name(&i.key, &i.wanted_name))
        .collect::<Result<Vec<_>, _>>()?;
    on_start(walk.inputs.len());
    let job_opts = JobOptions {
        specs: opts.specs,
        limits: opts.limits,
        force: opts.force,
        clock: opts.clock,
        cancel: opts.cancel,
        routing: &crate::handoff::Routing::default(),
        retry: None,
    };
    let work: Vec<(&Input, &Claim)> = walk.inputs.iter().zip(&claims).collect();
    let per_source: Vec<Option<Vec<Handoff>>> = engine.map(&work, |(input, claim)| {
        if opts.cancel.load(Ordering::Relaxed) {
            return None;
        }
        let job = SourceJob {
            source: SourceName {
                key: input.key.clone(),
                name: claim.name.clone(),
            },
            origin: input.path.display().to_string(),
            context: input.context.clone(),
            bytes: read_source(&input.path, &opts.limits),
        };
        let hs = run_source(&store, job, &job_opts);
        // A source the stop caught mid-way is not finished: it is left for the next run.
        if hs.len() < opts.specs.len() {
            return None;
        }
        on_source(input, &hs);
        Some(hs)
    });
    let interrupted = opts.cancel.load(Ordering::Relaxed);
    let sources = walk
        .inputs
        .iter()
        .zip(&claims)
        .zip(per_source)
        .map(|((input, claim), handoffs)| BatchSource {
            key: &input.key,
            origin: input.path.display().to_string(),
            wanted_name: &input.wanted_name,
            claim,
            handoffs,
        })
        .collect();
    let manifest = batch_manifest(
        opts.specs,
        opts.clock,
        &store,
        sources,
        walk.skipped,
        interrupted,
    );
    store.put_batch(&manifest)?;
    Ok(manifest)
}
