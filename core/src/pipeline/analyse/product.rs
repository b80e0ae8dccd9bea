//! Where the product is in a cut-out's alpha: one pass of per-cell statistics, then the
//! connected items, the product among them, and the specks and marks beside it.

use imageproc::region_labelling::{connected_components, Connectivity};
use rayon::prelude::*;

use super::super::marks::{self, Marks};
use super::super::measure::{alpha_or, unseen_ends};
use super::super::Frame;
use super::{
    Grid, Rect, ALPHA_THRESHOLD, GRID_LONG_SIDE, SPECK_AREA_RATIO, SPECK_MAX_ALPHA,
    SPECK_MAX_PIXELS,
};

/// At least this share of pixels must be (nearly) clear for a source to be a cut-out; a
/// stray non-opaque pixel in a photo does not make it one.
pub(super) const CUTOUT_MIN_CLEAR: f64 = 0.005;

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
pub(super) struct EdgeStats {
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
    pub(super) fn premultiplied(&self) -> bool {
        let interior_luma = self.opaque_luma.checked_div(self.opaque).unwrap_or(0);
        self.edge >= 200 && interior_luma > 60 && self.edge_dark * 100 >= self.edge * 97
    }
}

/// What one pass over a frame's alpha learns.
pub(super) struct AlphaStats {
    /// Side of a square grid cell in pixels.
    cell: u32,
    cols: u32,
    rows: u32,
    cells: Vec<Cell>,
    pub(super) edges: EdgeStats,
    /// Pixels below [`ALPHA_THRESHOLD`].
    pub(super) clear: u64,
}

impl AlphaStats {
    pub(super) fn of(frame: &Frame) -> AlphaStats {
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
pub(super) type Found = (Option<Rect>, Vec<Rect>, Grid, u8, Marks);

/// An island this share of the largest one (by solid pixels) is an item of its own.
const ITEM_SHARE: f64 = 0.25;

pub(super) fn find_product(frame: &Frame, stats: &AlphaStats) -> Found {
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
