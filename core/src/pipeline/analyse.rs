//! Analysis, once per source: where the product is, what is background, what is a speck.
//!
//! Cut-outs are read from alpha. Opaque photos on a plain sweep get a soft alpha key from
//! the sweep colour, so everything after analysis treats both as cut-outs.

use imageproc::region_labelling::{connected_components, Connectivity};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::key::{key_sweep, RowModel, SweepKey};
use super::marks::{self, Marks};
use super::measure::{alpha_or, unseen_ends};
use super::Frame;
use crate::spec::TreatAs;

/// Alpha at or above which a pixel counts as product when finding the box.
pub const ALPHA_THRESHOLD: u8 = 16;
/// An island smaller than this share of the largest one, and smaller than
/// [`SPECK_MAX_PIXELS`], is a speck.
const SPECK_AREA_RATIO: f64 = 0.005;
/// Islands of at least this many pixels are parts of the product (an accessory, the
/// second shoe), however small beside the largest.
const SPECK_MAX_PIXELS: u64 = 400;
/// An island whose most opaque pixel is below this is haze, whatever its size.
const SPECK_MAX_ALPHA: u8 = 128;
/// The analysis grid is at most this many cells on its long side.
const GRID_LONG_SIDE: u32 = 1024;

/// A pixel rectangle: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn right(&self) -> u32 {
        self.x + self.w
    }
    pub fn bottom(&self) -> u32 {
        self.y + self.h
    }
}

/// What kind of source this is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SourceKind {
    /// Has real transparency (a background remover's output).
    Cutout,
    /// Opaque, on a plain sweep: alpha was keyed from the sweep colour.
    Sweep {
        background: [u8; 3],
        /// Colour distance at or below which a pixel is pure background.
        key_low: u8,
        /// Colour distance at or above which a pixel is pure product.
        key_high: u8,
    },
    /// Opaque with a busy background: the whole frame is the product.
    Scene,
}

impl SourceKind {
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Cutout => "cutout",
            SourceKind::Sweep { .. } => "sweep",
            SourceKind::Scene => "scene",
        }
    }
}

/// What analysis found.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub kind: SourceKind,
    /// The product's box, specks excluded; `None` when nothing is visible.
    pub product: Option<Rect>,
    /// Separate product-sized items in it (islands at least a quarter of the largest): a
    /// pair or a set, or several products or views in one image.
    pub items: u8,
    /// Text, logos or badges beside the product.
    pub marks: Marks,
    /// Boxes of the islands dropped as specks.
    pub specks: Vec<Rect>,
    /// Edge RGB is stored multiplied by alpha (composited onto black), as some background
    /// removers write it; rendering divides it out before anything else.
    pub premultiplied_edges: bool,
    grid: Grid,
}

impl Analysis {
    /// True when the pixel lies in a cell of a dropped speck.
    pub fn in_speck(&self, x: u32, y: u32) -> bool {
        self.grid.dropped(x, y)
    }
}

/// The coarse cell grid used to label islands.
#[derive(Debug, Clone, Default)]
struct Grid {
    cell: u32,
    cols: u32,
    dropped: Vec<bool>,
}

impl Grid {
    fn dropped(&self, x: u32, y: u32) -> bool {
        if self.dropped.is_empty() {
            return false;
        }
        let i = (y / self.cell) as usize * self.cols as usize + (x / self.cell) as usize;
        self.dropped.get(i).copied().unwrap_or(false)
    }
}

/// What classifying a frame found: its kind, and what the later steps need from the pass.
pub struct Classified {
    pub kind: SourceKind,
    key: Option<SweepKey>,
    /// The alpha pass of a cut-out, reused to locate the product.
    alpha: Option<AlphaStats>,
}

impl Classified {
    /// How to key the frame's alpha, for a sweep photo.
    pub fn sweep_key(&self) -> Option<&SweepKey> {
        self.key.as_ref()
    }
}

