//! The floor of the canonical job: what any tool must at least spend on a batch. Reads and
//! decodes every input with the fastest PNG decoder we measured (the `png` crate, through
//! `image`; zune-png was slower on these files) into one reused buffer per thread, and
//! encodes and writes every output through shelfready's own `encode` with the canonical spec
//! (libjpeg-turbo, quality 85, 4:2:0, optimised Huffman), on all cores with rayon. Nothing
//! else: no trim, resize, colour management or checks.
//!
//! The output pixels are taken from finished 2000x2000 JPEGs (decoded before the clock
//! starts), so the encoder sees the same content a real run encodes.
//!
//! cargo run --release --example floor -- <input-dir> <dir-of-2000px-jpegs> [out-dir]
//! Prints one JSON line: {"wall_s": .., "decode_s": .., "files": .., "outputs": ..}.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use image::ImageDecoder;
use rayon::prelude::*;
use shelfready::pipeline::{encode, Placement, Rendered};
use shelfready::spec::Spec;

// The same allocator as the shelfready binary: the floor must not lose to page faults.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)))
        .collect();
    v.sort();
    Ok(v)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let inputs = PathBuf::from(args.next().context("usage: floor <inputs> <jpegs> [out]")?);
    let jpegs = PathBuf::from(args.next().context("usage: floor <inputs> <jpegs> [out]")?);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "target/floor-out".into()));
    std::fs::create_dir_all(&out)?;
    let inputs = files(&inputs, "png")?;
    // The encoder is shelfready's own with the canonical spec, so the floor encodes exactly
    // as a real run does.
    let spec = Spec::resolve(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/compare/canonical.toml"
    ))?;
    let canvases: Vec<Rendered> = files(&jpegs, "jpg")?
        .par_iter()
        .map(|p| {
            let img = image::open(p)
                .with_context(|| p.display().to_string())?
                .to_rgb8();
            Ok(Rendered {
                width: img.width(),
                height: img.height(),
                channels: 3,
                pixels: img.into_raw(),
                placement: Placement::default(),
                operations: Vec::new(),
            })
        })
        .collect::<Result<_>>()?;

    let start = Instant::now();
    // Each thread decodes into one reused buffer: no page faults, no allocator work.
    inputs
        .par_iter()
        .try_for_each_init(Vec::new, |buf, p| -> Result<()> {
            let bytes = std::fs::read(p)?;
            let dec = image::codecs::png::PngDecoder::new(std::io::Cursor::new(&bytes))?;
            buf.resize(usize::try_from(dec.total_bytes())?, 0);
            dec.read_image(buf)?;
            std::hint::black_box(&buf);
            Ok(())
        })?;
    let decoded = start.elapsed().as_secs_f64();
    canvases
        .par_iter()
        .enumerate()
        .try_for_each(|(i, c)| -> Result<()> {
            let jpeg = encode(c, &spec)?;
            std::fs::write(out.join(format!("{i:04}.jpg")), jpeg)?;
            Ok(())
        })?;
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{{\"wall_s\": {wall:.4}, \"decode_s\": {decoded:.4}, \"files\": {}, \"outputs\": {}}}",
        inputs.len(),
        canvases.len()
    );
    Ok(())
}
