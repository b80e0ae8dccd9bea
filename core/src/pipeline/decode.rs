//! Decoding: format sniffed from the bytes, limits checked before any pixel is allocated,
//! EXIF orientation applied, embedded ICC profiles converted to sRGB.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use serde_json::json;
use thiserror::Error;

use super::color;
use super::fidelity::SourceColours;
use super::{Operation, SourceInfo};
use crate::error::ErrorCode;

/// Safe ceilings for one source, applied before decoding. A request may only tighten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest width x height (pixels) decoded.
    pub max_pixels: u64,
    /// Largest width or height.
    pub max_dimension: u32,
    /// Largest source file, in bytes.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_pixels: 100_000_000,
            max_dimension: 50_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// These limits tightened by another set: each field keeps the smaller value.
    pub fn tightened(self, other: Limits) -> Limits {
        Limits {
            max_pixels: self.max_pixels.min(other.max_pixels),
            max_dimension: self.max_dimension.min(other.max_dimension),
            max_bytes: self.max_bytes.min(other.max_bytes),
        }
    }

    pub fn with_max_pixels(mut self, max_pixels: u64) -> Limits {
        self.max_pixels = max_pixels;
        self
    }
}

/// Why a source could not be read. Messages speak to the person who supplied the file.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("the file is not an image we can read (the first bytes match no known image format); it may be a renamed document or a broken download")]
    NotAnImage,
    #[error("{format} images are not supported; save it as PNG, JPEG, WebP or TIFF")]
    Unsupported { format: String },
    #[error("the file is {bytes} bytes, over the {limit}-byte limit for one source image")]
    FileTooBig { bytes: u64, limit: u64 },
    #[error("the image is {width}x{height} = {pixels} pixels, over the {limit}-pixel limit (a decompression bomb or a far larger image than any marketplace needs)")]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        limit: u64,
    },
    #[error("the image is {width}x{height}, over the {limit}-pixel limit for one side")]
    TooLargeDimension { width: u32, height: u32, limit: u32 },
    #[error("the file ends early ({bytes} bytes): it was cut off during upload or copy; export or download it again")]
    Truncated { bytes: u64 },
    #[error("the {format} data is damaged and cannot be decoded ({detail})")]
    Corrupt { format: String, detail: String },
    #[error("the image has no pixels (width or height is 0)")]
    Empty,
    #[error("decoding the image would need more than {limit_mb} MB of memory (its header claims more data than a {max_pixels}-pixel image holds)")]
    TooMuchMemory { limit_mb: u64, max_pixels: u64 },
    #[error("the {format} is stored in a way we cannot read ({detail}); {advice}")]
    UnsupportedLayout {
        format: String,
        detail: String,
        advice: &'static str,
    },
}

impl DecodeError {
    /// Stable kebab-case code.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::NotAnImage => ErrorCode::DecodeNotAnImage,
            DecodeError::Unsupported { .. } => ErrorCode::DecodeUnsupportedFormat,
            DecodeError::FileTooBig { .. } => ErrorCode::DecodeFileTooBig,
            DecodeError::TooManyPixels { .. } => ErrorCode::DecodeTooManyPixels,
            DecodeError::TooLargeDimension { .. } => ErrorCode::DecodeTooLargeDimension,
            DecodeError::Truncated { .. } => ErrorCode::DecodeTruncated,
            DecodeError::Corrupt { .. } => ErrorCode::DecodeCorrupt,
            DecodeError::Empty => ErrorCode::DecodeEmpty,
            DecodeError::TooMuchMemory { .. } => ErrorCode::DecodeTooMuchMemory,
            DecodeError::UnsupportedLayout { .. } => ErrorCode::DecodeUnsupportedLayout,
        }
    }
}

/// A decoded source: sRGB, oriented, RGBA8 with straight alpha.
#[derive(Debug, Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// Row-major RGBA8, `width * height * 4` bytes.
    pub pixels: Vec<u8>,
    pub source: SourceInfo,
    /// What decoding did (orientation, colour conversion), for provenance.
    pub operations: Vec<Operation>,
    /// The source's colours through its own profile, cell by cell, for comparing the
    /// written file with (taken from the numbers as stored, before any conversion).
    pub colours: Option<SourceColours>,
}

impl Frame {
    /// Builds a frame from straight-alpha RGBA8 pixels (for tests and generated inputs).
    pub fn from_rgba(width: u32, height: u32, pixels: Vec<u8>) -> Frame {
        Frame {
            width,
            height,
            pixels,
            source: SourceInfo {
                format: "raw".into(),
                width,
                height,
                color_type: "rgba8".into(),
                has_alpha: true,
                icc_profile: None,
                exif_orientation: 1,
            },
            operations: Vec::new(),
            colours: None,
        }
    }
}

