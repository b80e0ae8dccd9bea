//! Analysis, once per source: where the product is, what is background, what is a speck.
//!
//! Cut-outs are read from alpha. Opaque photos on a plain sweep get a soft alpha key from
//! the sweep colour, so everything after analysis treats both as cut-outs.

use serde::{Deserialize, Serialize};

use super::key::{key_sweep, SweepKey};
use super::marks::Marks;
use super::Frame;
use crate::spec::TreatAs;

mod product;
mod sweep;

use product::{find_product, AlphaStats, CUTOUT_MIN_CLEAR};
use sweep::{detect_sweep, detect_sweep_with};

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

#[cfg(test)]
mod tests;
