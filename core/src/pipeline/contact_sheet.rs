//! The contact sheet: every output of a batch as a small preview with its state badge, its
//! spec and its photo on one PNG, because people would rather look at 200 photos than read
//! 200 manifests. Pure: previews come in as pixels, the PNG goes out as bytes.

use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;
use thiserror::Error;

/// DejaVu Sans Condensed (Bitstream Vera licence, assets/fonts/LICENSE-DejaVu.txt): wide
/// Unicode coverage, so a Cyrillic or accented file name reads as written.
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSansCondensed.ttf");

/// The longest side of a preview on the sheet.
pub const PREVIEW: u32 = 200;
/// At most this many tiles on one sheet (80 rows, about 28 MP); the heading says how many
/// were left off.
pub const MAX_TILES: usize = 480;

const COLUMNS: u32 = 8;
const MARGIN: u32 = 24;
const GAP: u32 = 12;
const CARD_PAD: u32 = 8;
const HEADING_LINE: u32 = 30;
/// Below each preview: the badge and spec line, the photo's name, one line of what to do.
const LABEL: u32 = 66;

const PAGE: Rgb<u8> = Rgb([243, 244, 246]);
const CARD: Rgb<u8> = Rgb([255, 255, 255]);
const EDGE: Rgb<u8> = Rgb([208, 213, 221]);
const INK: Rgb<u8> = Rgb([31, 35, 40]);
const MUTED: Rgb<u8> = Rgb([87, 96, 106]);

#[derive(Debug, Error)]
pub enum SheetError {
    #[error("the contact sheet could not be made: {0}")]
    Make(String),
}

impl SheetError {
    pub fn code(&self) -> crate::error::ErrorCode {
        crate::error::ErrorCode::InternalError
    }
}

/// What a badge's colour says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Ready or approved: it can go on.
    Good,
    /// Waits for a person.
    Waiting,
    /// Failed or rejected.
    Bad,
    /// Not settled yet.
    Neutral,
}

impl Tone {
    fn colour(self) -> Rgb<u8> {
        // Dark enough for white text to pass WCAG AA at this size.
        match self {
            Tone::Good => Rgb([26, 127, 55]),
            Tone::Waiting => Rgb([154, 103, 0]),
            Tone::Bad => Rgb([207, 34, 46]),
            Tone::Neutral => Rgb([87, 96, 106]),
        }
    }
}

/// One output on the sheet.
#[derive(Debug, Clone)]
pub struct Tile {
    /// The photo, as the seller named it.
    pub name: String,
    pub spec: String,
    /// The state in words ("ready", "needs review").
    pub badge: String,
    pub tone: Tone,
    /// The one thing to do, or why it failed; none when ready.
    pub note: Option<String>,
}

