//! Plain-text input: one sequence per line. A record's id is the 0-based
//! index of its line, so ids stay tied to line numbers; blank lines give no
//! record.

use super::validate::Collector;
use crate::error::Result;

/// Feeds every non-blank line of `text` to `out`.
pub(crate) fn read(text: &str, out: &mut Collector) -> Result<()> {
    for (i, line) in text.split('\n').enumerate() {
        let seq = line.trim();
        if !seq.is_empty() {
            out.push(i.to_string(), seq.to_owned(), None, i + 1)?;
        }
    }
    Ok(())
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
