//! The written file's side of colour fidelity: the file read back, sampled where each of
//! the source's product cells landed, and the CIEDE2000 between them, as a mean and a 95th
//! percentile.

use std::sync::Arc;

use moxcms::{ColorProfile, DataColorSpace};
use rayon::prelude::*;

use super::{delta_e, lab, middle, through_profile, ColourReference, Samples, MIN_CELLS};
use crate::pipeline::analyse::Rect;
use crate::pipeline::render::Placement;

/// What verify needs to compare one output with its source: the reference, and where the
/// frame's pixels landed on the canvas.
#[derive(Debug, Clone)]
pub struct ColourFacts {
    reference: Arc<ColourReference>,
    /// Canvas x = `offset.0 + (frame x - origin.0) * scale.0`; likewise y.
    origin: (f64, f64),
    scale: (f64, f64),
    offset: (f64, f64),
}

impl ColourFacts {
    /// The mapping of `placement`, which put the cut-out `rect` (in the frame) on the canvas.
    pub fn new(reference: Arc<ColourReference>, rect: Rect, placement: &Placement) -> ColourFacts {
        ColourFacts {
            reference,
            origin: (f64::from(rect.x), f64::from(rect.y)),
            scale: (
                f64::from(placement.image_w) / f64::from(rect.w.max(1)),
                f64::from(placement.image_h) / f64::from(rect.h.max(1)),
            ),
            offset: (placement.image_x as f64, placement.image_y as f64),
        }
    }
}

/// A stretch of the canvas along one axis, in pixels: from, to.
type Span = (f64, f64);

/// How far the written file's product colours are from the source's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fidelity {
    /// Product cells compared.
    pub cells: usize,
    /// Mean and 95th percentile of CIEDE2000 over them; `None` under [`MIN_CELLS`].
    pub mean: Option<f64>,
    pub p95: Option<f64>,
}

/// The mean of `pixels` (8-bit, `CH` a pixel, the first three colour, `width` a row) over
/// the canvas box `x` by `y`, to whole pixels: the source's cell is plain, so a fraction
/// of a pixel at its edge changes nothing.
fn box_mean<const CH: usize>(pixels: &[u8], width: usize, x: Span, y: Span) -> [f32; 3] {
    let span = |(a, b): Span| {
        let lo = a.round() as usize;
        (lo, (b.round() as usize).max(lo + 1))
    };
    let ((x0, x1), (y0, y1)) = (span(x), span(y));
    let mut sum = [0u32; CH];
    let mut n = 0u32;
    for yy in y0..y1 {
        let Some(row) = pixels.get((yy * width + x0) * CH..(yy * width + x1) * CH) else {
            continue;
        };
        for p in row.chunks_exact(CH) {
            for k in 0..CH {
                sum[k] += u32::from(p[k]);
            }
        }
        n += (x1 - x0) as u32;
    }
    let n = n.max(1) as f32 * 255.0;
    [sum[0] as f32 / n, sum[1] as f32 / n, sum[2] as f32 / n]
}