/// Renders the sheet: `heading` lines on top, then `tiles` in rows with `previews[i]` (none
/// for an output without a file) above tile i's labels. At most [`MAX_TILES`] are drawn.
pub fn render(
    heading: &[String],
    tiles: &[Tile],
    previews: &[Option<RgbImage>],
) -> Result<Vec<u8>, SheetError> {
    let font = FontRef::try_from_slice(FONT).map_err(|e| SheetError::Make(e.to_string()))?;
    let shown = tiles.len().min(MAX_TILES);
    let mut lines = heading.to_vec();
    if shown < tiles.len() {
        lines.push(format!(
            "The first {shown} of {} outputs are shown; the batch's manifest lists them all.",
            tiles.len()
        ));
    }
    let card_w = PREVIEW + 2 * CARD_PAD;
    let card_h = PREVIEW + 2 * CARD_PAD + LABEL;
    let columns = (shown as u32).clamp(1, COLUMNS);
    let rows = (shown as u32).div_ceil(COLUMNS);
    let top = MARGIN + HEADING_LINE * lines.len() as u32 + GAP;
    let width = 2 * MARGIN + columns * card_w + (columns - 1) * GAP;
    let height = top + rows * card_h + rows.saturating_sub(1) * GAP + MARGIN;
    let mut sheet = RgbImage::from_pixel(width, height, PAGE);

    for (i, line) in lines.iter().enumerate() {
        let (size, ink) = if i == 0 { (24.0, INK) } else { (17.0, MUTED) };
        let y = MARGIN + HEADING_LINE * i as u32;
        let text = fit(&font, size, line, width - 2 * MARGIN, Cut::End);
        draw_text_mut(&mut sheet, ink, px(MARGIN), px(y), size, &font, &text);
    }

    for (i, tile) in tiles.iter().take(shown).enumerate() {
        let (col, row) = (i as u32 % COLUMNS, i as u32 / COLUMNS);
        let x = MARGIN + col * (card_w + GAP);
        let y = top + row * (card_h + GAP);
        fill(&mut sheet, x, y, card_w, card_h, CARD);
        draw_hollow_rect_mut(&mut sheet, rect(x, y, card_w, card_h), EDGE);
        let (bx, by) = (x + CARD_PAD, y + CARD_PAD);
        match previews.get(i).and_then(Option::as_ref) {
            Some(p) => {
                // Centred in its box, with a hairline so a white image shows its edges.
                let (pw, ph) = (p.width().min(PREVIEW), p.height().min(PREVIEW));
                let (px0, py0) = (bx + (PREVIEW - pw) / 2, by + (PREVIEW - ph) / 2);
                image::imageops::replace(&mut sheet, p, i64::from(px0), i64::from(py0));
                draw_hollow_rect_mut(
                    &mut sheet,
                    rect(px0.saturating_sub(1), py0.saturating_sub(1), pw + 2, ph + 2),
                    EDGE,
                );
            }
            None => {
                fill(&mut sheet, bx, by, PREVIEW, PREVIEW, PAGE);
                let text = "no image";
                let (tw, th) = text_size(16.0, &font, text);
                draw_text_mut(
                    &mut sheet,
                    MUTED,
                    px(bx + PREVIEW.saturating_sub(tw) / 2),
                    px(by + PREVIEW.saturating_sub(th) / 2),
                    16.0,
                    &font,
                    text,
                );
            }
        }
        let ly = by + PREVIEW + 6;
        // The badge: the state in white on its tone, then the spec beside it.
        let badge = fit(&font, 14.0, &tile.badge, PREVIEW / 2, Cut::End);
        let (tw, _) = text_size(14.0, &font, &badge);
        fill(&mut sheet, bx, ly, tw + 10, 19, tile.tone.colour());
        draw_text_mut(
            &mut sheet,
            CARD,
            px(bx + 5),
            px(ly + 2),
            14.0,
            &font,
            &badge,
        );
        let spec = fit(&font, 14.0, &tile.spec, PREVIEW - tw - 16, Cut::End);
        draw_text_mut(
            &mut sheet,
            INK,
            px(bx + tw + 16),
            px(ly + 2),
            14.0,
            &font,
            &spec,
        );
        let name = fit(&font, 14.0, &tile.name, PREVIEW, Cut::Middle);
        draw_text_mut(&mut sheet, INK, px(bx), px(ly + 23), 14.0, &font, &name);
        if let Some(note) = &tile.note {
            let note = fit(&font, 13.0, note, PREVIEW, Cut::End);
            draw_text_mut(&mut sheet, MUTED, px(bx), px(ly + 42), 13.0, &font, &note);
        }
    }

    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    sheet
        .write_with_encoder(encoder)
        .map_err(|e| SheetError::Make(e.to_string()))?;
    Ok(png)
}

/// Where a text too long for its room loses characters: names keep their ends (the
/// position suffix and extension tell photos apart), sentences their starts.
#[derive(Clone, Copy)]
enum Cut {
    Middle,
    End,
}

