//! Keying: an opaque photo on a plain sweep gets alpha from its distance to the sweep
//! colour where the sweep is reached from the image border, so everything after it treats
//! the photo as a cut-out. A step of its own,
//! called explicitly between classifying and locating the product.

use rayon::prelude::*;

use super::{Frame, Rect};
use crate::spec::Enclosed;

/// How to key one sweep photo: the sweep's colour by row and the distance ramp.
#[derive(Debug, Clone, Copy)]
pub struct SweepKey {
    pub(super) model: RowModel,
    pub(super) low: u8,
    pub(super) high: u8,
}

/// Areas the product encloses that are the backdrop's colour: the sweep seen through a
/// handle or between legs, or a white part of the product. The pixels cannot tell which;
/// a person can, and says so with [`Enclosed`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EnclosedBackdrop {
    pub areas: u32,
    /// Their pixels together, and the product box's, in source pixels.
    pub pixels: u64,
    pub product_pixels: u64,
    /// The largest, in source pixels.
    pub largest: Option<Rect>,
    /// What a reviewer said of them: cleared to the background, or kept as product.
    /// `None`: kept as product, undecided.
    pub decided: Option<Enclosed>,
}

/// An enclosed area counts from this many pixels, or this share of the product's box if
/// more: a handle's hole does; a glint or a white logo dot does not ...
const MIN_ENCLOSED_PX: usize = 64;
const MIN_ENCLOSED_SHARE: f64 = 0.002;
/// ... and is at least this wide and tall, or this share of the box's shorter side if
/// more: a clipped highlight's stripe on a glossy product is not a hole.
const MIN_ENCLOSED_SIDE: usize = 8;
const MIN_ENCLOSED_SIDE_SHARE: f64 = 0.06;
/// At least this share of an enclosed area must be the backdrop's colour (keyed alpha 0):
/// a white part with shading or texture is the product's own.
const ENCLOSED_BACKDROP_SHARE: f64 = 0.5;

/// Writes the keyed alpha of a sweep photo into the frame: background 0, product 255, a
/// ramp between. Only sweep reached from the image border counts as background: a
/// sweep-coloured part the product encloses (a white cup's lip and inside) stays opaque,
/// unless `enclosed` says to clear it. Returns what the product encloses.
pub fn key_sweep(
    frame: &mut Frame,
    key: &SweepKey,
    enclosed: Option<Enclosed>,
) -> EnclosedBackdrop {
    let (w, h) = (frame.width as usize, frame.height as usize);
    if w == 0 || h == 0 {
        return EnclosedBackdrop::default();
    }
    let (lo, hi) = (f64::from(key.low), f64::from(key.high));
    let model = key.model;
    // The distance ramp everywhere first, noting which pixels are background-like (alpha
    // below 255) in a byte map the flood then walks: a quarter of the frame's bytes.
    let mut state = vec![CLOSED; w * h];
    // Each row's first and last product pixel.
    let spans: Vec<Option<(usize, usize)>> = frame
        .pixels
        .par_chunks_mut(w * 4)
        .zip(state.par_chunks_mut(w))
        .enumerate()
        .map(|(y, (row, state))| {
            let bg = model.at(y as f64);
            let mut span: Option<(usize, usize)> = None;
            for (x, (p, s)) in row.chunks_exact_mut(4).zip(state).enumerate() {
                let d = (0..3)
                    .map(|c| (f64::from(p[c]) - bg[c]).abs())
                    .fold(0.0, f64::max);
                let a = ((d - lo) / (hi - lo)).clamp(0.0, 1.0);
                p[3] = (a * 255.0).round() as u8;
                if p[3] < 255 {
                    *s = OPEN;
                } else {
                    span = Some(span.map_or((x, x), |(first, _)| (first, x)));
                }
            }
            span
        })
        .collect();
    // Only open pixels inside the product's box can be walled off; everything outside it
    // is open and reaches the border. Flood the box grown by one pixel: its edge is either
    // the image's border or open pixels outside the box, which connect to that border.
    let rows: Vec<usize> = (0..h).filter(|&y| spans[y].is_some()).collect();
    let (Some(&y0), Some(&y1)) = (rows.first(), rows.last()) else {
        return EnclosedBackdrop::default();
    };
    let x0 = spans.iter().flatten().map(|s| s.0).min().unwrap_or(0);
    let x1 = spans.iter().flatten().map(|s| s.1).max().unwrap_or(w - 1);
    let region = Region {
        x0: x0.saturating_sub(1),
        y0: y0.saturating_sub(1),
        x1: (x1 + 1).min(w - 1),
        y1: (y1 + 1).min(h - 1),
    };
    flood_from_edge(&mut state, w, region);
    let found = enclosed_areas(&mut state, &frame.pixels, w, region, enclosed);
    // Background-like but walled off from the border by product: part of the product,
    // unless cleared above. The flooded pixels keep their ramp, so the soft edge at the
    // true boundary stays.
    let Region { x0, y0, x1, y1 } = region;
    frame.pixels[y0 * w * 4..(y1 + 1) * w * 4]
        .par_chunks_mut(w * 4)
        .zip(state[y0 * w..(y1 + 1) * w].par_chunks(w))
        .for_each(|(row, state)| {
            let pixels = row[x0 * 4..(x1 + 1) * 4].chunks_exact_mut(4);
            for (p, &s) in pixels.zip(&state[x0..=x1]) {
                if s == OPEN || s == ENCLOSED {
                    p[3] = 255;
                }
            }
        });
    found
}

