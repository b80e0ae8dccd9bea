//! `shelfready watch`: a folder becomes an inbox. Each folder dropped into it is one batch
//! (loose files found in one scan make one too), taken once everything in it has stopped
//! changing, run through the same per-source job and job store as `serve`, written
//! to `<out>/<drop>/`, and each source then moved to `archive/` (ready, needs review) or
//! `quarantine/` (failed) with its handoff manifests beside it. Nothing is deleted.
//!
//! Where a drop is made depends on the job store ([`Runs`]). On one machine the watcher
//! runs it on its own engine and waits: each batch is given its outbox as its home
//! ([`JobStore::set_batch_home`]), a local folder even when the store's other files are in
//! a bucket. On a shared database the watcher puts the drop on the queue, its sources'
//! bytes in the store, so any worker takes them; it follows the batch and, once it
//! settles, hands the results back ([`hand_back`]): sources moved, manifests beside them,
//! outputs copied into the outbox.

mod hand_back;
mod hold;
mod settle;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

use hold::Held;
use settle::{entries, Settle};

use crate::engine::Engine;
use crate::handoff::{CatalogReport, Clock, Handoff, SkipReason, Skipped, State, SystemClock};
use crate::intake::{
    catalog_path, collect_inputs, fetch_rows, free_file, is_catalog, name_of, read_catalog,
    still_written, CATALOGS,
};
use crate::job::{
    read_source, Batch, Enqueue, Handling, Intake, Item, JobOptions, Observer, Outcome,
};
use crate::pipeline::Limits;
use crate::spec::Spec;
use crate::store::{new_batch_id, AssetRow, BatchState, FileAt, JobStore, StoreError};

pub use crate::intake::FetchLimits;

#[derive(Debug, Error)]
pub enum WatchError {
    #[error("{0}: no such folder to watch")]
    NoInbox(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot watch {path}: {message}")]
    Notify { path: String, message: String },
    #[error("the files of batch {batch} are not in {store}: every process on a shared database needs the file store its workers write to (one data folder they all reach, or the same --store-url)")]
    FilesElsewhere { batch: String, store: String },
    #[error("cannot record where batch {batch} goes back to: {message}")]
    HandBackRecord { batch: String, message: String },
    #[error("cannot move {from} to {to}: {error}")]
    Move {
        from: String,
        to: String,
        error: std::io::Error,
    },
}

impl WatchError {
    pub fn code(&self) -> crate::handoff::ErrorCode {
        use crate::handoff::ErrorCode;
        match self {
            WatchError::NoInbox(_) => ErrorCode::NotFound,
            WatchError::Store(e) => e.code(),
            WatchError::Notify { .. } => ErrorCode::InternalError,
            WatchError::Move { .. } => ErrorCode::OutputWriteFailed,
            WatchError::FilesElsewhere { .. } => ErrorCode::UsageError,
            WatchError::HandBackRecord { .. } => ErrorCode::InternalError,
        }
    }
}

/// How long a file that reads as cut off is held back by default (see
/// [`WatchOptions::stalled`]).
pub const STALLED: Duration = Duration::from_secs(600);

/// What a watcher is asked to do.
pub struct WatchOptions {
    pub inbox: PathBuf,
    pub out: PathBuf,
    pub specs: Vec<Spec>,
    pub limits: Limits,
    /// How long everything in a drop must stay unchanged before it is taken.
    pub settle: Duration,
    /// How often the inbox is scanned even without file events (network shares miss them).
    pub rescan: Duration,
    /// Stop after the first scan that finds nothing to do (for scripts and tests).
    pub once: bool,
    /// Limits on fetching the images a catalog names by URL.
    pub fetch: FetchLimits,
    /// Where outputs that wait for a person go.
    pub routing: crate::handoff::Routing,
    /// How long a file that reads as cut off is held back in the inbox (a copy that
    /// paused) before it goes to quarantine, counted from its last write.
    pub stalled: Duration,
}

impl WatchOptions {
    pub fn archive(&self) -> PathBuf {
        self.inbox.join("archive")
    }

    pub fn quarantine(&self) -> PathBuf {
        self.inbox.join("quarantine")
    }

