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
        let truncated =
            STD_LUMINANCE.map(|base| (u32::from(base) * ijg_scale(quality) / 100).clamp(1, 255));
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
        17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99,
        99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
        99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
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
