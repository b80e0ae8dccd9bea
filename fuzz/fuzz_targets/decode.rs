#![no_main]
//! Untrusted source bytes through `decode`, and when they decode, the rest of the
//! per-source chain up to the cut-out (`analyse`: classify, key, locate; `cut_out`), as
//! `pipeline::process_source` runs it before the per-spec work.

use libfuzzer_sys::fuzz_target;
use shelfready::pipeline::render::cut_out;
use shelfready::pipeline::{analyse, decode, Limits};

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; the checks before allocation are the same.
    let limits = Limits::default().with_max_pixels(4_000_000);
    if let Ok(mut frame) = decode(data, &limits) {
        // The chain after decode is pure pixel work; keep it to small frames so the
        // fuzzer spends its time on the parsers.
        if u64::from(frame.width) * u64::from(frame.height) <= 256 * 256 {
            let analysis = analyse(&mut frame);
            let _ = cut_out(frame, &analysis);
        }
    }
});
