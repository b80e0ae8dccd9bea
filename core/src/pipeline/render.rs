//! Rendering: cut the product out once per source, then per spec scale it to the fill
//! ratio, place it on the canvas and flatten onto the background.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions};
use rayon::prelude::*;
use serde_json::json;
use thiserror::Error;

use super::analyse::{Analysis, Rect, SourceKind};
use super::measure::{is_visible, visible_box};
use super::resize;
use super::{Frame, Operation};
use crate::error::ErrorCode;
use crate::spec::{Align, Background, Spec};

#[derive(Debug, Error)]
pub enum RenderError {
    #[error("no product found: the image is fully transparent (or all background)")]
    NothingVisible,
    #[error("resizing failed: {0}")]
    Resize(String),
}

impl RenderError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RenderError::NothingVisible => ErrorCode::RenderNothingVisible,
            RenderError::Resize(_) => ErrorCode::RenderResizeFailed,
        }
    }
}

/// The product, cut out and cleaned: straight-alpha RGBA8 of the product box.
#[derive(Debug, Clone)]
pub struct Cutout {
    pub rect: Rect,
    pub pixels: Vec<u8>,
    pub kind: SourceKind,
    pub operations: Vec<Operation>,
}

/// Where the product went on the canvas.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Placement {
    /// Scale applied to the cut-out.
    pub scale: f64,
    /// Scale the spec's fill ratio asked for; above `scale` when capped by `max_upscale`.
    pub wanted_scale: f64,
    /// The visible subject's box on the canvas.
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    /// The whole resized cut-out on the canvas (may reach past its edges).
    pub image_x: i64,
    pub image_y: i64,
    pub image_w: u32,
    pub image_h: u32,
}

/// A rendered canvas, ready to encode.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub width: u32,
    pub height: u32,
    /// 3 (RGB, flattened) or 4 (RGBA, transparent background).
    pub channels: u8,
    pub pixels: Vec<u8>,
    pub placement: Placement,
    pub operations: Vec<Operation>,
}

/// Cuts the product box out of the frame and cleans it: specks cleared, premultiplied
/// edges divided out, edge colours decontaminated. Once per source, shared by all specs.
/// The frame's buffer becomes the cut-out's: rows move up in place, so a large photo is
/// never held twice.
pub fn cut_out(frame: Frame, analysis: &Analysis) -> Result<Cutout, RenderError> {
    let rect = analysis.product.ok_or(RenderError::NothingVisible)?;
    let row_bytes = frame.width as usize * 4;
    let out_row = rect.w as usize * 4;
    let mut pixels = frame.pixels;
    for (i, y) in (rect.y..rect.bottom()).enumerate() {
        // Row i of the cut-out never lies after row y of the frame: a forward move is safe.
        let start = y as usize * row_bytes + rect.x as usize * 4;
        pixels.copy_within(start..start + out_row, i * out_row);
    }
    pixels.truncate(rect.h as usize * out_row);
    let mut operations = vec![Operation::new(
        "trim",
        json!({ "x": rect.x, "y": rect.y, "w": rect.w, "h": rect.h, "source": analysis.kind.name() }),
    )];
    if let SourceKind::Sweep {
        background,
        key_low,
        key_high,
    } = analysis.kind
    {
        operations.push(Operation::new(
            "key_background",
            json!({ "sweep": format!("#{:02X}{:02X}{:02X}", background[0], background[1], background[2]),
                    "key_low": key_low, "key_high": key_high }),
        ));
    }
    if !analysis.specks.is_empty() {
        // Only the specks' own boxes can hold speck cells.
        let mut cleared = 0u64;
        for s in &analysis.specks {
            let (x0, x1) = (s.x.max(rect.x), s.right().min(rect.right()));
            let (y0, y1) = (s.y.max(rect.y), s.bottom().min(rect.bottom()));
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = ((y - rect.y) as usize * rect.w as usize + (x - rect.x) as usize) * 4;
                    if pixels[i + 3] > 0 && analysis.in_speck(x, y) {
                        pixels[i..i + 4].copy_from_slice(&[0, 0, 0, 0]);
                        cleared += 1;
                    }
                }
            }
        }
        operations.push(Operation::new(
            "drop_specks",
            json!({ "specks": analysis.specks.len(), "pixels_cleared_in_box": cleared }),
        ));
    }
    if analysis.premultiplied_edges {
        unpremultiply(&mut pixels);
        operations.push(Operation::new("unpremultiply_edges", json!({})));
    }
    if analysis.kind != SourceKind::Scene {
        let n = decontaminate(&mut pixels, rect.w as usize, rect.h as usize);
        operations.push(Operation::new(
            "defringe",
            json!({ "radius": DEFRINGE_RADIUS, "edge_pixels": n }),
        ));
    }
    Ok(Cutout {
        rect,
        pixels,
        kind: analysis.kind,
        operations,
    })
}

