//! Colour fidelity: the product's colours in the written file against the source's, each
//! read through its own profile, as CIEDE2000 (docs/rules.md, house-color-fidelity).
//!
//! The source's side is taken at decode, from the numbers as stored and the source's own
//! profile, never from what the render path made of them: a profile ignored, applied twice
//! or misnamed on the way shows as a difference. It is kept small: the source reduced to a
//! grid of cells (96 along its long side), each the mean of its pixels. After encoding,
//! the written file is read through its embedded profile (untagged: sRGB) and sampled over
//! the same cells where the product landed. Only cells well inside the product count: not
//! the matte edge, where resizing, chroma subsampling and flattening legitimately mix in the
//! background, and not the backdrop a sweep key or an enclosed-area decision replaced. And
//! only flat ones: over fine detail the mean of the numbers is not the mean of the colours,
//! and resizing moves it where saturated detail clips. `shelfready check` has no source and
//! runs no such check.

use image::metadata::Orientation;
use image::DynamicImage;
use moxcms::{ColorProfile, DataColorSpace, Layout, RenderingIntent, TransformOptions};
use palette::color_difference::Ciede2000;
use palette::white_point::D65;
use palette::{IntoColor, Lab, Srgb};
use rayon::prelude::*;

use super::analyse::Rect;

mod compare;
pub use compare::{compare, ColourFacts, Fidelity};

/// Cells along the source's long side: enough for hundreds of cells on a thin product (a
/// rocket), few enough that a cell spans a dozen pixels of the canvas or more, over which
/// JPEG and WebP noise averages out (docs/rules.md, house-color-fidelity).
const GRID_CELLS: u32 = 96;
/// A cell is at least this many source pixels a side: a mean of fewer is all grain.
const MIN_CELL_SIDE: u32 = 4;
/// Fewer product cells than this and the product is too small to judge.
pub const MIN_CELLS: usize = 20;
/// A cell is flat when no sample's standard deviation in it is above this (0-1 scale; 0.06
/// is 15 of 255 levels, several times a camera's grain). Only flat cells are compared: in
/// a textured one the mean of the stored numbers, taken through the profile, is not the
/// mean of the colours, and resizing and chroma subsampling move the mean of saturated fine
/// detail where it clips.
const FLAT_SPREAD: f32 = 0.06;

/// The part of a cell `a..b` that is measured, in the source and in the written file
/// alike: all but an eighth at each end. Resizing reaches a pixel or two across a cell's
/// edge, and a label's edge next door must not count; a smaller middle holds fewer pixels
/// of the file, whose JPEG or WebP noise then no longer averages out.
fn middle(a: u32, b: u32) -> (u32, u32) {
    let d = (b - a) / 8;
    (a + d, b - d)
}

/// Whether row `i` of a cell's `n` measured rows is read: a quarter of them, in a pattern
/// counted from both ends (rows 0, 7, 8, 15, 16, ... and their mirror images). A quarter
/// of the reading of a photo of many megapixels, where every row would cost 5% of
/// `process`'s time; the rows read sit evenly about the middle (a shaded cell's mean is its
/// middle's), and two alternating rows are both among them, so one-pixel stripes read as
/// the pattern they are, not as plain. Short cells are read whole.
fn sampled(i: u32, n: u32) -> bool {
    let j = i.min(n - 1 - i);
    n <= 16 || j.is_multiple_of(8) || j % 8 == 7
}

/// One cell of the source's grid.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cell {
    /// Its mean colour, CIELAB (D65).
    lab: [f32; 3],
    /// Plain enough to compare.
    flat: bool,
}

/// The source's colours, cell by cell, in the oriented frame's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceColours {
    width: u32,
    height: u32,
    /// Cell edges: `xs[i]..xs[i + 1]` is column `i`; the last edge is the width.
    xs: Vec<u32>,
    ys: Vec<u32>,
    /// Row-major, one per cell.
    cells: Vec<Cell>,
}

/// Cell edges along a side of `len` pixels cut into `n` near-equal parts.
fn edges(len: u32, n: u32) -> Vec<u32> {
    (0..=n)
        .map(|k| (u64::from(k) * u64::from(len) / u64::from(n)) as u32)
        .collect()
}

