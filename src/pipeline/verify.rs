//! Verification: decode the encoded bytes again and check them against the spec. What is
//! checked is the file a marketplace will receive, not what we meant to write.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::analyse::SourceKind;
use super::color;
use super::measure::visible_box;
use crate::spec::{Align, Background, Format, Spec};

/// What a failed check means for the asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The file cannot go out as it is.
    Fail,
    /// A person should look and decide.
    Review,
}

/// The checks verification runs, as named in manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    Decodes,
    Format,
    Dimensions,
    ColorSpace,
    MetadataStripped,
    Alpha,
    BorderPurity,
    FillRatio,
    Centering,
    Upscale,
    FileSize,
    Sharpness,
    PlainBackground,
    CutoutSource,
}

impl CheckName {
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One quality check: what was measured against what was required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    pub name: CheckName,
    pub measured: Value,
    pub threshold: Value,
    pub passed: bool,
    pub severity: Severity,
    /// What the check means, in a sentence a reviewer can act on.
    pub message: String,
}

impl Check {
    fn new(
        name: CheckName,
        measured: Value,
        threshold: Value,
        passed: bool,
        severity: Severity,
        message: String,
    ) -> Check {
        Check {
            name,
            measured,
            threshold,
            passed,
            severity,
            message,
        }
    }
}

/// Facts from rendering that the file itself cannot show.
#[derive(Debug, Clone, Copy)]
pub struct RenderFacts {
    /// Scale applied to the cut-out, and the scale the fill ratio asked for (above
    /// `scale` when capped by the spec's `max_upscale`).
    pub scale: f64,
    pub wanted_scale: f64,
    pub kind: SourceKind,
    /// Variance of the Laplacian over the subject, on the rendered pixels: measured before
    /// lossy encoding, whose block noise would otherwise read as detail.
    pub sharpness: f64,
}

/// Decoded pixels of a written file: RGB or RGBA, 8 bits.
struct Pixels {
    width: u32,
    height: u32,
    channels: u8,
    data: Vec<u8>,
}

impl From<DynamicImage> for Pixels {
    fn from(img: DynamicImage) -> Pixels {
        let (width, height) = (img.width(), img.height());
        match img {
            DynamicImage::ImageRgb8(i) => Pixels {
                width,
                height,
                channels: 3,
                data: i.into_raw(),
            },
            other => Pixels {
                width,
                height,
                channels: 4,
                data: other.into_rgba8().into_raw(),
            },
        }
    }
}

/// Decodes the written file. JPEGs are read with libjpeg-turbo, what most image stacks
/// (marketplaces' among them) read JPEGs with, straight into RGB: no RGBA copy of a 4 MP
/// canvas.
#[cfg(feature = "libjpeg-turbo")]
fn read_back(bytes: &[u8], format: ImageFormat, dec: impl ImageDecoder) -> Option<Pixels> {
    if format == ImageFormat::Jpeg && dec.color_type() == image::ColorType::Rgb8 {
        drop(dec);
        let img = turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGB).ok()?;
        return Some(Pixels {
            width: u32::try_from(img.width).ok()?,
            height: u32::try_from(img.height).ok()?,
            channels: 3,
            data: img.pixels,
        });
    }
    Some(Pixels::from(DynamicImage::from_decoder(dec).ok()?))
}