/// Labels the open pixels of `region` the flood did not reach (walled off by product)
/// as [`ENCLOSED`], area by area, and reports the areas that are the backdrop's colour.
/// With [`Enclosed::Clear`], those areas are marked [`REACHED`] instead: background, with
/// their keyed ramp.
fn enclosed_areas(
    state: &mut [u8],
    pixels: &[u8],
    w: usize,
    region: Region,
    enclosed: Option<Enclosed>,
) -> EnclosedBackdrop {
    let Region { x0, y0, x1, y1 } = region;
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let product_pixels = (bw * bh) as u64;
    let min_px = MIN_ENCLOSED_PX.max((product_pixels as f64 * MIN_ENCLOSED_SHARE) as usize);
    let min_side = MIN_ENCLOSED_SIDE.max((bw.min(bh) as f64 * MIN_ENCLOSED_SIDE_SHARE) as usize);
    let mut found = EnclosedBackdrop {
        product_pixels,
        decided: enclosed,
        ..EnclosedBackdrop::default()
    };
    // Pixels are kept only to clear them; otherwise an area is its counts and its box.
    let clear = enclosed == Some(Enclosed::Clear);
    let mut area: Vec<u32> = Vec::new();
    let mut stack: Vec<u32> = Vec::new();
    for y in y0..=y1 {
        for x in x0..=x1 {
            let start = y * w + x;
            if state[start] != OPEN {
                continue;
            }
            area.clear();
            let (mut count, mut backdrop) = (0usize, 0usize);
            let (mut ax0, mut ay0, mut ax1, mut ay1) = (x, y, x, y);
            state[start] = ENCLOSED;
            stack.push(start as u32);
            while let Some(i) = stack.pop() {
                let i = i as usize;
                count += 1;
                backdrop += usize::from(pixels[i * 4 + 3] == 0);
                if clear {
                    area.push(i as u32);
                }
                let (px, py) = (i % w, i / w);
                (ax0, ay0, ax1, ay1) = (ax0.min(px), ay0.min(py), ax1.max(px), ay1.max(py));
                let next = [
                    (px > x0).then(|| i - 1),
                    (px < x1).then(|| i + 1),
                    (py > y0).then(|| i - w),
                    (py < y1).then(|| i + w),
                ];
                for n in next.into_iter().flatten() {
                    if state[n] == OPEN {
                        state[n] = ENCLOSED;
                        stack.push(n as u32);
                    }
                }
            }
            let (aw, ah) = (ax1 - ax0 + 1, ay1 - ay0 + 1);
            // Small, thin (a highlight's stripe) or mostly not the backdrop's colour: the
            // product's own.
            if count < min_px
                || aw.min(ah) < min_side
                || (backdrop as f64) < count as f64 * ENCLOSED_BACKDROP_SHARE
            {
                continue;
            }
            found.areas += 1;
            found.pixels += count as u64;
            let rect = Rect {
                x: ax0 as u32,
                y: ay0 as u32,
                w: aw as u32,
                h: ah as u32,
            };
            let size = |r: Rect| u64::from(r.w) * u64::from(r.h);
            if found.largest.is_none_or(|l| size(l) < size(rect)) {
                found.largest = Some(rect);
            }
            for &i in &area {
                state[i as usize] = REACHED;
            }
        }
    }
    found
}

