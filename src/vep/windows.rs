//! The windows of each variant: `genome[max(0, p − F) : min(n, p + |REF| + F)]`
//! around the REF allele (p = POS − 1, F the flank, n the chromosome's
//! length), the ALT window with REF replaced by ALT, and the allele's span
//! in each; the reverse strand's by [`Window::reverse_complement`].

use std::ops::Range;

use crate::data::alphabet::reverse_complement;
use crate::data::regions::{Fetched, Region};
use crate::data::vcf::{Allele, Vcf, VcfRecord};
use crate::error::{Error, Result};

/// A window of sequence and where the allele lies in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Upper case.
    pub seq: String,
    /// The allele's bases in `seq`.
    pub allele: Range<usize>,
}

impl Window {
    /// The other strand: the reverse complement, the allele at
    /// `[len − hi, len − lo)`.
    pub fn reverse_complement(&self) -> Window {
        let n = self.seq.len();
        Window {
            seq: reverse_complement(&self.seq),
            allele: n - self.allele.end..n - self.allele.start,
        }
    }
}

/// One ALT allele of a record and its forward-strand windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlleleWindows {
    /// Index of the record in the VCF.
    pub record: usize,
    /// Index of the allele in the record's ALT column.
    pub alt: usize,
    pub reference: Window,
    pub alternate: Window,
}

/// What to do with a record whose REF is not what the genome holds there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// Stop with an error naming the record.
    Error,
    /// Leave the record out and count it.
    Skip,
}

/// The windows of every ALT allele that can be scored, in VCF order, and
/// what was left out.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub alleles: Vec<AlleleWindows>,
    /// ALT alleles that are not sequences (`<DEL>`, `*`, breakends, `.`).
    pub symbolic: usize,
    /// Records left out because REF does not match the genome
    /// ([`Mismatch::Skip`]).
    pub mismatched: usize,
}

/// The stretch of genome each record's windows need (one per record, in
/// VCF order): its REF and `flank` bases either side.
pub fn regions(vcf: &Vcf, flank: usize) -> Vec<Region> {
    vcf.records
        .iter()
        .map(|r| {
            let p = r.pos - 1;
            Region {
                chrom: r.chrom.clone(),
                start: p.saturating_sub(flank as u64),
                end: p
                    .saturating_add(r.reference.len() as u64)
                    .saturating_add(flank as u64),
            }
        })
        .collect()
}

/// Builds the windows of every record from what the genome (`genome`
/// names it) holds of its region (`fetched[i]` for record i, from
/// [`regions`] with the same `flank`).
pub fn plan(
    vcf: &Vcf,
    fetched: &[Option<Fetched>],
    genome: &str,
    flank: usize,
    mismatch: Mismatch,
) -> Result<Plan> {
    let mut plan = Plan::default();
    for (i, (rec, got)) in vcf.records.iter().zip(fetched).enumerate() {
        let Some(got) = got else {
            return Err(Error::Invalid(format!(
                "{}: line {}: chromosome `{}` is not in {genome} (the genome's FASTA headers name its chromosomes)",
                vcf.origin, rec.line, rec.chrom
            )));
        };
        let p = (rec.pos - 1) as usize;
        let start = p.saturating_sub(flank);
        let at = p - start;
        let held = got.bases.get(at..at + rec.reference.len());
        if held != Some(rec.reference.as_str()) {
            let why = match held {
                Some(g) => format!("the genome has {g}"),
                None => format!(
                    "it runs past the end of `{}` ({} bp)",
                    rec.chrom, got.chrom_len
                ),
            };
            if mismatch == Mismatch::Skip {
                plan.mismatched += 1;
                continue;
            }
            return Err(Error::Invalid(format!(
                "{}: line {}: {}: REF {} does not match {genome}: {why} (--skip-mismatch leaves such records out)",
                vcf.origin,
                rec.line,
                describe(rec),
                rec.reference
            )));
        }
        let reference = Window {
            seq: got.bases.clone(),
            allele: at..at + rec.reference.len(),
        };
        for (k, alt) in rec.alts.iter().enumerate() {
            let Allele::Bases(alt) = alt else {
                plan.symbolic += 1;
                continue;
            };
            let seq = [
                &got.bases[..at],
                alt.as_str(),
                &got.bases[at + rec.reference.len()..],
            ]
            .concat();
            plan.alleles.push(AlleleWindows {
                record: i,
                alt: k,
                reference: reference.clone(),
                alternate: Window {
                    seq,
                    allele: at..at + alt.len(),
                },
            });
        }
    }
    Ok(plan)
}

