//! One folder, one owner: a store takes an exclusive lock on its folder for the process's
//! life (the OS lets go when the process ends, however it ends), and a second process is
//! told who holds it instead of racing it.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::StoreError;

/// Takes the folder's lock and says who holds it; `kind` names the folder in the error
/// ("output folder", "data folder"). The lock file may be read-only to us (left by
/// another user): the lock still works on a read-only handle.
pub fn take(
    root: &Path,
    lock_path: &Path,
    kind: &'static str,
    holder: &str,
) -> Result<std::fs::File, StoreError> {
    let io = |error| StoreError::Write {
        path: lock_path.display().to_string(),
        error,
    };
    let mut opts = std::fs::OpenOptions::new();
    let lock = match opts
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(lock_path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            std::fs::File::open(lock_path).map_err(io)?
        }
        Err(e) => return Err(io(e)),
    };
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let held = std::fs::read_to_string(lock_path).unwrap_or_default();
            return Err(StoreError::Locked {
                folder: root.display().to_string(),
                kind,
                holder: if held.trim().is_empty() {
                    "a process that has not said who it is".into()
                } else {
                    held.trim().to_string()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // The holder's line first, then the old text cut off: a reader never sees it empty.
    let line = format!("{holder}\n");
    let mut f = &lock;
    let written = f
        .seek(SeekFrom::Start(0))
        .and_then(|_| f.write_all(line.as_bytes()));
    if written.is_ok() {
        let _ = lock.set_len(line.len() as u64);
    }
    Ok(lock)
}
