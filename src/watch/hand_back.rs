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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{absolute, close_drop, rel_of, DropInfo, Moves, Placed, Running, WatchError};
use crate::handoff::{BatchManifest, Handoff, Skipped};
use crate::job::{Enqueue, Intake};
use crate::store::{AssetRow, BatchMark, BatchState, JobStore, Objects, StoreError};

/// Where a batch's results go back to, as the job store keeps it (JSON), and where its
/// sources went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct HandBack {
    /// The watched inbox (absolute): a watcher hands back only its own inbox's batches.
    pub inbox: PathBuf,
    /// The inbox's own id ([`inbox_id`]): two machines may each watch an `/inbox` of
    /// their own on one database.
    #[serde(default)]
    pub watcher: String,
    /// The drop's folder in the outbox.
    pub outbox: PathBuf,
    /// The dropped folder; none for loose files of the inbox.
    pub folder: Option<PathBuf>,
    /// The drop's name under archive/ and quarantine/.
    pub label: String,
    /// Handed back at least once: its sources are then only where they were moved (the
    /// inbox may hold a newer drop of the same name).
    #[serde(default)]
    pub handed: bool,
    /// Where each source was moved, by key.
    #[serde(default)]
    pub moved: BTreeMap<String, PathBuf>,
    /// Where a source moved again lay before (a source a retry mended, from quarantine to
    /// the archive): where it still is when a stop came before that move.
    #[serde(default)]
    pub previous: BTreeMap<String, PathBuf>,
}

impl HandBack {
    pub fn new(
        (inbox, watcher): (PathBuf, &str),
        outbox: PathBuf,
        folder: Option<PathBuf>,
        label: &str,
    ) -> Self {
        HandBack {
            inbox,
            watcher: watcher.to_string(),
            outbox,
            folder,
            label: label.to_string(),
            handed: false,
            moved: BTreeMap::new(),
            previous: BTreeMap::new(),
        }
    }

    /// The record; a path that is not text cannot be kept in it.
    pub fn to_json(&self, batch: &str) -> Result<String, WatchError> {
        serde_json::to_string(self).map_err(|e| WatchError::HandBackRecord {
            batch: batch.to_string(),
            message: e.to_string(),
        })
    }

    /// Where a source was taken from: keys are `<drop>/<path under it>`.
    fn taken_from(&self, key: &str) -> PathBuf {
        self.folder
            .as_deref()
            .unwrap_or(&self.inbox)
            .join(rel_of(key))
    }
}

/// A batch being followed.
struct Followed {
    id: String,
    to: HandBack,
    /// Files of the drop not taken, for [`close_drop`].
    skipped: Vec<Skipped>,
    /// Its files in the inbox (taken or not): a scan leaves them be until they are
    /// handed back.
    holds: Vec<PathBuf>,
    /// The fingerprint of the batch manifest last handed back.
    seen: Option<String>,
    /// The files copied into the outbox last time, by key, with the content an image was
    /// copied with (its handoff's sha256).
    copied: BTreeMap<String, Option<String>>,
    /// When its manifest was last looked at.
    looked: Option<Instant>,
    /// The last hand-back failed (said in the log): tried again once per rescan.
    failed: bool,
}

/// The id of an inbox on a shared database, kept in `<inbox>/.shelfready-inbox` (a dot
/// file: never taken), made at its first watch.
pub(super) fn inbox_id(inbox: &Path) -> Result<String, WatchError> {
    use std::io::Write;
    let path = inbox.join(".shelfready-inbox");
    let unreadable = |error| {
        WatchError::Store(StoreError::Read {
            path: path.display().to_string(),
            error,
        })
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut f) => {
            let id = crate::store::new_batch_id();
            f.write_all(id.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|error| {
                    WatchError::Store(StoreError::Write {
                        path: path.display().to_string(),
                        error,
                    })
                })?;
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(unreadable)?;
            let id = text.trim();
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(unreadable(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not an inbox id (letters and digits): remove the file to make a new one, which leaves this inbox's unfinished batches on the queue to nobody",
                )));
            }
            Ok(id.to_string())
        }
        Err(error) => Err(WatchError::Store(StoreError::Write {
            path: path.display().to_string(),
            error,
        })),
    }
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
        let holds = store
            .assets(id)?
            .iter()
            .map(|a| to.taken_from(&a.source_key))
            .chain(
                info.intake
                    .skipped
                    .iter()
                    .map(|s| absolute(Path::new(&s.path))),
            )
            .collect();
        self.lock().push(Followed {
            id: id.to_string(),
            to,
            skipped: info.intake.skipped,
            holds,
            seen: None,
            copied: BTreeMap::new(),
            looked: None,
            failed: false,
        });
        Ok(())
    }

    /// Whether no batch is still to be handed back a first time.
    pub fn none_pending(&self) -> bool {
        self.lock().iter().all(|f| f.to.handed)
    }

    /// Whether `p` (a dropped folder or a loose file) belongs to a batch on the queue
    /// not yet handed back.
    pub fn holds(&self, p: &Path) -> bool {
        let p = absolute(p);
        self.lock()
            .iter()
            .filter(|f| !f.to.handed)
            .any(|f| f.to.folder.as_deref() == Some(p.as_path()) || f.holds.contains(&p))
    }
}

