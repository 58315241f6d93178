//! Variant-effect scores (`dnagpu::vep`) against the independent PyTorch
//! reference (scripts/reference/vep_fixtures.py): DNABERT-2 in plain
//! PyTorch, DNABERT and the Nucleotide Transformer v1/v2 through
//! `transformers`, all in f64, on a two-chromosome genome and a VCF with
//! SNVs, an MNV, an insertion, deletions, a multi-allelic record, symbolic
//! alleles and windows clipped at both chromosome ends (tests/fixtures/vep).
//! Token ids and masked sets must be identical; every score column is
//! within the f32 tolerance (rtol 1e-4, atol 1e-5 * the column's largest
//! magnitude) on the CPU backend and on the GPU (lavapipe).

mod common;

use std::path::{Path, PathBuf};

use dnagpu::data::regions::fetch_path;
use dnagpu::data::vcf::Vcf;
use dnagpu::embed::Batching;
use dnagpu::model::io::ModelFiles;
use dnagpu::model::{Encoder, Model};
use dnagpu::testing::{check_close, csv_table, Tol};
use dnagpu::vep::{self, AlleleTokens, Mismatch, Plan, Scorer, Scores};
use dnagpu::Device;

const FLANK: usize = 20;
const MODELS: [&str; 4] = ["tiny", "dnabert_tiny", "nt_v1_tiny", "nt_v2_tiny"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture's VCF, its plan and every allele's tokens for `model`.
fn prepare(files: &ModelFiles) -> (Vcf, Plan, Vec<AlleleTokens>) {
    let dir = fixtures().join("vep");
    let vcf = Vcf::read_path(&dir.join("variants.vcf")).unwrap();
    let got = fetch_path(&dir.join("genome.fa"), &vep::regions(&vcf, FLANK)).unwrap();
    let plan = vep::plan(&vcf, &got, "genome.fa", FLANK, Mismatch::Error).unwrap();
    let max = Encoder::max_positions_of(&files.config, &files.weights);
    let tokens = vep::tokenize(&vcf, &plan.alleles, &files.tokenizer, max, FLANK).unwrap();
    (vcf, plan, tokens)
}

fn score(dev: &Device, name: &str, batch_size: usize) -> (Vec<AlleleTokens>, Vec<Scores>) {
    let files = ModelFiles::open(&fixtures().join(name)).unwrap();
    let (_, plan, tokens) = prepare(&files);
    assert_eq!((plan.alleles.len(), plan.symbolic), (11, 3));
    let model = Model::load(dev, &files.config, &files.weights).unwrap();
    let scorer = Scorer {
        model: &model,
        mask_id: files.tokenizer.mask_id().unwrap(),
        classifier: model.classifier.is_some().then_some(&model),
    };
    let batching = Batching {
        batch_size,
        ..Batching::default()
    };
    let scores = pollster::block_on(vep::score(dev, &scorer, &tokens, batching, |_| {})).unwrap();
    (tokens, scores)
}

/// The reference's CSV: header and rows.
fn reference(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let path = fixtures().join("vep").join(format!("{name}.csv"));
    csv_table(&std::fs::read_to_string(path).unwrap(), b',')
}

fn check(dev: &Device, name: &str) {
    let (_, scores) = score(dev, name, 32);
    let (header, rows) = reference(name);
    assert_eq!(rows.len(), scores.len(), "{name}: one row per allele");
    for (c, col) in header.iter().enumerate().skip(5) {
        let want: Vec<f64> = rows.iter().map(|r| r[c].parse().unwrap()).collect();
        let got: Vec<f32> = scores
            .iter()
            .map(|s| {
                let v = s.values();
                assert_eq!(v.len(), header.len() - 5, "{name}: columns");
                v[c - 5]
            })
            .collect();
        check_close(
            &format!("{name} {col} on {}", dev.name()),
            &got,
            &want,
            Tol::F32,
        )
        .unwrap();
    }
}

#[test]
fn tokens_and_masked_sets_match_the_reference() {
    for name in MODELS {
        let files = ModelFiles::open(&fixtures().join(name)).unwrap();
        let (_, _, tokens) = prepare(&files);
        let path = fixtures().join("vep").join(format!("{name}.json"));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let alleles = json["alleles"].as_array().unwrap();
        assert_eq!(alleles.len(), tokens.len());
        for (a, (t, want)) in tokens.iter().zip(alleles).enumerate() {
            for (w, (got, want)) in t
                .all()
                .iter()
                .zip(want["windows"].as_array().unwrap())
                .enumerate()
            {
                let ids: Vec<u32> = serde_json::from_value(want["ids"].clone()).unwrap();
                let masked: Vec<usize> = serde_json::from_value(want["masked"].clone()).unwrap();
                assert_eq!(got.ids, ids, "{name} allele {a} window {w}: ids");
                assert_eq!(
                    got.masked, masked,
                    "{name} allele {a} window {w}: masked set"
                );
            }
        }
    }
}

#[test]
fn cpu_matches_the_reference() {
    for name in MODELS {
        check(&Device::Cpu, name);
    }
}

#[test]
fn gpu_matches_the_reference() {
    let Some(dev) = common::gpu() else { return };
    for name in MODELS {
        check(&dev, name);
    }
}

#[test]
fn batching_does_not_change_the_scores() {
    // One window per batch against 32 padded together: only padding differs.
    for name in ["tiny", "nt_v1_tiny"] {
        let (_, alone) = score(&Device::Cpu, name, 1);
        let (_, batched) = score(&Device::Cpu, name, 32);
        let flat = |s: &[Scores]| -> Vec<f32> { s.iter().flat_map(Scores::values).collect() };
        let want: Vec<f64> = flat(&alone).iter().map(|&v| v as f64).collect();
        check_close(name, &flat(&batched), &want, Tol::F32).unwrap();
    }
}

/// A genome of four chromosomes (pseudo-random bases, 60 a line) and a
/// VCF of `n` records on them: SNVs, an insertion, deletions, multi-allelic
/// and symbolic ALTs, blank lines; the last third out of order.
fn many_records(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let mut state = 12345u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let chroms = [("chrA", 900), ("chrB", 400), ("chrC", 1300), ("chrD", 250)];
    let mut fasta = String::new();
    let mut seqs = Vec::new();
    for (name, len) in chroms {
        let seq: String = (0..len).map(|_| b"ACGT"[next() % 4] as char).collect();
        fasta.push_str(&format!(">{name} test\n"));
        for line in seq.as_bytes().chunks(60) {
            fasta.push_str(std::str::from_utf8(line).unwrap());
            fasta.push('\n');
        }
        seqs.push((name, seq));
    }
    let mut records = Vec::new();
    for i in 0..n {
        let (name, seq) = &seqs[i * seqs.len() / n];
        let pos = 1 + next() % (seq.len() - 4);
        let refb = &seq[pos - 1..pos - 1 + 1 + (i % 7 == 3) as usize * 2];
        let other = |b: char| ['A', 'C', 'G', 'T'].into_iter().find(|&c| c != b).unwrap();
        let first = refb.chars().next().unwrap();
        let alt = match i % 5 {
            0 => format!("{}", other(first)),
            1 => format!("{first}GT,{}", other(first)),
            2 => format!("{},<DEL>", other(first)),
            _ => format!("{first}"),
        };
        let alt = if alt == refb {
            format!("{}", other(first))
        } else {
            alt
        };
        records.push(format!(
            "{name}\t{pos}\tv{i}\t{refb}\t{alt}\t.\tPASS\tX={i}"
        ));
    }
    // Sorted by position within each chromosome, then the last third shuffled.
    records[..2 * n / 3].sort_by_key(|r| {
        let c: Vec<&str> = r.split('\t').collect();
        (c[0].to_owned(), c[1].parse::<usize>().unwrap())
    });
    records[2 * n / 3..].reverse();
    let mut vcf =
        String::from("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n");
    for (i, r) in records.iter().enumerate() {
        vcf.push_str(r);
        vcf.push('\n');
        if i % 40 == 39 {
            vcf.push('\n');
        }
    }
    let (g, v) = (dir.join("genome.fa"), dir.join("variants.vcf"));
    std::fs::write(&g, fasta).unwrap();
    std::fs::write(&v, vcf).unwrap();
    (g, v)
}

/// The streamed scoring writes the same bytes as the whole one, however
/// the VCF is cut into chunks, CSV and VCF alike; a VCF sorted as the
/// genome costs one pass over it in every phase.
#[test]
fn chunked_reading_writes_the_same_bytes() {
    use dnagpu::data::StreamedInput;
    use dnagpu::vep::output::{write, Format, Writer};
    use dnagpu::vep::stream::{check, score, Job, Reading};

    let dir = std::env::temp_dir().join(format!("dnagpu-vep-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (g, v) = many_records(&dir, 150);
    let files = ModelFiles::open(&fixtures().join("nt_v2_tiny")).unwrap();
    let model = Model::load(&Device::Cpu, &files.config, &files.weights).unwrap();
    let scorer = Scorer {
        model: &model,
        mask_id: files.tokenizer.mask_id().unwrap(),
        classifier: None,
    };
    let batching = Batching::default();
    let max = Encoder::max_positions_of(&files.config, &files.weights);

    // The whole reading, as before streaming.
    let vcf = Vcf::read_path(&v).unwrap();
    let got = fetch_path(&g, &vep::regions(&vcf, FLANK)).unwrap();
    let plan = vep::plan(&vcf, &got, "genome.fa", FLANK, Mismatch::Error).unwrap();
    assert!(plan.symbolic > 0 && plan.alleles.len() > 150);
    let scores = pollster::block_on(vep::score_plan(
        &Device::Cpu,
        &scorer,
        &vcf,
        &plan,
        &files.tokenizer,
        max,
        FLANK,
        batching,
        |_| {},
    ))
    .unwrap();
    let want: Vec<String> = [Format::Csv, Format::Vcf]
        .map(|f| write(f, &vcf, &plan, &scores, None).unwrap())
        .to_vec();

    let variants = StreamedInput::open(v.to_str().unwrap()).unwrap();
    let genome = StreamedInput::open(g.to_str().unwrap()).unwrap();
    for (reading, most_passes) in [
        (Reading::WHOLE, 1),
        (Reading::BOUNDED, 1),
        (
            Reading {
                records: 1,
                bases: u64::MAX,
            },
            200,
        ),
        (
            Reading {
                records: 7,
                bases: u64::MAX,
            },
            30,
        ),
        (
            Reading {
                records: usize::MAX,
                bases: 100,
            },
            200,
        ),
    ] {
        let job = Job {
            variants: &variants,
            genome: &genome,
            flank: FLANK,
            mismatch: Mismatch::Error,
            tokenizer: &files.tokenizer,
            max_positions: max,
            reading,
        };
        let checked = check(&job).unwrap();
        assert_eq!(checked.records, 150);
        assert_eq!(checked.alleles, plan.alleles.len());
        assert_eq!(checked.symbolic, plan.symbolic);
        // The index, then the check's reads.
        assert!(checked.genome_passes >= 2 && checked.genome_passes <= 1 + most_passes);
        for (format, want) in [Format::Csv, Format::Vcf].into_iter().zip(&want) {
            let mut out = Writer::new(Vec::new(), format, None, checked.has_header).unwrap();
            pollster::block_on(score(
                &Device::Cpu,
                &scorer,
                &job,
                &checked,
                batching,
                &mut out,
                |_| {},
            ))
            .unwrap();
            let text = String::from_utf8(out.finish().unwrap()).unwrap();
            assert!(text == *want, "{reading:?} {format:?}: the bytes differ");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
