#![no_main]
//! Supplier catalogs (CSV in any dialect, XLSX by its zip signature, JSON by its opening
//! bracket) as the upload, the watcher and `export --products` read them.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shelfready::intake::Catalog::parse(data);
    let _ = shelfready::intake::product_list(data);
});
