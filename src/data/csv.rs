//! CSV input (the GUE benchmark format: header `sequence,label`, CRLF line
//! endings tolerated). The `sequence` column is required; the id comes from
//! an `id` or `name` column, else it is the 0-based data row number; a
//! `label` column is carried along.

use super::validate::Collector;
use crate::error::{Error, Result};

/// Whether a CSV header line has a `sequence` column (any case).
pub(crate) fn has_sequence_column(header: &[u8]) -> bool {
    header
        .split(|&b| b == b',')
        .map(|field| field.trim_ascii().trim_ascii_matches_quotes())
        .any(|field| field.eq_ignore_ascii_case(b"sequence"))
}

trait TrimQuotes {
    fn trim_ascii_matches_quotes(&self) -> &Self;
}

impl TrimQuotes for [u8] {
    fn trim_ascii_matches_quotes(&self) -> &[u8] {
        match self {
            [b'"', inner @ .., b'"'] => inner,
            other => other,
        }
    }
}

/// The 1-based line of a record, counted incrementally from byte offsets:
/// csv's own line numbers drift on CRLF input, and its byte offset can point
/// at the end of the previous line.
struct LineCounter<'a> {
    bytes: &'a [u8],
    line: usize,
    at: usize,
}

impl LineCounter<'_> {
    fn line_of(&mut self, pos: Option<&::csv::Position>) -> usize {
        let mut start = pos.map_or(0, |p| p.byte() as usize);
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let start = start.min(self.bytes.len());
        if start > self.at {
            // A line ends at LF, CRLF or a lone CR (classic Mac OS), as csv reads them.
            self.line += (self.at..start)
                .filter(|&i| match self.bytes[i] {
                    b'\n' => true,
                    b'\r' => self.bytes.get(i + 1) != Some(&b'\n'),
                    _ => false,
                })
                .count();
            self.at = start;
        }
        self.line
    }
}

/// A csv error as an input error, with the line when csv knows the record.
fn csv_error(origin: &str, lines: &mut LineCounter, e: ::csv::Error) -> Error {
    Error::Invalid(match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "{origin}: line {}: {len} fields where the header has {expected_len}",
            lines.line_of(pos.as_ref())
        ),
        _ => format!("{origin}: {e}"),
    })
}

/// Feeds every data row of `text` to `out`.
pub(crate) fn read(text: &str, out: &mut Collector) -> Result<()> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let origin = out.origin().to_owned();
    let mut lines = LineCounter {
        bytes: text.as_bytes(),
        line: 1,
        at: 0,
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| csv_error(&origin, &mut lines, e))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let Some(seq_col) = column("sequence") else {
        let names: Vec<String> = headers.iter().map(|h| format!("{h:?}")).collect();
        return Err(Error::Invalid(format!(
            "{origin}: no `sequence` column; the header has columns {}",
            names.join(", ")
        )));
    };
    let id_col = column("id").or_else(|| column("name"));
    let label_col = column("label");
    let mut row = ::csv::StringRecord::new();
    let mut index = 0usize;
    while reader
        .read_record(&mut row)
        .map_err(|e| csv_error(&origin, &mut lines, e))?
    {
        let line = lines.line_of(row.position());
        let field = |col: Option<usize>| {
            col.and_then(|c| row.get(c))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let id = field(id_col).unwrap_or_else(|| index.to_string());
        let seq = row.get(seq_col).unwrap_or_default().to_owned();
        out.push(id, seq, field(label_col), line)?;
        index += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{read_records, Format, InvalidPolicy, ReadOutput};

    fn read(input: &str) -> ReadOutput {
        read_records(
            input.as_bytes(),
            "dev.csv",
            Format::Csv,
            false,
            InvalidPolicy::Error,
        )
        .unwrap()
    }

    fn rows(out: &ReadOutput) -> Vec<(&str, &str, Option<&str>, usize)> {
        out.records
            .iter()
            .map(|r| (r.id.as_str(), r.seq.as_str(), r.label.as_deref(), r.line))
            .collect()
    }

    #[test]
    fn gue_crlf_with_labels_and_row_ids() {
        let out = read("sequence,label\r\nacgt,1\r\n\r\nGGCC,0\r\n");
        assert_eq!(
            rows(&out),
            [("0", "ACGT", Some("1"), 2), ("1", "GGCC", Some("0"), 4)]
        );
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn id_and_name_columns() {
        let out = read("ID,Sequence,Label\nr1,AC,x\n,GG,\n\"r,3\",\"TT\",y\n");
        assert_eq!(
            rows(&out),
            [
                ("r1", "AC", Some("x"), 2),
                ("1", "GG", None, 3),
                ("r,3", "TT", Some("y"), 4)
            ]
        );
        let out = read("name,sequence\nalpha,AC\nbeta,GT\nalpha,CC\n");
        let ids: Vec<_> = out.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["alpha", "beta", "alpha#2"]);
        assert_eq!(out.records[0].label, None);
        // `id` wins over `name`.
        let out = read("name,id,sequence\nn,i,AC\n");
        assert_eq!(out.records[0].id, "i");
    }

    #[test]
    fn errors_name_file_and_columns() {
        let err = |input: &str| {
            read_records(
                input.as_bytes(),
                "dev.csv",
                Format::Csv,
                false,
                InvalidPolicy::Error,
            )
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            err("seq,label\r\nAC,1\r\n"),
            "dev.csv: no `sequence` column; the header has columns \"seq\", \"label\""
        );
        assert_eq!(
            err("sequence,label\nAC,1\nGG\n"),
            "dev.csv: line 3: 1 fields where the header has 2"
        );
        assert_eq!(
            err("sequence,label\r\nAC,1\r\n\r\nGG,1,x\r\n"),
            "dev.csv: line 4: 3 fields where the header has 2"
        );
        assert_eq!(
            err("sequence,label\nAC,1\nGXG,0\n"),
            "dev.csv: record \"1\" (line 3): invalid symbol 'X' at position 2"
        );
    }

    #[test]
    fn lone_cr_ends_a_line() {
        // Classic Mac OS line ends: found by the csv fuzz target, which saw
        // two records on one line.
        let out = read("ID,Sequence,Label\r\nr1,AC,x\r\n,GG,\r\"r,3\",\"TT\",y\r\n");
        assert_eq!(
            rows(&out),
            [
                ("r1", "AC", Some("x"), 2),
                ("1", "GG", None, 3),
                ("r,3", "TT", Some("y"), 4)
            ]
        );
        let out = read("sequence\rAC\r\rGG\r");
        let lines: Vec<usize> = out.records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn sniffs_sequence_header() {
        assert!(super::has_sequence_column(b"\"Sequence\" , label"));
        assert!(!super::has_sequence_column(b"seq,label"));
    }
}