fn format_name(f: ImageFormat) -> String {
    f.extensions_str()
        .first()
        .map(|e| if *e == "jpg" { "jpeg" } else { e })
        .unwrap_or("unknown")
        .to_string()
}

/// Turns the decoder's error into words about the file.
fn classify(
    err: image::ImageError,
    format: &str,
    bytes: u64,
    data: &[u8],
    image_format: ImageFormat,
    limits: &Limits,
) -> DecodeError {
    use image::error::{LimitErrorKind, UnsupportedErrorKind};
    use image::ImageError as E;
    if let E::Limits(limit) = &err {
        // The decoder's own ceilings: say which one, with the size the header claims.
        let dims = ImageReader::with_format(Cursor::new(data), image_format)
            .into_dimensions()
            .ok()
            .filter(|&(w, h)| w > 0 && h > 0);
        return match (limit.kind(), dims) {
            (LimitErrorKind::DimensionError, Some((width, height))) => {
                DecodeError::TooLargeDimension {
                    width,
                    height,
                    limit: limits.max_dimension,
                }
            }
            _ => DecodeError::TooMuchMemory {
                limit_mb: decoder_alloc_limit(limits) >> 20,
                max_pixels: limits.max_pixels,
            },
        };
    }
    let text = decoder_words(&err.to_string());
    let lower = text.to_ascii_lowercase();
    let truncated = matches!(&err, E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
        || lower.contains("eof")
        || lower.contains("end of file")
        || lower.contains("unexpected end")
        || lower.contains("not enough data")
        || lower.contains("no more data");
    match err {
        _ if truncated => DecodeError::Truncated { bytes },
        // The format itself is not built in: say so.
        E::Unsupported(u) if matches!(u.kind(), UnsupportedErrorKind::Format(_)) => {
            DecodeError::Unsupported {
                format: format.to_string(),
            }
        }
        // A way of storing a format we do read (a compression, a colour model, a sample
        // type): name that way, not the format, or the advice contradicts the refusal.
        E::Unsupported(u) => match image_format {
            ImageFormat::Tiff => DecodeError::UnsupportedLayout {
                format: "TIFF".into(),
                detail: tiff_variant(data, &u.kind()),
                advice: TIFF_ADVICE,
            },
            _ => DecodeError::UnsupportedLayout {
                format: format.to_ascii_uppercase(),
                detail: decoder_words(&match u.kind() {
                    UnsupportedErrorKind::Color(c) => format!("{c:?} pixels"),
                    UnsupportedErrorKind::GenericFeature(f) => f,
                    _ => u.to_string(),
                }),
                advice: "save it again as PNG or JPEG",
            },
        },
        _ => DecodeError::Corrupt {
            format: format.to_string(),
            detail: text,
        },
    }
}

/// A decoder's own words about a file, fit for a message: decoders quote bytes of the file
/// (a PNG chunk's type, a TIFF tag's text), and a file's content is never echoed, so all but
/// printable ASCII becomes `?`, and the words are cut at 200 characters.
fn decoder_words(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(200)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if text.chars().nth(200).is_some() {
        out.push_str("...");
    }
    out
}

/// A CMYK JPEG decoded to sRGB: its pixels, its profile's description, and its colours
/// taken from the ink values (as stored, before orientation).
pub(crate) type CmykDecoded = (image::RgbaImage, String, Option<SourceColours>);

/// Decodes a CMYK JPEG to sRGB through its embedded CMYK profile. `None` when the file is
/// not CMYK after all (the generic path then handles it).
pub(crate) fn decode_cmyk_jpeg(
    bytes: &[u8],
    icc: &[u8],
) -> Option<Result<CmykDecoded, DecodeError>> {
    use zune_core::colorspace::ColorSpace;
    let opts = zune_core::options::DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::CMYK)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    let mut d =
        zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(bytes), opts);
    d.decode_headers().ok()?;
    if !matches!(
        d.input_colorspace(),
        Some(ColorSpace::CMYK | ColorSpace::YCCK)
    ) {
        return None;
    }
    let (w, h) = d.dimensions()?;
    let corrupt = |detail: String| DecodeError::Corrupt {
        format: "jpeg".into(),
        detail,
    };
    Some((|| {
        let mut cmyk = d.decode().map_err(|e| corrupt(format!("{e:?}")))?;
        // Adobe (Photoshop) CMYK JPEGs store ink inverted: 255 means none.
        if jpeg_layout(bytes).adobe {
            cmyk.iter_mut().for_each(|v| *v = 255 - *v);
        }
        let (rgba, description) = color::cmyk_to_srgb(icc, &cmyk).map_err(corrupt)?;
        let colours = SourceColours::of_cmyk(w as u32, h as u32, &cmyk, icc);
        let img = image::RgbaImage::from_raw(w as u32, h as u32, rgba)
            .ok_or_else(|| corrupt("pixel count does not match the header".into()))?;
        Ok((img, description, colours))
    })())
}

