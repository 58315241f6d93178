//! `dnagpu embed`'s input and options: sequences on stdin, duplicate ids,
//! and bad input or options as clear errors that leave existing output
//! alone.

mod common;

use common::embed::{dnagpu, model, tmp};

#[test]
fn stdin_plain_text_and_duplicate_ids() {
    let m = model();
    let (ok, out, err) = dnagpu(
        &["embed", "--model", m.to_str().unwrap()],
        Some("ACGTACGTTT\nacgtNNacgt\n"),
    );
    assert!(ok, "{err}");
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["0", "1"]);
    assert!(
        err.contains("warning") && err.contains("ambiguous"),
        "IUPAC codes must be reported: {err}"
    );
    let (ok, out, err) = dnagpu(
        &["embed", "--model", m.to_str().unwrap()],
        Some(">a\nACGT\n>a\nGGCC\n"),
    );
    assert!(ok, "{err}");
    assert!(out.contains("\"a#2\""), "{out}");
    assert!(err.contains("warning"), "{err}");
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_existing_output_alone() {
    let m = model();
    let dir = tmp("bad");
    let out = dir.join("keep.npy");
    std::fs::write(&out, b"precious").unwrap();
    let m_s = m.to_str().unwrap();
    let o_s = out.to_str().unwrap();
    for (stdin, needle) in [
        ("", "no sequences"),
        (">a\nACGTX\n", "position 5"),
        ("\u{0}\u{1}binary", "text"),
        (">only\n", "only"),
    ] {
        let (ok, _, err) = dnagpu(&["embed", "--model", m_s, "--output", o_s], Some(stdin));
        assert!(!ok, "{stdin:?} should fail");
        assert!(
            err.contains(needle),
            "{stdin:?}: error should mention `{needle}`: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"precious",
            "a failed run must not touch the output"
        );
    }
    // Without --model: the shipped model.
    let (ok, out, err) = dnagpu(&["embed", "--input", "-"], Some("ACGT\n"));
    assert!(
        ok && out.starts_with("{\"id\"") && err.contains("dnabert2-small-gue (shipped)"),
        "{err}"
    );
    let missing = dir.join("no/such/dir/e.npy");
    let (ok, _, err) = dnagpu(
        &[
            "embed",
            "--model",
            m_s,
            "--output",
            missing.to_str().unwrap(),
        ],
        Some("ACGT\n"),
    );
    assert!(!ok && err.contains("does not exist"), "{err}");
    let (ok, _, err) = dnagpu(
        &[
            "embed",
            "--model",
            m_s,
            "--output",
            dir.join("e.txt").to_str().unwrap(),
        ],
        Some("ACGT\n"),
    );
    assert!(!ok && err.contains("unknown output format"), "{err}");
    let (ok, _, err) = dnagpu(
        &["embed", "--model", m_s, "--pooling", "none"],
        Some("ACGT\n"),
    );
    assert!(!ok && err.contains(".safetensors"), "{err}");
    let (ok, _, err) = dnagpu(&["embed", "--model", m_s, "--layer", "3"], Some("ACGT\n"));
    assert!(!ok && err.contains("0..=2"), "{err}");
}

/// More records than one chunk holds (4096): rows in input order across
/// chunks (three sequences take turns, so row i equals row i mod 3), and a
/// repeated id renamed in the second pass as the first pass said.
#[test]
fn inputs_larger_than_a_chunk_stream_in_order() {
    use common::embed::read_npy;
    let m = model();
    let dir = tmp("chunks");
    let input = dir.join("many.fa");
    let seqs = ["ACGTACGTTTGACCA", "GGGGCCCCAAAATTTTACGT", "TTAGGC"];
    let n = 5000;
    let fasta: String = (0..n)
        .map(|i| {
            // Record 4500 repeats the id of record 10.
            let id = if i == 4500 { 10 } else { i };
            format!(">r{id}\n{}\n", seqs[i % 3])
        })
        .collect();
    std::fs::write(&input, fasta).unwrap();
    let embed_to = |out: &std::path::Path| {
        let (m, i, o) = (
            m.to_str().unwrap(),
            input.to_str().unwrap(),
            out.to_str().unwrap(),
        );
        let (ok, _, err) = dnagpu(&["embed", "--model", m, "--input", i, "--output", o], None);
        assert!(ok, "{err}");
        err
    };
    let npy = dir.join("e.npy");
    let err = embed_to(&npy);
    assert!(
        err.contains("id \"r10\" occurs 2 times; later copies renamed r10#2"),
        "{err}"
    );
    let (shape, values) = read_npy(&npy);
    let h = shape[1];
    assert_eq!(shape[0], n);
    for i in 0..n {
        assert_eq!(
            values[i * h..(i + 1) * h],
            values[(i % 3) * h..(i % 3 + 1) * h],
            "row {i}"
        );
    }
    let csv = dir.join("e.csv");
    embed_to(&csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let ids: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids.len(), n);
    assert_eq!((ids[10], ids[4500], ids[4999]), ("r10", "r10#2", "r4999"));
    let _ = std::fs::remove_dir_all(&dir);
}
