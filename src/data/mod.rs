//! Readers of sequence input files: FASTA, CSV (GUE format) and plain text,
//! each optionally gzip-compressed, with the validation every input gets
//! (upper-casing, IUPAC ambiguity counting, invalid symbols, empty records,
//! duplicate ids). Problems in the input are [`crate::Error::Invalid`] errors naming
//! the file; warnings are returned in [`ReadOutput`], never printed.
//!
//! [`read_records`] works on bytes already in memory (the wasm build's entry
//! point); [`read_path`] reads a file or stdin (`-`) on native targets.
//! [`FastaReader`] streams FASTA records from any `BufRead`, for inputs too
//! big to hold whole; [`FastaSequences`] streams the validated sequences of
//! many files (tokenizer training); [`FastaLines`] is the line reader both
//! are built on, which the pretraining corpus uses directly so that no record
//! is held whole. [`StreamedInput`] reads a file or stdin twice, every record
//! checked in the first pass and yielded one at a time in the second (embed
//! and classify on inputs of any size); [`windows`] cuts a genome into
//! windows in shards. Every path shares one [`alphabet`] and one gzip
//! detection ([`open`]), and every format one streaming reader, which
//! [`read_records`] collects. Variant scoring reads a [`vcf`] and fetches
//! the stretches of a genome it needs in one streaming pass ([`regions`]).

#[cfg(all(test, not(target_arch = "wasm32")))]
mod agreement;
pub mod alphabet;
mod csv;
mod fasta;
pub mod genome;
mod lines;
pub mod open;
pub mod regions;
#[cfg(not(target_arch = "wasm32"))]
mod sequences;
mod stream;
mod text;
mod validate;
pub mod vcf;
pub mod vcf_stream;
#[cfg(not(target_arch = "wasm32"))]
pub mod windows;

pub use fasta::{FastaReader, RawRecord};
pub use lines::{FastaLines, Line};
#[cfg(not(target_arch = "wasm32"))]
pub use sequences::FastaSequences;

#[cfg(not(target_arch = "wasm32"))]
use crate::error::Error;
use crate::error::Result;
use flate2::read::MultiGzDecoder;
use std::io::{BufRead, BufReader, Read};
pub use stream::{Opener, Records, StreamedInput};
pub use validate::Summary;
use validate::{Checker, Row};

/// One input sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Unique within one read: repeats get `#2`, `#3`, ... appended.
    pub id: String,
    /// Upper-cased, `U` read as `T`: only `A C G T` and the IUPAC codes
    /// `N R Y S W K M B D H V` (see [`alphabet`]).
    pub seq: String,
    /// From a CSV `label` column (`None` when absent or blank).
    pub label: Option<String>,
    /// 1-based line where the record starts, for messages.
    pub line: usize,
}

/// A record reads as its sequence (what `embed::embed_stream` takes).
impl AsRef<str> for Record {
    fn as_ref(&self) -> &str {
        &self.seq
    }
}

/// What to do with a record whose sequence is invalid (bad symbol, empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidPolicy {
    /// Fail the whole read with an error naming the record.
    Error,
    /// Drop the record, count it and summarise the drops in one warning.
    Skip,
}

/// An input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Fasta,
    Csv,
    Text,
}

/// The records of one input, in input order, with what the caller should hear about.
#[derive(Debug, Clone, Default)]
pub struct ReadOutput {
    pub records: Vec<Record>,
    /// Human-readable, one per issue: ambiguous bases per record, renamed
    /// duplicate ids, a summary of skipped records.
    pub warnings: Vec<String>,
    /// Records dropped under [`InvalidPolicy::Skip`].
    pub skipped: usize,
}

/// How much decompressed data [`sniff`] looks at in a gzip stream.
const SNIFF_BYTES: u64 = 64 * 1024;

/// Detects the format from a file name: `.fa`, `.fasta`, `.fna` are FASTA,
/// `.csv` is CSV, anything else is plain text; a trailing `.gz` means gzip.
pub fn format_from_name(name: &str) -> (Format, bool) {
    let lower = name.to_ascii_lowercase();
    let (stem, gzip) = match lower.strip_suffix(".gz") {
        Some(stem) => (stem, true),
        None => (lower.as_str(), false),
    };
    let format = if [".fa", ".fasta", ".fna"].iter().any(|e| stem.ends_with(e)) {
        Format::Fasta
    } else if stem.ends_with(".csv") {
        Format::Csv
    } else {
        Format::Text
    };
    (format, gzip)
}

