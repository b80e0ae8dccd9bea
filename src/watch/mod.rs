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
//! settles, hands the results back (`hand_back`): sources moved, manifests beside them,
//! outputs copied into the outbox.
//!
//! Here: the options, the scan loop and what both ways share. `intake` takes a drop,
//! `here` runs it on one machine, `hand_back` follows it on the queue, `moves` puts
//! each source where it belongs, `settle` and `hold` say when a file is whole.

mod hand_back;
mod here;
mod hold;
mod intake;
mod moves;
mod settle;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

use hold::Held;
use settle::{entries, Settle};

use intake::{run_drop, Drop};
use moves::{close_drop, Moves, Placed};

use crate::engine::Engine;
use crate::intake::{is_catalog, name_of};
use crate::job::{Enqueue, Intake, Observer};
use crate::pipeline::Limits;
use crate::spec::Spec;
use crate::store::{JobStore, StoreError};

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
    // One inbox, one watcher: a second would take every drop again (whatever its data
    // folder or database). The lock goes with the process, however it ends.
    let holder = format!(
        "pid {}, `{}`",
        std::process::id(),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let _owner = crate::store::lock_folder(
        &opts.inbox,
        &opts.inbox.join(".shelfready-inbox.lock"),
        "inbox",
        &holder,
    )?;
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

pub(super) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What a batch carries besides its photos, for its manifest.
struct DropInfo {
    label: String,
    /// The dropped folder (none for loose files): emptied folders go once all is moved.
    folder: Option<PathBuf>,
    intake: Intake,
}

/// A source's path under its drop (keys are `<drop>/<path>`).
fn rel_of(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, r)| r)
}

/// Batches a stop left unfinished: finished now, before anything new is taken (on the
/// queue: followed again).
fn resume(w: &Running) -> Result<(), WatchError> {
    let engine = match w.runs {
        Runs::Here(engine) => engine,
        // On a shared database, only this inbox's batches are this watcher's.
        Runs::Queue(queue) => return hand_back::resume(w, queue),
    };
    here::resume(w, engine)
}
