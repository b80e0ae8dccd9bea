//! What a written JPEG's headers say about how it was encoded.
//!
//! The verifier checks a job's declared JPEG settings (quality, chroma subsampling,
//! progressive) against the file actually written. [`inspect`] walks the marker segments from
//! SOI up to the first SOS and never reads entropy-coded data, so it is cheap and independent
//! of any decoder's leniency.
//!
//! A JPEG does not store its "quality"; it stores quantisation tables. libjpeg, libjpeg-turbo
//! (same `jcparam.c`) and jpeg-encoder 0.7 all build the luminance table by scaling the Annex K
//! table with the IJG curve (`jpeg_quality_scaling` + `jpeg_add_quant_table`), so the quality
//! is recovered by finding the q whose scaled table the file carries.
//!
//! Parsing is strict where that costs nothing: every segment must start right after the
//! previous one (0xFF fill bytes allowed), only Huffman DCT frames (SOF0/1/2) are
//! understood, and anything cut short or out of place gives `None` rather than a guess.

/// What a JPEG's headers say about how it was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JpegInfo {
    /// Estimated IJG quality (1-100) from the luminance quantisation table, when the table is
    /// a scaled IJG (libjpeg / libjpeg-turbo / most encoders) table; None when it is not.
    pub quality: Option<u8>,
    /// Chroma subsampling from the frame header: "4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1",
    /// or "grey" for one component; None for layouts not named here.
    pub subsampling: Option<&'static str>,
    /// Progressive (SOF2) rather than baseline/extended sequential.
    pub progressive: bool,
    /// Colour components in the frame: 1 grey, 3 YCbCr or RGB, 4 CMYK or YCCK.
    pub components: u8,
}

/// Annex K.1 luminance table in natural (row-major) order: libjpeg's `std_luminance_quant_tbl`.
const STD_LUMINANCE: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, //
    12, 12, 14, 19, 26, 58, 60, 55, //
    14, 13, 16, 24, 40, 57, 69, 56, //
    14, 17, 22, 29, 51, 87, 80, 62, //
    18, 22, 37, 56, 68, 109, 103, 77, //
    24, 35, 55, 64, 81, 104, 113, 92, //
    49, 64, 78, 87, 103, 121, 120, 101, //
    72, 92, 95, 98, 112, 100, 103, 99, //
];

/// Natural-order position of the k-th coefficient in zigzag order (T.81 figure A.6).
const ZIGZAG_TO_NATURAL: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// The Annex K luminance table in DQT (zigzag) order, so a file's table is compared as stored.
/// Built at compile time: the indexing here cannot fail at run time.
const STD_LUMINANCE_ZIGZAG: [u16; 64] = {
    let mut out = [0u16; 64];
    let mut k = 0;
    while k < 64 {
        out[k] = STD_LUMINANCE[ZIGZAG_TO_NATURAL[k] as usize];
        k += 1;
    }
    out
};

/// Entry cap with libjpeg's `force_baseline` (what TurboJPEG and jpeg-encoder always use).
const BASELINE_CAP: u32 = 255;
/// Entry cap without `force_baseline` ("max quantizer needed for 12 bits" in jcparam.c).
const EXTENDED_CAP: u32 = 32767;

/// A quantisation table as stored in a DQT segment: zigzag order, 8- or 16-bit precision.
#[derive(Clone, Copy)]
struct QuantTable {
    values: [u16; 64],
    sixteen_bit: bool,
}

/// The frame header facts we report.
struct Frame {
    subsampling: Option<&'static str>,
    progressive: bool,
    components: u8,
}

