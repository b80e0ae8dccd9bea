//! `shelfready review <out>`: the review checkpoint from the command line. Lists what waits
//! for a person with its question, and records approvals, rejections, retries with a
//! change and the next stage's receipts. An output folder of `process` keeps its records
//! itself; a batch folder of `serve` or `watch` (its `.shelfready/store.json` names the
//! data folder) is decided through that job store, so the API, the review page and the
//! exports see the same decision; while a server holds the data folder, the command
//! refuses and names the HTTP route instead.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::CliError;
use crate::handoff::{BatchManifest, Clock, Handoff, Override, Routing, State};
use crate::job::{read_source, refresh_manifest, SourceJob};
use crate::pipeline::Limits;
use crate::review::{self, QueueFilter, RetryRun};
use crate::spec::Spec;
use crate::store::{BatchMark, FileAt, FolderStore, JobStore, SqliteStore, Store, StoreError};

/// What to do with one output.
pub enum Action {
    Approve,
    Reject,
    Retry(Override),
    Received,
}

/// The outputs of a folder that wait for a person, overdue first, then oldest first.
pub fn queue(
    out: &Path,
    filter: &QueueFilter,
    now: crate::handoff::Timestamp,
) -> Result<Vec<Handoff>, CliError> {
    let handoffs = match BatchMark::of(out) {
        Some(mark) if mark.shared => return Err(on_the_api(out, &mark)),
        // Read beside the process that may hold the data folder.
        Some(mark) => SqliteStore::open_to_read(&mark.data_dir)?
            .batch(&mark.batch)
            .handoffs(),
        None => open_folder(out, "shelfready review (listing)")?.handoffs(),
    };
    let mut waiting: Vec<Handoff> = handoffs
        .into_iter()
        .filter(|h| h.state == State::NeedsReview && filter.keeps("", h))
        .collect();
    review::sort_queue(&mut waiting, now, |h| h);
    Ok(waiting)
}

/// A batch whose records are in a shared database is listed and decided on an API node
/// of that database, which every door reads: the folder is a copy of its files.
fn on_the_api(out: &Path, mark: &BatchMark) -> CliError {
    CliError::Busy(format!(
        "{} is a copy of batch {}, whose records are in a shared database; list and decide it on a shelfready API node of that database: GET /v1/review?batch={} lists what waits, POST /v1/assets/<id>/review decides, or its review page /review",
        out.display(),
        mark.batch,
        mark.batch
    ))
}

/// A retry's changes as the command line's flags give them (`--align bottom`,
/// `--treat-as scene`, `--enclosed keep`; anything else is the other choice, as clap only
/// lets the named values through).
pub fn overrides(
    fill_ratio: Option<f64>,
    align: Option<&str>,
    max_upscale: Option<f64>,
    treat_as: Option<&str>,
    enclosed: Option<&str>,
) -> Override {
    use crate::spec::{Align, Enclosed, TreatAs};
    Override {
        fill_ratio,
        align: align.map(|a| {
            if a == "bottom" {
                Align::Bottom
            } else {
                Align::Center
            }
        }),
        max_upscale,
        treat_as: treat_as.map(|t| {
            if t == "scene" {
                TreatAs::Scene
            } else {
                TreatAs::Cutout
            }
        }),
        enclosed: enclosed.map(|e| {
            if e == "keep" {
                Enclosed::Keep
            } else {
                Enclosed::Clear
            }
        }),
    }
}

/// A decision in words: the output's state, the person's step (a retry is followed by
/// the run's own), a receipt, and who is next with the questions they are asked.
pub fn render_decision(h: &Handoff) -> String {
    use std::fmt::Write;
    let mut s = format!("{}: {}\n", h.id, h.state.as_str());
    if let Some(t) = h.history.iter().rev().find(|t| t.actor != "shelfready") {
        let step = if t.to == State::Processing {
            "retried"
        } else {
            t.to.as_str()
        };
        let note = t
            .note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default();
        let _ = writeln!(s, "  {step} by {} at {}{note}", t.actor, t.at);
    }
    if let Some(r) = &h.receipt {
        let _ = writeln!(s, "  received by {} at {}", r.by, r.at);
    }
    let _ = writeln!(
        s,
        "  next: {} - {}",
        h.next_actor.actor, h.next_actor.action
    );
    for q in &h.next_actor.questions {
        let _ = writeln!(s, "  - {q}");
    }
    s
}

