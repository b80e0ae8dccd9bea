//! The batch runner: files in parallel (one per worker), each decoded once for all its specs,
//! outputs written atomically, a handoff manifest per output and one for the batch.
//!
//! Output layout under the output folder:
//! - `<spec>/<name>.<ext>`: the images, one folder per spec, ready to upload as a set;
//! - `manifests/<name>.<spec>.json`: one handoff per output;
//! - `manifest.json`: the batch manifest (every handoff plus totals).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::handoff::{
    context_from_name, now, Asset, BatchManifest, Failure, Goal, Handoff, NextActor, Provenance,
    State, Summary, Transition, SCHEMA_VERSION, TOOL_VERSION,
};
use crate::pipeline::render::{cut_out, render, Cutout};
use crate::pipeline::verify::RenderFacts;
use crate::pipeline::{analyse, decode, encode, verify, Limits, Operation};
use crate::spec::{hex, Background, Spec};

/// Extensions picked up when a folder is given (content is still sniffed, not trusted).
const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "jpe", "webp", "tif", "tiff", "gif", "bmp",
];
/// Lowest JPEG/WebP quality tried when shrinking a file to the spec's byte limit.
const MIN_QUALITY: u8 = 60;

#[derive(Debug, Error)]
pub enum BatchError {
    #[error("{0}: no such file or folder")]
    Missing(PathBuf),
    #[error("cannot read folder {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One source file and the name its outputs get.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub path: PathBuf,
    /// Safe, unique output name (no folders, no dots at the start).
    pub name: String,
}

/// What a batch run is asked to do.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub out_dir: PathBuf,
    pub specs: Vec<Spec>,
    pub limits: Limits,
    /// Re-make outputs even when source and spec are unchanged.
    pub force: bool,
}

/// Lists the sources under the given files and folders, in a stable order.
/// Folders are walked recursively, skipping hidden entries, symlinked folders and the
/// places this run writes (`<out>/<spec>/`, `<out>/manifests/`, `<out>/manifest.json`), so
/// a run never reads, let alone overwrites, its own outputs. Files named directly are taken
/// whatever their extension. Only regular files are taken.
pub fn collect_inputs(
    paths: &[PathBuf],
    out_dir: &Path,
    specs: &[Spec],
) -> Result<Vec<Input>, BatchError> {
    let out_abs = out_dir.canonicalize().ok();
    let written: Vec<PathBuf> = out_abs
        .iter()
        .flat_map(|o| {
            specs
                .iter()
                .map(|s| o.join(&s.id))
                .chain([o.join("manifests"), o.join("manifest.json")])
        })
        .collect();
    let inside_out = |p: &Path| {
        p.canonicalize()
            .is_ok_and(|c| written.iter().any(|w| c.starts_with(w)))
    };
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &inside_out, &mut files)?;
        } else if p.is_file() {
            if !inside_out(p) {
                files.push(p.clone());
            }
        } else {
            return Err(BatchError::Missing(p.clone()));
        }
    }
    let mut seen = HashSet::new();
    Ok(files
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let base = safe_name(&stem);
            let mut name = base.clone();
            if seen.contains(&name) {
                let ext = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase());
                name = safe_name(&format!("{base}-{}", ext.unwrap_or_default()));
            }
            let mut n = 2;
            while seen.contains(&name) {
                name = format!("{base}-{n}");
                n += 1;
            }
            seen.insert(name.clone());
            Input { path, name }
        })
        .collect())
}

fn walk(
    dir: &Path,
    skip: &dyn Fn(&Path) -> bool,
    out: &mut Vec<PathBuf>,
) -> Result<(), BatchError> {
    if skip(dir) {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|source| BatchError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = rd
        .filter_map(|e| e.ok().and_then(|e| Some((e.path(), e.file_type().ok()?))))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (p, kind) in entries {
        let hidden = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        // file_type() does not follow symlinks: a linked folder could loop or escape.
        if hidden || kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            walk(&p, skip, out)?;
        } else if kind.is_file()
            && p.extension().is_some_and(|e| {
                IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
            })
        {
            out.push(p);
        }
    }
    Ok(())
}