/// Reads the markers up to the first scan. None when the bytes are not a JPEG or the
/// headers are cut short or malformed (never panics, never loops forever, on any input).
pub fn inspect(bytes: &[u8]) -> Option<JpegInfo> {
    let mut rest = bytes.strip_prefix(&[0xFF, 0xD8])?;
    // Table 0 is the luminance table for every libjpeg / jpeg-encoder colour layout; a later
    // DQT for the same id replaces it, as it would for the decoder.
    let mut luma: Option<QuantTable> = None;
    let mut frame: Option<Frame> = None;

    // Each iteration consumes at least the two marker bytes, so the loop ends on any input.
    loop {
        let (marker, after_marker) = next_marker(rest)?;
        rest = after_marker;
        match marker {
            // TEM and RSTn have no length field; harmless outside a scan.
            0x01 | 0xD0..=0xD7 => continue,
            // 0x00 is a stuffed byte, not a marker; 0x02-0xBF are reserved; a second SOI or
            // an EOI before any scan means there is no image to describe.
            0x00 | 0x02..=0xBF | 0xD8 | 0xD9 => return None,
            _ => {}
        }
        let (payload, after_segment) = split_segment(rest)?;
        rest = after_segment;
        match marker {
            0xC0..=0xC2 => {
                // Two frame headers in one non-hierarchical image is malformed (libjpeg agrees).
                if frame.is_some() {
                    return None;
                }
                frame = Some(parse_frame(payload, marker == 0xC2)?);
            }
            // Lossless, hierarchical and arithmetic-coded frames: the report's fields do not
            // describe them faithfully, so say nothing rather than something misleading.
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xDB => parse_dqt(payload, &mut luma)?,
            0xDA => {
                parse_sos(payload)?;
                let frame = frame?;
                return Some(JpegInfo {
                    quality: luma.as_ref().and_then(estimate_quality),
                    subsampling: frame.subsampling,
                    progressive: frame.progressive,
                    components: frame.components,
                });
            }
            // APPn, COM, DHT, DAC, DRI, DNL, JPGn, ...: skipped by their length.
            _ => {}
        }
    }
}

/// Reads `0xFF [0xFF fill bytes...] code` at the start of `bytes`.
fn next_marker(bytes: &[u8]) -> Option<(u8, &[u8])> {
    let rest = bytes.strip_prefix(&[0xFF])?;
    // Any number of 0xFF fill bytes may precede the marker code (T.81 B.1.1.2).
    let fill = rest.iter().position(|&b| b != 0xFF)?;
    let (&code, rest) = rest.get(fill..)?.split_first()?;
    Some((code, rest))
}

/// Splits a length-prefixed segment into (payload, bytes after it).
fn split_segment(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = match bytes {
        [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => return None,
    };
    // The length counts its own two bytes; `get` rejects both len < 2 and a short file.
    let payload = bytes.get(2..len)?;
    let rest = bytes.get(len..)?;
    Some((payload, rest))
}

/// Parses a DQT segment (one or more tables), keeping table 0.
fn parse_dqt(mut payload: &[u8], luma: &mut Option<QuantTable>) -> Option<()> {
    // T.81 B.2.4.1 requires at least one table per segment.
    if payload.is_empty() {
        return None;
    }
    while let Some((&pq_tq, rest)) = payload.split_first() {
        let (precision, id) = (pq_tq >> 4, pq_tq & 0x0F);
        if id > 3 {
            return None;
        }
        let sixteen_bit = match precision {
            0 => false,
            1 => true,
            _ => return None,
        };
        let size = if sixteen_bit { 128 } else { 64 };
        let raw = rest.get(..size)?;
        payload = rest.get(size..)?;
        if id != 0 {
            continue;
        }
        let mut values = [0u16; 64];
        if sixteen_bit {
            for (value, pair) in values.iter_mut().zip(raw.chunks_exact(2)) {
                if let [hi, lo] = *pair {
                    *value = u16::from_be_bytes([hi, lo]);
                }
            }
        } else {
            for (value, &byte) in values.iter_mut().zip(raw) {
                *value = u16::from(byte);
            }
        }
        *luma = Some(QuantTable {
            values,
            sixteen_bit,
        });
    }
    Some(())
}

/// Parses an SOF0/1/2 payload.
fn parse_frame(payload: &[u8], progressive: bool) -> Option<Frame> {
    let [precision, h_hi, h_lo, w_hi, w_lo, count, components @ ..] = payload else {
        return None;
    };
    // DCT frames are 8- or 12-bit (T.81 B.2.2).
    if *precision != 8 && *precision != 12 {
        return None;
    }
    // libjpeg refuses empty images (and DNL-deferred heights), so a verifier should too.
    if u16::from_be_bytes([*h_hi, *h_lo]) == 0 || u16::from_be_bytes([*w_hi, *w_lo]) == 0 {
        return None;
    }
    let count = usize::from(*count);
    if count == 0 || components.len() != 3 * count {
        return None;
    }
    let mut factors = Vec::with_capacity(count);
    for component in components.chunks_exact(3) {
        let [_id, hv, table] = *component else {
            return None;
        };
        let (h, v) = (hv >> 4, hv & 0x0F);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || table > 3 {
            return None;
        }
        factors.push((h, v));
    }
    Some(Frame {
        subsampling: name_subsampling(&factors),
        progressive,
        components: factors.len() as u8,
    })
}

/// Names the layout from per-component (horizontal, vertical) sampling factors.
fn name_subsampling(factors: &[(u8, u8)]) -> Option<&'static str> {
    if let [_] = factors {
        return Some("grey");
    }
    // Only the ratios matter: all 2x2 is as full-resolution as all 1x1.
    if factors
        .windows(2)
        .all(|pair| matches!(pair, [a, b] if a == b))
    {
        return Some("4:4:4");
    }
    let [(yh, yv), cb, cr] = *factors else {
        return None;
    };
    // The named layouts have identical chroma planes that divide luma evenly.
    if cb != cr || yh % cb.0 != 0 || yv % cb.1 != 0 {
        return None;
    }
    match (yh / cb.0, yv / cb.1) {
        (2, 1) => Some("4:2:2"),
        (2, 2) => Some("4:2:0"),
        (1, 2) => Some("4:4:0"),
        (4, 1) => Some("4:1:1"),
        _ => None,
    }
}

