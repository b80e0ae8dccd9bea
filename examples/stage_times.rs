//! Where a batch's time goes: each stage of the per-source call timed on one thread, summed
//! over a folder of sources, for the given specs. Each stage runs `STAGE_RUNS` times per
//! source (default 3) and its fastest run counts, so a noisy neighbour blurs less.
//! STAGE_RUNS=5 cargo run --release --example stage_times -- <input-dir> <spec>...
use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use shelfready::pipeline::render::cut_out;
use shelfready::pipeline::source::render_facts;
use shelfready::pipeline::{
    classify_as, decode, encode, key_sweep, locate, render, verify, Limits,
};
use shelfready::spec::Spec;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs `f` `runs` times; returns its last result and the fastest run in seconds.
fn fastest<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    timed_fastest(runs, || {
        let s = Instant::now();
        let r = f();
        (r, s.elapsed().as_secs_f64())
    })
}

/// As [`fastest`], for a step that times itself (to leave out its set-up).
fn timed_fastest<T>(runs: usize, mut f: impl FnMut() -> (T, f64)) -> (T, f64) {
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..runs.max(1) {
        let (r, took) = f();
        best = best.min(took);
        out = Some(r);
    }
    (out.expect("ran at least once"), best)
}

fn main() -> Result<()> {
    // As the shelfready binary runs (main.rs: keep_freed_memory).
    // SAFETY: stores an option value before any other thread exists (15: purge_delay).
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()?;
    let runs: usize = std::env::var("STAGE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| "target/bench-realistic".into());
    let specs: Vec<Spec> = args.map(|s| Spec::resolve(&s)).collect::<Result<_, _>>()?;
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut t = BTreeMap::<String, f64>::new();
    let mut add = |k: String, s: f64| *t.entry(k).or_default() += s;
    for f in files {
        let bytes = std::fs::read(&f)?;
        let (frame, s) = fastest(runs, || decode(&bytes, &Limits::default()));
        add("1 decode".into(), s);
        let mut frame = frame?;
        let (c, s) = fastest(runs, || classify_as(&frame, None));
        add("2 classify".into(), s);
        if let Some(k) = c.sweep_key() {
            key_sweep(&mut frame, k, None);
        }
        let c = std::cell::RefCell::new(Some(c));
        let (a, s) = timed_fastest(runs, || {
            let c = c
                .borrow_mut()
                .take()
                .unwrap_or_else(|| classify_as(&frame, None));
            let s = Instant::now();
            let a = locate(&frame, c);
            (a, s.elapsed().as_secs_f64())
        });
        add("3 locate".into(), s);
        let (cut, s) = timed_fastest(runs, || {
            let f = frame.clone();
            let s = Instant::now();
            let c = cut_out(f, &a);
            (c, s.elapsed().as_secs_f64())
        });
        add("4 cut_out".into(), s);
        let cut = cut?;
        for spec in &specs {
            let (r, s) = fastest(runs, || render(&cut, spec));
            add(format!("5 render {}", spec.id), s);
            let r = r?;
            let (facts, s) = fastest(runs, || render_facts(&r, cut.kind));
            add(format!("6 sharpness {}", spec.id), s);
            let (b, s) = fastest(runs, || encode(&r, spec));
            add(format!("7 encode {}", spec.id), s);
            let b = b?;
            let (_, s) = fastest(runs, || verify(&b, spec, &facts));
            add(format!("8 verify {}", spec.id), s);
            // The part of verify that is decoding the JPEG back (the rest is the checks).
            // (Verify reads JPEGs with libjpeg-turbo only in the default build.)
            #[cfg(feature = "libjpeg-turbo")]
            if spec.format == shelfready::spec::Format::Jpeg {
                let (_, s) = fastest(runs, || {
                    turbojpeg::decompress(&b, turbojpeg::PixelFormat::RGB)
                });
                add(format!("8 verify {}: of it, decode", spec.id), s);
            }
        }
    }
    let total: f64 = t
        .iter()
        .filter(|(k, _)| !k.contains("of it"))
        .map(|(_, v)| v)
        .sum();
    for (k, v) in &t {
        println!("{k:28} {v:7.3} s {:5.1}%", 100.0 * v / total);
    }
    println!("{:28} {total:7.3} s", "total");
    Ok(())
}
