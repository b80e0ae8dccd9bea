//! The one batch manifest every door writes: this run's photos in input order, then every
//! other photo whose outputs stand in the store, with the batch's counts.

use std::collections::BTreeMap;

use crate::handoff::{
    BatchManifest, CatalogReport, Clock, Goal, Handoff, Photo, PhotoCounts, Skipped, State,
    Summary, PIPELINE_VERSION, SCHEMA_VERSION, TOOL_VERSION,
};
use crate::spec::Spec;
use crate::store::{Claim, Store, StoreError};

/// A batch's counts.
fn summary_of(photos: &[Photo], handoffs: &[Handoff], skipped: usize) -> Summary {
    let count = |s: State| handoffs.iter().filter(|h| h.state == s).count();
    Summary {
        sources: photos.len(),
        outputs: handoffs.len(),
        ready: count(State::Ready) + count(State::Approved) + count(State::Exported),
        needs_review: count(State::NeedsReview),
        failed: count(State::Failed) + count(State::Rejected),
        up_to_date: handoffs.iter().filter(|h| h.up_to_date).count(),
        skipped,
        photos: PhotoCounts::of(photos),
        approved: count(State::Approved),
        rejected: count(State::Rejected),
        awaiting_receipt: handoffs
            .iter()
            .filter(|h| h.state.is_deliverable())
            .filter(|h| h.receipt.is_none())
            .count(),
    }
}

/// A batch manifest with one output's handoff replaced (after a review decision, a retry or
/// a receipt): its photo's state and line and the batch's counts follow.
pub fn refresh_manifest(m: &mut BatchManifest, h: Handoff) {
    let key = h.provenance.source_key.clone();
    match m.handoffs.iter_mut().find(|o| o.id == h.id) {
        Some(slot) => *slot = h,
        None => m.handoffs.push(h),
    }
    if let Some(p) = m.photos.iter_mut().find(|p| p.key == key) {
        let refs: Vec<&Handoff> = m
            .handoffs
            .iter()
            .filter(|o| o.provenance.source_key == key)
            .collect();
        *p = Photo::of(
            &key,
            &p.source,
            &p.name,
            p.renamed.clone(),
            &refs,
            p.this_run,
        );
    }
    m.summary = summary_of(&m.photos, &m.handoffs, m.skipped.len());
}

/// One source of a batch, as its manifest tells it: `handoffs` is `None` when the run
/// did not reach (or finish) it.
/// What a door learned while taking a batch, kept with it (as JSON in the store) so its
/// manifest reports it even when the batch is finished after a restart.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Intake {
    /// Files not taken, with why.
    pub skipped: Vec<Skipped>,
    /// The catalog the batch came with, as it was read.
    pub catalog: Option<CatalogReport>,
}

impl Intake {
    pub fn save(&self, store: &dyn crate::store::JobStore, batch: &str) -> Result<(), StoreError> {
        let json = serde_json::to_string(self).map_err(|e| StoreError::Database {
            error: e.to_string(),
        })?;
        store.set_batch_intake(batch, &json)
    }

    /// What [`Intake::save`] kept; nothing, for a batch taken before intakes were kept.
    pub fn load(store: &dyn crate::store::JobStore, batch: &str) -> Result<Intake, StoreError> {
        Ok(store
            .batch_intake(batch)?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }
}

pub struct BatchSource<'a> {
    pub key: &'a str,
    /// The path or upload name, as the person gave it.
    pub origin: String,
    pub wanted_name: &'a str,
    pub claim: &'a Claim,
    pub handoffs: Option<Vec<Handoff>>,
}

/// The batch manifest: this run's photos in input order, then every other photo whose
/// outputs stand in the folder, so that it describes the whole folder.
pub fn batch_manifest(
    specs: &[Spec],
    clock: &dyn Clock,
    store: &dyn Store,
    sources: Vec<BatchSource>,
    skipped: Vec<crate::handoff::Skipped>,
    interrupted: bool,
) -> BatchManifest {
    let this_run: Vec<Handoff> = sources
        .iter()
        .filter_map(|s| s.handoffs.as_ref())
        .flatten()
        .cloned()
        .collect();
    let exit_code = if interrupted {
        130
    } else if this_run.iter().any(|h| h.state == State::Failed) {
        1
    } else if this_run.iter().any(|h| h.state == State::NeedsReview) {
        2
    } else {
        0
    };
    // Outputs an earlier run made, by source key, that this run did not make again.
    let remade: std::collections::HashSet<(&str, &str)> = this_run
        .iter()
        .map(|h| (h.provenance.source_key.as_str(), h.goal.spec_id.as_str()))
        .collect();
    let mut earlier: BTreeMap<String, Vec<Handoff>> = BTreeMap::new();
    for h in store.handoffs() {
        if !remade.contains(&(h.provenance.source_key.as_str(), h.goal.spec_id.as_str())) {
            earlier
                .entry(h.provenance.source_key.clone())
                .or_default()
                .push(h);
        }
    }
    let mut photos = Vec::new();
    let mut handoffs = Vec::new();
    for source in sources {
        let (claim, hs) = (source.claim, source.handoffs);
        let reached = hs.is_some();
        // The photo's line is about this run's specs, as the exit code is; outputs an
        // earlier run made for other specs are listed in `handoffs` all the same.
        let hs = hs.unwrap_or_default();
        let refs: Vec<&Handoff> = hs.iter().collect();
        let renamed = claim.taken_by.as_ref().map(|owner| {
            format!(
                "named {} because {} is the name of {owner}",
                claim.name, source.wanted_name
            )
        });
        let photo = Photo::of(
            source.key,
            &source.origin,
            &claim.name,
            renamed,
            if reached { &refs } else { &[] },
            true,
        );
        photos.push(photo);
        handoffs.extend(hs);
        handoffs.extend(earlier.remove(source.key).unwrap_or_default());
    }
    for (key, hs) in earlier {
        let refs: Vec<&Handoff> = hs.iter().collect();
        let name = hs
            .iter()
            .find_map(|h| h.id.strip_suffix(&format!(".{}", h.goal.spec_id)))
            .unwrap_or_default()
            .to_string();
        let source = hs[0].provenance.source_path.clone();
        photos.push(Photo::of(&key, &source, &name, None, &refs, false));
        handoffs.extend(hs);
    }
    let summary = summary_of(&photos, &handoffs, skipped.len());
    BatchManifest {
        schema_version: SCHEMA_VERSION,
        tool_version: TOOL_VERSION.into(),
        created_at: clock.now(),
        pipeline_version: PIPELINE_VERSION.into(),
        specs: specs.iter().map(Goal::of).collect(),
        summary,
        exit_code,
        interrupted,
        photos,
        handoffs,
        skipped,
        catalog: None,
    }
}
