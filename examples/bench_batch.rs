//! Writes the benchmark batch: transparent RGBA PNGs of 2400-4000 px a side, made from the
//! real photographic cut-outs in tests/fixtures/ (scikit-image photos, see tests/fixtures/README.md),
//! enlarged, flipped and offset deterministically, with a few stray specks each, like
//! background-remover output. Never committed: written under target/.
//! Every eighth file from the fourth on carries a Display P3 profile (pixels converted, so
//! it looks the same), from the sixth an Adobe RGB profile, and from the seventh an `eXIf`
//! orientation 6 (pixels stored turned a quarter left), as camera and editor output does.
//!
//! cargo run --release --example bench_batch -- [count] [out-dir]
//! (defaults: 24 files into target/bench-batch)

use std::path::PathBuf;

use anyhow::{Context, Result};
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::ImageEncoder;
use moxcms::{ColorProfile, Layout, TransformOptions};

const SOURCES: &[&str] = &["MUG01_1.png", "ROCKET02_1.png", "DEEP09_1.png"];

/// A small deterministic generator (xorshift) so the batch is the same on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(24);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "target/bench-batch".into()));
    std::fs::create_dir_all(&out)?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures");
    let sources: Vec<image::RgbaImage> = SOURCES
        .iter()
        .map(|s| image::open(root.join(s)).map(|i| i.to_rgba8()).context(*s))
        .collect::<Result<_>>()?;
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for i in 0..count {
        let src = &sources[i % sources.len()];
        let long = rng.range(2400, 4000);
        let (sw, sh) = src.dimensions();
        let s = f64::from(long) / f64::from(sw.max(sh));
        let (w, h) = ((f64::from(sw) * s) as u32, (f64::from(sh) * s) as u32);
        let mut dst = Image::new(w, h, PixelType::U8x4);
        let srcv = fast_image_resize::images::ImageRef::new(sw, sh, src.as_raw(), PixelType::U8x4)?;
        Resizer::new().resize(
            &srcv,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom)),
        )?;
        let mut img = image::RgbaImage::from_raw(w, h, dst.into_vec()).context("buffer")?;
        if rng.next().is_multiple_of(2) {
            image::imageops::flip_horizontal_in_place(&mut img);
        }
        for _ in 0..rng.range(3, 6) {
            let (x, y, r) = (rng.range(0, w - 20), rng.range(0, h - 20), rng.range(2, 8));
            let a = rng.range(20, 120) as u8;
            for yy in y..y + r {
                for xx in x..x + r {
                    let p = img.get_pixel_mut(xx, yy);
                    if p.0[3] == 0 {
                        p.0 = [90, 90, 90, a];
                    }
                }
            }
        }
        let path = out.join(format!("BENCH{i:03}_1.png"));
        let mut bytes = Vec::new();
        let mut png =
            PngEncoder::new_with_quality(&mut bytes, CompressionType::Default, PngFilter::Adaptive);
        let tag = match i % 8 {
            3 => Some(("display-p3", ColorProfile::new_display_p3())),
            5 => Some(("adobe-rgb", ColorProfile::new_adobe_rgb())),
            _ => None,
        };
        let mut note = String::new();
        if let Some((name, profile)) = tag {
            let to = ColorProfile::new_srgb().create_transform_8bit(
                Layout::Rgba,
                &profile,
                Layout::Rgba,
                TransformOptions::default(),
            )?;
            let mut converted = vec![0u8; img.as_raw().len()];
            to.transform(img.as_raw(), &mut converted)?;
            img.copy_from_slice(&converted);
            png.set_icc_profile(profile.encode()?)?;
            note = format!(" {name}");
        }
        if i % 8 == 6 {
            // Orientation 6 means "turn a quarter right to show": store it turned left.
            img = image::imageops::rotate270(&img);
            png.set_exif_metadata(exif_orientation(6))?;
            note = " exif-orientation-6".into();
        }
        png.write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgba8,
        )?;
        std::fs::write(&path, bytes).with_context(|| path.display().to_string())?;
        println!("{} {}x{}{note}", path.display(), img.width(), img.height());
    }
    Ok(())
}

/// A minimal big-endian TIFF header with one IFD entry: Orientation (0x0112) = `value`.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut e = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    e.extend_from_slice(&value.to_be_bytes());
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    e
}