/// A record as messages name it: `chr1:12345 (rs99)`.
pub fn describe(rec: &VcfRecord) -> String {
    if rec.id == "." || rec.id.is_empty() {
        format!("{}:{}", rec.chrom, rec.pos)
    } else {
        format!("{}:{} ({})", rec.chrom, rec.pos, rec.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::regions::fetch;

    fn plan_of(vcf: &str, fasta: &str, flank: usize, mismatch: Mismatch) -> Result<Plan> {
        let vcf = Vcf::parse(vcf.as_bytes(), "v.vcf")?;
        let got = fetch(fasta.as_bytes(), "g.fa", &regions(&vcf, flank))?;
        plan(&vcf, &got, "g.fa", flank, mismatch)
    }

    #[test]
    fn windows_alleles_and_clipping() {
        //        0123456789
        let fa = ">c\nACGTACGTAC\n";
        let vcf = "c\t2\t.\tC\tT,<DEL>\nc\t9\t.\tAC\tA,ACGG\n";
        let p = plan_of(vcf, fa, 3, Mismatch::Error).unwrap();
        assert_eq!(p.symbolic, 1);
        assert_eq!(p.alleles.len(), 3);
        let w = |x: &Window| (x.seq.clone(), x.allele.clone());
        let a = &p.alleles[0];
        // p = 1: window [0, 5), clipped at the start.
        assert_eq!(w(&a.reference), ("ACGTA".into(), 1..2));
        assert_eq!(w(&a.alternate), ("ATGTA".into(), 1..2));
        // p = 8, REF AC: window [5, 10) clipped at the end.
        let d = &p.alleles[1];
        assert_eq!(w(&d.reference), ("CGTAC".into(), 3..5));
        assert_eq!(w(&d.alternate), ("CGTA".into(), 3..4));
        let ins = &p.alleles[2];
        assert_eq!((ins.record, ins.alt), (1, 1));
        assert_eq!(ins.alternate.seq, "CGTACGG");
        assert_eq!(ins.alternate.allele, 3..7);
        let rev = ins.alternate.reverse_complement();
        assert_eq!((rev.seq.as_str(), rev.allele), ("CCGTACG", 0..4));
    }

    #[test]
    fn mismatches_and_unknown_chromosomes() {
        let fa = ">c\nACGTACGTAC\n";
        for (vcf, mismatch, want) in [
            (
                "c\t2\trs7\tG\tT\n",
                Mismatch::Error,
                "v.vcf: line 1: c:2 (rs7): REF G does not match g.fa: the genome has C",
            ),
            (
                "c\t10\t.\tCA\tT\n",
                Mismatch::Error,
                "runs past the end of `c` (10 bp)",
            ),
            (
                "chr9\t2\t.\tC\tT\n",
                Mismatch::Skip,
                "line 1: chromosome `chr9` is not in g.fa",
            ),
        ] {
            let msg = plan_of(vcf, fa, 3, mismatch).unwrap_err().to_string();
            assert!(msg.contains(want), "{msg}");
        }
        let p = plan_of("c\t2\t.\tG\tT\nc\t2\t.\tC\tT\n", fa, 3, Mismatch::Skip).unwrap();
        assert_eq!((p.mismatched, p.alleles.len()), (1, 1));
    }
}
