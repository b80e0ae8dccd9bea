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
mod tests {
    use super::*;
    use jpeg_encoder::{ColorType, Encoder, QuantizationTableType, SamplingFactor};

    const W: u16 = 37;
    const H: u16 = 21;

    /// A small RGB image with gradients and some texture, so every block has AC energy.
    fn rgb_image() -> Vec<u8> {
        let mut data = Vec::with_capacity(usize::from(W) * usize::from(H) * 3);
        for y in 0..u32::from(H) {
            for x in 0..u32::from(W) {
                let noise = (x * 7919 + y * 104_729) % 37;
                data.push((x * 6 + noise) as u8);
                data.push((y * 11 + noise * 2) as u8);
                data.push(((x ^ y) * 9) as u8);
            }
        }
        data
    }

    fn encode_with(
        quality: u8,
        sampling: SamplingFactor,
        progressive: bool,
        color: ColorType,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, quality);
        encoder.set_sampling_factor(sampling);
        encoder.set_progressive(progressive);
        encoder.encode(data, W, H, color).expect("encode");
        out
    }

    fn encode(quality: u8, sampling: SamplingFactor, progressive: bool) -> Vec<u8> {
        encode_with(quality, sampling, progressive, ColorType::Rgb, &rgb_image())
    }

    /// `marker` with its length-prefixed payload.
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let len = u16::try_from(payload.len() + 2).expect("segment length");
        let mut out = vec![0xFF, marker];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// SOF payload for an 8-bit frame with the given (h, v) factors, all using table 0.
    fn sof_payload(factors: &[(u8, u8)]) -> Vec<u8> {
        let mut payload = vec![8, 0, 16, 0, 16, u8::try_from(factors.len()).expect("count")];
        for (id, &(h, v)) in (1u8..).zip(factors) {
            payload.extend_from_slice(&[id, h << 4 | v, 0]);
        }
        payload
    }

    /// A one-component SOS header.
    fn sos() -> Vec<u8> {
        segment(0xDA, &[1, 1, 0x00, 0, 63, 0])
    }

    /// DQT payload for one table given in natural order.
    fn dqt_table(id: u8, natural: &[u32; 64], sixteen_bit: bool) -> Vec<u8> {
        let mut payload = vec![u8::from(sixteen_bit) << 4 | id];
        for &pos in &ZIGZAG_TO_NATURAL {
            let value = natural[usize::from(pos)];
            if sixteen_bit {
                let value = u16::try_from(value).expect("16-bit entry");
                payload.extend_from_slice(&value.to_be_bytes());
            } else {
                payload.push(u8::try_from(value).expect("8-bit entry"));
            }
        }
        payload
    }

    /// A minimal header-only JPEG: SOI, the given segments, SOS.
    fn jpeg(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        for seg in segments {
            out.extend_from_slice(seg);
        }
        out.extend_from_slice(&sos());
        out
    }

    /// The luminance table libjpeg's jcparam.c builds for `quality`, natural order.
    fn libjpeg_table(quality: u32, force_baseline: bool) -> [u32; 64] {
        let cap = if force_baseline {
            BASELINE_CAP
        } else {
            EXTENDED_CAP
        };
        STD_LUMINANCE.map(|base| ijg_entry(u32::from(base), quality, cap))
    }

    fn grey_frame() -> Vec<u8> {
        segment(0xC0, &sof_payload(&[(1, 1)]))
    }

    #[test]
    fn jpeg_encoder_round_trip_every_quality() {
        let image = rgb_image();
        let mut checked = 0;
        for (sampling, name) in [
            (SamplingFactor::R_4_4_4, "4:4:4"),
            (SamplingFactor::R_4_2_0, "4:2:0"),
        ] {
            for progressive in [false, true] {
                for quality in 1..=100u8 {
                    let bytes = encode_with(quality, sampling, progressive, ColorType::Rgb, &image);
                    let info = inspect(&bytes);
                    let expected = JpegInfo {
                        quality: Some(quality),
                        subsampling: Some(name),
                        progressive,
                        components: 3,
                    };
                    assert_eq!(info, Some(expected), "q{quality} {name} prog={progressive}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 400);
    }

    #[test]
    fn jpeg_encoder_other_subsamplings() {
        for (sampling, name) in [
            (SamplingFactor::R_4_2_2, Some("4:2:2")),
            (SamplingFactor::R_4_4_0, Some("4:4:0")),
            (SamplingFactor::R_4_1_1, Some("4:1:1")),
            (SamplingFactor::R_4_1_0, None),
            (SamplingFactor::R_4_4_1, None),
        ] {
            let info = inspect(&encode(80, sampling, false)).expect("parses");
            assert_eq!(info.subsampling, name, "{sampling:?}");
            assert_eq!(info.quality, Some(80));
        }
    }

    #[test]
    fn grey_jpeg_reports_grey() {
        let grey: Vec<u8> = rgb_image().chunks(3).map(|px| px[0]).collect();
        for progressive in [false, true] {
            for quality in [1, 37, 50, 90, 100] {
                let bytes = encode_with(
                    quality,
                    SamplingFactor::R_4_2_0,
                    progressive,
                    ColorType::Luma,
                    &grey,
                );
                let expected = JpegInfo {
                    quality: Some(quality),
                    subsampling: Some("grey"),
                    progressive,
                    components: 1,
                };
                assert_eq!(inspect(&bytes), Some(expected));
            }
        }
    }

    #[test]
    fn scaled_tables_are_distinct_for_every_quality() {
        // Otherwise "exact match" would be ambiguous.
        for force_baseline in [true, false] {
            let tables: Vec<_> = (1..=100)
                .map(|q| libjpeg_table(q, force_baseline))
                .collect();
            for (i, a) in tables.iter().enumerate() {
                for b in &tables[i + 1..] {
                    assert_ne!(a, b);
                }
            }
        }
    }

    #[test]
    fn libjpeg_tables_8_and_16_bit() {
        // jcparam.c with force_baseline FALSE keeps entries up to 32767, and jcmarker.c's
        // emit_dqt then writes the table with 16-bit precision when any entry exceeds 255.
        for quality in 1..=100u32 {
            for force_baseline in [true, false] {
                let table = libjpeg_table(quality, force_baseline);
                let wide = table.iter().any(|&v| v > 255);
                let bytes = jpeg(&[segment(0xDB, &dqt_table(0, &table, wide)), grey_frame()]);
                let got = inspect(&bytes).and_then(|info| info.quality);
                assert_eq!(
                    got,
                    u8::try_from(quality).ok(),
                    "q{quality} {force_baseline}"
                );
            }
            // Some encoders write 16-bit tables even when every entry fits in 8 bits.
            let bytes = jpeg(&[
                segment(0xDB, &dqt_table(0, &libjpeg_table(quality, true), true)),
                grey_frame(),
            ]);
            let got = inspect(&bytes).and_then(|info| info.quality);
            assert_eq!(got, u8::try_from(quality).ok(), "q{quality} wide baseline");
        }
    }

    #[test]
    fn other_roundings_of_the_ijg_formula_are_recognised() {
        for quality in 1..=100u32 {
            let truncated = STD_LUMINANCE
                .map(|base| (u32::from(base) * ijg_scale(quality) / 100).clamp(1, 255));
            let float = STD_LUMINANCE.map(|base| {
                let scale = if quality < 50 {
                    5000.0 / f64::from(quality)
                } else {
                    f64::from(200 - 2 * quality)
                };
                (f64::from(base) * scale / 100.0).round().clamp(1.0, 255.0) as u32
            });
            for (variant, table) in [("truncated", truncated), ("float", float)] {
                let bytes = jpeg(&[segment(0xDB, &dqt_table(0, &table, false)), grey_frame()]);
                let got = inspect(&bytes).and_then(|info| info.quality);
                assert_eq!(got, u8::try_from(quality).ok(), "q{quality} {variant}");
            }
        }
    }

    #[test]
    fn non_ijg_tables_have_no_quality() {
        // A hand-made table: flat 3s with a coarse corner, no IJG quality produces it.
        let mut custom = [3u32; 64];
        custom[63] = 40;
        // Annex K scaled for q50 except one entry off by 2: a tweaked table is not IJG.
        let mut tweaked = libjpeg_table(50, true);
        tweaked[10] += 2;
        // The Annex K chrominance table used as table 0.
        let chroma: [u32; 64] = [
            17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
            99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
            99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
        ];
        for table in [custom, tweaked, chroma, [0; 64]] {
            let bytes = jpeg(&[segment(0xDB, &dqt_table(0, &table, false)), grey_frame()]);
            let info = inspect(&bytes).expect("headers are fine");
            assert_eq!(info.quality, None, "{table:?}");
            assert_eq!(info.subsampling, Some("grey"));
        }
        // jpeg-encoder's alternative (mozjpeg) tables are not scaled Annex K either.
        for kind in [
            QuantizationTableType::Flat,
            QuantizationTableType::CustomMsSsim,
            QuantizationTableType::CustomPsnrHvs,
            QuantizationTableType::ImageMagick,
            QuantizationTableType::KleinSilversteinCarney,
            QuantizationTableType::DentalXRays,
            QuantizationTableType::VisualDetectionModel,
            QuantizationTableType::ImprovedDetectionModel,
        ] {
            for quality in [10, 50, 75, 90] {
                let mut out = Vec::new();
                let mut encoder = Encoder::new(&mut out, quality);
                encoder.set_quantization_tables(kind.clone(), kind.clone());
                encoder
                    .encode(&rgb_image(), W, H, ColorType::Rgb)
                    .expect("encode");
                let info = inspect(&out).expect("parses");
                assert_eq!(info.quality, None, "{kind:?} q{quality}");
            }
        }
    }

    #[test]
    fn dqt_segments_tables_and_markers() {
        let q90 = libjpeg_table(90, true);
        let q20 = libjpeg_table(20, true);
        let chroma_like = [99u32; 64];
        // Two tables in one segment, table 1 first; a later segment redefines table 0.
        let mut both = dqt_table(1, &chroma_like, false);
        both.extend(dqt_table(0, &q20, false));
        let bytes = jpeg(&[
            segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"),
            segment(0xFE, b"a comment with \xFF\xD9 inside"),
            segment(0xDB, &both),
            grey_frame(),
            segment(0xDB, &dqt_table(0, &q90, false)),
            segment(0xC4, &[0x00; 17]),
        ]);
        assert_eq!(inspect(&bytes).and_then(|i| i.quality), Some(90));
        let bytes = jpeg(&[segment(0xDB, &both), grey_frame()]);
        assert_eq!(inspect(&bytes).and_then(|i| i.quality), Some(20));
        // No table 0 at all: the headers are fine, the quality unknown.
        let bytes = jpeg(&[segment(0xDB, &dqt_table(1, &q90, false)), grey_frame()]);
        let info = inspect(&bytes).expect("parses");
        assert_eq!(info.quality, None);

        // Fill bytes before markers, and standalone TEM / RSTn between segments.
        let mut padded = vec![0xFF, 0xD8, 0xFF, 0xFF, 0xFF];
        padded.extend(&segment(0xDB, &dqt_table(0, &q90, false))[1..]);
        padded.extend([0xFF, 0x01, 0xFF, 0xD3, 0xFF, 0xFF]);
        padded.extend(grey_frame());
        padded.extend([0xFF, 0xFF]);
        padded.extend(sos());
        let info = inspect(&padded).expect("fill bytes are legal");
        assert_eq!(info.quality, Some(90));
        assert_eq!(info.subsampling, Some("grey"));
        assert!(!info.progressive);
    }

    #[test]
    fn subsampling_names_from_frame_header() {
        type Case = (&'static [(u8, u8)], Option<&'static str>);
        let cases: &[Case] = &[
            (&[(1, 1)], Some("grey")),
            (&[(2, 2)], Some("grey")),
            (&[(1, 1), (1, 1), (1, 1)], Some("4:4:4")),
            (&[(2, 2), (2, 2), (2, 2)], Some("4:4:4")),
            (&[(2, 1), (1, 1), (1, 1)], Some("4:2:2")),
            (&[(2, 2), (1, 1), (1, 1)], Some("4:2:0")),
            (&[(1, 2), (1, 1), (1, 1)], Some("4:4:0")),
            (&[(4, 1), (1, 1), (1, 1)], Some("4:1:1")),
            (&[(4, 2), (2, 2), (2, 2)], Some("4:2:2")),
            (&[(4, 2), (1, 1), (1, 1)], None),
            (&[(1, 1), (2, 2), (2, 2)], None),
            (&[(2, 2), (1, 1), (2, 1)], None),
            (&[(3, 1), (2, 1), (2, 1)], None),
            (&[(1, 1), (1, 1), (1, 1), (1, 1)], Some("4:4:4")),
            (&[(2, 2), (1, 1), (1, 1), (2, 2)], None),
            (&[(1, 1), (1, 1)], Some("4:4:4")),
        ];
        let q = segment(0xDB, &dqt_table(0, &libjpeg_table(75, true), false));
        for &(factors, expected) in cases {
            for sof in [0xC0, 0xC1, 0xC2] {
                let bytes = jpeg(&[q.clone(), segment(sof, &sof_payload(factors))]);
                let info = inspect(&bytes).expect("parses");
                assert_eq!(info.subsampling, expected, "{factors:?}");
                assert_eq!(info.progressive, sof == 0xC2);
                assert_eq!(info.quality, Some(75));
            }
        }
    }

    #[test]
    fn malformed_headers_are_none() {
        let q = segment(0xDB, &dqt_table(0, &libjpeg_table(75, true), false));
        let frame = grey_frame();
        let good = jpeg(&[q.clone(), frame.clone()]);
        assert!(inspect(&good).is_some());
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xFF],
            vec![0xFF, 0xD8],
            vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
            // SOS before any frame header.
            jpeg(std::slice::from_ref(&q)),
            // Two frame headers.
            jpeg(&[q.clone(), frame.clone(), frame.clone()]),
            // Unsupported frame types: lossless, arithmetic sequential/progressive.
            jpeg(&[q.clone(), segment(0xC3, &sof_payload(&[(1, 1)]))]),
            jpeg(&[q.clone(), segment(0xC9, &sof_payload(&[(1, 1)]))]),
            jpeg(&[q.clone(), segment(0xCA, &sof_payload(&[(1, 1)]))]),
            // Zero sampling factor, bad precision, zero components, zero width.
            jpeg(&[q.clone(), segment(0xC0, &[8, 0, 16, 0, 16, 1, 1, 0x01, 0])]),
            jpeg(&[q.clone(), segment(0xC0, &[9, 0, 16, 0, 16, 1, 1, 0x11, 0])]),
            jpeg(&[q.clone(), segment(0xC0, &[8, 0, 16, 0, 16, 0])]),
            jpeg(&[q.clone(), segment(0xC0, &[8, 0, 16, 0, 0, 1, 1, 0x11, 0])]),
            // Component count disagrees with the segment length.
            jpeg(&[q.clone(), segment(0xC0, &[8, 0, 16, 0, 16, 2, 1, 0x11, 0])]),
            // DQT: bad precision, bad id, short table, empty segment.
            jpeg(&[segment(0xDB, &[0x20; 65]), frame.clone()]),
            jpeg(&[segment(0xDB, &[0x04; 65]), frame.clone()]),
            jpeg(&[segment(0xDB, &[0x00; 64]), frame.clone()]),
            jpeg(&[segment(0xDB, &[0x10; 65]), frame.clone()]),
            jpeg(&[segment(0xDB, &[]), frame.clone()]),
            // Segment length below 2.
            [&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01][..], &good[2..]].concat(),
            // EOI, a second SOI, a reserved marker, a stuffed zero before the scan.
            [&[0xFF, 0xD8, 0xFF, 0xD9][..], &good[2..]].concat(),
            [&[0xFF, 0xD8, 0xFF, 0xD8][..], &good[2..]].concat(),
            [&[0xFF, 0xD8, 0xFF, 0x02][..], &good[2..]].concat(),
            [&[0xFF, 0xD8, 0xFF, 0x00][..], &good[2..]].concat(),
            // Garbage between segments.
            [&[0xFF, 0xD8, 0x00][..], &good[2..]].concat(),
            // SOS header with a bad component count or length.
            [
                &[0xFF, 0xD8][..],
                &q,
                &frame,
                &segment(0xDA, &[0, 0, 63, 0]),
            ]
            .concat(),
            [
                &[0xFF, 0xD8][..],
                &q,
                &frame,
                &segment(0xDA, &[1, 1, 0, 0, 63]),
            ]
            .concat(),
            // Only fill bytes after SOI.
            [&[0xFF, 0xD8][..], &[0xFF; 100]].concat(),
        ];
        for (i, bytes) in cases.iter().enumerate() {
            assert_eq!(inspect(bytes), None, "case {i}");
        }
    }

    #[test]
    fn every_truncation_of_a_real_jpeg() {
        let mut out = Vec::new();
        let mut encoder = Encoder::new(&mut out, 83);
        encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
        encoder.set_progressive(true);
        encoder.set_restart_interval(2);
        encoder
            .add_app_segment(1, b"Exif\0\0 not really exif".to_vec())
            .expect("app segment");
        encoder.add_icc_profile(&[0x5A; 300]).expect("icc profile");
        encoder
            .encode(&rgb_image(), W, H, ColorType::Rgb)
            .expect("encode");
        let full = inspect(&out).expect("full file parses");
        assert_eq!(full.quality, Some(83));
        // Cut before the end of the SOS header: None; after it: the same answer as the whole
        // file, since nothing past the first scan header is read.
        let mut first_some = None;
        for len in 0..out.len() {
            match inspect(&out[..len]) {
                Some(info) => {
                    assert_eq!(info, full, "prefix {len}");
                    first_some.get_or_insert(len);
                }
                None => assert!(first_some.is_none(), "None after Some at prefix {len}"),
            }
        }
        assert!(first_some.is_some_and(|len| len < out.len()));
    }

    /// xorshift64*: deterministic, good enough to pick bytes and positions.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }

        fn byte(&mut self) -> u8 {
            (self.next() >> 56) as u8
        }
    }

    fn check_sane(info: Option<JpegInfo>) {
        if let Some(info) = info {
            assert!(info.quality.is_none_or(|q| (1..=100).contains(&q)));
            let named = ["grey", "4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1"];
            assert!(info.subsampling.is_none_or(|s| named.contains(&s)));
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let len = rng.below(300);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            // Half start like a JPEG, and some are mostly 0xFF, to get past the first checks.
            if rng.below(2) == 0 && bytes.len() >= 2 {
                bytes[0] = 0xFF;
                bytes[1] = 0xD8;
            }
            if rng.below(4) == 0 {
                for b in bytes.iter_mut().filter(|_| rng.below(2) == 0) {
                    *b = 0xFF;
                }
            }
            check_sane(inspect(&bytes));
        }
        for bytes in [
            &[0xFF; 4096][..],
            &[0x00; 4096],
            &[0xFF, 0xD8, 0xFF, 0xC0, 0xFF, 0xFF],
        ] {
            assert_eq!(inspect(bytes), None);
        }
    }

    #[test]
    fn mutated_real_jpegs_never_panic() {
        let bases = [
            encode(75, SamplingFactor::R_4_2_0, false),
            encode(95, SamplingFactor::R_4_4_4, true),
        ];
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let mut parsed = 0;
        for _ in 0..5000 {
            let base = &bases[rng.below(bases.len())];
            let mut bytes = base.clone();
            // Headers are the first ~600 bytes; mutate mostly there, where it matters.
            for _ in 0..=rng.below(4) {
                let pos = rng.below(bytes.len().min(700));
                match rng.below(6) {
                    0 => bytes[pos] = rng.byte(),
                    1 => bytes[pos] ^= 1 << rng.below(8),
                    2 => bytes[pos] = 0xFF,
                    3 => bytes.insert(pos, [0xFF, 0x00, rng.byte()][rng.below(3)]),
                    4 => {
                        bytes.remove(pos);
                    }
                    _ => bytes.truncate(pos),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let info = inspect(&bytes);
            parsed += usize::from(info.is_some());
            check_sane(info);
        }
        // The loop should exercise both outcomes, not just bounce off the SOI check.
        assert!(parsed > 500 && parsed < 4500, "parsed {parsed}");
    }
}
