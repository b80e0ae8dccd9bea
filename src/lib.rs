//! shelfready: makes product photos marketplace-ready.
//!
//! `pipeline` is the pure core and [`pipeline::process_source`] its one per-source call;
//! `engine` runs sources on the worker threads; `job` takes one source through the
//! pipeline into a `store`; `handoff` is the manifest model; `cli` is the command line's
//! own part (walking folders, the batch loop, the summary).

pub mod cli;
pub mod engine;
pub mod export;
pub mod handoff;
pub mod job;
pub mod naming;
pub mod net;
pub mod pipeline;
pub mod review;
pub mod server;
pub mod spec;
pub mod store;
pub mod watch;
