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
