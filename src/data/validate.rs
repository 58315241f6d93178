//! Validation shared by every input format: text checks (binary garbage),
//! sequence normalisation (upper-casing, IUPAC ambiguity counting, invalid
//! symbols, empty sequences), the invalid-record policy and duplicate ids.
//! [`Collector`] gathers the records of one input into a `ReadOutput`.

use super::alphabet::{normalize, Composition, AMBIGUOUS};
use super::{InvalidPolicy, Record};
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

/// One record as its file gives it, not validated yet.
pub(crate) struct Row {
    pub id: String,
    pub seq: String,
    pub label: Option<String>,
    pub line: usize,
}

impl From<super::RawRecord> for Row {
    fn from(r: super::RawRecord) -> Self {
        Row {
            id: r.id,
            seq: r.seq,
            label: None,
            line: r.line,
        }
    }
}

/// Validates records one at a time, as they come: keeps, skips or refuses
/// each by the policy, says what it found (through `warn`, in input order),
/// and learns the ids, so that repeated ones can be renamed.
pub(crate) struct Checker {
    origin: String,
    policy: InvalidPolicy,
    seen: usize,
    kept: usize,
    skipped: usize,
    first_skip: Option<String>,
    /// Records with `U` read as `T`, and the first one (id, line).
    rna_records: usize,
    first_rna: Option<(String, usize)>,
    ids: IdPlan,
    /// Bases kept, the longest record kept (index among those kept, bases),
    /// and whether every record kept has a label.
    bases: u64,
    longest: (usize, usize),
    labelled: bool,
}

/// What a whole input held, once checked: its records' number and size,
/// the warnings that sum it up, and how repeated ids are renamed.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Records kept (after skipping invalid ones).
    pub records: usize,
    /// Records dropped under [`InvalidPolicy::Skip`].
    pub skipped: usize,
    /// Bases in the records kept.
    pub bases: u64,
    /// The longest record kept: its 0-based index among them and its bases.
    pub longest: (usize, usize),
    /// Whether every record kept has a label.
    pub labelled: bool,
    pub(crate) renames: Renames,
}

impl Checker {
    pub(crate) fn new(origin: &str, policy: InvalidPolicy) -> Self {
        Checker {
            origin: origin.to_owned(),
            policy,
            seen: 0,
            kept: 0,
            skipped: 0,
            first_skip: None,
            rna_records: 0,
            first_rna: None,
            ids: IdPlan::default(),
            bases: 0,
            longest: (0, 0),
            labelled: true,
        }
    }

    /// Validates one record: `Some` to keep (normalised, its id not yet
    /// renamed), `None` to skip, or the error, by the policy.
    pub(crate) fn check(
        &mut self,
        row: Row,
        warn: &mut dyn FnMut(String),
    ) -> Result<Option<Record>> {
        let Row {
            id,
            mut seq,
            label,
            line,
        } = row;
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
                    warn(format!(
                        "record {id} ({} line {line}): {ambiguous} ambiguous {noun} ({}) {verb} [UNK] (Nucleotide Transformer: N stays N, others <unk>)",
                        self.origin,
                        codes.join(", ")
                    ));
                }
                if found.uracil > 0 {
                    self.rna_records += 1;
                    self.first_rna.get_or_insert_with(|| (id.clone(), line));
                }
                self.ids.observe(&id);
                self.bases += seq.len() as u64;
                if seq.len() > self.longest.1 {
                    self.longest = (self.kept, seq.len());
                }
                self.labelled &= label.is_some();
                self.kept += 1;
                Ok(Some(Record {
                    id,
                    seq,
                    label,
                    line,
                }))
            }
            Err(msg) => match self.policy {
                InvalidPolicy::Error => Err(Error::Invalid(msg)),
                InvalidPolicy::Skip => {
                    self.skipped += 1;
                    self.first_skip.get_or_insert(msg);
                    Ok(None)
                }
            },
        }
    }

    /// The input's summary, with the warnings about it as a whole (repeated
    /// ids, RNA, skipped records); an input without any valid record is an
    /// error.
    pub(crate) fn finish(self, warn: &mut dyn FnMut(String)) -> Result<Summary> {
        let first = self.first_skip.unwrap_or_default();
        if self.kept == 0 {
            return Err(Error::Invalid(if self.skipped > 0 {
                format!(
                    "{}: no valid sequences found ({} invalid records skipped; first: {first})",
                    self.origin, self.skipped
                )
            } else {
                format!("{}: no sequences found", self.origin)
            }));
        }
        let renames = self.ids.finish(&self.origin, warn);
        if let Some((id, line)) = &self.first_rna {
            let n = self.rna_records;
            let (noun, verb) = if n == 1 {
                ("record", "holds")
            } else {
                ("records", "hold")
            };
            warn(format!(
                "{}: {n} {noun} {verb} U (RNA), read as T (first: record {id:?}, line {line})",
                self.origin
            ));
        }
        if self.skipped > 0 {
            warn(format!(
                "{}: skipped {} of {} records with invalid sequences (first: {first})",
                self.origin, self.skipped, self.seen
            ));
        }
        Ok(Summary {
            records: self.kept,
            skipped: self.skipped,
            bases: self.bases,
            longest: self.longest,
            labelled: self.labelled,
            renames,
        })
    }
}

