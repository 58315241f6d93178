//! An input read in two passes, in bounded memory, for commands that take
//! inputs of any size (embed, classify): [`StreamedInput::scan`] checks
//! every record before any work (the same checks and messages as
//! [`super::read_path`]) and learns the totals and the repeated ids;
//! [`StreamedInput::records`] then yields the records one at a time,
//! normalised and renamed as `read_path` would have returned them. Only one
//! record is held at a time, plus a 64-bit hash of each id (20–40 bytes a
//! record in a hash set) to find repeated ids.
//! Stdin is read into memory, or past [`STDIN_IN_MEMORY`] into a temporary
//! file (removed when the input is dropped), so it can be read twice too;
//! anything else that can be opened again (the page's `File`, read in
//! slices) comes through [`StreamedInput::from_opener`].

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use super::validate::{Checker, Renames, Row};
use super::{decoded, open, rows, sniff};
#[cfg(not(target_arch = "wasm32"))]
use super::{display_name, format_from_name};
use super::{Format, InvalidPolicy, Record, Summary};
use crate::error::{Error, Result};

/// Stdin up to this size is held in memory; a longer one goes to a
/// temporary file.
#[cfg(not(target_arch = "wasm32"))]
pub const STDIN_IN_MEMORY: u64 = 64 << 20;

/// Large buffers: genomes are read at disk speed.
const BUFFER: usize = 1 << 20;

/// A file, or stdin, ready to be read (twice).
pub struct StreamedInput {
    /// How messages name it (`<stdin>` for `-`).
    name: String,
    format: Format,
    source: Source,
}

/// Opens an input from its start, as often as asked.
pub type Opener = Box<dyn Fn() -> std::io::Result<Box<dyn Read>>>;

#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
enum Source {
    /// A file, gzip-compressed when its name ends in `.gz` (or its bytes
    /// start with gzip's magic).
    File { path: PathBuf, gzip: bool },
    /// Stdin, whole.
    Memory { bytes: Vec<u8>, gzip: bool },
    /// Stdin, too long to hold: a temporary file, removed on drop.
    Spooled { path: PathBuf, gzip: bool },
    /// Opened again for each pass; gzip-compressed when its first bytes say so.
    Opened { open: Opener, gzip: bool },
}

impl Drop for StreamedInput {
    fn drop(&mut self) {
        if let Source::Spooled { path, .. } = &self.source {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl StreamedInput {
    /// A file, or stdin for `-` (read now; its format sniffed from the
    /// content, as [`super::read_path`] does).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &str) -> Result<Self> {
        let name = display_name(path);
        if path != "-" {
            let (format, by_name) = format_from_name(path);
            let input = Self {
                name,
                format,
                source: Source::File {
                    path: PathBuf::from(path),
                    gzip: by_name,
                },
            };
            // Unreadable (missing, a folder) is said now, before any work.
            input.reader()?;
            return Ok(input);
        }
        Self::read_stdin(std::io::stdin().lock(), STDIN_IN_MEMORY)
    }

    /// An input that `open` gives from its start on each call, named `name`
    /// in messages; its format and compression are sniffed from its first
    /// bytes (as stdin's are).
    pub fn from_opener(name: &str, open: Opener) -> Result<Self> {
        let cannot = |e: std::io::Error| Error::Invalid(format!("cannot read {name}: {e}"));
        let mut head = Vec::new();
        open()
            .and_then(|r| r.take(super::SNIFF_BYTES).read_to_end(&mut head))
            .map_err(cannot)?;
        let (format, gzip) = sniff(&head);
        Ok(Self {
            name: name.to_owned(),
            format,
            source: Source::Opened { open, gzip },
        })
    }

    /// Stdin (`stdin`), held in memory up to `limit` bytes, else spooled.
    #[cfg(not(target_arch = "wasm32"))]
    fn read_stdin(mut stdin: impl Read, limit: u64) -> Result<Self> {
        let name = display_name("-");
        let cannot = |e: std::io::Error| Error::Invalid(format!("cannot read <stdin>: {e}"));
        let mut bytes = Vec::new();
        (&mut stdin)
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        let (format, gzip) = sniff(&bytes);
        if (bytes.len() as u64) < limit {
            return Ok(Self {
                name,
                format,
                source: Source::Memory { bytes, gzip },
            });
        }
        let path = spool_path();
        // Made before writing, so that a failed write still removes it.
        let input = Self {
            name,
            format,
            source: Source::Spooled {
                path: path.clone(),
                gzip,
            },
        };
        let spool = |e: std::io::Error| {
            Error::Invalid(format!(
                "cannot keep <stdin> (over {} MiB) in {}: {e}; give the input as a file with --input",
                limit >> 20,
                path.display()
            ))
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(spool)?;
        std::io::Write::write_all(&mut file, &bytes).map_err(spool)?;
        drop(bytes);
        std::io::copy(&mut stdin, &mut file).map_err(|e| match e.kind() {
            std::io::ErrorKind::WriteZero | std::io::ErrorKind::StorageFull => spool(e),
            _ => cannot(e),
        })?;
        Ok(input)
    }

    /// How messages name the input.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The decompressed text, from the start.
    pub fn reader(&self) -> Result<Box<dyn BufRead + '_>> {
        let cannot = |e: std::io::Error| Error::Invalid(format!("cannot read {}: {e}", self.name));
        let (raw, gzip): (Box<dyn Read>, bool) = match &self.source {
            Source::Memory { bytes, gzip } => return Ok(decoded(&bytes[..], *gzip)),
            Source::Opened { open, gzip } => (open().map_err(cannot)?, *gzip),
            Source::File { path, gzip } | Source::Spooled { path, gzip } => {
                (Box::new(std::fs::File::open(path).map_err(cannot)?), *gzip)
            }
        };
        let mut reader = BufReader::with_capacity(BUFFER, raw);
        let magic = open::is_gzip(reader.fill_buf().map_err(cannot)?);
        Ok(decoded(reader, gzip || magic))
    }

    /// The first pass: checks every record as [`super::read_path`] does
    /// (an error names the record and line), says what it found through
    /// `warn` (the warnings `read_path` returns, in its order), and sums the
    /// input up.
    pub fn scan(&self, policy: InvalidPolicy, warn: &mut dyn FnMut(String)) -> Result<Summary> {
        let mut checker = Checker::new(&self.name, policy);
        for row in rows(self.reader()?, &self.name, self.format) {
            checker.check(row?, warn)?;
        }
        checker.finish(warn)
    }

    /// Fails when the second pass met another number of records (`ran`)
    /// than `scan` found (the file changed meanwhile).
    pub fn check_count(&self, scan: &Summary, ran: usize) -> Result<()> {
        if ran != scan.records {
            return Err(Error::Invalid(format!(
                "{}: {ran} records read for the {} found when it was first read (did it change meanwhile?)",
                self.name, scan.records
            )));
        }
        Ok(())
    }

    /// The second pass: the records `scan` summed up, one at a time, as
    /// [`super::read_path`] returns them (normalised, repeated ids renamed).
    pub fn records(&self, policy: InvalidPolicy, scan: &Summary) -> Result<Records<'_>> {
        Ok(Records {
            rows: rows(self.reader()?, &self.name, self.format),
            checker: Checker::new(&self.name, policy),
            renames: scan.renames.clone(),
        })
    }
}

/// The records of a [`StreamedInput`], in input order.
pub struct Records<'a> {
    rows: Box<dyn Iterator<Item = Result<Row>> + 'a>,
    checker: Checker,
    renames: Renames,
}

