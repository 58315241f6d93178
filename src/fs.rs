//! Writing results: to a temporary file beside the target, renamed over it
//! only once complete, so an existing file is never left half-written.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An I/O error as the crate's error, saying what was being done.
pub(crate) fn io_error(doing: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Invalid(format!("{doing}: {e}"))
}

/// Fails early (before any work) when `path`'s folder does not exist.
pub fn check_writable(path: &Path) -> Result<()> {
    let parent = parent_of(path);
    if !parent.is_dir() {
        return Err(Error::Invalid(format!(
            "cannot write {}: folder {} does not exist",
            path.display(),
            parent.display()
        )));
    }
    Ok(())
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to `path` atomically (temp file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    check_writable(path)?;
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{} is not a file name", path.display())))?;
    let tmp = parent_of(path).join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(format!("writing {}", path.display()))(e));
    }
    Ok(())
}