/// The grid over a `w` x `h` image: square-ish cells, `GRID_CELLS` along the long side.
fn grid(w: u32, h: u32) -> (Vec<u32>, Vec<u32>) {
    let long = w.max(h);
    let n = (long / MIN_CELL_SIDE).clamp(1, GRID_CELLS);
    let cell = f64::from(long) / f64::from(n);
    let count = |side: u32| ((f64::from(side) / cell).round() as u32).clamp(1, side.max(1));
    (edges(w, count(w)), edges(h, count(h)))
}

/// One cell of the source: the mean of each sample (0-1), and the largest standard
/// deviation among them.
#[derive(Debug, Clone, Copy, Default)]
struct CellStats {
    mean: [f32; 4],
    spread: f32,
}

/// Per cell, the mean and spread of the first `USED` of `CH` samples a pixel, scaled to 0-1
/// by `max`. `value` widens one sample.
fn cell_stats<T, const CH: usize, const USED: usize>(
    samples: &[T],
    width: u32,
    (xs, ys): (&[u32], &[u32]),
    max: f32,
    value: impl Fn(T) -> u32 + Sync,
) -> Vec<CellStats>
where
    T: Copy + Sync,
{
    let row_len = width as usize * CH;
    let columns: Vec<(u32, u32)> = xs.windows(2).map(|c| middle(c[0], c[1])).collect();
    ys.par_windows(2)
        .flat_map_iter(|r| {
            let r = middle(r[0], r[1]);
            let mut sums = vec![([0u64; USED], [0u64; USED]); columns.len()];
            let n = r.1 - r.0;
            for y in (r.0..r.1).filter(|y| sampled(y - r.0, n)) {
                let start = y as usize * row_len;
                let Some(row) = samples.get(start..start + row_len) else {
                    continue;
                };
                for ((s, q), c) in sums.iter_mut().zip(&columns) {
                    let segment = &row[c.0 as usize * CH..c.1 as usize * CH];
                    // In runs of 64 pixels, whose sums and squares fit 32 bits (64 x 4095²),
                    // every sample of a pixel alike: the loop then runs on vector lanes.
                    for run in segment.chunks(64 * CH) {
                        let mut sum = [0u32; CH];
                        let mut sq = [0u32; CH];
                        for p in run.chunks_exact(CH) {
                            for k in 0..CH {
                                let v = value(p[k]);
                                sum[k] += v;
                                sq[k] += v * v;
                            }
                        }
                        for k in 0..USED {
                            s[k] += u64::from(sum[k]);
                            q[k] += u64::from(sq[k]);
                        }
                    }
                }
            }
            let rows = u64::from((0..n).filter(|&i| sampled(i, n)).count() as u32);
            sums.into_iter().zip(&columns).map(move |((s, q), c)| {
                let n = (rows * u64::from(c.1 - c.0)).max(1) as f64;
                let mut cell = CellStats::default();
                for k in 0..USED {
                    let m = s[k] as f64 / n;
                    let var = (q[k] as f64 / n - m * m).max(0.0);
                    cell.mean[k] = (m / f64::from(max)) as f32;
                    cell.spread = cell.spread.max((var.sqrt() / f64::from(max)) as f32);
                }
                cell
            })
        })
        .collect()
}

/// What the cell means are, before the profile turns them into colour.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Samples {
    Grey,
    Rgb,
    Cmyk,
}

impl SourceColours {
    /// The colours of a decoded source, as stored (before any conversion and before
    /// orientation), through its embedded profile `icc`. A profile that does not fit the
    /// pixels, or cannot be read, leaves them sRGB, as decoding does. `None` for sample
    /// layouts decoding never produces.
    pub(crate) fn of_image(img: &DynamicImage, icc: Option<&[u8]>) -> Option<SourceColours> {
        SourceColours::on_grid(img, icc, grid(img.width(), img.height()))
    }

