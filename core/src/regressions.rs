//! The inputs the fuzz targets found crashing, replayed by both crates' unit tests (so
//! compiled with the library, and hidden from its documentation).

/// Runs `f` on every input a fuzz target found crashing (`fuzz/regressions/<target>/`)
/// and fails, naming the file, on the first that panics.
#[doc(hidden)]
pub fn replay(target: &str, f: impl Fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no inputs in {}", dir.display());
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&bytes)));
        assert!(result.is_ok(), "{target} panicked on {}", path.display());
    }
}
