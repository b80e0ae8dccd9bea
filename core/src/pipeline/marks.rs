//! Text, logos and badges beside the product (docs/rules.md, house-text-and-badges): islands
//! of the analysis grid that are neither specks nor product-sized items, told apart by their
//! shape, count and alignment. No model: a line of letters is three or more small islands
//! of one height side by side, of shapes as varied as letters are; a badge or logo is a small
//! island alone in a corner of the photo, away from the product. What lies within an item's
//! box (printing on a white product whose body reads as backdrop) is the item's.

use serde::{Deserialize, Serialize};

/// An island's box on the analysis grid, in cells (inclusive), and the share of the box's
/// pixels it covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IslandBox {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
    pub solidity: f64,
}

impl IslandBox {
    fn w(&self) -> u32 {
        self.x1 - self.x0 + 1
    }
    fn h(&self) -> u32 {
        self.y1 - self.y0 + 1
    }
    fn aspect(&self) -> f64 {
        f64::from(self.w()) / f64::from(self.h())
    }
    fn within(&self, o: &IslandBox) -> bool {
        self.x0 >= o.x0 && self.x1 <= o.x1 && self.y0 >= o.y0 && self.y1 <= o.y1
    }
    /// Cells between the two boxes, on the farther axis (0 when they overlap).
    fn gap(&self, o: &IslandBox) -> u32 {
        let dx =
            o.x0.saturating_sub(self.x1)
                .max(self.x0.saturating_sub(o.x1));
        let dy =
            o.y0.saturating_sub(self.y1)
                .max(self.y0.saturating_sub(o.y1));
        dx.max(dy)
    }
}

/// What was found beside the product.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Marks {
    /// Lines of text: three or more letter-sized islands of one height, side by side.
    pub text_lines: u8,
    /// Small islands alone in a corner of the photo, away from the product.
    pub corner_marks: u8,
}

impl Marks {
    pub fn any(&self) -> bool {
        self.text_lines + self.corner_marks > 0
    }
}

/// Islands in a line of text: at least this many.
const LINE_MIN: usize = 3;
/// A letter is at least this many cells tall (a dot or a speck is not).
const LETTER_MIN_CELLS: u32 = 2;
/// A letter (or a run of joined letters) is at most this many times as wide as tall.
const LETTER_MAX_ASPECT: u32 = 6;
/// Letters of a line are at most this many of their heights apart.
const LETTER_GAP: f64 = 1.5;
/// A corner is this share of the photo's width and height from two of its sides.
const CORNER_SHARE: f64 = 0.25;
/// A corner mark is at least this share of the photo's long side away from the product.
const CORNER_GAP_SHARE: f64 = 0.08;
/// Letters differ in shape: a line whose islands all have nearly one aspect and one
/// solidity (within this) is a row of like parts (screws, capsules, pawns), not text.
const LIKE_PARTS_SPREAD: f64 = 0.08;
/// Three or more islands of one shape are parts sold together (beads, spare links), not a
/// badge, wherever they lie.
const LIKE_PARTS_MIN: usize = 3;
/// A corner mark is also at least this share of the product's shorter side away from it:
/// on a canvas trimmed to the product, a part lying beside it is in a corner too.
const CORNER_GAP_OF_PRODUCT: f64 = 0.35;
/// Past this many candidate islands the picture is noise (a busy backdrop's leftovers),
/// not text: nothing is said rather than something wrong.
const MAX_CANDIDATES: usize = 512;