    /// [`SourceColours::of_image`] over the cells `g`.
    fn on_grid(
        img: &DynamicImage,
        icc: Option<&[u8]>,
        g: (Vec<u32>, Vec<u32>),
    ) -> Option<SourceColours> {
        use DynamicImage as D;
        let (w, h) = (img.width(), img.height());
        let (xs, ys) = (&g.0[..], &g.1[..]);
        let wide = |v: u16| u32::from(v) >> 4;
        let float = |v: f32| (v.clamp(0.0, 1.0) * 4095.0).round() as u32;
        let (stats, samples) = match img {
            D::ImageLuma8(i) => (
                cell_stats::<_, 1, 1>(i.as_raw(), w, (xs, ys), 255.0, u32::from),
                Samples::Grey,
            ),
            D::ImageLumaA8(i) => (
                cell_stats::<_, 2, 1>(i.as_raw(), w, (xs, ys), 255.0, u32::from),
                Samples::Grey,
            ),
            D::ImageRgb8(i) => (
                cell_stats::<_, 3, 3>(i.as_raw(), w, (xs, ys), 255.0, u32::from),
                Samples::Rgb,
            ),
            D::ImageRgba8(i) => (
                cell_stats::<_, 4, 3>(i.as_raw(), w, (xs, ys), 255.0, u32::from),
                Samples::Rgb,
            ),
            // Twelve bits are plenty for a mean; the sums then stay in 32 bits a segment.
            D::ImageLuma16(i) => (
                cell_stats::<_, 1, 1>(i.as_raw(), w, (xs, ys), 4095.0, wide),
                Samples::Grey,
            ),
            D::ImageLumaA16(i) => (
                cell_stats::<_, 2, 1>(i.as_raw(), w, (xs, ys), 4095.0, wide),
                Samples::Grey,
            ),
            D::ImageRgb16(i) => (
                cell_stats::<_, 3, 3>(i.as_raw(), w, (xs, ys), 4095.0, wide),
                Samples::Rgb,
            ),
            D::ImageRgba16(i) => (
                cell_stats::<_, 4, 3>(i.as_raw(), w, (xs, ys), 4095.0, wide),
                Samples::Rgb,
            ),
            D::ImageRgb32F(i) => (
                cell_stats::<_, 3, 3>(i.as_raw(), w, (xs, ys), 4095.0, float),
                Samples::Rgb,
            ),
            D::ImageRgba32F(i) => (
                cell_stats::<_, 4, 3>(i.as_raw(), w, (xs, ys), 4095.0, float),
                Samples::Rgb,
            ),
            _ => return None,
        };
        Some(SourceColours::from_stats(w, h, g, &stats, samples, icc))
    }

    /// The colours of a CMYK source (4 samples a pixel, 0 = no ink, as stored) through its
    /// CMYK profile. `None` when the profile cannot convert them; decoding then fails too.
    pub(crate) fn of_cmyk(w: u32, h: u32, cmyk: &[u8], icc: &[u8]) -> Option<SourceColours> {
        let g = grid(w, h);
        let stats = cell_stats::<_, 4, 4>(cmyk, w, (&g.0, &g.1), 255.0, u32::from);
        let profile = ColorProfile::new_from_slice(icc).ok()?;
        let means: Vec<[f32; 4]> = stats.iter().map(|c| c.mean).collect();
        let rgb = through_profile(&profile, &means, Samples::Cmyk)?;
        Some(SourceColours::new(w, h, g, &stats, rgb))
    }

    fn new(
        width: u32,
        height: u32,
        (xs, ys): (Vec<u32>, Vec<u32>),
        stats: &[CellStats],
        rgb: Vec<[f32; 3]>,
    ) -> SourceColours {
        let cells = stats
            .iter()
            .zip(rgb)
            .map(|(s, c)| {
                let flat = s.spread <= FLAT_SPREAD;
                // A cell with detail is never compared: its colour is not worth the time.
                Cell {
                    lab: if flat { lab(c) } else { [0.0; 3] },
                    flat,
                }
            })
            .collect();
        SourceColours {
            width,
            height,
            xs,
            ys,
            cells,
        }
    }

