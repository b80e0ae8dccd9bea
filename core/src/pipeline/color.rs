//! Colour management: embedded ICC profiles to sRGB with moxcms, and the sRGB profile we embed.

use std::sync::OnceLock;

use moxcms::{
    ColorProfile, DataColorSpace, Layout, ProfileText, RenderingIntent, TransformOptions,
};
use rayon::prelude::*;

/// What happened to a source's colours.
#[derive(Debug, Clone, PartialEq)]
pub enum Conversion {
    /// Pixels were converted from the named profile to sRGB.
    Converted { description: String },
    /// The profile already describes sRGB; pixels left as they are.
    AlreadySrgb { description: String },
    /// The profile does not apply to the decoded pixels (e.g. a CMYK profile on pixels the
    /// decoder already made RGB, or a grey profile on RGB pixels); taken as sRGB.
    Skipped { description: String, reason: String },
}

fn text(t: &ProfileText) -> String {
    match t {
        ProfileText::PlainString(s) => s.clone(),
        ProfileText::Localizable(v) => v.first().map(|l| l.value.clone()).unwrap_or_default(),
        ProfileText::Description(d) => d.ascii_string.clone(),
    }
}

/// The profile's description, or `"unnamed"`.
pub fn describe(profile: &ColorProfile) -> String {
    let d = profile.description.as_ref().map(text).unwrap_or_default();
    let d = d.trim_matches(char::from(0)).trim().to_string();
    if d.is_empty() {
        "unnamed".into()
    } else {
        d
    }
}

/// Probe colours for [`is_identity`]: primaries, secondaries, greys and a skin tone.
const PROBES: [[u8; 4]; 10] = [
    [255, 0, 0, 255],
    [0, 255, 0, 255],
    [0, 0, 255, 255],
    [0, 255, 255, 255],
    [255, 0, 255, 255],
    [255, 255, 0, 255],
    [32, 32, 32, 255],
    [128, 128, 128, 255],
    [224, 224, 224, 255],
    [230, 170, 140, 255],
];

/// True when the transform leaves every probe colour within one level: the profile is
/// sRGB in effect (whatever its name), and a full-frame transform would change nothing.
fn is_identity(transform: &dyn moxcms::TransformExecutor<u8>) -> bool {
    is_identity_from(transform, Layout::Rgba, 1, Layout::Rgba)
}

/// [`is_identity`] for a transform from `src` samples of `scale` times the 8-bit value
/// (1 or 257) to `dst` samples; grey probes take each probe's first channel.
fn is_identity_from<T>(
    transform: &dyn moxcms::TransformExecutor<T>,
    src: Layout,
    scale: u32,
    dst: Layout,
) -> bool
where
    T: Copy + Default + Into<u32> + TryFrom<u32>,
{
    let wide = |v: u8| T::try_from(u32::from(v) * scale).unwrap_or_default();
    // The 8-bit colour each probe stands for, and its samples in the source layout.
    let probes: Vec<[u8; 4]> = PROBES
        .iter()
        .map(|p| match src {
            Layout::Gray | Layout::GrayAlpha => [p[0], p[0], p[0], p[3]],
            _ => *p,
        })
        .collect();
    let input: Vec<T> = probes
        .iter()
        .flat_map(|p| p[..src.channels()].to_vec())
        .map(wide)
        .collect();
    let (n_src, n_dst) = (src.channels(), dst.channels());
    let mut out = vec![T::default(); input.len() / n_src * n_dst];
    transform.transform(&input, &mut out).is_ok()
        && probes.iter().zip(out.chunks_exact(n_dst)).all(|(p, o)| {
            o[..3]
                .iter()
                .zip(p)
                .all(|(&got, &want)| got.into().abs_diff(u32::from(want) * scale) <= scale)
        })
}

fn srgb_profile() -> &'static ColorProfile {
    static P: OnceLock<ColorProfile> = OnceLock::new();
    P.get_or_init(ColorProfile::new_srgb)
}

/// ICC bytes of the sRGB profile embedded in outputs (encoded once).
pub fn srgb_icc() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        // A fixed creation date: the encoder stamps "now" otherwise, and the same input
        // must give byte-identical output.
        let mut p = srgb_profile().clone();
        p.creation_date_time = moxcms::ColorDateTime {
            year: 2024,
            month: 1,
            day_of_the_month: 1,
            hours: 0,
            minutes: 0,
            seconds: 0,
        };
        p.encode().unwrap_or_default()
    })
}

