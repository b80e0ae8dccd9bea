//! A watched drop on one machine: run on this process's engine through the one runner,
//! each source moved to the archive or quarantine as it settles (see [`super::moves`]),
//! the batch's files written straight into its outbox folder.

use std::path::PathBuf;

use super::{close_drop, name_of, rel_of, DropInfo, Moves, Running, WatchError};
use crate::engine::Engine;
use crate::handoff::SystemClock;
use crate::job::{Batch, Intake, Item, JobOptions};
use crate::store::{BatchState, FileAt};

/// Runs every source of a batch not yet moved out of the inbox through the one runner,
/// moving each to the archive or quarantine as it settles, and settles the batch (unless a
/// stop came first).
pub(super) fn finish_batch(
    w: &Running,
    engine: &Engine,
    id: &str,
    info: DropInfo,
) -> Result<(), WatchError> {
    let (opts, store, stop, observer) = (w.opts, w.store, w.stop, w.observer);
    let held = &w.held;
    let label = info.label.as_str();
    let store_of_batch = store.batch(id);
    let items: Vec<Item> = store
        .assets(id)?
        .into_iter()
        .map(|a| Item {
            seq: a.seq,
            wanted_name: wanted_of(&a.source_key),
            bytes_at: Ok(FileAt::Path(PathBuf::from(&a.original))),
            key: a.source_key,
            origin: a.upload_name,
            context: a.context,
        })
        .collect();
    let batch = Batch {
        id,
        store: store_of_batch.as_ref(),
        jobs: Some(store),
        options: JobOptions {
            specs: &opts.specs,
            limits: opts.limits,
            force: false,
            clock: &SystemClock,
            cancel: stop,
            routing: &opts.routing,
            retry: None,
            worker: None,
        },
        observer,
        settle_stopped: false,
    };
    let handling = Moves {
        opts,
        store,
        id,
        label,
        held,
        repoint: true,
    };
    let skipped = info.intake.skipped.clone();
    let ran = batch.run(engine, &items, info.intake, &handling)?;
    if ran.manifest.is_none() {
        return Ok(()); // resumed at the next start
    }
    close_drop(w, label, info.folder.as_deref(), &skipped)
}

/// This inbox's batches a stop left unfinished on one machine: dropped when still being
/// received (the drop is taken again), else finished now.
pub(super) fn resume(w: &Running, engine: &Engine) -> Result<(), WatchError> {
    let (opts, store) = (w.opts, w.store);
    for id in store.batches_from("watch", BatchState::Receiving)? {
        store.delete_batch(&id)?;
    }
    for id in store.requeue_retryable("watch")? {
        tracing::warn!(batch = %id, "trying again what a write failure stopped (a full disk?)");
    }
    for id in store.batches_from("watch", BatchState::Processing)? {
        let label = name_of(&store.batch_dir(&id));
        // A kill mid-write left temp files beside the outputs and beside the handoffs of
        // sources already moved: they go.
        for dir in [
            store.batch_dir(&id),
            opts.archive().join(&label),
            opts.quarantine().join(&label),
        ] {
            crate::store::sweep_temp_files(&dir);
        }
        tracing::warn!(batch = %id, drop = %label, "finishing a batch a stop interrupted");
        // Keys are `<drop>/...`: the drop's folder, when it was one.
        let folder = store
            .assets(&id)?
            .first()
            .and_then(|a| a.source_key.split('/').next().map(|d| opts.inbox.join(d)))
            .filter(|d| d.is_dir());
        let intake = Intake::load(store, &id)?;
        let info = DropInfo {
            label,
            folder,
            intake,
        };
        finish_batch(w, engine, &id, info)?;
    }
    Ok(())
}

/// Keys are `<drop>/<sub-folders>/<file>`; the name keeps the sub-folders.
fn wanted_of(key: &str) -> String {
    crate::naming::wanted_from_path(rel_of(key))
}
