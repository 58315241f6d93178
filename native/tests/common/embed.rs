//! Shared by the `dnagpu embed` tests (embed_*.rs): the fixture model, the
//! binary on the CPU backend with stdin, the PyTorch reference's outputs,
//! and reading `.npy` files.

use std::path::{Path, PathBuf};
use std::process::Command;

use dnagpu::testing::ReferenceFixtures;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn model() -> PathBuf {
    root().join("tests/fixtures/tiny")
}

pub fn tmp(name: &str) -> PathBuf {
    // Under cargo's scratch folder for tests (target/tmp), one per test
    // binary and name: a rerun replaces the last run's files instead of
    // leaving them in /tmp.
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{}-embed-{name}", env!("CARGO_CRATE_NAME")));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs dnagpu on the CPU backend (the GPU path is covered by the library's
/// fixture tests); returns (success, stdout, stderr).
pub fn dnagpu(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut c = Command::new(env!("CARGO_BIN_EXE_dnagpu"));
    c.args(["--backend", "cpu"]).args(args);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut sin = child.stdin.take().unwrap();
    // A run that fails on its arguments may exit before reading stdin.
    match sin.write_all(stdin.unwrap_or("").as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.unwrap(),
    }
    drop(sin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

pub struct Reference(pub ReferenceFixtures);

impl Reference {
    pub fn load() -> Self {
        Self(ReferenceFixtures::load(&model()).unwrap())
    }

    /// (rows, width, values) of a float fixture.
    pub fn get(&self, name: &str) -> (usize, usize, Vec<f32>) {
        let (shape, v) = self.0.get(name).unwrap();
        (
            shape[0],
            *shape.get(1).unwrap_or(&1),
            v.iter().map(|&x| x as f32).collect(),
        )
    }

    /// Pools reference hidden states of sequence `i` at `layer` over `rows`.
    pub fn pooled(
        &self,
        i: usize,
        layer: usize,
        rows: std::ops::Range<usize>,
        max: bool,
    ) -> Vec<f32> {
        let (t, h, x) = self.get(&format!("{i}.hidden.{layer}"));
        let rows = rows.start..rows.end.min(t);
        (0..h)
            .map(|j| {
                let col = rows.clone().map(|r| x[r * h + j]);
                if max {
                    col.fold(f32::NEG_INFINITY, f32::max)
                } else {
                    col.sum::<f32>() / rows.len() as f32
                }
            })
            .collect()
    }
}

pub fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let max = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * max + 1e-4 * w.abs(),
            "{what}: element {k} is {g}, reference {w}"
        );
    }
}

pub fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape = shape_txt
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    (
        shape,
        b[10 + hlen..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    )
}

pub fn fixture_input(dir: &Path, r: &Reference) -> PathBuf {
    let p = dir.join("seqs.fa");
    let fasta: String =
        r.0.sequences
            .iter()
            .enumerate()
            .map(|(i, s)| format!(">s{i} fixture\n{s}\n"))
            .collect();
    std::fs::write(&p, fasta).unwrap();
    p
}
