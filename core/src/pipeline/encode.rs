//! Encoding: JPEG (libjpeg-turbo), PNG, WebP. Nothing of the source's metadata is carried
//! over; an sRGB ICC profile is embedded where the spec asks for it.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use thiserror::Error;

use super::color::srgb_icc;
use super::render::Rendered;
use crate::error::ErrorCode;
use crate::spec::{Format, Spec, Subsampling};

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("JPEG encoding failed: {0}")]
    Jpeg(String),
    #[error("PNG encoding failed: {0}")]
    Png(String),
    #[error("WebP encoding failed: {0}")]
    Webp(String),
    #[error("{format} cannot hold an image with transparency")]
    AlphaUnsupported { format: &'static str },
}

impl EncodeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            EncodeError::Jpeg(_) => ErrorCode::EncodeJpegFailed,
            EncodeError::Png(_) => ErrorCode::EncodePngFailed,
            EncodeError::Webp(_) => ErrorCode::EncodeWebpFailed,
            EncodeError::AlphaUnsupported { .. } => ErrorCode::EncodeAlphaUnsupported,
        }
    }
}

/// Encodes a rendered canvas as the spec's format.
pub fn encode(img: &Rendered, spec: &Spec) -> Result<Vec<u8>, EncodeError> {
    match spec.format {
        Format::Jpeg => encode_jpeg(img, spec),
        Format::Png => encode_png(img, spec),
        Format::Webp => encode_webp(img, spec),
    }
}

fn encode_jpeg(img: &Rendered, spec: &Spec) -> Result<Vec<u8>, EncodeError> {
    if img.channels != 3 {
        return Err(EncodeError::AlphaUnsupported { format: "JPEG" });
    }
    let settings = Jpeg {
        quality: spec.quality,
        subsampling: spec.chroma_subsampling,
        progressive: spec.progressive,
    };
    let jpeg = compress_jpeg(&img.pixels, img.width, img.height, &settings)?;
    Ok(if spec.embed_icc {
        jpeg_with_icc(&jpeg, srgb_icc())
    } else {
        jpeg
    })
}

/// How a JPEG is written (Huffman tables are always optimized: a few percent smaller for
/// a few percent more time).
pub(crate) struct Jpeg {
    pub quality: u8,
    pub subsampling: Subsampling,
    pub progressive: bool,
}

