//! Where a batch's time goes: each stage of the per-source call timed on one thread, summed
//! over a folder of sources, for the given specs.
//! cargo run --release --example stage_times -- <input-dir> <spec>...
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

fn main() -> Result<()> {
    // As the shelfready binary runs (main.rs: keep_freed_memory).
    // SAFETY: stores an option value before any other thread exists (15: purge_delay).
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()?;
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| "target/bench-realistic".into());
    let specs: Vec<Spec> = args.map(|s| Spec::resolve(&s)).collect::<Result<_, _>>()?;
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut t = std::collections::BTreeMap::<String, f64>::new();
    let mut add =
        |k: &str, s: Instant| *t.entry(k.to_string()).or_default() += s.elapsed().as_secs_f64();
    for f in files {
        let bytes = std::fs::read(&f)?;
        let s = Instant::now();
        let mut frame = decode(&bytes, &Limits::default())?;
        add("1 decode", s);
        let s = Instant::now();
        let c = classify_as(&frame, None);
        if let Some(k) = c.sweep_key() {
            key_sweep(&mut frame, k);
        }
        let a = locate(&frame, c);
        add("2 analyse", s);
        let s = Instant::now();
        let cut = cut_out(frame, &a)?;
        add("3 cut_out", s);
        for spec in &specs {
            let s = Instant::now();
            let r = render(&cut, spec)?;
            add(&format!("4 render {}", spec.id), s);
            let s = Instant::now();
            let facts = render_facts(&r, cut.kind);
            add(&format!("5 sharpness {}", spec.id), s);
            let s = Instant::now();
            let b = encode(&r, spec)?;
            add(&format!("6 encode {}", spec.id), s);
            let s = Instant::now();
            let _ = verify(&b, spec, &facts);
            add(&format!("7 verify {}", spec.id), s);
        }
    }
    let total: f64 = t.values().sum();
    for (k, v) in &t {
        println!("{k:28} {v:7.3} s {:5.1}%", 100.0 * v / total);
    }
    println!("{:28} {total:7.3} s", "total");
    Ok(())
}
