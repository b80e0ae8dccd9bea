//! A watched drop on a shared database's queue: the watcher follows each batch it put
//! there and, once the batch settles (the last worker to finish a source settles it),
//! hands the results back as the one-machine watcher leaves them: each source moved to
//! the archive or quarantine with its handoffs beside it, the batch's files copied from
//! the store into `<out>/<drop>/`, the rest of the drop tidied.
//!
//! The outbox holds a copy, so the watcher keeps it true: while an output of the batch
//! waits for a person, a decision made at any door changes the batch's manifest, and the
//! watcher hands the batch back again (a retry's
//! new output, the decision in its manifest, a source a retry mended moved from
//! quarantine to the archive). Where each batch goes back to is kept in the job store
//! ([`JobStore::set_batch_hand_back`]) until nothing can change any more, so a watcher
//! started again follows its batches again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{absolute, close_drop, rel_of, DropInfo, Enqueue, Moves, Running, WatchError};
use crate::handoff::{Handoff, Skipped};
use crate::job::{Intake, Item};
use crate::store::{BatchMark, BatchState, FileAt, JobStore, StoreError};

/// Where a batch's results go back to, as the job store keeps it (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct HandBack {
    /// The watched inbox (absolute): a watcher hands back only its own inbox's batches.
    pub inbox: PathBuf,
    /// The drop's folder in the outbox.
    pub outbox: PathBuf,
    /// The dropped folder; none for loose files of the inbox.
    pub folder: Option<PathBuf>,
}

impl HandBack {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Where the sources lie: keys are `<drop>/<path under it>`.
    fn base(&self) -> &Path {
        self.folder.as_deref().unwrap_or(&self.inbox)
    }

    fn source(&self, key: &str) -> PathBuf {
        self.base().join(rel_of(key))
    }
}

/// A batch being followed.
struct Followed {
    id: String,
    to: HandBack,
    label: String,
    /// Files of the drop not taken, for [`close_drop`].
    skipped: Vec<Skipped>,
    /// Its sources in the inbox: a scan leaves them be until they are handed back.
    sources: Vec<PathBuf>,
    /// Handed back at least once (its copy is then kept true, see the module's words).
    handed: bool,
    /// The fingerprint of the batch manifest last handed back.
    seen: Option<String>,
    /// The files copied into the outbox last time, by key.
    copied: BTreeSet<String>,
    /// When its manifest was last looked at.
    looked: Option<Instant>,
    /// The last hand-back failed (said in the log): tried again once per rescan.
    failed: bool,
}

/// The batches a watcher has on the queue.
#[derive(Default)]
pub(super) struct Following(Mutex<Vec<Followed>>);

impl Following {
    fn lock(&self) -> MutexGuard<'_, Vec<Followed>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(
        &self,
        id: &str,
        to: HandBack,
        info: DropInfo,
        store: &dyn JobStore,
    ) -> Result<(), WatchError> {
        let sources = store
            .assets(id)?
            .iter()
            .map(|a| to.source(&a.source_key))
            .collect();
        self.lock().push(Followed {
            id: id.to_string(),
            to,
            label: info.label,
            skipped: info.intake.skipped,
            sources,
            handed: false,
            seen: None,
            copied: BTreeSet::new(),
            looked: None,
            failed: false,
        });
        Ok(())
    }

    /// Whether no batch is still to be handed back a first time.
    pub fn none_pending(&self) -> bool {
        self.lock().iter().all(|f| f.handed)
    }

    /// Whether `p` (a dropped folder or a loose file) belongs to a batch on the queue
    /// not yet handed back.
    pub fn holds(&self, p: &Path) -> bool {
        let p = absolute(p);
        self.lock()
            .iter()
            .filter(|f| !f.handed)
            .any(|f| f.to.folder.as_deref() == Some(p.as_path()) || f.sources.contains(&p))
    }
}

/// The batches of this inbox a stop left on the queue, settled and not yet handed back,
/// or handed back with outputs still waiting for a person: followed again (and queued
/// again, should the stop have come between recording a batch and queueing it).
pub(super) fn resume(w: &Running, queue: &dyn Enqueue) -> Result<(), WatchError> {
    let inbox = absolute(&w.opts.inbox);
    for (id, json) in w.store.batches_to_hand_back()? {
        let Ok(to) = serde_json::from_str::<HandBack>(&json) else {
            tracing::warn!(batch = %id, "its hand-back record cannot be read; left as it is");
            continue;
        };
        if to.inbox != inbox {
            continue; // another watcher's
        }
        let Some(row) = w.store.batch_row(&id)? else {
            continue;
        };
        if row.state == BatchState::Processing {
            queue.enqueue(&id)?;
        }
        tracing::warn!(batch = %id, "following again a batch a stop left on the queue");
        let info = DropInfo {
            label: super::name_of(&to.outbox),
            folder: to.folder.clone(),
            intake: Intake::load(w.store, &id)?,
        };
        w.following.add(&id, to, info, w.store)?;
    }
    Ok(())
}

/// Hands back every followed batch that has settled, and again each handed-back one
/// whose manifest a decision changed (looked at once per rescan).
pub(super) fn settled(w: &Running) -> Result<(), WatchError> {
    let ids: Vec<String> = w.following.lock().iter().map(|f| f.id.clone()).collect();
    for id in ids {
        let taken = {
            let mut list = w.following.lock();
            list.iter().position(|f| f.id == id).map(|i| list.remove(i))
        };
        let Some(mut f) = taken else { continue };
        match look(w, &mut f) {
            Ok(true) => w.following.lock().push(f),
            Ok(false) => {}
            Err(e) => {
                // Followed still: tried again at the next rescan (a full disk, a move
                // refused, a file store this process does not reach), the other batches
                // handed back meanwhile.
                tracing::error!(batch = %f.id, "cannot hand the drop back yet: {e}");
                f.failed = true;
                w.following.lock().push(f);
            }
        }
    }
    Ok(())
}