    /// Whether a source (absolute) lies in the archive or quarantine: moved out.
    fn moved_out(&self, source: &Path) -> bool {
        [self.archive(), self.quarantine()]
            .iter()
            .any(|d| source.starts_with(absolute(d)))
    }
}

/// Where a watcher's batches are made.
#[derive(Clone, Copy)]
pub enum Runs<'a> {
    /// Here, on this process's engine, each batch waited for: one machine, its outputs
    /// written straight into the outbox.
    Here(&'a Engine),
    /// On the job store's queue, which every worker on a shared database takes from;
    /// the watcher follows each batch and hands its results back once it settles.
    Queue(&'a dyn Enqueue),
}

/// A running watcher's parts, as every step of it needs them.
struct Running<'a> {
    opts: &'a WatchOptions,
    store: &'a dyn JobStore,
    runs: Runs<'a>,
    stop: &'a AtomicBool,
    observer: &'a dyn Observer,
    /// Cut-off files held back (see [`hold`]).
    held: Held,
    /// Batches on the queue whose results are not handed back yet ([`Runs::Queue`]).
    following: hand_back::Following,
    /// The inbox's id on a shared database ([`hand_back::inbox_id`]); empty otherwise.
    inbox_id: String,
}

/// Watches until `stop` is set. Batches a stop interrupted are finished first (on the
/// queue: followed again, and handed back once settled).
pub fn watch(
    opts: &WatchOptions,
    store: &dyn JobStore,
    runs: Runs,
    stop: &AtomicBool,
    observer: &dyn Observer,
) -> Result<(), WatchError> {
    if !opts.inbox.is_dir() {
        return Err(WatchError::NoInbox(opts.inbox.clone()));
    }
    for dir in [opts.archive(), opts.quarantine(), opts.out.clone()] {
        std::fs::create_dir_all(&dir).map_err(|error| StoreError::Write {
            path: dir.display().to_string(),
            error,
        })?;
    }
    let inbox_id = match runs {
        Runs::Queue(_) => hand_back::inbox_id(&opts.inbox)?,
        Runs::Here(_) => String::new(),
    };
    let w = Running {
        opts,
        store,
        runs,
        stop,
        observer,
        held: Held::default(),
        following: hand_back::Following::default(),
        inbox_id,
    };
    resume(&w)?;
    let held = &w.held;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let skip = [opts.archive(), opts.quarantine(), opts.out.clone()];
    let ours = skip.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| wakes(&e, &ours)) {
            let _ = tx.send(());
        }
    })
    .map_err(|e| WatchError::Notify {
        path: opts.inbox.display().to_string(),
        message: e.to_string(),
    })?;
    use notify::Watcher;
    // Events only make a scan come sooner; the periodic scan alone would do.
    if let Err(e) = watcher.watch(&opts.inbox, notify::RecursiveMode::Recursive) {
        tracing::warn!(
            "file events unavailable ({e}); scanning every {:?}",
            opts.rescan
        );
    }
    let mut settle = Settle::default();
    let tick = opts
        .rescan
        .min(opts.settle / 2)
        .max(Duration::from_millis(50));
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let found = entries(&opts.inbox, &skip);
        let ages = settle.observe(&found, now);
        // Nothing with a file in it: an empty folder is no drop.
        let idle = ages.iter().all(|(_, age)| age.is_none());
        let ready: Vec<PathBuf> = ages
            .into_iter()
            .filter(|(_, age)| age.is_some_and(|a| a >= opts.settle))
            .map(|(p, _)| p)
            .collect();
        // A drop whose every photo is held back (a copy that paused) waits for it.
        held.prune(opts.stalled);
        // A drop on the queue stays in the inbox until its results are handed back.
        let ready: Vec<PathBuf> = ready
            .into_iter()
            .filter(|p| !all_held(p, held, opts.stalled) && !w.following.holds(p))
            .collect();
        let (drops, loose): (Vec<PathBuf>, Vec<PathBuf>) =
            ready.into_iter().partition(|p| p.is_dir());
        for d in &drops {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            run_drop(&w, Drop::Folder(d.clone()))?;
        }
        if !loose.is_empty() && !stop.load(Ordering::SeqCst) {
            run_drop(&w, Drop::Loose(loose))?;
        }
        hand_back::settled(&w)?;
        // Handed-back batches whose copy is kept true do not keep a one-off run going.
        if opts.once && idle && w.following.none_pending() {
            break;
        }
        // Wait for an event or the next scan, whichever comes first.
        let _ = rx.recv_timeout(tick);
        while rx.try_recv().is_ok() {}
    }
    Ok(())
}