/// Converts RGBA8 pixels (straight alpha; alpha passes through) from `icc` to sRGB in place.
/// Err carries why the profile could not be used.
pub fn to_srgb_in_place(icc: &[u8], rgba: &mut [u8]) -> Result<Conversion, String> {
    let profile = ColorProfile::new_from_slice(icc).map_err(|e| format!("{e:?}"))?;
    let description = describe(&profile);
    if profile.color_space != DataColorSpace::Rgb {
        return Ok(Conversion::Skipped {
            description,
            reason: format!(
                "{:?} profile on pixels decoded as RGB; taken as sRGB",
                profile.color_space
            ),
        });
    }
    let transform = to_srgb_transform(&profile, Layout::Rgba)?;
    if is_identity(transform.as_ref()) {
        return Ok(Conversion::AlreadySrgb { description });
    }
    // Bands in parallel; each run of pixels that are not fully clear converts into a
    // scratch buffer, then copies back. Clear pixels carry no colour anyone sees (every
    // later step weighs colour by alpha), and a cut-out is often half clear.
    const BAND: usize = 64 * 1024 * 4;
    rgba.par_chunks_mut(BAND)
        .try_for_each(|band| {
            let mut out = vec![0u8; band.len()];
            let mut at = 0;
            while let Some(start) = band[at..].chunks_exact(4).position(|p| p[3] != 0) {
                let start = at + start * 4;
                let len = band[start..]
                    .chunks_exact(4)
                    .position(|p| p[3] == 0)
                    .map_or(band.len() - start, |n| n * 4);
                let run = start..start + len;
                transform.transform(&band[run.clone()], &mut out[run.clone()])?;
                band[run].copy_from_slice(&out[start..start + len]);
                at = start + len;
            }
            Ok::<(), moxcms::CmsError>(())
        })
        .map_err(|e| format!("{e:?}"))?;
    Ok(Conversion::Converted { description })
}

/// Converts a decoded image with the embedded profile `icc` to sRGB RGBA8 (straight
/// alpha, which passes through). 16-bit sources are transformed at 16 bits and rounded to 8
/// once; grey sources with a grey profile go through its curve. Where the profile does not
/// fit the pixels, the 8-bit RGB path decides ([`to_srgb_in_place`]). The Err carries why
/// the profile could not be used; the pixels are then the image's own, taken as sRGB.
pub fn image_to_srgb(
    icc: &[u8],
    image: image::DynamicImage,
) -> (Vec<u8>, Result<Conversion, String>) {
    use image::DynamicImage as D;
    let profile = match ColorProfile::new_from_slice(icc) {
        Ok(p) => p,
        Err(e) => return (image.into_rgba8().into_raw(), Err(format!("{e:?}"))),
    };
    let wide = matches!(
        image,
        D::ImageRgb16(_) | D::ImageRgba16(_) | D::ImageLuma16(_) | D::ImageLumaA16(_)
    );
    let layout = match (&image, profile.color_space) {
        (D::ImageRgb16(_), DataColorSpace::Rgb) => Some(Layout::Rgb),
        (D::ImageRgba16(_), DataColorSpace::Rgb) => Some(Layout::Rgba),
        (D::ImageLuma8(_) | D::ImageLuma16(_), DataColorSpace::Gray) => Some(Layout::Gray),
        (D::ImageLumaA8(_) | D::ImageLumaA16(_), DataColorSpace::Gray) => Some(Layout::GrayAlpha),
        _ => None,
    };
    let Some(layout) = layout else {
        let mut rgba = image.into_rgba8().into_raw();
        let conversion = to_srgb_in_place(icc, &mut rgba);
        return (rgba, conversion);
    };
    let description = describe(&profile);
    let options = TransformOptions {
        rendering_intent: RenderingIntent::Perceptual,
        ..TransformOptions::default()
    };
    let converted = if wide {
        profile
            .create_transform_16bit(layout, srgb_profile(), Layout::Rgba, options)
            .map_err(|e| format!("{e:?}"))
            .and_then(|t| {
                if is_identity_from(t.as_ref(), layout, 257, Layout::Rgba) {
                    return Ok(None);
                }
                let samples: &[u16] = match &image {
                    D::ImageRgb16(i) => i.as_raw(),
                    D::ImageRgba16(i) => i.as_raw(),
                    D::ImageLuma16(i) => i.as_raw(),
                    D::ImageLumaA16(i) => i.as_raw(),
                    _ => &[],
                };
                // Once, to nearest: 65535 / 255 = 257 exactly, and v / 257 never ends in .5.
                convert(samples, layout, t.as_ref(), |v| {
                    ((u32::from(v) + 128) / 257) as u8
                })
                .map(Some)
            })
    } else {
        profile
            .create_transform_8bit(layout, srgb_profile(), Layout::Rgba, options)
            .map_err(|e| format!("{e:?}"))
            .and_then(|t| {
                if is_identity_from(t.as_ref(), layout, 1, Layout::Rgba) {
                    return Ok(None);
                }
                let samples: &[u8] = match &image {
                    D::ImageLuma8(i) => i.as_raw(),
                    D::ImageLumaA8(i) => i.as_raw(),
                    _ => &[],
                };
                convert(samples, layout, t.as_ref(), |v| v).map(Some)
            })
    };
    match converted {
        Ok(Some(rgba)) => (rgba, Ok(Conversion::Converted { description })),
        Ok(None) => (
            image.into_rgba8().into_raw(),
            Ok(Conversion::AlreadySrgb { description }),
        ),
        Err(e) => (image.into_rgba8().into_raw(), Err(e)),
    }
}

