//! Below the doors: what a batch takes in, read the same way whichever door it came
//! through. Walking folders (`walk`), supplier catalogs (`catalog`, and a drop's catalog
//! file with the images its rows name by URL, fetched), and outbound HTTP with the address
//! policy (`fetch`, `net`). `process`, `serve`, `watch` and `export` all use it.

pub mod archive;
pub mod catalog;
pub mod fetch;
pub mod net;
pub mod walk;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use catalog::{products as product_list, Catalog, CatalogError, SYNONYMS};
pub use fetch::{is_private, is_url, FetchError, FetchLimits};
pub use walk::{collect_inputs, Input, Walk, IMAGE_EXTENSIONS};

use crate::error::ErrorCode;
use crate::handoff::{CatalogReport, FetchFailure, FetchedImage};

/// What stops an intake before any source is taken.
#[derive(Debug, Error)]
pub enum IntakeError {
    #[error("{0}: no such file or folder")]
    Missing(PathBuf),
}

impl IntakeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            IntakeError::Missing(_) => ErrorCode::NotFound,
        }
    }
}

/// The catalog files a drop may carry, the first found is read.
pub const CATALOGS: [&str; 3] = ["catalog.csv", "catalog.xlsx", "catalog.json"];

/// A file a tool is still writing (a download's `.part`, an office lock file): left where
/// it is until it becomes the file it will be.
pub fn still_written(path: &Path) -> bool {
    let name = name_of(path);
    is_temporary(&name) && !name.starts_with('.')
}

/// A photo's path under the folder its catalog is in, as the catalog's rows name it:
/// `/`-separated, whatever the platform.
pub fn catalog_path(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Whether a file is a drop's catalog (at the top of the drop).
pub fn is_catalog(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| CATALOGS.iter().any(|c| n.eq_ignore_ascii_case(c)))
}

/// A drop's catalog, if it has one, and its report (with why it could not be used).
pub fn read_catalog(drop: &Path) -> (Option<Catalog>, Option<CatalogReport>) {
    // Any case, as `is_catalog` tells (`Catalog.CSV` from a Windows share), in the order
    // of CATALOGS; links are refused when read.
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(drop)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| is_catalog(Path::new(n)))
        .collect();
    names.sort_by_key(|n| {
        let n = n.to_string_lossy().to_ascii_lowercase();
        (CATALOGS.iter().position(|c| *c == n), n)
    });
    let Some(path) = names.first().map(|n| drop.join(n)) else {
        return (None, None);
    };
    let path = path.as_path();
    let bytes = read_no_follow(path, catalog::MAX_FILE_BYTES).map_err(|e| e.to_string());
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(
                "{}: {e}; the photos' names are used instead",
                path.display()
            );
            let report = CatalogReport {
                file: path.display().to_string(),
                error: Some(format!("{e}; the photos' names were used instead")),
                ..Default::default()
            };
            return (None, Some(report));
        }
    };
    let mut report = CatalogReport {
        file: path.display().to_string(),
        ..Default::default()
    };
    match Catalog::parse(&bytes) {
        // Its mapping and gaps are reported once the drop is walked.
        Ok(c) => (Some(c), Some(report)),
        Err(e) => {
            tracing::warn!(
                "{}: {e}; the photos' names are used instead",
                path.display()
            );
            report.error = Some(format!("{e}; the photos' names were used instead"));
            (None, Some(report))
        }
    }
}

/// Fetches the images a catalog's rows name by URL into the drop folder, each under a name
/// of its own that the row then names; what fails is reported and logged.
pub fn fetch_rows(
    catalog: &mut Catalog,
    report: &mut CatalogReport,
    drop: &Path,
    limits: &FetchLimits,
    label: &str,
    on_file: &dyn Fn(&str),
) {
    let urls: Vec<String> = catalog
        .names()
        .iter()
        .filter(|n| fetch::is_url(n))
        .cloned()
        .collect();
    for (n, url) in urls.iter().enumerate() {
        let got = fetch::fetch(url, limits).and_then(|bytes| {
            if image::guess_format(&bytes).is_err() {
                return Err(FetchError::Failed(format!(
                    "what came back ({} bytes) is not an image",
                    bytes.len()
                )));
            }
            let name = fetch::file_name(url, &bytes, n + 1);
            let dest = free_file(drop, &name);
            crate::store::write_atomic(&dest, &bytes)
                .map_err(|e| FetchError::Failed(e.to_string()))?;
            Ok((name_of(&dest), bytes.len() as u64))
        });
        match got {
            Ok((file, bytes)) => {
                on_file(&format!("{label}: fetched {url} as {file} ({bytes} bytes)"));
                catalog.alias(url, &file);
                report.fetched.push(FetchedImage {
                    url: url.clone(),
                    file,
                    bytes,
                });
            }
            Err(e) => {
                on_file(&format!("{label}: could not fetch {url}: {e}"));
                report.fetch_failed.push(FetchFailure {
                    url: url.clone(),
                    reason: e.to_string(),
                });
            }
        }
    }
}

/// Reads a supplier's file: a regular file only (a symbolic link is refused, never
/// followed; a FIFO or a device is refused without blocking), at most `limit + 1` bytes, so
/// a file growing under the read cannot exhaust memory and the caller sees it is over.
pub fn read_no_follow(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let refused = |why: &str| std::io::Error::other(why.to_string());
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(refused("it is a symbolic link, and links are not followed"));
    }
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        // The check above names the case; this closes the gap between it and the open.
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = open.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(refused("it is not a regular file"));
    }
    let mut buf = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A file under `dir` named `name`, or `stem-2.ext`, ... if that exists.
pub fn free_file(dir: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    let stem = p
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let ext = p
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    let mut path = dir.join(name);
    let mut n = 2;
    // A link counts as a name taken, even one that points nowhere.
    while std::fs::symlink_metadata(&path).is_ok() {
        path = dir.join(format!("{stem}-{n}{ext}"));
        n += 1;
    }
    path
}

/// A path's last part, as text.
pub fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Names of files still being written by browsers, copy tools and office programs.
pub fn is_temporary(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with("~$")
        || [".part", ".crdownload", ".tmp", ".partial", ".download", "~"]
            .iter()
            .any(|s| lower.ends_with(s))
}
