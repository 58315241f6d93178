//! Writing results: to a temporary file beside the target, renamed over it
//! only once complete, so an existing file is never left half-written; and
//! removing the temporaries of writes a killed process never finished.

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
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(io_error(format!("writing {}", path.display())))?;
    file.commit()
}

/// A file written in pieces to a temporary name beside `path` and renamed
/// over it by [`AtomicFile::commit`], once complete; dropped before that
/// (an error, a panic), the temporary is removed and `path` is as it was.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    /// Starts writing `path` (its folder must exist). The temporaries of
    /// `path` that a killed earlier write left (Ctrl-C in a long `embed`)
    /// are removed first.
    pub fn create(path: &Path) -> Result<Self> {
        check_writable(path)?;
        remove_stale_temps_of(path);
        Self::beside(path, "tmp")
    }

    /// A scratch file beside `path`, named for `what` (with `tmp-` in it, so
    /// that a killed run's is found stale), removed when dropped.
    pub fn scratch(path: &Path, what: &str) -> Result<Self> {
        Self::beside(path, &format!("tmp-{what}"))
    }

    fn beside(path: &Path, what: &str) -> Result<Self> {
        let tmp = temp_beside(path, what)?;
        let file =
            std::fs::File::create(&tmp).map_err(io_error(format!("writing {}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// What was written so far, to read back from the start (a scratch file).
    pub fn read_back(&mut self) -> Result<std::fs::File> {
        self.flush()
            .map_err(io_error(format!("writing {}", self.tmp.display())))?;
        std::fs::File::open(&self.tmp).map_err(io_error(format!("reading {}", self.tmp.display())))
    }

    /// Flushes, syncs and renames the file over `path`.
    pub fn commit(self) -> Result<()> {
        self.close()?.commit()
    }

    /// Flushes, syncs and closes the file, to be renamed over `path` later
    /// ([`Closed::commit`]): many files can be completed, then all renamed.
    pub fn close(mut self) -> Result<Closed> {
        let file = self.file.take().expect("taken only here");
        let done = (|| -> std::io::Result<()> {
            let file = file.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()
        })();
        if let Err(e) = done {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(io_error(format!("writing {}", self.path.display()))(e));
        }
        Ok(Closed {
            path: std::mem::take(&mut self.path),
            tmp: std::mem::take(&mut self.tmp),
        })
    }
}

/// An [`AtomicFile`] written in full, not yet renamed over its target;
/// dropped before that, it is removed.
pub struct Closed {
    path: PathBuf,
    tmp: PathBuf,
}

impl Closed {
    /// Renames the file over its target.
    pub fn commit(mut self) -> Result<()> {
        let tmp = std::mem::take(&mut self.tmp);
        std::fs::rename(&tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error(format!("writing {}", self.path.display()))(e)
        })
    }
}

impl Drop for Closed {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("until commit").write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.file.as_mut().expect("until commit").write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("until commit").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not closed (an error on the way): nothing of this write stays.
        if let Some(file) = self.file.take() {
            drop(file);
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Removes from `dir` the temporaries that writes of processes no longer
/// running left behind (killed mid-write): hidden names with `tmp-` whose
/// last `-` part is the writer's process id, as `write_atomic` (files) and
/// checkpoints (folders) name them. This process's own, and those of a
/// process still running (another run writing into the same folder), are
/// kept. Returns what it removed.
pub fn remove_stale_temps(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    if !dir.is_dir() {
        return Ok(removed);
    }
    let listing = |e| io_error(format!("listing {}", dir.display()))(e);
    for entry in std::fs::read_dir(dir).map_err(listing)? {
        let entry = entry.map_err(listing)?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = temp_writer(&name) else {
            continue;
        };
        if running(pid) {
            continue;
        }
        let path = entry.path();
        let gone = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        gone.map_err(io_error(format!("removing the stale {}", path.display())))?;
        removed.push(path);
    }
    Ok(removed)
}

/// Removes the temporaries of writes of `path` (`.{name}.tmp-…-PID`) whose
/// process is gone; what cannot be removed is left.
fn remove_stale_temps_of(path: &Path) {
    let Some(name) = path.file_name() else { return };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent_of(path)) else {
        return;
    };
    for e in entries.flatten() {
        let entry = e.file_name().to_string_lossy().into_owned();
        if !entry.starts_with(&prefix) {
            continue;
        }
        if temp_writer(&entry).is_some_and(|pid| !running(pid)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The process id a temporary's name ends with (`.log.csv.tmp-1234`,
/// `.tmp-step-00000020-1234`); `None` for any other name.
fn temp_writer(name: &str) -> Option<u32> {
    if !name.starts_with('.') || !name.contains("tmp-") {
        return None;
    }
    name.rsplit('-').next()?.parse().ok()
}

/// Whether process `pid` is this one or still running. Linux answers
/// through /proc; elsewhere any other process counts as gone.
fn running(pid: u32) -> bool {
    pid == std::process::id()
        || (cfg!(target_os = "linux") && Path::new("/proc").join(pid.to_string()).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_write_removes_what_a_killed_write_of_the_same_file_left() {
        let dir = std::env::temp_dir().join(format!("dnagpu-fs-killed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let gone = 4_194_304 + 17;
        let left = [
            format!(".e.npy.tmp-{gone}"),
            format!(".e.npy.tmp-data-{gone}"),
            format!(".other.npy.tmp-{gone}"),
        ];
        for name in &left {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        let mut f = AtomicFile::create(&dir.join("e.npy")).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.sort();
        assert_eq!(names, [left[2].clone(), "e.npy".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_temps_of_gone_processes_are_removed_and_no_others() {
        let dir = std::env::temp_dir().join(format!("dnagpu-fs-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Process ids past Linux's largest (2^22) belong to no process.
        let gone = 4_194_304 + 17;
        let ours = std::process::id();
        for name in [
            format!(".log.csv.tmp-{gone}"),
            format!(".log.csv.tmp-{ours}"),
            "log.csv".into(),
            ".hidden".into(),
        ] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        std::fs::create_dir_all(dir.join(format!(".tmp-step-00000020-{gone}/x"))).unwrap();
        let mut removed = remove_stale_temps(&dir).unwrap();
        removed.sort();
        assert_eq!(
            removed,
            [
                dir.join(format!(".log.csv.tmp-{gone}")),
                dir.join(format!(".tmp-step-00000020-{gone}")),
            ]
        );
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".hidden".into(),
                format!(".log.csv.tmp-{ours}"),
                "log.csv".into()
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