/// Checks an SOS header is complete: we stop here, but a cut-off scan header is not a header.
fn parse_sos(payload: &[u8]) -> Option<()> {
    let (&count, rest) = payload.split_first()?;
    // Ns components, 2 bytes each, then Ss, Se, Ah/Al (T.81 B.2.3).
    let count = usize::from(count);
    ((1..=4).contains(&count) && rest.len() == 2 * count + 3).then_some(())
}

/// IJG percentage scale for a quality: libjpeg's `jpeg_quality_scaling`.
fn ijg_scale(quality: u32) -> u32 {
    if quality < 50 {
        5000 / quality
    } else {
        200 - quality * 2
    }
}

/// One scaled entry exactly as libjpeg's `jpeg_add_quant_table` computes it.
fn ijg_entry(base: u32, quality: u32, cap: u32) -> u32 {
    ((base * ijg_scale(quality) + 50) / 100).clamp(1, cap)
}

/// The quality whose IJG-scaled Annex K table the file's table 0 is.
///
/// An exact match wins. Failing that, a table counts as quality q when every entry is some
/// rounding (floor or ceiling) of the real product base x scale / 100, with scale either the
/// integer 5000 / q of libjpeg or the unrounded quotient: that admits ports of the IJG formula
/// that truncate or use floating point, but not a table that differs from the scaled one by
/// more than rounding anywhere (a custom or perceptually tuned table). Among such
/// near-matches the smallest total deviation from libjpeg's exact table wins, lower q on a tie.
fn estimate_quality(table: &QuantTable) -> Option<u8> {
    // An 8-bit table can only be the force_baseline variant; a 16-bit one may be either
    // (libjpeg writes 16 bits when entries exceed 255; some encoders always do).
    let caps: &[u32] = if table.sixteen_bit {
        &[BASELINE_CAP, EXTENDED_CAP]
    } else {
        &[BASELINE_CAP]
    };
    let mut best: Option<(u32, u8)> = None;
    for quality in 1..=100u8 {
        for &cap in caps {
            match deviation(&table.values, u32::from(quality), cap) {
                Some(0) => return Some(quality),
                Some(total) if best.is_none_or(|(least, _)| total < least) => {
                    best = Some((total, quality));
                }
                _ => {}
            }
        }
    }
    best.map(|(_, quality)| quality)
}

/// Total |file - libjpeg| over the table for quality q, or None when some entry is outside
/// the rounding interval described on [`estimate_quality`].
fn deviation(values: &[u16; 64], quality: u32, cap: u32) -> Option<u32> {
    let scale = ijg_scale(quality);
    let mut total = 0;
    for (&value, &base) in values.iter().zip(STD_LUMINANCE_ZIGZAG.iter()) {
        let (value, base) = (u32::from(value), u32::from(base));
        let low = (base * scale / 100).clamp(1, cap);
        let high = if quality < 50 {
            (base * 5000).div_ceil(100 * quality)
        } else {
            (base * scale).div_ceil(100)
        }
        .clamp(1, cap);
        if !(low..=high).contains(&value) {
            return None;
        }
        total += value.abs_diff(ijg_entry(base, quality, cap));
    }
    Some(total)
}

#[cfg(test)]
mod tests;
