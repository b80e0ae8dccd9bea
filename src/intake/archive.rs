//! A zip of photos, as a seller uploads a folder: unpacked within the same limits as files
//! sent one by one. Entry sizes are read from the central directory before anything is
//! unpacked and enforced again while unpacking (a header may lie); an entry that unpacks
//! to far more than it holds is refused as a bomb; paths are made safe (no `..`, no root,
//! no drive) and keep their folders, which name the product as folders do elsewhere;
//! links, folders, hidden files and macOS resource forks are passed over.

use std::io::{Read, Write};
use std::path::Path;

use thiserror::Error;

use crate::error::ErrorCode;
use crate::handoff::Failure;

/// How far an entry may unpack beyond its compressed size before it is taken for a bomb
/// (photos hardly compress; text catalogs compress about 10:1).
pub const MAX_RATIO: u64 = 100;

/// What one upload's zip may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    /// Files in the zip, counted with the files the upload sent besides it.
    pub max_entries: usize,
    pub max_entry_bytes: u64,
    pub max_total_bytes: u64,
}

/// A file of the zip, unpacked to `into/<seq>` (or refused with why).
#[derive(Debug)]
pub struct Entry {
    /// Its path in the zip, made safe (see [`safe_path`]).
    pub key: String,
    /// Its number: the file it was unpacked to is named so.
    pub seq: usize,
    pub bytes: u64,
    pub failure: Option<Failure>,
}

/// The zip's photos, and its catalog if it holds one (`catalog.csv`, `.xlsx`, `.json`).
#[derive(Debug, Default)]
pub struct Unpacked {
    pub entries: Vec<Entry>,
    pub catalog: Option<Vec<u8>>,
}

#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error("it is not a zip archive that can be read ({0})")]
    NotZip(String),
    #[error(
        "it holds more than {0} files, the limit per batch (max_files); send them as several zips"
    )]
    TooManyEntries(usize),
    #[error("it unpacks to more than {0} bytes, the limit per upload (max_body_bytes)")]
    TooLarge(u64),
    #[error("cannot unpack it: {0}")]
    Write(std::io::Error),
}

/// A path from a zip made safe: `\` read as `/`; empty, `.`, `..` and drive parts dropped;
/// control characters removed. None when nothing is left.
pub fn safe_path(name: &str) -> Option<String> {
    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
    let parts: Vec<&str> = clean
        .split(['/', '\\'])
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "." && *p != ".." && !p.ends_with(':'))
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Entries that are not a seller's files: folders, links, hidden files, resource forks.
fn passed_over(name: &str, is_dir: bool, mode: Option<u32>) -> bool {
    const S_IFMT: u32 = 0o170000;
    const S_IFREG: u32 = 0o100000;
    let is_link_or_special = mode.is_some_and(|m| m & S_IFMT != 0 && m & S_IFMT != S_IFREG);
    is_dir
        || is_link_or_special
        || name.starts_with("__MACOSX/")
        || name
            .rsplit(['/', '\\'])
            .next()
            .is_none_or(|last| last.starts_with('.') || last.is_empty())
}

fn is_catalog(key: &str) -> bool {
    let last = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
    matches!(
        last.as_str(),
        "catalog.csv" | "catalog.xlsx" | "catalog.json"
    )
}