/// Whether every file of a drop (a folder, or one loose file) that is not a catalog is
/// held back and unchanged.
fn all_held(p: &Path, held: &Held, limit: Duration) -> bool {
    let files: Vec<PathBuf> = if p.is_dir() {
        walkdir::WalkDir::new(p)
            .follow_links(false)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file() && !is_catalog(e.path()))
            .map(|e| e.path().to_path_buf())
            .collect()
    } else {
        vec![p.to_path_buf()]
    };
    !files.is_empty() && files.iter().all(|f| held.waiting(f, limit))
}

/// Whether a file event may bring new work: something created, written, moved or removed
/// in the inbox. The watcher's own scans open folders (an `open` event each) and its moves
/// land in archive/ and quarantine/: waking on those, an idle watcher would spin.
fn wakes(event: &notify::Event, ours: &[PathBuf]) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
    let kind = matches!(
        event.kind,
        EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
            // A copy that finished writing.
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    );
    kind && event
        .paths
        .iter()
        .any(|p| !ours.iter().any(|o| p.starts_with(o)))
}

enum Drop {
    Folder(PathBuf),
    Loose(Vec<PathBuf>),
}

/// A new folder under `parent` named `name`, or `name-2`, `name-3`, ... if that exists:
/// made here, so two drops whose names read the same once made safe (or two loose drops
/// of one second) never share one.
fn free_dir(parent: &Path, name: &str) -> Result<PathBuf, WatchError> {
    let name = crate::naming::part(name);
    let mut p = parent.join(&name);
    let mut n = 2;
    loop {
        match std::fs::create_dir_all(parent).and_then(|()| std::fs::create_dir(&p)) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                p = parent.join(format!("{name}-{n}"));
                n += 1;
            }
            Err(error) => {
                return Err(WatchError::Store(StoreError::Write {
                    path: p.display().to_string(),
                    error,
                }))
            }
        }
    }
}

/// Whether a name under `p` (or its own) is not UTF-8 text: the job store keeps names as
/// text, so such a file could not be found again by what it recorded.
fn not_text(p: &Path) -> bool {
    walkdir::WalkDir::new(p)
        .follow_links(false)
        .into_iter()
        .flatten()
        .any(|e| e.file_name().to_str().is_none())
}

/// Moves a drop whose names are not all text to quarantine as it is, and says so.
fn quarantine_untaken(w: &Running, p: &Path) -> Result<(), WatchError> {
    let name = p.file_name().unwrap_or_default().to_string_lossy();
    let to = w.opts.quarantine().join(crate::naming::part(&name));
    let moved = move_keeping(p, &to)?;
    w.observer.note(&format!(
        "{}: not taken: a file or folder name in it is not UTF-8 text; rename it and drop it again -> {}",
        p.display(),
        moved.display()
    ));
    Ok(())
}

