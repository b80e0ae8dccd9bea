//! Walking the inputs: which files a batch takes, the stable key each is known by, and
//! every file left out with its reason (a supplier's .psd never disappears without a word).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::IntakeError;
use crate::handoff::{context_from_path, position_only, Context, SkipReason, Skipped};
use crate::naming;

/// Extensions taken when a folder is walked (content is still sniffed, not trusted).
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "jpe", "webp", "tif", "tiff", "gif", "bmp",
];
/// Image types people send that shelfready does not read: reported by name.
const OTHER_IMAGE_EXTENSIONS: &[&str] = &[
    "psd", "psb", "heic", "heif", "avif", "jxl", "jp2", "svg", "pdf", "ai", "eps", "raw", "dng",
    "cr2", "cr3", "nef", "arw", "orf", "rw2", "raf", "ico", "tga", "exr", "hdr",
];

/// One source a batch takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub path: PathBuf,
    /// Stable key: the input folder's own name and the path under it (`photos/red/mug.png`),
    /// or, for a file named directly, its folder's name and its file name. The same file
    /// has the same key whichever folder it is run from and whatever else is in the run.
    pub key: String,
    /// The output name asked for (see [`crate::naming`]); the store may give another if a
    /// different source owns it.
    pub wanted_name: String,
    /// Listing context from the file's name and folders (see [`context_from_path`]).
    pub context: Context,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    pub inputs: Vec<Input>,
    pub skipped: Vec<Skipped>,
}

