//! Variant Call Format (VCF 4.x) input, plain or gzipped: the five columns
//! variant scoring needs (CHROM, POS, ID, REF, ALT), each checked with an
//! error naming the file and line. Header lines (`##…`, `#CHROM…`) are
//! kept for writing a scored copy; the other columns are carried as text.
//! Alleles use the one [`super::alphabet`]: bases and IUPAC codes, any case
//! (upper-cased here). ALT alleles that are not sequences — symbolic
//! (`<DEL>`, `<*>`), the spanning deletion `*`, breakends (`A[chr2:5[`)
//! and the missing `.` — are kept as [`Allele::Other`] for the caller to
//! skip and count.

use super::alphabet::{symbol, Symbol};
use super::validate::check_text;
use crate::error::{Error, Result};

/// One ALT allele.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allele {
    /// A sequence of bases (upper case).
    Bases(String),
    /// Not a sequence (symbolic, `*`, a breakend, `.`): as written.
    Other(String),
}

/// One data line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcfRecord {
    pub chrom: String,
    /// 1-based, as written.
    pub pos: u64,
    pub id: String,
    /// Upper case.
    pub reference: String,
    /// In the order of the ALT column.
    pub alts: Vec<Allele>,
    /// 1-based line in the file, for messages.
    pub line: usize,
}

/// A VCF file's text and its records, in file order.
pub struct Vcf {
    /// How messages name the file.
    pub origin: String,
    /// The whole (decompressed) text, without a byte-order mark.
    pub text: String,
    pub records: Vec<VcfRecord>,
}

impl Vcf {
    /// Reads a VCF file (gzip or BGZF by its magic bytes).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_path(path: &std::path::Path) -> Result<Self> {
        use std::io::Read;
        let mut opened = super::open::open_stream(path)?;
        let mut bytes = Vec::new();
        opened
            .reader
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", opened.name)))?;
        Self::parse(&bytes, &opened.name)
    }

    /// Parses the (decompressed) bytes of a VCF; `origin` names it.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self> {
        let text = check_text(bytes, origin)?.to_owned();
        let mut records = Vec::new();
        let mut lines = VcfLines::new(origin);
        for (i, raw) in text.split('\n').enumerate() {
            let l = raw.strip_suffix('\r').unwrap_or(raw);
            if let Some(r) = lines.line(l, i + 1)? {
                records.push(r);
            }
        }
        lines.finish()?;
        Ok(Self {
            origin: origin.to_owned(),
            text,
            records,
        })
    }

    /// Every line of the text with its 1-based number (a final empty
    /// piece after the last newline excluded), line ends removed.
    pub fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        let n = self.text.strip_suffix('\n').unwrap_or(&self.text);
        n.split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
    }
}

/// The checks of a VCF's lines in order, shared by the whole reading
/// ([`Vcf::parse`]) and the streamed one ([`super::vcf_stream`]).
pub struct VcfLines {
    origin: String,
    seen_header: bool,
    records: usize,
}

impl VcfLines {
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            seen_header: false,
            records: 0,
        }
    }

    /// Line number `line` (its line end removed): its record, `None` for a
    /// header or blank line, or the error naming the line.
    pub fn line(&mut self, l: &str, line: usize) -> Result<Option<VcfRecord>> {
        let origin = &self.origin;
        if l.trim().is_empty() {
            return Ok(None);
        }
        if l.starts_with("##") {
            if self.seen_header || self.records > 0 {
                return Err(at(origin, line, "a `##` meta line after the header"));
            }
            return Ok(None);
        }
        if l.starts_with('#') {
            if !l.starts_with("#CHROM") {
                return Err(at(
                    origin,
                    line,
                    "a header line that is not `#CHROM\tPOS\tID\tREF\tALT…`",
                ));
            }
            if self.seen_header || self.records > 0 {
                return Err(at(origin, line, "a second `#CHROM` header line"));
            }
            self.seen_header = true;
            return Ok(None);
        }
        self.records += 1;
        parse_record(l, origin, line).map(Some)
    }

    /// Whether a `#CHROM` line came before the records read so far.
    pub fn has_header(&self) -> bool {
        self.seen_header
    }

    /// At the end: a VCF without records is an error.
    pub fn finish(&self) -> Result<usize> {
        if self.records == 0 {
            return Err(Error::Invalid(format!(
                "{}: no variant records (data lines after the `#CHROM` header)",
                self.origin
            )));
        }
        Ok(self.records)
    }
}

fn at(origin: &str, line: usize, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{origin}: line {line}: {msg}"))
}

