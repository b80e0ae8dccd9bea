//! Why a file could not be decoded, in words about the file: the decoder's errors
//! classified, formats we recognise but do not read named, TIFF layouts told apart.

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

use super::{decoder_alloc_limit, DecodeError, Limits};

/// Turns the decoder's error into words about the file.
pub(super) fn classify(
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
pub(super) fn decoder_words(text: &str) -> String {
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

/// Names formats we recognise but do not decode, so the message says what the file is.
pub(super) fn sniff_unsupported(bytes: &[u8]) -> Option<&'static str> {
    let brand = bytes.get(4..12)?;
    match brand {
        b"ftypheic" | b"ftypheix" | b"ftyphevc" | b"ftypmif1" | b"ftypmsf1" => Some("HEIC"),
        b"ftypavif" | b"ftypavis" => Some("AVIF"),
        _ if bytes.starts_with(b"%PDF") => Some("PDF"),
        _ if bytes.starts_with(b"8BPS") => Some("Photoshop (PSD)"),
        _ => None,
    }
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
pub(super) fn check_tiff_layout(bytes: &[u8]) -> Result<(), DecodeError> {
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
