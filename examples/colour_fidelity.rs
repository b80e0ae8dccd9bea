//! What the colour-fidelity check measures on each output of a folder, and what it would
//! measure had a colour profile gone wrong on the way (docs/rules.md, house-color-fidelity):
//! the profile of a tagged source ignored at decode (its numbers taken as sRGB), applied a
//! second time to the output, or a wrong one (the source's) embedded in the output. An
//! untagged source is given Adobe RGB's (from `--adobe <icc>`) for the last two.
//! cargo run --release --example colour_fidelity -- <input-dir> <spec>... [--adobe <icc>]
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use image::{ImageDecoder, ImageEncoder};
use shelfready::pipeline::{
    color, encode, process_source, verify, CheckName, Limits, Output, Rendered,
};
use shelfready::spec::Spec;

/// The colour check's mean and 95th percentile, as `mean/p95`.
fn figures(checks: &[shelfready::pipeline::Check]) -> String {
    checks
        .iter()
        .find(|c| c.name == CheckName::ColorFidelity)
        .map_or("-".into(), |c| {
            format!(
                "{}/{}{}",
                c.measured["mean"],
                c.measured["p95"],
                if c.passed { "" } else { " FAIL" }
            )
        })
}

fn pixels(bytes: &[u8]) -> Result<(u32, u32, u8, Vec<u8>)> {
    let img = image::load_from_memory(bytes)?;
    let (w, h) = (img.width(), img.height());
    Ok(match img.color().has_alpha() {
        true => (w, h, 4, img.into_rgba8().into_raw()),
        false => (w, h, 3, img.into_rgb8().into_raw()),
    })
}

/// The output's pixels converted from `icc` to sRGB once more, encoded as the spec says.
fn converted_again(out: &Output, spec: &Spec, icc: &[u8]) -> Result<Vec<u8>> {
    let (w, h, channels, px) = pixels(&out.bytes)?;
    let mut rgba: Vec<u8> = match channels {
        4 => px,
        _ => px
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
    };
    color::to_srgb_in_place(icc, &mut rgba).map_err(anyhow::Error::msg)?;
    let pixels = match channels {
        4 => rgba,
        _ => rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
    };
    let rendered = Rendered {
        width: w,
        height: h,
        channels,
        pixels,
        placement: Default::default(),
        operations: Vec::new(),
    };
    Ok(encode(&rendered, spec)?)
}

/// The output's pixels as a PNG carrying `icc`: the right numbers under a wrong profile.
fn wrong_profile(out: &Output, icc: &[u8]) -> Result<Vec<u8>> {
    let (w, h, channels, px) = pixels(&out.bytes)?;
    let mut bytes = Vec::new();
    let mut e = image::codecs::png::PngEncoder::new(&mut bytes);
    e.set_icc_profile(icc.to_vec())?;
    let kind = match channels {
        4 => image::ExtendedColorType::Rgba8,
        _ => image::ExtendedColorType::Rgb8,
    };
    e.write_image(&px, w, h, kind)?;
    Ok(bytes)
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let adobe = match args.iter().position(|a| a == "--adobe") {
        Some(i) => {
            let path = args.get(i + 1).context("--adobe needs a file")?.clone();
            args.drain(i..i + 2);
            Some(std::fs::read(path)?)
        }
        None => None,
    };
    let dir = args.first().context("an input folder")?.clone();
    let specs: Vec<Spec> = args[1..]
        .iter()
        .map(|s| Spec::resolve(s))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&Spec> = specs.iter().collect();
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| {
                ["png", "jpg", "jpeg", "webp", "tif"].contains(&e.to_str().unwrap_or(""))
            })
        })
        .collect();
    files.sort();
    println!("source\tspec\tas made\tprofile ignored\tapplied twice\twrong profile embedded");
    let none = AtomicBool::new(false);
    for f in files {
        let bytes = std::fs::read(&f)?;
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        let made = process_source(&bytes, &refs, &Limits::default(), &none);
        // The source's own profile, when it is an RGB one that is not sRGB.
        let icc = image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()?
            .into_decoder()
            .ok()
            .and_then(|mut d| d.icc_profile().ok().flatten())
            .filter(|p| {
                moxcms::ColorProfile::new_from_slice(p).is_ok_and(|p| {
                    p.color_space == moxcms::DataColorSpace::Rgb
                        && !color::describe(&p).contains("sRGB")
                })
            });
        // Its numbers as sRGB: what a decoder that ignores the profile would make of it.
        let ignored = match &icc {
            Some(_) => {
                let raw = image::load_from_memory(&bytes)?.into_rgba8();
                let mut png = Vec::new();
                raw.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
                Some(process_source(&png, &refs, &Limits::default(), &none))
            }
            None => None,
        };
        let other = icc.as_deref().or(adobe.as_deref());
        for (i, spec) in specs.iter().enumerate() {
            let Some(Ok(out)) = made.outputs.get(i) else {
                continue;
            };
            let ignored = match ignored.as_ref().and_then(|r| r.outputs.get(i)) {
                Some(Ok(o)) => figures(&verify(&o.bytes, spec, &out.facts)),
                _ => "-".into(),
            };
            let (twice, wrong) = match other {
                Some(p) => (
                    figures(&verify(&converted_again(out, spec, p)?, spec, &out.facts)),
                    figures(&verify(&wrong_profile(out, p)?, spec, &out.facts)),
                ),
                None => ("-".into(), "-".into()),
            };
            println!(
                "{name}\t{}\t{}\t{ignored}\t{twice}\t{wrong}",
                spec.id,
                figures(&out.checks)
            );
        }
    }
    Ok(())
}