/// The ids of an input, learnt one at a time, for renaming repeated ones:
/// a later copy of an id gets `#2`, `#3`, ... appended, never producing an
/// id the input holds. Each id is kept as a 64-bit hash (20–40 bytes a
/// record in the set), the repeated ones whole.
#[derive(Default)]
struct IdPlan {
    hashes: HashSet<u64>,
    /// Repeated ids: how often each occurs, in order of first repeat.
    repeated: HashMap<String, usize>,
    order: Vec<String>,
}

fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same in every pass.
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

impl IdPlan {
    fn observe(&mut self, id: &str) {
        if self.hashes.insert(id_hash(id)) {
            return;
        }
        let count = self.repeated.entry(id.to_owned()).or_insert_with(|| {
            self.order.push(id.to_owned());
            1
        });
        *count += 1;
    }

    /// The new names of the later copies, with one warning per repeated id.
    fn finish(self, origin: &str, warn: &mut dyn FnMut(String)) -> Renames {
        let mut names = HashMap::new();
        for id in self.order {
            let count = self.repeated[&id];
            // A name never collides with an id of the input, nor with
            // another repeated id's (the suffix after the last `#` is a
            // number, so the base id is known from a name).
            let renamed: Vec<String> = (2..)
                .map(|k| format!("{id}#{k}"))
                .filter(|name| !self.hashes.contains(&id_hash(name)))
                .take(count - 1)
                .collect();
            warn(format!(
                "{origin}: id {id:?} occurs {count} times; later copies renamed {}",
                renamed.join(", ")
            ));
            names.insert(id, (0, renamed));
        }
        Renames(names)
    }
}

/// How the copies of repeated ids are renamed, applied record by record in
/// input order: repeated id -> (copies seen so far, names of the later ones).
#[derive(Debug, Clone, Default)]
pub(crate) struct Renames(HashMap<String, (usize, Vec<String>)>);

impl Renames {
    /// The id a record with `id` gets, the records before it having been
    /// renamed already.
    pub(crate) fn apply(&mut self, id: String) -> String {
        match self.0.get_mut(&id) {
            Some((seen, names)) => {
                *seen += 1;
                match seen.checked_sub(2).and_then(|k| names.get(k)) {
                    Some(name) => name.clone(),
                    None => id,
                }
            }
            None => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ReadOutput;
    use super::*;

    fn collect(records: &[(&str, &str)], policy: InvalidPolicy) -> Result<ReadOutput> {
        let rows = records.iter().enumerate().map(|(i, (id, seq))| {
            Ok(Row {
                id: id.to_string(),
                seq: seq.to_string(),
                label: None,
                line: 2 * i + 1,
            })
        });
        super::super::collect(rows, "reads.fa", policy)
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
        use super::super::lines::TextLines;
        // The first line that is not text, as the error a reader gives.
        let check = |bytes: &[u8]| -> std::result::Result<String, String> {
            let mut lines = TextLines::new(bytes, "f");
            let mut text = String::new();
            loop {
                match lines.next_text() {
                    Ok(Some(line)) => text.push_str(line),
                    Ok(None) => return Ok(text),
                    Err(e) => return Err(e.to_string()),
                }
            }
        };
        assert_eq!(check(b"\xef\xbb\xbfAC\n").unwrap(), "AC\n");
        let msg = check(b"A\nC\nG\x00").unwrap_err();
        assert_eq!(msg, "f does not look like a text sequence file (line 3)");
        let msg = check(b"A\n\x80\x81\x82").unwrap_err();
        assert_eq!(msg, "f does not look like a text sequence file (line 2)");
        // Latin-1 text: an encoding to fix, not a binary file.
        let msg = check(b">s1 caf\xe9 sample\nACGT\n").unwrap_err();
        assert_eq!(msg, "f: line 1 is not valid UTF-8 (byte 0xE9 at byte 8 of the line; Latin-1 or another encoding?): save the file as UTF-8 or ASCII");
        let msg = check(b"\xff\xfe>\x00s\x00").unwrap_err();
        assert_eq!(msg, "f is UTF-16 text (line 1): save it as UTF-8 or ASCII");
    }
}