/// What the marker segments before the main image's first scan say.
pub(crate) struct JpegLayout {
    /// An Adobe APP14 segment is present (Photoshop CMYK stores ink inverted).
    pub(crate) adobe: bool,
    /// The file ends before the end-of-image marker that must follow the scans.
    pub(crate) truncated: bool,
}

/// Walks the JPEG's marker segments by their lengths up to the first scan, so markers
/// inside an EXIF thumbnail (which has its own scan and end marker) are never mistaken
/// for the main image's.
pub(crate) fn jpeg_layout(bytes: &[u8]) -> JpegLayout {
    let mut adobe = false;
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return JpegLayout {
                adobe,
                truncated: true,
            };
        }
        let marker = bytes[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        if marker == 0xEE && bytes.get(at + 4..at + 9) == Some(b"Adobe".as_slice()) {
            adobe = true;
        }
        if marker == 0xDA {
            let scan = &bytes[at..];
            let ends = scan.windows(2).rposition(|w| w == [0xFF, 0xD9]).is_some();
            return JpegLayout {
                adobe,
                truncated: !ends,
            };
        }
        at += 2 + len;
    }
    JpegLayout {
        adobe,
        truncated: true,
    }
}

/// Names formats we recognise but do not decode, so the message says what the file is.
fn sniff_unsupported(bytes: &[u8]) -> Option<&'static str> {
    let brand = bytes.get(4..12)?;
    match brand {
        b"ftypheic" | b"ftypheix" | b"ftyphevc" | b"ftypmif1" | b"ftypmsf1" => Some("HEIC"),
        b"ftypavif" | b"ftypavis" => Some("AVIF"),
        _ if bytes.starts_with(b"%PDF") => Some("PDF"),
        _ if bytes.starts_with(b"8BPS") => Some("Photoshop (PSD)"),
        _ => None,
    }
}

/// The decoders' own allocation ceiling: room for the largest allowed image at 16 bits
/// per channel in RGBA, plus working space.
fn decoder_alloc_limit(limits: &Limits) -> u64 {
    limits.max_pixels.saturating_mul(8).saturating_add(64 << 20)
}

/// What to do with a TIFF stored in a way we cannot read: the plain ways every editor writes.
const TIFF_ADVICE: &str = "save it again as an uncompressed or LZW TIFF, or as PNG";

/// Names the way a TIFF is stored that the decoder refused, from its first directory's
/// tags: the compression when that was refused, else the colour model and sample type.
fn tiff_variant(bytes: &[u8], kind: &image::error::UnsupportedErrorKind) -> String {
    use image::error::UnsupportedErrorKind as K;
    use tiff::decoder::Decoder;
    use tiff::tags::Tag;
    let fallback = || match kind {
        K::GenericFeature(f) => f.clone(),
        K::Color(c) => format!("{c:?} pixels"),
        _ => "a TIFF variant".into(),
    };
    let Ok(mut d) = Decoder::new(Cursor::new(bytes)) else {
        return fallback();
    };
    // Per-sample tags hold one value for each sample; the first stands for all here.
    let mut tag = |t| {
        d.find_tag_unsigned_vec::<u32>(t)
            .ok()
            .flatten()
            .and_then(|v| v.first().copied())
    };
    let compression = tag(Tag::Compression).unwrap_or(1);
    let photometric = tag(Tag::PhotometricInterpretation);
    let bits = tag(Tag::BitsPerSample).unwrap_or(1);
    let sample_format = tag(Tag::SampleFormat).unwrap_or(1);
    if matches!(kind, K::GenericFeature(f) if f.contains("compression")) {
        let name = match compression {
            2 => "CCITT modified Huffman (fax)".to_string(),
            3 => "CCITT Group 3 fax".into(),
            4 => "CCITT Group 4 fax".into(),
            6 => "old-style JPEG".into(),
            34712 => "JPEG 2000".into(),
            34925 => "LZMA".into(),
            50000 => "Zstandard".into(),
            50001 => "WebP".into(),
            n => format!("type {n}"),
        };
        return format!("{name} compression");
    }
    let colour = match photometric {
        Some(0 | 1) => "grey".to_string(),
        Some(2) => "RGB colour".into(),
        Some(3) => "palette colour".into(),
        Some(5) => "CMYK colour".into(),
        Some(6) => "YCbCr colour".into(),
        Some(8..=10) => "CIELab colour".into(),
        Some(32844 | 32845) => "LogLuv colour".into(),
        Some(n) => format!("colour model {n}"),
        None => return fallback(),
    };
    let samples = match sample_format {
        2 => "signed integer",
        3 => "floating-point",
        _ => "integer",
    };
    format!("{colour} with {bits}-bit {samples} samples")
}

