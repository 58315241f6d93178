//! Training sequences from FASTA / FASTA.gz files of any size, streamed line
//! by line (a genome is never held whole): each record is cut into pieces of
//! at most `chunk_bp` bases. Lower case is upper-cased (soft-masked
//! repeats). A run of N or another IUPAC ambiguity code ends the piece:
//! pieces never span unknown bases, and pieces shorter than `min_bp` are
//! dropped (counted). Any other symbol is an error naming the file, line
//! and record.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorpusOptions {
    pub chunk_bp: usize,
    pub min_bp: usize,
}

/// What reading has met so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorpusStats {
    pub records: u64,
    pub chunks: u64,
    pub bases: u64,
    /// Bases of ambiguity codes (N, R, Y, ...) left out.
    pub ambiguous: u64,
    /// Pieces under `min_bp` left out, and their bases.
    pub short_pieces: u64,
    pub short_bases: u64,
}

/// Streams the pieces of every record of `files`, in order.
pub struct Chunks {
    files: Vec<PathBuf>,
    opts: CorpusOptions,
    next_file: usize,
    reader: Option<Box<dyn BufRead + Send>>,
    path: PathBuf,
    line_no: u64,
    record: Option<String>,
    buf: String,
    line: String,
    ready: std::collections::VecDeque<String>,
    pub stats: CorpusStats,
}

const IUPAC: &[u8] = b"NRYKMSWBDHVU";

fn open(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let err = |e: std::io::Error| Error::Invalid(format!("{}: {e}", path.display()));
    let mut f = BufReader::new(File::open(path).map_err(err)?);
    let gz = f.fill_buf().map_err(err)?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f)))
    } else {
        Box::new(f) as Box<dyn BufRead + Send>
    })
}

impl Chunks {
    /// Checks that every file exists and opens as FASTA before any training.
    pub fn new(files: &[PathBuf], opts: CorpusOptions) -> Result<Self> {
        if files.is_empty() {
            return Err(Error::Invalid("no training data given".into()));
        }
        if opts.chunk_bp == 0 || opts.min_bp > opts.chunk_bp {
            return Err(Error::Invalid(format!(
                "chunk length {} bp and minimum {} bp: need 0 < minimum <= chunk",
                opts.chunk_bp, opts.min_bp
            )));
        }
        for f in files {
            let mut r = open(f)?;
            let mut first = String::new();
            while first.trim().is_empty() {
                first.clear();
                let n = r
                    .read_line(&mut first)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", f.display())))?;
                if n == 0 {
                    return Err(Error::Invalid(format!(
                        "{}: empty file (no FASTA records)",
                        f.display()
                    )));
                }
            }
            if !first.starts_with('>') {
                return Err(Error::Invalid(format!(
                    "{}: not FASTA (the first line does not start with `>`)",
                    f.display()
                )));
            }
        }
        Ok(Self {
            files: files.to_vec(),
            opts,
            next_file: 0,
            reader: None,
            path: PathBuf::new(),
            line_no: 0,
            record: None,
            buf: String::new(),
            line: String::new(),
            ready: Default::default(),
            stats: CorpusStats::default(),
        })
    }

    /// Ends the current piece (at a record end or an ambiguity code).
    fn cut(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let piece = std::mem::take(&mut self.buf);
        if piece.len() < self.opts.min_bp {
            self.stats.short_pieces += 1;
            self.stats.short_bases += piece.len() as u64;
        } else {
            self.stats.chunks += 1;
            self.stats.bases += piece.len() as u64;
            self.ready.push_back(piece);
        }
    }

