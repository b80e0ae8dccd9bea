//! Per-stage benchmarks on one realistic source: a 3200 px RGBA cut-out (the MUG01
//! fixture, enlarged). `cargo bench --bench stages`. Stages: decode, analyse, cut_out
//! (trim, specks, edge clean-up), resize, render (resize + place + flatten), encode,
//! verify (read back and check), and the whole file for one and for three specs.
//! `analyse_sweep_12mp` and `key_sweep_12mp` run the sweep path on the SUPPLIER03 shot
//! enlarged to 4000x3000 (the cut-out above never reaches the key).
//!
//! The `encode_jpeg` group also measures the pure-Rust `jpeg-encoder` at the same settings,
//! which is why the pipeline encodes JPEG with libjpeg-turbo.

use std::io::Cursor;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use shelfready::pipeline::render::{self, cut_out, render};
use shelfready::pipeline::source::render_facts;
use shelfready::pipeline::{analyse, classify, decode, encode, key_sweep, verify, Frame, Limits};
use shelfready::spec::{builtin, Spec};

fn spec(id: &str) -> Spec {
    builtin(id).and_then(Result::ok).expect("built-in spec")
}

fn source_png() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/MUG01_1.png");
    let img = image::open(path).expect("fixture").to_rgba8();
    let big = image::imageops::resize(&img, 3200, 2526, image::imageops::FilterType::CatmullRom);
    let mut out = Cursor::new(Vec::new());
    big.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// The supplier shot on its sweep, enlarged to 12 MP and decoded (opaque, no alpha).
fn sweep_frame() -> Frame {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/SUPPLIER03-main.jpg"
    );
    let img = image::open(path).expect("fixture").to_rgb8();
    let big = image::imageops::resize(&img, 4000, 3000, image::imageops::FilterType::Triangle);
    let mut out = Cursor::new(Vec::new());
    big.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    decode(&out.into_inner(), &Limits::default()).expect("decode")
}

fn stages(c: &mut Criterion) {
    let bytes = source_png();
    let limits = Limits::default();
    let amazon = spec("amazon-main");
    let frame = decode(&bytes, &limits).expect("decode");
    let mut analysed = frame.clone();
    let analysis = analyse(&mut analysed);
    let cut = cut_out(analysed.clone(), &analysis).expect("cut");
    let rendered = render(&cut, &amazon).expect("render");
    let jpeg = encode(&rendered, &amazon).expect("encode");
    let facts = render_facts(&rendered, cut.kind);

    let mut g = c.benchmark_group("stages");
    g.sample_size(10);
    g.bench_function("decode_png_8mp", |b| {
        b.iter(|| decode(&bytes, &limits).expect("decode"))
    });
    g.bench_function("analyse", |b| {
        b.iter_batched(
            || frame.clone(),
            |mut f| analyse(&mut f),
            BatchSize::LargeInput,
        )
    });
    let sweep = sweep_frame();
    g.bench_function("analyse_sweep_12mp", |b| {
        b.iter_batched(
            || sweep.clone(),
            |mut f| analyse(&mut f),
            BatchSize::LargeInput,
        )
    });
    let classified = classify(&sweep);
    let key = *classified.sweep_key().expect("a sweep");
    g.bench_function("key_sweep_12mp", |b| {
        b.iter_batched(
            || sweep.clone(),
            |mut f| key_sweep(&mut f, &key, None),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("cut_out", |b| {
        b.iter_batched(
            || analysed.clone(),
            |f| cut_out(f, &analysis).expect("cut"),
            BatchSize::LargeInput,
        )
    });
    // The resize inside render on its own: Lanczos3 on premultiplied alpha, cut-out to
    // the size the amazon-main spec places it at.
    let subject = render::subject_box(&cut, amazon.background).expect("subject");
    let placed = render::place(cut.rect.w, cut.rect.h, subject, &amazon);
    g.bench_function("resize_lanczos3_premultiplied", |b| {
        let src = ImageRef::new(cut.rect.w, cut.rect.h, &cut.pixels, PixelType::U8x4).expect("src");
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
            .use_alpha(true);
        b.iter(|| {
            let mut dst = Image::new(placed.image_w, placed.image_h, PixelType::U8x4);
            Resizer::new()
                .resize(&src, &mut dst, &options)
                .expect("resize");
            dst
        })
    });
    g.bench_function("render_amazon", |b| {
        b.iter(|| render(&cut, &amazon).expect("render"))
    });
    let mockup = spec("mockup-input");
    let rendered_mockup = render(&cut, &mockup).expect("render");
    g.bench_function("encode_png_mockup", |b| {
        b.iter(|| encode(&rendered_mockup, &mockup).expect("encode"))
    });
    g.bench_function("verify_amazon", |b| {
        b.iter(|| verify(&jpeg, &amazon, &facts))
    });
    g.bench_function("whole_file_1_spec", |b| {
        b.iter(|| {
            let mut f = decode(&bytes, &limits).expect("decode");
            let a = analyse(&mut f);
            let cut = cut_out(f, &a).expect("cut");
            let r = render(&cut, &amazon).expect("render");
            let out = encode(&r, &amazon).expect("encode");
            verify(&out, &amazon, &render_facts(&r, cut.kind))
        })
    });
    let three = [spec("amazon-main"), spec("shopify"), spec("mockup-input")];
    g.bench_function("whole_file_3_specs", |b| {
        b.iter(|| {
            let mut f = decode(&bytes, &limits).expect("decode");
            let a = analyse(&mut f);
            let cut = cut_out(f, &a).expect("cut");
            for s in &three {
                let r = render(&cut, s).expect("render");
                let out = encode(&r, s).expect("encode");
                verify(&out, s, &render_facts(&r, cut.kind));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("encode_jpeg_2000px_q85_420");
    g.sample_size(10);
    let mut q85 = amazon.clone();
    q85.quality = 85;
    q85.chroma_subsampling = shelfready::spec::Subsampling::S420;
    q85.embed_icc = false;
    g.bench_function(BenchmarkId::new("libjpeg-turbo", "optimized"), |b| {
        b.iter(|| encode(&rendered, &q85).expect("encode"))
    });
    g.bench_function(BenchmarkId::new("jpeg-encoder", "optimized"), |b| {
        b.iter(|| {
            let mut out = Vec::new();
            let mut e = jpeg_encoder::Encoder::new(&mut out, 85);
            e.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
            e.set_optimized_huffman_tables(true);
            e.encode(&rendered.pixels, 2000, 2000, jpeg_encoder::ColorType::Rgb)
                .expect("encode");
            out
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
