//! The fuzz targets' entry points (`fuzz/`, the `fuzzing` feature), kept here so the
//! private parsers stay private and the unit tests replay every input the fuzzers found.
//! Not an API.

use super::{color, decode, encode};

/// Splits `data` into two parts at a position taken from its first three bytes.
fn two(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 3 {
        return (data, &[]);
    }
    let at = u32::from_le_bytes([data[0], data[1], data[2], 0]) as usize;
    let rest = &data[3..];
    rest.split_at(at.min(rest.len()))
}

/// Pixels for a conversion: the bytes themselves, cut to whole pixels, at most 256 of them.
fn pixels(bytes: &[u8]) -> Vec<u8> {
    let n = (bytes.len() / 4).min(256) * 4;
    let mut px = bytes[..n].to_vec();
    if px.is_empty() {
        px = vec![255, 128, 0, 255, 0, 0, 0, 0, 10, 200, 30, 128];
    }
    px
}

/// The `splice` target: the parsers and splicers that see untrusted metadata bytes (ICC
/// profiles through moxcms, the JPEG marker walk and CMYK path, EXIF orientation) and the
/// ICC splices of our encoders. One selector byte, then the operation's input; two-part
/// inputs are split at a position read from three little-endian bytes.
pub fn splice(data: &[u8]) {
    let Some((&op, data)) = data.split_first() else {
        return;
    };
    match op % 6 {
        // An embedded ICC profile applied to RGBA pixels, as decode does.
        0 => {
            let (icc, px) = two(data);
            let _ = color::to_srgb_in_place(icc, &mut pixels(px));
            if let Ok(p) = moxcms::ColorProfile::new_from_slice(icc) {
                let _ = color::describe(&p);
            }
        }
        // A CMYK profile applied to ink values, as the CMYK JPEG path does.
        1 => {
            let (icc, px) = two(data);
            if color::is_cmyk_profile(icc) {
                let _ = color::cmyk_to_srgb(icc, &pixels(px));
            }
        }
        // The JPEG marker walk, and the CMYK JPEG decode with a profile from the input
        // (under 4 megapixels: decode's limits refuse larger ones before this path).
        2 => {
            let _ = decode::jpeg_layout(data);
            let (jpeg, icc) = two(data);
            use image::ImageDecoder;
            let Ok(header) = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg))
            else {
                return;
            };
            let (w, h) = header.dimensions();
            if u64::from(w) * u64::from(h) <= 4_000_000 {
                let _ = decode::decode_cmyk_jpeg(jpeg, icc);
            }
        }
        // EXIF orientation, as the decoders read it.
        3 => {
            let _ = image::metadata::Orientation::from_exif_chunk(data);
            let _ = image::metadata::Orientation::remove_from_exif_chunk(&mut data.to_vec());
        }
        // The ICC splice into a JPEG stream.
        4 => {
            let (jpeg, icc) = two(data);
            let _ = encode::jpeg_with_icc(jpeg, icc);
        }
        // The ICCP splice into a WebP stream, canvas size from the input.
        _ => {
            if data.len() < 4 {
                return;
            }
            let w = u32::from(u16::from_le_bytes([data[0], data[1]]));
            let h = u32::from(u16::from_le_bytes([data[2], data[3]]));
            let (webp, icc) = two(&data[4..]);
            let _ = encode::webp_with_icc(webp, icc, w, h);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every input the `splice` target found crashing runs through it without a panic.
    #[test]
    fn splice_fuzz_found_inputs_do_not_panic() {
        crate::regressions::replay("splice", super::splice);
    }
}
