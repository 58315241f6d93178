//! A genome FASTA read many times in bounded memory (`dnagpu vep` on a VCF
//! of any size): [`index`] learns every chromosome's length in one pass
//! (checking the symbols of the chromosomes asked for), then a [`Cursor`]
//! fetches one chunk of regions after another. It goes on from where the
//! last chunk stopped when the new regions lie ahead (a VCF sorted as the
//! genome is: one pass in all) and reads the file again from the start
//! only when they do not (an unsorted VCF: at most one pass a chunk).
//! What it fetches is what [`super::regions::fetch`] would.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use super::lines::{FastaLines, Line};
use super::regions::{
    bad_symbol, line_bases_of, repeated_header, take_line, Current, Fetched, Region,
};
use crate::error::Result;

/// Every chromosome of a genome: its length and its place in the file.
#[derive(Clone, Debug, Default)]
pub struct GenomeIndex {
    /// Name -> (0-based place among the headers, length in bases).
    chroms: HashMap<String, (usize, u64)>,
}

impl GenomeIndex {
    /// Whether the genome has `chrom`.
    pub fn has(&self, chrom: &str) -> bool {
        self.chroms.contains_key(chrom)
    }

    /// The length of `chrom`, if the genome has it.
    pub fn len_of(&self, chrom: &str) -> Option<u64> {
        self.chroms.get(chrom).map(|&(_, n)| n)
    }

    fn place(&self, chrom: &str) -> Option<usize> {
        self.chroms.get(chrom).map(|&(i, _)| i)
    }
}

/// One pass over a FASTA: every chromosome's length; the symbols of those
/// in `check` are checked as [`super::regions::fetch`] checks them (the
/// others only counted), headers must be unique.
pub fn index<R: BufRead>(reader: R, origin: &str, check: &HashSet<String>) -> Result<GenomeIndex> {
    let mut index = GenomeIndex::default();
    let mut headers: HashMap<String, usize> = HashMap::new();
    let mut lines = FastaLines::new(reader, origin);
    // The chromosome being read, whether it is checked, its bases so far.
    let mut current: Option<(String, bool, u64)> = None;
    let mut bases = Vec::new();
    let end = |index: &mut GenomeIndex, c: Option<(String, bool, u64)>| {
        if let Some((id, _, n)) = c {
            let place = index.chroms.len();
            index.chroms.insert(id, (place, n));
        }
    };
    while let Some(line) = lines.next_line()? {
        match line {
            Line::Blank => {}
            Line::Header(id) => {
                let id = id.to_owned();
                if let Some(first) = headers.insert(id.clone(), lines.line()) {
                    return Err(repeated_header(origin, lines.line(), &id, first));
                }
                end(&mut index, current.take());
                let checked = check.contains(&id);
                current = Some((id, checked, 0));
            }
            Line::Data(text) => {
                let Some((id, checked, n)) = current.as_mut() else {
                    return Err(lines.invalid("sequence data before the first '>' header"));
                };
                if *checked {
                    if let Err(bad) = line_bases_of(text, &mut bases) {
                        return Err(bad_symbol(origin, lines.line(), Some(id), bad));
                    }
                    *n += bases.len() as u64;
                } else {
                    *n += bases_in(text);
                }
            }
        }
    }
    end(&mut index, current);
    Ok(index)
}

/// Opens the genome from its start, for each pass.
pub type Open<'a> = Box<dyn Fn() -> Result<Box<dyn BufRead + 'a>> + 'a>;