/// Runs `transform` (from `layout` samples to RGBA of the same type) over `samples` in
/// parallel bands, narrowing each output sample to 8 bits with `narrow`.
fn convert<T>(
    samples: &[T],
    layout: Layout,
    transform: &(dyn moxcms::TransformExecutor<T> + Send + Sync),
    narrow: impl Fn(T) -> u8 + Sync,
) -> Result<Vec<u8>, String>
where
    T: Copy + Default + Send + Sync,
{
    const BAND: usize = 64 * 1024;
    let n = layout.channels();
    let mut rgba = vec![0u8; samples.len() / n * 4];
    samples
        .par_chunks(BAND * n)
        .zip(rgba.par_chunks_mut(BAND * 4))
        .try_for_each(|(src, dst)| {
            let mut out = vec![T::default(); dst.len()];
            transform.transform(src, &mut out)?;
            for (d, v) in dst.iter_mut().zip(out) {
                *d = narrow(v);
            }
            Ok::<(), moxcms::CmsError>(())
        })
        .map_err(|e| format!("{e:?}"))?;
    Ok(rgba)
}

/// A perceptual 8-bit transform from `profile` (4 samples a pixel: RGBA or CMYK) to sRGB.
fn to_srgb_transform(
    profile: &ColorProfile,
    dst: Layout,
) -> Result<std::sync::Arc<moxcms::Transform8BitExecutor>, String> {
    let options = TransformOptions {
        rendering_intent: RenderingIntent::Perceptual,
        ..TransformOptions::default()
    };
    profile
        .create_transform_8bit(Layout::Rgba, srgb_profile(), dst, options)
        .map_err(|e| format!("{e:?}"))
}

/// Converts CMYK samples (4 bytes a pixel, 0 = no ink) to opaque sRGB RGBA with the
/// source's CMYK profile. Err carries why the profile could not be used.
pub fn cmyk_to_srgb(icc: &[u8], cmyk: &[u8]) -> Result<(Vec<u8>, String), String> {
    let profile = ColorProfile::new_from_slice(icc).map_err(|e| format!("{e:?}"))?;
    if profile.color_space != DataColorSpace::Cmyk {
        return Err(format!("{:?} profile on CMYK pixels", profile.color_space));
    }
    let transform = to_srgb_transform(&profile, Layout::Rgb)?;
    const BAND: usize = 64 * 1024;
    let mut rgba = vec![255u8; cmyk.len()];
    cmyk.par_chunks(BAND * 4)
        .zip(rgba.par_chunks_mut(BAND * 4))
        .try_for_each(|(src, dst)| {
            let mut rgb = vec![0u8; src.len() / 4 * 3];
            transform.transform(src, &mut rgb)?;
            for (d, s) in dst.chunks_exact_mut(4).zip(rgb.chunks_exact(3)) {
                d[..3].copy_from_slice(s);
            }
            Ok::<(), moxcms::CmsError>(())
        })
        .map_err(|e| format!("{e:?}"))?;
    Ok((rgba, describe(&profile)))
}

/// True when the profile is a readable CMYK profile.
pub fn is_cmyk_profile(icc: &[u8]) -> bool {
    ColorProfile::new_from_slice(icc).is_ok_and(|p| p.color_space == DataColorSpace::Cmyk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_profile_encodes_and_reads_back_as_srgb() {
        let bytes = srgb_icc();
        assert!(bytes.len() > 100);
        let p = ColorProfile::new_from_slice(bytes).unwrap();
        let mut px = [200u8, 100, 50, 128];
        let r = to_srgb_in_place(bytes, &mut px).unwrap();
        assert!(matches!(r, Conversion::AlreadySrgb { .. }), "{r:?}");
        assert_eq!(px, [200, 100, 50, 128]);
        assert_eq!(p.color_space, DataColorSpace::Rgb);
    }

    #[test]
    fn linear_profile_named_srgb_is_still_converted() {
        let mut p = ColorProfile::new_srgb();
        let linear = moxcms::ToneReprCurve::Lut(Vec::new());
        p.red_trc = Some(linear.clone());
        p.green_trc = Some(linear.clone());
        p.blue_trc = Some(linear);
        p.cicp = None;
        let icc = p.encode().unwrap();
        let mut px = [128u8, 128, 128, 255];
        let r = to_srgb_in_place(&icc, &mut px).unwrap();
        assert!(matches!(r, Conversion::Converted { .. }), "{r:?}");
        assert!((185..=190).contains(&px[0]), "{px:?}");
    }

    #[test]
    fn display_p3_red_leaves_srgb_gamut() {
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let mut px = [255u8, 0, 0, 255, 128, 128, 128, 77];
        to_srgb_in_place(&p3, &mut px).unwrap();
        // P3 red is more saturated than sRGB red: clipped to the sRGB red corner.
        assert!(px[0] >= 250 && px[1] <= 5 && px[2] <= 5, "{px:?}");
        // Neutral grey stays neutral; alpha untouched.
        assert!((px[4] as i32 - 128).abs() <= 2 && px[7] == 77, "{px:?}");
    }
}