/// Divides colour by alpha where a background remover stored it premultiplied.
fn unpremultiply(pixels: &mut [u8]) {
    pixels.par_chunks_mut(4 * 4096).for_each(|c| {
        for p in c.chunks_exact_mut(4) {
            let a = u32::from(p[3]);
            if a > 0 && a < 255 {
                for v in &mut p[..3] {
                    *v = ((u32::from(*v) * 255 + a / 2) / a).min(255) as u8;
                }
            }
        }
    });
}

const DEFRINGE_RADIUS: usize = 2;

/// Replaces the colour of semi-transparent edge pixels with an alpha²-weighted mean of
/// their neighbourhood, pulling the product's own colour outward. Edge colour from the
/// old background (grey halo, green spill, dark premultiplied rims) is what turns into a
/// visible line after flattening; the alpha itself is left alone. Returns pixels changed.
fn decontaminate(pixels: &mut [u8], w: usize, h: usize) -> usize {
    const R: usize = DEFRINGE_RADIUS;
    let src: &[u8] = pixels;
    let updates: Vec<(usize, [u8; 3])> = (0..h)
        .into_par_iter()
        .flat_map_iter(|y| {
            let rows = y.saturating_sub(R)..(y + R + 1).min(h);
            // One column of the window: alpha²-weighted red, green, blue, and alpha².
            // u32 holds a whole window and one column more: 30 x 255² x 255 < 2³².
            let column = |x: usize| {
                let mut s = [0u32; 4];
                for yy in rows.clone() {
                    let q = &src[(yy * w + x) * 4..(yy * w + x) * 4 + 4];
                    let wq = u32::from(q[3]) * u32::from(q[3]);
                    for c in 0..3 {
                        s[c] += wq * u32::from(q[c]);
                    }
                    s[3] += wq;
                }
                s
            };
            let add =
                |s: &mut [u32; 4], c: [u32; 4]| s.iter_mut().zip(c).for_each(|(v, c)| *v += c);
            let mut out = Vec::new();
            // The window of the previous edge pixel of this row: along a run of edge pixels
            // it slides by one column instead of being summed again.
            let mut window: Option<(usize, [u32; 4])> = None;
            for (x, p) in src[y * w * 4..(y + 1) * w * 4].chunks_exact(4).enumerate() {
                if p[3] == 0 || p[3] >= 250 {
                    continue;
                }
                let sums = match window {
                    Some((prev, mut s)) if prev + 1 == x => {
                        if x + R < w {
                            add(&mut s, column(x + R));
                        }
                        if x > R {
                            let gone = column(x - R - 1);
                            s.iter_mut().zip(gone).for_each(|(v, c)| *v -= c);
                        }
                        s
                    }
                    _ => (x.saturating_sub(R)..(x + R + 1).min(w)).fold([0; 4], |mut s, xx| {
                        add(&mut s, column(xx));
                        s
                    }),
                };
                window = Some((x, sums));
                let wsum = sums[3];
                if wsum > 0 {
                    out.push((
                        (y * w + x) * 4,
                        [0, 1, 2].map(|c| ((sums[c] + wsum / 2) / wsum) as u8),
                    ));
                }
            }
            out
        })
        .collect();
    let n = updates.len();
    for (i, rgb) in updates {
        pixels[i..i + 3].copy_from_slice(&rgb);
    }
    n
}

