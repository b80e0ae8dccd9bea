//! Verification: decode the encoded bytes again and check them against the spec. What is
//! checked is the file a marketplace will receive, not what we meant to write.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use serde_json::json;

use super::analyse::{CutOff, SourceKind};
use super::color;
use super::decode::{probe, DecodeError, Limits};
use super::fidelity::ColourFacts;
use super::key::EnclosedBackdrop;
use super::marks::Marks;
use super::measure::{
    backdrop_colour, background_stats, framed_backdrop, framed_sides, laplacian_variance,
    solid_box, visible_box,
};
use crate::quality::{capitalise, Check, CheckName, Severity};
use crate::spec::{sizes_words, Align, Background, Spec};

mod jpeg;
mod picture;

use jpeg::jpeg_checks;
use picture::{colour_check, enclosed_check, parts_checks, parts_of_picture};

/// Facts from rendering that the file itself cannot show.
#[derive(Debug, Clone)]
pub struct RenderFacts {
    /// Scale applied to the cut-out, and the scale the fill ratio asked for (above
    /// `scale` when capped by the spec's `max_upscale`).
    pub scale: f64,
    pub wanted_scale: f64,
    pub kind: SourceKind,
    /// The quality the encoder was asked for (after any size step-down), when known.
    pub quality: Option<u8>,
    /// Areas of a sweep photo the product encloses in the backdrop's colour.
    pub enclosed: EnclosedBackdrop,
    /// Where the product runs into the source's own edge.
    pub cut_off: CutOff,
    /// Separate product-sized items in the source's product.
    pub items: u8,
    /// The source's colours and where its product landed, when decoding took them.
    pub colour: Option<ColourFacts>,
    /// Text, logos or badges beside the source's product.
    pub marks: Marks,
}

/// What is being verified: an output this pipeline rendered (held to the spec exactly), or
/// a file made elsewhere (held to the marketplace's rules: any size inside its bounds).
#[derive(Debug, Clone, Copy)]
enum Mode<'a> {
    Output(&'a RenderFacts),
    Existing,
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
        // A CMYK or YCCK JPEG (made elsewhere) is one libjpeg-turbo will not give as RGB:
        // the image crate reads those.
        return match turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGB) {
            Ok(img) => Some(Pixels {
                width: u32::try_from(img.width).ok()?,
                height: u32::try_from(img.height).ok()?,
                channels: 3,
                data: img.pixels,
            }),
            Err(_) => Some(Pixels::from(
                image::load_from_memory_with_format(bytes, format).ok()?,
            )),
        };
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

/// Checks encoded bytes this pipeline wrote against the spec: exact canvas, format and
/// encoder settings, plus every marketplace rule.
pub fn verify(bytes: &[u8], spec: &Spec, facts: &RenderFacts) -> Vec<Check> {
    match read(bytes) {
        Some(file) => judge(&file, bytes, spec, Mode::Output(facts)),
        None => vec![undecodable()],
    }
}

/// Checks a file made elsewhere against each spec's marketplace rules (`shelfready check`):
/// any size and accepted format inside the marketplace's bounds, the background, the fill,
/// sharpness and, for JPEGs, the quality it was saved at. Nothing is changed or written.
/// The file is opened under `limits` first, so a decompression bomb is refused unread, and
/// decoded once for all the specs. One list of checks per spec, in order.
pub fn check_existing(
    bytes: &[u8],
    specs: &[&Spec],
    limits: &Limits,
) -> Result<Vec<Vec<Check>>, DecodeError> {
    probe(bytes, limits)?;
    Ok(match read(bytes) {
        Some(file) => specs
            .iter()
            .map(|spec| judge(&file, bytes, spec, Mode::Existing))
            .collect(),
        None => specs.iter().map(|_| vec![undecodable()]).collect(),
    })
}

/// The name a format goes by in specs and bounds.
fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
        ImageFormat::Tiff => "tiff",
        ImageFormat::Gif => "gif",
        ImageFormat::Bmp => "bmp",
        _ => "another format",
    }
}