/// Step 1 as a reviewer asked it: the source taken as a cut-out (its transparency however
/// little, or its backdrop keyed however uneven) or as a scene, or as its pixels tell.
pub fn classify_as(frame: &Frame, treat_as: Option<TreatAs>) -> Classified {
    match treat_as {
        None => classify(frame),
        Some(TreatAs::Scene) => Classified {
            kind: SourceKind::Scene,
            key: None,
            alpha: None,
        },
        Some(TreatAs::Cutout) if frame.source.has_alpha => Classified {
            kind: SourceKind::Cutout,
            key: None,
            alpha: Some(AlphaStats::of(frame)),
        },
        Some(TreatAs::Cutout) => match detect_sweep_with(frame, false) {
            Some((kind, key)) => Classified {
                kind,
                key: Some(key),
                alpha: None,
            },
            None => classify(frame),
        },
    }
}

/// Step 1: is this a cut-out, a photo on a plain sweep, or a busy scene? Reads the frame.
pub fn classify(frame: &Frame) -> Classified {
    // One pass over alpha serves both questions: is this a cut-out, and where is the product.
    let cutout_stats = frame
        .source
        .has_alpha
        .then(|| AlphaStats::of(frame))
        .filter(|s| s.clear as f64 >= (frame.pixels.len() / 4) as f64 * CUTOUT_MIN_CLEAR);
    match cutout_stats {
        Some(stats) => Classified {
            kind: SourceKind::Cutout,
            key: None,
            alpha: Some(stats),
        },
        None => match detect_sweep(frame) {
            Some((kind, key)) => Classified {
                kind,
                key: Some(key),
                alpha: None,
            },
            None => Classified {
                kind: SourceKind::Scene,
                key: None,
                alpha: None,
            },
        },
    }
}

/// Step 3 (after [`key_sweep`] for a sweep): where the product is, and which islands are
/// specks. Reads the frame's alpha.
pub fn locate(frame: &Frame, classified: Classified) -> Analysis {
    let kind = classified.kind;
    if kind == SourceKind::Scene {
        return Analysis {
            kind,
            product: Some(Rect {
                x: 0,
                y: 0,
                w: frame.width,
                h: frame.height,
            }),
            items: 1,
            marks: Marks::default(),
            specks: Vec::new(),
            premultiplied_edges: false,
            grid: Grid::default(),
        };
    }
    let stats = classified.alpha.unwrap_or_else(|| AlphaStats::of(frame));
    let (product, specks, grid, items, marks) = find_product(frame, &stats);
    Analysis {
        kind,
        product,
        items,
        marks,
        specks,
        premultiplied_edges: stats.edges.premultiplied() && kind == SourceKind::Cutout,
        grid,
    }
}

/// Step 3 for a finished picture (a file `check` reads): `frame`'s alpha says what is
/// product, as a cut-out's would.
pub fn locate_in_picture(frame: &Frame) -> Analysis {
    locate(
        frame,
        Classified {
            kind: SourceKind::Cutout,
            key: None,
            alpha: None,
        },
    )
}

/// Where a product runs into the source's own edge: cut off by the photo's frame, so part
/// of it is missing whatever is done to it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CutOff {
    /// Sides of the photo the product runs into (0-4).
    pub sides: u8,
    /// Its pixels on those sides, together.
    pub pixels: u32,
}

/// Which sides of the photo the product (not a scene's whole frame) runs into: sides its
/// box touches where at least 8 px, or 2% of the box's span, of the border row are solid
/// product (alpha at least 128). A soft edge or a speck grazing the border is not a cut.
pub fn cut_off(frame: &Frame, analysis: &Analysis) -> CutOff {
    let Some(r) = analysis
        .product
        .filter(|_| analysis.kind != SourceKind::Scene)
    else {
        return CutOff::default();
    };
    let (w, h) = (frame.width, frame.height);
    let solid =
        |x: u32, y: u32| frame.pixels[(y as usize * w as usize + x as usize) * 4 + 3] >= 128;
    let mut cut = CutOff::default();
    // Each side: whether the box touches it, and its border row (`true`: a row at `y`;
    // `false`: a column at `x`) along the box's span.
    let sides = [
        (r.y == 0, true, 0),
        (r.bottom() == h, true, h - 1),
        (r.x == 0, false, 0),
        (r.right() == w, false, w - 1),
    ];
    for (touches, row, at) in sides {
        if !touches {
            continue;
        }
        let (span, n) = if row {
            (
                r.w,
                (r.x..r.right()).filter(|&x| solid(x, at)).count() as u32,
            )
        } else {
            (
                r.h,
                (r.y..r.bottom()).filter(|&y| solid(at, y)).count() as u32,
            )
        };
        if n >= (span / 50).max(8) {
            cut.sides += 1;
            cut.pixels += n;
        }
    }
    // A cut-out whose canvas was trimmed to the product (a remover's "crop" option) runs
    // into three or four sides: nothing says a part is missing, and render adds the margin.
    if cut.sides >= 3 && analysis.kind == SourceKind::Cutout {
        return CutOff::default();
    }
    cut
}