/// Detects the format from the content, for inputs without a usable name
/// (stdin): gzip magic bytes `1f 8b` mean gzip (the decompressed start is
/// sniffed); a first non-blank line starting with `>` is FASTA; one with a
/// comma and a `sequence` column (any case) is CSV; anything else is text.
pub fn sniff(bytes: &[u8]) -> (Format, bool) {
    if open::is_gzip(bytes) {
        let mut head = Vec::new();
        // A corrupt stream still yields what decoded before the damage;
        // the error itself is reported by `read_records`.
        let _ = MultiGzDecoder::new(bytes)
            .take(SNIFF_BYTES)
            .read_to_end(&mut head);
        return (sniff_plain(&head), true);
    }
    (sniff_plain(bytes), false)
}

fn sniff_plain(bytes: &[u8]) -> Format {
    let first = validate::strip_bom(bytes)
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .find(|line| !line.is_empty());
    match first {
        Some(line) if line.starts_with(b">") => Format::Fasta,
        Some(line) if line.contains(&b',') && csv::has_sequence_column(line) => Format::Csv,
        _ => Format::Text,
    }
}

/// Reads every record from `bytes` (the whole input, possibly gzip).
/// `origin` names the input in messages; `-` is shown as `<stdin>`.
pub fn read_records(
    bytes: &[u8],
    origin: &str,
    format: Format,
    gzip: bool,
    policy: InvalidPolicy,
) -> Result<ReadOutput> {
    let name = display_name(origin);
    collect(rows(decoded(bytes, gzip), &name, format), &name, policy)
}

/// `reader` decompressed when `gzip`, a corrupt stream's errors reworded.
pub(crate) fn decoded<'a>(reader: impl BufRead + 'a, gzip: bool) -> Box<dyn BufRead + 'a> {
    if gzip {
        Box::new(BufReader::new(open::GzErrors(MultiGzDecoder::new(reader))))
    } else {
        Box::new(reader)
    }
}

/// The unvalidated records of a stream in `format`, one at a time.
pub(crate) fn rows<'a>(
    reader: Box<dyn BufRead + 'a>,
    name: &str,
    format: Format,
) -> Box<dyn Iterator<Item = Result<Row>> + 'a> {
    match format {
        Format::Fasta => Box::new(FastaReader::new(reader, name).map(|r| r.map(Row::from))),
        Format::Csv => {
            let mut rows = csv::Rows::new(reader, name);
            Box::new(UntilError(Some(move || rows.next_row())))
        }
        Format::Text => {
            let mut rows = text::Rows::new(reader, name);
            Box::new(UntilError(Some(move || rows.next_row())))
        }
    }
}

/// The items `next` gives until its end or its first error (which is
/// yielded), then nothing: a reader is not read past a problem.
struct UntilError<F>(Option<F>);

impl<T, F: FnMut() -> Result<Option<T>>> Iterator for UntilError<F> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let item = (self.0.as_mut()?)();
        if !matches!(item, Ok(Some(_))) {
            self.0 = None;
        }
        item.transpose()
    }
}

/// Validates every row and keeps the records, repeated ids renamed.
pub(crate) fn collect(
    rows: impl Iterator<Item = Result<Row>>,
    name: &str,
    policy: InvalidPolicy,
) -> Result<ReadOutput> {
    let mut checker = Checker::new(name, policy);
    let mut warnings = Vec::new();
    let mut records = Vec::new();
    for row in rows {
        if let Some(r) = checker.check(row?, &mut |w| warnings.push(w))? {
            records.push(r);
        }
    }
    let mut summary = checker.finish(&mut |w| warnings.push(w))?;
    for r in &mut records {
        r.id = summary.renames.apply(std::mem::take(&mut r.id));
    }
    Ok(ReadOutput {
        records,
        warnings,
        skipped: summary.skipped,
    })
}

