//! Sequence inputs: FASTA, CSV and plain text, plain or gzipped, as embed,
//! classify, fine-tuning and GUE read them (`read_records`); FASTA also as
//! tokenizer training (`FastaSequences`) and pretraining (the streamed
//! corpus) read it, which must agree with the record reader.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::{write::GzEncoder, Compression};

use super::ORIGIN;
use crate::data::alphabet::{symbol, Symbol};
use crate::data::open::is_gzip;
use crate::data::{
    read_records, sniff, FastaSequences, Format, InvalidPolicy, ReadOutput, Record, StreamedInput,
};
use crate::error::Result;
use crate::train::corpus::{Chunks, CorpusOptions};

/// How much of a gzip stream `sniff` decompresses: past it, the sniffed
/// format of a compressed input may differ from the plain one's.
const SNIFFED: usize = 64 * 1024;

pub fn fasta(bytes: &[u8]) {
    let strict = read(bytes, Format::Fasta);
    streams_agree(bytes, &strict);
}

pub fn csv(bytes: &[u8]) {
    let _ = read(bytes, Format::Csv);
}

pub fn text(bytes: &[u8]) {
    let _ = read(bytes, Format::Text);
}

/// Reads `bytes` under both policies (gzip known by its magic bytes, as
/// `read_path` does) and compressed; returns the strict reading.
fn read(bytes: &[u8], format: Format) -> Result<ReadOutput> {
    let gzip = is_gzip(bytes);
    let strict = read_records(bytes, ORIGIN, format, gzip, InvalidPolicy::Error);
    let lenient = read_records(bytes, ORIGIN, format, gzip, InvalidPolicy::Skip);
    for read in [&strict, &lenient] {
        match read {
            Ok(out) => check_records(&out.records),
            Err(e) => assert!(e.to_string().contains(ORIGIN), "unnamed input: {e}"),
        }
    }
    if let Ok(out) = &strict {
        let skipping =
            lenient.expect("skipping invalid records fails where reading strictly does not");
        assert_eq!(out.records, skipping.records);
        assert_eq!(out.warnings, skipping.warnings);
        assert_eq!(skipping.skipped, 0);
    }
    streamed_agrees(bytes, format, &strict);
    let (plain_format, _) = sniff(bytes);
    if !gzip && bytes.len() <= SNIFFED {
        // Compression changes nothing but the bytes.
        let packed = gz(bytes);
        assert_eq!(sniff(&packed), (plain_format, true));
        let unpacked = read_records(&packed, ORIGIN, format, true, InvalidPolicy::Error);
        assert_eq!(outcome(&unpacked), outcome(&strict));
    }
    strict
}

/// What a successful read promises: records in input order on distinct
/// lines, unique non-empty ids, non-empty sequences of upper-case bases
/// and ambiguity codes only (`U` read as `T`), labels absent or non-empty.
fn check_records(records: &[Record]) {
    assert!(!records.is_empty(), "a read without records succeeded");
    let mut ids = std::collections::HashSet::new();
    let mut last_line = 0;
    for r in records {
        assert!(!r.seq.is_empty(), "record {:?} is empty", r.id);
        let normal = |b: u8| matches!(symbol(b), Symbol::Base(u) | Symbol::Ambiguous(u) if u == b);
        assert!(r.seq.bytes().all(normal), "record {:?}: {:?}", r.id, r.seq);
        assert!(
            !r.id.is_empty() && ids.insert(r.id.as_str()),
            "id {:?}",
            r.id
        );
        assert!(r.line > last_line, "record {:?} at line {}", r.id, r.line);
        last_line = r.line;
        assert_ne!(r.label.as_deref(), Some(""));
    }
}

fn outcome(read: &Result<ReadOutput>) -> std::result::Result<(&[Record], &[String]), String> {
    match read {
        Ok(out) => Ok((&out.records, &out.warnings)),
        Err(e) => Err(e.to_string()),
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// embed and classify read a file in two passes, streamed: the same
/// records, warnings and errors as reading it whole.
fn streamed_agrees(bytes: &[u8], format: Format, strict: &Result<ReadOutput>) {
    let ext = match format {
        Format::Fasta => "fa",
        Format::Csv => "csv",
        Format::Text => "txt",
    };
    let file = TempFile::with_extension(bytes, ext);
    let name = file.name();
    let streamed = || -> Result<ReadOutput> {
        let input = StreamedInput::open(&name)?;
        let mut warnings = Vec::new();
        let scan = input.scan(InvalidPolicy::Error, &mut |w| warnings.push(w))?;
        let records: Vec<Record> = input
            .records(InvalidPolicy::Error, &scan)?
            .collect::<Result<_>>()?;
        assert_eq!(scan.records, records.len());
        Ok(ReadOutput {
            records,
            warnings,
            skipped: scan.skipped,
        })
    };
    let streamed = streamed();
    let named = |r: &Result<ReadOutput>| match r {
        Ok(out) => Ok((
            out.records.clone(),
            out.warnings
                .iter()
                .map(|w| w.replace(&name, ORIGIN))
                .collect::<Vec<_>>(),
        )),
        Err(e) => Err(e.to_string().replace(&name, ORIGIN)),
    };
    assert_eq!(named(&streamed), named(strict), "streamed reading differs");
}

/// Tokenizer training takes the same sequences as the record reader, and
/// pretraining the same bases (its pieces end at ambiguity codes).
fn streams_agree(bytes: &[u8], strict: &Result<ReadOutput>) {
    let file = TempFile::new(bytes);
    let streamed: Result<Vec<String>> =
        FastaSequences::open(&[file.name()]).and_then(|seqs| seqs.collect());
    match (strict, &streamed) {
        (Ok(out), Ok(seqs)) => {
            assert!(out.records.iter().map(|r| &r.seq).eq(seqs.iter()));
        }
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("tokenizer training refuses what embed reads: {e}"),
        (Err(e), Ok(_)) => panic!("tokenizer training reads what embed refuses: {e}"),
    }
    let Ok(out) = strict else { return };
    let opts = CorpusOptions {
        chunk_bp: usize::MAX,
        min_bp: 1,
    };
    let mut chunks = Chunks::new(std::slice::from_ref(&file.0), opts)
        .expect("pretraining opens what embed reads");
    let pieces: Vec<String> = chunks
        .by_ref()
        .collect::<Result<_>>()
        .expect("pretraining refuses what embed reads");
    let all = out.records.iter().flat_map(|r| r.seq.bytes());
    let bases: Vec<u8> = all.clone().filter(|b| b"ACGT".contains(b)).collect();
    assert_eq!(pieces.concat().as_bytes(), bases);
    let stats = &chunks.stats;
    assert_eq!(stats.records, out.records.len() as u64);
    assert_eq!(stats.ambiguous, (all.count() - bases.len()) as u64);
}

/// A file holding one input, removed on drop; unique per process and call
/// (the replay test runs targets on several threads).
struct TempFile(PathBuf);

impl TempFile {
    fn new(bytes: &[u8]) -> Self {
        Self::with_extension(bytes, "fa")
    }

    fn with_extension(bytes: &[u8], ext: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("dnagpu-fuzz-{}-{n}.{ext}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, bytes).expect("writing a temporary file");
        Self(path)
    }

    fn name(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