/// Unpacks the zip at `zip` into `into/<seq>` files, numbered from `first_seq`; `sent` files
/// came with it, and count against `max_entries`.
pub fn unpack(
    zip: &Path,
    into: &Path,
    first_seq: usize,
    sent: usize,
    limits: ZipLimits,
) -> Result<Unpacked, ArchiveError> {
    let file = std::fs::File::open(zip).map_err(ArchiveError::Write)?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| ArchiveError::NotZip(e.to_string()))?;
    let mut out = Unpacked::default();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| ArchiveError::NotZip(e.to_string()))?;
        let name = entry
            .name()
            .map_err(|e| ArchiveError::NotZip(e.to_string()))?
            .to_string();
        if passed_over(&name, entry.is_dir(), entry.unix_mode()) {
            continue;
        }
        let Some(key) = safe_path(&name) else {
            continue;
        };
        let declared = entry.size();
        total = total.saturating_add(declared);
        if total > limits.max_total_bytes {
            return Err(ArchiveError::TooLarge(limits.max_total_bytes));
        }
        if is_catalog(&key) && out.catalog.is_none() {
            let max = crate::intake::catalog::MAX_FILE_BYTES;
            let mut bytes = Vec::new();
            (&mut entry)
                .take(max + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| ArchiveError::NotZip(e.to_string()))?;
            if bytes.len() as u64 <= max {
                out.catalog = Some(bytes);
            }
            // (One over the limit is no catalog, and no photo either: passed over.)
            continue;
        }
        let seq = first_seq + out.entries.len();
        if sent + out.entries.len() + 1 > limits.max_entries {
            return Err(ArchiveError::TooManyEntries(limits.max_entries));
        }
        let refuse = |code: ErrorCode, message: String| Entry {
            key: key.clone(),
            seq,
            bytes: declared,
            failure: Some(Failure::new(code, message)),
        };
        if declared > limits.max_entry_bytes {
            out.entries.push(refuse(
                ErrorCode::DecodeFileTooBig,
                format!("the file is over the {}-byte limit for one source image (the zip says it is {declared} bytes)", limits.max_entry_bytes),
            ));
            continue;
        }
        if declared > (1 << 20) && declared / entry.compressed_size().max(1) > MAX_RATIO {
            out.entries.push(refuse(
                ErrorCode::DecodeTooMuchMemory,
                format!("the zip says it unpacks to {declared} bytes from {} (more than {MAX_RATIO} to 1): a decompression bomb, not a photo", entry.compressed_size()),
            ));
            continue;
        }
        let path = into.join(seq.to_string());
        let mut f = std::fs::File::create(&path).map_err(ArchiveError::Write)?;
        // Never more than the entry said, whatever its data holds.
        let written = std::io::copy(&mut (&mut entry).take(declared + 1), &mut f);
        let failure = match written {
            Ok(n) if n > declared => Some(Failure::new(
                ErrorCode::DecodeCorrupt,
                "the zip's entry holds more than its header says: the zip is damaged".to_string(),
            )),
            Ok(_) => None,
            Err(e) => Some(Failure::new(
                ErrorCode::DecodeCorrupt,
                format!("the zip's entry cannot be unpacked ({e}); make the zip again"),
            )),
        };
        f.flush().map_err(ArchiveError::Write)?;
        f.sync_all().map_err(ArchiveError::Write)?;
        if failure.is_some() {
            let _ = std::fs::remove_file(&path);
        }
        out.entries.push(Entry {
            key,
            seq,
            bytes: declared,
            failure,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        for (name, bytes) in entries {
            z.start_file(*name, o).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn photos_keep_their_folders_and_hostile_paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("up.zip");
        let bomb = vec![0u8; 8 << 20];
        std::fs::write(
            &zip,
            zip_of(&[
                ("BOTTLE-GRN/2.png", b"png bytes"),
                ("../../etc/passwd", b"x"),
                ("__MACOSX/BOTTLE-GRN/._2.png", b"fork"),
                ("BOTTLE-GRN/.DS_Store", b"x"),
                ("catalog.csv", b"file,sku\n2.png,B\n"),
                ("zeros.png", &bomb),
            ]),
        )
        .unwrap();
        let limits = ZipLimits {
            max_entries: 10,
            max_entry_bytes: 16 << 20,
            max_total_bytes: 64 << 20,
        };
        let u = unpack(&zip, dir.path(), 5, 0, limits).unwrap();
        let keys: Vec<(&str, usize)> = u.entries.iter().map(|e| (e.key.as_str(), e.seq)).collect();
        assert_eq!(
            keys,
            [("BOTTLE-GRN/2.png", 5), ("etc/passwd", 6), ("zeros.png", 7)]
        );
        assert_eq!(std::fs::read(dir.path().join("5")).unwrap(), b"png bytes");
        assert!(u.entries[2]
            .failure
            .as_ref()
            .unwrap()
            .message
            .contains("decompression bomb"));
        assert!(!dir.path().join("7").exists());
        assert_eq!(u.catalog.as_deref(), Some(&b"file,sku\n2.png,B\n"[..]));
        // Too many files, counted with those sent beside the zip.
        let e = unpack(&zip, dir.path(), 1, 9, limits).unwrap_err();
        assert!(matches!(e, ArchiveError::TooManyEntries(10)), "{e}");
        let e = unpack(&dir.path().join("5"), dir.path(), 1, 0, limits).unwrap_err();
        assert!(matches!(e, ArchiveError::NotZip(_)), "{e}");
    }
}
