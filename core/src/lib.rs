//! shelfready's core, pure and synchronous: the spec model and the built-in specs
//! (`spec`), the one per-source pipeline (`pipeline`, [`pipeline::process_source`]), the
//! checks it measures (`quality`), output names (`naming`) and the error codes every door
//! reports (`error`). No file I/O beyond the bytes it is handed, no async; the `shelfready`
//! crate re-exports these modules under the same names.

pub mod error;
pub mod naming;
pub mod pipeline;
pub mod quality;
#[doc(hidden)]
pub mod regressions;
pub mod spec;
