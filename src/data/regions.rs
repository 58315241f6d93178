//! Stretches of a genome FASTA (plain or gzipped, any size) fetched in one
//! streaming pass over the shared line reader: only the requested bases
//! are kept, so a 3 Gbp genome costs the memory of the regions asked for,
//! whatever the order of its chromosomes or of the requests. Bases of the
//! chromosomes asked for are checked against the one alphabet (upper-cased,
//! `U` read as `T`, IUPAC codes kept); anything else is an error naming the
//! file, line and chromosome. Reading stops once every chromosome asked
//! for has ended.

use std::collections::HashMap;
use std::io::BufRead;

use super::alphabet::{symbol, Symbol};
use super::lines::{FastaLines, Line};
use crate::error::{Error, Result};

/// A stretch of one chromosome: bases `start..end` (0-based); `end` may
/// pass the chromosome's end (the result is clipped there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub chrom: String,
    pub start: u64,
    pub end: u64,
}

impl Region {
    pub fn new(chrom: &str, start: u64, end: u64) -> Self {
        Self {
            chrom: chrom.into(),
            start,
            end,
        }
    }
}

/// What the genome holds of a [`Region`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// Bases `start..min(end, chrom_len)`, upper case (empty when the
    /// region starts past the chromosome's end).
    pub bases: String,
    /// The chromosome's length.
    pub chrom_len: u64,
}

/// Fetches `regions` from a FASTA file (`-` is stdin); gzip by its magic
/// bytes. `None` for a region whose chromosome the file does not have.
#[cfg(not(target_arch = "wasm32"))]
pub fn fetch_path(path: &std::path::Path, regions: &[Region]) -> Result<Vec<Option<Fetched>>> {
    let opened = super::open::open_stream(path)?;
    fetch(opened.reader, &opened.name, regions)
}

/// The chromosome being read.
pub(super) struct Current<'a> {
    /// Its regions, by start.
    pub order: &'a [usize],
    /// The next region of `order` not yet started.
    pub next: usize,
    /// Regions started and not yet ended.
    pub active: Vec<usize>,
    /// Bases read so far.
    pub pos: u64,
}

/// [`fetch_path`] on any reader; `origin` names it in messages.
pub fn fetch<R: BufRead>(
    reader: R,
    origin: &str,
    regions: &[Region],
) -> Result<Vec<Option<Fetched>>> {
    let mut by_chrom: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in regions.iter().enumerate() {
        by_chrom.entry(r.chrom.as_str()).or_default().push(i);
    }
    for order in by_chrom.values_mut() {
        order.sort_by_key(|&i| regions[i].start);
    }
    let mut out: Vec<Option<Fetched>> = vec![None; regions.len()];
    let mut to_read = by_chrom.len();
    let mut headers: HashMap<String, usize> = HashMap::new();
    let mut lines = FastaLines::new(reader, origin);
    let mut chrom: Option<String> = None;
    let mut current: Option<Current<'_>> = None;
    let mut line_bases = Vec::new();
    while to_read > 0 {
        let Some(line) = lines.next_line()? else {
            break;
        };
        match line {
            Line::Blank => {}
            Line::Header(id) => {
                if let Some(cur) = current.take() {
                    finish(&cur, &mut out);
                    to_read -= 1;
                }
                let id = id.to_owned();
                if let Some(first) = headers.insert(id.clone(), lines.line()) {
                    return Err(repeated_header(origin, lines.line(), &id, first));
                }
                current = by_chrom.get(id.as_str()).map(|order| {
                    for &i in order {
                        out[i] = Some(Fetched {
                            bases: String::new(),
                            chrom_len: 0,
                        });
                    }
                    Current {
                        order,
                        next: 0,
                        active: Vec::new(),
                        pos: 0,
                    }
                });
                chrom = Some(id);
            }
            Line::Data(_) if chrom.is_none() => {
                return Err(lines.invalid("sequence data before the first '>' header"));
            }
            Line::Data(text) => {
                let Some(cur) = current.as_mut() else {
                    continue;
                };
                if let Err(bad) = line_bases_of(text, &mut line_bases) {
                    return Err(bad_symbol(origin, lines.line(), chrom.as_deref(), bad));
                }
                take_line(cur, &line_bases, regions, &mut out);
            }
        }
    }
    if let Some(cur) = current.take() {
        finish(&cur, &mut out);
    }
    Ok(out)
}

