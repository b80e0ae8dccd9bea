//! Linear light or gamma space for resize and flatten: measured against a linear reference.
//!
//! shelfready resizes a straight-alpha RGBA8 cut-out with fast_image_resize (Lanczos3, U8x4,
//! `use_alpha`: premultiplied in sRGB-encoded values) and flattens it onto the background with
//! `(c*a + bg*(255-a) + 127) / 255`, also on sRGB-encoded values. This example renders
//! synthetic and fixture cut-outs through four pipelines and compares each with a reference:
//!
//! * ref: decode sRGB to linear f32 (exact sRGB curve, f64 maths), premultiply in linear,
//!   Lanczos3 with fast_image_resize F32x4 (f64 accumulation; alpha handled by hand,
//!   `use_alpha(false)`), flatten onto white in linear, encode to sRGB u8 at the very end.
//!   Checked against an independent separable f64 Lanczos3 ("reference check" lines, which
//!   also show that b's few large differences on curved edges come from fast_image_resize's
//!   integer paths clamping their intermediate image between the two passes, not from b's
//!   16-bit linear encoding).
//! * a: today's pipeline: U8x4 resize with `use_alpha`, flatten in sRGB u8.
//! * b: linear 16-bit: sRGB u8 -> linear u16 (LUT), U16x4 resize with `use_alpha`, flatten
//!   in linear u16, linear -> sRGB u8 (65536-entry LUT). What a production linear mode costs.
//! * c: a's gamma-space U8x4 resize, then flatten in linear (same flatten as b).
//! * d: b's linear U16x4 resize, stored back as straight sRGB u8, then flattened as today.
//!
//! Cases (all synthetic ones deterministic): a #202020 and a #D02020 product on transparency
//! with a hard edge (exact area coverage) or a 3 px feathered one (Gaussian, 10-90% ramp 3 px),
//! straight and round (disc), at x0.43, x0.7 and x1.8; the same hard discs with the matte
//! fitted to a photo of them in sRGB values (as matting models and hand-refined masks are
//! made; the reference renders the true coverage); 1 and 2 px #202020 lines on white and
//! white lines on #202020 at x0.43 and x0.7; a 1 px black/white checker and 3 px stripes;
//! the ROCKET02 and MUG01 fixture cut-outs and the opaque ROTATED07 photo.
//!
//! Columns, per case and pipeline, against the reference rounded to u8:
//! * max, mean, %>3: max and mean absolute difference in sRGB u8 levels, and the share of
//!   values off by more than 3 levels, over all three channels of the case's mask.
//!   Masks: `edge` = pixels whose 3x3 neighbourhood in the reference's resized alpha (x255)
//!   spans >= 2 levels (the anti-aliased rim and its Lanczos ringing); `detail` = pixels
//!   whose 3x3 neighbourhood spans >= 2 levels in any reference RGB channel (opaque images;
//!   `detail255` also requires alpha 255 in that 3x3, i.e. the inside of a cut-out);
//!   `region` = the whole output less an 8 px border (patterns that average out).
//! * shape: `px` = apparent edge shift, sum over the image of (coverage - reference coverage)
//!   divided by the edge length in output px, coverage = (1 - Y) / (1 - Y_product) with Y the
//!   linear Rec.709 luminance: positive = the product looks bigger (its rim darker/heavier).
//!   `%` = line weight: sum of line coverage (dark: (1-Y)/(1-Y_dark); light: (Y-Y_dark)/
//!   (1-Y_dark)) relative to the reference's, in percent. `lv` = mean signed difference in
//!   sRGB levels over the mask (negative = darker).
//! * jpg: the same for the reference itself after a JPEG q90 round trip (image's encoder,
//!   which writes 4:4:4; shelfready's default 4:2:0 loses more on saturated edges), for
//!   scale: what the delivered file loses anyway.
//!
//! Then times (a), (b) and (c) on a 3400 px and a 2400 px cut-out resized to 1700 px and
//! flattened onto a 2000x2000 canvas (median and min of 15 interleaved runs).
//!
//! Run: `cargo run --release --example linear_light [-- metrics|timing]` (about 15 s on
//! 2 cores; `RAYON_NUM_THREADS=1` for single-threaded timings). The photo cases read
//! tests/fixtures/{ROCKET02_1,MUG01_1,ROTATED07_1}.png next to Cargo.toml and are skipped when
//! missing; `LINEAR_LIGHT_FIXTURES=<dir>` points elsewhere. It writes no files.

use std::time::Instant;