/// Compares a written file's pixels (`width` x `height`, `channels` 3 or 4, read through
/// its embedded profile `icc`; untagged is sRGB) with the source over the product cells
/// that landed whole on the canvas.
pub fn compare(
    facts: &ColourFacts,
    pixels: &[u8],
    (width, height): (u32, u32),
    channels: u8,
    icc: Option<&[u8]>,
) -> Fidelity {
    let r = &facts.reference;
    let g = &r.colours;
    let nx = g.columns();
    let (w, h) = (f64::from(width), f64::from(height));
    let map = |v: u32, o: f64, s: f64, off: f64| off + (f64::from(v) - o) * s;
    let placed: Vec<(u32, Span, Span)> = r
        .cells
        .iter()
        .filter_map(|&k| {
            let (i, j) = (k as usize % nx, k as usize / nx);
            let (x0, x1) = middle(g.xs[i], g.xs[i + 1]);
            let (y0, y1) = middle(g.ys[j], g.ys[j + 1]);
            let x = (
                map(x0, facts.origin.0, facts.scale.0, facts.offset.0),
                map(x1, facts.origin.0, facts.scale.0, facts.offset.0),
            );
            let y = (
                map(y0, facts.origin.1, facts.scale.1, facts.offset.1),
                map(y1, facts.origin.1, facts.scale.1, facts.offset.1),
            );
            // Whole on the canvas, and a pixel or more each way.
            let inside = x.0 >= 0.0
                && y.0 >= 0.0
                && x.1 <= w
                && y.1 <= h
                && x.1 - x.0 >= 1.0
                && y.1 - y.0 >= 1.0;
            inside.then_some((k, x, y))
        })
        .collect();
    let means: Vec<[f32; 3]> = placed
        .par_iter()
        .map(|&(_, x, y)| match channels {
            4 => box_mean::<4>(pixels, width as usize, x, y),
            _ => box_mean::<3>(pixels, width as usize, x, y),
        })
        .collect();
    // The file's own profile, if it carries one other than the sRGB one outputs embed: a
    // wrong one shows.
    let profile = icc
        .filter(|b| *b != crate::pipeline::color::srgb_icc())
        .and_then(|b| ColorProfile::new_from_slice(b).ok());
    let rgb = profile
        .filter(|p| p.color_space == DataColorSpace::Rgb)
        .and_then(|p| {
            let m: Vec<[f32; 4]> = means.iter().map(|c| [c[0], c[1], c[2], 0.0]).collect();
            through_profile(&p, &m, Samples::Rgb)
        })
        .unwrap_or(means);
    let mut de: Vec<f32> = placed
        .par_iter()
        .zip(rgb.par_iter())
        .map(|(&(k, _, _), &c)| delta_e(lab(c), g.cells[k as usize].lab))
        .collect();
    let cells = de.len();
    if cells < MIN_CELLS {
        return Fidelity {
            cells,
            mean: None,
            p95: None,
        };
    }
    de.sort_by(f32::total_cmp);
    let mean = de.iter().map(|&v| f64::from(v)).sum::<f64>() / cells as f64;
    // Nearest rank: the smallest value at or above 95% of the cells.
    let rank = ((cells as f64 * 0.95).ceil() as usize).clamp(1, cells) - 1;
    Fidelity {
        cells,
        mean: Some(mean),
        p95: Some(f64::from(de[rank])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::fidelity::SourceColours;
    use image::DynamicImage;

    /// Reference and file alike: a plain 400 px square, half one colour and half another,
    /// placed 1:1 at (50, 50) on a 500 px canvas.
    fn two_halves(left: [u8; 3], right: [u8; 3], canvas: u32) -> Vec<u8> {
        let mut px = vec![255u8; (canvas * canvas * 3) as usize];
        for y in 50..450 {
            for x in 50..450 {
                let i = ((y * canvas + x) * 3) as usize;
                px[i..i + 3].copy_from_slice(if x < 250 { &left } else { &right });
            }
        }
        px
    }

    fn facts(left: [u8; 3], right: [u8; 3]) -> ColourFacts {
        let src = image::RgbaImage::from_fn(400, 400, |x, _| {
            let c = if x < 200 { left } else { right };
            image::Rgba([c[0], c[1], c[2], 255])
        });
        let rect = Rect {
            x: 0,
            y: 0,
            w: 400,
            h: 400,
        };
        let colours =
            SourceColours::of_image(&DynamicImage::ImageRgba8(src.clone()), None).unwrap();
        let reference = Arc::new(colours.product_cells(rect, src.as_raw()));
        let placement = Placement {
            image_x: 50,
            image_y: 50,
            image_w: 400,
            image_h: 400,
            ..Placement::default()
        };
        ColourFacts::new(reference, rect, &placement)
    }

    #[test]
    fn mean_and_95th_percentile_of_ciede2000_over_the_product() {
        let (red, teal) = ([200, 40, 45], [45, 160, 165]);
        let f = facts(red, teal);
        let same = compare(&f, &two_halves(red, teal, 500), (500, 500), 3, None);
        assert!(same.cells > 100, "{same:?}");
        assert!(
            same.mean.unwrap() < 1e-3 && same.p95.unwrap() < 1e-3,
            "{same:?}"
        );
        // The right half a little off: about half the cells are off by its difference, so
        // the mean is about half of it and the 95th percentile is all of it.
        let off = [60, 150, 170];
        let d = f64::from(delta_e(
            lab(off.map(|v| f32::from(v) / 255.0)),
            lab(teal.map(|v| f32::from(v) / 255.0)),
        ));
        let got = compare(&f, &two_halves(red, off, 500), (500, 500), 3, None);
        let (mean, p95) = (got.mean.unwrap(), got.p95.unwrap());
        assert!((p95 - d).abs() < 1e-3, "p95 {p95} vs {d}");
        assert!((mean / d - 0.5).abs() < 0.1, "mean {mean} vs {d}");
        // The file's own profile counts: the right numbers called Display P3 are not.
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let stamped = compare(&f, &two_halves(red, teal, 500), (500, 500), 3, Some(&p3));
        assert!(stamped.mean.unwrap() > 2.0, "{stamped:?}");
    }

    #[test]
    fn a_product_too_small_to_judge_is_not_judged() {
        let f = facts([200, 40, 45], [45, 160, 165]);
        // The canvas holds only a corner of the product: few cells land whole on it.
        let px = two_halves([200, 40, 45], [45, 160, 165], 500);
        let corner: Vec<u8> = (0..70)
            .flat_map(|y| px[y * 1500..y * 1500 + 210].to_vec())
            .collect();
        let got = compare(&f, &corner, (70, 70), 3, None);
        assert!(
            got.cells < MIN_CELLS && got.mean.is_none() && got.p95.is_none(),
            "{got:?}"
        );
    }
}
