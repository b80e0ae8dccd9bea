//! Where a watched source goes once its outputs settle: the archive (ready, needs
//! review) or quarantine (failed), with its handoffs beside it; what is left of its drop
//! after. Moves keep every file: a name taken gets `-2`, `-3`, ...

use std::path::{Path, PathBuf};

use super::hold::Held;
use super::{absolute, rel_of, Running, WatchError, WatchOptions};
use crate::handoff::{Handoff, SkipReason, Skipped, State};
use crate::intake::{free_file, name_of, still_written, CATALOGS};
use crate::job::{Handling, Item, Outcome};
use crate::store::{FileAt, JobStore};

/// What is left of a drop once its sources are moved: files not taken (not images,
/// hidden, ...) go to quarantine too, or the drop would never empty (its manifest lists
/// them with why); its catalog goes to the archive, and its emptied folders go.
pub(super) fn close_drop(
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
        // Its path under the drop, whichever of the two was given absolute (a drop on the
        // queue records its folder absolute; the walk names files as the inbox was given).
        let rel = match absolute(&p).strip_prefix(absolute(base)) {
            Ok(r) => r.to_path_buf(),
            Err(_) => PathBuf::from(p.file_name().unwrap_or_default()),
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
pub(super) struct Moves<'a> {
    pub(super) opts: &'a WatchOptions,
    pub(super) store: &'a dyn JobStore,
    pub(super) id: &'a str,
    pub(super) label: &'a str,
    pub(super) held: &'a Held,
    /// Whether the asset's kept bytes are the source where it lies, so its record follows
    /// the move (not when they are kept in the store's bucket).
    pub(super) repoint: bool,
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
pub(super) enum Placed {
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
    pub(super) fn place(
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
            // Recorded before the move (`record`), so a stop between the two finds the
            // source still where it was and the record naming where it was going; a name
            // another move took meanwhile is recorded anew and tried again.
            let moved = loop {
                let to = destination(source, &dest)?;
                record(&to)?;
                if move_new(source, &to)? {
                    break to;
                }
            };
            // Made again from quarantine: the failed handoffs beside it are superseded by
            // the ones written beside its new place.
            for s in &self.opts.specs {
                let _ = std::fs::remove_file(manifest_beside(source, &s.id));
            }
            moved
        };
        // A reviewer's retry reads the source from where it now is (said again where a
        // stop came between the move and this).
        if self.repoint {
            self.store
                .set_asset_original(self.id, key, &absolute(&moved))?;
        }
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

/// Moves a file (rename, or copy then remove across file systems) to `to`, or beside it
/// with `-2`, `-3`, ... when a file is there already. Returns where it went.
pub(super) fn move_keeping(from: &Path, to: &Path) -> Result<PathBuf, WatchError> {
    loop {
        let dest = destination(from, to)?;
        if move_new(from, &dest)? {
            return Ok(dest);
        }
    }
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

/// Moves a file to `dest` if no file is there (false: one is, taken since `dest` was
/// chosen: the caller picks another name). A link then the source's removal, never a
/// rename, which would replace a file another move put there. Across file systems the
/// file is copied whole under a staging name beside `dest` first, so `dest` never holds
/// part of it.
fn move_new(from: &Path, dest: &Path) -> Result<bool, WatchError> {
    use std::io::ErrorKind::AlreadyExists;
    let err = |error| WatchError::Move {
        from: from.display().to_string(),
        to: dest.display().to_string(),
        error,
    };
    // A folder (a drop quarantined whole) is renamed, once its name is seen free.
    if std::fs::symlink_metadata(from).is_ok_and(|m| m.is_dir()) {
        if std::fs::symlink_metadata(dest).is_ok() {
            return Ok(false);
        }
        std::fs::rename(from, dest).map_err(err)?;
        return Ok(true);
    }
    let linked = match std::fs::hard_link(from, dest) {
        Ok(()) => true,
        Err(e) if e.kind() == AlreadyExists => return Ok(false),
        Err(_) => false, // another file system, or one without links
    };
    if !linked {
        let staging = dest.with_file_name(format!(".{}.moving", name_of(dest)));
        let copied =
            std::fs::copy(from, &staging).and_then(|_| std::fs::File::open(&staging)?.sync_all());
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&staging);
            return Err(err(e));
        }
        match std::fs::hard_link(&staging, dest) {
            Ok(()) => {
                let _ = std::fs::remove_file(&staging);
            }
            Err(e) if e.kind() == AlreadyExists => {
                let _ = std::fs::remove_file(&staging);
                return Ok(false);
            }
            // No links on this file system: the whole copy takes the name.
            Err(_) => std::fs::rename(&staging, dest).map_err(err)?,
        }
    }
    std::fs::remove_file(from).map_err(err)?;
    Ok(true)
}

/// Removes the folders of a finished drop that are now empty (never a file).
pub(super) fn remove_empty_dirs(dir: &Path) {
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