/// The part of the cut-out a viewer sees against `bg`. Framing uses this box, so a faint
/// shadow or haze that vanishes on white does not push the product off centre.
/// Mostly opaque pixels always count: a white part of a product is product, even where
/// it does not stand out from a white background.
pub fn subject_box(cut: &Cutout, bg: Background) -> Option<Rect> {
    visible_box(&cut.pixels, cut.rect.w, 4, bg, true)
}

/// Pixels per side kept in hand when aiming at a minimum fill.
const EDGE_GUARD: f64 = 1.0;

/// How far to move the resized product (`pw` wide, its corner at `at` on the canvas) so
/// that what verification will measure as the product, its [`visible_box`] once
/// flattened, sits in the middle of the canvas (horizontally only for bottom alignment).
/// The subject box was found on the source; resampling dilutes a faint feather on one
/// side below the visibility threshold, or lifts one above it, and would move the
/// measured centre by pixels.
fn centring_shift(product: &[u8], pw: usize, at: (usize, usize), spec: &Spec) -> (i64, i64) {
    if product.is_empty() || pw == 0 {
        return (0, 0);
    }
    let Some(b) = visible_box(product, pw as u32, 4, spec.background, false) else {
        return (0, 0);
    };
    let to_middle = |side: u32, at: usize, lo: u32, len: u32| {
        i64::from(side.saturating_sub(len) / 2) - (at as i64 + i64::from(lo))
    };
    let dx = to_middle(spec.width, at.0, b.x, b.w);
    let dy = match spec.align {
        Align::Center => to_middle(spec.height, at.1, b.y, b.h),
        Align::Bottom => 0,
    };
    (dx, dy)
}

/// Where the subject goes for this spec. `subject` is in cut-out coordinates.
pub fn place(cut_w: u32, cut_h: u32, subject: Rect, spec: &Spec) -> Placement {
    let (cw, ch) = (f64::from(spec.width), f64::from(spec.height));
    let f = spec.fill_ratio;
    // Aim so that what verify measures on the written file is at or above the minimum:
    // whole pixels, plus one per side that a soft edge may lose below the visible
    // threshold after resampling and compression.
    let aim = |canvas: f64| {
        let need = ((spec.min_fill() * canvas - 1e-9).ceil() + 2.0 * EDGE_GUARD) / canvas;
        f.max(need).min(1.0)
    };
    let wanted = (aim(cw) * cw / f64::from(subject.w)).min(aim(ch) * ch / f64::from(subject.h));
    let scale = wanted.min(spec.max_upscale);
    let w = ((f64::from(subject.w) * scale).round() as u32).clamp(1, spec.width);
    let h = ((f64::from(subject.h) * scale).round() as u32).clamp(1, spec.height);
    let x = (spec.width - w) / 2;
    let y = match spec.align {
        Align::Center => (spec.height - h) / 2,
        Align::Bottom => {
            let box_bottom = ((ch + f * ch) / 2.0).round() as u32;
            box_bottom.saturating_sub(h).min(spec.height - h)
        }
    };
    let image_w = ((f64::from(cut_w) * scale).round() as u32).max(1);
    let image_h = ((f64::from(cut_h) * scale).round() as u32).max(1);
    Placement {
        scale,
        wanted_scale: wanted,
        x,
        y,
        w,
        h,
        image_x: i64::from(x) - (f64::from(subject.x) * scale).round() as i64,
        image_y: i64::from(y) - (f64::from(subject.y) * scale).round() as i64,
        image_w,
        image_h,
    }
}

