//! Keying: an opaque photo on a plain sweep gets alpha from its distance to the sweep
//! colour, so everything after it treats the photo as a cut-out. A step of its own,
//! called explicitly between classifying and locating the product.

use rayon::prelude::*;

use super::Frame;

/// How to key one sweep photo: the sweep's colour by row and the distance ramp.
#[derive(Debug, Clone, Copy)]
pub struct SweepKey {
    pub(super) model: RowModel,
    pub(super) low: u8,
    pub(super) high: u8,
}

/// Writes the keyed alpha of a sweep photo into the frame: background 0, product 255, a
/// ramp between.
pub fn key_sweep(frame: &mut Frame, key: &SweepKey) {
    let (lo, hi) = (f64::from(key.low), f64::from(key.high));
    let model = key.model;
    let row_bytes = frame.width as usize * 4;
    frame
        .pixels
        .par_chunks_mut(row_bytes)
        .enumerate()
        .for_each(|(y, row)| {
            for p in row.chunks_exact_mut(4) {
                let d = model.distance(y as f64, p);
                let a = ((d - lo) / (hi - lo)).clamp(0.0, 1.0);
                p[3] = (a * 255.0).round() as u8;
            }
        });
}

/// Background colour as a linear function of the row: sweeps darken or lighten top to bottom.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowModel {
    a: [f64; 3],
    b: [f64; 3],
}

impl RowModel {
    pub(super) fn at(&self, y: f64) -> [f64; 3] {
        [0, 1, 2].map(|c| self.a[c] + self.b[c] * y)
    }

    pub(super) fn fit(samples: &[(f64, [u8; 3])]) -> Option<RowModel> {
        let n = samples.len() as f64;
        if n < 8.0 {
            return None;
        }
        let my = samples.iter().map(|s| s.0).sum::<f64>() / n;
        let vy = samples.iter().map(|s| (s.0 - my).powi(2)).sum::<f64>();
        let mut m = RowModel {
            a: [0.0; 3],
            b: [0.0; 3],
        };
        for c in 0..3 {
            let mc = samples.iter().map(|s| f64::from(s.1[c])).sum::<f64>() / n;
            let cov = samples
                .iter()
                .map(|s| (s.0 - my) * (f64::from(s.1[c]) - mc))
                .sum::<f64>();
            let b = if vy > 0.0 { cov / vy } else { 0.0 };
            m.a[c] = mc - b * my;
            m.b[c] = b;
        }
        Some(m)
    }

    pub(super) fn distance(&self, y: f64, p: &[u8]) -> f64 {
        let bg = self.at(y);
        (0..3)
            .map(|c| (f64::from(p[c]) - bg[c]).abs())
            .fold(0.0, f64::max)
    }
}
