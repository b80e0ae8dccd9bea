//! Keying: an opaque photo on a plain sweep gets alpha from its distance to the sweep
//! colour where the sweep is reached from the image border, so everything after it treats
//! the photo as a cut-out. A step of its own,
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
/// ramp between. Only sweep reached from the image border counts as background: a
/// sweep-coloured part the product encloses (a white cup's lip and inside) stays opaque.
pub fn key_sweep(frame: &mut Frame, key: &SweepKey) {
    let (w, h) = (frame.width as usize, frame.height as usize);
    if w == 0 || h == 0 {
        return;
    }
    let (lo, hi) = (f64::from(key.low), f64::from(key.high));
    let model = key.model;
    // The distance ramp everywhere first; alpha below 255 then marks the background-like
    // pixels the flood may cross, with no second buffer of distances.
    frame
        .pixels
        .par_chunks_mut(w * 4)
        .enumerate()
        .for_each(|(y, row)| {
            let bg = model.at(y as f64);
            for p in row.chunks_exact_mut(4) {
                let d = (0..3)
                    .map(|c| (f64::from(p[c]) - bg[c]).abs())
                    .fold(0.0, f64::max);
                let a = ((d - lo) / (hi - lo)).clamp(0.0, 1.0);
                p[3] = (a * 255.0).round() as u8;
            }
        });
    let reached = flood_from_border(&frame.pixels, w, h);
    // Background-like but walled off from the border by product: part of the product. The
    // flooded pixels keep their ramp, so the soft edge at the true boundary stays.
    frame
        .pixels
        .par_chunks_mut(w * 4)
        .zip(reached.par_chunks(w))
        .for_each(|(row, reached)| {
            for (p, &r) in row.chunks_exact_mut(4).zip(reached) {
                if !r {
                    p[3] = 255;
                }
            }
        });
}

/// Marks the pixels of RGBA8 `pixels` (`w` x `h`) with alpha below 255 that connect to the
/// image border through such pixels (4-connected). A scanline fill: each run of open
/// pixels is filled whole and seeds at most one entry per open run in the rows above and
/// below, so the stack stays small and every pixel is read a few times at most.
fn flood_from_border(pixels: &[u8], w: usize, h: usize) -> Vec<bool> {
    let open = |i: usize| pixels[i * 4 + 3] < 255;
    let mut reached = vec![false; w * h];
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for x in 0..w {
        stack.push((x as u32, 0));
        stack.push((x as u32, (h - 1) as u32));
    }
    for y in 0..h {
        stack.push((0, y as u32));
        stack.push(((w - 1) as u32, y as u32));
    }
    while let Some((x, y)) = stack.pop() {
        let (x, y) = (x as usize, y as usize);
        let row = y * w;
        if reached[row + x] || !open(row + x) {
            continue;
        }
        let (mut l, mut r) = (x, x);
        while l > 0 && !reached[row + l - 1] && open(row + l - 1) {
            l -= 1;
        }
        while r + 1 < w && !reached[row + r + 1] && open(row + r + 1) {
            r += 1;
        }
        reached[row + l..=row + r].fill(true);
        for ny in [y.wrapping_sub(1), y + 1] {
            if ny >= h {
                continue;
            }
            let nrow = ny * w;
            let mut nx = l;
            while nx <= r {
                if !reached[nrow + nx] && open(nrow + nx) {
                    stack.push((nx as u32, ny as u32));
                    // One seed per run: the fill from it covers the rest.
                    while nx <= r && !reached[nrow + nx] && open(nrow + nx) {
                        nx += 1;
                    }
                } else {
                    nx += 1;
                }
            }
        }
    }
    reached
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain 60x60 sweep of grey 240 with a dark square frame (4 px wide, colour 60)
    /// around a patch of grey 244: a white part the product walls off from the sweep.
    fn framed_patch() -> Frame {
        let mut f = Frame::from_rgba(60, 60, [240, 240, 240, 255].repeat(60 * 60));
        for y in 15..45 {
            for x in 15..45 {
                let inner = (19..41).contains(&x) && (19..41).contains(&y);
                let v = if inner { 244 } else { 60 };
                let i = (y * 60 + x) * 4;
                f.pixels[i..i + 3].copy_from_slice(&[v; 3]);
            }
        }
        // A soft pixel on each side of the frame's left edge, 20 levels off the sweep.
        for i in [(30 * 60 + 14) * 4, (30 * 60 + 19) * 4] {
            f.pixels[i..i + 3].copy_from_slice(&[220; 3]);
        }
        f
    }

    fn alpha(f: &Frame, x: usize, y: usize) -> u8 {
        f.pixels[(y * 60 + x) * 4 + 3]
    }

    #[test]
    fn sweep_coloured_parts_enclosed_by_the_product_stay_opaque() {
        let mut f = framed_patch();
        let samples: Vec<_> = (0..60).map(|y| (f64::from(y), [240u8; 3])).collect();
        let key = SweepKey {
            model: RowModel::fit(&samples).unwrap(),
            low: 8,
            high: 36,
        };
        key_sweep(&mut f, &key);
        assert_eq!(alpha(&f, 0, 0), 0, "sweep at the corner");
        assert_eq!(alpha(&f, 10, 30), 0, "sweep beside the product");
        assert_eq!(alpha(&f, 16, 30), 255, "dark frame");
        // The white patch inside, its soft pixel included, is product.
        assert_eq!(alpha(&f, 30, 30), 255, "white patch");
        assert_eq!(alpha(&f, 19, 30), 255, "soft pixel inside the frame");
        // The soft pixel on the true boundary keeps its ramp: (20 - 8) / 28 of 255.
        assert_eq!(alpha(&f, 14, 30), 109, "soft pixel at the boundary");
    }
}
