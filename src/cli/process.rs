//! `shelfready process`: a thin loop over the one per-source call, through the folder store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::walk::{collect_inputs, Input};
use super::CliError;
use crate::engine::Engine;
use crate::handoff::{
    BatchManifest, Clock, ErrorCode, Failure, Goal, Handoff, Photo, PhotoCounts, State, Summary,
    PIPELINE_VERSION, SCHEMA_VERSION, TOOL_VERSION,
};
use crate::job::{run_source, JobOptions, SourceJob};
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
            super::walk::IMAGE_EXTENSIONS.join(" ."),
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
    let manifest = batch_manifest(
        opts,
        &store,
        &walk.inputs,
        &claims,
        per_source,
        walk.skipped,
        interrupted,
    );
    store.put_batch(&manifest)?;
    Ok(manifest)
}

/// The batch manifest: this run's photos in input order, then every other photo whose
/// outputs stand in the folder, so that it describes the whole folder.
fn batch_manifest(
    opts: &ProcessOptions,
    store: &dyn Store,
    inputs: &[Input],
    claims: &[Claim],
    per_source: Vec<Option<Vec<Handoff>>>,
    skipped: Vec<crate::handoff::Skipped>,
    interrupted: bool,
) -> BatchManifest {
    let this_run: Vec<Handoff> = per_source.iter().flatten().flatten().cloned().collect();
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
    for ((input, claim), hs) in inputs.iter().zip(claims).zip(per_source) {
        let reached = hs.is_some();
        // The photo's line is about this run's specs, as the exit code is; outputs an
        // earlier run made for other specs are listed in `handoffs` all the same.
        let hs = hs.unwrap_or_default();
        let refs: Vec<&Handoff> = hs.iter().collect();
        let renamed = claim.taken_by.as_ref().map(|owner| {
            format!(
                "named {} because {} is the name of {owner}",
                claim.name, input.wanted_name
            )
        });
        let photo = Photo::of(
            &input.key,
            &input.path.display().to_string(),
            &claim.name,
            renamed,
            if reached { &refs } else { &[] },
            true,
        );
        photos.push(photo);
        handoffs.extend(hs);
        handoffs.extend(earlier.remove(&input.key).unwrap_or_default());
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
    let count = |s: State| handoffs.iter().filter(|h| h.state == s).count();
    let summary = Summary {
        sources: photos.len(),
        outputs: handoffs.len(),
        ready: count(State::Ready) + count(State::Approved) + count(State::Exported),
        needs_review: count(State::NeedsReview),
        failed: count(State::Failed) + count(State::Rejected),
        up_to_date: handoffs.iter().filter(|h| h.up_to_date).count(),
        skipped: skipped.len(),
        photos: PhotoCounts::of(&photos),
    };
    BatchManifest {
        schema_version: SCHEMA_VERSION,
        tool_version: TOOL_VERSION.into(),
        created_at: opts.clock.now(),
        pipeline_version: PIPELINE_VERSION.into(),
        specs: opts.specs.iter().map(Goal::of).collect(),
        summary,
        exit_code,
        interrupted,
        photos,
        handoffs,
        skipped,
    }
}