use fast_image_resize as fr;
use fr::images::{Image, ImageRef, TypedImage, TypedImageRef};
use fr::pixels::{F32x4, U16x4};
use fr::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// A JPEG round trip to compare against: (column name, encode + decode of an RGB8 image).
pub type Codec = (&'static str, fn(&[u8], u32, u32) -> Vec<u8>);

#[allow(dead_code)]
fn main() {
    run(&[]);
}

// ---------------------------------------------------------------------------------------
// sRGB transfer function and lookup tables

fn srgb_to_linear(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(l: f64) -> f64 {
    if l <= 0.003_130_8 {
        l * 12.92
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    }
}

struct Luts {
    /// sRGB u8 -> linear u16.
    dec16: [u16; 256],
    /// sRGB u8 -> linear, exact.
    dec: [f64; 256],
    /// linear u16 -> sRGB u8, rounded.
    enc8: Vec<u8>,
}

impl Luts {
    fn new() -> Self {
        let mut dec16 = [0u16; 256];
        let mut dec = [0f64; 256];
        for v in 0..256 {
            dec[v] = srgb_to_linear(v as f64 / 255.0);
            dec16[v] = (dec[v] * 65535.0).round() as u16;
        }
        let enc8 = (0..65536u32)
            .map(|i| (linear_to_srgb(f64::from(i) / 65535.0) * 255.0).round() as u8)
            .collect();
        Luts { dec16, dec, enc8 }
    }
    fn y(&self, p: &[u8]) -> f64 {
        0.2126 * self.dec[p[0] as usize]
            + 0.7152 * self.dec[p[1] as usize]
            + 0.0722 * self.dec[p[2] as usize]
    }
}

// ---------------------------------------------------------------------------------------
// Threads: the same count fast_image_resize's rayon pool uses.

fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f(row_index, row)` over the rows of `out` (each `row_len` long) on `threads()` threads.
fn par_rows<T: Send>(out: &mut [T], row_len: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let rows = out.len() / row_len;
    let per = rows.div_ceil(threads()).max(1);
    std::thread::scope(|s| {
        for (i, chunk) in out.chunks_mut(per * row_len).enumerate() {
            let f = &f;
            s.spawn(move || {
                for (j, row) in chunk.chunks_mut(row_len).enumerate() {
                    f(i * per + j, row);
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------
// Pipelines. Input: straight-alpha RGBA8. Output: RGB8 flattened onto white (or, for the
// reference, also its resized alpha).

#[derive(Clone)]
pub struct Rgba {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

fn lanczos(use_alpha: bool) -> ResizeOptions {
    ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(use_alpha)
}

/// Today's resize: U8x4, premultiplied in sRGB-encoded u8.
fn resize_u8(src: &Rgba, w: u32, h: u32) -> Vec<u8> {
    let s = ImageRef::new(src.w, src.h, &src.px, PixelType::U8x4).unwrap();
    let mut d = Image::new(w, h, PixelType::U8x4);
    Resizer::new().resize(&s, &mut d, &lanczos(true)).unwrap();
    d.into_vec()
}

/// Today's flatten, onto white, row by row into an RGB8 canvas region.
fn flatten_gamma_row(src: &[u8], out: &mut [u8]) {
    for (o, p) in out.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
        let a = u32::from(p[3]);
        for (o, &c) in o.iter_mut().zip(&p[..3]) {
            *o = ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
}

fn to_lin16(l: &Luts, src: &Rgba) -> Vec<U16x4> {
    let mut out = vec![U16x4::new([0; 4]); (src.w * src.h) as usize];
    let w = src.w as usize;
    par_rows(&mut out, w, |y, row| {
        for (o, p) in row
            .iter_mut()
            .zip(src.px[y * w * 4..(y + 1) * w * 4].chunks_exact(4))
        {
            *o = U16x4::new([
                l.dec16[p[0] as usize],
                l.dec16[p[1] as usize],
                l.dec16[p[2] as usize],
                u16::from(p[3]) * 257,
            ]);
        }
    });
    out
}

fn resize_u16(src: &[U16x4], sw: u32, sh: u32, w: u32, h: u32) -> TypedImage<'static, U16x4> {
    let s = TypedImageRef::new(sw, sh, src).unwrap();
    let mut d = TypedImage::<U16x4>::new(w, h);
    Resizer::new()
        .resize_typed(&s, &mut d, &lanczos(true))
        .unwrap();
    d
}

/// Flatten onto white in linear light, 16-bit: out = c*a + 1*(1-a), then encode.
fn flatten_lin16_row(l: &Luts, src: &[U16x4], out: &mut [u8]) {
    for (o, p) in out.chunks_exact_mut(3).zip(src) {
        let a = u64::from(p.0[3]);
        for (o, &c) in o.iter_mut().zip(&p.0[..3]) {
            let v = (u64::from(c) * a + 65535 * (65535 - a) + 32767) / 65535;
            *o = l.enc8[v as usize];
        }
    }
}

/// Gamma-space RGBA8 flattened in linear light (candidate c).
fn flatten_lin_from_u8_row(l: &Luts, src: &[u8], out: &mut [u8]) {
    for (o, p) in out.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
        let a = u64::from(p[3]) * 257;
        for (o, &c) in o.iter_mut().zip(&p[..3]) {
            let v = (u64::from(l.dec16[c as usize]) * a + 65535 * (65535 - a) + 32767) / 65535;
            *o = l.enc8[v as usize];
        }
    }
}

fn rgb_canvas(w: u32, h: u32) -> Vec<u8> {
    vec![255u8; (w * h * 3) as usize]
}

fn pipe_a(src: &Rgba, w: u32, h: u32) -> Vec<u8> {
    let r = resize_u8(src, w, h);
    let mut out = rgb_canvas(w, h);
    let wu = w as usize;
    par_rows(&mut out, wu * 3, |y, row| {
        flatten_gamma_row(&r[y * wu * 4..(y + 1) * wu * 4], row)
    });
    out
}

fn pipe_b(l: &Luts, src: &Rgba, w: u32, h: u32) -> Vec<u8> {
    let lin = to_lin16(l, src);
    let r = resize_u16(&lin, src.w, src.h, w, h);
    let mut out = rgb_canvas(w, h);
    let wu = w as usize;
    let px = r.pixels();
    par_rows(&mut out, wu * 3, |y, row| {
        flatten_lin16_row(l, &px[y * wu..(y + 1) * wu], row)
    });
    out
}

fn pipe_c(l: &Luts, src: &Rgba, w: u32, h: u32) -> Vec<u8> {
    let r = resize_u8(src, w, h);
    let mut out = rgb_canvas(w, h);
    let wu = w as usize;
    par_rows(&mut out, wu * 3, |y, row| {
        flatten_lin_from_u8_row(l, &r[y * wu * 4..(y + 1) * wu * 4], row)
    });
    out
}

fn pipe_d(l: &Luts, src: &Rgba, w: u32, h: u32) -> Vec<u8> {
    let lin = to_lin16(l, src);
    let r = resize_u16(&lin, src.w, src.h, w, h);
    let straight: Vec<u8> = r
        .pixels()
        .iter()
        .flat_map(|p| {
            let [r, g, b, a] = p.0;
            [
                l.enc8[r as usize],
                l.enc8[g as usize],
                l.enc8[b as usize],
                ((u32::from(a) + 128) / 257) as u8,
            ]
        })
        .collect();
    let mut out = rgb_canvas(w, h);
    let wu = w as usize;
    par_rows(&mut out, wu * 3, |y, row| {
        flatten_gamma_row(&straight[y * wu * 4..(y + 1) * wu * 4], row)
    });
    out
}

struct RefOut {
    rgb: Vec<u8>,
    alpha8: Vec<u8>,
}

/// Linear premultiplied RGBA in f64 from straight sRGB RGBA8.
fn premul_linear(l: &Luts, src: &Rgba) -> Vec<[f64; 4]> {
    src.px
        .chunks_exact(4)
        .map(|p| {
            let a = f64::from(p[3]) / 255.0;
            [
                l.dec[p[0] as usize] * a,
                l.dec[p[1] as usize] * a,
                l.dec[p[2] as usize] * a,
                a,
            ]
        })
        .collect()
}

/// Clamps a filtered premultiplied pixel as the integer pipelines do (every channel into
/// [0, 1], colour at most alpha), flattens onto white in linear light and encodes to sRGB u8.
fn ref_finish(px: impl Iterator<Item = [f64; 4]>) -> RefOut {
    let mut rgb = Vec::new();
    let mut alpha8 = Vec::new();
    for p in px {
        let a = p[3].clamp(0.0, 1.0);
        for c in &p[..3] {
            let v = c.clamp(0.0, a) + (1.0 - a);
            rgb.push((linear_to_srgb(v.clamp(0.0, 1.0)) * 255.0).round() as u8);
        }
        alpha8.push((a * 255.0).round() as u8);
    }
    RefOut { rgb, alpha8 }
}

fn pipe_ref(l: &Luts, src: &Rgba, w: u32, h: u32) -> RefOut {
    let pm: Vec<F32x4> = premul_linear(l, src)
        .into_iter()
        .map(|p| F32x4::new(p.map(|v| v as f32)))
        .collect();
    let s = TypedImageRef::new(src.w, src.h, &pm).unwrap();
    let mut d = TypedImage::<F32x4>::new(w, h);
    Resizer::new()
        .resize_typed(&s, &mut d, &lanczos(false))
        .unwrap();
    ref_finish(d.pixels().iter().map(|p| p.0.map(f64::from)))
}

/// Independent check of the reference: separable Lanczos3 in f64 with the usual convention
/// (output pixel centre (x+0.5)*scale in source coordinates, kernel stretched by the scale
/// when downscaling, clipped at the image border and renormalised), horizontal pass first.
/// `clamp_mid` clamps the intermediate image to [0, 1] between the passes, as
/// fast_image_resize's integer pixel types must (their intermediate is stored as u8/u16).
fn pipe_ref_f64(l: &Luts, src: &Rgba, w: u32, h: u32, clamp_mid: bool) -> RefOut {
    fn lanczos3(x: f64) -> f64 {
        let sinc = |x: f64| {
            if x == 0.0 {
                1.0
            } else {
                (x * std::f64::consts::PI).sin() / (x * std::f64::consts::PI)
            }
        };
        if x.abs() < 3.0 {
            sinc(x) * sinc(x / 3.0)
        } else {
            0.0
        }
    }
    fn weights(n_in: u32, n_out: u32) -> Vec<(usize, Vec<f64>)> {
        let scale = f64::from(n_in) / f64::from(n_out);
        let fs = scale.max(1.0);
        (0..n_out)
            .map(|o| {
                let centre = (f64::from(o) + 0.5) * scale;
                let lo = (centre - 3.0 * fs).floor().max(0.0) as usize;
                let hi = ((centre + 3.0 * fs).ceil() as usize).min(n_in as usize);
                let mut ws: Vec<f64> = (lo..hi)
                    .map(|i| lanczos3((i as f64 + 0.5 - centre) / fs))
                    .collect();
                let sum: f64 = ws.iter().sum();
                ws.iter_mut().for_each(|v| *v /= sum);
                (lo, ws)
            })
            .collect()
    }
    let pm = premul_linear(l, src);
    let (sw, sh) = (src.w as usize, src.h as usize);
    let wx = weights(src.w, w);
    let wy = weights(src.h, h);
    let mut tmp = vec![[0f64; 4]; w as usize * sh];
    for y in 0..sh {
        for (x, (lo, ws)) in wx.iter().enumerate() {
            let mut acc = [0f64; 4];
            for (k, wv) in ws.iter().enumerate() {
                let p = pm[y * sw + lo + k];
                for c in 0..4 {
                    acc[c] += p[c] * wv;
                }
            }
            tmp[y * w as usize + x] = if clamp_mid {
                acc.map(|v| v.clamp(0.0, 1.0))
            } else {
                acc
            };
        }
    }
    let mut out = vec![[0f64; 4]; (w * h) as usize];
    for (y, (lo, ws)) in wy.iter().enumerate() {
        for x in 0..w as usize {
            let mut acc = [0f64; 4];
            for (k, wv) in ws.iter().enumerate() {
                let p = tmp[(lo + k) * w as usize + x];
                for c in 0..4 {
                    acc[c] += p[c] * wv;
                }
            }
            out[y * w as usize + x] = acc;
        }
    }
    ref_finish(out.into_iter())
}

// ---------------------------------------------------------------------------------------
// Test images (deterministic)

const DARK: [u8; 3] = [0x20, 0x20, 0x20];
const RED: [u8; 3] = [0xD0, 0x20, 0x20];

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7).
fn phi(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let erf = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[derive(Clone, Copy)]
enum Shape {
    /// Half plane x < x0 (vertical edge).
    Straight {
        x0: f64,
    },
    Disc {
        cx: f64,
        cy: f64,
        r: f64,
    },
}

/// A product of one colour on transparency: `soft` = None gives a hard edge, anti-aliased by
/// exact area coverage (16x16 supersampling); Some(w) an edge feathered with a Gaussian whose
/// 10-90% alpha ramp is `w` px wide. Transparent pixels hide black.
fn product(w: u32, h: u32, shape: Shape, colour: [u8; 3], soft: Option<f64>) -> Rgba {
    let sdist = |x: f64, y: f64| match shape {
        Shape::Straight { x0 } => x0 - x,
        Shape::Disc { cx, cy, r } => r - ((x - cx).powi(2) + (y - cy).powi(2)).sqrt(),
    };
    let mut px = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let (xc, yc) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            let d = sdist(xc, yc);
            let cov = match soft {
                Some(ramp) => phi(d / (ramp / 2.563_103)),
                None if d >= 0.75 => 1.0,
                None if d <= -0.75 => 0.0,
                None => {
                    let mut n = 0;
                    for sy in 0..16 {
                        for sx in 0..16 {
                            let (u, v) = (
                                f64::from(x) + (f64::from(sx) + 0.5) / 16.0,
                                f64::from(y) + (f64::from(sy) + 0.5) / 16.0,
                            );
                            n += u32::from(sdist(u, v) >= 0.0);
                        }
                    }
                    f64::from(n) / 256.0
                }
            };
            let a = (cov * 255.0).round() as u8;
            if a == 0 {
                px.extend_from_slice(&[0, 0, 0, 0]);
            } else {
                px.extend_from_slice(&[colour[0], colour[1], colour[2], a]);
            }
        }
    }
    Rgba { w, h, px }
}

/// Opaque canvas `bg` with vertical lines of `lw` px in `fg`, one every 23 px; returns the
/// image and each line's centre x in source coordinates.
fn lines(w: u32, h: u32, lw: u32, fg: [u8; 3], bg: [u8; 3]) -> (Rgba, Vec<f64>) {
    let starts: Vec<u32> = (0..)
        .map(|k| 20 + 23 * k)
        .take_while(|&x| x + lw + 20 <= w)
        .collect();
    let mut px = Vec::with_capacity((w * h * 4) as usize);
    for _ in 0..h {
        for x in 0..w {
            let on = starts.iter().any(|&s| (s..s + lw).contains(&x));
            let c = if on { fg } else { bg };
            px.extend_from_slice(&[c[0], c[1], c[2], 255]);
        }
    }
    let centres = starts
        .iter()
        .map(|&s| f64::from(s) + f64::from(lw) / 2.0)
        .collect();
    (Rgba { w, h, px }, centres)
}

/// Opaque black/white pattern: 1 px checker (`period` 0) or vertical stripes `period` px
/// black then `period` px white.
fn pattern(w: u32, h: u32, period: u32) -> Rgba {
    let mut px = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let black = match period {
                0 => (x + y).is_multiple_of(2),
                p => (x / p).is_multiple_of(2),
            };
            let v = if black { 0 } else { 255 };
            px.extend_from_slice(&[v, v, v, 255]);
        }
    }
    Rgba { w, h, px }
}

fn load_png(name: &str, premultiplied: bool) -> Option<Rgba> {
    let dir = std::env::var("LINEAR_LIGHT_FIXTURES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures").into());
    let path = std::path::Path::new(&dir).join(name);
    let Ok(img) = image::open(&path) else {
        eprintln!(
            "(skipping {}: not readable; set LINEAR_LIGHT_FIXTURES=<dir>)",
            path.display()
        );
        return None;
    };
    let img = img.to_rgba8();
    let (w, h) = img.dimensions();
    let mut px = img.into_raw();
    if premultiplied {
        // As shelfready's cut_out does for premultiplied ("rembg-style") edges.
        for p in px.chunks_exact_mut(4) {
            let a = u32::from(p[3]);
            if a > 0 && a < 255 {
                for v in &mut p[..3] {
                    *v = ((u32::from(*v) * 255 + a / 2) / a).min(255) as u8;
                }
            }
        }
    }
    Some(Rgba { w, h, px })
}

// ---------------------------------------------------------------------------------------
// Cases and metrics

#[derive(Clone, Copy, PartialEq)]
enum Mask {
    Edge,
    Detail,
    Detail255,
    Region,
}

#[derive(Clone)]
enum Metric {
    /// Edge shift in output px: product luminance, edge length in source px.
    Shift { y_prod: f64, len_src: f64 },
    /// Line weight: dark lines?, luminance of the dark colour, line centres (source x).
    Weight {
        dark: bool,
        y_dark: f64,
        centres: Vec<f64>,
    },
    /// Mean signed level difference over the mask.
    Bias,
}

struct Eval {
    group: &'static str,
    label: String,
    mask: Mask,
    metric: Metric,
}

struct Case {
    src: Rgba,
    /// What the reference renders, when not `src` (the physical truth behind a fitted matte).
    truth: Option<Rgba>,
    scale: f64,
    evals: Vec<Eval>,
}

fn build_mask(r: &RefOut, w: usize, h: usize, kind: Mask) -> Vec<bool> {
    let range = |x: usize, y: usize, get: &dyn Fn(usize) -> u8| {
        let (mut lo, mut hi) = (255u8, 0u8);
        for yy in y.saturating_sub(1)..(y + 2).min(h) {
            for xx in x.saturating_sub(1)..(x + 2).min(w) {
                let v = get(yy * w + xx);
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        (lo, hi)
    };
    let mut m = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            m[y * w + x] = match kind {
                Mask::Region => x >= 8 && y >= 8 && x + 8 < w && y + 8 < h,
                Mask::Edge => {
                    let (lo, hi) = range(x, y, &|i| r.alpha8[i]);
                    hi - lo >= 2
                }
                Mask::Detail | Mask::Detail255 => {
                    let detail = (0..3).any(|c| {
                        let (lo, hi) = range(x, y, &|i| r.rgb[i * 3 + c]);
                        hi - lo >= 2
                    });
                    detail && (kind == Mask::Detail || range(x, y, &|i| r.alpha8[i]).0 == 255)
                }
            };
        }
    }
    m
}

/// Per group and pipeline: worst max, and sums of the cases' means, %>3 and shapes.
#[derive(Clone, Default)]
struct Acc {
    max: u8,
    mean: f64,
    over3: f64,
    shape: f64,
}

impl Acc {
    fn add(&mut self, s: &Score) {
        self.max = self.max.max(s.max);
        self.mean += s.mean;
        self.over3 += s.over3;
        self.shape += s.shape;
    }
}

struct Group {
    name: &'static str,
    unit: &'static str,
    acc: Vec<Acc>,
    count: usize,
}

struct Score {
    max: u8,
    mean: f64,
    /// Share of the mask's channel values off by more than 3 levels, in %.
    over3: f64,
    shape: f64,
}

/// Coverage-like quantity per pixel for the shape metric.
fn metric_sum(l: &Luts, rgb: &[u8], metric: &Metric) -> f64 {
    match metric {
        Metric::Shift { y_prod, .. } => rgb
            .chunks_exact(3)
            .map(|p| (1.0 - l.y(p)) / (1.0 - y_prod))
            .sum(),
        Metric::Weight { dark, y_dark, .. } => rgb
            .chunks_exact(3)
            .map(|p| {
                if *dark {
                    (1.0 - l.y(p)) / (1.0 - y_dark)
                } else {
                    (l.y(p) - y_dark) / (1.0 - y_dark)
                }
            })
            .sum(),
        Metric::Bias => 0.0,
    }
}

fn score(l: &Luts, r: &RefOut, cand: &[u8], mask: &[bool], metric: &Metric, scale: f64) -> Score {
    let (mut max, mut sum, mut signed, mut n, mut over3) = (0u8, 0u64, 0i64, 0u64, 0u64);
    for (i, &m) in mask.iter().enumerate() {
        if m {
            for c in 0..3 {
                let (a, b) = (cand[i * 3 + c], r.rgb[i * 3 + c]);
                max = max.max(a.abs_diff(b));
                sum += u64::from(a.abs_diff(b));
                signed += i64::from(a) - i64::from(b);
                over3 += u64::from(a.abs_diff(b) > 3);
                n += 1;
            }
        }
    }
    let n = n.max(1) as f64;
    let shape = match metric {
        Metric::Shift { len_src, .. } => {
            (metric_sum(l, cand, metric) - metric_sum(l, &r.rgb, metric)) / (len_src * scale)
        }
        Metric::Weight { .. } => {
            (metric_sum(l, cand, metric) / metric_sum(l, &r.rgb, metric) - 1.0) * 100.0
        }
        Metric::Bias => signed as f64 / n,
    };
    Score {
        max,
        mean: sum as f64 / n,
        over3: over3 as f64 / n * 100.0,
        shape,
    }
}

/// Mean darkest (dark lines) or brightest (light lines) green level across each line's
/// profile on the middle row.
fn line_peak(rgb: &[u8], w: usize, h: usize, centres: &[f64], scale: f64, dark: bool) -> f64 {
    let y = h / 2;
    let mut total = 0.0;
    for &c in centres {
        let x = (c * scale - 0.5).round() as i64;
        let vals = (x - 2..=x + 2)
            .filter(|&x| x >= 0 && (x as usize) < w)
            .map(|x| rgb[(y * w + x as usize) * 3 + 1]);
        total += f64::from(if dark {
            vals.min().unwrap()
        } else {
            vals.max().unwrap()
        });
    }
    total / centres.len() as f64
}

/// Photographs a coverage-alpha cut-out on white (linear-light mix, sRGB u8) and fits a
/// straight-alpha matte to that photo in sRGB values, least squares over the channels, with
/// the product colour as foreground (as shelfready's defringe would leave it).
fn fit_matte(l: &Luts, truth: &Rgba) -> Rgba {
    let mut px = truth.px.clone();
    for p in px.chunks_exact_mut(4) {
        if p[3] == 0 || p[3] == 255 {
            continue;
        }
        let a = f64::from(p[3]) / 255.0;
        let (mut num, mut den) = (0.0, 0.0);
        for &c in &p[..3] {
            let photo = (linear_to_srgb(a * l.dec[c as usize] + (1.0 - a)) * 255.0).round();
            num += (255.0 - photo) * (255.0 - f64::from(c));
            den += (255.0 - f64::from(c)).powi(2);
        }
        p[3] = (num / den * 255.0).round().clamp(0.0, 255.0) as u8;
        if p[3] == 0 {
            p[..3].fill(0);
        }
    }
    Rgba {
        w: truth.w,
        h: truth.h,
        px,
    }
}

fn cases(l: &Luts) -> Vec<Case> {
    let mut out = Vec::new();
    let y_of = |c: [u8; 3]| l.y(&c);
    let scales = [0.43, 0.7, 1.8];
    for (soft, group) in [(None, "hard edge"), (Some(3.0), "soft edge 3px")] {
        for (colour, cname) in [(DARK, "#202020"), (RED, "#D02020")] {
            for &s in &scales {
                // Straight edge at a fractional position, full height.
                let src = product(480, 320, Shape::Straight { x0: 240.37 }, colour, soft);
                out.push(Case {
                    src,
                    truth: None,
                    scale: s,
                    evals: vec![Eval {
                        group,
                        label: format!("{group} {cname} straight x{s}"),
                        mask: Mask::Edge,
                        metric: Metric::Shift {
                            y_prod: y_of(colour),
                            len_src: 320.0,
                        },
                    }],
                });
                let r = 200.0;
                let src = product(
                    480,
                    480,
                    Shape::Disc {
                        cx: 240.3,
                        cy: 239.8,
                        r,
                    },
                    colour,
                    soft,
                );
                out.push(Case {
                    src,
                    truth: None,
                    scale: s,
                    evals: vec![Eval {
                        group,
                        label: format!("{group} {cname} disc x{s}"),
                        mask: Mask::Edge,
                        metric: Metric::Shift {
                            y_prod: y_of(colour),
                            len_src: 2.0 * std::f64::consts::PI * r,
                        },
                    }],
                });
            }
        }
    }
    // The same hard discs as a background remover would hand them over: photographed on
    // white (optical mix in linear light, then sRGB-encoded), and the matte fitted to that
    // photo in sRGB values (v = a*F + (1-a)*B), as matting models are trained and as masks
    // refined by eye over a gamma-space composite end up. The reference renders the true
    // coverage; the candidates get the fitted matte.
    for (colour, cname) in [(DARK, "#202020"), (RED, "#D02020")] {
        let truth = product(
            480,
            480,
            Shape::Disc {
                cx: 240.3,
                cy: 239.8,
                r: 200.0,
            },
            colour,
            None,
        );
        let fitted = fit_matte(l, &truth);
        for &s in &scales {
            out.push(Case {
                src: fitted.clone(),
                truth: Some(truth.clone()),
                scale: s,
                evals: vec![Eval {
                    group: "sRGB-fitted matte",
                    label: format!("fitted matte {cname} disc x{s}"),
                    mask: Mask::Edge,
                    metric: Metric::Shift {
                        y_prod: y_of(colour),
                        len_src: 2.0 * std::f64::consts::PI * 200.0,
                    },
                }],
            });
        }
    }
    for &s in &[0.43, 0.7] {
        for lw in [1, 2] {
            for dark in [true, false] {
                let (fg, bg) = if dark {
                    (DARK, [255; 3])
                } else {
                    ([255; 3], DARK)
                };
                let (src, centres) = lines(600, 320, lw, fg, bg);
                let group = if dark {
                    "dark lines on white"
                } else {
                    "white lines on dark"
                };
                out.push(Case {
                    src,
                    truth: None,
                    scale: s,
                    evals: vec![Eval {
                        group,
                        label: format!("{lw}px {} lines x{s}", if dark { "dark" } else { "white" }),
                        mask: Mask::Detail,
                        metric: Metric::Weight {
                            dark,
                            y_dark: y_of(DARK),
                            centres,
                        },
                    }],
                });
            }
        }
    }
    for (period, s, name) in [
        (0, 0.43, "1px checker"),
        (0, 0.7, "1px checker"),
        (3, 0.43, "3px stripes"),
    ] {
        out.push(Case {
            src: pattern(400, 400, period),
            truth: None,
            scale: s,
            evals: vec![Eval {
                group: "b/w pattern",
                label: format!("{name} x{s}"),
                mask: Mask::Region,
                metric: Metric::Bias,
            }],
        });
    }
    for (file, premul) in [("ROCKET02_1.png", false), ("MUG01_1.png", true)] {
        let Some(src) = load_png(file, premul) else {
            continue;
        };
        let name = file.split('_').next().unwrap();
        for &s in &scales {
            out.push(Case {
                src: src.clone(),
                truth: None,
                scale: s,
                evals: vec![
                    Eval {
                        group: "photo cut-out rim",
                        label: format!("{name} rim x{s}"),
                        mask: Mask::Edge,
                        metric: Metric::Bias,
                    },
                    Eval {
                        group: "photo interior",
                        label: format!("{name} interior x{s}"),
                        mask: Mask::Detail255,
                        metric: Metric::Bias,
                    },
                ],
            });
        }
    }
    if let Some(src) = load_png("ROTATED07_1.png", false) {
        for &s in &[0.43, 0.7] {
            out.push(Case {
                src: src.clone(),
                truth: None,
                scale: s,
                evals: vec![Eval {
                    group: "photo interior",
                    label: format!("ROTATED07 opaque x{s}"),
                    mask: Mask::Detail,
                    metric: Metric::Bias,
                }],
            });
        }
    }
    out
}

fn jpeg444_q90(rgb: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90)
        .encode(rgb, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8()
        .into_raw()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let field = |k: &str| {
        info.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("?")
            .trim()
            .to_string()
    };
    format!(
        "{model} (family {}, model {}), {} logical CPUs",
        field("cpu family"),
        field("model\t"),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )
}

/// A synthetic photo-like cut-out: textured disc, hard anti-aliased rim.
fn timing_source(side: u32) -> Rgba {
    let mut img = product(
        side,
        side,
        Shape::Disc {
            cx: side as f64 / 2.0,
            cy: side as f64 / 2.0,
            r: side as f64 * 0.48,
        },
        [0; 3],
        None,
    );
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for (i, p) in img.px.chunks_exact_mut(4).enumerate() {
        if p[3] > 0 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let (x, y) = ((i as u32 % side) as f64, (i as u32 / side) as f64);
            let base = 110.0 + 70.0 * ((x / 97.0).sin() * (y / 61.0).cos());
            for (c, v) in p[..3].iter_mut().enumerate() {
                *v = (base + c as f64 * 25.0 + ((seed >> (8 * c)) & 15) as f64).clamp(0.0, 255.0)
                    as u8;
            }
        }
    }
    img
}

/// Buffers and resizer kept across runs (one set per pipeline, as a worker thread would keep
/// them), so the timings compare the pixel work and not the allocator's page faults.
struct Bench {
    resizer: Resizer,
    dst8: Image<'static>,
    dst16: TypedImage<'static, U16x4>,
    lin: Vec<U16x4>,
    canvas: Vec<u8>,
}

const CANVAS: u32 = 2000;

impl Bench {
    fn new(src: &Rgba, out: u32) -> Self {
        Bench {
            resizer: Resizer::new(),
            dst8: Image::new(out, out, PixelType::U8x4),
            dst16: TypedImage::new(out, out),
            lin: vec![U16x4::new([0; 4]); (src.w * src.h) as usize],
            canvas: rgb_canvas(CANVAS, CANVAS),
        }
    }

    /// One render: resize `src` to the bench's size and flatten onto a white 2000x2000
    /// canvas. Returns seconds: [total, sRGB->linear conversion, resize].
    fn render(&mut self, l: &Luts, src: &Rgba, which: char) -> [f64; 3] {
        let out = self.dst8.width();
        let off = ((CANVAS - out) / 2) as usize;
        let (cw, ow) = (CANVAS as usize, out as usize);
        let t0 = Instant::now();
        par_rows(&mut self.canvas, cw * 3, |_, row| row.fill(255));
        let (t_conv, t_resize);
        if which == 'b' {
            let w = src.w as usize;
            par_rows(&mut self.lin, w, |y, row| {
                for (o, p) in row
                    .iter_mut()
                    .zip(src.px[y * w * 4..(y + 1) * w * 4].chunks_exact(4))
                {
                    *o = U16x4::new([
                        l.dec16[p[0] as usize],
                        l.dec16[p[1] as usize],
                        l.dec16[p[2] as usize],
                        u16::from(p[3]) * 257,
                    ]);
                }
            });
            t_conv = t0.elapsed().as_secs_f64();
            let s = TypedImageRef::new(src.w, src.h, &self.lin).unwrap();
            self.resizer
                .resize_typed(&s, &mut self.dst16, &lanczos(true))
                .unwrap();
            t_resize = t0.elapsed().as_secs_f64() - t_conv;
            let px = self.dst16.pixels();
            par_rows(&mut self.canvas, cw * 3, |y, row| {
                if (off..off + ow).contains(&y) {
                    flatten_lin16_row(
                        l,
                        &px[(y - off) * ow..(y - off + 1) * ow],
                        &mut row[off * 3..(off + ow) * 3],
                    );
                }
            });
        } else {
            t_conv = 0.0;
            let s = ImageRef::new(src.w, src.h, &src.px, PixelType::U8x4).unwrap();
            self.resizer
                .resize(&s, &mut self.dst8, &lanczos(true))
                .unwrap();
            t_resize = t0.elapsed().as_secs_f64();
            let r = self.dst8.buffer();
            par_rows(&mut self.canvas, cw * 3, |y, row| {
                if (off..off + ow).contains(&y) {
                    let s = &r[(y - off) * ow * 4..(y - off + 1) * ow * 4];
                    if which == 'a' {
                        flatten_gamma_row(s, &mut row[off * 3..(off + ow) * 3]);
                    } else {
                        flatten_lin_from_u8_row(l, s, &mut row[off * 3..(off + ow) * 3]);
                    }
                }
            });
        }
        std::hint::black_box(&self.canvas);
        [t0.elapsed().as_secs_f64(), t_conv, t_resize]
    }
}

pub fn run(extra: &[Codec]) {
    let l = Luts::new();
    println!(
        "CPU: {}; {} thread(s); fast_image_resize picks {:?}",
        cpu_name(),
        threads(),
        Resizer::new().cpu_extensions()
    );
    println!();
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode != "timing" {
        metrics(&l, extra);
    }
    if mode != "metrics" {
        timing(&l);
    }
}

fn metrics(l: &Luts, extra: &[Codec]) {
    // Reference check: fast_image_resize F32x4 against the independent f64 Lanczos3; and how
    // much of b's remaining difference is the integer paths' clamping between the passes.
    {
        let disc = |c| {
            product(
                480,
                480,
                Shape::Disc {
                    cx: 240.3,
                    cy: 239.8,
                    r: 200.0,
                },
                c,
                None,
            )
        };
        let checks = [
            ("hard disc #D02020 x0.43", disc(RED), 0.43),
            ("hard disc #202020 x0.43", disc(DARK), 0.43),
            ("hard disc #202020 x1.8", disc(DARK), 1.8),
            (
                "1px dark lines x0.43",
                lines(600, 320, 1, DARK, [255; 3]).0,
                0.43,
            ),
        ];
        let diff = |x: &[u8], y: &[u8]| {
            let d = x.iter().zip(y).map(|(p, q)| p.abs_diff(*q)).max().unwrap();
            let n = x.iter().zip(y).filter(|(p, q)| p.abs_diff(**q) > 1).count();
            (d, n)
        };
        for (name, src, s) in checks {
            let (w, h) = (
                ((src.w as f64) * s).round() as u32,
                ((src.h as f64) * s).round() as u32,
            );
            let r = pipe_ref(l, &src, w, h);
            let own = pipe_ref_f64(l, &src, w, h, false);
            let own_clamped = pipe_ref_f64(l, &src, w, h, true);
            let b = pipe_b(l, &src, w, h);
            let (d0, n0) = diff(&r.rgb, &own.rgb);
            let (d1, n1) = diff(&b, &r.rgb);
            let (d2, n2) = diff(&b, &own_clamped.rgb);
            println!(
                "reference check, {name:<24}: ref(F32x4) vs own f64: max {d0:>2} ({n0} values >1) | b vs ref: max {d1:>2} ({n1} >1) | b vs own f64 clamped between passes: max {d2:>2} ({n2} >1)"
            );
        }
    }
    println!();

    let names = [
        "a gamma u8",
        "b linear u16",
        "c gamma rsz+lin flat",
        "d lin rsz+gamma flat",
    ];
    print!("{:<34} {:>6} ", "case", "n");
    for n in names {
        print!("| {:<26} ", n);
    }
    print!("| {:<15} ", "jpg q90 4:4:4");
    for (n, _) in extra {
        print!("| {:<15} ", n);
    }
    println!();
    print!("{:<38} {:>7} ", "case [mask]", "pixels");
    for _ in names {
        print!("| {:>3} {:>5} {:>5} {:>10} ", "max", "mean", "%>3", "shape");
    }
    for _ in 0..1 + extra.len() {
        print!("| {:>3} {:>5} {:>5} ", "max", "mean", "%>3");
    }
    println!();

    // Per group and candidate: worst max, sum of means, sum of shapes, count.
    let mut groups: Vec<Group> = Vec::new();
    let mut peaks = Vec::new();
    for case in cases(l) {
        let (w, h) = (
            ((case.src.w as f64) * case.scale).round() as u32,
            ((case.src.h as f64) * case.scale).round() as u32,
        );
        let scale = w as f64 / case.src.w as f64;
        let r = pipe_ref(l, case.truth.as_ref().unwrap_or(&case.src), w, h);
        let cands = [
            pipe_a(&case.src, w, h),
            pipe_b(l, &case.src, w, h),
            pipe_c(l, &case.src, w, h),
            pipe_d(l, &case.src, w, h),
        ];
        let mut floors = vec![jpeg444_q90(&r.rgb, w, h)];
        floors.extend(extra.iter().map(|(_, f)| f(&r.rgb, w, h)));
        for ev in &case.evals {
            let mask = build_mask(&r, w as usize, h as usize, ev.mask);
            let n = mask.iter().filter(|&&m| m).count();
            let unit = match ev.metric {
                Metric::Shift { .. } => "px",
                Metric::Weight { .. } => "%",
                Metric::Bias => "lv",
            };
            let mask_name = match ev.mask {
                Mask::Edge => "edge",
                Mask::Detail => "detail",
                Mask::Detail255 => "detail255",
                Mask::Region => "region",
            };
            print!("{:<38} {:>7} ", format!("{} [{}]", ev.label, mask_name), n);
            let gi = match groups.iter().position(|g| g.name == ev.group) {
                Some(i) => i,
                None => {
                    groups.push(Group {
                        name: ev.group,
                        unit,
                        acc: vec![Acc::default(); 5 + extra.len()],
                        count: 0,
                    });
                    groups.len() - 1
                }
            };
            groups[gi].count += 1;
            for (k, c) in cands.iter().enumerate() {
                let s = score(l, &r, c, &mask, &ev.metric, scale);
                print!(
                    "| {:>3} {:>5.2} {:>5.1} {:>+8.3}{:<2} ",
                    s.max, s.mean, s.over3, s.shape, unit
                );
                groups[gi].acc[k].add(&s);
            }
            for (k, f) in floors.iter().enumerate() {
                let s = score(l, &r, f, &mask, &Metric::Bias, scale);
                print!("| {:>3} {:>5.2} {:>5.1} ", s.max, s.mean, s.over3);
                groups[gi].acc[4 + k].add(&s);
            }
            println!();
            if let Metric::Weight { dark, centres, .. } = &ev.metric {
                let pk = |rgb: &[u8]| line_peak(rgb, w as usize, h as usize, centres, scale, *dark);
                peaks.push(format!(
                    "{:<24} peak level (G, middle row; {} of the line): ref {:>5.1}  a {:>5.1}  b {:>5.1}  c {:>5.1}  d {:>5.1}",
                    ev.label,
                    if *dark { "darkest" } else { "brightest" },
                    pk(&r.rgb),
                    pk(&cands[0]),
                    pk(&cands[1]),
                    pk(&cands[2]),
                    pk(&cands[3])
                ));
            }
        }
    }
    println!();
    println!("Line peaks (sRGB levels; the source line is 32 on 255, or 255 on 32):");
    for p in peaks {
        println!("  {p}");
    }
    println!();
    println!(
        "Summary per group (number of cases): worst max | mean of the cases' means, %>3 and shape"
    );
    print!("{:<26} ", "group");
    for n in names {
        print!("| {:<26} ", n);
    }
    print!("| {:<15} ", "jpg q90 4:4:4");
    for (n, _) in extra {
        print!("| {:<15} ", n);
    }
    println!();
    for g in &groups {
        let c = g.count as f64;
        print!("{:<26} ", format!("{} ({})", g.name, g.count));
        for (k, v) in g.acc.iter().enumerate() {
            if k < 4 {
                print!(
                    "| {:>3} {:>5.2} {:>5.1} {:>+8.3}{:<2} ",
                    v.max,
                    v.mean / c,
                    v.over3 / c,
                    v.shape / c,
                    g.unit
                );
            } else {
                print!("| {:>3} {:>5.2} {:>5.1} ", v.max, v.mean / c, v.over3 / c);
            }
        }
        println!();
    }
}

fn timing(l: &Luts) {
    println!();
    println!("Timing: resize a cut-out to 1700x1700 (Lanczos3, use_alpha) and flatten onto a 2000x2000 white");
    println!("canvas (canvas fill included); buffers and Resizer reused; median and min of 15 interleaved runs");
    println!(
        "after two warm-ups, {} thread(s). b includes converting the whole cut-out to linear u16",
        threads()
    );
    println!("(in a real run that is once per source, shared by all its specs).");
    for side in [3400u32, 2400] {
        let src = timing_source(side);
        let kinds = ['a', 'b', 'c'];
        let mut benches: Vec<Bench> = kinds.iter().map(|_| Bench::new(&src, 1700)).collect();
        for _ in 0..2 {
            for (b, &k) in benches.iter_mut().zip(&kinds) {
                b.render(l, &src, k);
            }
        }
        // Interleaved, so a neighbour's load spike hits all three alike.
        let mut runs: Vec<Vec<[f64; 3]>> = vec![Vec::new(); kinds.len()];
        for _ in 0..15 {
            for (i, (b, &k)) in benches.iter_mut().zip(&kinds).enumerate() {
                runs[i].push(b.render(l, &src, k));
            }
        }
        for (i, &k) in kinds.iter().enumerate() {
            let med = |j: usize| median(runs[i].iter().map(|r| r[j] * 1e3).collect());
            let min = runs[i]
                .iter()
                .map(|r| r[0] * 1e3)
                .fold(f64::INFINITY, f64::min);
            println!(
                "  {side}->1700 {}: median {:>6.1} ms (min {:>6.1})  [to linear u16 {:>5.1}, resize {:>6.1}, canvas+flatten {:>5.1}]",
                match k {
                    'a' => "a gamma u8        ",
                    'b' => "b linear u16      ",
                    _ => "c gamma + lin flat",
                },
                med(0),
                min,
                med(1),
                med(2),
                med(0) - med(1) - med(2)
            );
        }
    }
}
