//! `shelfready process`: a walked folder through the one batch runner, into the folder store.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::CliError;
use crate::engine::Engine;
use crate::handoff::{BatchManifest, Clock};
use crate::intake::collect_inputs;
use crate::job::{Batch, Intake, Item, JobOptions, Observer, Plain};
use crate::pipeline::Limits;
use crate::spec::Spec;
use crate::store::FolderStore;

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

/// Runs the batch through the one runner; `observer` follows it (the progress line).
/// When `opts.cancel` is set (Ctrl-C), sources not yet started are left for the next run
/// and sources in flight stop between stages without touching their earlier outputs.
pub fn process(
    opts: &ProcessOptions,
    engine: &Engine,
    observer: &dyn Observer,
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
    let items: Vec<Item> = walk
        .inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| Item {
            seq: i as i64 + 1,
            key: input.key,
            wanted_name: input.wanted_name,
            origin: input.path.display().to_string(),
            context: input.context,
            bytes_at: Ok(input.path),
        })
        .collect();
    let id = opts.out_dir.display().to_string();
    let batch = Batch {
        id: &id,
        store: &store,
        jobs: None,
        options: JobOptions {
            specs: opts.specs,
            limits: opts.limits,
            force: opts.force,
            clock: opts.clock,
            cancel: opts.cancel,
            routing: &crate::handoff::Routing::default(),
            retry: None,
        },
        observer,
        settle_stopped: true,
    };
    let intake = Intake {
        skipped: walk.skipped,
        catalog: None,
    };
    let ran = batch.run(engine, &items, intake, &Plain)?;
    ran.manifest
        .ok_or_else(|| CliError::Internal("the batch ended without a manifest".into()))
}