/// Decodes the written file with the image crate's decoders.
#[cfg(not(feature = "libjpeg-turbo"))]
fn read_back(_bytes: &[u8], _format: ImageFormat, dec: impl ImageDecoder) -> Option<Pixels> {
    Some(Pixels::from(DynamicImage::from_decoder(dec).ok()?))
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Checks encoded bytes against the spec.
pub fn verify(bytes: &[u8], spec: &Spec, facts: &RenderFacts) -> Vec<Check> {
    let mut checks = Vec::new();
    let decoded = (|| {
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .ok()?;
        let format = reader.format()?;
        let mut dec = reader.into_decoder().ok()?;
        let icc = dec.icc_profile().ok().flatten();
        let exif = dec.exif_metadata().ok().flatten();
        let img = read_back(bytes, format, dec)?;
        Some((format, icc, exif, img))
    })();
    let Some((format, icc, exif, img)) = decoded else {
        checks.push(Check::new(
            CheckName::Decodes,
            json!(false),
            json!(true),
            false,
            Severity::Fail,
            "the written file could not be decoded again".into(),
        ));
        return checks;
    };
    let found = match format {
        ImageFormat::Jpeg => Some(Format::Jpeg),
        ImageFormat::Png => Some(Format::Png),
        ImageFormat::WebP => Some(Format::Webp),
        _ => None,
    };
    let fmt = found.map_or("another format", Format::name);
    checks.push(Check::new(
        CheckName::Format,
        json!(fmt),
        json!(spec.format.name()),
        found == Some(spec.format),
        Severity::Fail,
        format!(
            "file format is {fmt}; the spec asks for {}",
            spec.format.name()
        ),
    ));
    let (w, h) = (img.width, img.height);
    let dims_ok = (w, h) == (spec.width, spec.height);
    checks.push(Check::new(
        CheckName::Dimensions,
        json!(format!("{w}x{h}")),
        json!(format!("{}x{}", spec.width, spec.height)),
        dims_ok,
        Severity::Fail,
        format!(
            "image is {w}x{h} px; the spec asks for {}x{}",
            spec.width, spec.height
        ),
    ));
    let profile = icc
        .as_deref()
        .map(|b| match moxcms::ColorProfile::new_from_slice(b) {
            Ok(p) => color::describe(&p),
            Err(_) => "unreadable".to_string(),
        });
    let is_srgb = icc.as_deref() == Some(color::srgb_icc());
    let (measured, ok) = match (&profile, spec.embed_icc) {
        (None, false) => ("untagged (read as sRGB)".to_string(), true),
        (None, true) => ("untagged".to_string(), false),
        (Some(d), _) => (format!("embedded: {d}"), is_srgb),
    };
    checks.push(Check::new(
        CheckName::ColorSpace,
        json!(measured),
        json!(if spec.embed_icc {
            "sRGB, profile embedded"
        } else {
            "sRGB"
        }),
        ok,
        Severity::Fail,
        format!("colour space is {measured}"),
    ));
    checks.push(Check::new(
        CheckName::MetadataStripped,
        json!(exif.as_ref().map(|e| e.len()).unwrap_or(0)),
        json!(0),
        exif.is_none(),
        Severity::Fail,
        format!(
            "{} bytes of EXIF in the file (camera, GPS and dates must not leak)",
            exif.as_ref().map(|e| e.len()).unwrap_or(0)
        ),
    ));
    let has_alpha = img.channels == 4;
    let want_alpha = spec.background == Background::Transparent;
    checks.push(Check::new(
        CheckName::Alpha,
        json!(if has_alpha { "present" } else { "none" }),
        json!(if want_alpha { "present" } else { "none" }),
        has_alpha == want_alpha,
        Severity::Fail,
        if want_alpha {
            "the spec wants a transparent background".into()
        } else {
            "the spec wants an opaque image with no alpha channel".into()
        },
    ));
    if !dims_ok {
        return checks;
    }
    let channels = usize::from(img.channels);
    let px = |x: u32, y: u32| {
        let i = (y as usize * w as usize + x as usize) * channels;
        &img.data[i..i + channels]
    };
    // Per-pixel distance from the background: colour difference, or alpha when transparent.
    let dist = |p: &[u8]| -> u8 {
        match spec.background {
            Background::Color(bg) => (0..3).map(|c| p[c].abs_diff(bg[c])).max().unwrap_or(0),
            Background::Transparent => p.get(3).copied().unwrap_or(255),
        }
    };

    let mut border_max = 0u8;
    for x in 0..w {
        border_max = border_max.max(dist(px(x, 0))).max(dist(px(x, h - 1)));
    }
    for y in 0..h {
        border_max = border_max.max(dist(px(0, y))).max(dist(px(w - 1, y)));
    }
    checks.push(Check::new(
        CheckName::BorderPurity,
        json!(border_max),
        json!(spec.border_tolerance),
        border_max <= spec.border_tolerance,
        Severity::Review,
        format!(
            "the outermost pixels differ from the background {} by up to {border_max} levels (allowed: {}); is something touching the edge, or is the backdrop not {}?",
            spec.background, spec.border_tolerance, spec.background
        ),
    ));

    // Product box in the output, by the same rule rendering framed it with.
    let product = visible_box(&img.data, w, img.channels, spec.background, false);
    let (x0, y0, x1, y1) =
        product.map_or((1, 1, 0, 0), |r| (r.x, r.y, r.right() - 1, r.bottom() - 1));
    let found = x0 <= x1;
    let fill = if found {
        (f64::from(x1 - x0 + 1) / f64::from(w)).max(f64::from(y1 - y0 + 1) / f64::from(h))
    } else {
        0.0
    };
    checks.push(Check::new(
        CheckName::FillRatio,
        json!(round3(fill)),
        json!(round3(spec.min_fill())),
        fill >= spec.min_fill(),
        Severity::Review,
        format!(
            "the product spans {:.1}% of the frame on its longest side; the spec wants at least {:.1}%",
            fill * 100.0,
            spec.min_fill() * 100.0
        ),
    ));
    if found && spec.align == Align::Center {
        let off_x = (f64::from(x0 + x1 + 1) - f64::from(w)).abs() / 2.0;
        let off_y = (f64::from(y0 + y1 + 1) - f64::from(h)).abs() / 2.0;
        let off = off_x.max(off_y);
        let limit = (f64::from(w.max(h)) * 0.002).max(2.0);
        checks.push(Check::new(
            CheckName::Centering,
            json!(round3(off)),
            json!(round3(limit)),
            off <= limit,
            Severity::Review,
            format!("the product's centre is {off:.1} px off the canvas centre"),
        ));
    }
    let p = facts;
    checks.push(Check::new(
        CheckName::Upscale,
        json!(round3(p.wanted_scale)),
        json!(spec.max_upscale),
        p.wanted_scale <= spec.max_upscale + 1e-9,
        Severity::Review,
        if p.wanted_scale > spec.max_upscale {
            format!(
                "the source is too small: filling {:.0}% would need {:.2}x enlargement, so it was enlarged {:.2}x and the product is smaller than asked. Use this image anyway, or supply a larger source?",
                spec.fill_ratio * 100.0,
                p.wanted_scale,
                p.scale
            )
        } else {
            format!("scaled {:.2}x", p.scale)
        },
    ));
    if let Some(max) = spec.max_bytes {
        let n = bytes.len() as u64;
        checks.push(Check::new(
            CheckName::FileSize,
            json!(n),
            json!(max),
            n <= max,
            Severity::Fail,
            format!("the file is {n} bytes; the destination accepts at most {max}"),
        ));
    }
    if found {
        let sharp = facts.sharpness;
        checks.push(Check::new(
            CheckName::Sharpness,
            json!(round3(sharp)),
            json!(spec.sharpness_floor),
            sharp >= spec.sharpness_floor,
            Severity::Review,
            format!(
                "detail (variance of the Laplacian) over the product is {sharp:.1}; below {} the photo may look blurry. Is it sharp enough to list?",
                spec.sharpness_floor
            ),
        ));
    }
    if facts.kind == SourceKind::Scene {
        checks.push(Check::new(
            CheckName::PlainBackground,
            json!("none found"),
            json!("cut-out or plain sweep"),
            false,
            Severity::Review,
            "the source is a photo with a busy background (no transparency, no plain sweep), placed whole on the canvas. Is it a lifestyle shot to use as an additional image, or does it need background removal first?".into(),
        ));
    } else if spec.background == Background::Transparent && facts.kind != SourceKind::Cutout {
        checks.push(Check::new(
            CheckName::CutoutSource,
            json!(facts.kind.name()),
            json!("cutout"),
            false,
            Severity::Review,
            "the source had no transparency; the background was removed by colour key from the sweep. Are the edges and shadow acceptable for a mockup?".into(),
        ));
    }
    checks
}