/// Refuses the TIFF layouts on which the tiff crate (0.11.3, the newest) asserts instead of
/// failing, reading the first directory (the image decoded) before any pixel is.
fn check_tiff_layout(bytes: &[u8]) -> Result<(), DecodeError> {
    use tiff::decoder::{ChunkType, Decoder};
    use tiff::tags::Tag;
    // A header the tiff crate cannot read is for the image decoder to report.
    let Ok(mut d) = Decoder::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    let unsupported = |detail: &str| DecodeError::UnsupportedLayout {
        format: "TIFF".into(),
        detail: detail.into(),
        advice: TIFF_ADVICE,
    };
    let tag = |d: &mut Decoder<_>, t| d.find_tag_unsigned::<u32>(t).ok().flatten();
    let planar = tag(&mut d, Tag::PlanarConfiguration) == Some(2);
    let samples = tag(&mut d, Tag::SamplesPerPixel).unwrap_or(1);
    if d.get_chunk_type() == ChunkType::Tile && planar && samples > 1 {
        // Tiles of the second and later planes are cut to the image's height as if they
        // were the first plane's tiles below it, so the last row of tiles overruns.
        let height = d.dimensions().map_or(0, |(_, h)| h);
        let tile_height = tag(&mut d, Tag::TileLength).unwrap_or(0);
        if tile_height != 0 && height % tile_height != 0 {
            return Err(unsupported(
                "tiles with separate colour planes that do not fill the image's height",
            ));
        }
    }
    Ok(())
}

/// Checks a file against `limits` from its headers alone: size, format, a cut-off JPEG,
/// TIFF layouts the decoder cannot read, dimensions and pixel count. No pixel is decoded.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<(), DecodeError> {
    open(bytes, limits).map(|_| ())
}