/// This inbox's batches a stop left: those still being received are dropped (the drop is
/// taken again); those on the queue, settled and not yet handed back, or handed back with
/// outputs still waiting for a person are followed again (and queued again, should the
/// stop have come between recording a batch and queueing it).
pub(super) fn resume(w: &Running, queue: &dyn Enqueue) -> Result<(), WatchError> {
    let inbox = absolute(&w.opts.inbox);
    for (id, json) in w.store.batches_to_hand_back()? {
        let Ok(to) = serde_json::from_str::<HandBack>(&json) else {
            tracing::warn!(batch = %id, "its hand-back record cannot be read; left as it is");
            continue;
        };
        if to.inbox != inbox || to.watcher != w.inbox_id {
            continue; // another watcher's
        }
        let Some(row) = w.store.batch_row(&id)? else {
            continue;
        };
        match row.state {
            BatchState::Receiving => {
                w.store.delete_batch(&id)?;
                // The outbox folder reserved for it, still empty: the drop is taken again.
                let _ = std::fs::remove_dir(&to.outbox);
                continue;
            }
            BatchState::Processing => queue.enqueue(&id)?,
            BatchState::Settled => {}
        }
        tracing::warn!(batch = %id, "following again a batch a stop left on the queue");
        let info = DropInfo {
            label: to.label.clone(),
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
            // A one-off run says it and ends.
            Err(e) if w.opts.once => return Err(e),
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
    if (f.to.handed || f.failed) && f.looked.is_some_and(|t| t.elapsed() < w.opts.rescan) {
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
    if f.to.handed && seen == f.seen {
        return Ok(true);
    }
    hand_back(w, f, &row.specs, manifest.as_ref())?;
    // Nothing waits for a person: no decision will change its files any more (a receipt
    // the next stage records later is in the API's manifests, not the copy's).
    let open = manifest.is_some_and(|m| m.summary.needs_review > 0);
    let record = open.then(|| f.to.to_json(&f.id)).transpose()?;
    w.store.set_batch_hand_back(&f.id, record.as_deref())?;
    // Seen only once all is recorded: a failed write is tried again at the next look.
    f.failed = false;
    f.seen = seen;
    Ok(open)
}

/// One settled batch's results, handed back (again: each step finds where the last one
/// left things).
fn hand_back(
    w: &Running,
    f: &mut Followed,
    specs: &[String],
    manifest: Option<&BatchManifest>,
) -> Result<(), WatchError> {
    let (store, opts) = (w.store, w.opts);
    // The outputs first: a source leaves the inbox once its outputs are in the outbox.
    let made: HashMap<&str, &str> = manifest
        .iter()
        .flat_map(|m| &m.handoffs)
        .filter_map(|h| h.asset.as_ref())
        .map(|a| (a.path.as_str(), a.sha256.as_str()))
        .collect();
    f.copied = copy_files(store, &f.id, &f.to.outbox, &f.copied, &made)?;
    let first = !f.to.handed;
    // The record is written as sources move, at most once a second (a drop of thousands
    // would otherwise write it thousands of times), and once more at the end.
    let mut written: Option<Instant> = None;
    let label = f.to.label.clone();
    let moves = Moves {
        opts,
        store,
        id: &f.id,
        label: &label,
        held: &w.held,
        repoint: store.objects().is_local(),
    };
    for a in store.assets(&f.id)? {
        let mut hs: Vec<Handoff> = Vec::with_capacity(specs.len());
        for s in specs {
            hs.extend(store.handoff(&f.id, &a.source_key, s)?);
        }
        let Some(source) = source_of(f, &a, store.objects()) else {
            continue;
        };
        // Its work ended without outputs (an error the workers' log tells): quarantined.
        let unmade = hs.len() < specs.len();
        let (id, to) = (&f.id, &mut f.to);
        // Kept as it goes: a stop mid-way finds each source where it went.
        let from = absolute(&source);
        let mut record = |dest: &Path| {
            // A first move's source is looked for in the inbox, as the one taken.
            if to.handed {
                to.previous.insert(a.source_key.clone(), from.clone());
            }
            to.moved.insert(a.source_key.clone(), absolute(dest));
            if written.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                store.set_batch_hand_back(id, Some(&to.to_json(id)?))?;
                written = Some(Instant::now());
            }
            Ok(())
        };
        let went = match moves.place(&source, &a.source_key, &hs, unmade, &mut record)? {
            Placed::Held(why) => why,
            Placed::At(p) if unmade => format!(
                "{}: no outputs were recorded for it (its work ended in an error: the workers' log says which)",
                p.display()
            ),
            Placed::At(p) => p.display().to_string(),
        };
        if first {
            let states: Vec<String> = hs
                .iter()
                .map(|h| format!("{} {}", h.goal.spec_id, h.state.as_str()))
                .collect();
            let line = format!("{}: {} -> {went}", a.upload_name, states.join(", "));
            w.observer.note(&crate::naming::printable(&line));
        }
    }
    if first {
        let folder = f.to.folder.clone();
        close_drop(w, &f.to.label, folder.as_deref(), &f.skipped)?;
        // Said at once: a start after this never tidies the drop's folder again (a newer
        // drop of the same name may be there).
        f.to.handed = true;
        tracing::info!(batch = %f.id, outbox = %f.to.outbox.display(), "drop handed back");
    }
    store.set_batch_hand_back(&f.id, Some(&f.to.to_json(&f.id)?))?;
    Ok(())
}

/// Where a source of a batch lies now: where a hand-back moved it; before the first, in
/// the inbox where it was taken, if the file there is still the one taken (a newer file
/// of the same name is another drop's). `None`: nowhere to be found (moved away by
/// someone), or not this batch's any more.
fn source_of(f: &Followed, a: &AssetRow, objects: &Objects) -> Option<PathBuf> {
    // Where it was moved; or, recorded then a stop before the move, where it lay then.
    for p in [
        f.to.moved.get(&a.source_key),
        f.to.previous.get(&a.source_key),
    ]
    .into_iter()
    .flatten()
    {
        if std::fs::symlink_metadata(p).is_ok() {
            return Some(p.clone());
        }
    }
    if f.to.handed {
        return None; // held in the inbox at the first hand-back: taken again from there
    }
    let p = f.to.taken_from(&a.source_key);
    let meta = std::fs::symlink_metadata(&p).ok()?;
    let same = meta.is_file()
        && meta.len() == a.bytes
        // Kept by content in a bucket: the content must be the same too.
        && (objects.is_local()
            || !a.original.starts_with("originals/")
            || std::fs::read(&p).is_ok_and(|b| Objects::original_key(&b) == a.original));
    if !same {
        tracing::warn!(
            "{}: changed since it was taken: left in the inbox for a drop of its own",
            p.display()
        );
    }
    same.then_some(p)
}

/// Copies a batch's files (outputs, manifests) from the store into its outbox folder,
/// each written whole (temp file, then rename), and removes the ones copied `before`
/// that the store no longer has (an output a retry replaced). An output whose copy
/// already has the content its handoff records (`made`: sha256 by path) is not fetched
/// again: a reviewer's decision changes manifests, not images (one copied with that
/// content by this process is not even read again). Returns what it copied.
/// The folder's mark names the batch and says its records are in a shared database, so
/// a command pointed at the copy decides nothing behind the database's back.
fn copy_files(
    store: &dyn JobStore,
    id: &str,
    outbox: &Path,
    before: &BTreeMap<String, Option<String>>,
    made: &HashMap<&str, &str>,
) -> Result<BTreeMap<String, Option<String>>, WatchError> {
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
    let mut copied = BTreeMap::new();
    for (k, _) in listed {
        // Our own keys; a key that would climb out of the folder is not ours.
        let rel = Path::new(&k);
        let plain = rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain || k.starts_with(".shelfready/") {
            continue;
        }
        let to = outbox.join(rel);
        let sha = made.get(k.as_str()).map(|s| s.to_string());
        let current = sha.as_ref().is_some_and(|sha| {
            let ours = before.get(&k).is_some_and(|c| c.as_ref() == Some(sha)) && to.is_file();
            ours || std::fs::read(&to).is_ok_and(|b| crate::store::sha256_hex(&b) == *sha)
        });
        if current {
            copied.insert(k, sha);
            continue;
        }
        // Streamed from the store into a whole file (temp file, then rename).
        let mut from = files.reader(&k)?;
        crate::store::write_atomic_with(&to, |f| std::io::copy(&mut from, f).map(drop)).map_err(
            |error| StoreError::Write {
                path: to.display().to_string(),
                error,
            },
        )?;
        copied.insert(k, sha);
    }
    for gone in before.keys().filter(|k| !copied.contains_key(*k)) {
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