/// The three steps in order (classify, key a sweep's alpha into the frame, locate), for
/// tests and benches; the per-source call runs them one by one.
pub fn analyse(frame: &mut Frame) -> Analysis {
    let classified = classify(frame);
    if let Some(key) = classified.sweep_key() {
        key_sweep(frame, key, None);
    }
    locate(frame, classified)
}

/// At least this share of pixels must be (nearly) clear for a source to be a cut-out; a
/// stray non-opaque pixel in a photo does not make it one.
const CUTOUT_MIN_CLEAR: f64 = 0.005;

/// Per-cell statistics gathered in one pass: how many pixels reach [`ALPHA_THRESHOLD`],
/// the most opaque one, and their exact extent as offsets inside the cell (so the product
/// box needs no second pass at full resolution). 16 bytes: a million cells stay small.
#[derive(Clone, Copy)]
struct Cell {
    count: u32,
    max_alpha: u8,
    x0: u16,
    y0: u16,
    x1: u16,
    y1: u16,
}

impl Default for Cell {
    fn default() -> Cell {
        Cell {
            count: 0,
            max_alpha: 0,
            x0: u16::MAX,
            y0: u16::MAX,
            x1: 0,
            y1: 0,
        }
    }
}

/// Edge statistics for detecting premultiplied colour.
#[derive(Clone, Copy, Default)]
struct EdgeStats {
    edge: u64,
    edge_dark: u64,
    opaque: u64,
    opaque_luma: u64,
}

impl EdgeStats {
    fn add(self, o: EdgeStats) -> EdgeStats {
        EdgeStats {
            edge: self.edge + o.edge,
            edge_dark: self.edge_dark + o.edge_dark,
            opaque: self.opaque + o.opaque,
            opaque_luma: self.opaque_luma + o.opaque_luma,
        }
    }

    /// Premultiplied edges never have a channel above alpha; straight ones of a product
    /// that is not itself near-black often do.
    fn premultiplied(&self) -> bool {
        let interior_luma = self.opaque_luma.checked_div(self.opaque).unwrap_or(0);
        self.edge >= 200 && interior_luma > 60 && self.edge_dark * 100 >= self.edge * 97
    }
}

/// What one pass over a frame's alpha learns.
struct AlphaStats {
    /// Side of a square grid cell in pixels.
    cell: u32,
    cols: u32,
    rows: u32,
    cells: Vec<Cell>,
    edges: EdgeStats,
    /// Pixels below [`ALPHA_THRESHOLD`].
    clear: u64,
}

