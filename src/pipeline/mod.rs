//! The core: pure and synchronous. Bytes in, bytes and facts out; no file I/O, no async.
//!
//! `decode` makes a [`Frame`] (sRGB, oriented, RGBA8 straight alpha) once per source;
//! `analyse` finds the product once; `render`, `encode` and `verify` run once per spec.

pub mod analyse;
pub mod color;
pub mod decode;
pub mod encode;
pub mod render;
pub mod verify;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use analyse::{analyse, Analysis, Rect, SourceKind};
pub use decode::{decode, DecodeError, Frame, Limits, SourceInfo};
pub use encode::{encode, EncodeError};
pub use render::{render, Placement, Rendered};
pub use verify::{verify, Check, Severity};

/// One operation applied to an image, recorded in the manifest's provenance.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Operation {
    /// What was done: `orient`, `icc_to_srgb`, `trim`, `resize`, ...
    pub name: String,
    /// Its parameters, as measured or chosen.
    pub params: serde_json::Value,
}

impl Operation {
    pub fn new(name: &str, params: serde_json::Value) -> Operation {
        Operation {
            name: name.to_string(),
            params,
        }
    }
}