/// Opens a source under `limits` (see [`probe`]) and returns its decoder, ready to decode.
fn open<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<(ImageFormat, String, impl ImageDecoder + 'a), DecodeError> {
    let n = bytes.len() as u64;
    if n > limits.max_bytes {
        return Err(DecodeError::FileTooBig {
            bytes: n,
            limit: limits.max_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| match sniff_unsupported(bytes) {
        Some(format) => DecodeError::Unsupported {
            format: format.into(),
        },
        None => DecodeError::NotAnImage,
    })?;
    let fmt = format_name(format);
    // The JPEG decoder fills a cut-off scan with grey instead of failing; a photo missing
    // its lower part must not pass as whole.
    if format == ImageFormat::Jpeg && jpeg_layout(bytes).truncated {
        return Err(DecodeError::Truncated { bytes: n });
    }
    if format == ImageFormat::Tiff {
        check_tiff_layout(bytes)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Belt and braces: the decoder's own allocation ceiling, in case a header lies.
    let mut il = image::Limits::default();
    il.max_image_width = Some(limits.max_dimension);
    il.max_image_height = Some(limits.max_dimension);
    il.max_alloc = Some(decoder_alloc_limit(limits));
    reader.limits(il);
    let decoder = reader
        .into_decoder()
        .map_err(|e| classify(e, &fmt, n, bytes, format, limits))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(DecodeError::Empty);
    }
    if width > limits.max_dimension || height > limits.max_dimension {
        return Err(DecodeError::TooLargeDimension {
            width,
            height,
            limit: limits.max_dimension,
        });
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(DecodeError::TooManyPixels {
            width,
            height,
            pixels,
            limit: limits.max_pixels,
        });
    }
    Ok((format, fmt, decoder))
}

/// Decodes one source under `limits`.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Frame, DecodeError> {
    decode_as(bytes, limits, true)
}

/// Decodes one source for a preview: its colours are not kept for comparing.
pub(crate) fn decode_pixels(bytes: &[u8], limits: &Limits) -> Result<Frame, DecodeError> {
    decode_as(bytes, limits, false)
}

fn decode_as(bytes: &[u8], limits: &Limits, with_colours: bool) -> Result<Frame, DecodeError> {
    let n = bytes.len() as u64;
    let (format, fmt, mut decoder) = open(bytes, limits)?;
    let (width, height) = decoder.dimensions();
    let color_type = decoder.color_type();
    // A broken ICC or EXIF block is not a broken image: fall back to sRGB / as stored.
    let icc = decoder.icc_profile().ok().flatten();
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut operations = Vec::new();
    // A CMYK JPEG with its own profile: the generic decoder would convert CMYK to RGB
    // naively, so decode the raw ink values and let the profile do it.
    let cmyk_icc = icc
        .as_deref()
        .filter(|p| format == ImageFormat::Jpeg && color::is_cmyk_profile(p));
    let mut colours = None;
    let mut image = match cmyk_icc.and_then(|p| decode_cmyk_jpeg(bytes, p)) {
        Some(Ok((img, description, from_ink))) => {
            colours = from_ink;
            operations.push(Operation::new(
                "icc_to_srgb",
                json!({ "from": description, "intent": "perceptual", "source": "cmyk" }),
            ));
            drop(decoder);
            DynamicImage::ImageRgba8(img)
        }
        Some(Err(e)) => return Err(e),
        None => DynamicImage::from_decoder(decoder)
            .map_err(|e| classify(e, &fmt, n, bytes, format, limits))?,
    };
    let cmyk_converted = !operations.is_empty();
    // A CMYK JPEG with no profile has no colour of its own: the decoder subtracts the ink
    // from white, uncalibrated (docs/rules.md, house-cmyk-default). Said, not hidden.
    let untagged_cmyk = icc.is_none()
        && format == ImageFormat::Jpeg
        && super::jpeg_info::inspect(bytes).is_some_and(|i| i.components == 4);
    if untagged_cmyk {
        operations.push(Operation::new(
            "cmyk_to_srgb",
            json!({ "profile": "none embedded", "default": true,
                "conversion": "uncalibrated: each colour is (1 - ink) x (1 - K), no press profile; colours may be off by several dE from the printed ones" }),
        ));
    }

    if !cmyk_converted && with_colours {
        colours = SourceColours::of_image(&image, icc.as_deref());
    }
    let colours = colours
        .filter(|_| with_colours)
        .map(|c| c.oriented(orientation));
    let exif_orientation = orientation.to_exif();
    if exif_orientation != 1 {
        image.apply_orientation(orientation);
        operations.push(Operation::new(
            "orient",
            json!({ "exif_orientation": exif_orientation }),
        ));
    }
    let has_alpha = color_type.has_alpha();
    let color_name = color_type_name(color_type);
    let (w, h) = (image.width(), image.height());
    let (rgba, icc_profile) = match icc.as_deref() {
        Some(_) if cmyk_converted => (
            image.into_rgba8().into_raw(),
            cmyk_icc.and_then(|p| {
                moxcms::ColorProfile::new_from_slice(p)
                    .ok()
                    .map(|p| color::describe(&p))
            }),
        ),
        // Converted from the decoded samples, before any cut to 8 bits.
        Some(profile) => match color::image_to_srgb(profile, image) {
            (rgba, Ok(color::Conversion::Converted { description })) => {
                operations.push(Operation::new(
                    "icc_to_srgb",
                    json!({ "from": description, "intent": "perceptual" }),
                ));
                (rgba, Some(description))
            }
            (rgba, Ok(color::Conversion::AlreadySrgb { description })) => (rgba, Some(description)),
            (
                rgba,
                Ok(color::Conversion::Skipped {
                    description,
                    reason,
                }),
            ) => {
                operations.push(Operation::new(
                    "icc_ignored",
                    json!({ "profile": description, "reason": reason }),
                ));
                (rgba, Some(description))
            }
            (rgba, Err(reason)) => {
                operations.push(Operation::new(
                    "icc_ignored",
                    json!({ "profile": "unreadable", "reason": reason }),
                ));
                (rgba, Some("unreadable".into()))
            }
        },
        None => {
            // Without a profile the numbers have no defined colour: read as sRGB, as
            // browsers and marketplaces read them (docs/rules.md, house-untagged). A
            // wide-gamut photo whose profile a tool stripped looks duller, and nothing in
            // its pixels tells it apart; the handoff says what was assumed.
            if !untagged_cmyk {
                operations.push(Operation::new(
                    "assume_srgb",
                    json!({ "profile": "none embedded", "default": true,
                        "note": "read as sRGB; a wide-gamut (Display P3, Adobe RGB) photo saved without its profile looks duller than it should" }),
                ));
            }
            (image.into_rgba8().into_raw(), None)
        }
    };
    Ok(Frame {
        width: w,
        height: h,
        pixels: rgba,
        source: SourceInfo {
            format: fmt,
            width,
            height,
            color_type: color_name,
            has_alpha,
            icc_profile,
            exif_orientation,
        },
        operations,
        colours,
    })
}

/// `rgb8`, `rgba16`, `grey8`, `grey_alpha16`, ...
fn color_type_name(c: image::ColorType) -> String {
    use image::ColorType as C;
    let (name, bits) = match c {
        C::L8 => ("grey", 8),
        C::La8 => ("grey_alpha", 8),
        C::Rgb8 => ("rgb", 8),
        C::Rgba8 => ("rgba", 8),
        C::L16 => ("grey", 16),
        C::La16 => ("grey_alpha", 16),
        C::Rgb16 => ("rgb", 16),
        C::Rgba16 => ("rgba", 16),
        C::Rgb32F => ("rgb", 32),
        C::Rgba32F => ("rgba", 32),
        _ => ("other", 0),
    };
    format!("{name}{bits}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_decoders_words_keep_no_bytes_of_the_file() {
        let said = "ChunkType { type: \u{f4}\u{a8}\u{81}\u{e1}, critical: true }\n\u{1b}[31m";
        assert_eq!(
            decoder_words(said),
            "ChunkType { type: ????, critical: true }??[31m"
        );
        assert_eq!(decoder_words(&"x".repeat(300)).len(), 203);
    }

    use super::*;

    fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 20, 30, 255]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn jpeg_thumbnail_markers_do_not_hide_truncation() {
        // SOI, an APP1 holding a complete little JPEG (its own SOS and EOI), then a main
        // scan cut off before its EOI.
        let thumb = [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x11, 0xFF, 0xD9];
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((thumb.len() + 2) as u16).to_be_bytes());
        app1.extend_from_slice(&thumb);
        let mut file = vec![0xFF, 0xD8];
        file.extend_from_slice(&app1);
        file.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34]);
        assert!(jpeg_layout(&file).truncated);
        file.extend_from_slice(&[0xFF, 0xD9]);
        assert!(!jpeg_layout(&file).truncated);
        assert!(!jpeg_layout(&file).adobe);
    }

    #[test]
    fn heic_is_named() {
        let err = decode(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", &Limits::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DecodeUnsupportedFormat);
        assert!(err.to_string().starts_with("HEIC"), "{err}");
    }

    #[test]
    fn pixel_limit_is_checked_before_decoding() {
        let bytes = png_bytes(200, 100);
        let err = decode(&bytes, &Limits::default().with_max_pixels(10_000)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DecodeTooManyPixels);
        assert!(err.to_string().contains("200x100"), "{err}");
    }

    #[test]
    fn a_side_over_the_limit_is_named_with_its_real_size() {
        // The decoder's own ceiling trips first; the message still gives the header's size.
        let bytes = png_bytes(300, 20);
        let limits = Limits {
            max_dimension: 256,
            ..Limits::default()
        };
        let err = decode(&bytes, &limits).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DecodeTooLargeDimension);
        assert!(err.to_string().contains("300x20"), "{err}");
        assert!(err.to_string().contains("256"), "{err}");
    }

    #[test]
    fn text_is_not_an_image() {
        let err = decode(b"hello, this is a CSV file", &Limits::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DecodeNotAnImage);
    }

    #[test]
    fn truncated_png_says_truncated() {
        let bytes = png_bytes(300, 300);
        let cut = &bytes[..bytes.len() * 6 / 10];
        let err = decode(cut, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DecodeTruncated, "{err}");
    }

    /// Every input the fuzz targets found crashing (`fuzz/regressions/decode/`) decodes or is
    /// refused with a `DecodeError`, without a panic.
    #[test]
    fn fuzz_found_inputs_do_not_panic() {
        let limits = Limits::default().with_max_pixels(4_000_000);
        crate::regressions::replay("decode", |bytes| {
            let _ = decode(bytes, &limits);
        });
    }

    fn fuzz_input(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/regressions/decode")
            .join(name);
        std::fs::read(path).unwrap()
    }

    #[test]
    fn tiff_with_planar_tiles_short_of_the_height_is_refused_not_panicking() {
        // RGB, 1x2, one 16x16 tile per colour plane: the tiff crate sizes the second and
        // third planes' tiles as if they were below the image and asserts.
        let bytes = fuzz_input("tiff-tiled-planar-partial-tile-row.tif");
        let err = decode(&bytes, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DecodeUnsupportedLayout, "{err}");
        assert!(err.to_string().contains("colour planes"), "{err}");
    }

    /// A little-endian one-strip TIFF of `samples` (1 or 3) samples a pixel, `bits` each:
    /// the tags Compression, PhotometricInterpretation and SampleFormat as given, and `data`
    /// as the strip.
    fn tiff(w: u32, h: u32, samples: u16, bits: u16, tags: [u16; 3], data: &[u8]) -> Vec<u8> {
        let [compression, photometric, sample_format] = tags;
        let n = 10u16;
        // Per-sample values of three samples do not fit in an entry: they follow the IFD.
        let arrays_at = 8 + 2 + 12 * u32::from(n) + 4;
        let data_at = arrays_at + 16;
        let per_sample = |value: u16, at: u32| match samples {
            1 => (1, u32::from(value)),
            _ => (u32::from(samples), at),
        };
        let (bits_count, bits_value) = per_sample(bits, arrays_at);
        let (format_count, format_value) = per_sample(sample_format, arrays_at + 8);
        let entries: [(u16, u16, u32, u32); 10] = [
            (256, 4, 1, w),
            (257, 4, 1, h),
            (258, 3, bits_count, bits_value),
            (259, 3, 1, u32::from(compression)),
            (262, 3, 1, u32::from(photometric)),
            (273, 4, 1, data_at),
            (277, 3, 1, u32::from(samples)),
            (278, 4, 1, h),
            (279, 4, 1, data.len() as u32),
            (339, 3, format_count, format_value),
        ];
        let mut out = b"II*\0\x08\0\0\0".to_vec();
        out.extend_from_slice(&n.to_le_bytes());
        for (tag, kind, count, value) in entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        for value in [bits, sample_format] {
            let mut array = [0u8; 8];
            for k in 0..3 {
                array[k * 2..k * 2 + 2].copy_from_slice(&value.to_le_bytes());
            }
            out.extend_from_slice(&array);
        }
        out.extend_from_slice(data);
        out
    }

    /// Regression: a TIFF variant the decoder refuses read "tiff images are not supported;
    /// save it as PNG, JPEG, WebP or TIFF".
    #[test]
    fn refused_tiff_variants_are_named_without_contradiction() {
        let fax = tiff(
            16,
            4,
            1,
            1,
            [3, 0, 1], // Group 3 fax, white is zero,
            &[0u8; 8],
        );
        let float = tiff(
            4,
            4,
            1,
            32,
            [1, 1, 3], // uncompressed, black is zero, float,
            &[0u8; 64],
        );
        let ycbcr = tiff(
            4,
            4,
            3,
            8,
            [1, 6, 1], // uncompressed YCbCr: image reads YCbCr only inside JPEG
            &[128u8; 48],
        );
        for (bytes, variant) in [
            (fax, "(CCITT Group 3 fax compression)"),
            (float, "(grey with 32-bit floating-point samples)"),
            (ycbcr, "(YCbCr colour with 8-bit integer samples)"),
        ] {
            let err = decode(&bytes, &Limits::default()).unwrap_err();
            let text = err.to_string();
            assert_eq!(err.code(), ErrorCode::DecodeUnsupportedLayout, "{text}");
            assert!(text.contains(variant), "{text}");
            assert!(
                text.ends_with("save it again as an uncompressed or LZW TIFF, or as PNG"),
                "{text}"
            );
            assert!(!text.contains("not supported"), "{text}");
        }
    }

    /// JPEG compression inside a TIFF is read (the tiff crate decodes it): it must not be
    /// refused along with the variants that are.
    #[test]
    fn jpeg_compressed_tiff_decodes() {
        let grey = image::GrayImage::from_fn(16, 8, |x, _| image::Luma([(x * 16) as u8]));
        let mut jpeg = Cursor::new(Vec::new());
        grey.write_to(&mut jpeg, ImageFormat::Jpeg).unwrap();
        let bytes = tiff(
            16,
            8,
            1,
            8,
            [7, 1, 1], // JPEG, black is zero,
            jpeg.get_ref(),
        );
        let f = decode(&bytes, &Limits::default()).unwrap();
        assert_eq!((f.width, f.height), (16, 8));
        for x in 0..16u32 {
            let v = f.pixels[(4 * 16 + x as usize) * 4];
            assert!(v.abs_diff((x * 16) as u8) <= 4, "x {x}: {v}");
        }
    }

    /// `image` encoded as PNG (or JPEG) with `icc` embedded.
    fn tagged(image: DynamicImage, icc: Vec<u8>, format: ImageFormat) -> Vec<u8> {
        use image::ImageEncoder as _;
        let mut out = Vec::new();
        match format {
            ImageFormat::Jpeg => {
                let mut e = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
                e.set_icc_profile(icc).unwrap();
                image.write_with_encoder(e).unwrap();
            }
            _ => {
                let mut e = image::codecs::png::PngEncoder::new(&mut out);
                e.set_icc_profile(icc).unwrap();
                image.write_with_encoder(e).unwrap();
            }
        }
        out
    }

    fn srgb_encode(linear: f64) -> f64 {
        let c = linear.clamp(0.0, 1.0);
        let v = if c <= 0.0031308 {
            12.92 * c
        } else {
            1.055 * c.powf(1.0 / 2.4) - 0.055
        };
        v * 255.0
    }

    /// Display P3 (sRGB curve, D65) to sRGB in f64, rounded once: the reference.
    fn p3_to_srgb_reference(p3: [f64; 3]) -> [u8; 3] {
        let decode = |c: f64| {
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        const P3_TO_XYZ: [[f64; 3]; 3] = [
            [0.486_570_9, 0.265_667_7, 0.198_217_3],
            [0.228_974_6, 0.691_738_5, 0.079_286_9],
            [0.0, 0.045_113_4, 1.043_944_4],
        ];
        const XYZ_TO_SRGB: [[f64; 3]; 3] = [
            [3.240_454_2, -1.537_138_5, -0.498_531_4],
            [-0.969_266_0, 1.876_010_8, 0.041_556_0],
            [0.055_643_4, -0.204_025_9, 1.057_225_2],
        ];
        let lin = p3.map(decode);
        let xyz: [f64; 3] = [0, 1, 2].map(|r| (0..3).map(|c| P3_TO_XYZ[r][c] * lin[c]).sum());
        [0, 1, 2].map(|r| {
            let v: f64 = (0..3).map(|c| XYZ_TO_SRGB[r][c] * xyz[c]).sum();
            srgb_encode(v).round() as u8
        })
    }

    /// Regression: 16-bit sources were cut to 8 bits and then transformed at 8 bits, so
    /// each value was rounded twice and smooth gradients picked up 2-level errors.
    #[test]
    fn sixteen_bit_sources_are_transformed_before_rounding_to_8_bits() {
        // A smooth 16-bit gradient in Display P3, 4096 steps, values between 8-bit levels.
        let w = 4096u32;
        let p3 = |x: u32| {
            let t = f64::from(x) / f64::from(w - 1);
            [0.1 + 0.8 * t, 0.2 + 0.6 * t, 0.7 - 0.5 * t]
        };
        let img = image::ImageBuffer::from_fn(w, 1, |x, _| {
            image::Rgb(p3(x).map(|c| (c * 65535.0).round() as u16))
        });
        let icc = moxcms::ColorProfile::new_display_p3().encode().unwrap();
        let bytes = tagged(
            DynamicImage::ImageRgb16(img.clone()),
            icc.clone(),
            ImageFormat::Png,
        );
        let f = decode(&bytes, &Limits::default()).unwrap();
        assert!(f.operations.iter().any(|o| o.name == "icc_to_srgb"));
        // The reference takes the stored 16-bit values, as the decoder sees them.
        let stored = |x: u32| img.get_pixel(x, 0).0.map(|v| f64::from(v) / 65535.0);
        let worst = |pixels: &[u8]| {
            (0..w)
                .map(|x| {
                    let want = p3_to_srgb_reference(stored(x));
                    let got = &pixels[x as usize * 4..x as usize * 4 + 3];
                    (0..3).map(|c| got[c].abs_diff(want[c])).max().unwrap_or(0)
                })
                .max()
                .unwrap_or(0)
        };
        let new = worst(&f.pixels);
        // The old path: rounded to 8 bits first, then the 8-bit transform.
        let mut old: Vec<u8> = img
            .pixels()
            .flat_map(|p| {
                let [r, g, b] = p.0.map(|v| ((u32::from(v) + 128) / 257) as u8);
                [r, g, b, 255]
            })
            .collect();
        color::to_srgb_in_place(&icc, &mut old).unwrap();
        let old = worst(&old);
        assert!(new <= 1, "16-bit path off by {new} levels");
        assert!(old > new, "8-bit path off by {old}, 16-bit by {new}");
    }

    /// Mid-grey through a grey profile with a gamma-1.8 curve (1.796875 as stored): the
    /// sRGB value of the same lightness.
    fn grey_reference(v8: f64) -> u8 {
        srgb_encode((v8 / 255.0).powf(460.0 / 256.0)).round() as u8
    }

    /// Regression: grey sources with a grey ICC profile (Dot Gain 20% and the like) were
    /// taken as sRGB grey.
    #[test]
    fn grey_sources_with_a_grey_profile_are_converted() {
        let icc = moxcms::ColorProfile::new_gray_with_gamma(1.8)
            .encode()
            .unwrap();
        let want = grey_reference(128.0);
        assert!(
            want >= 140,
            "{want}: the check must tell converted from not"
        );
        let l8 = image::GrayImage::from_pixel(16, 16, image::Luma([128]));
        let la8 = image::GrayAlphaImage::from_pixel(16, 16, image::LumaA([128, 77]));
        let l16 = image::ImageBuffer::from_pixel(16, 16, image::Luma([128u16 * 257]));
        for (name, img, format, alpha) in [
            (
                "grey8 PNG",
                DynamicImage::ImageLuma8(l8.clone()),
                ImageFormat::Png,
                255,
            ),
            (
                "grey8 JPEG",
                DynamicImage::ImageLuma8(l8),
                ImageFormat::Jpeg,
                255,
            ),
            (
                "grey+alpha PNG",
                DynamicImage::ImageLumaA8(la8),
                ImageFormat::Png,
                77,
            ),
            (
                "grey16 PNG",
                DynamicImage::ImageLuma16(l16),
                ImageFormat::Png,
                255,
            ),
        ] {
            let f = decode(&tagged(img, icc.clone(), format), &Limits::default()).unwrap();
            assert!(
                f.operations.iter().any(|o| o.name == "icc_to_srgb"),
                "{name}: {:?}",
                f.operations
            );
            let p = &f.pixels[..4];
            assert!(
                p[..3].iter().all(|&c| c.abs_diff(want) <= 1) && p[3] == alpha,
                "{name}: {p:?}, want {want}"
            );
        }
    }

    #[test]
    fn decodes_to_rgba8() {
        let f = decode(&png_bytes(3, 2), &Limits::default()).unwrap();
        assert_eq!((f.width, f.height), (3, 2));
        assert_eq!(&f.pixels[..4], &[10, 20, 30, 255]);
    }
}
