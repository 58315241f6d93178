//! Training sequences from FASTA / FASTA.gz files of any size, streamed line
//! by line through the shared line reader (a genome is never held whole):
//! each record is cut into pieces of at most `chunk_bp` bases. The symbols
//! are those of [`crate::data::alphabet`]: lower case is upper-cased
//! (soft-masked repeats), `U` reads as `T`, and a run of N or another IUPAC
//! ambiguity code ends the piece: pieces never span unknown bases, and
//! pieces shorter than `min_bp` are dropped (counted). Any other symbol is an
//! error naming the file, line and record.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::data::alphabet::{symbol, Symbol};
use crate::data::open::open_stream;
use crate::data::{FastaLines, Line};
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
    next_file: usize,
    lines: Option<FastaLines<Box<dyn BufRead + Send>>>,
    /// The current record's id.
    record: Option<String>,
    cutter: Cutter,
    pub stats: CorpusStats,
}

/// Opens one input; stdin cannot be read once per epoch.
fn open(path: &Path) -> Result<FastaLines<Box<dyn BufRead + Send>>> {
    if path.as_os_str() == "-" {
        return Err(Error::Invalid(
            "pretraining reads its data again every epoch: give files, not stdin (-)".into(),
        ));
    }
    let opened = open_stream(path)?;
    Ok(FastaLines::new(opened.reader, &opened.name))
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
            let mut lines = open(f)?;
            loop {
                match lines.next_line()? {
                    Some(Line::Blank) => {}
                    Some(Line::Header(_)) => break,
                    Some(Line::Data(_)) => {
                        return Err(Error::Invalid(format!(
                            "{}: not FASTA (the first line does not start with `>`)",
                            lines.origin()
                        )))
                    }
                    None => {
                        return Err(Error::Invalid(format!(
                            "{}: empty file (no FASTA records)",
                            lines.origin()
                        )))
                    }
                }
            }
        }
        Ok(Self {
            files: files.to_vec(),
            next_file: 0,
            lines: None,
            record: None,
            cutter: Cutter {
                opts,
                buf: String::new(),
                ready: VecDeque::new(),
            },
            stats: CorpusStats::default(),
        })
    }

    /// Reads until a piece is ready or the files end.
    fn fill(&mut self) -> Result<bool> {
        while self.cutter.ready.is_empty() {
            let Some(lines) = self.lines.as_mut() else {
                let Some(path) = self.files.get(self.next_file) else {
                    return Ok(false);
                };
                self.lines = Some(open(path)?);
                self.next_file += 1;
                self.record = None;
                continue;
            };
            let bad = match lines.next_line()? {
                None => {
                    self.cutter.cut(&mut self.stats);
                    self.lines = None;
                    continue;
                }
                Some(Line::Blank) => continue,
                Some(Line::Header(id)) => {
                    let id = id.to_owned();
                    self.cutter.cut(&mut self.stats);
                    self.stats.records += 1;
                    self.record = Some(id);
                    continue;
                }
                Some(Line::Data(_)) if self.record.is_none() => {
                    return Err(lines.invalid("sequence data before the first '>' header"));
                }
                Some(Line::Data(text)) => self.cutter.line(text, &mut self.stats),
            };
            if let Some((c, column)) = bad {
                return Err(Error::Invalid(format!(
                    "{}:{}: record `{}`: `{}` (column {column}) is not a DNA symbol",
                    lines.origin(),
                    lines.line(),
                    self.record.as_deref().unwrap_or("?"),
                    c.escape_default(),
                )));
            }
        }
        Ok(true)
    }
}

/// Cuts the bases of the current record into pieces.
struct Cutter {
    opts: CorpusOptions,
    buf: String,
    ready: VecDeque<String>,
}

impl Cutter {
    /// Ends the current piece (at a record end or an ambiguity code).
    fn cut(&mut self, stats: &mut CorpusStats) {
        if self.buf.is_empty() {
            return;
        }
        let piece = std::mem::take(&mut self.buf);
        if piece.len() < self.opts.min_bp {
            stats.short_pieces += 1;
            stats.short_bases += piece.len() as u64;
        } else {
            stats.chunks += 1;
            stats.bases += piece.len() as u64;
            self.ready.push_back(piece);
        }
    }

    /// Adds one sequence line; the first invalid symbol and its 1-based
    /// column, if any.
    fn line(&mut self, text: &str, stats: &mut CorpusStats) -> Option<(char, usize)> {
        for (col, c) in text.chars().enumerate() {
            if c.is_ascii_whitespace() {
                continue;
            }
            match u8::try_from(c).map_or(Symbol::Invalid, symbol) {
                Symbol::Base(b) => {
                    self.buf.push(char::from(b));
                    if self.buf.len() == self.opts.chunk_bp {
                        self.cut(stats);
                    }
                }
                Symbol::Ambiguous(_) => {
                    stats.ambiguous += 1;
                    self.cut(stats);
                }
                Symbol::Invalid => return Some((c, col + 1)),
            }
        }
        None
    }
}

impl Iterator for Chunks {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        match self.fill() {
            Ok(true) => self.cutter.ready.pop_front().map(Ok),
            Ok(false) => None,
            Err(e) => {
                self.cutter.ready.clear();
                self.lines = None;
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
