//! The contact sheet: every output's preview with its state, on one image.

use std::collections::BTreeMap;

use crate::handoff::{Handoff, State};
use crate::pipeline::Limits;

/// The contact sheet of `handoffs`, titled `title`, with a line of counts by state.
/// `load` gives an output's image bytes (none when it cannot be read); previews are made
/// on the engine's threads.
pub fn contact_sheet(
    engine: &crate::engine::Engine,
    title: &str,
    handoffs: &[Handoff],
    load: impl Fn(&Handoff) -> Option<Vec<u8>> + Sync,
    limits: &Limits,
) -> Result<Vec<u8>, crate::pipeline::contact_sheet::SheetError> {
    use crate::pipeline::contact_sheet::{render, Tile, Tone, MAX_TILES, PREVIEW};
    let mut counts: BTreeMap<State, usize> = BTreeMap::new();
    for h in handoffs {
        *counts.entry(h.state).or_default() += 1;
    }
    let mut line = format!(
        "{} output{}",
        handoffs.len(),
        if handoffs.len() == 1 { "" } else { "s" }
    );
    for (state, n) in counts {
        line.push_str(&format!(" · {n} {}", state.as_str().replace('_', " ")));
    }
    let tiles: Vec<Tile> = handoffs
        .iter()
        .map(|h| {
            let tone = match h.state {
                s if s.is_deliverable() => Tone::Good,
                State::NeedsReview => Tone::Waiting,
                State::Failed | State::Rejected => Tone::Bad,
                _ => Tone::Neutral,
            };
            // The photo line's words: short, and the cause first.
            let note = crate::handoff::advice::todo(&[h]);
            Tile {
                name: h.provenance.source_key.clone(),
                spec: h.goal.spec_id.clone(),
                badge: h.state.as_str().replace('_', " "),
                tone,
                note,
            }
        })
        .collect();
    let shown: Vec<&Handoff> = handoffs.iter().take(MAX_TILES).collect();
    let previews = engine.map(&shown, |h| {
        h.asset.as_ref()?;
        let bytes = load(h)?;
        crate::pipeline::thumbnail::preview(&bytes, PREVIEW, limits).ok()
    });
    render(&[title.to_string(), line], &tiles, &previews)
}