    fn from_stats(
        width: u32,
        height: u32,
        grid: (Vec<u32>, Vec<u32>),
        stats: &[CellStats],
        samples: Samples,
        icc: Option<&[u8]>,
    ) -> SourceColours {
        let means: Vec<[f32; 4]> = stats.iter().map(|c| c.mean).collect();
        let means = &means[..];
        let profile = icc.and_then(|b| ColorProfile::new_from_slice(b).ok());
        // Which profile applies, as decoding decides it (color::image_to_srgb): an RGB
        // profile converts RGB and grey pixels, a grey profile grey ones; anything else is
        // taken as sRGB.
        let converted = profile.and_then(|p| match (p.color_space, samples) {
            (DataColorSpace::Rgb, Samples::Grey) => {
                let grey: Vec<[f32; 4]> = means.iter().map(|m| [m[0], m[0], m[0], 0.0]).collect();
                through_profile(&p, &grey, Samples::Rgb)
            }
            (DataColorSpace::Rgb, Samples::Rgb) | (DataColorSpace::Gray, Samples::Grey) => {
                through_profile(&p, means, samples)
            }
            _ => None,
        });
        let rgb = converted.unwrap_or_else(|| {
            means
                .iter()
                .map(|m| match samples {
                    Samples::Grey => [m[0]; 3],
                    _ => [m[0], m[1], m[2]],
                })
                .collect()
        });
        SourceColours::new(width, height, grid, stats, rgb)
    }

    /// The grid as the image is shown: `orientation` applied, as decoding applies it to
    /// the pixels.
    pub(crate) fn oriented(self, orientation: Orientation) -> SourceColours {
        use Orientation as O;
        match orientation {
            O::NoTransforms => self,
            O::FlipHorizontal => self.flip_h(),
            O::FlipVertical => self.flip_v(),
            O::Rotate180 => self.flip_h().flip_v(),
            O::Rotate90 => self.transpose().flip_h(),
            O::Rotate270 => self.transpose().flip_v(),
            O::Rotate90FlipH => self.transpose(),
            O::Rotate270FlipH => self.transpose().flip_h().flip_v(),
        }
    }

    fn columns(&self) -> usize {
        self.xs.len() - 1
    }

    fn flip_h(mut self) -> SourceColours {
        let w = self.width;
        self.xs = self.xs.iter().rev().map(|&x| w - x).collect();
        let n = self.columns();
        self.cells.chunks_exact_mut(n).for_each(<[_]>::reverse);
        self
    }

    fn flip_v(mut self) -> SourceColours {
        let h = self.height;
        self.ys = self.ys.iter().rev().map(|&y| h - y).collect();
        let n = self.columns();
        self.cells = self
            .cells
            .chunks_exact(n)
            .rev()
            .flatten()
            .copied()
            .collect();
        self
    }

    fn transpose(self) -> SourceColours {
        let (nx, ny) = (self.columns(), self.ys.len() - 1);
        let cells = (0..nx)
            .flat_map(|i| (0..ny).map(move |j| j * nx + i))
            .map(|k| self.cells[k])
            .collect();
        SourceColours {
            width: self.height,
            height: self.width,
            xs: self.ys,
            ys: self.xs,
            cells,
        }
    }

    /// The cells to compare: flat, and well inside the product of the cut-out (its box
    /// `rect` in this frame, its straight-alpha RGBA `pixels`): every pixel opaque, and so
    /// are the eight cells around. Shared by every spec's output of the source.
    pub fn product_cells(self, rect: Rect, pixels: &[u8]) -> ColourReference {
        let (nx, ny) = (self.columns(), self.ys.len() - 1);
        let row_len = rect.w as usize * 4;
        let opaque: Vec<bool> = self
            .ys
            .par_windows(2)
            .flat_map_iter(|r| {
                let rows_inside = r[0] >= rect.y && r[1] <= rect.bottom();
                self.xs.windows(2).map(move |c| {
                    rows_inside
                        && c[0] >= rect.x
                        && c[1] <= rect.right()
                        && (r[0]..r[1]).all(|y| {
                            let start = (y - rect.y) as usize * row_len;
                            let (a, b) = ((c[0] - rect.x) as usize, (c[1] - rect.x) as usize);
                            pixels
                                .get(start + a * 4..start + b * 4)
                                .is_some_and(all_opaque)
                        })
                })
            })
            .collect();
        let at = |i: i64, j: i64| {
            i >= 0
                && j >= 0
                && (i as usize) < nx
                && (j as usize) < ny
                && opaque[j as usize * nx + i as usize]
        };
        let cells = (0..ny * nx)
            .filter(|&k| {
                let (i, j) = ((k % nx) as i64, (k / nx) as i64);
                self.cells[k].flat && (-1..=1).all(|dj| (-1..=1).all(|di| at(i + di, j + dj)))
            })
            .map(|k| k as u32)
            .collect();
        ColourReference {
            colours: self,
            cells,
        }
    }
}

