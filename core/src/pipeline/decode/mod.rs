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

mod failure;
mod jpeg;

use failure::{check_tiff_layout, classify, sniff_unsupported};
pub(crate) use jpeg::{decode_cmyk_jpeg, jpeg_layout};

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

/// The decoders' own allocation ceiling: room for the largest allowed image at 16 bits
/// per channel in RGBA, plus working space.
fn decoder_alloc_limit(limits: &Limits) -> u64 {
    limits.max_pixels.saturating_mul(8).saturating_add(64 << 20)
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
mod tests;
