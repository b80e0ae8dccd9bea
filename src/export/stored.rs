//! Exports of a job-store batch (a `serve` or `watch` batch): made into the batch's own
//! `exports/<format>/`, outputs named by their asset ids, and made again after every
//! decision, whichever door took it. With the batch's files in a bucket, an export is
//! made in a temp folder and put there whole, file by file (stale files of the last
//! export removed), so every node finds and serves it.

use std::collections::{HashMap, HashSet};

use super::{export, ExportError, ExportReport, Format, Options};
use crate::handoff::BatchManifest;
use crate::store::{JobStore, Objects};

/// The export of a job-store batch (a `serve` or `watch` batch) as it stands in
/// `manifest`, into its files' `exports/<format>/`, each output named by its asset id.
/// Returns the report and where the export's files are.
pub fn export_stored(
    jobs: &dyn JobStore,
    batch: &str,
    manifest: &BatchManifest,
    opts: &Options,
) -> Result<(ExportReport, Objects), ExportError> {
    let files = jobs.batch_files(batch)?;
    let rel = format!("exports/{}", opts.format.as_str());
    let seqs: HashMap<String, i64> = jobs
        .assets(batch)?
        .into_iter()
        .map(|a| (a.source_key, a.seq))
        .collect();
    let mut opts = opts.clone();
    opts.asset_ids = manifest
        .handoffs
        .iter()
        .filter_map(|h| {
            let seq = seqs.get(&h.provenance.source_key)?;
            Some((
                h.id.clone(),
                crate::store::asset_id(batch, *seq, &h.goal.spec_id),
            ))
        })
        .collect();
    if let Some(folder) = files.folder() {
        // A local folder: made in place, as it always was.
        let dir = folder.join(&rel);
        let report = export(manifest, &files, batch, &dir, &opts)?;
        return Ok((report, Objects::local(&dir)?));
    }
    let staging = tempfile::tempdir().map_err(|error| ExportError::Write {
        path: std::env::temp_dir().display().to_string(),
        error,
    })?;
    let report = export(manifest, &files, batch, staging.path(), &opts)?;
    let into = files.scoped(&rel);
    let mut names: Vec<&str> = report.files.iter().map(|f| f.name.as_str()).collect();
    names.push("export.json");
    for name in &names {
        let path = staging.path().join(name);
        let bytes = std::fs::read(&path).map_err(|error| ExportError::Read {
            path: path.display().to_string(),
            error,
        })?;
        into.put(name, &bytes)?;
    }
    let kept: HashSet<&str> = names.into_iter().collect();
    for (k, _) in into.list("")? {
        if !kept.contains(k.as_str()) {
            into.delete(&k)?;
        }
    }
    Ok((report, into))
}

/// Makes every export a job-store batch has had again, with the options each was made
/// with: after a decision (at any door), an approved output is in them and a rejected
/// one is out. Returns how many it made.
pub fn refresh_stored(
    jobs: &dyn JobStore,
    batch: &str,
    manifest: &BatchManifest,
) -> Result<usize, ExportError> {
    let files = jobs.batch_files(batch)?;
    let mut made = 0;
    for format in Format::ALL {
        let report = format!("exports/{}/export.json", format.as_str());
        let Ok(Some(text)) = files.get(&report) else {
            continue;
        };
        let Ok(old) = serde_json::from_slice::<ExportReport>(&text) else {
            continue;
        };
        export_stored(jobs, batch, manifest, &old.options)?;
        made += 1;
    }
    Ok(made)
}
