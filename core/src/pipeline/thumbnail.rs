//! Previews for people: a source or an output decoded as the core decodes sources
//! (orientation applied, colours moved to sRGB), fitted inside a square, transparency shown
//! on a light checkerboard (a reviewer must see what is transparent), as a small JPEG.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions};
use thiserror::Error;

use crate::spec::Subsampling;

use super::decode::{decode_pixels, DecodeError, Limits};
use super::encode::{compress_jpeg, Jpeg};
use super::resize;

#[derive(Debug, Error)]
pub enum ThumbnailError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the preview could not be made: {0}")]
    Make(String),
}

impl ThumbnailError {
    pub fn code(&self) -> crate::error::ErrorCode {
        match self {
            ThumbnailError::Decode(e) => e.code(),
            ThumbnailError::Make(_) => crate::error::ErrorCode::InternalError,
        }
    }
}

/// The checkerboard's cell size and its two greys.
const CELL: u32 = 8;
const LIGHT: f32 = 255.0;
const DARK: f32 = 226.0;

/// A JPEG preview of `bytes` whose longest side is at most `max_side` (never enlarged).
pub fn thumbnail(bytes: &[u8], max_side: u32, limits: &Limits) -> Result<Vec<u8>, ThumbnailError> {
    let rgb = preview(bytes, max_side, limits)?;
    let settings = Jpeg {
        quality: 82,
        subsampling: Subsampling::S420,
        progressive: false,
    };
    compress_jpeg(rgb.as_raw(), rgb.width(), rgb.height(), &settings)
        .map_err(|e| ThumbnailError::Make(e.to_string()))
}

/// The preview's pixels: `bytes` decoded, fitted inside `max_side` (never enlarged) and
/// flattened onto the checkerboard.
pub fn preview(
    bytes: &[u8],
    max_side: u32,
    limits: &Limits,
) -> Result<image::RgbImage, ThumbnailError> {
    let frame = decode_pixels(bytes, limits)?;
    let (w, h) = (frame.width, frame.height);
    let scale = (f64::from(max_side.max(1)) / f64::from(w.max(h))).min(1.0);
    let tw = ((f64::from(w) * scale).round() as u32).max(1);
    let th = ((f64::from(h) * scale).round() as u32).max(1);
    let make = |e: &dyn std::fmt::Display| ThumbnailError::Make(e.to_string());
    // Premultiplied in place, like the outputs are resized (no dark fringe around a
    // cut-out), without the full-size premultiplied copy the resizer would make: a burst
    // of previews of large photos holds one decoded image per preview in flight.
    let mut pixels = frame.pixels;
    resize::premultiply(&mut pixels, (w, h)).map_err(|e| make(&e))?;
    let pixels = if (tw, th) == (w, h) {
        pixels
    } else {
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom))
            .use_alpha(false);
        resize::rgba8(&pixels, (w, h), (tw, th), &options).map_err(|e| make(&e))?
    };
    // Over the checkerboard: a premultiplied colour is already `colour * alpha`.
    let mut rgb = Vec::with_capacity((tw * th * 3) as usize);
    for (i, p) in pixels.chunks_exact(4).enumerate() {
        let (x, y) = (i as u32 % tw, i as u32 / tw);
        let bg = if (x / CELL + y / CELL).is_multiple_of(2) {
            LIGHT
        } else {
            DARK
        };
        let a = f32::from(p[3]) / 255.0;
        for &c in &p[..3] {
            rgb.push((f32::from(c) + bg * (1.0 - a)).round().min(255.0) as u8);
        }
    }
    image::RgbImage::from_raw(tw, th, rgb)
        .ok_or_else(|| ThumbnailError::Make("the preview's size does not add up".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_fit_the_box_and_show_transparency_on_a_checkerboard() {
        // A 300x100 cut-out: opaque red on the left half, transparent on the right.
        let mut img = image::RgbaImage::new(300, 100);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if x < 150 {
                image::Rgba([200, 0, 0, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            };
        }
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let jpeg = thumbnail(&png, 120, &Limits::default()).unwrap();
        let t = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(t.dimensions(), (120, 40));
        let red = t.get_pixel(20, 20).0;
        assert!(red[0] > 180 && red[1] < 40, "{red:?}");
        // Transparent pixels are light grey or white, never black.
        let light = t.get_pixel(100, 4).0;
        let dark = t.get_pixel(108, 4).0;
        assert!(
            light[0] > 240 && dark[0] > 210 && dark[0] < 240,
            "{light:?} {dark:?}"
        );
        // Never enlarged.
        let same = thumbnail(&png, 1000, &Limits::default()).unwrap();
        assert_eq!(image::load_from_memory(&same).unwrap().width(), 300);
    }
}
