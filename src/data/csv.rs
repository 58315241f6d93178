//! CSV input (the GUE benchmark format: header `sequence,label`, CRLF line
//! endings tolerated). The `sequence` column is required; the id comes from
//! an `id` or `name` column, else it is the 0-based data row number; a
//! `label` column is carried along.

use super::validate::{not_text, Row};
use crate::error::{Error, Result};
use std::io::{BufRead, Read};

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

/// What the csv parser reads: the stream without a leading byte-order
/// mark, each line checked as text on its way through (as
/// [`super::lines::TextLines`] checks them), and the bytes not yet counted
/// into lines kept, so that a record's line can be told from its byte
/// offset: csv's own line numbers drift on CRLF input, and its byte offset
/// can point at the end of the previous line. What is kept is csv's
/// read-ahead and the current record, never the whole input.
struct Tape<R> {
    inner: R,
    origin: String,
    /// Bytes from stream offset `base` on, read but not yet counted.
    kept: Vec<u8>,
    base: u64,
    /// The line at `base` (1-based; LF, CRLF or a lone CR end a line, as csv reads them).
    line: usize,
    /// The text check: the bytes since the last LF and their line (LFs counted).
    partial: Vec<u8>,
    text_line: usize,
    started: bool,
}

/// A line that is not text, as the error the reader gives.
#[derive(Debug)]
struct NotText(String);

impl std::fmt::Display for NotText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotText {}

impl<R: BufRead> Tape<R> {
    fn new(inner: R, origin: &str) -> Self {
        Tape {
            inner,
            origin: origin.to_owned(),
            kept: Vec::new(),
            base: 0,
            line: 1,
            partial: Vec::new(),
            text_line: 1,
            started: false,
        }
    }

    /// Checks the complete lines in `partial` (all of it at the end).
    fn check_text(&mut self, end: bool) -> std::io::Result<()> {
        let mut from = 0;
        loop {
            let stop = match self.partial[from..].iter().position(|&b| b == b'\n') {
                Some(i) => from + i + 1,
                None if end && from < self.partial.len() => self.partial.len(),
                None => break,
            };
            let line = &self.partial[from..stop];
            if std::str::from_utf8(line).map_or(true, |t| t.contains('\0')) {
                let msg = not_text(&self.origin, self.text_line, &self.partial[from..]).to_string();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    NotText(msg),
                ));
            }
            self.text_line += 1;
            from = stop;
        }
        self.partial.drain(..from);
        Ok(())
    }

    /// The 1-based line of the record at `pos`; forgets the bytes before it.
    fn line_of(&mut self, pos: Option<&::csv::Position>) -> usize {
        let end = self.base + self.kept.len() as u64;
        let mut start = pos.map_or(0, |p| p.byte()).max(self.base);
        while start < end && matches!(self.kept[(start - self.base) as usize], b'\r' | b'\n') {
            start += 1;
        }
        let upto = (start.min(end) - self.base) as usize;
        let kept = &self.kept;
        self.line += (0..upto)
            .filter(|&i| match kept[i] {
                b'\n' => true,
                b'\r' => kept.get(i + 1) != Some(&b'\n'),
                _ => false,
            })
            .count();
        self.kept.drain(..upto);
        self.base += upto as u64;
        self.line
    }
}

impl<R: BufRead> Read for Tape<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.started {
            self.started = true;
            if self.inner.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
                self.inner.consume(3);
            }
        }
        let n = self.inner.read(buf)?;
        self.partial.extend_from_slice(&buf[..n]);
        self.check_text(n == 0)?;
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// A csv error as an input error, with the line when csv knows the record.
fn csv_error<R: BufRead>(tape: &mut Tape<R>, e: ::csv::Error) -> Error {
    let origin = tape.origin.clone();
    Error::Invalid(match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "{origin}: line {}: {len} fields where the header has {expected_len}",
            tape.line_of(pos.as_ref())
        ),
        ::csv::ErrorKind::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<NotText>()) {
            Some(NotText(msg)) => msg.clone(),
            None => format!("{origin}: {e}"),
        },
        _ => format!("{origin}: {e}"),
    })
}

/// The data rows of a CSV stream, read as they come ([`Rows::next_row`]).
pub(crate) struct Rows<R: BufRead> {
    reader: ::csv::Reader<Tape<R>>,
    columns: Option<Columns>,
    row: ::csv::StringRecord,
    index: usize,
}

/// Where the fields are (from the header).
struct Columns {
    seq: usize,
    id: Option<usize>,
    label: Option<usize>,
}

impl<R: BufRead> Rows<R> {
    pub(crate) fn new(reader: R, origin: &str) -> Self {
        Rows {
            reader: ::csv::ReaderBuilder::new()
                .trim(::csv::Trim::All)
                .from_reader(Tape::new(reader, origin)),
            columns: None,
            row: ::csv::StringRecord::new(),
            index: 0,
        }
    }

    fn fail(&mut self, e: ::csv::Error) -> Error {
        csv_error(self.reader.get_mut(), e)
    }

    /// The columns, from the header (`None`: the input is blank).
    fn columns(&mut self) -> Result<Option<Columns>> {
        let headers = match self.reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(self.fail(e)),
        };
        let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let Some(seq) = column("sequence") else {
            // Blank (nothing but white space): no records at all.
            if headers.len() <= 1 && headers.iter().all(str::is_empty) {
                let more = self.reader.read_record(&mut self.row);
                match more {
                    Ok(false) => return Ok(None),
                    Err(e) => return Err(self.fail(e)),
                    Ok(true) => {}
                }
            }
            let names: Vec<String> = headers.iter().map(|h| format!("{h:?}")).collect();
            return Err(Error::Invalid(format!(
                "{}: no `sequence` column; the header has columns {}",
                self.reader.get_ref().origin,
                names.join(", ")
            )));
        };
        Ok(Some(Columns {
            seq,
            id: column("id").or_else(|| column("name")),
            label: column("label"),
        }))
    }

    /// The next data row, or `None` at the end.
    pub(crate) fn next_row(&mut self) -> Result<Option<Row>> {
        if self.columns.is_none() {
            match self.columns()? {
                Some(c) => self.columns = Some(c),
                None => return Ok(None),
            }
        }
        match self.reader.read_record(&mut self.row) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        }
        let c = self.columns.as_ref().expect("read above");
        let line = self.reader.get_mut().line_of(self.row.position());
        let field = |col: Option<usize>| {
            col.and_then(|c| self.row.get(c))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let id = field(c.id).unwrap_or_else(|| self.index.to_string());
        let row = Row {
            id,
            seq: self.row.get(c.seq).unwrap_or_default().to_owned(),
            label: field(c.label),
            line,
        };
        self.index += 1;
        Ok(Some(row))
    }
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