/// RGB8 pixels (`width` x `height`, rows top down) as a JPEG, with libjpeg-turbo: about
/// twice as fast as the pure-Rust encoder on a 2000 px canvas
/// (`cargo bench --bench stages -- encode_jpeg`).
#[cfg(feature = "libjpeg-turbo")]
pub(crate) fn compress_jpeg(
    rgb: &[u8],
    width: u32,
    height: u32,
    settings: &Jpeg,
) -> Result<Vec<u8>, EncodeError> {
    let err = |e: turbojpeg::Error| EncodeError::Jpeg(e.to_string());
    let mut c = turbojpeg::Compressor::new().map_err(err)?;
    c.set_quality(i32::from(settings.quality)).map_err(err)?;
    c.set_subsamp(match settings.subsampling {
        Subsampling::S444 => turbojpeg::Subsamp::None,
        Subsampling::S420 => turbojpeg::Subsamp::Sub2x2,
    })
    .map_err(err)?;
    c.set_progressive(settings.progressive).map_err(err)?;
    c.set_optimize(true).map_err(err)?;
    let image = turbojpeg::Image {
        pixels: rgb,
        width: width as usize,
        pitch: width as usize * 3,
        height: height as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    c.compress_to_vec(image).map_err(err)
}

/// The pure-Rust fallback, for builds without cmake and nasm.
#[cfg(not(feature = "libjpeg-turbo"))]
pub(crate) fn compress_jpeg(
    rgb: &[u8],
    width: u32,
    height: u32,
    settings: &Jpeg,
) -> Result<Vec<u8>, EncodeError> {
    let err = |e: jpeg_encoder::EncodingError| EncodeError::Jpeg(e.to_string());
    let (w, h) = (
        u16::try_from(width).map_err(|_| EncodeError::Jpeg("wider than 65,535 px".into()))?,
        u16::try_from(height).map_err(|_| EncodeError::Jpeg("taller than 65,535 px".into()))?,
    );
    let mut out = Vec::new();
    let mut e = jpeg_encoder::Encoder::new(&mut out, settings.quality);
    e.set_sampling_factor(match settings.subsampling {
        Subsampling::S444 => jpeg_encoder::SamplingFactor::F_1_1,
        Subsampling::S420 => jpeg_encoder::SamplingFactor::F_2_2,
    });
    e.set_progressive(settings.progressive);
    e.set_optimized_huffman_tables(true);
    e.encode(rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(err)?;
    Ok(out)
}

/// Inserts an APP2 ICC_PROFILE segment after SOI and any APP0 (JFIF) segment.
/// libjpeg-turbo's simple API has no ICC call; the segment layout is fixed by the ICC spec.
pub(crate) fn jpeg_with_icc(jpeg: &[u8], icc: &[u8]) -> Vec<u8> {
    const HEADER: &[u8] = b"ICC_PROFILE\0";
    // One segment holds 65533 bytes after the length; our sRGB profile is far smaller.
    if icc.is_empty() || icc.len() > 65_535 - 2 - HEADER.len() - 2 || jpeg.len() < 4 {
        return jpeg.to_vec();
    }
    let mut at = 2;
    if jpeg[2] == 0xFF && jpeg[3] == 0xE0 && jpeg.len() >= 6 {
        at = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    }
    // An APP0 segment longer than the stream: not a JPEG to splice into.
    if at > jpeg.len() {
        return jpeg.to_vec();
    }
    let len = (2 + HEADER.len() + 2 + icc.len()) as u16;
    let mut out = Vec::with_capacity(jpeg.len() + icc.len() + 20);
    out.extend_from_slice(&jpeg[..at]);
    out.extend_from_slice(&[0xFF, 0xE2]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(HEADER);
    out.extend_from_slice(&[1, 1]);
    out.extend_from_slice(icc);
    out.extend_from_slice(&jpeg[at..]);
    out
}

fn encode_png(img: &Rendered, spec: &Spec) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    // fdeflate's fast mode: on a 2000 px RGBA cut-out it is 15x faster than zlib level 6
    // (34 ms vs 540 ms) for a file 8.5% larger; `cargo bench --bench stages -- encode_png`.
    // Up on every row: every file is decoded again to verify it (and by whoever takes it
    // next), and Up undoes in one vector add per row where Paeth goes pixel by pixel. On
    // the mockup outputs of the realistic batch (24 files, 2-core AMD EPYC): decode 0.25 s
    // vs 0.54 s for Paeth, encode 0.22 s vs 0.25 s, for files 1.6% larger (64.3 vs 63.3 MB).
    let mut enc = PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Up);
    if spec.embed_icc {
        enc.set_icc_profile(srgb_icc().to_vec())
            .map_err(|e| EncodeError::Png(e.to_string()))?;
    }
    let color = if img.channels == 4 {
        ExtendedColorType::Rgba8
    } else {
        ExtendedColorType::Rgb8
    };
    enc.write_image(&img.pixels, img.width, img.height, color)
        .map_err(|e| EncodeError::Png(e.to_string()))?;
    Ok(out)
}

fn encode_webp(img: &Rendered, spec: &Spec) -> Result<Vec<u8>, EncodeError> {
    let layout = if img.channels == 4 {
        webp::PixelLayout::Rgba
    } else {
        webp::PixelLayout::Rgb
    };
    let enc = webp::Encoder::new(&img.pixels, layout, img.width, img.height);
    // The fallible call: the crate's `encode()` unwraps the same result inside.
    let mut config = webp::WebPConfig::new()
        .map_err(|()| EncodeError::Webp("libwebp refused its default settings".into()))?;
    let lossless = spec.quality >= 100;
    config.lossless = i32::from(lossless);
    config.alpha_compression = i32::from(!lossless);
    config.quality = if lossless {
        75.0
    } else {
        f32::from(spec.quality)
    };
    let mem = enc
        .encode_advanced(&config)
        .map_err(|e| EncodeError::Webp(format!("{e:?}")))?;
    let bytes = mem.to_vec();
    if bytes.len() < 20 {
        return Err(EncodeError::Webp("the encoder returned no data".into()));
    }
    Ok(if spec.embed_icc {
        webp_with_icc(&bytes, srgb_icc(), img.width, img.height)
    } else {
        bytes
    })
}

/// True when a simple WebP body (after the RIFF header) carries alpha: a lossless
/// bitstream with its alpha_is_used bit set. (Lossy alpha always comes in VP8X form.)
fn webp_has_alpha(body: &[u8]) -> bool {
    body.starts_with(b"VP8L")
        && body.len() >= 13
        && body[8] == 0x2F
        && (u32::from_le_bytes([body[9], body[10], body[11], body[12]]) >> 28) & 1 == 1
}

/// Adds an ICCP chunk, turning a simple WebP into the extended (VP8X) layout if needed.
pub(crate) fn webp_with_icc(webp: &[u8], icc: &[u8], w: u32, h: u32) -> Vec<u8> {
    const ICC_FLAG: u8 = 0x20;
    const ALPHA_FLAG: u8 = 0x10;
    // Shorter than a RIFF header, or no canvas: nothing to splice into.
    if webp.len() < 12 || w == 0 || h == 0 {
        return webp.to_vec();
    }
    let body = &webp[12..];
    let mut chunks = Vec::new();
    let (vp8x, rest) = if body.starts_with(b"VP8X") && body.len() >= 18 {
        let mut x = body[..18].to_vec();
        x[8] |= ICC_FLAG;
        (x, &body[18..])
    } else {
        let mut x = b"VP8X".to_vec();
        x.extend_from_slice(&10u32.to_le_bytes());
        // The flag must match the bitstream: libwebp drops alpha from an opaque canvas.
        x.push(ICC_FLAG | if webp_has_alpha(body) { ALPHA_FLAG } else { 0 });
        x.extend_from_slice(&[0, 0, 0]);
        x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
        x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
        (x, body)
    };
    chunks.extend_from_slice(&vp8x);
    chunks.extend_from_slice(b"ICCP");
    chunks.extend_from_slice(&(icc.len() as u32).to_le_bytes());
    chunks.extend_from_slice(icc);
    if icc.len() % 2 == 1 {
        chunks.push(0);
    }
    chunks.extend_from_slice(rest);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((chunks.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunks);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::render::Placement;
    use image::ImageDecoder;

    fn white(channels: u8) -> Rendered {
        let px = if channels == 3 {
            vec![255u8; 64 * 48 * 3]
        } else {
            vec![0u8; 64 * 48 * 4]
        };
        Rendered {
            width: 64,
            height: 48,
            channels,
            pixels: px,
            placement: Placement {
                scale: 1.0,
                wanted_scale: 1.0,
                x: 0,
                y: 0,
                w: 1,
                h: 1,
                image_x: 0,
                image_y: 0,
                image_w: 1,
                image_h: 1,
            },
            operations: Vec::new(),
        }
    }

    fn spec(id: &str) -> Spec {
        crate::spec::builtin(id).unwrap().unwrap()
    }

    #[test]
    fn jpeg_embeds_icc_and_keeps_white_pure() {
        let bytes = encode(&white(3), &spec("amazon-main")).unwrap();
        let mut d = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&bytes)).unwrap();
        assert_eq!(d.icc_profile().unwrap().as_deref(), Some(srgb_icc()));
        let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert!(img.pixels().all(|p| p.0 == [255, 255, 255]));
    }

    #[test]
    fn webp_with_icc_reads_back() {
        let mut s = spec("google-merchant");
        s.embed_icc = true;
        let bytes = encode(&white(3), &s).unwrap();
        let mut d = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&bytes)).unwrap();
        assert_eq!(d.icc_profile().unwrap().as_deref(), Some(srgb_icc()));
        assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 64);
    }

    #[test]
    fn webp_with_icc_on_an_opaque_transparent_canvas_reads_back() {
        // A transparent-background spec whose canvas ends up fully opaque.
        let mut s = spec("mockup-input");
        s.format = Format::Webp;
        s.quality = 100;
        let mut img = white(4);
        img.pixels.iter_mut().for_each(|v| *v = 255);
        let bytes = encode(&img, &s).unwrap();
        assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 64);
        s.quality = 80;
        let bytes = encode(&img, &s).unwrap();
        assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 64);
    }

    #[test]
    fn webp_icc_splice_of_a_short_stream_or_empty_canvas_does_not_panic() {
        // Found by the `splice` fuzz target: a stream shorter than its RIFF header was
        // sliced past its end, and a 0-wide canvas underflowed `w - 1`.
        for webp in [&b""[..], b"RIFF", b"RIFF\x04\0\0\0WEB"] {
            assert_eq!(webp_with_icc(webp, srgb_icc(), 64, 48), webp);
        }
        let webp = encode(&white(3), &spec("google-merchant")).unwrap();
        assert_eq!(webp_with_icc(&webp, srgb_icc(), 0, 48), webp);
        assert_eq!(webp_with_icc(&webp, srgb_icc(), 64, 0), webp);
    }

    #[test]
    fn jpeg_icc_splice_with_an_app0_longer_than_the_stream_does_not_panic() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF];
        assert_eq!(jpeg_with_icc(&jpeg, srgb_icc()), jpeg);
    }

    #[test]
    fn same_input_gives_same_bytes() {
        let s = spec("mockup-input");
        assert_eq!(
            encode(&white(4), &s).unwrap(),
            encode(&white(4), &s).unwrap()
        );
    }
}