/// A name that is safe as a file name on every system: no separators, no `..`.
pub fn safe_name(stem: &str) -> String {
    let s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "image".into()
    } else {
        s
    }
}

/// Writes a file so that readers see the old content or the new, never half: a temp file
/// in the same folder, fsync, then rename over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BatchError> {
    let err = |source| BatchError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".shelfready-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    // tempfile creates 0600; outputs are meant to be shared, served and uploaded.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(err)?;
    }
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    // The rename is durable once the folder entry is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Relative path of an output image.
pub fn image_path(name: &str, spec: &Spec) -> String {
    format!("{}/{}.{}", spec.id, name, spec.format.extension())
}

/// Path of an output's handoff manifest.
pub fn manifest_path(out_dir: &Path, name: &str, spec: &Spec) -> PathBuf {
    out_dir
        .join("manifests")
        .join(format!("{name}.{}.json", spec.id))
}

/// Runs the batch. `on_file` is called as each source finishes (from worker threads).
pub fn run(
    inputs: &[Input],
    opts: &BatchOptions,
    on_file: &(dyn Fn(&Input, &[Handoff]) + Sync),
) -> Result<BatchManifest, BatchError> {
    let per_file = in_file_workers(inputs, |input| {
        // A bug must cost one file, not the batch: a panic becomes a failed handoff.
        let mut hs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                process_file(input, opts)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(file = %input.path.display(), "internal error: {what}");
                let specs: Vec<&Spec> = opts.specs.iter().collect();
                let hs = specs.iter().map(|s| new_handoff(input, s, "", 0)).collect();
                fail_all(
                    hs,
                    &specs,
                    "internal-error",
                    format!("shelfready hit an internal error on this file ({what}); please report it with the file"),
                )
            });
        write_manifests(input, &mut hs, opts);
        on_file(input, &hs);
        hs
    });
    let handoffs: Vec<Handoff> = per_file.into_iter().flatten().collect();
    let up_to_date = handoffs.iter().filter(|h| is_up_to_date(h)).count();
    let count = |s: State| handoffs.iter().filter(|h| h.state == s).count();
    let summary = Summary {
        sources: inputs.len(),
        outputs: handoffs.len(),
        ready: count(State::Ready) + count(State::Approved) + count(State::Exported),
        needs_review: count(State::NeedsReview),
        failed: count(State::Failed) + count(State::Rejected),
        up_to_date,
    };
    let exit_code = if summary.failed > 0 {
        1
    } else if summary.needs_review > 0 {
        2
    } else {
        0
    };
    let manifest = BatchManifest {
        schema_version: SCHEMA_VERSION,
        tool_version: TOOL_VERSION.into(),
        created_at: now(),
        specs: opts.specs.iter().map(Goal::of).collect(),
        summary,
        exit_code,
        handoffs,
    };
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    write_atomic(&opts.out_dir.join("manifest.json"), &json)?;
    Ok(manifest)
}

