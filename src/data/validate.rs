//! Validation shared by every input format: text checks (binary garbage),
//! sequence normalisation (upper-casing, IUPAC ambiguity counting, invalid
//! symbols, empty sequences), the invalid-record policy and duplicate ids.
//! [`Collector`] gathers the records of one input into a `ReadOutput`.

use super::alphabet::{normalize, Composition, AMBIGUOUS};
use super::{InvalidPolicy, ReadOutput, Record};
use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};

/// The input without a leading UTF-8 byte-order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// Why `bytes` (from `line` on, at least the offending line) is not text:
/// binary data (a NUL byte, or mostly invalid UTF-8), UTF-16, or text in
/// another encoding such as Latin-1 (a few invalid bytes), each with its fix.
pub(crate) fn not_text(origin: &str, line: usize, bytes: &[u8]) -> Error {
    if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
        return Error::Invalid(format!(
            "{origin} is UTF-16 text (line {line}): save it as UTF-8 or ASCII"
        ));
    }
    // Where the line stops being UTF-8, and how much of its first 4 KiB is
    // not: a Latin-1 accent or two, or binary noise.
    let col = std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), |_| bytes.len());
    let window = &bytes[..bytes.len().min(col + 4096)];
    let invalid = String::from_utf8_lossy(window)
        .matches(char::REPLACEMENT_CHARACTER)
        .count();
    if window.contains(&0) || invalid * 4 > window.len() {
        return Error::Invalid(format!(
            "{origin} does not look like a text sequence file (line {line})"
        ));
    }
    Error::Invalid(format!(
        "{origin}: line {line} is not valid UTF-8 (byte 0x{:02X} at byte {} of the line; Latin-1 or another encoding?): save the file as UTF-8 or ASCII",
        bytes.get(col).copied().unwrap_or(0),
        col + 1
    ))
}

/// The input as text, or an error naming the first line with a NUL byte or
/// invalid UTF-8 (see [`not_text`]).
pub(crate) fn check_text<'a>(bytes: &'a [u8], origin: &str) -> Result<&'a str> {
    let bytes = strip_bom(bytes);
    let bad = match std::str::from_utf8(bytes) {
        Ok(text) => match text.find('\0') {
            None => return Ok(text),
            Some(pos) => pos,
        },
        Err(e) => {
            let valid = e.valid_up_to();
            bytes[..valid].iter().position(|&b| b == 0).unwrap_or(valid)
        }
    };
    let line_start = bytes[..bad]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + bytes[..bad].iter().filter(|&&b| b == b'\n').count();
    Err(not_text(origin, line, &bytes[line_start..]))
}

/// Normalises one record's sequence in place (see [`normalize`]), or says
/// what is wrong with it, naming the input, record and line: the one
/// message every record reader gives.
pub(crate) fn check_sequence(
    origin: &str,
    id: &str,
    line: usize,
    seq: &mut String,
) -> std::result::Result<Composition, String> {
    let problem = if seq.is_empty() {
        "empty sequence".to_owned()
    } else {
        match normalize(seq) {
            Ok(found) => return Ok(found),
            Err(bad) => bad.to_string(),
        }
    };
    Err(format!("{origin}: record {id:?} (line {line}): {problem}"))
}

/// Validates records one at a time and builds the [`ReadOutput`].
pub(crate) struct Collector {
    origin: String,
    policy: InvalidPolicy,
    out: ReadOutput,
    seen: usize,
    first_skip: Option<String>,
    /// Records with `U` read as `T`, and the first one (id, line).
    rna_records: usize,
    first_rna: Option<(String, usize)>,
}