fn parse_record(l: &str, origin: &str, line: usize) -> Result<VcfRecord> {
    let cols: Vec<&str> = l.split('\t').collect();
    if cols.len() < 5 {
        let hint = if l.contains(' ') {
            " (VCF columns are separated by tabs, not spaces)"
        } else {
            ""
        };
        return Err(at(
            origin,
            line,
            format!(
                "{} column(s); a VCF record has at least CHROM, POS, ID, REF and ALT{hint}",
                cols.len()
            ),
        ));
    }
    let chrom = cols[0].trim();
    if chrom.is_empty() {
        return Err(at(origin, line, "empty CHROM"));
    }
    let pos = match cols[1].trim().parse::<u64>() {
        Ok(p) if p >= 1 => p,
        _ => {
            return Err(at(
                origin,
                line,
                format!(
                    "POS {:?} is not a position (a whole number from 1)",
                    cols[1]
                ),
            ))
        }
    };
    let reference = bases(cols[3].trim())
        .map_err(|why| at(origin, line, format!("REF {:?}: {why}", cols[3])))?;
    let alt_col = cols[4].trim();
    if alt_col.is_empty() {
        return Err(at(origin, line, "empty ALT (write `.` for none)"));
    }
    let alts = alt_col
        .split(',')
        .map(|a| {
            if a == "." || a == "*" || a.starts_with('<') || a.contains(['[', ']']) {
                Ok(Allele::Other(a.to_owned()))
            } else {
                bases(a)
                    .map(Allele::Bases)
                    .map_err(|why| at(origin, line, format!("ALT {a:?}: {why}")))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(VcfRecord {
        chrom: chrom.to_owned(),
        pos,
        id: cols[2].trim().to_owned(),
        reference,
        alts,
        line,
    })
}

/// An allele's bases, upper case (`U` read as `T`), or why it is not one.
fn bases(allele: &str) -> std::result::Result<String, String> {
    if allele.is_empty() || allele == "." {
        return Err("no bases".to_owned());
    }
    allele
        .bytes()
        .enumerate()
        .map(|(i, b)| match symbol(b) {
            Symbol::Base(u) | Symbol::Ambiguous(u) => Ok(u as char),
            Symbol::Invalid => Err(format!(
                "symbol {:?} at position {} is not a base or IUPAC code",
                allele[i..].chars().next().unwrap_or('?'),
                i + 1
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";

    fn err(body: &str) -> String {
        Vcf::parse(format!("{HEAD}{body}").as_bytes(), "v.vcf")
            .err()
            .expect("an error")
            .to_string()
    }

    #[test]
    fn records_and_alleles() {
        let text = format!(
            "{HEAD}chr1\t5\trs1\tA\tg\t.\t.\t.\r\nchr2\t10\t.\tAC\tA,<DEL>,*,ACT\n\nchr1\t1\tx\tn\tC[chr2:3[\n"
        );
        let v = Vcf::parse(text.as_bytes(), "v.vcf").unwrap();
        assert_eq!(v.records.len(), 3);
        let r = &v.records[1];
        assert_eq!((r.chrom.as_str(), r.pos, r.id.as_str()), ("chr2", 10, "."));
        assert_eq!(r.reference, "AC");
        assert_eq!(
            r.alts,
            [
                Allele::Bases("A".into()),
                Allele::Other("<DEL>".into()),
                Allele::Other("*".into()),
                Allele::Bases("ACT".into())
            ]
        );
        assert_eq!(r.line, 4);
        assert_eq!(v.records[0].alts, [Allele::Bases("G".into())]);
        assert_eq!(v.records[2].reference, "N");
        assert!(matches!(v.records[2].alts[0], Allele::Other(_)));
        assert_eq!(v.lines().count(), 6);
    }

    #[test]
    fn bad_lines_are_named() {
        for (body, want) in [
            ("chr1 5 . A G\n", "line 3: 1 column(s)"),
            ("chr1 5 . A G\n", "separated by tabs"),
            ("chr1\t0\t.\tA\tG\n", "line 3: POS \"0\""),
            ("chr1\tx\t.\tA\tG\n", "POS \"x\""),
            (
                "chr1\t5\t.\tA-\tG\n",
                "REF \"A-\": symbol '-' at position 2",
            ),
            ("chr1\t5\t.\t.\tG\n", "REF \".\": no bases"),
            ("chr1\t5\t.\tA\tG,\n", "ALT \"\": no bases"),
            ("chr1\t5\t.\tA\tGX\n", "ALT \"GX\""),
            ("chr1\t5\t.\tA\t\n", "empty ALT"),
            ("\t5\t.\tA\tG\n", "empty CHROM"),
            ("chr1\t5\t.\tA\tG\n##x=1\n", "line 4: a `##` meta line"),
            ("chr1\t5\t.\tA\tG\n#CHROM\n", "second `#CHROM`"),
            ("#chrom\n", "not `#CHROM"),
            ("", "no variant records"),
        ] {
            let msg = err(body);
            assert!(msg.starts_with("v.vcf: "), "{msg}");
            assert!(msg.contains(want), "{body:?}: {msg:?} lacks {want:?}");
        }
        let msg = Vcf::parse(b"chr1\t5\t.\tA\t\xff\n", "v.vcf")
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("v.vcf") && msg.contains("line 1"), "{msg}");
    }
}