/// `text` shortened with an ellipsis until it fits in `room` pixels.
fn fit(font: &FontRef, size: f32, text: &str, room: u32, cut: Cut) -> String {
    let scale = PxScale::from(size);
    if text_size(scale, font, text).0 <= room {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut keep = chars.len();
    while keep > 0 {
        keep -= 1;
        let candidate: String = match cut {
            Cut::End => chars[..keep].iter().collect::<String>() + "…",
            Cut::Middle => {
                let head = keep / 2;
                let tail = keep - head;
                chars[..head].iter().collect::<String>()
                    + "…"
                    + &chars[chars.len() - tail..].iter().collect::<String>()
            }
        };
        if text_size(scale, font, &candidate).0 <= room {
            return candidate;
        }
    }
    "…".to_string()
}

fn fill(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: Rgb<u8>) {
    draw_filled_rect_mut(img, rect(x, y, w, h), colour);
}

fn rect(x: u32, y: u32, w: u32, h: u32) -> Rect {
    Rect::at(px(x), px(y)).of_size(w.max(1), h.max(1))
}

/// Sheet coordinates are far below i32::MAX (at most MAX_TILES tiles).
fn px(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(name: &str, badge: &str, tone: Tone) -> Tile {
        Tile {
            name: name.into(),
            spec: "amazon-main".into(),
            badge: badge.into(),
            tone,
            note: Some("product fills 62% of the frame; Amazon main needs 85%".into()),
        }
    }

    #[test]
    fn a_sheet_shows_each_preview_with_its_badge_colour() {
        let red = RgbImage::from_pixel(200, 100, Rgb([200, 0, 0]));
        let tiles = vec![
            tile("shoes/SKU1_1.png", "ready", Tone::Good),
            tile(
                "a-very-long-supplier-file-name-with-many-parts_3.png",
                "failed",
                Tone::Bad,
            ),
        ];
        let png = render(&["Batch b1".into()], &tiles, &[Some(red), None]).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        let card = PREVIEW + 2 * CARD_PAD;
        assert_eq!(img.width(), 2 * MARGIN + 2 * card + GAP);
        let top = MARGIN + HEADING_LINE + GAP;
        // The first preview is centred in its box: red in the middle, white card above it.
        let (bx, by) = (MARGIN + CARD_PAD, top + CARD_PAD);
        assert_eq!(img.get_pixel(bx + 100, by + 100).0, [200, 0, 0]);
        assert_eq!(img.get_pixel(bx + 100, by + 20).0, [255, 255, 255]);
        // Badges: green for ready, red for failed, at the badge's left edge.
        let ly = by + PREVIEW + 6;
        assert_eq!(img.get_pixel(bx + 2, ly + 1).0, Tone::Good.colour().0);
        let bx2 = bx + card + GAP;
        assert_eq!(img.get_pixel(bx2 + 2, ly + 1).0, Tone::Bad.colour().0);
        // The second tile has no preview: the page grey fills its box.
        assert_eq!(img.get_pixel(bx2 + 10, by + 10).0, PAGE.0);
        // Text was drawn: dark pixels on the name line of the first card.
        let inked = (bx..bx + PREVIEW)
            .flat_map(|x| (ly + 23..ly + 40).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
            .count();
        assert!(inked > 40, "{inked}");
    }

    #[test]
    fn long_names_keep_their_ends_and_sentences_their_starts() {
        let font = FontRef::try_from_slice(FONT).unwrap();
        let name = "a-very-long-supplier-file-name-with-many-parts_3.png";
        let cut = fit(&font, 14.0, name, PREVIEW, Cut::Middle);
        assert!(cut.ends_with("_3.png") && cut.starts_with("a-very") && cut.contains('…'));
        assert!(text_size(14.0, &font, &cut).0 <= PREVIEW);
        let note = fit(&font, 13.0, &"word ".repeat(40), PREVIEW, Cut::End);
        assert!(note.starts_with("word") && note.ends_with('…'));
        assert_eq!(
            fit(&font, 14.0, "short.png", PREVIEW, Cut::Middle),
            "short.png"
        );
    }

    #[test]
    fn a_sheet_past_the_cap_says_how_many_were_left_off() {
        let tiles = vec![tile("x.png", "ready", Tone::Good); MAX_TILES + 3];
        let png = render(&["Batch b2".into()], &tiles, &[]).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        let rows = (MAX_TILES as u32).div_ceil(COLUMNS);
        let card_h = PREVIEW + 2 * CARD_PAD + LABEL;
        let top = MARGIN + 2 * HEADING_LINE + GAP;
        assert_eq!(
            img.height(),
            top + rows * card_h + (rows - 1) * GAP + MARGIN
        );
    }
}