    fn sequence_line(&mut self) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        for (col, c) in line.trim_end().bytes().enumerate() {
            let u = c.to_ascii_uppercase();
            match u {
                b'A' | b'C' | b'G' | b'T' => {
                    self.buf.push(u as char);
                    if self.buf.len() == self.opts.chunk_bp {
                        self.cut();
                    }
                }
                _ if IUPAC.contains(&u) => {
                    self.stats.ambiguous += 1;
                    self.cut();
                }
                b' ' | b'\t' => {}
                _ => {
                    return Err(Error::Invalid(format!(
                        "{}:{}: record `{}`: `{}` (column {}) is not a DNA symbol",
                        self.path.display(),
                        self.line_no,
                        self.record.as_deref().unwrap_or("?"),
                        (c as char).escape_default(),
                        col + 1
                    )))
                }
            }
        }
        self.line = line;
        Ok(())
    }

    /// Reads until a piece is ready or the files end.
    fn fill(&mut self) -> Result<bool> {
        while self.ready.is_empty() {
            if self.reader.is_none() {
                if self.next_file == self.files.len() {
                    return Ok(false);
                }
                self.path = self.files[self.next_file].clone();
                self.reader = Some(open(&self.path)?);
                self.next_file += 1;
                self.line_no = 0;
                self.record = None;
            }
            self.line.clear();
            let n = self
                .reader
                .as_mut()
                .expect("opened above")
                .read_line(&mut self.line)
                .map_err(|e| Error::Invalid(format!("{}: {e}", self.path.display())))?;
            self.line_no += 1;
            if n == 0 {
                self.cut();
                self.reader = None;
                continue;
            }
            if let Some(header) = self.line.strip_prefix('>') {
                let id = header.split_whitespace().next().unwrap_or("").to_string();
                self.cut();
                self.stats.records += 1;
                self.record = Some(id);
            } else if self.line.trim().is_empty() {
                continue;
            } else {
                if self.record.is_none() {
                    return Err(Error::Invalid(format!(
                        "{}:{}: sequence before the first `>` header",
                        self.path.display(),
                        self.line_no
                    )));
                }
                self.sequence_line()?;
            }
        }
        Ok(true)
    }
}

impl Iterator for Chunks {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        match self.fill() {
            Ok(true) => self.ready.pop_front().map(Ok),
            Ok(false) => None,
            Err(e) => {
                self.ready.clear();
                self.reader = None;
                self.next_file = self.files.len();
                Some(Err(e))
            }
        }
    }
}

/// Writes a test input file.
#[cfg(test)]
fn write_tmp(name: &str, text: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dnagpu-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(files: &[PathBuf], chunk: usize, min: usize) -> Result<(Vec<String>, CorpusStats)> {
        let mut c = Chunks::new(
            files,
            CorpusOptions {
                chunk_bp: chunk,
                min_bp: min,
            },
        )?;
        let v = c.by_ref().collect::<Result<Vec<_>>>()?;
        Ok((v, c.stats))
    }

    #[test]
    fn cuts_records_into_pieces_and_splits_at_ambiguity_codes() {
        let a = write_tmp(
            "a.fa",
            b">r1 desc\nACGTAC\ngtacgt\n>r2\nAAAANNNNCCCCCCC\n\n>r3\nAC\n",
        );
        let (v, s) = read_all(&[a], 5, 3).unwrap();
        assert_eq!(v, ["ACGTA", "CGTAC", "AAAA", "CCCCC"]);
        assert_eq!(s.records, 3);
        assert_eq!(s.ambiguous, 4);
        assert_eq!(s.short_pieces, 3); // "GT", "CC", "AC"
    }

    #[test]
    fn reads_gzip_and_several_files() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b">x\nACGTACGT\n").unwrap();
        let gz = write_tmp("b.fa.gz", &enc.finish().unwrap());
        let plain = write_tmp("c.fa", b">y\nTTTT\n");
        let (v, _) = read_all(&[gz, plain], 100, 1).unwrap();
        assert_eq!(v, ["ACGTACGT", "TTTT"]);
    }

    #[test]
    fn bad_input_is_named() {
        let bad = write_tmp("bad.fa", b">r1\nACGT\nAC*T\n");
        let e = read_all(&[bad], 100, 1).unwrap_err().to_string();
        assert!(
            e.contains("bad.fa:3")
                && e.contains("r1")
                && e.contains("`*`")
                && e.contains("column 3"),
            "{e}"
        );
        let empty = write_tmp("empty.fa", b"\n\n");
        assert!(read_all(&[empty], 100, 1)
            .unwrap_err()
            .to_string()
            .contains("empty file"));
        let csv = write_tmp("x.csv", b"sequence,label\n");
        assert!(read_all(&[csv], 100, 1)
            .unwrap_err()
            .to_string()
            .contains("not FASTA"));
        let missing = PathBuf::from("/nonexistent/x.fa");
        assert!(read_all(&[missing], 100, 1)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/x.fa"));
    }
}
