//! shelfready: makes product photos marketplace-ready.
//!
//! `pipeline` is the pure core; `batch` runs it over files; `handoff` is the manifest model.

pub mod batch;
pub mod handoff;
pub mod pipeline;
pub mod spec;