/// Renders one spec's canvas from a cut-out.
pub fn render(cut: &Cutout, spec: &Spec) -> Result<Rendered, RenderError> {
    let subject = subject_box(cut, spec.background).unwrap_or(Rect {
        x: 0,
        y: 0,
        w: cut.rect.w,
        h: cut.rect.h,
    });
    let mut placement = place(cut.rect.w, cut.rect.h, subject, spec);
    let mut operations = Vec::new();
    let (iw, ih) = (placement.image_w, placement.image_h);
    let (cw, ch) = (spec.width as usize, spec.height as usize);
    // The resized cut-out may reach past the canvas (a faint shadow or halo outside the
    // subject box): only the part that lands on the canvas is resized and drawn, so a small
    // product in a huge halo costs no more memory than the canvas.
    let x_lo = placement.image_x.max(0) as usize;
    let x_hi = (placement.image_x + i64::from(iw)).clamp(0, cw as i64) as usize;
    let y_lo = placement.image_y.max(0) as usize;
    let y_hi = (placement.image_y + i64::from(ih)).clamp(0, ch as i64) as usize;
    let (pw, ph) = (x_hi.saturating_sub(x_lo), y_hi.saturating_sub(y_lo));
    let clipped = (pw, ph) != (iw as usize, ih as usize);
    let product = if pw == 0 || ph == 0 {
        Vec::new()
    } else if !clipped && iw == cut.rect.w && ih == cut.rect.h {
        cut.pixels.clone()
    } else {
        // use_alpha: fast_image_resize premultiplies before filtering and divides after,
        // so transparent pixels' colour never bleeds into the edge (no dark halo).
        let mut options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
            .use_alpha(true);
        if clipped {
            // The source window that maps onto the visible part, at the same ratio.
            let rx = f64::from(cut.rect.w) / f64::from(iw);
            let ry = f64::from(cut.rect.h) / f64::from(ih);
            options = options.crop(
                (x_lo as i64 - placement.image_x) as f64 * rx,
                (y_lo as i64 - placement.image_y) as f64 * ry,
                pw as f64 * rx,
                ph as f64 * ry,
            );
        }
        let resized = resize::rgba8(
            &cut.pixels,
            (cut.rect.w, cut.rect.h),
            (pw as u32, ph as u32),
            &options,
        )
        .map_err(|e| RenderError::Resize(e.to_string()))?;
        operations.push(Operation::new(
            "resize",
            json!({ "filter": "lanczos3", "premultiplied": true, "from": [cut.rect.w, cut.rect.h],
                    "to": [iw, ih], "scale": placement.scale, "clipped_to_canvas": clipped }),
        ));
        resized
    };
    // Centre the product as it is after resizing, which is what verification measures.
    // Not along an axis where the resized cut-out was cut off at the canvas edge (a halo
    // reaching past it): moving it there would leave a strip of plain background.
    let (dx, dy) = centring_shift(&product, pw, (x_lo, y_lo), spec);
    let dx = if pw < iw as usize { 0 } else { dx };
    let dy = if ph < ih as usize { 0 } else { dy };
    placement.x = (i64::from(placement.x) + dx).max(0) as u32;
    placement.y = (i64::from(placement.y) + dy).max(0) as u32;
    placement.image_x += dx;
    placement.image_y += dy;
    // Where the product lands, clipped to the canvas: canvas (x, y) shows product pixel
    // (x - xo, y - yo).
    let (xo, yo) = (x_lo as i64 + dx, y_lo as i64 + dy);
    let land = |o: i64, n: usize, side: usize| {
        let a = o.clamp(0, side as i64) as usize;
        (a, ((o + n as i64).clamp(0, side as i64) as usize).max(a))
    };
    let (x_lo, x_hi) = land(xo, pw, cw);
    let (y_lo, y_hi) = land(yo, ph, ch);
    operations.push(Operation::new(
        "place",
        json!({ "canvas": [spec.width, spec.height], "subject": [placement.x, placement.y, placement.w, placement.h],
                "fill_ratio": spec.fill_ratio, "align": spec.align }),
    ));
    // Outside the subject box only what is seen is drawn: faint haze there would otherwise
    // tint the canvas border a few levels off the background.
    let (bx0, bx1) = (placement.x as usize, (placement.x + placement.w) as usize);
    let (by0, by1) = (placement.y as usize, (placement.y + placement.h) as usize);
    let keep = |x: usize, y: usize, p: &[u8]| {
        ((bx0..bx1).contains(&x) && (by0..by1).contains(&y)) || is_visible(p, spec.background, true)
    };
    let src_row = |y: usize| -> &[u8] {
        let r = (y as i64 - yo) as usize * pw * 4;
        let c = (x_lo as i64 - xo) as usize * 4;
        &product[r + c..r + pw * 4]
    };
    let (channels, pixels) = match spec.background {
        Background::Color(bg) => {
            let mut canvas = bg.repeat(cw * ch);
            canvas
                .par_chunks_mut(cw * 3)
                .enumerate()
                .filter(|(y, _)| (y_lo..y_hi).contains(y))
                .for_each(|(y, out)| {
                    for (i, (o, p)) in out[x_lo * 3..x_hi * 3]
                        .chunks_exact_mut(3)
                        .zip(src_row(y).chunks_exact(4))
                        .enumerate()
                    {
                        // Clear pixels leave the background as it is and opaque ones replace
                        // it, whether or not they are kept: the same bytes as the blend below.
                        match p[3] {
                            0 => continue,
                            255 => {
                                o.copy_from_slice(&p[..3]);
                                continue;
                            }
                            _ if !keep(x_lo + i, y, p) => continue,
                            _ => {}
                        }
                        let a = u32::from(p[3]);
                        for c in 0..3 {
                            o[c] = ((u32::from(p[c]) * a + u32::from(bg[c]) * (255 - a) + 127)
                                / 255) as u8;
                        }
                    }
                });
            operations.push(Operation::new(
                "flatten",
                json!({ "background": spec.background }),
            ));
            (3u8, canvas)
        }
        Background::Transparent => {
            let mut canvas = vec![0u8; cw * ch * 4];
            canvas
                .par_chunks_mut(cw * 4)
                .enumerate()
                .filter(|(y, _)| (y_lo..y_hi).contains(y))
                .for_each(|(y, out)| {
                    for (i, (o, p)) in out[x_lo * 4..x_hi * 4]
                        .chunks_exact_mut(4)
                        .zip(src_row(y).chunks_exact(4))
                        .enumerate()
                    {
                        // Fully transparent pixels carry no colour: keeps PNGs small and clean.
                        if p[3] == 255 || (p[3] > 0 && keep(x_lo + i, y, p)) {
                            o.copy_from_slice(p);
                        }
                    }
                });
            (4u8, canvas)
        }
    };
    Ok(Rendered {
        width: spec.width,
        height: spec.height,
        channels,
        pixels,
        placement,
        operations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::analyse;

    fn spec(id: &str) -> Spec {
        crate::spec::builtin(id).unwrap().unwrap()
    }

    /// A red disc with a soft edge on transparency.
    fn disc(w: u32, h: u32, cx: f64, cy: f64, r: f64) -> Frame {
        soft_disc(w, h, cx, cy, r, 4.0)
    }

    /// A red disc whose edge ramps from opaque to clear over `feather` pixels.
    fn soft_disc(w: u32, h: u32, cx: f64, cy: f64, r: f64, feather: f64) -> Frame {
        let mut px = vec![0u8; (w * h * 4) as usize];
        for y in 0..h {
            for x in 0..w {
                let d = ((f64::from(x) - cx).powi(2) + (f64::from(y) - cy).powi(2)).sqrt();
                let a = ((r - d) / feather).clamp(0.0, 1.0);
                let i = ((y * w + x) * 4) as usize;
                let a = (a * 255.0).round() as u8;
                // Transparent pixels hide black, as most encoders store them: a resize
                // that does not premultiply pulls that black into the edge.
                let px_val = if a == 0 {
                    [0, 0, 0, 0]
                } else {
                    [230, 20, 20, a]
                };
                px[i..i + 4].copy_from_slice(&px_val);
            }
        }
        Frame::from_rgba(w, h, px)
    }

    #[test]
    fn places_at_fill_ratio_and_centres() {
        let mut f = disc(1500, 1400, 700.0, 650.0, 600.0);
        let a = analyse(&mut f);
        let cut = cut_out(f, &a).unwrap();
        let s = spec("amazon-main");
        let r = render(&cut, &s).unwrap();
        let p = r.placement;
        assert_eq!((r.width, r.height, r.channels), (2000, 2000, 3));
        assert!(
            (f64::from(p.w.max(p.h)) / 2000.0 - 0.85).abs() < 0.002,
            "{p:?}"
        );
        assert!((i64::from(p.x) * 2 + i64::from(p.w) - 2000).abs() <= 1);
        // Corners are pure white, the centre is the product's red.
        assert_eq!(&r.pixels[..3], &[255, 255, 255]);
        let c = (1000 * 2000 + 1000) * 3;
        assert_eq!(&r.pixels[c..c + 3], &[230, 20, 20]);
    }

    #[test]
    fn bottom_align_sits_on_the_fill_box_floor() {
        let mut s = spec("amazon-main");
        s.align = Align::Bottom;
        let subject = Rect {
            x: 10,
            y: 20,
            w: 500,
            h: 1000,
        };
        let p = place(520, 1030, subject, &s);
        // Fill box is 1700 px centred: its floor is at 1850. The product is 1702 px: the
        // marketplace's 85% in whole pixels plus one per side for soft edges.
        assert_eq!(p.h, 1702);
        assert_eq!(p.y + p.h, 1850);
        s.fill_ratio = 0.5;
        s.min_fill_ratio = None;
        let p = place(520, 1030, subject, &s);
        assert_eq!((p.y + p.h, p.h), (1500, 1000));
        assert_eq!(p.image_y, i64::from(p.y) - 20);
    }

    /// Regression: a small product in a large faint halo once resized the whole halo
    /// (gigabytes) and tinted the canvas border.
    #[test]
    fn halo_beyond_the_canvas_is_clipped_and_not_drawn() {
        let n = 3000u32;
        let mut px = vec![0u8; (n * n * 4) as usize];
        for (i, p) in px.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % n, i as u32 / n);
            let inside = (1450..1550).contains(&x) && (1450..1550).contains(&y);
            let clear = x < 100; // enough transparency to be a cut-out
            p.copy_from_slice(if inside {
                &[200, 30, 30, 255]
            } else if clear {
                &[0, 0, 0, 0]
            } else {
                &[230, 230, 230, 40]
            });
        }
        let mut f = Frame::from_rgba(n, n, px);
        let a = analyse(&mut f);
        let r = render(&cut_out(f, &a).unwrap(), &spec("amazon-main")).unwrap();
        let resize = r.operations.iter().find(|o| o.name == "resize").unwrap();
        assert_eq!(resize.params["clipped_to_canvas"], true);
        assert_eq!(r.pixels.len(), 2000 * 2000 * 3);
        for i in 0..2000usize {
            for (x, y) in [(i, 0), (i, 1999), (0, i), (1999, i)] {
                let k = (y * 2000 + x) * 3;
                assert_eq!(&r.pixels[k..k + 3], &[255, 255, 255], "border at {x},{y}");
            }
        }
        let c = (1000 * 2000 + 1000) * 3;
        assert_eq!(&r.pixels[c..c + 3], &[200, 30, 30]);
    }

    #[test]
    fn upscale_is_capped() {
        let mut f = disc(200, 200, 100.0, 100.0, 50.0);
        let a = analyse(&mut f);
        let r = render(&cut_out(f, &a).unwrap(), &spec("amazon-main")).unwrap();
        assert!((r.placement.scale - 2.0).abs() < 1e-9);
        assert!(r.placement.wanted_scale > 10.0);
    }

    #[test]
    fn edge_has_no_dark_halo_after_flattening() {
        // Straight-alpha red disc whose transparent pixels hide black: a resize without
        // premultiplication would pull black into the edge.
        // A near-hard edge on a downscale, where the filter reaches furthest into the clear.
        let mut f = soft_disc(2400, 2400, 1200.0, 1200.0, 1100.0, 1.0);
        let a = analyse(&mut f);
        let r = render(&cut_out(f, &a).unwrap(), &spec("amazon-main")).unwrap();
        // Every pixel is a mix of the red and white, never darker: the diagonal edges cross
        // the crop's corners, where fully transparent black pixels sit.
        for (i, p) in r.pixels.chunks_exact(3).enumerate() {
            assert!(
                p[0] >= 226 && p[1] >= 18 && p[2] >= 18,
                "dark fringe at x={} y={}: {p:?}",
                i % 2000,
                i / 2000
            );
        }
    }

    #[test]
    fn transparent_spec_keeps_alpha_and_clears_colour() {
        let mut f = disc(400, 400, 200.0, 200.0, 150.0);
        let a = analyse(&mut f);
        let r = render(&cut_out(f, &a).unwrap(), &spec("mockup-input")).unwrap();
        assert_eq!(r.channels, 4);
        assert_eq!(&r.pixels[..4], &[0, 0, 0, 0]);
        let c = (1000 * 2000 + 1000) * 4;
        assert_eq!(r.pixels[c + 3], 255);
    }
}
