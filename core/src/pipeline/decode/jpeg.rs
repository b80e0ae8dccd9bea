//! JPEGs the generic decoder gets wrong or cannot tell about: CMYK (Adobe) JPEGs through
//! their embedded profile, and the marker walk that finds a JPEG's layout and a cut-off end.

use super::DecodeError;
use crate::pipeline::color;
use crate::pipeline::fidelity::SourceColours;

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