/// One sequence line's bases, upper case, into `out` (cleared first), or
/// the first symbol outside the alphabet (its column and character).
pub(super) fn line_bases_of(
    text: &str,
    out: &mut Vec<u8>,
) -> std::result::Result<(), (usize, char)> {
    out.clear();
    for (col, c) in text.chars().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        match u8::try_from(c).map_or(Symbol::Invalid, symbol) {
            Symbol::Base(b) | Symbol::Ambiguous(b) => out.push(b),
            Symbol::Invalid => return Err((col, c)),
        }
    }
    Ok(())
}

/// The error for a symbol [`line_bases_of`] refused.
pub(super) fn bad_symbol(
    origin: &str,
    line: usize,
    chrom: Option<&str>,
    (col, c): (usize, char),
) -> Error {
    Error::Invalid(format!(
        "{origin}:{line}: chromosome `{}`: `{}` (column {}) is not a DNA symbol",
        chrom.unwrap_or("?"),
        c.escape_default(),
        col + 1
    ))
}

/// A header's id seen before (`first`, its line) is an error.
pub(super) fn repeated_header(origin: &str, line: usize, id: &str, first: usize) -> Error {
    Error::Invalid(format!(
        "{origin}: line {line}: chromosome `{id}` again (first at line {first}): its name must be unique"
    ))
}

/// Adds one line's bases (upper case) to the regions they fall in.
pub(super) fn take_line(
    cur: &mut Current<'_>,
    bases: &[u8],
    regions: &[Region],
    out: &mut [Option<Fetched>],
) {
    let (a, b) = (cur.pos, cur.pos + bases.len() as u64);
    while cur.next < cur.order.len() && regions[cur.order[cur.next]].start < b {
        cur.active.push(cur.order[cur.next]);
        cur.next += 1;
    }
    for &i in &cur.active {
        let r = &regions[i];
        let (lo, hi) = (r.start.max(a), r.end.min(b));
        if lo < hi {
            let piece = &bases[(lo - a) as usize..(hi - a) as usize];
            if let Some(f) = out[i].as_mut() {
                // Only ASCII letters were pushed.
                f.bases.extend(piece.iter().map(|&c| char::from(c)));
            }
        }
    }
    cur.active.retain(|&i| regions[i].end > b);
    cur.pos = b;
}

/// The chromosome has ended: its length is known.
fn finish(cur: &Current<'_>, out: &mut [Option<Fetched>]) {
    for &i in cur.order {
        if let Some(f) = out[i].as_mut() {
            f.chrom_len = cur.pos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Region as R;

    #[test]
    fn regions_across_lines_clipped_at_the_end() {
        let fa = b">chr2 desc\nACGTA\ncgtac\n\n>chr1\nTTTT\nGG\n>chr3\nAAAA\n";
        let regions = [
            R::new("chr1", 2, 100),
            R::new("chr2", 3, 7),
            R::new("chrX", 0, 5),
            R::new("chr2", 0, 10),
            R::new("chr2", 12, 15),
        ];
        let got = fetch(&fa[..], "g.fa", &regions).unwrap();
        let f = |i: usize| got[i].as_ref().map(|f| (f.bases.as_str(), f.chrom_len));
        assert_eq!(f(0), Some(("TTGG", 6)));
        assert_eq!(f(1), Some(("TACG", 10)));
        assert_eq!(f(2), None);
        assert_eq!(f(3), Some(("ACGTACGTAC", 10)));
        assert_eq!(f(4), Some(("", 10)));
    }

    #[test]
    fn bad_genomes_are_named() {
        let r = [R::new("b", 0, 3)];
        for (fa, want) in [
            (&b"AC\n>b\nAC\n"[..], "g.fa: line 1: sequence data before"),
            (
                b">a\nAC\n>b\nAC\n>a\nG\n",
                "line 5: chromosome `a` again (first at line 1)",
            ),
            (b">b\nAC-T\n", "g.fa:2: chromosome `b`: `-` (column 3)"),
        ] {
            let msg = fetch(fa, "g.fa", &r).unwrap_err().to_string();
            assert!(msg.contains(want), "{msg:?} lacks {want:?}");
        }
        // Chromosomes not asked for are not read (their symbols unchecked).
        let got = fetch(&b">b\nACG\n>c\nA-\n"[..], "g.fa", &r).unwrap();
        assert_eq!(got[0].as_ref().unwrap().bases, "ACG");
    }
}