impl AlphaStats {
    fn of(frame: &Frame) -> AlphaStats {
        let (w, h) = (frame.width, frame.height);
        // Offsets inside a cell are u16; past 67 million px a side the grid just grows.
        let cell = w
            .max(h)
            .div_ceil(GRID_LONG_SIDE)
            .clamp(1, u32::from(u16::MAX));
        let cols = w.div_ceil(cell);
        let rows = h.div_ceil(cell);
        let row_bytes = w as usize * 4;
        let cell_bytes = cell as usize * 4;
        // One band of cell rows per task; cells are walked as row slices, so no pixel
        // needs a division to find its cell.
        let mut cells = vec![Cell::default(); cols as usize * rows as usize];
        let bands: Vec<(EdgeStats, u64)> = frame
            .pixels
            .par_chunks(row_bytes * cell as usize)
            .zip(cells.par_chunks_mut(cols as usize))
            .map(|(pixels, cells)| {
                let mut edges = EdgeStats::default();
                let mut seen = 0u64;
                for (r, row) in pixels.chunks_exact(row_bytes).enumerate() {
                    let r = r as u16;
                    // The clear runs at both ends of a row (most of a cut-out's frame) add
                    // nothing: skip them a block at a time, then walk the cells between.
                    let (lead, trail) = unseen_ends(row, CLEAR_RUN * 4, all_clear);
                    let (lead, trail) = (lead * CLEAR_RUN, trail * CLEAR_RUN);
                    let end = (w as usize).saturating_sub(trail);
                    if lead >= end {
                        continue;
                    }
                    let (c0, c1) = (lead / cell as usize, end.div_ceil(cell as usize));
                    let row = &row[c0 * cell_bytes..];
                    for (c, span) in cells[c0..c1].iter_mut().zip(row.chunks(cell_bytes)) {
                        let (mut n, mut max_a, mut first, mut last) = (0u32, 0u8, u16::MAX, 0u16);
                        for (i, p) in span.chunks_exact(4).enumerate() {
                            let a = p[3];
                            if a >= ALPHA_THRESHOLD {
                                n += 1;
                                max_a = max_a.max(a);
                                first = first.min(i as u16);
                                last = i as u16;
                            }
                            if a == 255 {
                                edges.opaque += 1;
                                edges.opaque_luma += u64::from(
                                    (u32::from(p[0]) * 54
                                        + u32::from(p[1]) * 183
                                        + u32::from(p[2]) * 19)
                                        >> 8,
                                );
                            } else if (16..=240).contains(&a) {
                                edges.edge += 1;
                                if p[0].max(p[1]).max(p[2]) <= a.saturating_add(2) {
                                    edges.edge_dark += 1;
                                }
                            }
                        }
                        if n > 0 {
                            seen += u64::from(n);
                            c.count += n;
                            c.max_alpha = c.max_alpha.max(max_a);
                            c.x0 = c.x0.min(first);
                            c.x1 = c.x1.max(last);
                            c.y0 = c.y0.min(r);
                            c.y1 = r;
                        }
                    }
                }
                let px = (pixels.len() / 4) as u64;
                (edges, px - seen)
            })
            .collect();
        let edges = bands
            .iter()
            .fold(EdgeStats::default(), |acc, (s, _)| acc.add(*s));
        let clear = bands.iter().map(|b| b.1).sum();
        AlphaStats {
            cell,
            cols,
            rows,
            cells,
            edges,
            clear,
        }
    }
}

/// Pixels per block when skipping the clear ends of a row.
const CLEAR_RUN: usize = 16;

// `all_clear` ORs alphas: below a power of two, the OR is below it exactly when each is.
const _: () = assert!(ALPHA_THRESHOLD.is_power_of_two());

/// Whether every RGBA pixel of `block` is below [`ALPHA_THRESHOLD`] (unseen by the stats).
fn all_clear(block: &[u8]) -> bool {
    alpha_or(block) < ALPHA_THRESHOLD
}

/// What finding the product gave: its box, the specks dropped, their grid, and how many
/// separate product-sized items it is made of.
type Found = (Option<Rect>, Vec<Rect>, Grid, u8, Marks);

/// An island this share of the largest one (by solid pixels) is an item of its own.
const ITEM_SHARE: f64 = 0.25;