/// One followed batch: handed back if it has settled since the last look, or changed.
/// Returns whether it is still followed.
fn look(w: &Running, f: &mut Followed) -> Result<bool, WatchError> {
    if (f.handed || f.failed) && f.looked.is_some_and(|t| t.elapsed() < w.opts.rescan) {
        return Ok(true);
    }
    f.looked = Some(Instant::now());
    let Some(row) = w.store.batch_row(&f.id)? else {
        return Ok(false); // deleted meanwhile (over the API): nothing to hand back
    };
    if row.state != BatchState::Settled {
        return Ok(true);
    }
    let manifest = w.store.batch(&f.id).manifest()?;
    let seen = manifest
        .as_ref()
        .and_then(|m| serde_json::to_vec(m).ok())
        .map(|j| crate::store::sha256_hex(&j));
    if f.handed && seen == f.seen {
        return Ok(true);
    }
    hand_back(w, f, &row.specs)?;
    f.failed = false;
    f.handed = true;
    f.seen = seen;
    // Nothing waits for a person: no decision will change its files any more (a receipt
    // the next stage records later is in the API's manifests, not the copy's).
    let open = manifest.is_some_and(|m| m.summary.needs_review > 0);
    if !open {
        w.store.set_batch_hand_back(&f.id, None)?;
    }
    Ok(open)
}

/// One settled batch's results, handed back (again: each step finds where the last one
/// left things).
fn hand_back(w: &Running, f: &mut Followed, specs: &[String]) -> Result<(), WatchError> {
    let (store, opts) = (w.store, w.opts);
    // The outputs first: a source leaves the inbox once its outputs are in the outbox.
    f.copied = copy_files(store, &f.id, &f.to.outbox, &f.copied)?;
    let moves = Moves {
        opts,
        store,
        id: &f.id,
        label: &f.label,
        held: &w.held,
        repoint: store.objects().is_local(),
    };
    for a in store.assets(&f.id)? {
        // In the inbox, or where an earlier hand-back moved it.
        let rel = rel_of(&a.source_key);
        let Some(source) = [
            f.to.source(&a.source_key),
            opts.archive().join(&f.label).join(rel),
            opts.quarantine().join(&f.label).join(rel),
        ]
        .into_iter()
        .find(|p| std::fs::symlink_metadata(p).is_ok()) else {
            continue;
        };
        let hs: Vec<Handoff> = specs
            .iter()
            .filter_map(|s| store.handoff(&f.id, &a.source_key, s).ok().flatten())
            .collect();
        let item = Item {
            seq: a.seq,
            wanted_name: String::new(),
            key: a.source_key,
            origin: a.upload_name,
            context: a.context,
            bytes_at: Ok(FileAt::Path(absolute(&source))),
        };
        let note = crate::job::Handling::after(&moves, &item, &hs)?;
        if f.handed {
            continue; // said the first time
        }
        let states: Vec<String> = hs
            .iter()
            .map(|h| format!("{} {}", h.goal.spec_id, h.state.as_str()))
            .collect();
        let line = format!(
            "{}: {} -> {}",
            item.origin,
            states.join(", "),
            note.unwrap_or_default()
        );
        w.observer.note(&crate::naming::printable(&line));
    }
    if !f.handed {
        close_drop(w, &f.label, f.to.folder.as_deref(), &f.skipped)?;
        tracing::info!(batch = %f.id, outbox = %f.to.outbox.display(), "drop handed back");
    }
    Ok(())
}

/// Copies a batch's files (outputs, manifests) from the store into its outbox folder,
/// each written whole (temp file, then rename), and removes the ones copied `before`
/// that the store no longer has (an output a retry replaced). Returns what it copied.
/// The folder's mark names the batch and says its records are in a shared database, so
/// a command pointed at the copy decides nothing behind the database's back.
fn copy_files(
    store: &dyn JobStore,
    id: &str,
    outbox: &Path,
    before: &BTreeSet<String>,
) -> Result<BTreeSet<String>, WatchError> {
    let files = store.batch_files(id)?;
    let listed = files.list("")?;
    // A settled batch has its manifest at least: none means this process reaches
    // another file store than the workers wrote to.
    if !listed.iter().any(|(k, _)| k == "manifest.json") {
        return Err(WatchError::FilesElsewhere {
            batch: id.to_string(),
            store: files.name().to_string(),
        });
    }
    let mut copied = BTreeSet::new();
    for (k, _) in listed {
        // Our own keys; a key that would climb out of the folder is not ours.
        let rel = Path::new(&k);
        let plain = rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain || k.starts_with(".shelfready/") {
            continue;
        }
        let Some(bytes) = files.get(&k)? else {
            continue;
        };
        let to = outbox.join(rel);
        crate::store::write_atomic(&to, &bytes).map_err(|error| StoreError::Write {
            path: to.display().to_string(),
            error,
        })?;
        copied.insert(k);
    }
    for gone in before.difference(&copied) {
        let _ = std::fs::remove_file(outbox.join(gone));
    }
    let mark = BatchMark {
        data_dir: absolute(store.objects().folder().as_deref().unwrap_or(outbox)),
        batch: id.to_string(),
        shared: true,
    };
    crate::store::write_manifest(&outbox.join(".shelfready").join("store.json"), &mark)?;
    Ok(copied)
}
