//! Variant inputs: a VCF (`data::vcf::Vcf::parse`) and what `dnagpu vep`
//! builds from it before any model runs: each record's genome region
//! (`data::regions::fetch`, from a genome made for its chromosomes), the
//! REF/ALT windows, and the annotated VCF copy, which reads back to the
//! same records.

use super::ORIGIN;
use crate::data::alphabet::{symbol, Symbol};
use crate::data::regions::fetch;
use crate::data::vcf::{Allele, Vcf};
use crate::vep::output::{write, Format};
use crate::vep::{plan, regions, Mismatch, Scores};

/// Bases of each chromosome in the made-up genome.
const CHROM_BP: usize = 40;

pub fn vcf(bytes: &[u8]) {
    let vcf = match Vcf::parse(bytes, ORIGIN) {
        Ok(v) => v,
        Err(e) => {
            assert!(e.to_string().contains(ORIGIN), "unnamed input: {e}");
            return;
        }
    };
    let upper = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| matches!(symbol(b), Symbol::Base(u) | Symbol::Ambiguous(u) if u == b))
    };
    let mut last_line = 0;
    assert!(!vcf.records.is_empty(), "a VCF without records was read");
    for r in &vcf.records {
        assert!(r.pos >= 1 && !r.chrom.is_empty() && r.line > last_line);
        last_line = r.line;
        assert!(upper(&r.reference), "REF {:?}", r.reference);
        for a in &r.alts {
            if let Allele::Bases(b) = a {
                assert!(upper(b), "ALT {b:?}");
            }
        }
    }

    // A genome holding every chromosome named (when its name can be a
    // FASTA id), then the windows of a short flank.
    let mut genome = String::new();
    let mut names: Vec<&str> = vcf.records.iter().map(|r| r.chrom.as_str()).collect();
    names.sort();
    names.dedup();
    for (i, name) in names.iter().enumerate() {
        let bases: String = (0..CHROM_BP)
            .map(|j| char::from(b"ACGT"[(i + j * 7) % 4]))
            .collect();
        genome.push_str(&format!(">{name}\n{bases}\n"));
    }
    let flank = 3;
    let got = match fetch(genome.as_bytes(), "genome.fa", &regions(&vcf, flank)) {
        Ok(g) => g,
        Err(e) => {
            assert!(e.to_string().contains("genome.fa"), "{e}");
            return;
        }
    };
    let p = match plan(&vcf, &got, "genome.fa", flank, Mismatch::Skip) {
        Ok(p) => p,
        Err(e) => {
            assert!(e.to_string().contains(ORIGIN), "unnamed input: {e}");
            return;
        }
    };
    for a in &p.alleles {
        let rec = &vcf.records[a.record];
        let Allele::Bases(alt) = &rec.alts[a.alt] else {
            panic!("a symbolic allele has windows");
        };
        assert_eq!(a.reference.seq[a.reference.allele.clone()], rec.reference);
        assert_eq!(&a.alternate.seq[a.alternate.allele.clone()], alt.as_str());
        let rev = a.alternate.reverse_complement();
        assert_eq!(rev.reverse_complement(), a.alternate);
    }

    let scores: Vec<Scores> = p
        .alleles
        .iter()
        .map(|_| Scores {
            llr: -1.5,
            llr_fwd: -1.0,
            llr_rev: -2.0,
            embedding_distance: 0.25,
            p_ref: None,
            p_alt: None,
        })
        .collect();
    let csv = write(Format::Csv, &vcf, &p, &scores, None).expect("CSV of scores");
    assert_eq!(csv.lines().count(), p.alleles.len() + 1);
    let copy = write(Format::Vcf, &vcf, &p, &scores, None).expect("VCF of scores");
    let again = Vcf::parse(copy.as_bytes(), ORIGIN).expect("the annotated copy reads back");
    let fields = |v: &Vcf| -> Vec<_> {
        v.records
            .iter()
            .map(|r| {
                (
                    r.chrom.clone(),
                    r.pos,
                    r.id.clone(),
                    r.reference.clone(),
                    r.alts.clone(),
                )
            })
            .collect()
    };
    assert_eq!(fields(&again), fields(&vcf), "the annotated copy's records");
}