fn find_product(frame: &Frame, stats: &AlphaStats) -> Found {
    let (w, h) = (frame.width, frame.height);
    let AlphaStats {
        cell,
        cols,
        rows,
        ref cells,
        ..
    } = *stats;

    // Only the box of occupied cells is labelled (a product rarely spans the frame), in
    // the same row-major order as the whole grid, so islands get the same labels.
    let (cols_u, rows_u) = (cols as usize, rows as usize);
    let occupied_rows = |r: &usize| {
        cells[r * cols_u..(r + 1) * cols_u]
            .iter()
            .any(|c| c.count > 0)
    };
    let (Some(cy0), Some(cy1)) = (
        (0..rows_u).find(occupied_rows),
        (0..rows_u).rev().find(occupied_rows),
    ) else {
        return (None, Vec::new(), Grid::default(), 0, Marks::default());
    };
    // Row by row (the grid's order in memory), each row only searched outside the span
    // found so far.
    let (mut cx0, mut cx1) = (cols_u - 1, 0);
    for row in cells[cy0 * cols_u..(cy1 + 1) * cols_u].chunks_exact(cols_u) {
        if let Some(x) = row[..cx0].iter().position(|c| c.count > 0) {
            cx0 = x;
        }
        if let Some(x) = row[cx1 + 1..].iter().rposition(|c| c.count > 0) {
            cx1 += 1 + x;
        }
    }
    // Padded by one empty cell on every side: imageproc's labelling panics on a 1x1 grid,
    // and the border keeps every island off the edge.
    let (mw, mh) = ((cx1 - cx0 + 1) as u32, (cy1 - cy0 + 1) as u32);
    let mut mask = image::GrayImage::new(mw + 2, mh + 2);
    for y in cy0..=cy1 {
        for x in cx0..=cx1 {
            if cells[y * cols_u + x].count > 0 {
                mask.put_pixel(
                    (x - cx0) as u32 + 1,
                    (y - cy0) as u32 + 1,
                    image::Luma([255]),
                );
            }
        }
    }
    let labels = connected_components(&mask, Connectivity::Eight, image::Luma([0u8]));
    // Visits the occupied cells in grid order with their index, column, row and island.
    let labelled = labels.as_raw();
    let label_row = (mw + 2) as usize;
    let occupied = |visit: &mut dyn FnMut(&Cell, u32, u32, usize)| {
        for y in cy0..=cy1 {
            let cells_row = &cells[y * cols_u + cx0..=y * cols_u + cx1];
            let labels_row = &labelled[(y - cy0 + 1) * label_row + 1..];
            for (x, (c, &l)) in cells_row.iter().zip(labels_row).enumerate() {
                if c.count > 0 {
                    visit(c, (cx0 + x) as u32, y as u32, l as usize);
                }
            }
        }
    };

    #[derive(Clone, Copy)]
    struct Island {
        area: u64,
        max_alpha: u8,
        x0: u32,
        y0: u32,
        x1: u32,
        y1: u32,
    }
    let mut islands: Vec<Option<Island>> = Vec::new();
    occupied(&mut |c, x, y, l| {
        if islands.len() <= l {
            islands.resize(l + 1, None);
        }
        let is = islands[l].get_or_insert(Island {
            area: 0,
            max_alpha: 0,
            x0: x,
            y0: y,
            x1: x,
            y1: y,
        });
        is.area += u64::from(c.count);
        is.max_alpha = is.max_alpha.max(c.max_alpha);
        is.x0 = is.x0.min(x);
        is.y0 = is.y0.min(y);
        is.x1 = is.x1.max(x);
        is.y1 = is.y1.max(y);
    });
    let largest = islands.iter().flatten().map(|i| i.area).max().unwrap_or(0);
    if largest == 0 {
        return (None, Vec::new(), Grid::default(), 0, Marks::default());
    }
    let keep: Vec<bool> = islands
        .iter()
        .map(|i| {
            i.is_some_and(|i| {
                (i.area as f64 >= largest as f64 * SPECK_AREA_RATIO || i.area >= SPECK_MAX_PIXELS)
                    && i.max_alpha >= SPECK_MAX_ALPHA
            })
        })
        .collect();
    // If nothing passes (a faint product), keep the largest island rather than nothing.
    let keep = if keep.iter().any(|k| *k) {
        keep
    } else {
        islands
            .iter()
            .map(|i| i.is_some_and(|i| i.area == largest))
            .collect()
    };
    let cell_rect = |i: &Island| {
        let x = i.x0 * cell;
        let y = i.y0 * cell;
        Rect {
            x,
            y,
            w: ((i.x1 + 1) * cell).min(w) - x,
            h: ((i.y1 + 1) * cell).min(h) - y,
        }
    };
    let specks: Vec<Rect> = islands
        .iter()
        .zip(&keep)
        .filter_map(|(i, k)| i.as_ref().filter(|_| !k).map(cell_rect))
        .collect();
    let mut dropped = vec![false; cells.len()];
    // The exact product box: the union of the kept cells' pixel extents.
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0u32, 0u32);
    occupied(&mut |c, x, y, l| {
        if keep[l] {
            let (cx, cy) = (x * cell, y * cell);
            x0 = x0.min(cx + u32::from(c.x0));
            y0 = y0.min(cy + u32::from(c.y0));
            x1 = x1.max(cx + u32::from(c.x1));
            y1 = y1.max(cy + u32::from(c.y1));
        } else {
            dropped[y as usize * cols_u + x as usize] = true;
        }
    });
    let grid = Grid {
        cell,
        cols,
        dropped,
    };
    let product = (x0 <= x1).then(|| Rect {
        x: x0,
        y: y0,
        w: x1 - x0 + 1,
        h: y1 - y0 + 1,
    });
    let items = islands
        .iter()
        .flatten()
        .filter(|i| i.area as f64 >= largest as f64 * ITEM_SHARE)
        .count()
        .min(usize::from(u8::MAX)) as u8;
    // Beside the product: kept islands that are not items may be text, logos or badges.
    let cells_of = |i: &Island| marks::IslandBox {
        x0: i.x0,
        y0: i.y0,
        x1: i.x1,
        y1: i.y1,
        solidity: i.area as f64
            / (f64::from((i.x1 - i.x0 + 1) * (i.y1 - i.y0 + 1)) * f64::from(cell * cell)),
    };
    let is_item = |i: &Island| i.area as f64 >= largest as f64 * ITEM_SHARE;
    let mut item_islands: Vec<&Island> = islands.iter().flatten().filter(|i| is_item(i)).collect();
    item_islands.sort_by_key(|i| std::cmp::Reverse(i.area));
    let item_boxes: Vec<marks::IslandBox> = item_islands.into_iter().map(cells_of).collect();
    let others: Vec<marks::IslandBox> = islands
        .iter()
        .zip(&keep)
        .filter_map(|(i, k)| i.as_ref().filter(|_| *k))
        .filter(|i| !is_item(i))
        .map(cells_of)
        .collect();
    let marks = marks::find(&item_boxes, &others, cols, rows);
    (product, specks, grid, items, marks)
}

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
fn detect_sweep(frame: &Frame) -> Option<(SourceKind, SweepKey)> {
    detect_sweep_with(frame, true)
}

