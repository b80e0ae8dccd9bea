//! Fingerprints everything that can change output bytes (the pipeline's source, the spec
//! model and built-in specs, the dependency versions and features) into
//! `SHELFREADY_PIPELINE_FINGERPRINT`, so that outputs made by another pipeline are never
//! kept as up to date.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut inputs = Vec::new();
    for dir in ["core/src/pipeline", "core/src/spec", "assets/specs"] {
        println!("cargo:rerun-if-changed={dir}");
        files(&root.join(dir), &mut inputs);
    }
    for file in ["Cargo.lock", "Cargo.toml", "core/Cargo.toml"] {
        println!("cargo:rerun-if-changed={file}");
        inputs.push(root.join(file));
    }
    inputs.sort();
    // Features choose codecs (libjpeg-turbo or the pure-Rust encoder).
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_owned))
        .collect();
    features.sort();
    // FNV-1a, 64 bits: stable across Rust versions, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in &inputs {
        let rel = p
            .strip_prefix(&root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/");
        let body = std::fs::read(p).unwrap_or_default();
        for b in rel.bytes().chain([0]).chain(body) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    println!(
        "cargo:rustc-env=SHELFREADY_PIPELINE_FINGERPRINT={:012x}",
        h >> 16
    );
}
