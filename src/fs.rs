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

/// Fails before any work when the result file `path` could not be written
/// at the end, or would replace one of `inputs` (a user's data): its folder
/// exists and takes a new file (tried with a probe), it is not a folder,
/// and it is none of the inputs (compared by file identity, so another
/// spelling or a link to the input is caught too).
pub fn check_output(path: &Path, inputs: &[&Path]) -> Result<()> {
    check_writable(path)?;
    if path.is_dir() {
        return Err(Error::Invalid(format!(
            "cannot write {}: it is a folder; name a file",
            path.display()
        )));
    }
    for input in inputs {
        if same_file::is_same_file(path, input).unwrap_or(false) {
            return Err(Error::Invalid(format!(
                "--output {} is the input {}: writing it would destroy the input; choose another output file",
                path.display(),
                input.display()
            )));
        }
    }
    let probe = temp_beside(path, "probe")?;
    std::fs::File::create(&probe).map_err(io_error(format!("cannot write {}", path.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A hidden name beside `path` for this process's temporary file.
fn temp_beside(path: &Path, what: &str) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{} is not a file name", path.display())))?;
    Ok(parent_of(path).join(format!(
        ".{}.{what}-{}",
        name.to_string_lossy(),
        std::process::id()
    )))
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
    let tmp = temp_beside(path, "tmp")?;
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