impl Collector {
    pub(crate) fn new(origin: &str, policy: InvalidPolicy) -> Self {
        Collector {
            origin: origin.to_owned(),
            policy,
            out: ReadOutput::default(),
            seen: 0,
            first_skip: None,
            rna_records: 0,
            first_rna: None,
        }
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// Validates one record: keeps it, skips it or fails, by the policy.
    pub(crate) fn push(
        &mut self,
        id: String,
        mut seq: String,
        label: Option<String>,
        line: usize,
    ) -> Result<()> {
        self.seen += 1;
        match check_sequence(&self.origin, &id, line, &mut seq) {
            Ok(found) => {
                let ambiguous = found.ambiguous;
                if ambiguous > 0 {
                    let codes: Vec<String> = AMBIGUOUS
                        .iter()
                        .zip(found.codes)
                        .filter(|(_, seen)| *seen)
                        .map(|(&c, _)| char::from(c).to_string())
                        .collect();
                    let (noun, verb) = if ambiguous == 1 {
                        ("base", "becomes")
                    } else {
                        ("bases", "become")
                    };
                    self.out.warnings.push(format!(
                        "record {id} ({} line {line}): {ambiguous} ambiguous {noun} ({}) {verb} [UNK] (Nucleotide Transformer: N stays N, others <unk>)",
                        self.origin,
                        codes.join(", ")
                    ));
                }
                if found.uracil > 0 {
                    self.rna_records += 1;
                    self.first_rna.get_or_insert_with(|| (id.clone(), line));
                }
                self.out.records.push(Record {
                    id,
                    seq,
                    label,
                    line,
                });
                Ok(())
            }
            Err(msg) => match self.policy {
                InvalidPolicy::Error => Err(Error::Invalid(msg)),
                InvalidPolicy::Skip => {
                    self.out.skipped += 1;
                    self.first_skip.get_or_insert(msg);
                    Ok(())
                }
            },
        }
    }

    /// Renames duplicate ids, adds the summary warnings; an input without
    /// any valid record is an error.
    pub(crate) fn finish(mut self) -> Result<ReadOutput> {
        let first = self.first_skip.unwrap_or_default();
        if self.out.records.is_empty() {
            return Err(Error::Invalid(if self.out.skipped > 0 {
                format!(
                    "{}: no valid sequences found ({} invalid records skipped; first: {first})",
                    self.origin, self.out.skipped
                )
            } else {
                format!("{}: no sequences found", self.origin)
            }));
        }
        rename_duplicates(&mut self.out, &self.origin);
        if let Some((id, line)) = &self.first_rna {
            let n = self.rna_records;
            let (noun, verb) = if n == 1 {
                ("record", "holds")
            } else {
                ("records", "hold")
            };
            self.out.warnings.push(format!(
                "{}: {n} {noun} {verb} U (RNA), read as T (first: record {id:?}, line {line})",
                self.origin
            ));
        }
        if self.out.skipped > 0 {
            self.out.warnings.push(format!(
                "{}: skipped {} of {} records with invalid sequences (first: {first})",
                self.origin, self.out.skipped, self.seen
            ));
        }
        Ok(self.out)
    }
}

/// Appends `#2`, `#3`, ... to repeated ids (never producing an id that is
/// already in the input) with one warning per repeated id.
fn rename_duplicates(out: &mut ReadOutput, origin: &str) {
    let originals: HashSet<String> = out.records.iter().map(|r| r.id.clone()).collect();
    if originals.len() == out.records.len() {
        return;
    }
    let mut used: HashSet<String> = HashSet::new();
    // id -> (next suffix to try, renamed copies), in order of first repeat.
    let mut repeats: HashMap<String, (usize, Vec<String>)> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for record in &mut out.records {
        if used.insert(record.id.clone()) {
            continue;
        }
        let entry = repeats.entry(record.id.clone()).or_insert_with(|| {
            order.push(record.id.clone());
            (2, Vec::new())
        });
        let renamed = loop {
            let candidate = format!("{}#{}", record.id, entry.0);
            entry.0 += 1;
            if !originals.contains(&candidate) && !used.contains(&candidate) {
                break candidate;
            }
        };
        used.insert(renamed.clone());
        entry.1.push(renamed.clone());
        record.id = renamed;
    }
    for id in order {
        let Some((_, renamed)) = repeats.get(&id) else {
            continue;
        };
        out.warnings.push(format!(
            "{origin}: id {id:?} occurs {} times; later copies renamed {}",
            renamed.len() + 1,
            renamed.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(records: &[(&str, &str)], policy: InvalidPolicy) -> Result<ReadOutput> {
        let mut c = Collector::new("reads.fa", policy);
        for (i, (id, seq)) in records.iter().enumerate() {
            c.push(id.to_string(), seq.to_string(), None, 2 * i + 1)?;
        }
        c.finish()
    }

    #[test]
    fn upper_cases_and_counts_ambiguity() {
        let out = collect(
            &[("a", "acgt"), ("chr1", "ACNNrGT"), ("b", "n")],
            InvalidPolicy::Error,
        )
        .unwrap();
        let seqs: Vec<_> = out.records.iter().map(|r| r.seq.as_str()).collect();
        assert_eq!(seqs, ["ACGT", "ACNNRGT", "N"]);
        assert_eq!(
            out.warnings,
            [
                "record chr1 (reads.fa line 3): 3 ambiguous bases (N, R) become [UNK] (Nucleotide Transformer: N stays N, others <unk>)",
                "record b (reads.fa line 5): 1 ambiguous base (N) becomes [UNK] (Nucleotide Transformer: N stays N, others <unk>)",
            ]
        );
        let all = collect(&[("x", "NRYSWKMBDHVnrysw")], InvalidPolicy::Error).unwrap();
        assert!(all.warnings[0].contains("16 ambiguous bases (N, R, Y, S, W, K, M, B, D, H, V)"));
    }

    #[test]
    fn rna_u_is_read_as_t_with_one_warning() {
        let out = collect(
            &[("a", "ACGU"), ("b", "ACGT"), ("c", "uuN")],
            InvalidPolicy::Error,
        )
        .unwrap();
        let seqs: Vec<_> = out.records.iter().map(|r| r.seq.as_str()).collect();
        assert_eq!(seqs, ["ACGT", "ACGT", "TTN"]);
        assert_eq!(
            out.warnings.last().map(String::as_str),
            Some("reads.fa: 2 records hold U (RNA), read as T (first: record \"a\", line 1)")
        );
    }

    #[test]
    fn invalid_symbol_messages() {
        let seq = format!("{}X", "A".repeat(16));
        let msg = collect(&[("a", "AC"), ("chr1", &seq)], InvalidPolicy::Error)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "reads.fa: record \"chr1\" (line 3): invalid symbol 'X' at position 17"
        );
        for (seq, want) in [
            ("ACZ", "'Z' at position 3"),
            ("A-C", "'-' at position 2"),
            ("*", "'*' at position 1"),
            ("AC1", "'1' at position 3"),
            ("ACé", "'é' at position 3"),
            ("A C", "' ' at position 2"),
        ] {
            let msg = collect(&[("s", seq)], InvalidPolicy::Error)
                .unwrap_err()
                .to_string();
            assert!(msg.contains(want), "{msg} lacks {want}");
        }
    }

    #[test]
    fn skip_policy_counts_and_summarises() {
        let out = collect(
            &[("a", "AC"), ("b", "AXC"), ("c", ""), ("d", "GG")],
            InvalidPolicy::Skip,
        )
        .unwrap();
        let ids: Vec<_> = out.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "d"]);
        assert_eq!(out.skipped, 2);
        assert_eq!(out.warnings.len(), 1);
        assert!(
            out.warnings[0].contains("skipped 2 of 4"),
            "{}",
            out.warnings[0]
        );
        assert!(out.warnings[0].contains("'X' at position 2"));

        let msg = collect(&[("b", "AXC")], InvalidPolicy::Skip)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("reads.fa: no valid sequences found (1 invalid"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_ids_are_renamed() {
        let out = collect(
            &[("x", "A"), ("y", "C"), ("x", "G"), ("x", "T"), ("y", "A")],
            InvalidPolicy::Error,
        )
        .unwrap();
        let ids: Vec<_> = out.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["x", "y", "x#2", "x#3", "y#2"]);
        assert_eq!(
            out.warnings,
            [
                "reads.fa: id \"x\" occurs 3 times; later copies renamed x#2, x#3",
                "reads.fa: id \"y\" occurs 2 times; later copies renamed y#2",
            ]
        );
        // A renamed copy never collides with an id of the input.
        let out = collect(
            &[("x", "A"), ("x", "C"), ("x#2", "G")],
            InvalidPolicy::Error,
        )
        .unwrap();
        let ids: Vec<_> = out.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["x", "x#3", "x#2"]);
    }

    #[test]
    fn text_checks() {
        assert_eq!(check_text(b"\xef\xbb\xbfAC\n", "f").unwrap(), "AC\n");
        let msg = check_text(b"A\nC\nG\x00", "f").unwrap_err().to_string();
        assert_eq!(msg, "f does not look like a text sequence file (line 3)");
        let msg = check_text(b"A\n\x80\x81\x82", "f").unwrap_err().to_string();
        assert_eq!(msg, "f does not look like a text sequence file (line 2)");
        // Latin-1 text: an encoding to fix, not a binary file.
        let msg = check_text(b">s1 caf\xe9 sample\nACGT\n", "f")
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "f: line 1 is not valid UTF-8 (byte 0xE9 at byte 8 of the line; Latin-1 or another encoding?): save the file as UTF-8 or ASCII");
        let msg = check_text(b"\xff\xfe>\x00s\x00", "f")
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "f is UTF-16 text (line 1): save it as UTF-8 or ASCII");
    }
}