impl Iterator for Records<'_> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            let row = match self.rows.next()? {
                Ok(row) => row,
                Err(e) => return Some(Err(e)),
            };
            // The first pass said everything there is to say.
            match self.checker.check(row, &mut |_| {}) {
                Ok(Some(mut r)) => {
                    r.id = self.renames.apply(std::mem::take(&mut r.id));
                    return Some(Ok(r));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A fresh name for spooled stdin in the temporary folder.
#[cfg(not(target_arch = "wasm32"))]
fn spool_path() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("dnagpu-stdin-{}-{nanos:09}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &StreamedInput) -> (Summary, Vec<Record>, Vec<String>) {
        let mut warnings = Vec::new();
        let scan = input
            .scan(InvalidPolicy::Skip, &mut |w| warnings.push(w))
            .unwrap();
        let records = input
            .records(InvalidPolicy::Skip, &scan)
            .unwrap()
            .collect::<Result<Vec<_>>>()
            .unwrap();
        (scan, records, warnings)
    }

    #[test]
    fn long_stdin_is_spooled_read_twice_and_removed() {
        let fasta = b">a\nACGT\n>b\nAXGT\n>a\nggnn\n>c\nUUAA\n".repeat(40);
        let input = StreamedInput::read_stdin(&fasta[..], 64).unwrap();
        let Source::Spooled { path, .. } = &input.source else {
            panic!("not spooled")
        };
        let path = path.clone();
        assert_eq!(std::fs::read(&path).unwrap(), fasta);
        let (scan, records, warnings) = read(&input);
        assert_eq!((scan.records, scan.skipped), (120, 40));
        assert_eq!(records.len(), 120);
        assert_eq!(records[1].id, "a#2");
        assert_eq!(records[1].seq, "GGNN");
        assert_eq!(records[2].seq, "TTAA");
        assert_eq!(records[119].id, "c#40");
        assert_eq!(scan.longest, (0, 4));
        assert!(warnings.iter().any(|w| w.contains("occurs 80 times")));
        // The same as reading it whole.
        let whole =
            super::super::read_records(&fasta, "-", Format::Fasta, false, InvalidPolicy::Skip)
                .unwrap();
        assert_eq!(records, whole.records);
        assert_eq!(warnings, whole.warnings);
        drop(input);
        assert!(!path.exists(), "{} left behind", path.display());
        // Short stdin stays in memory.
        let input = StreamedInput::read_stdin(&b"ACGT\nGGCC\n"[..], 64).unwrap();
        assert!(matches!(input.source, Source::Memory { .. }));
        assert_eq!(read(&input).1.len(), 2);
    }

    #[test]
    fn an_opener_is_sniffed_and_read_twice() {
        let fasta = b">a\nacgt\n>b\nGGNN\n>a\nTTAA\n".repeat(3);
        let gz = super::super::tests::gz(&fasta);
        let opens = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = opens.clone();
        let open: Opener = Box::new(move || {
            counter.set(counter.get() + 1);
            Ok(Box::new(std::io::Cursor::new(gz.clone())))
        });
        let input = StreamedInput::from_opener("big.bin", open).unwrap();
        assert_eq!(input.format, Format::Fasta);
        let (scan, records, warnings) = read(&input);
        assert_eq!(opens.get(), 3, "sniffed once, then read once per pass");
        let whole = super::super::read_records(
            &fasta,
            "big.bin",
            Format::Fasta,
            false,
            InvalidPolicy::Skip,
        )
        .unwrap();
        assert_eq!((scan.records, records), (9, whole.records));
        assert_eq!(warnings, whole.warnings);
        // A source that cannot be opened is said at once, by name.
        let broken: Opener = Box::new(|| Err(std::io::Error::other("gone")));
        let err = StreamedInput::from_opener("x.fa", broken).err().unwrap();
        assert_eq!(err.to_string(), "cannot read x.fa: gone");
    }
}
