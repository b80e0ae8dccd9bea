//! `shelfready process`: a walked folder through the one batch runner, into the folder store.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::CliError;
use crate::engine::Engine;
use crate::handoff::CatalogReport;
use crate::handoff::{BatchManifest, Clock};
use crate::intake::{catalog_path, collect_inputs, is_catalog, read_catalog, Catalog};
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
    let fc = folder_catalog(opts.inputs, &walk.inputs)?;
    for note in fc.iter().flat_map(|f| f.report.notes()) {
        observer.note(&note);
    }
    let items: Vec<Item> = walk
        .inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| Item {
            seq: i as i64 + 1,
            // A folder's catalog speaks for the photos in that folder only.
            context: match fc
                .as_ref()
                .and_then(|f| Some((&f.root, f.catalog.as_ref()?)))
            {
                Some((root, c)) if input.path.starts_with(root) => {
                    c.context(&catalog_path(&input.path, root), input.context)
                }
                _ => input.context,
            },
            key: input.key,
            wanted_name: input.wanted_name,
            origin: input.path.display().to_string(),
            bytes_at: Ok(crate::store::FileAt::Path(input.path)),
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
            worker: None,
        },
        observer,
        settle_stopped: true,
    };
    // The catalog is the run's, not a file left out.
    let skipped = walk
        .skipped
        .into_iter()
        .filter(|s| {
            let path = Path::new(&s.path);
            !fc.as_ref()
                .is_some_and(|f| path.parent() == Some(&f.root) && is_catalog(path))
        })
        .collect();
    let intake = Intake {
        skipped,
        catalog: fc.map(|f| f.report),
    };
    let ran = batch.run(engine, &items, intake, &Plain)?;
    ran.manifest
        .ok_or_else(|| CliError::Internal("the batch ended without a manifest".into()))
}

/// The catalog at the top of a folder input (`catalog.csv`, `.xlsx` or `.json`, as in a
/// watched drop): the folder, the catalog when it could be read, and its report.
struct FolderCatalog {
    root: PathBuf,
    catalog: Option<Catalog>,
    report: CatalogReport,
}

/// The run's folder catalog, reported on the photos the walk found; one per run.
fn folder_catalog(
    inputs: &[PathBuf],
    found: &[crate::intake::Input],
) -> Result<Option<FolderCatalog>, CliError> {
    if let Some(file) = inputs.iter().find(|p| p.is_file() && is_catalog(p)) {
        return Err(CliError::Usage(format!(
            "{} is a catalog: give the folder it is in, and it is read for the photos there",
            file.display()
        )));
    }
    // A folder named twice (`demo` and `demo/`) is one folder.
    let mut seen = std::collections::HashSet::new();
    let mut with: Vec<FolderCatalog> = inputs
        .iter()
        .filter(|p| p.is_dir() && seen.insert(p.canonicalize().ok()))
        .filter_map(|root| match read_catalog(root) {
            (catalog, Some(report)) => Some(FolderCatalog {
                root: root.clone(),
                catalog,
                report,
            }),
            _ => None,
        })
        .collect();
    if with.len() > 1 {
        return Err(CliError::Usage(format!(
            "{} and {} each hold a catalog: one run reads one; run the folders one at a time",
            with[0].report.file, with[1].report.file
        )));
    }
    let Some(mut fc) = with.pop() else {
        return Ok(None);
    };
    if let Some(c) = &fc.catalog {
        let rels: Vec<String> = found
            .iter()
            .filter(|i| i.path.starts_with(&fc.root))
            .map(|i| catalog_path(&i.path, &fc.root))
            .collect();
        fc.report = c.report(&fc.report.file, &rels);
    }
    Ok(Some(fc))
}
