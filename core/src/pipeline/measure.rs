//! Measuring rendered and written pixels: where the visible product is, and how sharp it
//! is. Rendering frames by these rules and verification measures the written file by the
//! same ones, so both see the same product; neither imports the other.

use rayon::prelude::*;

use super::analyse::Rect;
use crate::spec::Background;

/// Difference from the background (or alpha, on transparency) above which a pixel is seen
/// as product. Rendering frames the subject by the same rule.
pub const VISIBLE_DIFF: u8 = 10;

/// Difference from the background above which a pixel is plainly product. Faint haze
/// beside hair or fur sits near [`VISIBLE_DIFF`], where resampling and JPEG noise lift it
/// over the threshold in one file and drop it under in another; above this it stays put.
pub const SOLID_DIFF: u8 = 24;

/// Alpha from which a cut-out pixel is product whatever its colour.
const OPAQUE_ALPHA: u8 = 128;

/// Whether an RGB or RGBA pixel is seen against `bg` (see [`visible_box`]).
pub(crate) fn is_visible(p: &[u8], bg: Background, opaque_counts: bool) -> bool {
    is_seen(p, bg, opaque_counts, VISIBLE_DIFF)
}

/// Whether a pixel's flattened colour differs from `bg` by more than `diff`.
pub(super) fn is_seen(p: &[u8], bg: Background, opaque_counts: bool, diff: u8) -> bool {
    let alpha = p.get(3).copied().unwrap_or(255);
    if opaque_counts && alpha >= OPAQUE_ALPHA {
        return true;
    }
    match bg {
        Background::Transparent => alpha > diff,
        Background::Color(c) => {
            let a = u32::from(alpha);
            (0..3).any(|i| u32::from(p[i].abs_diff(c[i])) * a > u32::from(diff) * 255)
        }
    }
}

/// Box of the pixels that differ from `bg` by more than [`SOLID_DIFF`]: the product
/// without its faintest edges and haze.
pub fn solid_box(pixels: &[u8], width: u32, channels: u8, bg: Background) -> Option<Rect> {
    seen_box(pixels, width, channels, bg, false, SOLID_DIFF)
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
    seen_box(pixels, width, channels, bg, opaque_counts, VISIBLE_DIFF)
}