/// Records a drop as a batch and runs it.
fn run_drop(w: &Running, drop: Drop) -> Result<(), WatchError> {
    let (opts, store, observer) = (w.opts, w.store, w.observer);
    let drop = match drop {
        Drop::Folder(d) if not_text(&d) => return quarantine_untaken(w, &d),
        Drop::Loose(files) => {
            let (odd, files): (Vec<PathBuf>, Vec<PathBuf>) =
                files.into_iter().partition(|f| not_text(f));
            for f in odd {
                quarantine_untaken(w, &f)?;
            }
            if files.is_empty() {
                return Ok(());
            }
            Drop::Loose(files)
        }
        d => d,
    };
    let (roots, label, base): (Vec<PathBuf>, String, PathBuf) = match &drop {
        Drop::Folder(d) => (vec![d.clone()], name_of(d), d.clone()),
        Drop::Loose(files) => (
            files.clone(),
            format!("inbox-{}", SystemClock.now().to_string().replace(':', "-")),
            opts.inbox.clone(),
        ),
    };
    let (mut catalog, mut report) = match &drop {
        Drop::Folder(d) => read_catalog(d),
        Drop::Loose(_) => (None, None),
    };
    // Rows naming an image URL: fetched into the drop before it is walked.
    if let (Some(c), Some(r), Drop::Folder(d)) = (catalog.as_mut(), report.as_mut(), &drop) {
        fetch_rows(c, r, d, &opts.fetch, &label, &|line| observer.note(line));
    }
    let walk = match collect_inputs(&roots, &opts.out, &[]) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("{label}: {e}");
            return Ok(());
        }
    };
    let skipped: Vec<_> = walk
        .skipped
        .into_iter()
        .filter(|s| !is_catalog(Path::new(&s.path)))
        .collect();
    // Only files still being written: nothing to take yet (they settle into a drop later).
    let nothing = walk.inputs.is_empty()
        && catalog.is_none()
        && skipped.iter().all(|s| still_written(Path::new(&s.path)));
    if nothing {
        return Ok(());
    }
    let id = new_batch_id();
    let home = free_dir(&opts.out, &label)?;
    let folder = match &drop {
        Drop::Folder(d) => Some(d.clone()),
        Drop::Loose(_) => None,
    };
    let spec_ids: Vec<String> = opts.specs.iter().map(|s| s.id.clone()).collect();
    store.create_batch(&id, &spec_ids, &SystemClock.now(), None)?;
    let to = hand_back::HandBack::new(
        (absolute(&opts.inbox), &w.inbox_id),
        absolute(&home),
        folder.as_deref().map(absolute),
        &label,
    );
    match w.runs {
        Runs::Here(_) => store.set_batch_home(&id, Some(&home), "watch")?,
        Runs::Queue(_) => {
            // The record first: a stop after it leaves a batch the next start finds.
            store.set_batch_hand_back(&id, Some(&to.to_json(&id)?))?;
            store.set_batch_home(&id, None, "watch")?;
        }
    }
    // On the queue, a worker elsewhere reads each source from the store's bucket.
    let in_bucket = matches!(w.runs, Runs::Queue(_)) && !store.objects().is_local();
    let batch = store.batch(&id);
    let rels: Vec<String> = walk
        .inputs
        .iter()
        .map(|i| catalog_path(&i.path, &base))
        .collect();
    if let (Some(c), Some(r)) = (&catalog, report.as_mut()) {
        // Rows naming no file of the drop, and photos no row names: listed, never dropped.
        *r = CatalogReport {
            fetched: std::mem::take(&mut r.fetched),
            fetch_failed: std::mem::take(&mut r.fetch_failed),
            ..c.report(&r.file, &rels)
        };
        // What was read, what was not, and why: said as the drop is taken.
        for note in r.notes() {
            observer.note(&format!("{label}: {note}"));
        }
    }
    let mut skipped = skipped;
    // Sources made before: (path, path under the drop, where their outputs are).
    let mut made: Vec<(PathBuf, String, String)> = Vec::new();
    let mut seq = 0;
    for (input, rel) in walk.inputs.iter().zip(&rels) {
        // A stop mid-way leaves the batch being received: the next start drops it and
        // takes the drop again.
        if w.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut context = input.context.clone();
        if let Some(c) = &catalog {
            context = c.context(rel, context);
        }
        let bytes = read_source(&FileAt::Path(input.path.clone()), &opts.limits);
        // Content made before for every spec, for this product: listed with the files
        // not taken, not made again, and archived once the batch is recorded.
        if let Ok(b) = &bytes {
            let sha = crate::store::sha256_hex(b);
            if let Some(earlier) = made_before(store, &id, &opts.specs, &context, &sha)? {
                made.push((
                    input.path.clone(),
                    rel_of(&input.key).to_string(),
                    earlier.clone(),
                ));
                skipped.push(Skipped {
                    path: input.path.display().to_string(),
                    reason: SkipReason::AlreadyProcessed,
                    message: earlier,
                });
                continue;
            }
        }
        let here = absolute(&input.path).display().to_string();
        let (original, failure, kept) = match bytes {
            Ok(b) if in_bucket => (crate::store::Objects::original_key(&b), None, Some(b)),
            // Unreadable, or over the limits: the worker fails it with this reason.
            Err(f) if in_bucket => (here, Some(f), None),
            // Read where it lies (here, or by a worker sharing this folder).
            _ => (here, None, None),
        };
        seq += 1;
        store.add_asset(
            &id,
            &AssetRow {
                seq,
                source_key: input.key.clone(),
                upload_name: input.path.display().to_string(),
                original,
                bytes: std::fs::metadata(&input.path).map_or(0, |m| m.len()),
                context,
                failure,
            },
        )?;
        if let Some(b) = kept {
            store.objects().keep_original(&b)?; // counted by the asset just recorded
        }
        batch.claim_name(&input.key, &input.wanted_name)?;
    }
    let intake = Intake {
        skipped,
        catalog: report,
    };
    intake.save(store, &id)?;
    store.set_batch_state(&id, BatchState::Processing, &SystemClock.now())?;
    tracing::info!(batch = %id, drop = %label, files = seq, "drop taken");
    // Recorded: a stop from here on finds them listed in the batch (before, they stayed
    // in the inbox, to be recognised again).
    for (path, rel, earlier) in &made {
        let moved = move_keeping(path, &opts.archive().join(&label).join(rel))?;
        observer.note(&format!(
            "{}: {earlier} -> {}",
            path.display(),
            moved.display()
        ));
    }
    let info = DropInfo {
        label,
        folder,
        intake,
    };
    match w.runs {
        Runs::Here(engine) => finish_batch(w, engine, &id, info),
        Runs::Queue(queue) => {
            queue.enqueue(&id)?;
            w.following.add(&id, to, info, store)
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What a batch carries besides its photos, for its manifest.
struct DropInfo {
    label: String,
    /// The dropped folder (none for loose files): emptied folders go once all is moved.
    folder: Option<PathBuf>,
    intake: Intake,
}

/// Runs every source of a batch not yet moved out of the inbox through the one runner,
/// moving each to the archive or quarantine as it settles, and settles the batch (unless a
/// stop came first).
fn finish_batch(w: &Running, engine: &Engine, id: &str, info: DropInfo) -> Result<(), WatchError> {
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

/// What is left of a drop once its sources are moved: files not taken (not images,
/// hidden, ...) go to quarantine too, or the drop would never empty (its manifest lists
/// them with why); its catalog goes to the archive, and its emptied folders go.
fn close_drop(
    w: &Running,
    label: &str,
    folder: Option<&Path>,
    skipped: &[Skipped],
) -> Result<(), WatchError> {
    let (opts, observer, held) = (w.opts, w.observer, &w.held);
    let not_taken: Vec<(PathBuf, String)> = skipped
        .iter()
        // Recognised as made before, it was archived as the drop was taken: a file
        // there now is another.
        .filter(|s| s.reason != SkipReason::AlreadyProcessed)
        .map(|s| (PathBuf::from(&s.path), s.message.clone()))
        .filter(|(p, _)| !still_written(p) && std::fs::symlink_metadata(p).is_ok())
        .collect();
    let base = folder.unwrap_or(&opts.inbox);
    for (p, why) in not_taken {
        let rel = p.strip_prefix(base).unwrap_or(&p);
        let rel = if rel.is_absolute() {
            Path::new(rel.file_name().unwrap_or_default())
        } else {
            rel
        };
        match move_keeping(&p, &opts.quarantine().join(label).join(rel)) {
            Ok(moved) => observer.note(&format!(
                "{}: not taken ({why}) -> {}",
                p.display(),
                moved.display()
            )),
            Err(e) => tracing::warn!("{}: not taken ({why}); {e}", p.display()),
        }
    }
    // A drop with a photo held back keeps its catalog for when it is taken again.
    if let Some(d) = folder.filter(|d| !held.any_under(d, opts.stalled)) {
        for c in CATALOGS {
            let cat = d.join(c);
            if cat.is_file() {
                move_keeping(&cat, &opts.archive().join(label).join(c))?;
            }
        }
        remove_empty_dirs(d);
    }
    Ok(())
}

/// What the watcher does around each source: a source already moved out stands as
/// recorded, and every source is moved to the archive (or quarantine, when an output
/// failed) with its handoffs beside it.
struct Moves<'a> {
    opts: &'a WatchOptions,
    store: &'a dyn JobStore,
    id: &'a str,
    label: &'a str,
    held: &'a Held,
    /// Whether the asset's kept bytes are the source where it lies, so its record follows
    /// the move (not when they are kept in the store's bucket).
    repoint: bool,
}

impl Handling for Moves<'_> {
    type Error = WatchError;

    fn before(&self, item: &Item) -> Result<Option<Outcome>, WatchError> {
        let Ok(FileAt::Path(source)) = &item.bytes_at else {
            return Ok(None);
        };
        let opts = self.opts;
        if !opts.moved_out(source) && source.exists() {
            return Ok(None);
        }
        // Moved out before a stop: its handoffs stand in the store, unless a write the
        // disk refused failed one (the start put it back on the queue): made again from
        // where it was moved.
        let mut hs: Vec<Handoff> = Vec::with_capacity(opts.specs.len());
        for s in &opts.specs {
            hs.extend(self.store.handoff(self.id, &item.key, &s.id)?);
        }
        let retry = hs.iter().any(|h| {
            h.state == State::Failed && h.error.as_ref().is_some_and(|e| e.code.is_retryable())
        });
        if retry && source.exists() {
            return Ok(None);
        }
        Ok(Some(if hs.len() == opts.specs.len() {
            Outcome::Done(hs)
        } else {
            Outcome::Stopped
        }))
    }

    fn after(&self, item: &Item, hs: &[Handoff]) -> Result<Option<String>, WatchError> {
        let Ok(FileAt::Path(source)) = &item.bytes_at else {
            return Ok(None);
        };
        Ok(Some(
            match self.place(source, &item.key, hs, false, &mut |_| Ok(()))? {
                Placed::Held(why) => why,
                Placed::At(p) => p.display().to_string(),
            },
        ))
    }
}

/// Where a source went once its outputs settled.
enum Placed {
    /// Left in the inbox, and why.
    Held(String),
    /// Moved (or left) here, its handoffs beside it.
    At(PathBuf),
}

impl Moves<'_> {
    /// Moves a source to the archive, or to quarantine when an output failed, with its
    /// handoffs beside it; a cut-off one a copy may still be writing stays in the inbox.
    /// `unmade`: its outputs are not all recorded (its work ended in an error), so it
    /// goes to quarantine. `record` learns where it goes before it is moved there.
    fn place(
        &self,
        source: &Path,
        key: &str,
        hs: &[Handoff],
        unmade: bool,
        record: &mut dyn FnMut(&Path) -> Result<(), WatchError>,
    ) -> Result<Placed, WatchError> {
        let failed = unmade || hs.iter().any(|h| h.state == State::Failed);
        let cut_off = hs.iter().any(|h| {
            h.error
                .as_ref()
                .is_some_and(|e| e.code == crate::handoff::ErrorCode::DecodeTruncated)
        });
        // A one-off run (`--once`) waits for no copy: what it finds is what there is. A
        // source already moved out of the inbox is no copy under way.
        if cut_off && !self.opts.once && !self.opts.moved_out(source) {
            if let Some(age) = self.held.hold(source, self.opts.stalled) {
                return Ok(Placed::Held(format!(
                    "held in the inbox: it reads as cut off, and was written {}s ago: a copy that paused is taken again when it changes; unchanged for {}s, it goes to quarantine",
                    age.as_secs(),
                    self.opts.stalled.as_secs()
                )));
            }
        }
        let home = if failed {
            self.opts.quarantine()
        } else {
            self.opts.archive()
        };
        let dest = home.join(self.label).join(rel_of(key));
        let moved = if source.starts_with(absolute(&home)) {
            source.to_path_buf() // failed again where a start took it from: it stays
        } else {
            let moved = destination(source, &dest)?;
            // Recorded before the move, so a stop between the two finds the source still
            // where it was and the records naming where it goes. A reviewer's retry
            // reads the source from there.
            if self.repoint {
                self.store
                    .set_asset_original(self.id, key, &absolute(&moved))?;
            }
            record(&moved)?;
            move_to(source, &moved)?;
            // Made again from quarantine: the failed handoffs beside it are superseded by
            // the ones written beside its new place.
            for s in &self.opts.specs {
                let _ = std::fs::remove_file(manifest_beside(source, &s.id));
            }
            moved
        };
        for h in hs {
            crate::store::write_manifest(&manifest_beside(&moved, &h.goal.spec_id), h)?;
        }
        Ok(Placed::At(moved))
    }
}

