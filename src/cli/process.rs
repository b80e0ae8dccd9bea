//! `shelfready process`: a thin loop over the one per-source call, through the folder store.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::walk::{collect_inputs, Input};
use super::CliError;
use crate::engine::Engine;
use crate::handoff::context_from_name;
use crate::handoff::{
    BatchManifest, Clock, ErrorCode, Failure, Goal, Handoff, State, Summary, PIPELINE_VERSION,
    SCHEMA_VERSION, TOOL_VERSION,
};
use crate::job::{run_source, JobOptions, SourceJob};
use crate::pipeline::Limits;
use crate::spec::Spec;
use crate::store::{FolderStore, SourceName, Store};

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
}

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
pub(crate) fn read_source(path: &Path, limits: &Limits) -> Result<Vec<u8>, Failure> {
    read_bounded(path, limits.max_bytes).map_err(|e| {
        Failure::new(
            ErrorCode::SourceUnreadable,
            format!("the file cannot be read: {e}"),
        )
    })
}

/// Runs the batch. `on_source` is called as each source finishes (from worker threads).
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
            super::walk::IMAGE_EXTENSIONS.join(" ."),
            if walk.skipped.is_empty() { String::new() } else { format!("; {} file(s) were left out, e.g. {}: {}", walk.skipped.len(), walk.skipped[0].path, walk.skipped[0].message) }
        )));
    }
    // Names are claimed in input order before any work starts: the same run gives the same
    // names whatever the thread count, and a name owned by another source is never taken.
    let names = walk
        .inputs
        .iter()
        .map(|i| {
            store
                .claim_name(&i.key, &i.wanted_name)
                .map(|name| SourceName {
                    key: i.key.clone(),
                    name,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    on_start(walk.inputs.len());
    let cancel = AtomicBool::new(false);
    let job_opts = JobOptions {
        specs: opts.specs,
        limits: opts.limits,
        force: opts.force,
        clock: opts.clock,
        cancel: &cancel,
    };
    let work: Vec<(&Input, &SourceName)> = walk.inputs.iter().zip(&names).collect();
    let per_source = engine.map(&work, |(input, name)| {
        let job = SourceJob {
            source: (*name).clone(),
            origin: input.path.display().to_string(),
            context: context_from_name(
                &input
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default(),
            ),
            bytes: read_source(&input.path, &opts.limits),
        };
        let hs = run_source(&store, job, &job_opts);
        on_source(input, &hs);
        hs
    });
    let handoffs: Vec<Handoff> = per_source.into_iter().flatten().collect();
    let manifest = batch_manifest(opts, handoffs, walk.inputs.len(), walk.skipped);
    store.put_batch(&manifest)?;
    Ok(manifest)
}

fn batch_manifest(
    opts: &ProcessOptions,
    handoffs: Vec<Handoff>,
    sources: usize,
    skipped: Vec<crate::handoff::Skipped>,
) -> BatchManifest {
    let count = |s: State| handoffs.iter().filter(|h| h.state == s).count();
    let summary = Summary {
        sources,
        outputs: handoffs.len(),
        ready: count(State::Ready) + count(State::Approved) + count(State::Exported),
        needs_review: count(State::NeedsReview),
        failed: count(State::Failed) + count(State::Rejected),
        up_to_date: handoffs.iter().filter(|h| h.up_to_date).count(),
        skipped: skipped.len(),
    };
    let exit_code = if summary.failed > 0 {
        1
    } else if summary.needs_review > 0 {
        2
    } else {
        0
    };
    BatchManifest {
        schema_version: SCHEMA_VERSION,
        tool_version: TOOL_VERSION.into(),
        created_at: opts.clock.now(),
        pipeline_version: PIPELINE_VERSION.into(),
        specs: opts.specs.iter().map(Goal::of).collect(),
        summary,
        exit_code,
        handoffs,
        skipped,
    }
}