/// [`visible_box`] at the difference `diff`.
fn seen_box(
    pixels: &[u8],
    width: u32,
    channels: u8,
    bg: Background,
    opaque_counts: bool,
    diff: u8,
) -> Option<Rect> {
    let n = usize::from(channels);
    // Opaque RGB against a colour (every written JPEG) needs no alpha arithmetic.
    let visible = |p: &[u8]| match (n, bg) {
        (3, Background::Color(c)) if !opaque_counts => (0..3).any(|i| p[i].abs_diff(c[i]) > diff),
        _ => is_seen(p, bg, opaque_counts, diff),
    };
    // Margins are skipped 16 pixels at a time where every pixel is plainly unseen (clear,
    // or within the tolerance of an opaque background): most of a row is margin.
    const BLOCK: usize = 16;
    // The background repeated over a block, so the test runs over plain bytes (which the
    // compiler vectorizes) instead of pixel by pixel.
    let pattern: [u8; BLOCK * 3] = match bg {
        Background::Color(c) => std::array::from_fn(|i| c[i % 3]),
        _ => [0; BLOCK * 3],
    };
    let unseen_block = |b: &[u8]| match (n, bg) {
        (4, _) => alpha_or(b) == 0,
        (3, Background::Color(_)) if !opaque_counts => {
            b.iter()
                .zip(pattern.iter())
                .fold(0u8, |m, (v, c)| m.max(v.abs_diff(*c)))
                <= diff
        }
        _ => false,
    };
    let rows: Vec<Option<(usize, usize)>> = pixels
        .par_chunks(width as usize * n)
        .map(|row| {
            let (skip, skip_back) = unseen_ends(row, BLOCK * n, unseen_block);
            let (skip, skip_back) = (skip * BLOCK, skip_back * BLOCK);
            let first = skip + row[skip * n..].chunks_exact(n).position(visible)?;
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

/// How many whole blocks of `block_bytes` at the start and at the end of `row` are
/// `unseen`: the plain margins a row scan can skip.
pub(crate) fn unseen_ends(
    row: &[u8],
    block_bytes: usize,
    unseen: impl Fn(&[u8]) -> bool,
) -> (usize, usize) {
    let lead = row
        .chunks_exact(block_bytes)
        .take_while(|b| unseen(b))
        .count();
    let trail = row
        .rchunks_exact(block_bytes)
        .take_while(|b| unseen(b))
        .count();
    (lead, trail)
}

/// The alphas of an RGBA block ORed together: 0 when every pixel is clear.
pub(crate) fn alpha_or(block: &[u8]) -> u8 {
    block.chunks_exact(4).fold(0, |m, p| m | p[3])
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
        // One loop per pixel size, so each is compiled for its fixed stride.
        match channels {
            3 => luma_of::<3>(row, out),
            _ => luma_of::<4>(row, out),
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

/// Luma in 1/256 levels of RGB or RGBA (flattened onto white) pixels.
fn luma_of<const N: usize>(row: &[u8], out: &mut [i32]) {
    for (o, p) in out.iter_mut().zip(row.chunks_exact(N)) {
        let l = 77 * i32::from(p[0]) + 150 * i32::from(p[1]) + 29 * i32::from(p[2]);
        *o = if N == 4 {
            let a = i32::from(p[3]);
            (l * a + 255 * 256 * (255 - a) + 127) / 255
        } else {
            l
        };
    }
}

/// The colour of the backdrop actually in an RGB or RGBA file: the per-channel median of its
/// outermost pixels, when most of them lie within [`VISIBLE_DIFF`] of it. `None` when the
/// edge is too mixed to call (a product or frame covering most of it).
pub fn backdrop_colour(pixels: &[u8], w: u32, h: u32, channels: u8) -> Option<[u8; 3]> {
    let ring = edge_ring(w, h);
    let n = usize::from(channels);
    let at = |(x, y): (u32, u32)| {
        let i = (y as usize * w as usize + x as usize) * n;
        &pixels[i..i + n]
    };
    let mut hist = [[0u32; 256]; 3];
    let mut total = 0u32;
    for p in ring.clone().map(at) {
        let f = flat_on_white(p);
        for c in 0..3 {
            hist[c][usize::from(f[c])] += 1;
        }
        total += 1;
    }
    let median = |h: &[u32; 256]| -> u8 {
        let mut seen = 0;
        for (v, &k) in h.iter().enumerate() {
            seen += k;
            if seen * 2 >= total {
                return v as u8;
            }
        }
        255
    };
    let m = [median(&hist[0]), median(&hist[1]), median(&hist[2])];
    let close = ring
        .map(at)
        .filter(|p| {
            let f = flat_on_white(p);
            (0..3).all(|c| f[c].abs_diff(m[c]) <= VISIBLE_DIFF)
        })
        .count();
    (close * 2 >= total as usize).then_some(m)
}

/// An RGB or RGBA pixel as seen on white.
/// A near-white backdrop that the background frames: when the product's box, a few
/// pixels inside its edge, runs through pixels a little off the background (a plate of
/// 244 grey inside a pure white margin) for most of its length, the box is the backdrop's,
/// not the product's: a product meets its own box at a few places and the background
/// elsewhere. Returns how far off that backdrop is (its 90th percentile, in levels).
pub fn framed_backdrop(
    pixels: &[u8],
    w: u32,
    channels: u8,
    bg: [u8; 3],
    product: Rect,
) -> Option<u8> {
    /// How far inside the box the rings run: past the edge's antialiasing and JPEG blocks'
    /// ringing at the step from the margin; and again further in, where a backdrop still
    /// is and the ringing beside a product's straight edge a few pixels inside the box
    /// (a part that widens the box a little) is not.
    const INSETS: [u32; 2] = [4, 10];
    /// Off the background by at most this, and nearly grey: a backdrop, not a colour.
    const NEAR: u8 = 24;
    const SPREAD: u8 = 12;
    /// The share of each ring that must be such.
    const SHARE: f64 = 0.6;
    let inner = INSETS[1];
    if product.w <= 2 * inner + 2 || product.h <= 2 * inner + 2 {
        return None;
    }
    let n = usize::from(channels);
    let ring_near = |inset: u32| -> Option<Vec<u8>> {
        let (x0, y0) = (product.x + inset, product.y + inset);
        let (x1, y1) = (product.right() - 1 - inset, product.bottom() - 1 - inset);
        let ring = (x0..=x1)
            .flat_map(|x| [(x, y0), (x, y1)])
            .chain((y0 + 1..y1).flat_map(|y| [(x0, y), (x1, y)]));
        let mut near = Vec::new();
        let mut total = 0usize;
        for (x, y) in ring {
            let i = (y as usize * w as usize + x as usize) * n;
            let f = flat_on_white(&pixels[i..i + n]);
            total += 1;
            let d = (0..3).map(|c| f[c].abs_diff(bg[c])).max().unwrap_or(0);
            let spread = f.iter().max().unwrap_or(&0) - f.iter().min().unwrap_or(&0);
            if (1..=NEAR).contains(&d) && spread <= SPREAD {
                near.push(d);
            }
        }
        (total > 0 && near.len() as f64 >= total as f64 * SHARE).then_some(near)
    };
    let mut near = ring_near(INSETS[0])?;
    ring_near(inner)?;
    near.sort_unstable();
    near.get(near.len() * 9 / 10).copied()
}

/// A frame or line drawn around the picture: sides of the product's box that are an
/// unbroken line (nearly every pixel off the background) with the background again a few
/// pixels inside it. A product that fills its box (a book, a boxed item) has no
/// background inside its edge; a product that touches its box does so at a few places.
/// Returns how many sides are framed (a frame is 3 or 4; a rule line 1).
pub fn framed_sides(
    pixels: &[u8],
    w: u32,
    h: u32,
    channels: u8,
    bg: Background,
    product: Rect,
) -> u8 {
    /// The line's share of a side; the share of a row inside it that must be the
    /// background itself (within BACKGROUND_DIFF: a pale product face is not background);
    /// where the line may start (JPEG ringing can widen the box by a pixel or two).
    const LINE_SHARE: f64 = 0.9;
    const INSIDE_SHARE: f64 = 0.6;
    const BACKGROUND_DIFF: u8 = 3;
    const START: u32 = 3;
    // A line is at most 1.5% of the canvas thick (at least 12 px).
    let max_line = (w.max(h) * 3 / 200).max(12);
    if product.w <= 4 * max_line || product.h <= 4 * max_line {
        return 0;
    }
    let n = usize::from(channels);
    let px = |x: u32, y: u32| {
        let i = (y as usize * w as usize + x as usize) * n;
        &pixels[i..i + n]
    };
    let seen = |x: u32, y: u32| is_seen(px(x, y), bg, false, VISIBLE_DIFF);
    let clear = |x: u32, y: u32| !is_seen(px(x, y), bg, false, BACKGROUND_DIFF);
    // The share of pixels along row `y` (or column `x`) of the box, ends excluded, that
    // pass `test`.
    let row = |y: u32, test: &dyn Fn(u32, u32) -> bool| {
        let xs = product.x + max_line..product.right() - max_line;
        xs.clone().filter(|&x| test(x, y)).count() as f64 / xs.len() as f64
    };
    let col = |x: u32, test: &dyn Fn(u32, u32) -> bool| {
        let ys = product.y + max_line..product.bottom() - max_line;
        ys.clone().filter(|&y| test(x, y)).count() as f64 / ys.len() as f64
    };
    type Share<'a> = &'a dyn Fn(u32, &dyn Fn(u32, u32) -> bool) -> f64;
    // From the box's edge inward: the line (starting within START), then the background
    // itself again within the line's largest thickness.
    let framed = |share_at: Share| -> bool {
        let Some(start) = (0..START).find(|&d| share_at(d, &seen) >= LINE_SHARE) else {
            return false;
        };
        (start + 1..=start + max_line).any(|d| share_at(d, &clear) >= INSIDE_SHARE)
    };
    let (x0, y0, x1, y1) = (
        product.x,
        product.y,
        product.right() - 1,
        product.bottom() - 1,
    );
    [
        framed(&|d, t| row(y0 + d, t)),
        framed(&|d, t| row(y1 - d, t)),
        framed(&|d, t| col(x0 + d, t)),
        framed(&|d, t| col(x1 - d, t)),
    ]
    .iter()
    .filter(|&&f| f)
    .count() as u8
}

fn flat_on_white(p: &[u8]) -> [u8; 3] {
    let a = u32::from(p.get(3).copied().unwrap_or(255));
    [0, 1, 2].map(|c| ((u32::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8)
}

/// The outermost ring of a `w` x `h` image, each pixel once.
fn edge_ring(w: u32, h: u32) -> impl Iterator<Item = (u32, u32)> + Clone {
    let top = (0..w).map(|x| (x, 0));
    let bottom = (0..w).filter(move |_| h > 1).map(move |x| (x, h - 1));
    let sides = (1..h.saturating_sub(1))
        .flat_map(move |y| std::iter::once((0, y)).chain((w > 1).then_some((w - 1, y))));
    top.chain(bottom).chain(sides)
}

/// How clean the background of a finished image is: everything outside the product's
/// visible box grown by `margin`, measured against the spec's background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackgroundStats {
    /// Largest difference from the background (levels; alpha on transparency).
    pub worst: u8,
    /// Share of the background pixels more than the tolerance off.
    pub off_share: f64,
    /// Largest difference on the outermost ring.
    pub edge_worst: u8,
    /// Whether pixels off the background connect the edge to the product: a shadow or
    /// backdrop running to the edge, or a product cut off by it.
    pub reaches_edge: bool,
}

/// Measures the background (see [`BackgroundStats`]) of RGB or RGBA pixels.
#[allow(clippy::too_many_arguments)]
pub fn background_stats(
    pixels: &[u8],
    w: u32,
    h: u32,
    channels: u8,
    bg: Background,
    product: Option<Rect>,
    margin: u32,
    tolerance: u8,
) -> BackgroundStats {
    let n = usize::from(channels);
    let dist = |p: &[u8]| -> u8 {
        let a = u32::from(p.get(3).copied().unwrap_or(255));
        match bg {
            Background::Transparent => a as u8,
            Background::Color(c) => (0..3)
                .map(|i| ((u32::from(p[i].abs_diff(c[i])) * a + 127) / 255) as u8)
                .max()
                .unwrap_or(0),
        }
    };
    // The product box grown by the margin, as half-open ranges; empty when no product.
    let (ex0, ey0, ex1, ey1) = product.map_or((0, 0, 0, 0), |r| {
        (
            r.x.saturating_sub(margin) as usize,
            r.y.saturating_sub(margin) as usize,
            (r.right() + margin).min(w) as usize,
            (r.bottom() + margin).min(h) as usize,
        )
    });
    let row_len = w as usize * n;
    let (worst, off, count) = pixels
        .par_chunks(row_len)
        .enumerate()
        .map(|(y, row)| {
            let spans: [&[u8]; 2] = if (ey0..ey1).contains(&y) {
                [&row[..ex0 * n], &row[ex1 * n..]]
            } else {
                [row, &[]]
            };
            let (mut worst, mut off, mut count) = (0u8, 0u64, 0u64);
            for span in spans {
                let mut tally = |d: u8| {
                    worst = worst.max(d);
                    off += u64::from(d > tolerance);
                };
                match (n, bg) {
                    // The common case (an opaque JPEG on a colour), kept free of the alpha
                    // arithmetic: this loop is most of `check`'s time.
                    (3, Background::Color(c)) => span.chunks_exact(3).for_each(|p| {
                        tally(
                            p[0].abs_diff(c[0])
                                .max(p[1].abs_diff(c[1]))
                                .max(p[2].abs_diff(c[2])),
                        )
                    }),
                    _ => span.chunks_exact(n).for_each(|p| tally(dist(p))),
                }
                count += (span.len() / n) as u64;
            }
            (worst, off, count)
        })
        .reduce(|| (0, 0, 0), |a, b| (a.0.max(b.0), a.1 + b.1, a.2 + b.2));
    let at = |x: usize, y: usize| &pixels[(y * w as usize + x) * n..(y * w as usize + x + 1) * n];
    let edge_worst = edge_ring(w, h)
        .map(|(x, y)| dist(at(x as usize, y as usize)))
        .max()
        .unwrap_or(0);
    // Only when something off the background sits on the edge: follow it inwards through
    // off-background pixels and see whether it reaches the product.
    let reaches_edge = match product {
        Some(r) if edge_worst > tolerance => {
            let (wu, hu) = (w as usize, h as usize);
            let inside = |x: usize, y: usize| {
                (r.x as usize..r.right() as usize).contains(&x)
                    && (r.y as usize..r.bottom() as usize).contains(&y)
            };
            // A bit per pixel and one u32 per queued pixel: an off-white 100 MP backdrop
            // costs 12.5 MB of marks, not a byte per pixel plus two words per queued one.
            let mut seen = vec![0u64; (wu * hu).div_ceil(64)];
            let mut mark = |i: usize| {
                let fresh = seen[i / 64] & (1 << (i % 64)) == 0;
                seen[i / 64] |= 1 << (i % 64);
                fresh
            };
            let mut stack: Vec<u32> = Vec::new();
            for (x, y) in edge_ring(w, h) {
                let i = y as usize * wu + x as usize;
                if dist(at(x as usize, y as usize)) > tolerance && mark(i) {
                    stack.push(i as u32);
                }
            }
            let mut found = false;
            while let Some(i) = stack.pop() {
                let (x, y) = (i as usize % wu, i as usize / wu);
                if inside(x, y) {
                    found = true;
                    break;
                }
                let next = [
                    (x.wrapping_sub(1), y),
                    (x + 1, y),
                    (x, y.wrapping_sub(1)),
                    (x, y + 1),
                ];
                for (nx, ny) in next {
                    if nx < wu && ny < hu && dist(at(nx, ny)) > tolerance && mark(ny * wu + nx) {
                        stack.push((ny * wu + nx) as u32);
                    }
                }
            }
            found
        }
        _ => false,
    };
    BackgroundStats {
        worst,
        off_share: if count == 0 {
            0.0
        } else {
            off as f64 / count as f64
        },
        edge_worst,
        reaches_edge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Background = Background::Color([255, 255, 255]);

    /// 200x200 white RGB with a dark 100x100 product in the middle, then `paint` applied.
    fn canvas(paint: impl Fn(u32, u32, &mut [u8])) -> Vec<u8> {
        let mut px = vec![255u8; 200 * 200 * 3];
        for y in 0..200 {
            for x in 0..200 {
                let p = &mut px[(y * 200 + x) as usize * 3..][..3];
                if (50..150).contains(&x) && (50..150).contains(&y) {
                    p.copy_from_slice(&[30, 30, 30]);
                }
                paint(x, y, p);
            }
        }
        px
    }

    fn stats(px: &[u8]) -> BackgroundStats {
        let product = visible_box(px, 200, 3, WHITE, false);
        background_stats(px, 200, 200, 3, WHITE, product, 10, 0)
    }

    #[test]
    fn clean_background_measures_clean() {
        let s = stats(&canvas(|_, _, _| {}));
        assert_eq!(
            (s.worst, s.off_share, s.edge_worst, s.reaches_edge),
            (0, 0.0, 0, false)
        );
    }

    #[test]
    fn a_stray_off_white_patch_far_from_the_product_is_found() {
        let s = stats(&canvas(|x, y, p| {
            if x < 20 && (90..100).contains(&y) {
                p.copy_from_slice(&[250, 250, 250]);
            }
        }));
        assert_eq!(s.worst, 5);
        assert!(s.off_share > 0.0 && s.off_share < 0.02, "{s:?}");
        // It touches the left edge but not the product: not a shadow to the edge.
        assert_eq!((s.edge_worst, s.reaches_edge), (5, false));
    }

    #[test]
    fn a_faint_shadow_from_the_product_to_the_edge_is_followed() {
        let s = stats(&canvas(|x, y, p| {
            if y >= 150 && (80..120).contains(&x) {
                p.copy_from_slice(&[249, 249, 249]);
            }
        }));
        assert!(s.reaches_edge, "{s:?}");
    }

    #[test]
    fn the_backdrop_colour_is_read_from_the_edge() {
        let px = canvas(|x, y, p| {
            if !((50..150).contains(&x) && (50..150).contains(&y)) {
                p.copy_from_slice(&[240, 241, 242]);
            }
        });
        assert_eq!(backdrop_colour(&px, 200, 200, 3), Some([240, 241, 242]));
    }
}