/// Whether every pixel of straight-alpha RGBA `px` is opaque: the AND of every alpha is
/// 255. Two pixels a word, and no early exit, so the loop runs on vector lanes.
fn all_opaque(px: &[u8]) -> bool {
    const ALPHAS: u64 = 0xFF00_0000_FF00_0000;
    let words = px.chunks_exact(8);
    let tail = words
        .remainder()
        .chunks_exact(4)
        .fold(255, |all, p| all & p[3]);
    let all = words.fold(ALPHAS, |all, w| {
        all & u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
    });
    all & ALPHAS == ALPHAS && tail == 255
}

/// Cell means (0-1, in the layout `samples` names) through `profile` to sRGB, clipped to
/// its gamut as an 8-bit conversion clips: what the best sRGB file can show. `None` when
/// the profile cannot convert them.
fn through_profile(
    profile: &ColorProfile,
    means: &[[f32; 4]],
    samples: Samples,
) -> Option<Vec<[f32; 3]>> {
    let (layout, n) = match samples {
        Samples::Grey => (Layout::Gray, 1),
        Samples::Rgb => (Layout::Rgb, 3),
        // moxcms takes four-channel CMYK through the RGBA layout.
        Samples::Cmyk => (Layout::Rgba, 4),
    };
    let options = TransformOptions {
        rendering_intent: RenderingIntent::Perceptual,
        ..TransformOptions::default()
    };
    // Ten bits (a quarter of an 8-bit level) are finer than any ΔE that matters, and the
    // transform's tables take a fifth of the time to build that a 32-bit float one's do
    // (1.5 ms against 6.5 ms), once per source.
    let transform = profile
        .create_transform_10bit(layout, srgb(), Layout::Rgb, options)
        .ok()?;
    let input: Vec<u16> = means
        .iter()
        .flat_map(|m| {
            m[..n]
                .iter()
                .map(|&v| (v.clamp(0.0, 1.0) * TEN_BITS).round() as u16)
        })
        .collect();
    let mut out = vec![0u16; means.len() * 3];
    transform.transform(&input, &mut out).ok()?;
    Some(
        out.chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]].map(|v| f32::from(v) / TEN_BITS))
            .collect(),
    )
}

/// The largest 10-bit sample.
const TEN_BITS: f32 = 1023.0;

fn srgb() -> &'static ColorProfile {
    static P: std::sync::OnceLock<ColorProfile> = std::sync::OnceLock::new();
    P.get_or_init(ColorProfile::new_srgb)
}

/// sRGB-encoded (0-1) to CIELAB, D65.
fn lab(rgb: [f32; 3]) -> [f32; 3] {
    let l: Lab<D65, f32> = Srgb::new(rgb[0], rgb[1], rgb[2]).into_linear().into_color();
    [l.l, l.a, l.b]
}

fn delta_e(a: [f32; 3], b: [f32; 3]) -> f32 {
    let lab = |c: [f32; 3]| Lab::<D65, f32>::new(c[0], c[1], c[2]);
    lab(a).difference(lab(b))
}