/// Reads a file, or stdin for `-`, detecting the format from the name
/// (sniffing the content for stdin; gzip magic bytes are honoured either way).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_path(path: &str, policy: InvalidPolicy) -> Result<ReadOutput> {
    let (bytes, (format, gzip)) = if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Invalid(format!("cannot read <stdin>: {e}")))?;
        let detected = sniff(&bytes);
        (bytes, detected)
    } else {
        let bytes =
            std::fs::read(path).map_err(|e| Error::Invalid(format!("cannot read {path}: {e}")))?;
        let (format, gzip) = format_from_name(path);
        let gzip = gzip || open::is_gzip(&bytes);
        (bytes, (format, gzip))
    };
    read_records(&bytes, path, format, gzip, policy)
}

/// The name messages use for an input.
fn display_name(origin: &str) -> String {
    if origin == "-" {
        "<stdin>".to_owned()
    } else {
        origin.to_owned()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn err(bytes: &[u8], origin: &str, format: Format, gzip: bool) -> String {
        read_records(bytes, origin, format, gzip, InvalidPolicy::Error)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn format_from_names() {
        assert_eq!(format_from_name("reads.fa"), (Format::Fasta, false));
        assert_eq!(format_from_name("dir/x.FASTA.gz"), (Format::Fasta, true));
        assert_eq!(format_from_name("g.fna"), (Format::Fasta, false));
        assert_eq!(format_from_name("dev.csv"), (Format::Csv, false));
        assert_eq!(format_from_name("dev.csv.gz"), (Format::Csv, true));
        assert_eq!(format_from_name("seqs.txt"), (Format::Text, false));
        assert_eq!(format_from_name("prot.faa"), (Format::Text, false));
        assert_eq!(format_from_name("seqs.gz"), (Format::Text, true));
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"\n\n>chr1\nACGT\n"), (Format::Fasta, false));
        assert_eq!(sniff(b"Sequence,label\r\nACGT,1\r\n"), (Format::Csv, false));
        assert_eq!(sniff(b"id,seq\nx,ACGT\n"), (Format::Text, false));
        assert_eq!(sniff(b"ACGT\nGGCC\n"), (Format::Text, false));
        assert_eq!(sniff(b""), (Format::Text, false));
        assert_eq!(sniff(&gz(b">a\nAC\n")), (Format::Fasta, true));
        assert_eq!(sniff(&gz(b"sequence,label\nAC,0\n")), (Format::Csv, true));
        assert_eq!(sniff(&[0x1f, 0x8b, 0, 0]), (Format::Text, true));
    }

    #[test]
    fn stdin_is_sniffed_and_named() {
        let input = b"sequence,label\r\nACGT,1\r\nGGXA,0\r\n";
        let (format, gzip) = sniff(input);
        let msg = err(input, "-", format, gzip);
        assert!(msg.starts_with("<stdin>: record \"1\" (line 3)"), "{msg}");
        let out = read_records(
            &gz(b">s\nac\n"),
            "-",
            Format::Fasta,
            true,
            InvalidPolicy::Error,
        )
        .unwrap();
        assert_eq!(out.records[0].seq, "AC");
    }

    #[test]
    fn gzip_fasta_multi_member() {
        let mut bytes = gz(b">a desc\nAC\nGT\n");
        bytes.extend(gz(b">b\nTTTT\n"));
        let out =
            read_records(&bytes, "r.fa.gz", Format::Fasta, true, InvalidPolicy::Error).unwrap();
        let got: Vec<_> = out
            .records
            .iter()
            .map(|r| (&r.id[..], &r.seq[..]))
            .collect();
        assert_eq!(got, [("a", "ACGT"), ("b", "TTTT")]);
        let out = read_records(
            &gz(b"ACGT\n"),
            "s.txt.gz",
            Format::Text,
            true,
            InvalidPolicy::Error,
        )
        .unwrap();
        assert_eq!(out.records[0].seq, "ACGT");
    }

    #[test]
    fn duplicates_across_formats() {
        let out = read_records(
            b">x\nA\n>x\nC\n>y\nG\n>x\nT\n",
            "d.fa",
            Format::Fasta,
            false,
            InvalidPolicy::Error,
        )
        .unwrap();
        let ids: Vec<_> = out.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["x", "x#2", "y", "x#3"]);
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].contains("\"x\"") && out.warnings[0].contains("3 times"));
    }

    #[test]
    fn gue_sample() {
        let bytes = include_bytes!("../../tests/data/gue_sample.csv");
        assert_eq!(sniff(bytes), (Format::Csv, false));
        let out = read_records(bytes, "dev.csv", Format::Csv, false, InvalidPolicy::Error).unwrap();
        assert_eq!(out.records.len(), 20);
        assert_eq!(out.skipped, 0);
        for (i, r) in out.records.iter().enumerate() {
            assert_eq!(r.id, i.to_string());
            assert_eq!(r.line, i + 2);
            assert!(
                matches!(r.label.as_deref(), Some("0" | "1")),
                "{:?}",
                r.label
            );
            assert!(!r.seq.is_empty() && r.seq.bytes().all(|b| b"ACGTN".contains(&b)));
        }
        assert_eq!(out.records[0].label.as_deref(), Some("1"));
    }

    #[test]
    fn bad_inputs_name_the_file() {
        use Format::*;
        let cases: Vec<(Vec<u8>, Format, bool, &str)> = vec![
            (b"".to_vec(), Fasta, false, "no sequences found"),
            (b"\n \r\n".to_vec(), Text, false, "no sequences found"),
            (b"".to_vec(), Csv, false, "no sequences found"),
            (
                b"sequence,label\r\n".to_vec(),
                Csv,
                false,
                "no sequences found",
            ),
            (
                b"ACGT\n>a\nAC\n".to_vec(),
                Fasta,
                false,
                "line 1: sequence data before the first '>' header",
            ),
            (
                b">a\n".to_vec(),
                Fasta,
                false,
                "record \"a\" (line 1): empty sequence",
            ),
            (
                b">a\nAC\n>b\n\n>c\nG\n".to_vec(),
                Fasta,
                false,
                "record \"b\" (line 3): empty sequence",
            ),
            (
                b"seq,label\nAC,1\n".to_vec(),
                Csv,
                false,
                "no `sequence` column",
            ),
            (
                b"sequence,label\nAC,1\n,0\n".to_vec(),
                Csv,
                false,
                "record \"1\" (line 3): empty sequence",
            ),
            (
                b">a\nAC\0GT\n".to_vec(),
                Fasta,
                false,
                "does not look like a text sequence file (line 2)",
            ),
            (
                b"AC\n\x9c\x8b\xf0\x01\n".to_vec(),
                Text,
                false,
                "does not look like a text sequence file (line 2)",
            ),
            (
                b"sequence\n\x00\x01".to_vec(),
                Csv,
                false,
                "does not look like a text sequence file (line 2)",
            ),
            (
                b"\x1f\x8bgarbage".to_vec(),
                Fasta,
                true,
                "corrupt or truncated gzip",
            ),
            (
                b"\x1f\x8bgarbage".to_vec(),
                Csv,
                true,
                "corrupt or truncated gzip",
            ),
            (
                b">a\nACGT\n".to_vec(),
                Fasta,
                true,
                "corrupt or truncated gzip",
            ),
        ];
        for (bytes, format, gzip, want) in cases {
            let msg = err(&bytes, "in.x", format, gzip);
            assert!(msg.contains("in.x"), "{msg}");
            assert!(msg.contains(want), "{format:?}: {msg:?} lacks {want:?}");
        }
        let whole = gz(&b">a\nACGT\n".repeat(200));
        for cut in [whole.len() - 4, whole.len() / 2, 12] {
            let msg = err(&whole[..cut], "t.fa.gz", Fasta, true);
            assert!(msg.starts_with("t.fa.gz: "), "{msg}");
            assert!(msg.contains("gzip"), "{msg}");
            let msg = err(&whole[..cut], "t.txt.gz", Text, true);
            assert!(msg.starts_with("t.txt.gz: "), "{msg}");
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn read_path_detects_by_name() {
        let dir = std::env::temp_dir().join(format!("dnagpu-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("reads.fa.gz");
        std::fs::write(&path, gz(b">r1\nACGN\n")).unwrap();
        let out = read_path(path.to_str().unwrap(), InvalidPolicy::Error).unwrap();
        assert_eq!(out.records[0].id, "r1");
        assert_eq!(out.warnings.len(), 1);
        let missing = dir.join("missing.fa");
        let msg = read_path(missing.to_str().unwrap(), InvalidPolicy::Error)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("missing.fa"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