/// Finds text and corner marks among `others` (kept islands that are not items), beside
/// `items` (the product-sized islands, the largest first), on a grid of `cols` x `rows`
/// cells.
pub fn find(items: &[IslandBox], others: &[IslandBox], cols: u32, rows: u32) -> Marks {
    let Some(product) = items.first().copied() else {
        return Marks::default();
    };
    let others: Vec<IslandBox> = others
        .iter()
        .filter(|o| !items.iter().any(|i| o.within(i)))
        .copied()
        .collect();
    let others = &others[..];
    if others.is_empty() || others.len() > MAX_CANDIDATES {
        return Marks::default();
    }
    let mut order: Vec<usize> = (0..others.len()).collect();
    order.sort_by_key(|&i| (others[i].x0, others[i].y0));
    let letter = |b: &IslandBox| b.h() >= LETTER_MIN_CELLS && b.w() <= b.h() * LETTER_MAX_ASPECT;
    // Two islands on one line: heights within a factor of two, and their vertical spans
    // overlapping over half the shorter one (descenders and capitals still align).
    let same_line = |a: &IslandBox, b: &IslandBox| {
        let (lo, hi) = (a.h().min(b.h()), a.h().max(b.h()));
        let overlap = a.y1.min(b.y1) as i64 - a.y0.max(b.y0) as i64 + 1;
        hi <= 2 * lo && overlap * 2 >= i64::from(lo)
    };
    let mut used = vec![false; others.len()];
    let mut text_lines = 0u8;
    for (n, &i) in order.iter().enumerate() {
        let seed = &others[i];
        if used[i] || !letter(seed) {
            continue;
        }
        let gap = (f64::from(seed.h()) * LETTER_GAP).ceil() as u32 + 1;
        let mut chain = vec![i];
        let mut right = seed.x1;
        for &j in &order[n + 1..] {
            let b = &others[j];
            if b.x0 > right + gap {
                break;
            }
            if !used[j] && letter(b) && same_line(seed, b) {
                chain.push(j);
                right = right.max(b.x1);
            }
        }
        let spread = |f: &dyn Fn(&IslandBox) -> f64| {
            let v = chain.iter().map(|&j| f(&others[j]));
            let (lo, hi) = v.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
            hi - lo
        };
        let like_parts = spread(&|b| b.aspect()) < LIKE_PARTS_SPREAD
            && spread(&|b| b.solidity) < LIKE_PARTS_SPREAD;
        if chain.len() >= LINE_MIN {
            if !like_parts {
                text_lines = text_lines.saturating_add(1);
            }
            for j in chain {
                used[j] = true;
            }
        }
    }
    let long = f64::from(cols.max(rows));
    let (cw, ch) = (
        (f64::from(cols) * CORNER_SHARE) as u32,
        (f64::from(rows) * CORNER_SHARE) as u32,
    );
    let in_corner = |b: &IslandBox| {
        let side_x = b.x1 < cw || b.x0 >= cols.saturating_sub(cw);
        let side_y = b.y1 < ch || b.y0 >= rows.saturating_sub(ch);
        side_x && side_y
    };
    let far = (long * CORNER_GAP_SHARE)
        .max(f64::from(product.w().min(product.h())) * CORNER_GAP_OF_PRODUCT);
    let alike = |a: &IslandBox, b: &IslandBox| {
        (a.aspect() - b.aspect()).abs() < LIKE_PARTS_SPREAD
            && (a.solidity - b.solidity).abs() < LIKE_PARTS_SPREAD
            && a.h().max(b.h()) <= 2 * a.h().min(b.h())
    };
    let corner_marks = others
        .iter()
        .zip(&used)
        .filter(|(b, used)| {
            !**used
                && b.h() >= LETTER_MIN_CELLS
                && in_corner(b)
                && items.iter().all(|i| f64::from(b.gap(i)) >= far)
                && others.iter().filter(|o| alike(b, o)).count() < LIKE_PARTS_MIN
        })
        .count()
        .min(usize::from(u8::MAX)) as u8;
    Marks {
        text_lines,
        corner_marks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x0: u32, y0: u32, x1: u32, y1: u32) -> IslandBox {
        IslandBox {
            x0,
            y0,
            x1,
            y1,
            solidity: 0.8,
        }
    }

    const PRODUCT: IslandBox = IslandBox {
        x0: 300,
        y0: 200,
        x1: 700,
        y1: 800,
        solidity: 0.7,
    };

    #[test]
    fn a_row_of_letters_is_a_line_of_text() {
        // "SALE" under the product: four letters 12 cells tall, 3 cells apart, each of its
        // own shape.
        let letters: Vec<IslandBox> = [(8, 0.45), (8, 0.6), (7, 0.35), (8, 0.5)]
            .iter()
            .enumerate()
            .map(|(i, &(w, solidity))| IslandBox {
                solidity,
                ..b(400 + i as u32 * 12, 850, 400 + i as u32 * 12 + w, 861)
            })
            .collect();
        let m = find(&[PRODUCT], &letters, 1000, 1000);
        assert_eq!(m.text_lines, 1);
        assert_eq!(m.corner_marks, 0);
        // The same letters printed on the product (its white body read as backdrop) are
        // the product's.
        let on: Vec<IslandBox> = letters
            .iter()
            .map(|l| IslandBox {
                y0: l.y0 - 400,
                y1: l.y1 - 400,
                ..*l
            })
            .collect();
        assert_eq!(find(&[PRODUCT], &on, 1000, 1000), Marks::default());
    }

    #[test]
    fn parts_of_other_heights_far_apart_or_alike_are_not_text() {
        // A cap and a spoon beside a bottle: two islands, of different sizes.
        let parts = [b(720, 700, 760, 730), b(720, 400, 740, 600)];
        assert_eq!(find(&[PRODUCT], &parts, 1000, 1000), Marks::default());
        // Three screws far apart in a row.
        let screws = [
            b(100, 850, 104, 858),
            b(300, 850, 304, 858),
            b(500, 850, 504, 858),
        ];
        assert_eq!(find(&[PRODUCT], &screws, 1000, 1000).text_lines, 0);
        // Capsules side by side: one shape repeated.
        let capsules: Vec<IslandBox> = (0..5)
            .map(|i| b(350 + i * 14, 850, 359 + i * 14, 870))
            .collect();
        assert_eq!(find(&[PRODUCT], &capsules, 1000, 1000), Marks::default());
    }

    #[test]
    fn a_small_island_alone_in_a_corner_is_a_badge_and_scattered_beads_are_not() {
        let badge = [b(880, 20, 960, 100)];
        let m = find(&[PRODUCT], &badge, 1000, 1000);
        assert_eq!(m.corner_marks, 1);
        // A part lying against the product is its own, corner or not.
        let product = IslandBox {
            x0: 0,
            y0: 120,
            ..PRODUCT
        };
        let near = b(10, 10, 60, 110);
        assert_eq!(find(&[product], &[near], 1000, 1000).corner_marks, 0);
        // Beads scattered around a necklace, some in corners.
        let beads = [
            b(20, 20, 30, 30),
            b(960, 30, 970, 40),
            b(40, 950, 50, 960),
            b(900, 900, 910, 910),
        ];
        assert_eq!(find(&[PRODUCT], &beads, 1000, 1000), Marks::default());
    }
}
