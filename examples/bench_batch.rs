//! Writes the benchmark batch: transparent RGBA PNGs of 2400-4000 px a side, made from the
//! real photographic cut-outs in fixtures/ (scikit-image photos, see fixtures/README.md),
//! enlarged, flipped and offset deterministically, with a few stray specks each, like
//! background-remover output. Never committed: written under target/.
//!
//! cargo run --release --example bench_batch -- [count] [out-dir]
//! (defaults: 24 files into target/bench-batch)

use std::path::PathBuf;

use anyhow::{Context, Result};
use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

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
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
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
        img.save(&path)
            .with_context(|| path.display().to_string())?;
        println!("{} {}x{}", path.display(), w, h);
    }
    Ok(())
}