/// `strict`: only a border nearly all close to one smooth colour is a sweep; otherwise
/// (a reviewer said it is one) the colour most of the border is near is keyed.
fn detect_sweep_with(frame: &Frame, strict: bool) -> Option<(SourceKind, SweepKey)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(w: u32, h: u32) -> Frame {
        Frame::from_rgba(w, h, vec![0; (w * h * 4) as usize])
    }

    fn fill(f: &mut Frame, r: Rect, px: [u8; 4]) {
        for y in r.y..r.bottom() {
            for x in r.x..r.right() {
                let i = ((y * f.width + x) * 4) as usize;
                f.pixels[i..i + 4].copy_from_slice(&px);
            }
        }
    }

    #[test]
    fn box_ignores_far_specks() {
        let mut f = canvas(400, 300);
        let product = Rect {
            x: 50,
            y: 60,
            w: 200,
            h: 120,
        };
        fill(&mut f, product, [200, 30, 30, 255]);
        fill(
            &mut f,
            Rect {
                x: 380,
                y: 280,
                w: 4,
                h: 4,
            },
            [0, 0, 0, 90],
        );
        fill(
            &mut f,
            Rect {
                x: 5,
                y: 5,
                w: 3,
                h: 3,
            },
            [255, 255, 255, 255],
        );
        let a = analyse(&mut f);
        assert_eq!(a.kind, SourceKind::Cutout);
        assert_eq!(a.product, Some(product));
        assert_eq!(a.specks.len(), 2);
        assert!(a.in_speck(381, 281));
        assert!(!a.in_speck(100, 100));
    }

    #[test]
    fn tiny_images_do_not_panic() {
        let mut f = Frame::from_rgba(1, 1, vec![10, 20, 30, 200]);
        let a = analyse(&mut f);
        assert!(
            a.product.is_none()
                || a.product
                    == Some(Rect {
                        x: 0,
                        y: 0,
                        w: 1,
                        h: 1
                    })
        );
        let mut f = Frame::from_rgba(2, 1, vec![10, 20, 30, 0, 1, 2, 3, 255]);
        assert_eq!(
            analyse(&mut f).product,
            Some(Rect {
                x: 1,
                y: 0,
                w: 1,
                h: 1
            })
        );
    }

    #[test]
    fn photo_with_one_translucent_pixel_is_not_a_cutout() {
        let mut f = Frame::from_rgba(
            100,
            100,
            (0..100 * 100 * 4)
                .map(|i| (i * 7 % 251) as u8 | 1)
                .collect(),
        );
        for p in f.pixels.chunks_exact_mut(4) {
            p[3] = 255;
        }
        f.pixels[3] = 254;
        assert_eq!(analyse(&mut f).kind, SourceKind::Scene);
    }

    #[test]
    fn opaque_accessory_is_kept() {
        let mut f = canvas(1200, 900);
        fill(
            &mut f,
            Rect {
                x: 100,
                y: 50,
                w: 800,
                h: 800,
            },
            [9, 9, 9, 255],
        );
        fill(
            &mut f,
            Rect {
                x: 1000,
                y: 400,
                w: 55,
                h: 55,
            },
            [200, 9, 9, 255],
        );
        let a = analyse(&mut f);
        assert_eq!(
            a.product,
            Some(Rect {
                x: 100,
                y: 50,
                w: 955,
                h: 800
            })
        );
    }

    #[test]
    fn two_part_product_is_kept_whole() {
        let mut f = canvas(400, 300);
        fill(
            &mut f,
            Rect {
                x: 20,
                y: 20,
                w: 100,
                h: 100,
            },
            [9, 9, 9, 255],
        );
        fill(
            &mut f,
            Rect {
                x: 250,
                y: 150,
                w: 80,
                h: 100,
            },
            [9, 9, 9, 255],
        );
        let a = analyse(&mut f);
        assert_eq!(
            a.product,
            Some(Rect {
                x: 20,
                y: 20,
                w: 310,
                h: 230
            })
        );
    }

    #[test]
    fn premultiplied_edges_are_detected() {
        let mut f = canvas(300, 300);
        fill(
            &mut f,
            Rect {
                x: 100,
                y: 100,
                w: 100,
                h: 100,
            },
            [220, 200, 180, 255],
        );
        // A soft edge ramp, stored premultiplied (as rembg writes it).
        for y in 90..210 {
            for x in 90..100 {
                let a = ((x - 89) * 23) as u8;
                let i = ((y * 300 + x) * 4) as usize;
                let m = |c: u32| (c * u32::from(a) / 255) as u8;
                f.pixels[i..i + 4].copy_from_slice(&[m(220), m(200), m(180), a]);
            }
        }
        assert!(analyse(&mut f.clone()).premultiplied_edges);
        // The same edge in straight alpha is not.
        for y in 90..210 {
            for x in 90..100 {
                let i = ((y * 300 + x) * 4) as usize;
                f.pixels[i..i + 3].copy_from_slice(&[220, 200, 180]);
            }
        }
        assert!(!analyse(&mut f).premultiplied_edges);
    }

    #[test]
    fn sweep_is_keyed_and_boxed() {
        let mut f = canvas(300, 300);
        for y in 0..300u32 {
            for x in 0..300u32 {
                let v = 246 - (y / 60) as u8; // gentle vertical gradient
                let i = ((y * 300 + x) * 4) as usize;
                f.pixels[i..i + 4].copy_from_slice(&[v, v, v - 2, 255]);
            }
        }
        f.source.has_alpha = false;
        fill(
            &mut f,
            Rect {
                x: 100,
                y: 80,
                w: 90,
                h: 150,
            },
            [40, 60, 150, 255],
        );
        let a = analyse(&mut f);
        assert!(matches!(a.kind, SourceKind::Sweep { .. }), "{:?}", a.kind);
        assert_eq!(
            a.product,
            Some(Rect {
                x: 100,
                y: 80,
                w: 90,
                h: 150
            })
        );
        assert_eq!(f.pixels[3], 0, "background keyed out");
    }
}
