//! Measuring rendered and written pixels: where the visible product is, and how sharp it
//! is. Rendering frames by these rules and verification measures the written file by the
//! same ones, so both see the same product; neither imports the other.

use rayon::prelude::*;

use super::analyse::Rect;
use crate::spec::Background;

/// Difference from the background (or alpha, on transparency) above which a pixel is seen
/// as product. Rendering frames the subject by the same rule.
pub const VISIBLE_DIFF: u8 = 10;

/// Alpha from which a cut-out pixel is product whatever its colour.
const OPAQUE_ALPHA: u8 = 128;

/// Whether an RGB or RGBA pixel is seen against `bg` (see [`visible_box`]).
pub(crate) fn is_visible(p: &[u8], bg: Background, opaque_counts: bool) -> bool {
    let alpha = p.get(3).copied().unwrap_or(255);
    if opaque_counts && alpha >= OPAQUE_ALPHA {
        return true;
    }
    match bg {
        Background::Transparent => alpha > VISIBLE_DIFF,
        Background::Color(c) => {
            let a = u32::from(alpha);
            (0..3).any(|i| u32::from(p[i].abs_diff(c[i])) * a > u32::from(VISIBLE_DIFF) * 255)
        }
    }
}

/// Box of the RGB or RGBA (`channels`) pixels whose flattened colour differs from `bg` by more than
/// [`VISIBLE_DIFF`] (on transparency: whose alpha exceeds it). Rendering frames by it and
/// the verifier measures the written file by it, so both see the same product.
/// With `opaque_counts`, mostly opaque pixels count too (for cut-outs, not for flattened
/// files, where every pixel is opaque).
pub fn visible_box(
    pixels: &[u8],
    width: u32,
    channels: u8,
    bg: Background,
    opaque_counts: bool,
) -> Option<Rect> {
    let visible = |p: &[u8]| is_visible(p, bg, opaque_counts);
    let n = usize::from(channels);
    // Margins are skipped 16 pixels at a time where every pixel is plainly unseen (clear,
    // or within the tolerance of an opaque background): most of a row is margin.
    const BLOCK: usize = 16;
    let unseen_block = |b: &[u8]| match (n, bg) {
        (4, _) => b.chunks_exact(4).fold(0, |m, p| m | p[3]) == 0,
        (3, Background::Color(c)) if !opaque_counts => b
            .chunks_exact(3)
            .all(|p| (0..3).all(|i| p[i].abs_diff(c[i]) <= VISIBLE_DIFF)),
        _ => false,
    };
    let rows: Vec<Option<(usize, usize)>> = pixels
        .par_chunks(width as usize * n)
        .map(|row| {
            let skip = row
                .chunks_exact(BLOCK * n)
                .take_while(|b| unseen_block(b))
                .count()
                * BLOCK;
            let first = skip + row[skip * n..].chunks_exact(n).position(visible)?;
            let skip_back = row
                .rchunks_exact(BLOCK * n)
                .take_while(|b| unseen_block(b))
                .count()
                * BLOCK;
            let end = row.len() / n - skip_back;
            let last = row[..end * n].chunks_exact(n).rposition(visible)?;
            Some((first, last))
        })
        .collect();
    let y0 = rows.iter().position(Option::is_some)?;
    let y1 = rows.iter().rposition(Option::is_some)?;
    let x0 = rows.iter().flatten().map(|r| r.0).min()?;
    let x1 = rows.iter().flatten().map(|r| r.1).max()?;
    Some(Rect {
        x: x0 as u32,
        y: y0 as u32,
        w: (x1 - x0 + 1) as u32,
        h: (y1 - y0 + 1) as u32,
    })
}

/// Variance of the 4-neighbour Laplacian of luma (flattened onto white where there is
/// alpha) over a box with inclusive corners: a standard blur measure. Integer arithmetic
/// (luma in 1/256 levels) in bands of rows with three rolling luma rows: no frame-sized
/// buffer, and the sums are exact, so the value never depends on thread scheduling.
pub fn laplacian_variance(
    pixels: &[u8],
    w: u32,
    h: u32,
    channels: usize,
    (x0, y0, x1, y1): (u32, u32, u32, u32),
) -> f64 {
    let (xa, ya) = (x0.max(1) as usize, y0.max(1) as usize);
    let (xb, yb) = (
        x1.min(w.saturating_sub(2)) as usize,
        y1.min(h.saturating_sub(2)) as usize,
    );
    if xa > xb || ya > yb {
        return 0.0;
    }
    // Luma of the box's columns plus a one-pixel ring.
    let lw = xb - xa + 3;
    let luma_row = |y: usize, out: &mut [i32]| {
        let start = (y * w as usize + xa - 1) * channels;
        let row = &pixels[start..start + lw * channels];
        for (o, p) in out.iter_mut().zip(row.chunks_exact(channels)) {
            let l = 77 * i32::from(p[0]) + 150 * i32::from(p[1]) + 29 * i32::from(p[2]);
            *o = match p.get(3) {
                Some(&a) => {
                    let a = i32::from(a);
                    (l * a + 255 * 256 * (255 - a) + 127) / 255
                }
                None => l,
            };
        }
    };
    const BAND: usize = 32;
    let bands: Vec<(i64, i128)> = (ya..=yb)
        .step_by(BAND)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|r0| {
            let r1 = (r0 + BAND).min(yb + 1);
            let (mut up, mut mid, mut down) = (vec![0; lw], vec![0; lw], vec![0; lw]);
            luma_row(r0 - 1, &mut up);
            luma_row(r0, &mut mid);
            let (mut sum, mut sq) = (0i64, 0i128);
            for r in r0..r1 {
                luma_row(r + 1, &mut down);
                let mut row_sq = 0u64;
                for c in 1..lw - 1 {
                    let l = i64::from(4 * mid[c] - mid[c - 1] - mid[c + 1] - up[c] - down[c]);
                    sum += l;
                    row_sq += (l * l) as u64;
                }
                sq += i128::from(row_sq);
                std::mem::swap(&mut up, &mut mid);
                std::mem::swap(&mut mid, &mut down);
            }
            (sum, sq)
        })
        .collect();
    let n = ((lw - 2) * (yb - ya + 1)) as f64;
    let sum: i64 = bands.iter().map(|b| b.0).sum();
    let sq: i128 = bands.iter().map(|b| b.1).sum();
    let mean = sum as f64 / n;
    (sq as f64 / n - mean * mean) / 65536.0
}