/// Runs `work` on every input, files in parallel, results in input order.
///
/// With more files than threads, each file runs start to finish on one worker of its own
/// (a one-thread rayon pool, so the stages' parallel loops run inline). Files are not
/// tasks of a shared pool on purpose: a rayon thread waiting inside a file's parallel
/// stages steals queued work, and a stolen *file* is another decoded photo in memory. So
/// at most one file per worker is in flight and peak memory does not grow with the batch.
/// With fewer files than threads, each file's stages and specs share the whole pool.
fn in_file_workers<T: Send>(inputs: &[Input], work: impl Fn(&Input) -> T + Sync) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = rayon::current_num_threads().max(1);
    if inputs.len() <= workers {
        return inputs.par_iter().map(&work).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(input) = inputs.get(i) else { break };
                        mine.push((
                            i,
                            match &pool {
                                Ok(pool) => pool.install(|| work(input)),
                                Err(_) => work(input),
                            },
                        ));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// Note on the last transition of an output left as it was.
const UP_TO_DATE: &str = "up to date: source and spec unchanged, output kept";

fn new_handoff(input: &Input, spec: &Spec, source_sha256: &str, source_bytes: u64) -> Handoff {
    Handoff {
        schema_version: SCHEMA_VERSION,
        id: format!("{}.{}", input.name, spec.id),
        asset: None,
        goal: Goal::of(spec),
        state: State::Received,
        history: vec![Transition {
            from: None,
            to: State::Received,
            at: now(),
            actor: "shelfready".into(),
            note: None,
        }],
        quality: Vec::new(),
        next_actor: NextActor {
            actor: "shelfready".into(),
            action: "process".into(),
            question: None,
            checks: Vec::new(),
        },
        error: None,
        provenance: Provenance {
            source_path: input.path.display().to_string(),
            source_sha256: source_sha256.into(),
            source_bytes,
            source: None,
            operations: Vec::new(),
            tool_version: TOOL_VERSION.into(),
        },
        context: context_from_name(
            &input
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default(),
        ),
    }
}

/// The previous handoff, if its output is still valid for this source and spec.
fn up_to_date(opts: &BatchOptions, input: &Input, spec: &Spec, sha: &str) -> Option<Handoff> {
    let text = std::fs::read(manifest_path(&opts.out_dir, &input.name, spec)).ok()?;
    let mut h: Handoff = serde_json::from_slice(&text).ok()?;
    let asset = h.asset.as_ref()?;
    // Only trust a path this run would have written itself.
    if asset.path != image_path(&input.name, spec) {
        return None;
    }
    let kept = matches!(
        h.state,
        State::Ready | State::NeedsReview | State::Approved | State::Exported
    );
    let same = h.provenance.source_sha256 == sha
        && h.goal.spec_hash == spec.content_hash()
        && h.provenance.tool_version == TOOL_VERSION;
    if !(kept && same) {
        return None;
    }
    let bytes = std::fs::read(opts.out_dir.join(&asset.path)).ok()?;
    if sha256_hex(&bytes) != asset.sha256 {
        return None;
    }
    let state = h.state;
    h.history.push(Transition {
        from: Some(state),
        to: state,
        at: now(),
        actor: "shelfready".into(),
        note: Some(UP_TO_DATE.into()),
    });
    Some(h)
}

fn fail_all(mut hs: Vec<Handoff>, specs: &[&Spec], code: &str, message: String) -> Vec<Handoff> {
    for (h, spec) in hs.iter_mut().zip(specs) {
        h.fail(spec, code, message.clone());
    }
    hs
}

/// Reads at most `limit + 1` bytes: a device or a file growing under us cannot exhaust memory.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// Processes one source for every spec; never panics on bad input, never stops the batch.
fn process_file(input: &Input, opts: &BatchOptions) -> Vec<Handoff> {
    let span = tracing::info_span!("file", file = %input.path.display());
    let _g = span.enter();
    let specs: Vec<&Spec> = opts.specs.iter().collect();
    let size = std::fs::metadata(&input.path).map(|m| m.len()).unwrap_or(0);
    if size > opts.limits.max_bytes {
        let hs = specs
            .iter()
            .map(|s| new_handoff(input, s, "", size))
            .collect();
        let e = crate::pipeline::DecodeError::FileTooBig {
            bytes: size,
            limit: opts.limits.max_bytes,
        };
        return fail_all(hs, &specs, e.code(), e.to_string());
    }
    let bytes = match read_bounded(&input.path, opts.limits.max_bytes) {
        Ok(b) => b,
        Err(e) => {
            let hs = specs
                .iter()
                .map(|s| new_handoff(input, s, "", size))
                .collect();
            return fail_all(
                hs,
                &specs,
                "source-unreadable",
                format!("the file cannot be read: {e}"),
            );
        }
    };
    let n = bytes.len() as u64;
    if n > opts.limits.max_bytes {
        let hs = specs.iter().map(|s| new_handoff(input, s, "", n)).collect();
        let e = crate::pipeline::DecodeError::FileTooBig {
            bytes: n,
            limit: opts.limits.max_bytes,
        };
        return fail_all(hs, &specs, e.code(), e.to_string());
    }
    let sha = sha256_hex(&bytes);

    let mut done: Vec<Option<Handoff>> = specs
        .iter()
        .map(|s| {
            if opts.force {
                None
            } else {
                up_to_date(opts, input, s, &sha)
            }
        })
        .collect();
    let todo: Vec<&Spec> = specs
        .iter()
        .zip(&done)
        .filter(|(_, d)| d.is_none())
        .map(|(s, _)| *s)
        .collect();
    if todo.is_empty() {
        return done.into_iter().flatten().collect();
    }

    let mut fresh: Vec<Handoff> = todo
        .iter()
        .map(|s| new_handoff(input, s, &sha, n))
        .collect();
    let mut frame = match decode(&bytes, &opts.limits) {
        Ok(f) => f,
        Err(e) => {
            tracing::info!(code = e.code(), "decode failed: {e}");
            fresh = fail_all(fresh, &todo, e.code(), e.to_string());
            return merge(done, fresh);
        }
    };
    drop(bytes);
    let analysis = analyse(&mut frame);
    let source_info = frame.source.clone();
    let source_ops = frame.operations.clone();
    let cut = cut_out(frame, &analysis);
    let cut = match cut {
        Ok(c) => c,
        Err(e) => {
            for h in &mut fresh {
                h.provenance.source = Some(source_info.clone());
            }
            fresh = fail_all(fresh, &todo, e.code(), e.to_string());
            return merge(done, fresh);
        }
    };
    fresh
        .par_iter_mut()
        .zip(todo.par_iter())
        .for_each(|(h, spec)| {
            h.provenance.source = Some(source_info.clone());
            h.provenance.operations = source_ops.clone();
            make_output(h, &cut, spec, input, opts);
        });
    // Restore spec order: fresh handoffs fill the gaps left by up-to-date ones.
    for d in done.iter_mut() {
        if d.is_none() && !fresh.is_empty() {
            *d = Some(fresh.remove(0));
        }
    }
    done.into_iter().flatten().collect()
}

fn merge(done: Vec<Option<Handoff>>, mut fresh: Vec<Handoff>) -> Vec<Handoff> {
    done.into_iter()
        .map(|d| d.unwrap_or_else(|| fresh.remove(0)))
        .collect()
}

/// Render, encode, verify and write one spec's output, settling its handoff.
fn make_output(h: &mut Handoff, cut: &Cutout, spec: &Spec, input: &Input, opts: &BatchOptions) {
    let _ = h.transition(State::Processing, "shelfready", None);
    let rendered = match render(cut, spec) {
        Ok(r) => r,
        Err(e) => return h.fail(spec, e.code(), e.to_string()),
    };
    h.provenance
        .operations
        .extend(cut.operations.iter().cloned());
    h.provenance
        .operations
        .extend(rendered.operations.iter().cloned());
    let (bytes, quality_used) = match encode_within_limit(&rendered, spec) {
        Ok(b) => b,
        Err(e) => return h.fail(spec, e.code(), e.to_string()),
    };
    h.provenance.operations.push(Operation::new(
        "encode",
        serde_json::json!({ "format": spec.format, "quality": quality_used,
            "icc": if spec.embed_icc { "sRGB embedded" } else { "none" }, "metadata": "stripped" }),
    ));
    let facts = RenderFacts::of(&rendered, cut.kind);
    h.quality = verify(&bytes, spec, &facts);
    let rel = image_path(&input.name, spec);
    let path = opts.out_dir.join(&rel);
    let hard_fail = h
        .quality
        .iter()
        .any(|c| !c.passed && c.severity == crate::pipeline::Severity::Fail);
    if hard_fail {
        // Not written; write_manifests removes any earlier output of this name.
    } else if path.exists() && !written_by_us(opts, input, spec, &path) {
        return h.fail(
            spec,
            "output-exists",
            format!(
                "{} already exists and was not written by shelfready (no manifest of ours matches it); it was left alone. Move it away or choose another output folder",
                path.display()
            ),
        );
    } else if let Err(e) = write_atomic(&path, &bytes) {
        h.error = Some(Failure {
            code: "output-write-failed".into(),
            message: e.to_string(),
        });
    } else {
        h.asset = Some(Asset {
            path: rel,
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
            width: rendered.width,
            height: rendered.height,
            format: format!("{:?}", spec.format).to_ascii_lowercase(),
            color_space: if spec.embed_icc {
                "srgb (icc embedded)".into()
            } else {
                "srgb".into()
            },
            has_alpha: spec.background == Background::Transparent,
        });
    }
    h.settle(spec);
    tracing::info!(spec = %spec.id, state = h.state.as_str(), "output done");
}

fn is_up_to_date(h: &Handoff) -> bool {
    h.history
        .last()
        .is_some_and(|t| t.note.as_deref() == Some(UP_TO_DATE))
}

/// Writes the manifest of every output made in this run (kept ones are left as they are).
fn write_manifests(input: &Input, hs: &mut [Handoff], opts: &BatchOptions) {
    for (h, spec) in hs.iter_mut().zip(&opts.specs) {
        if is_up_to_date(h) {
            continue;
        }
        let not_ours = h.error.as_ref().is_some_and(|e| e.code == "output-exists");
        if h.state == State::Failed && !not_ours {
            // Never leave an earlier output where a good one is expected.
            let _ = std::fs::remove_file(opts.out_dir.join(image_path(&input.name, spec)));
        }
        let json = serde_json::to_vec_pretty(h).unwrap_or_default();
        if let Err(e) = write_atomic(&manifest_path(&opts.out_dir, &input.name, spec), &json) {
            tracing::error!("{e}");
            h.asset = None;
            let _ = std::fs::remove_file(opts.out_dir.join(image_path(&input.name, spec)));
            h.fail(spec, "manifest-write-failed", e.to_string());
        }
    }
}

/// True when the file at `path` is the output our manifest for it records, so replacing
/// it loses nothing a person put there.
fn written_by_us(opts: &BatchOptions, input: &Input, spec: &Spec, path: &Path) -> bool {
    let Ok(text) = std::fs::read(manifest_path(&opts.out_dir, &input.name, spec)) else {
        return false;
    };
    let Ok(h) = serde_json::from_slice::<Handoff>(&text) else {
        return false;
    };
    let Some(asset) = h.asset else {
        return false;
    };
    std::fs::read(path).is_ok_and(|b| sha256_hex(&b) == asset.sha256)
}

/// Encodes at the spec's quality, stepping down by 5 (to 60) if the file is over the
/// spec's byte limit. Returns the bytes and the quality used.
fn encode_within_limit(
    img: &crate::pipeline::Rendered,
    spec: &Spec,
) -> Result<(Vec<u8>, u8), crate::pipeline::EncodeError> {
    let mut s = spec.clone();
    loop {
        let bytes = encode(img, &s)?;
        let over = spec.max_bytes.is_some_and(|m| bytes.len() as u64 > m);
        let lossy = s.format != crate::spec::Format::Png;
        if !over || !lossy || s.quality < MIN_QUALITY + 5 {
            return Ok((bytes, s.quality));
        }
        s.quality -= 5;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe() {
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name("..."), "image");
        assert_eq!(safe_name("Mug 01 (red)"), "Mug_01__red_");
    }
}