/// The queue in words: each output with its route, its time, its questions and the
/// commands that decide it.
pub fn render_queue(out: &Path, waiting: &[Handoff], now: crate::handoff::Timestamp) -> String {
    use std::fmt::Write;
    if waiting.is_empty() {
        return format!("Nothing in {} waits for a person.\n", out.display());
    }
    let overdue = waiting.iter().filter(|h| review::overdue(h, now)).count();
    let mut s = format!(
        "{} output(s) in {} wait for a person{}:\n",
        waiting.len(),
        out.display(),
        if overdue > 0 {
            format!(" ({overdue} overdue)")
        } else {
            String::new()
        }
    );
    for h in waiting {
        let na = &h.next_actor;
        let _ = write!(s, "\n  {}  -> {}", h.id, na.actor);
        if let Some(o) = na.owner.as_deref().filter(|o| *o != na.actor) {
            let _ = write!(s, " (owner {o})");
        }
        if let Some(since) = na.since {
            let _ = write!(s, ", waiting since {since}");
        }
        if let Some(due) = na.due {
            let _ = write!(s, ", due {due}");
        }
        if review::overdue(h, now) {
            s.push_str("  OVERDUE");
        }
        s.push('\n');
        if let Some(a) = &h.asset {
            let _ = writeln!(s, "    output: {}", out.join(&a.path).display());
        }
        let _ = writeln!(s, "    source: {}", h.provenance.source_path);
        for q in &na.questions {
            let _ = writeln!(s, "    - {q}");
        }
        let _ = writeln!(s, "    to do: {}", na.action);
    }
    let first = &waiting[0].id;
    let _ = write!(
        s,
        "\nDecide with: shelfready review {o} --approve {first}\n         or: shelfready review {o} --reject {first} --note \"why\"\n         or: shelfready review {o} --retry {first} --fill 0.8 (or --align bottom, --max-upscale 3, --treat-as cutout|scene, --enclosed clear|keep)\n",
        o = out.display()
    );
    s
}

/// Records one decision or receipt on the output `id` of the folder `out`; returns its
/// handoff as it now stands. The batch manifest follows.
pub struct Decide<'a> {
    pub out: &'a Path,
    pub id: &'a str,
    pub action: Action,
    pub actor: &'a str,
    pub note: Option<String>,
    /// The spec file, for outputs made with a spec that is not built in.
    pub spec: Option<&'a Path>,
    pub limits: Limits,
    pub clock: &'a dyn Clock,
}

pub fn decide(d: Decide) -> Result<Handoff, CliError> {
    let holder = format!("shelfready review by {}", d.actor);
    match BatchMark::of(d.out) {
        Some(mark) if mark.shared => Err(on_the_api(d.out, &mark)),
        Some(mark) => {
            let owner = SqliteStore::open(&mark.data_dir).map_err(|e| match e {
                StoreError::Locked { holder, .. } => CliError::Busy(format!(
                    "{} is a batch of the shelfready running on {} ({holder}); decide it there: POST /v1/assets/<id>/review (GET /v1/review?batch={} lists the ids), or on its review page /review",
                    d.out.display(),
                    mark.data_dir.display(),
                    mark.batch
                )),
                e => e.into(),
            })?;
            let batch = owner.batch(&mark.batch);
            // A retry reads the source where the store keeps it (a watched drop's source
            // has moved to the archive).
            let originals: Vec<(String, std::path::PathBuf)> = owner
                .assets(&mark.batch)?
                .into_iter()
                .map(|a| (a.source_key, owner.batch_dir(&mark.batch).join(a.original)))
                .collect();
            let source_of = |h: &Handoff| {
                originals
                    .iter()
                    .find(|(k, _)| *k == h.provenance.source_key)
                    .map(|(_, p)| p.clone())
            };
            let h = decide_in(&batch, &d, &source_of)?;
            if let Some(mut m) = batch.manifest()? {
                refresh_manifest(&mut m, h.clone());
                batch.put_batch(&m)?;
                // The exports the batch has had follow the decision, as they do when the
                // server decides.
                crate::export::refresh_stored(&owner, &mark.batch, &m)?;
            }
            Ok(h)
        }
        None => {
            let store = open_folder(d.out, &holder)?;
            let source_of = |h: &Handoff| Some(Path::new(&h.provenance.source_path).to_path_buf());
            let h = decide_in(&store, &d, &source_of)?;
            // The batch manifest tells the folder as it now stands.
            let path = d.out.join("manifest.json");
            if let Some(mut m) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<BatchManifest>(&b).ok())
            {
                refresh_manifest(&mut m, h.clone());
                store.put_batch(&m)?;
            }
            Ok(h)
        }
    }
}

