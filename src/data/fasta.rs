//! Streaming FASTA record reader: yields one [`RawRecord`] at a time from
//! any `BufRead` (built on the shared line reader, [`super::lines`]). It
//! checks the file's structure (text, headers, ids); the sequence symbols
//! are validated by the caller (see `validate`).

use super::lines::{FastaLines, Line};
use crate::error::Result;
use std::io::BufRead;

/// One FASTA record as found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The header's first word (text after `>` up to the first whitespace).
    pub id: String,
    /// The sequence lines concatenated, whitespace removed, not validated.
    pub seq: String,
    /// 1-based line of the header.
    pub line: usize,
}

/// Iterator over the records of a FASTA stream. After the first error it
/// yields nothing more.
pub struct FastaReader<R: BufRead> {
    lines: FastaLines<R>,
    /// The next record's header (id, line), already read.
    header: Option<(String, usize)>,
    done: bool,
}

impl<R: BufRead> FastaReader<R> {
    /// `origin` names the input in error messages.
    pub fn new(reader: R, origin: &str) -> Self {
        FastaReader {
            lines: FastaLines::new(reader, origin),
            header: None,
            done: false,
        }
    }

    fn next_record(&mut self) -> Result<Option<RawRecord>> {
        let (id, line) = match self.header.take() {
            Some(header) => header,
            None => loop {
                match self.lines.next_line()? {
                    None => return Ok(None),
                    Some(Line::Blank) => {}
                    Some(Line::Header(id)) => break (id.to_owned(), self.lines.line()),
                    Some(Line::Data(_)) => {
                        return Err(self
                            .lines
                            .invalid("sequence data before the first '>' header"))
                    }
                }
            },
        };
        let mut seq = String::new();
        loop {
            match self.lines.next_line()? {
                None => break,
                Some(Line::Blank) => {}
                Some(Line::Data(text)) => {
                    seq.extend(text.chars().filter(|c| !c.is_ascii_whitespace()))
                }
                Some(Line::Header(next)) => {
                    self.header = Some((next.to_owned(), self.lines.line()));
                    break;
                }
            }
        }
        Ok(Some(RawRecord { id, seq, line }))
    }
}

impl<R: BufRead> Iterator for FastaReader<R> {
    type Item = Result<RawRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_record();
        if !matches!(item, Ok(Some(_))) {
            self.done = true;
        }
        item.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::gz;
    use super::*;

    fn raw(input: &[u8]) -> Vec<RawRecord> {
        FastaReader::new(input, "t.fa")
            .collect::<Result<Vec<_>>>()
            .unwrap()
    }

    fn rec(id: &str, seq: &str, line: usize) -> RawRecord {
        RawRecord {
            id: id.into(),
            seq: seq.into(),
            line,
        }
    }

    #[test]
    fn multi_line_records_and_ids() {
        let input = b"\xef\xbb\xbf>chr1 human chromosome 1\r\nACGT\r\nac gt\r\n\r\n>chr2\tx\nNNNN\n\n  >chr3\nA\n  C\n";
        assert_eq!(
            raw(input),
            [
                rec("chr1", "ACGTacgt", 1),
                rec("chr2", "NNNN", 5),
                rec("chr3", "AC", 8)
            ]
        );
    }

    #[test]
    fn leading_blank_lines_and_no_final_newline() {
        assert_eq!(raw(b"\n\n>a\nAC"), [rec("a", "AC", 3)]);
        assert_eq!(raw(b""), []);
        assert_eq!(raw(b"\n \n"), []);
    }

    #[test]
    fn header_only_and_empty_records_are_yielded_raw() {
        assert_eq!(
            raw(b">a\n>b\nG\n>c"),
            [rec("a", "", 1), rec("b", "G", 2), rec("c", "", 4)]
        );
    }

    #[test]
    fn stops_after_structural_errors() {
        let mut reader = FastaReader::new(&b"AC\n>a\nG\n"[..], "t.fa");
        let msg = reader.next().unwrap().unwrap_err().to_string();
        assert_eq!(
            msg,
            "t.fa: line 1: sequence data before the first '>' header"
        );
        assert!(reader.next().is_none());

        let mut reader = FastaReader::new(&b">a\nAC\n> \nG\n"[..], "t.fa");
        let msg = reader.next().unwrap().unwrap_err().to_string();
        assert!(msg.starts_with("t.fa: line 3: FASTA header"), "{msg}");
        assert!(reader.next().is_none());

        let mut reader = FastaReader::new(&b">a\nAC\n\xc3\x28\n"[..], "t.fa");
        let msg = reader.next().unwrap().unwrap_err().to_string();
        assert_eq!(msg, "t.fa does not look like a text sequence file (line 3)");
    }

    #[test]
    fn streams_from_gzip() {
        let mut bytes = gz(b">a\nAC\n");
        bytes.extend(gz(b"GT\n>b\nC\n"));
        let dec = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(&bytes[..]));
        let got = FastaReader::new(dec, "t.fa.gz")
            .collect::<Result<Vec<_>>>()
            .unwrap();
        assert_eq!(got, [rec("a", "ACGT", 1), rec("b", "C", 4)]);
    }
}
