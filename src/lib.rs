//! shelfready: makes product photos marketplace-ready.
//!
//! `pipeline` is the pure core and [`pipeline::process_source`] its one per-source call
//! (with `spec`, `quality`, `naming` and `error`, it is the crate `shelfready-core`, core/);
//! `engine` runs sources on the worker threads; `job` takes one source through the
//! pipeline into a `store`; `handoff` is the manifest model; `cli` is the command line's
//! own part (walking folders, the batch loop, the summary).

pub use shelfready_core::{error, naming, pipeline, quality, spec};

pub mod cli;
pub mod engine;
pub mod export;
pub mod handoff;
pub mod identifier;
pub mod intake;
pub mod job;
pub mod logging;
/// Review decisions and retries (in `job`, which runs them through the store).
pub use job::review;
pub mod server;
pub mod store;
pub mod watch;

/// Every published JSON Schema, by the file name it has in assets/schema/.
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("handoff.schema.json", handoff::handoff_schema()),
        ("manifest.schema.json", handoff::batch_schema()),
        ("export.schema.json", export::report_schema()),
        ("export-products.schema.json", export::products_schema()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schemas_match_the_types() {
        for (name, schema) in super::schemas() {
            let path = format!("{}/assets/schema/{name}", env!("CARGO_MANIFEST_DIR"));
            let on_disk: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            assert_eq!(
                on_disk, schema,
                "{name}: run `shelfready schema --write assets/schema` and commit assets/schema/"
            );
        }
    }
}