/// A file read back: its format, embedded ICC and EXIF blocks, and pixels as stored.
struct ReadBack {
    format: ImageFormat,
    icc: Option<Vec<u8>>,
    exif: Option<Vec<u8>>,
    img: Pixels,
}

fn read(bytes: &[u8]) -> Option<ReadBack> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let format = reader.format()?;
    let mut dec = reader.into_decoder().ok()?;
    let icc = dec.icc_profile().ok().flatten();
    let exif = dec.exif_metadata().ok().flatten();
    let img = read_back(bytes, format, dec)?;
    Some(ReadBack {
        format,
        icc,
        exif,
        img,
    })
}

fn undecodable() -> Check {
    Check::new(
        CheckName::Decodes,
        json!(false),
        json!(true),
        false,
        Severity::Fail,
        "The file could not be decoded.".into(),
    )
}

fn judge(file: &ReadBack, bytes: &[u8], spec: &Spec, mode: Mode) -> Vec<Check> {
    let mut checks = Vec::new();
    let (format, icc, exif, img) = (file.format, &file.icc, &file.exif, &file.img);
    let fmt = format_name(format);
    let (w, h) = (img.width, img.height);
    let output = matches!(mode, Mode::Output(_));
    let exact = output || spec.bounds.is_none();
    if exact {
        checks.push(Check::new(
            CheckName::Format,
            json!(fmt),
            json!(spec.format.name()),
            fmt == spec.format.name(),
            Severity::Fail,
            format!(
                "The file is {fmt}; the spec asks for {}.",
                spec.format.name()
            ),
        ));
        checks.push(Check::new(
            CheckName::Dimensions,
            json!(format!("{w}x{h}")),
            json!(format!("{}x{}", spec.width, spec.height)),
            (w, h) == (spec.width, spec.height),
            Severity::Fail,
            format!(
                "The image is {w}x{h} px; the spec asks for {}x{}.",
                spec.width, spec.height
            ),
        ));
    }
    if let Some(b) = &spec.bounds {
        // File size is the file_size check's, against the smaller of both caps.
        let broken = b.broken(w, h, fmt, None);
        checks.push(Check::new(
            CheckName::MarketplaceBounds,
            json!(format!("{w}x{h} {fmt}")),
            json!(b.describe()),
            broken.is_empty(),
            Severity::Fail,
            if broken.is_empty() {
                format!("The file keeps {}'s size and format rules.", b.marketplace)
            } else {
                format!("{}.", capitalise(&broken.join("; ")))
            },
        ));
    }
    let profile = icc
        .as_deref()
        .map(|b| match moxcms::ColorProfile::new_from_slice(b) {
            Ok(p) => color::describe(&p),
            Err(_) => "unreadable".to_string(),
        });
    let is_srgb = icc.as_deref() == Some(color::srgb_icc())
        || profile.as_deref().is_some_and(|d| d.contains("sRGB"));
    let (measured, ok) = match (&profile, spec.embed_icc && output) {
        (None, false) => ("untagged (read as sRGB)".to_string(), true),
        (None, true) => ("untagged".to_string(), false),
        (Some(d), _) => (format!("embedded: {d}"), is_srgb),
    };
    checks.push(Check::new(
        CheckName::ColorSpace,
        json!(measured),
        json!(if spec.embed_icc && output {
            "sRGB, profile embedded"
        } else {
            "sRGB"
        }),
        ok,
        if output { Severity::Fail } else { Severity::Review },
        if output || ok {
            format!("The colour space is {measured}.")
        } else {
            format!("The colours are stored as {measured}, not sRGB: marketplaces and browsers show sRGB, so colours may shift.")
        },
    ));
    if output {
        let n = exif.as_ref().map_or(0, Vec::len);
        checks.push(Check::new(
            CheckName::MetadataStripped,
            json!(n),
            json!(0),
            exif.is_none(),
            Severity::Fail,
            format!("The file carries {n} bytes of EXIF (camera, GPS and dates must not leak)."),
        ));
    }
    let want_alpha = spec.background == Background::Transparent;
    let channels = usize::from(img.channels);
    // A file made elsewhere may carry an alpha channel it never uses: only real
    // transparency matters to a marketplace.
    let has_alpha =
        img.channels == 4 && (output || want_alpha || img.data.chunks_exact(4).any(|p| p[3] < 255));
    checks.push(Check::new(
        CheckName::Alpha,
        json!(if has_alpha { "present" } else { "none" }),
        json!(if want_alpha { "present" } else { "none" }),
        has_alpha == want_alpha,
        Severity::Fail,
        match (want_alpha, output) {
            (true, _) => "The spec wants a transparent background; the file has none.".into(),
            (false, true) => "The spec wants an opaque image with no alpha channel.".into(),
            (false, false) => {
                "The file has transparent areas; marketplaces show them grey or black, not white."
                    .into()
            }
        },
    ));
    if format == ImageFormat::Jpeg {
        jpeg_checks(&mut checks, bytes, spec, mode);
    }
    if output && (w, h) != (spec.width, spec.height) {
        return checks;
    }

    // The product is what differs from the backdrop actually in the file, so that an
    // off-white backdrop is measured as background, not as product.
    let backdrop = match spec.background {
        Background::Color(c) => {
            Background::Color(backdrop_colour(&img.data, w, h, img.channels).unwrap_or(c))
        }
        Background::Transparent => Background::Transparent,
    };
    let product = visible_box(&img.data, w, img.channels, backdrop, false);
    let margin = ((f64::from(w.max(h)) * MARGIN_SHARE).round() as u32).max(MIN_MARGIN);
    let bg = background_stats(
        &img.data,
        w,
        h,
        img.channels,
        spec.background,
        product,
        margin,
        spec.background_tolerance,
    );
    let tol = spec.background_tolerance;
    let mut backdrop_note = match (backdrop, spec.background) {
        (Background::Color(a), Background::Color(b)) if a != b => {
            format!(" The backdrop is {backdrop}, not {}.", spec.background)
        }
        _ => String::new(),
    };
    // A near-white backdrop inside a pure margin is measured as the product's box; it is
    // background all the same (docs/rules.md, house-background-tolerance).
    let framed = match (spec.background, product) {
        (Background::Color(c), Some(r)) => framed_backdrop(&img.data, w, img.channels, c, r),
        _ => None,
    };
    if let Some(d) = framed {
        backdrop_note.push_str(&format!(
            " Inside the margin a near-white backdrop ({d} levels off {}) runs along most of the product's box: it is backdrop, not product.",
            spec.background
        ));
    }
    let worst = bg.worst.max(framed.unwrap_or(0));
    checks.push(Check::new(
        CheckName::BackgroundPurity,
        json!({ "worst_difference": worst, "off_share": round4(bg.off_share) }),
        json!({ "worst_difference": tol }),
        worst <= tol,
        Severity::Review,
        format!(
            "Outside the product (and a {margin} px margin) the background differs from {} by up to {} levels, and {:.1}% of it is off by more than {tol}.{backdrop_note}",
            spec.background,
            worst,
            bg.off_share * 100.0
        ),
    ));
    checks.push(Check::new(
        CheckName::BorderPurity,
        json!(bg.edge_worst),
        json!(tol),
        bg.edge_worst <= tol,
        Severity::Review,
        format!(
            "The outermost pixels differ from {} by up to {} levels (allowed: {tol}): a frame, line, object or shadow touches the edge.",
            spec.background, bg.edge_worst
        ),
    ));
    // With the whole backdrop off, every edge pixel is off too: purity says it once.
    if backdrop_note.is_empty() {
        checks.push(Check::new(
            CheckName::ShadowToEdge,
            json!(bg.reaches_edge),
            json!(false),
            !bg.reaches_edge,
            Severity::Review,
            "Off-background pixels run unbroken from the product to the edge of the frame: a shadow or backdrop reaching the edge, or a cropped product.".into(),
        ));
    }

    // A frame drawn around a picture made elsewhere (docs/rules.md, house-frame-line): the
    // product's box is then the frame's. Outputs of `process` are not judged so: their
    // source's alpha, or its sweep key, already told product from background (a frame
    // drawn on a sweep photo encloses backdrop and waits as such), and a product's own
    // outline (a tablet's bezel, a ladder's rails) looks like one.
    if let (Some(r), Mode::Existing) = (product, mode) {
        let sides = framed_sides(&img.data, w, h, img.channels, backdrop, r);
        checks.push(Check::new(
            CheckName::FrameLine,
            json!(sides),
            json!(FRAME_SIDES - 1),
            sides < FRAME_SIDES,
            Severity::Review,
            if sides < FRAME_SIDES {
                "No frame runs around the picture.".into()
            } else {
                format!("A line runs the whole length of {sides} sides of the picture with background inside it: a frame or border drawn around the product, which marketplaces suppress.")
            },
        ));
    }

    let fill = product.map_or(0.0, |r| {
        (f64::from(r.w) / f64::from(w)).max(f64::from(r.h) / f64::from(h))
    });
    let min_fill = spec.min_fill();
    checks.push(Check::new(
        CheckName::FillRatio,
        json!(round4(fill)),
        json!(round4(min_fill)),
        fill >= min_fill,
        Severity::Review,
        format!(
            "The product spans {} of the frame on its longest side; {} wants at least {}.",
            percent(fill),
            match (&spec.bounds, spec.min_fill_ratio) {
                (Some(b), Some(_)) => b.marketplace.clone(),
                _ => format!("{} (a house rule)", spec.id),
            },
            percent(min_fill)
        ),
    ));
    if let (Some(r), Mode::Output(_), Align::Center) = (product, mode, spec.align) {
        let off_of = |r: super::Rect| {
            let off_x = (f64::from(2 * r.x + r.w) - f64::from(w)).abs() / 2.0;
            let off_y = (f64::from(2 * r.y + r.h) - f64::from(h)).abs() / 2.0;
            off_x.max(off_y)
        };
        // Rendering centres the visible product. Faint haze at the visibility threshold
        // may come and go with compression, so the solid product's centre is measured too
        // and the nearer one counts: a product off-centre is off by both.
        let visible = off_of(r);
        let solid = solid_box(&img.data, w, img.channels, backdrop).map(off_of);
        let off = solid.map_or(visible, |s| s.min(visible));
        // Relative to the canvas (docs/rules.md, house-centering): 1% of its long side is
        // more than a shopper can see and less than any framing mistake.
        let limit = (f64::from(w.max(h)) * CENTERING_SHARE).max(2.0);
        checks.push(Check::new(
            CheckName::Centering,
            json!(round3(off)),
            json!(round3(limit)),
            off <= limit,
            Severity::Review,
            match solid {
                Some(s) if (s - visible).abs() > 0.5 => format!(
                    "The product's centre is {visible:.1} px off the canvas centre, its solid part's {s:.1} px."
                ),
                _ => format!("The product's centre is {off:.1} px off the canvas centre."),
            },
        ));
    }
    if let Mode::Output(p) = mode {
        checks.push(Check::new(
            CheckName::Upscale,
            json!(round3(p.wanted_scale)),
            json!(spec.max_upscale),
            p.wanted_scale <= spec.max_upscale + 1e-9,
            Severity::Review,
            if p.wanted_scale > spec.max_upscale {
                format!(
                    "The source is too small: filling {:.0}% would need {:.2}x enlargement, so it was enlarged {:.2}x and the product is smaller than asked.",
                    spec.fill_ratio * 100.0,
                    p.wanted_scale,
                    p.scale
                )
            } else {
                format!("Scaled {:.2}x.", p.scale)
            },
        ));
    }
    let n = bytes.len() as u64;
    if let Some(max) = spec.hard_max_bytes() {
        let (got, cap) = sizes_words(n, max);
        checks.push(Check::new(
            CheckName::FileSize,
            json!(n),
            json!(max),
            n <= max,
            Severity::Fail,
            format!("The file is {got}; the limit is {cap}."),
        ));
    }
    if let Some(target) = spec.target_bytes {
        let (got, want) = sizes_words(n, target);
        checks.push(Check::new(
            CheckName::FileSizeTarget,
            json!(n),
            json!(target),
            n <= target,
            Severity::Review,
            match mode {
                Mode::Output(p) => format!(
                    "The file is {got}, over the recommended {want} even at quality {} (the spec's lowest).",
                    p.quality.unwrap_or(spec.quality)
                ),
                Mode::Existing => format!(
                    "The file is {got}, over the recommended {want}: it may upload and load slowly."
                ),
            },
        ));
    }
    if let Some(r) = product {
        // On the written file in both modes, so `check` and verify agree: before encoding,
        // a soft photo's grain reads as detail that lossy encoding then takes away
        // (docs/rules.md, house-sharpness).
        let sharp = laplacian_variance(
            &img.data,
            w,
            h,
            channels,
            (r.x, r.y, r.right() - 1, r.bottom() - 1),
        );
        checks.push(Check::new(
            CheckName::Sharpness,
            json!(round3(sharp)),
            json!(spec.sharpness_floor),
            sharp >= spec.sharpness_floor,
            Severity::Review,
            format!(
                "Detail over the product (variance of the Laplacian) is {sharp:.1}; below {} the photo may look blurry.",
                spec.sharpness_floor
            ),
        ));
    }
    // What the product is made of: for an output, as its source's analysis found it; for
    // a picture made elsewhere, found in the file the same way, its backdrop taken as a
    // cut-out's transparency.
    let parts = match mode {
        Mode::Output(f) => (f.kind != SourceKind::Scene).then_some((f.items, f.marks, f.cut_off)),
        // Nothing to tell product from: no backdrop colour and no transparency.
        Mode::Existing if img.channels == 3 && backdrop == Background::Transparent => None,
        Mode::Existing => product.map(|_| parts_of_picture(img, backdrop)),
    };
    if let Some((items, marks, cut)) = parts {
        let photo = if output {
            "the source photo"
        } else {
            "the picture"
        };
        checks.extend(parts_checks(items, marks, cut, photo));
    }
    let Mode::Output(facts) = mode else {
        return checks;
    };
    // Only an output has a source to compare with: `check` judges a file alone.
    if let Some(colour) = &facts.colour {
        checks.push(colour_check(colour, img, icc.as_deref(), spec));
    }
    if let Some(check) = enclosed_check(&facts.enclosed) {
        checks.push(check);
    }
    if facts.kind == SourceKind::Scene {
        checks.push(Check::new(
            CheckName::PlainBackground,
            json!("none found"),
            json!("cut-out or plain sweep"),
            false,
            Severity::Review,
            "The source is a photo with a busy background (no transparency, no plain sweep), placed whole on the canvas.".into(),
        ));
    } else if spec.background == Background::Transparent && facts.kind != SourceKind::Cutout {
        checks.push(Check::new(
            CheckName::CutoutSource,
            json!(facts.kind.name()),
            json!("cutout"),
            false,
            Severity::Review,
            "The source had no transparency; the background was removed by colour key from the sweep.".into(),
        ));
    }
    checks
}

/// Sides of a picture a line must run along to be a frame: a product's own rails or edges
/// make one or two.
const FRAME_SIDES: u8 = 3;

/// How far off the canvas centre the product may sit, as a share of the long side.
const CENTERING_SHARE: f64 = 0.01;

/// Share of the longest side kept clear around the product before the background is
/// judged: JPEG ringing and soft edges live within a block or two of the product.
const MARGIN_SHARE: f64 = 0.01;
/// At least two 4:2:0 JPEG blocks (16 px each) plus the decoder's chroma upsampling.
const MIN_MARGIN: u32 = 24;

/// A share as a percentage with one decimal, rounded down so a value under a threshold
/// never reads as the threshold: 0.8499 is "84.9%", not "85.0%".
fn percent(v: f64) -> String {
    format!("{:.1}%", (v * 1000.0 + 1e-6).floor() / 10.0)
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}
