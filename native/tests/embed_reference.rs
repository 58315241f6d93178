//! `dnagpu embed` and `dnagpu classify` end to end on the fixture model
//! against the independent PyTorch reference's outputs
//! (tests/fixtures/tiny): every pooling and layer, every output format,
//! and the class probabilities.

mod common;

use common::embed::{assert_close, dnagpu, fixture_input, model, read_npy, root, tmp, Reference};

#[test]
fn every_pooling_and_layer_matches_the_reference() {
    let r = Reference::load();
    let dir = tmp("pooling");
    let input = fixture_input(&dir, &r);
    let m = model();
    let last = 2;
    for (pooling, layer, rows_of, max) in [
        (
            "mean",
            None,
            (|t: usize| 0..t) as fn(usize) -> std::ops::Range<usize>,
            false,
        ),
        ("mean", Some("0"), |t| 0..t, false),
        ("mean", Some("-2"), |t| 0..t, false),
        ("mean-nospecial", None, |t| 1..t - 1, false),
        ("cls", None, |_| 0..1, false),
        ("max", None, |t| 0..t, true),
    ] {
        let out = dir.join(format!("{pooling}-{}.npy", layer.unwrap_or("last")));
        let mut args = vec![
            "embed",
            "--model",
            m.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--pooling",
            pooling,
        ];
        if let Some(l) = layer {
            args.extend(["--layer", l]);
        }
        // Small batches so that several batches and padding are exercised.
        args.extend(["--batch-size", "2", "--max-tokens", "500"]);
        let (ok, _, err) = dnagpu(&args, None);
        assert!(ok, "{pooling}: {err}");
        let (shape, vals) = read_npy(&out);
        assert_eq!(shape, vec![r.0.sequences.len(), 128]);
        let l = match layer {
            None => last,
            Some("0") => 0,
            Some("-2") => 1,
            _ => unreachable!(),
        };
        for i in 0..r.0.sequences.len() {
            let t = r.get(&format!("{i}.input_ids")).0;
            let want = r.pooled(i, l, rows_of(t), max);
            assert_close(
                &format!("{pooling} layer {l} sequence {i}"),
                &vals[i * 128..(i + 1) * 128],
                &want,
            );
        }
    }
}

#[test]
fn output_formats_hold_the_same_embeddings() {
    let r = Reference::load();
    let dir = tmp("formats");
    let input = fixture_input(&dir, &r);
    let m = model();
    let base = [
        "embed",
        "--model",
        m.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let (ok, out, err) = dnagpu(&args, None);
        assert!(ok, "{extra:?}: {err}");
        out
    };
    let npy = dir.join("e.npy");
    run(&["--output", npy.to_str().unwrap()]);
    let (_, want) = read_npy(&npy);

    let stdout = run(&[]);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), r.0.sequences.len());
    assert_eq!(lines[1]["id"], "s1");
    let row1: Vec<f32> = lines[1]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(row1, want[128..256]);

    let csv = dir.join("e.csv");
    run(&["--output", csv.to_str().unwrap()]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = text.lines();
    assert!(rows.next().unwrap().starts_with("id,e0,e1,"));
    let first: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(first[0], "s0");
    assert_eq!(first[1].parse::<f32>().unwrap(), want[0]);

    let st = dir.join("e.safetensors");
    run(&["--output", st.to_str().unwrap()]);
    let bytes = std::fs::read(&st).unwrap();
    let t = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(t.tensor("s2").unwrap().shape(), [128]);

    let tokens = dir.join("t.safetensors");
    run(&["--output", tokens.to_str().unwrap(), "--pooling", "none"]);
    let bytes = std::fs::read(&tokens).unwrap();
    let t = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (n, _, hidden) = r.get("1.hidden.2");
    assert_eq!(t.tensor("s1").unwrap().shape(), [n, 128]);
    let got: Vec<f32> = t
        .tensor("s1")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_close("per-token states of s1", &got, &hidden);
    let ids = t.tensor("s1.input_ids").unwrap();
    assert_eq!(ids.dtype(), safetensors::Dtype::I64);
    assert_eq!(ids.shape(), [n]);
}

#[test]
fn classify_matches_the_reference_probabilities() {
    let r = Reference::load();
    let dir = tmp("classify");
    let input = fixture_input(&dir, &r);
    let out = dir.join("pred.csv");
    let m = model();
    let (ok, _, err) = dnagpu(
        &[
            "classify",
            "--model",
            m.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--batch-size",
            "2",
        ],
        None,
    );
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "id,prediction,prob_0,prob_1,prob_2");
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], format!("s{i}"));
        let probs: Vec<f32> = f[2..5].iter().map(|v| v.parse().unwrap()).collect();
        let (_, _, want) = r.get(&format!("{i}.probs"));
        assert_close(&format!("class probabilities of s{i}"), &probs, &want);
        let argmax = (0..3).fold(0, |b, k| if want[k] > want[b] { k } else { b });
        assert_eq!(f[1], argmax.to_string());
    }
    // A labelled CSV keeps its labels; a model without a head is a clear error.
    let csv = root().join("tests/data/gue_sample.csv");
    let (ok, stdout, err) = dnagpu(
        &[
            "classify",
            "--model",
            m.to_str().unwrap(),
            "--input",
            csv.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(stdout.lines().next().unwrap().ends_with(",label"));
    assert_eq!(stdout.lines().count(), 21);
    let cfg = m.join("config.json");
    let (ok, _, err) = dnagpu(
        &["classify", "--random-init", cfg.to_str().unwrap()],
        Some("ACGT\n"),
    );
    assert!(!ok && err.contains("no classification head"), "{err}");
}