/// Where a moved source's handoff for a spec is written: beside it.
fn manifest_beside(source: &Path, spec: &str) -> PathBuf {
    PathBuf::from(format!("{}.{spec}.json", source.display()))
}

/// A source's path under its drop (keys are `<drop>/<path>`).
fn rel_of(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, r)| r)
}

/// Where every spec's output of this content, for this product, already stands, in
/// words, if all do.
fn made_before(
    store: &dyn JobStore,
    batch: &str,
    specs: &[Spec],
    context: &crate::handoff::Context,
    sha: &str,
) -> Result<Option<String>, WatchError> {
    let mut places = Vec::new();
    for s in specs {
        match store.made_before(sha, s, context, batch)? {
            // A folder's path; in a bucket, the output of that batch.
            Some((b, path)) => places.push(match store.batch_files(&b)?.folder() {
                Some(dir) => dir.join(path).display().to_string(),
                None => format!("{path} of batch {b}"),
            }),
            None => return Ok(None),
        }
    }
    Ok(Some(format!(
        "the same file was made before for these specs and this product (sha256 {}...): {}; not made again",
        &sha[..12.min(sha.len())],
        places.join(", ")
    )))
}

/// Keys are `<drop>/<sub-folders>/<file>`; the name keeps the sub-folders.
fn wanted_of(key: &str) -> String {
    crate::naming::wanted_from_path(rel_of(key))
}

