//! The core: pure and synchronous. Bytes in, bytes and facts out; no file I/O, no async.
//!
//! [`process_source`] is the one call that composes the stages: `decode` makes a [`Frame`]
//! (sRGB, oriented, RGBA8 straight alpha) once per source; `analyse` classifies it, `key`
//! gives a sweep photo its alpha, `analyse` then locates the product; `render`, `encode`
//! and `verify` run once per spec; `measure` holds the rules render and verify share.

pub mod analyse;
pub mod color;
pub mod contact_sheet;
pub mod decode;
pub mod encode;
pub mod fidelity;
pub mod jpeg_info;
pub mod key;
pub mod marks;
pub mod measure;
pub mod render;
pub mod resize;
pub mod source;
pub mod thumbnail;
pub mod verify;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use crate::quality::{Check, CheckName, Operation, Severity, SourceInfo};
pub use analyse::{
    analyse, classify, classify_as, cut_off, locate, Analysis, Classified, CutOff, Rect, SourceKind,
};
pub use decode::{decode, DecodeError, Frame, Limits};
pub use encode::{encode, EncodeError};
pub use key::key_sweep;
pub use render::{render, Placement, Rendered};
pub use source::{process_source, Output, SourceResult};
pub use thumbnail::{thumbnail, ThumbnailError};
pub use verify::verify;
