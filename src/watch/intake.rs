//! Taking a drop: its files walked and read, its catalog applied, photos made before
//! recognised, each source recorded (its bytes put in the store's bucket when workers
//! elsewhere read them), and the batch handed to where it runs ([`super::Runs`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::{absolute, hand_back, here, rel_of, DropInfo, Running, Runs, WatchError};
use crate::handoff::{CatalogReport, Clock, SkipReason, Skipped, SystemClock};
use crate::intake::{
    catalog_path, collect_inputs, fetch_rows, is_catalog, name_of, read_catalog, still_written,
};
use crate::job::{read_source, Intake};
use crate::spec::Spec;
use crate::store::{new_batch_id, AssetRow, BatchState, FileAt, JobStore, StoreError};

pub(super) enum Drop {
    Folder(PathBuf),
    Loose(Vec<PathBuf>),
}

/// A new folder under `parent` named `name`, or `name-2`, `name-3`, ... if that exists,
/// made only once `record` has kept its name (a stop between the two leaves no empty
/// folder behind), so two drops whose names read the same once made safe (or two loose
/// drops of one second) never share one.
fn free_dir(
    parent: &Path,
    name: &str,
    record: &mut dyn FnMut(&Path) -> Result<(), WatchError>,
) -> Result<PathBuf, WatchError> {
    let name = crate::naming::part(name);
    let write = |p: &Path, error| {
        WatchError::Store(StoreError::Write {
            path: p.display().to_string(),
            error,
        })
    };
    std::fs::create_dir_all(parent).map_err(|e| write(parent, e))?;
    let mut n = 1;
    loop {
        let p = match n {
            1 => parent.join(&name),
            _ => parent.join(format!("{name}-{n}")),
        };
        n += 1;
        if std::fs::symlink_metadata(&p).is_ok() {
            continue;
        }
        record(&p)?;
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(write(&p, e)),
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
    let moved = super::moves::move_keeping(p, &to)?;
    w.observer.note(&format!(
        "{}: not taken: a file or folder name in it is not UTF-8 text; rename it and drop it again -> {}",
        p.display(),
        moved.display()
    ));
    Ok(())
}

/// Records a drop as a batch and runs it.
pub(super) fn run_drop(w: &Running, drop: Drop) -> Result<(), WatchError> {
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
    let folder = match &drop {
        Drop::Folder(d) => Some(d.clone()),
        Drop::Loose(_) => None,
    };
    let spec_ids: Vec<String> = opts.specs.iter().map(|s| s.id.clone()).collect();
    store.create_batch(&id, &spec_ids, &SystemClock.now(), None)?;
    let mut to = hand_back::HandBack::new(
        (absolute(&opts.inbox), &w.inbox_id),
        PathBuf::new(),
        folder.as_deref().map(absolute),
        &label,
    );
    // Where the drop's outputs go, recorded before its folder is made.
    free_dir(&opts.out, &label, &mut |home| {
        match w.runs {
            Runs::Here(_) => store.set_batch_home(&id, Some(home), "watch")?,
            Runs::Queue(_) => {
                // The record first: a stop after it leaves a batch the next start finds.
                to.outbox = absolute(home);
                store.set_batch_hand_back(&id, Some(&to.to_json(&id)?))?;
                store.set_batch_home(&id, None, "watch")?;
            }
        }
        Ok(())
    })?;
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
        let moved = super::moves::move_keeping(path, &opts.archive().join(&label).join(rel))?;
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
        Runs::Here(engine) => here::finish_batch(w, engine, &id, info),
        Runs::Queue(queue) => {
            queue.enqueue(&id)?;
            w.following.add(&id, to, info, store)
        }
    }
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
