use super::failure::decoder_words;
use super::*;

#[test]
fn a_decoders_words_keep_no_bytes_of_the_file() {
    let said = "ChunkType { type: \u{f4}\u{a8}\u{81}\u{e1}, critical: true }\n\u{1b}[31m";
    assert_eq!(
        decoder_words(said),
        "ChunkType { type: ????, critical: true }??[31m"
    );
    assert_eq!(decoder_words(&"x".repeat(300)).len(), 203);
}

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