/// A pixel rectangle, edges included.
#[derive(Clone, Copy)]
struct Region {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

/// Flood states of a pixel: product, background-like, background-like and reached, and
/// background-like but walled off by product.
const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const REACHED: u8 = 2;
const ENCLOSED: u8 = 3;

/// Turns the [`OPEN`] pixels of `region` (in a state map `w` wide) that connect to the
/// region's edge through open pixels (4-connected) into [`REACHED`]; pixels outside the
/// region are never read. A scanline fill: each run of open pixels is filled whole and
/// seeds one entry per open run in the rows above and below, so the stack stays small and
/// every pixel is read a few times at most.
fn flood_from_edge(state: &mut [u8], w: usize, region: Region) {
    let Region { x0, y0, x1, y1 } = region;
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for x in x0..=x1 {
        stack.push((x as u32, y0 as u32));
        stack.push((x as u32, y1 as u32));
    }
    for y in y0..=y1 {
        stack.push((x0 as u32, y as u32));
        stack.push((x1 as u32, y as u32));
    }
    while let Some((x, y)) = stack.pop() {
        let (x, y) = (x as usize, y as usize);
        let row = &mut state[y * w + x0..=y * w + x1];
        let x = x - x0;
        if row[x] != OPEN {
            continue;
        }
        let l = row[..x]
            .iter()
            .rposition(|&s| s != OPEN)
            .map_or(0, |i| i + 1);
        let r = row[x..]
            .iter()
            .position(|&s| s != OPEN)
            .map_or(row.len(), |i| x + i);
        row[l..r].fill(REACHED);
        for ny in [y.wrapping_sub(1), y + 1] {
            if ny < y0 || ny > y1 {
                continue;
            }
            let next = &state[ny * w + x0 + l..ny * w + x0 + r];
            let mut nx = 0;
            while let Some(start) = next[nx..].iter().position(|&s| s == OPEN) {
                let start = nx + start;
                stack.push(((x0 + l + start) as u32, ny as u32));
                // One seed per run: the fill from it covers the rest.
                nx = next[start..]
                    .iter()
                    .position(|&s| s != OPEN)
                    .map_or(next.len(), |i| start + i);
            }
        }
    }
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
        let found = key_sweep(&mut f, &key, None);
        assert_eq!(alpha(&f, 0, 0), 0, "sweep at the corner");
        assert_eq!(alpha(&f, 10, 30), 0, "sweep beside the product");
        assert_eq!(alpha(&f, 16, 30), 255, "dark frame");
        // The white patch inside, its soft pixel included, is product.
        assert_eq!(alpha(&f, 30, 30), 255, "white patch");
        assert_eq!(alpha(&f, 19, 30), 255, "soft pixel inside the frame");
        // The soft pixel on the true boundary keeps its ramp: (20 - 8) / 28 of 255.
        assert_eq!(alpha(&f, 14, 30), 109, "soft pixel at the boundary");
        // ... and reported: it could as well be the sweep seen through a handle.
        assert_eq!(
            (found.areas, found.pixels, found.decided),
            (1, 22 * 22, None)
        );
        assert_eq!(
            found.largest,
            Some(Rect {
                x: 19,
                y: 19,
                w: 22,
                h: 22
            })
        );

        // A reviewer said it is the backdrop: cleared, its soft pixel keeping its ramp.
        let mut f = framed_patch();
        let found = key_sweep(&mut f, &key, Some(Enclosed::Clear));
        assert_eq!(found.decided, Some(Enclosed::Clear));
        assert_eq!(alpha(&f, 30, 30), 0, "cleared patch");
        assert_eq!(alpha(&f, 19, 30), 109, "soft pixel inside the frame");
        assert_eq!(alpha(&f, 16, 30), 255, "the frame stays");
        // A reviewer said it is the product's: kept.
        let mut f = framed_patch();
        assert_eq!(
            key_sweep(&mut f, &key, Some(Enclosed::Keep)).decided,
            Some(Enclosed::Keep)
        );
        assert_eq!(alpha(&f, 30, 30), 255);
        // A small enclosed glint (under 64 px) is the product's, and not reported.
        let mut f = Frame::from_rgba(60, 60, [240, 240, 240, 255].repeat(60 * 60));
        for y in 20..40 {
            for x in 20..40 {
                let inner = (28..32).contains(&x) && (28..32).contains(&y);
                let i = (y * 60 + x) * 4;
                f.pixels[i..i + 3].copy_from_slice(&[if inner { 240 } else { 60 }; 3]);
            }
        }
        assert_eq!(key_sweep(&mut f, &key, None).areas, 0);
        assert_eq!(alpha(&f, 30, 30), 255);

        // A product across the whole width: the sweep above and below it each reach the
        // border, though the product's box touches both sides.
        let mut f = Frame::from_rgba(60, 60, [240, 240, 240, 255].repeat(60 * 60));
        for i in (28 * 60 * 4..32 * 60 * 4).step_by(4) {
            f.pixels[i..i + 3].copy_from_slice(&[60; 3]);
        }
        key_sweep(&mut f, &key, None);
        assert_eq!(
            [alpha(&f, 30, 10), alpha(&f, 30, 30), alpha(&f, 30, 50)],
            [0, 255, 0]
        );
    }
}