/// Reads regions from a genome chunk after chunk, going on where the last
/// chunk stopped when it can (see the module docs).
pub struct Cursor<'a> {
    open: Open<'a>,
    origin: String,
    index: &'a GenomeIndex,
    lines: Option<FastaLines<Box<dyn BufRead + 'a>>>,
    /// The chromosome being read (its place and name), if any.
    chrom: Option<(usize, String)>,
    /// Bases of it read so far.
    pos: u64,
    /// Its bases `pos − recent.len() .. pos`: from the start of the last
    /// region begun, so that the next chunk of a sorted VCF, whose windows
    /// overlap this one's, need not go back.
    recent: Vec<u8>,
    /// Times the genome was opened.
    passes: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor over the genome `open` reads (`origin` names it) that
    /// `index` describes.
    pub fn new(open: Open<'a>, origin: &str, index: &'a GenomeIndex) -> Self {
        Self {
            open,
            origin: origin.to_owned(),
            index,
            lines: None,
            chrom: None,
            pos: 0,
            recent: Vec::new(),
            passes: 0,
        }
    }

    /// How many times the genome was read from its start.
    pub fn passes(&self) -> usize {
        self.passes
    }

    /// What the genome holds of each region (`None`: a chromosome it does
    /// not have), as [`super::regions::fetch`] gives it.
    pub fn fetch(&mut self, regions: &[Region]) -> Result<Vec<Option<Fetched>>> {
        let mut out: Vec<Option<Fetched>> = regions
            .iter()
            .map(|r| {
                self.index.len_of(&r.chrom).map(|n| Fetched {
                    bases: String::new(),
                    chrom_len: n,
                })
            })
            .collect();
        // Clipped at the chromosome's end: a region is done when read to
        // there. Regions with no bases need no reading.
        let clipped: Vec<Region> = regions
            .iter()
            .map(|r| Region {
                end: r.end.min(self.index.len_of(&r.chrom).unwrap_or(0)),
                ..r.clone()
            })
            .collect();
        let mut by_place: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, r) in clipped.iter().enumerate() {
            if let (Some(place), true) = (self.index.place(&r.chrom), r.start < r.end) {
                by_place.entry(place).or_default().push(i);
            }
        }
        if by_place.is_empty() {
            return Ok(out);
        }
        for order in by_place.values_mut() {
            order.sort_by_key(|&i| clipped[i].start);
        }
        if !self.can_go_on(&by_place, &clipped) {
            self.lines = Some(FastaLines::new((self.open)()?, &self.origin));
            self.passes += 1;
            self.chrom = None;
            self.pos = 0;
            self.recent.clear();
        }
        let mut left = by_place.len();
        let mut current: Option<Current<'_>> = None;
        // Going on inside a chromosome: its regions start in `recent`.
        if let Some((place, _)) = &self.chrom {
            if let Some(order) = by_place.get(place) {
                let mut cur = Current {
                    order,
                    next: 0,
                    active: Vec::new(),
                    pos: self.pos - self.recent.len() as u64,
                };
                let recent = std::mem::take(&mut self.recent);
                take_line(&mut cur, &recent, &clipped, &mut out);
                self.recent = recent;
                self.keep_recent(&cur, &clipped);
                if done(&cur) {
                    left -= 1;
                }
                current = Some(cur);
            }
        }
        let mut bases = Vec::new();
        let lines = self.lines.as_mut().expect("opened above");
        while left > 0 {
            let Some(line) = lines.next_line()? else {
                break;
            };
            match line {
                Line::Blank => {}
                Line::Header(id) => {
                    let place = self.index.place(id).unwrap_or(usize::MAX);
                    self.chrom = Some((place, id.to_owned()));
                    self.pos = 0;
                    self.recent.clear();
                    current = by_place.get(&place).map(|order| Current {
                        order,
                        next: 0,
                        active: Vec::new(),
                        pos: 0,
                    });
                }
                Line::Data(text) => {
                    match current.as_mut().filter(|c| !done(c)) {
                        Some(cur) => {
                            if let Err(bad) = line_bases_of(text, &mut bases) {
                                let chrom = self.chrom.as_ref().map(|(_, c)| c.as_str());
                                return Err(bad_symbol(&self.origin, lines.line(), chrom, bad));
                            }
                            take_line(cur, &bases, &clipped, &mut out);
                            self.pos = cur.pos;
                            self.recent.extend_from_slice(&bases);
                            // Borrowing self whole is not possible while
                            // `lines` is borrowed: trim in place.
                            keep_from(&mut self.recent, self.pos, cur, &clipped);
                            if done(cur) {
                                left -= 1;
                            }
                        }
                        None => {
                            self.pos += bases_in(text);
                            self.recent.clear();
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether every region lies ahead of where reading stopped (or in
    /// `recent`).
    fn can_go_on(&self, by_place: &HashMap<usize, Vec<usize>>, regions: &[Region]) -> bool {
        if self.lines.is_none() {
            return false;
        }
        let Some((here, _)) = &self.chrom else {
            return true;
        };
        let kept_from = self.pos - self.recent.len() as u64;
        by_place.iter().all(|(place, order)| {
            place > here || (place == here && regions[order[0]].start >= kept_from)
        })
    }

    fn keep_recent(&mut self, cur: &Current<'_>, regions: &[Region]) {
        keep_from(&mut self.recent, self.pos, cur, regions);
    }
}

/// The bases of a sequence line not read into memory (its symbols
/// unchecked: a chromosome no region needs).
fn bases_in(text: &str) -> u64 {
    text.bytes().filter(|b| !b.is_ascii_whitespace()).count() as u64
}

/// Whether every region of the chromosome has all its bases.
fn done(cur: &Current<'_>) -> bool {
    cur.next == cur.order.len() && cur.active.is_empty()
}

/// Trims `recent` (the bases up to `pos`) to those a region still to begin
/// may need: from the start of the last region begun while one is open or
/// every region of the chromosome has begun (the next chunk's, sorted,
/// start there or later); from the next region's start while none is open
/// (every later region, this chunk's or the next's, starts there or
/// later), so the gap between sparse regions is never held.
fn keep_from(recent: &mut Vec<u8>, pos: u64, cur: &Current<'_>, regions: &[Region]) {
    let from = if cur.active.is_empty() && cur.next < cur.order.len() {
        regions[cur.order[cur.next]].start.min(pos)
    } else {
        match cur.next {
            0 => pos,
            n => regions[cur.order[n - 1]].start.min(pos),
        }
    };
    let keep = (pos - from) as usize;
    if recent.len() > keep {
        recent.drain(..recent.len() - keep);
        // A long stretch once kept gives its memory back.
        if recent.capacity() > 2 * keep + (1 << 20) {
            recent.shrink_to(2 * keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::regions::fetch;

    use Region as R;

    const FA: &[u8] = b">chr2 desc\nACGTA\ncgtac\n\n>chr1\nTTTT\nGG\n>chr3\nAAAA\nCCCC\nGGGG\n";

    fn cursor_over<'a>(index: &'a GenomeIndex) -> Cursor<'a> {
        Cursor::new(Box::new(|| Ok(Box::new(FA) as _)), "g.fa", index)
    }

    #[test]
    fn index_lengths_and_checks() {
        let all: HashSet<String> = ["chr1", "chr2", "chr3"].map(String::from).into();
        let ix = index(FA, "g.fa", &all).unwrap();
        assert_eq!(ix.len_of("chr2"), Some(10));
        assert_eq!(ix.len_of("chr1"), Some(6));
        assert_eq!(ix.len_of("chr3"), Some(12));
        assert!(!ix.has("chrX"));
        let bad = b">a\nAC\n>b\nA-C\n";
        let only_a: HashSet<String> = ["a".to_string()].into();
        // Only the chromosomes asked for are checked.
        assert_eq!(
            index(&bad[..], "g.fa", &only_a).unwrap().len_of("b"),
            Some(3)
        );
        let both: HashSet<String> = ["a", "b"].map(String::from).into();
        let msg = index(&bad[..], "g.fa", &both).unwrap_err().to_string();
        assert!(
            msg.contains("g.fa:4: chromosome `b`: `-` (column 2)"),
            "{msg}"
        );
        let msg = index(&b">a\nA\n>a\nC\n"[..], "g.fa", &both)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 3: chromosome `a` again"), "{msg}");
    }

    /// Chunks of regions fetched one after another give what one `fetch`
    /// gives each; in genome order the file is read once.
    #[test]
    fn chunks_match_fetch_and_sorted_chunks_read_once() {
        let all: HashSet<String> = ["chr1", "chr2", "chr3"].map(String::from).into();
        let ix = index(FA, "g.fa", &all).unwrap();
        let sorted = vec![
            R::new("chr2", 0, 3),
            R::new("chr2", 2, 7),
            R::new("chr2", 3, 12),
            R::new("chr1", 1, 4),
            R::new("chrX", 0, 2),
            R::new("chr1", 3, 5),
            R::new("chr3", 0, 1),
            R::new("chr3", 5, 9),
            R::new("chr3", 7, 11),
            R::new("chr3", 8, 20),
            R::new("chr3", 30, 40),
        ];
        let want = fetch(FA, "g.fa", &sorted).unwrap();
        for size in 1..=sorted.len() {
            let mut c = cursor_over(&ix);
            let mut got = Vec::new();
            for chunk in sorted.chunks(size) {
                got.extend(c.fetch(chunk).unwrap());
            }
            assert_eq!(got, want, "chunks of {size}");
            assert_eq!(c.passes(), 1, "chunks of {size}");
        }
        // Out of order: read again from the start, still right.
        let mut shuffled = sorted.clone();
        shuffled.reverse();
        let want = fetch(FA, "g.fa", &shuffled).unwrap();
        let mut c = cursor_over(&ix);
        let got: Vec<_> = shuffled
            .chunks(2)
            .flat_map(|ch| c.fetch(ch).unwrap())
            .collect();
        assert_eq!(got, want);
        assert!(c.passes() > 1);
    }

    /// Two regions far apart in one chunk: the bases between them are not
    /// held, and the next chunk, starting inside the last region, still
    /// needs no second pass.
    #[test]
    fn the_gap_between_sparse_regions_is_not_held() {
        let line = "ACGTACGTAC".repeat(6);
        let genome = format!(">c\n{}", format!("{line}\n").repeat(2000)); // 120 kbp
        let all: HashSet<String> = ["c".to_string()].into();
        let ix = index(genome.as_bytes(), "g.fa", &all).unwrap();
        let bytes = genome.as_bytes();
        let mut c = Cursor::new(Box::new(move || Ok(Box::new(bytes) as _)), "g.fa", &ix);
        let first = [R::new("c", 100, 140), R::new("c", 100_000, 100_040)];
        let then = [R::new("c", 100_010, 100_030), R::new("c", 110_000, 110_001)];
        let want = fetch(bytes, "g.fa", &[&first[..], &then[..]].concat()).unwrap();
        let mut got = c.fetch(&first).unwrap();
        // Its capacity: the most it held at once (~100 kbp before this was fixed).
        assert!(
            c.recent.capacity() < 10_000,
            "{} bases held",
            c.recent.capacity()
        );
        got.extend(c.fetch(&then).unwrap());
        assert_eq!(got, want);
        assert_eq!(c.passes(), 1);
    }
}
