//! Shared by the CLI tests: the `dnagpu` binary and running it.

#![allow(dead_code)]

/// The `dnagpu embed` tests' helpers.
pub mod embed;
/// Runs the training tests signal.
#[cfg(unix)]
pub mod running;

use std::process::Command;

/// The binary under test, with the environment's backend choice and
/// backtraces cleared so that messages are what a user sees.
pub fn dnagpu() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dnagpu"));
    c.env_remove("DNAGPU_BACKEND");
    c.env("RUST_BACKTRACE", "0");
    c
}

/// Runs it: (success, stdout, stderr).
pub fn run(c: &mut Command) -> (bool, String, String) {
    let out = c.output().expect("the dnagpu binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A fresh temporary folder for one test.
pub fn tmp(name: &str) -> std::path::PathBuf {
    // Under cargo's scratch folder for tests (target/tmp), one per test
    // binary and name: a rerun replaces the last run's files instead of
    // leaving them in /tmp.
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{}-{name}", env!("CARGO_CRATE_NAME")));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The address in `dnagpu serve`'s first line ("serving … at http://ADDR/").
pub fn served_address(line: &str) -> String {
    line.split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}

/// small.fa in `dir`: 72 records of 90 bp, `distinct` fixed random
/// sequences repeated in turn.
pub fn small_fasta(dir: &std::path::Path, distinct: usize) -> std::path::PathBuf {
    let mut s = String::new();
    let mut x: u64 = 7;
    for i in 0..72 {
        if i % distinct == 0 {
            x = 7;
        }
        s.push_str(&format!(">s{i}\n"));
        for _ in 0..90 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push(b"ACGT"[(x >> 62) as usize] as char);
        }
        s.push('\n');
    }
    let p = dir.join("small.fa");
    std::fs::write(&p, s).unwrap();
    p
}