fn ext_of(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn skip(path: &Path, reason: SkipReason) -> Skipped {
    let message = match reason {
        SkipReason::UnsupportedImageType => format!(
            "a .{} file: an image type shelfready does not read; export it as PNG, JPEG, WebP or TIFF",
            ext_of(path)
        ),
        SkipReason::NotAnImageType => "not an image by its name".into(),
        SkipReason::Hidden => "hidden (its name starts with a dot)".into(),
        SkipReason::Symlink => "a symbolic link: links are not followed".into(),
        SkipReason::NotAFile => "not a regular file (a device, pipe or socket)".into(),
        SkipReason::OutputFolder => "a shelfready output folder (outputs are never read back as sources)".into(),
        SkipReason::Unreadable => "the folder could not be read".into(),
        SkipReason::AlreadyProcessed => "the same file was made for the same specs in an earlier batch".into(),
        SkipReason::SameKey => "another file in this run has the same key (the same folder name and path under it); run the two folders separately or rename one".into(),
    };
    Skipped {
        path: path.display().to_string(),
        reason,
        message,
    }
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Lists the sources under the given files and folders, in a stable order. Nothing under
/// `out` is read, unless `out` is itself one of the inputs: then only `written` (the places
/// the store writes) are left out. Files named directly are taken whatever their extension;
/// folders are walked recursively, never following links.
pub fn collect_inputs(
    paths: &[PathBuf],
    out: &Path,
    written: &[PathBuf],
) -> Result<Walk, IntakeError> {
    let out = out.canonicalize().ok();
    let roots: Vec<PathBuf> = paths.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let mut excluded: Vec<PathBuf> = written
        .iter()
        .filter_map(|w| w.canonicalize().ok())
        .collect();
    if let Some(out) = out.filter(|o| !roots.contains(o)) {
        excluded.push(out);
    }
    let inside_out = |canonical: &Path| excluded.iter().any(|w| canonical.starts_with(w));
    let mut walk = Walk::default();
    let mut seen_files = HashSet::new();
    let mut keys = HashSet::new();
    // `folders` are those under the input root; `home` is the folder the file is in
    // (named when a file name that is a position alone needs a product).
    let mut take = |walk: &mut Walk,
                    path: PathBuf,
                    canonical: PathBuf,
                    key: String,
                    folders: &[String],
                    home: &str| {
        if !seen_files.insert(canonical) {
            return; // the same file reached twice
        }
        if !keys.insert(key.clone()) {
            walk.skipped.push(skip(&path, SkipReason::SameKey));
            return;
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        walk.inputs.push(Input {
            wanted_name: naming::wanted(folders, &stem),
            context: if folders.is_empty() && position_only(&stem) && !home.is_empty() {
                context_from_path(&[home.to_string()], &stem)
            } else {
                context_from_path(folders, &stem)
            },
            path,
            key,
        });
    };
    for root in paths {
        let meta = std::fs::metadata(root).map_err(|_| IntakeError::Missing(root.clone()))?;
        let canonical = root
            .canonicalize()
            .map_err(|_| IntakeError::Missing(root.clone()))?;
        if meta.is_file() {
            if inside_out(&canonical) {
                walk.skipped.push(skip(root, SkipReason::OutputFolder));
                continue;
            }
            let folder = canonical.parent().map(name_of).unwrap_or_default();
            let key = format!("{folder}/{}", name_of(&canonical));
            let key = key.trim_start_matches('/').to_string();
            let home = canonical.parent().map(name_of).unwrap_or_default();
            take(&mut walk, root.clone(), canonical, key, &[], &home);
            continue;
        }
        if !meta.is_dir() {
            walk.skipped.push(skip(root, SkipReason::NotAFile));
            continue;
        }
        let root_name = name_of(&canonical);
        let mut it = WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = it.next() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let p = e.path().unwrap_or(root).to_path_buf();
                    walk.skipped.push(skip(&p, SkipReason::Unreadable));
                    continue;
                }
            };
            if entry.depth() == 0 {
                continue;
            }
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap_or(path);
            // Links are never followed, so the entry's real path is the root's plus `rel`.
            let real = canonical.join(rel);
            let kind = entry.file_type();
            let reason = if name_of(path).starts_with('.') {
                Some(SkipReason::Hidden)
            } else if kind.is_symlink() {
                Some(SkipReason::Symlink)
            } else if inside_out(&real) || (kind.is_dir() && path.join(".shelfready").is_dir()) {
                // Ours, or another shelfready output folder (it carries a store).
                Some(SkipReason::OutputFolder)
            } else if kind.is_dir() {
                None
            } else if !kind.is_file() {
                Some(SkipReason::NotAFile)
            } else if IMAGE_EXTENSIONS.contains(&ext_of(path).as_str()) {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect();
                let key = format!("{root_name}/{}", rel.join("/"));
                let folders = &rel[..rel.len().saturating_sub(1)];
                take(
                    &mut walk,
                    path.to_path_buf(),
                    real,
                    key,
                    folders,
                    &root_name,
                );
                None
            } else if OTHER_IMAGE_EXTENSIONS.contains(&ext_of(path).as_str()) {
                Some(SkipReason::UnsupportedImageType)
            } else {
                Some(SkipReason::NotAnImageType)
            };
            if let Some(reason) = reason {
                walk.skipped.push(skip(path, reason));
                if kind.is_dir() {
                    it.skip_current_dir();
                }
            }
        }
    }
    Ok(walk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("supplier");
        std::fs::create_dir_all(root.join("red")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        for f in [
            "red/mug.png",
            "a.PSD",
            "notes.txt",
            ".DS_Store",
            ".git/x.png",
        ] {
            std::fs::write(root.join(f), b"x").unwrap();
        }
        let w = collect_inputs(std::slice::from_ref(&root), &dir.path().join("out"), &[]).unwrap();
        let keys: Vec<&str> = w.inputs.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["supplier/red/mug.png"]);
        let reasons: Vec<(String, SkipReason)> = w
            .skipped
            .iter()
            .map(|s| (name_of(Path::new(&s.path)), s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                (".DS_Store".to_string(), SkipReason::Hidden),
                (".git".to_string(), SkipReason::Hidden),
                ("a.PSD".to_string(), SkipReason::UnsupportedImageType),
                ("notes.txt".to_string(), SkipReason::NotAnImageType),
            ]
        );
        // A file named directly is known by its folder's name and its own.
        let w = collect_inputs(&[root.join("red/mug.png")], &dir.path().join("out"), &[]).unwrap();
        assert_eq!(w.inputs[0].key, "red/mug.png");
    }
}
