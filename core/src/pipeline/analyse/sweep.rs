//! A photo on a plain sweep: its border sampled, and the key that cuts the product out
//! of the sweep's colour when the border is nearly all one smooth colour.

use super::super::key::{RowModel, SweepKey};
use super::super::Frame;
use super::SourceKind;

/// The value at quantile `q` (0 to 1) of `v`, sorted in place.
fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Samples of the border strips as (row, colour).
fn border_samples(frame: &Frame) -> Vec<(f64, [u8; 3])> {
    let (w, h) = (frame.width, frame.height);
    let strip = (w.min(h) / 100).max(2);
    let step = (w.max(h) / 400).max(1) as usize;
    let px = |x: u32, y: u32| {
        let i = (y as usize * w as usize + x as usize) * 4;
        [frame.pixels[i], frame.pixels[i + 1], frame.pixels[i + 2]]
    };
    let mut samples = Vec::new();
    for d in 0..strip {
        for x in (0..w).step_by(step) {
            samples.push((f64::from(d), px(x, d)));
            samples.push((f64::from(h - 1 - d), px(x, h - 1 - d)));
        }
        for y in (0..h).step_by(step) {
            samples.push((f64::from(y), px(d, y)));
            samples.push((f64::from(y), px(w - 1 - d, y)));
        }
    }
    samples
}

/// The share of a photo's border a plain sweep must cover for the photo to be taken as a
/// sweep shot.
const SWEEP_BORDER: f64 = 0.8;

/// Looks for a plain sweep around the border; returns the key to cut the product out of it.
pub(super) fn detect_sweep(frame: &Frame) -> Option<(SourceKind, SweepKey)> {
    detect_sweep_with(frame, true)
}

/// `strict`: only a border nearly all close to one smooth colour is a sweep; otherwise
/// (a reviewer said it is one) the colour most of the border is near is keyed.
pub(super) fn detect_sweep_with(frame: &Frame, strict: bool) -> Option<(SourceKind, SweepKey)> {
    if frame.width < 16 || frame.height < 16 {
        return None;
    }
    let samples = border_samples(frame);
    // Fitted on the border near its median colour: a product cut off by the photo's frame
    // is part of the border, and would tilt a fit over all of it.
    let median: [f64; 3] = [0, 1, 2].map(|c| {
        let mut v: Vec<f64> = samples.iter().map(|s| f64::from(s.1[c])).collect();
        percentile(&mut v, 0.5)
    });
    let near: Vec<(f64, [u8; 3])> = samples
        .iter()
        .filter(|s| (0..3).all(|c| (f64::from(s.1[c]) - median[c]).abs() <= 40.0))
        .copied()
        .collect();
    let model = RowModel::fit(&near)?;
    let mut res: Vec<f64> = samples.iter().map(|s| model.distance(s.0, &s.1)).collect();
    // A sweep: most of the border sits close to one smooth colour.
    if strict && percentile(&mut res, 0.5) > 8.0 {
        return None;
    }
    let total = samples.len();
    let inliers: Vec<_> = samples
        .iter()
        .filter(|s| model.distance(s.0, &s.1) <= 20.0)
        .copied()
        .collect();
    let model = RowModel::fit(&inliers)?;
    // Refitted on the sweep alone, at least SWEEP_BORDER of the border is that sweep; the
    // rest may be a product the photo's frame cuts off (said by the cut-off check), not a
    // busy background.
    let on_sweep = samples
        .iter()
        .filter(|s| model.distance(s.0, &s.1) <= 20.0)
        .count();
    if strict && (on_sweep as f64) < total as f64 * SWEEP_BORDER {
        return None;
    }
    let mut res: Vec<f64> = inliers.iter().map(|s| model.distance(s.0, &s.1)).collect();
    let noise = percentile(&mut res, 0.99);
    let key_low = (noise + 3.0).clamp(6.0, 40.0) as u8;
    let key_high = key_low.saturating_add(28);
    let mid = model
        .at(f64::from(frame.height) / 2.0)
        .map(|v| v.round().clamp(0.0, 255.0) as u8);
    let kind = SourceKind::Sweep {
        background: mid,
        key_low,
        key_high,
    };
    Some((
        kind,
        SweepKey {
            model,
            low: key_low,
            high: key_high,
        },
    ))
}
