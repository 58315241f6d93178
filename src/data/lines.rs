//! The FASTA line reader every FASTA path is built on: the record reader
//! ([`super::FastaReader`], embed, classify, tokenizer training) and the
//! streamed pretraining corpus, which looks at one line at a time so that a
//! chromosome-sized record is never held whole. It checks that the input is
//! text and tells headers from sequence lines; the symbols are the caller's
//! (see [`super::alphabet`]).

use super::validate::{not_text, strip_bom};
use crate::error::{Error, Result};
use std::io::BufRead;

/// One line of a FASTA file.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Blank,
    /// A header's id: its first word after `>`.
    Header(&'a str),
    /// Sequence data: the whole line, whitespace (line end included) and all.
    Data(&'a str),
}

/// Reads a text stream line by line, counting lines for messages: each
/// line must be text (UTF-8 without NUL bytes; a byte-order mark opening
/// the first line is dropped), else the error says what it is instead.
pub struct TextLines<R> {
    reader: R,
    origin: String,
    /// Lines read so far (the 1-based number of the last one).
    line: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> TextLines<R> {
    /// `origin` names the input in error messages.
    pub fn new(reader: R, origin: &str) -> Self {
        TextLines {
            reader,
            origin: origin.to_owned(),
            line: 0,
            buf: Vec::new(),
        }
    }

    /// The 1-based number of the line last read.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The next line with its line end, or `None` at the end of the input.
    pub fn next_text(&mut self) -> Result<Option<&str>> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf).map_err(|e| {
            Error::Invalid(format!(
                "{}: cannot read line {}: {e}",
                self.origin,
                self.line + 1
            ))
        })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let bytes = if self.line == 1 {
            strip_bom(&self.buf)
        } else {
            &self.buf[..]
        };
        match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => Ok(Some(text)),
            _ => Err(not_text(&self.origin, self.line, bytes)),
        }
    }
}

/// Reads a FASTA stream line by line, counting lines for messages.
pub struct FastaLines<R> {
    lines: TextLines<R>,
    /// The input's name, for messages about a line already borrowed.
    origin: String,
}

impl<R: BufRead> FastaLines<R> {
    /// `origin` names the input in error messages.
    pub fn new(reader: R, origin: &str) -> Self {
        FastaLines {
            lines: TextLines::new(reader, origin),
            origin: origin.to_owned(),
        }
    }

    /// The name messages use for the input.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The 1-based number of the line last read.
    pub fn line(&self) -> usize {
        self.lines.line()
    }

    /// An error at the line last read.
    pub fn invalid(&self, msg: &str) -> Error {
        Error::Invalid(format!("{}: line {}: {msg}", self.origin(), self.line()))
    }

    /// The next line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>> {
        let line = self.lines.line + 1;
        let Some(text) = self.lines.next_text()? else {
            return Ok(None);
        };
        let trimmed = text.trim_start();
        if trimmed.is_empty() {
            return Ok(Some(Line::Blank));
        }
        match trimmed.strip_prefix('>') {
            None => Ok(Some(Line::Data(text))),
            Some(header) => match header.split_whitespace().next() {
                Some(id) => Ok(Some(Line::Header(id))),
                None => Err(Error::Invalid(format!(
                    "{}: line {line}: FASTA header '>' without an id",
                    self.origin
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified_and_counted() {
        let mut r = FastaLines::new(
            &b"\xef\xbb\xbf>chr1 desc\r\n ac gt\r\n\r\n  >b\n"[..],
            "t.fa",
        );
        assert_eq!(r.next_line().unwrap(), Some(Line::Header("chr1")));
        assert_eq!(r.next_line().unwrap(), Some(Line::Data(" ac gt\r\n")));
        assert_eq!(r.next_line().unwrap(), Some(Line::Blank));
        assert_eq!(r.next_line().unwrap(), Some(Line::Header("b")));
        assert_eq!(r.line(), 4);
        assert_eq!(r.next_line().unwrap(), None);
        let mut r = FastaLines::new(&b">a\n>\n"[..], "t.fa");
        r.next_line().unwrap();
        let msg = r.next_line().unwrap_err().to_string();
        assert_eq!(msg, "t.fa: line 2: FASTA header '>' without an id");
    }
}
