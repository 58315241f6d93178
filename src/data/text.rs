//! Plain-text input: one sequence per line. A record's id is the 0-based
//! index of its line, so ids stay tied to line numbers; blank lines give no
//! record.

use super::lines::TextLines;
use super::validate::Row;
use crate::error::Result;
use std::io::BufRead;

/// The records of a plain-text stream, one per non-blank line.
pub(crate) struct Rows<R>(TextLines<R>);

impl<R: BufRead> Rows<R> {
    pub(crate) fn new(reader: R, origin: &str) -> Self {
        Rows(TextLines::new(reader, origin))
    }
}

impl<R: BufRead> Rows<R> {
    /// The next non-blank line's record, or `None` at the end.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row>> {
        while let Some(text) = self.0.next_text()? {
            let seq = text.trim().to_owned();
            if !seq.is_empty() {
                let line = self.0.line();
                return Ok(Some(Row {
                    id: (line - 1).to_string(),
                    seq,
                    label: None,
                    line,
                }));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{read_records, Format, InvalidPolicy};

    #[test]
    fn ids_are_line_indices() {
        let out = read_records(
            b"acgt\r\n\r\n  GGNC \r\nTTTT",
            "s.txt",
            Format::Text,
            false,
            InvalidPolicy::Error,
        )
        .unwrap();
        let got: Vec<_> = out
            .records
            .iter()
            .map(|r| (r.id.as_str(), r.seq.as_str(), r.line))
            .collect();
        assert_eq!(got, [("0", "ACGT", 1), ("2", "GGNC", 3), ("3", "TTTT", 4)]);
        assert_eq!(
            out.warnings,
            ["record 2 (s.txt line 3): 1 ambiguous base (N) becomes [UNK] (Nucleotide Transformer: N stays N, others <unk>)"]
        );
    }

    #[test]
    fn invalid_line_names_its_id() {
        let msg = read_records(
            b"AC\nA.C\n",
            "s.txt",
            Format::Text,
            false,
            InvalidPolicy::Error,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            msg,
            "s.txt: record \"1\" (line 2): invalid symbol '.' at position 2"
        );
        let out = read_records(
            b"AC\nA.C\n",
            "s.txt",
            Format::Text,
            false,
            InvalidPolicy::Skip,
        )
        .unwrap();
        assert_eq!((out.records.len(), out.skipped), (1, 1));
    }
}
