//! Resizing RGBA8 pixels with fast_image_resize, typed: its untyped entry point
//! (`Resizer::resize`) compiles the convolutions of every pixel type it knows, about half
//! of this crate's generated code, where the pipeline needs the one.

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::U8x4;
use fast_image_resize::{ImageBufferError, ImageError, MulDiv, ResizeOptions, Resizer};

/// Why a resize could not be made (a size that does not match its pixels: a bug).
#[derive(Debug, thiserror::Error)]
pub enum ResizeError {
    #[error("{0}")]
    Buffer(#[from] ImageBufferError),
    #[error("{0}")]
    Resize(#[from] fast_image_resize::ResizeError),
    #[error("{0}")]
    Alpha(#[from] ImageError),
}

/// `src` (`size.0` x `size.1` RGBA8 pixels, rows top down) resized to `to` as `options`
/// say.
pub fn rgba8(
    src: &[u8],
    size: (u32, u32),
    to: (u32, u32),
    options: &ResizeOptions,
) -> Result<Vec<u8>, ResizeError> {
    let src = TypedImageRef::<U8x4>::from_buffer(size.0, size.1, src)?;
    let mut out = vec![0; to.0 as usize * to.1 as usize * 4];
    let mut dst = TypedImage::<U8x4>::from_buffer(to.0, to.1, &mut out)?;
    Resizer::new().resize_typed(&src, &mut dst, options)?;
    Ok(out)
}

/// Multiplies each colour by its alpha in place (RGBA8, `size.0` x `size.1`).
pub fn premultiply(pixels: &mut [u8], size: (u32, u32)) -> Result<(), ResizeError> {
    let mut image = TypedImage::<U8x4>::from_buffer(size.0, size.1, pixels)?;
    MulDiv::default().multiply_alpha_inplace_typed(&mut image)?;
    Ok(())
}