/// The decision on the output `d.id` of `store`; `source_of` says where its source is kept.
fn decide_in(
    store: &dyn Store,
    d: &Decide,
    source_of: &dyn Fn(&Handoff) -> Option<std::path::PathBuf>,
) -> Result<Handoff, CliError> {
    let all = store.handoffs();
    let Some(h) = all.iter().find(|h| h.id == d.id).cloned() else {
        let mut ids: Vec<&str> = all.iter().map(|h| h.id.as_str()).collect();
        ids.sort_by(|a, b| {
            strsim::jaro_winkler(b, d.id)
                .partial_cmp(&strsim::jaro_winkler(a, d.id))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        return Err(CliError::NotFound(format!(
            "{}: no output {} (ids are <name>.<spec>; closest: {})",
            d.out.display(),
            d.id,
            ids.iter().take(3).copied().collect::<Vec<_>>().join(", ")
        )));
    };
    let spec = match d.spec {
        Some(p) => Spec::resolve(&p.display().to_string())?,
        None => Spec::resolve(&h.goal.spec_id)?,
    };
    if spec.id != h.goal.spec_id || spec.content_hash() != h.goal.spec_hash {
        if matches!(d.action, Action::Retry(_)) {
            return Err(CliError::Usage(format!(
                "{} was made with a spec {} whose content is not the one found now; give its file with --spec",
                h.id, h.goal.spec_id
            )));
        }
        tracing::warn!(
            "{}: the spec {} changed since it was made",
            h.id,
            h.goal.spec_id
        );
    }
    let routing = Routing::default();
    let note = d.note.clone();
    let h = match &d.action {
        Action::Approve => review::decide(store, &spec, h, true, d.actor, note, d.clock)?,
        Action::Reject => review::decide(store, &spec, h, false, d.actor, note, d.clock)?,
        Action::Received => review::receive(store, &spec, h, d.actor, note, d.clock)?,
        Action::Retry(o) => {
            let source =
                source_of(&h).unwrap_or_else(|| Path::new(&h.provenance.source_path).to_path_buf());
            let job = SourceJob {
                source: review::source_of(&h),
                origin: source.display().to_string(),
                context: h.context.clone(),
                bytes: read_source(&FileAt::Path(source.clone()), &d.limits),
            };
            let cancel = AtomicBool::new(false);
            let run = RetryRun {
                job,
                limits: d.limits,
                routing: &routing,
                clock: d.clock,
                cancel: &cancel,
            };
            review::retry(store, &spec, h, o.clone(), d.actor, note, run)?
        }
    };
    Ok(h)
}

fn open_folder(out: &Path, holder: &str) -> Result<FolderStore, CliError> {
    if !out.exists() {
        return Err(CliError::Missing(out.to_path_buf()));
    }
    if !out.join("manifest.json").is_file() && !out.join("manifests").is_dir() {
        return Err(CliError::Usage(format!(
            "{}: not an output folder of `shelfready process` (no manifest.json)",
            out.display()
        )));
    }
    Ok(FolderStore::open(out, holder)?)
}