/// A source's colours with the cells that count: what every spec's output is compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct ColourReference {
    colours: SourceColours,
    /// Product cells, as indices into the grid.
    cells: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w` x `h` image whose red is its column and green its row: a cell read from the
    /// wrong place shows, and any rows read evenly about a cell's middle give its mean.
    fn ramp(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([x as u8, y as u8, 100])
        }))
    }

    #[test]
    fn the_grid_turns_with_the_picture() {
        use Orientation as O;
        let stored = ramp(230, 170);
        for o in [
            O::NoTransforms,
            O::Rotate90,
            O::Rotate180,
            O::Rotate270,
            O::FlipHorizontal,
            O::FlipVertical,
            O::Rotate90FlipH,
            O::Rotate270FlipH,
        ] {
            let turned = SourceColours::of_image(&stored, None).unwrap().oriented(o);
            let mut shown = stored.clone();
            shown.apply_orientation(o);
            assert_eq!(
                (turned.width, turned.height),
                (shown.width(), shown.height())
            );
            // The same colour in every cell, read from the picture as shown.
            let direct =
                SourceColours::on_grid(&shown, None, (turned.xs.clone(), turned.ys.clone()))
                    .unwrap();
            assert!(turned.cells.iter().all(|c| c.flat), "{o:?}");
            assert!(turned == direct, "{o:?}");
        }
    }

    #[test]
    fn rows_read_sit_evenly_about_the_middle_and_take_both_of_two_alternating() {
        for n in 1..80u32 {
            let rows: Vec<u32> = (0..n).filter(|&i| sampled(i, n)).collect();
            let mirrored: Vec<u32> = rows.iter().rev().map(|&i| n - 1 - i).collect();
            assert_eq!(rows, mirrored, "{n}");
            assert!(n < 2 || rows.iter().any(|i| i % 2 == 1), "{n}: {rows:?}");
            // All of a short cell, about a quarter of a tall one.
            let quarter = f64::from(n) / 4.0;
            assert!(
                if n <= 16 {
                    rows.len() as u32 == n
                } else {
                    (rows.len() as f64 - quarter).abs() <= 2.0
                },
                "{n}: {rows:?}"
            );
        }
    }

    #[test]
    fn a_tagged_source_is_read_through_its_profile_and_clipped_to_srgb() {
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let flat = |c: [u8; 3]| {
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(64, 64, image::Rgb(c)))
        };
        let cell = |img: &DynamicImage, icc: Option<&[u8]>| {
            SourceColours::of_image(img, icc).unwrap().cells[0].lab
        };
        // A P3 colour sRGB can show: what decoding converts it to, within rounding.
        let mut converted = [200u8, 90, 60, 255];
        crate::pipeline::color::to_srgb_in_place(&p3, &mut converted).unwrap();
        let want = lab(converted.map(|v| f32::from(v) / 255.0)[..3]
            .try_into()
            .unwrap());
        let got = cell(&flat([200, 90, 60]), Some(&p3));
        assert!(delta_e(got, want) < 0.5, "{got:?} vs {want:?}");
        // The same numbers untagged are sRGB's, and visibly another colour.
        assert!(delta_e(cell(&flat([200, 90, 60]), None), want) > 3.0);
        // P3's red is past sRGB's: it counts as the sRGB red an output can hold.
        let red = cell(&flat([255, 0, 0]), Some(&p3));
        assert!(delta_e(red, lab([1.0, 0.0, 0.0])) < 0.5, "{red:?}");
    }

    #[test]
    fn only_flat_cells_inside_the_product_and_away_from_its_edge_count() {
        // 96 x 48 px: one cell per 4 px (24 x 12 cells). Left half plain, right half a
        // fine pattern; a clear band over the top quarter.
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(96, 48, |x, y| {
            let v = if x < 48 {
                120
            } else if (x + y) % 2 == 0 {
                20
            } else {
                230
            };
            image::Rgba([v, v, v, if y < 12 { 0 } else { 255 }])
        }));
        let colours = SourceColours::of_image(&img, None).unwrap();
        let pixels = img.to_rgba8().into_raw();
        let whole = Rect {
            x: 0,
            y: 0,
            w: 96,
            h: 48,
        };
        let r = colours.product_cells(whole, &pixels);
        let nx = 24;
        let counted: Vec<(usize, usize)> = r
            .cells
            .iter()
            .map(|&k| (k as usize % nx, k as usize / nx))
            .collect();
        // The plain columns but the grid's edge (1-11), the rows neither clear, next to
        // clear nor at the picture's edge (4-10). The pattern next door is opaque: column 11
        // counts.
        let want: Vec<(usize, usize)> = (4..=10)
            .flat_map(|j| (1..=11).map(move |i| (i, j)))
            .collect();
        assert_eq!(counted, want);
    }
}