/// Batches a stop left unfinished: finished now, before anything new is taken (on the
/// queue: followed again).
fn resume(w: &Running) -> Result<(), WatchError> {
    let (opts, store) = (w.opts, w.store);
    let engine = match w.runs {
        Runs::Here(engine) => engine,
        // On a shared database, only this inbox's batches are this watcher's.
        Runs::Queue(queue) => return hand_back::resume(w, queue),
    };
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

/// Moves a file (rename, or copy then remove across file systems) to `to`, or beside it
/// with `-2`, `-3`, ... when a file is there already. Returns where it went.
fn move_keeping(from: &Path, to: &Path) -> Result<PathBuf, WatchError> {
    let dest = destination(from, to)?;
    move_to(from, &dest)?;
    Ok(dest)
}

/// Where [`move_keeping`] puts `from`: `to`, or a free name beside it (its folder made).
fn destination(from: &Path, to: &Path) -> Result<PathBuf, WatchError> {
    let parent = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|error| WatchError::Move {
        from: from.display().to_string(),
        to: to.display().to_string(),
        error,
    })?;
    Ok(free_file(parent, &name_of(to)))
}

/// Moves a file to `dest` (rename, or copy then remove across file systems).
fn move_to(from: &Path, dest: &Path) -> Result<(), WatchError> {
    let err = |error| WatchError::Move {
        from: from.display().to_string(),
        to: dest.display().to_string(),
        error,
    };
    if std::fs::rename(from, dest).is_err() {
        std::fs::copy(from, dest).map_err(err)?;
        std::fs::remove_file(from).map_err(err)?;
    }
    Ok(())
}

/// Removes the folders of a finished drop that are now empty (never a file).
fn remove_empty_dirs(dir: &Path) {
    let mut dirs: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_dir())
        .map(|e| e.path().to_path_buf())
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let _ = std::fs::remove_dir(d); // fails, harmlessly, when not empty
    }
}
