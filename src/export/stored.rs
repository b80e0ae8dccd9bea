//! Exports of a job-store batch (a `serve` or `watch` batch): made into the batch's own
//! folder, outputs named by their asset ids, and made again after every decision,
//! whichever door took it.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{export, ExportError, ExportReport, Format, Options};
use crate::handoff::BatchManifest;
use crate::store::JobStore;

/// The export of a job-store batch (a `serve` or `watch` batch) as it stands in
/// `manifest`, into its folder's `exports/<format>/`, each output named by its asset id.
pub fn export_stored(
    jobs: &dyn JobStore,
    batch: &str,
    manifest: &BatchManifest,
    opts: &Options,
) -> Result<(ExportReport, PathBuf), ExportError> {
    let root = jobs.batch_dir(batch);
    let dir = root.join("exports").join(opts.format.as_str());
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
    let report = export(manifest, &root, batch, &dir, &opts)?;
    Ok((report, dir))
}

/// Makes every export a job-store batch has had again, with the options each was made
/// with: after a decision (at any door), an approved output is in them and a rejected
/// one is out. Returns how many it made.
pub fn refresh_stored(
    jobs: &dyn JobStore,
    batch: &str,
    manifest: &BatchManifest,
) -> Result<usize, ExportError> {
    let exports = jobs.batch_dir(batch).join("exports");
    let mut made = 0;
    for format in Format::ALL {
        let report = exports.join(format.as_str()).join("export.json");
        let Ok(text) = std::fs::read(&report) else {
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
