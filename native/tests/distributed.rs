//! `--distributed` (data-parallel training over MPI, the `mpi` feature)
//! under `mpirun -np 2`: the losses of one process with the doubled batch,
//! step for step (CPU backend and lavapipe), dropout on; fine-tuning (full
//! and LoRA) to the same weights; resume after one rank is killed; only
//! rank 0 writes; SIGTERM to mpirun writes one checkpoint; a failing rank
//! ends the job with its message. Without mpirun these tests say SKIPPED,
//! and fail under CI=true. Built without the feature, `--distributed` and
//! `info` say so.

mod common;

#[cfg(not(feature = "mpi"))]
use common::{dnagpu, run};

#[cfg(not(feature = "mpi"))]
#[test]
fn without_the_feature_distributed_says_how_to_build_it() {
    let (ok, _, err) = run(dnagpu().args(["--backend", "cpu", "bench", "train", "--distributed"]));
    assert!(
        !ok && err.contains("built without MPI") && err.contains("--features mpi"),
        "{err}"
    );
    let (ok, out, err) = run(dnagpu().args(["--backend", "cpu", "info"]));
    assert!(ok, "{err}");
    assert!(out.contains("mpi: no"), "{out}");
}

#[cfg(feature = "mpi")]
mod with_mpi {
    use super::common::{dnagpu, run, tmp};

    use std::path::{Path, PathBuf};
    use std::process::Command;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/train");

    /// Losses of one process and of two ranks agree to this, relatively: the
    /// ranks' gradients are summed in another order than one process sums the
    /// whole batch's (f32 rounding, grown through the AdamW steps).
    const TOLERANCE: f64 = 2e-4;

    /// `mpirun -np N` (Open MPI: as root too, more ranks than cores), or
    /// `None` (after saying so) where there is none; under CI=true a missing
    /// mpirun fails.
    fn mpirun(np: usize) -> Option<Command> {
        let version = Command::new("mpirun")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success());
        let Some(v) = version else {
            let msg = "no mpirun: scripts/setup.sh installs Open MPI (openmpi-bin)";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let mut c = Command::new("mpirun");
        if String::from_utf8_lossy(&v.stdout).contains("Open MPI") {
            c.args([
                "--allow-run-as-root",
                "--oversubscribe",
                "--bind-to",
                "none",
            ]);
            // Containers often forbid the cross-memory attach it would use.
            c.env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
        }
        c.args(["-np", &np.to_string()]);
        c.env_remove("DNAGPU_BACKEND").env("RUST_BACKTRACE", "0");
        Some(c)
    }

    const BIN: &str = env!("CARGO_BIN_EXE_dnagpu");

    /// 24 random sequences of 90 bp, each three times.
    fn small_fasta(dir: &Path) -> PathBuf {
        super::common::small_fasta(dir, 24)
    }

    /// `pretrain`'s arguments on the tiny config (after the binary).
    fn pretrain_args(
        backend: &str,
        data: &Path,
        out: &Path,
        batch: usize,
        steps: u64,
    ) -> Vec<String> {
        let mut a: Vec<String> = ["--backend", backend, "pretrain", "--config"]
            .map(String::from)
            .to_vec();
        a.push(format!("{FIXTURE}/config.json"));
        for (k, v) in [
            ("--data", data.display().to_string()),
            ("--output", out.display().to_string()),
            ("--steps", steps.to_string()),
            ("--batch-size", batch.to_string()),
        ] {
            a.extend([k.to_string(), v]);
        }
        a.extend(
            [
                "--lr",
                "5e-3",
                "--warmup",
                "3",
                "--max-length",
                "32",
                "--dropout",
                "0.1",
                "--val-sequences",
                "8",
                "--eval-every",
                "5",
                "--save-every",
                "5",
                "--keep-checkpoints",
                "50",
                "--shuffle-buffer",
                "16",
            ]
            .map(String::from),
        );
        a
    }

    /// log.csv's (step, loss, grad_norm) rows.
    fn log(run_dir: &Path) -> Vec<(u64, f64, f64)> {
        let text = std::fs::read_to_string(run_dir.join("log.csv")).unwrap();
        let head: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let col = |n: &str| head.iter().position(|h| *h == n).expect(n);
        let (s, l, g) = (col("step"), col("loss"), col("grad_norm"));
        text.lines()
            .skip(1)
            .map(|r| {
                let f: Vec<&str> = r.split(',').collect();
                (
                    f[s].parse().unwrap(),
                    f[l].parse().unwrap(),
                    f[g].parse().unwrap(),
                )
            })
            .collect()
    }

    fn assert_same_run(what: &str, got: &[(u64, f64, f64)], want: &[(u64, f64, f64)]) {
        assert_eq!(got.len(), want.len(), "{what}: steps");
        let mut worst = 0f64;
        for (a, b) in got.iter().zip(want) {
            assert_eq!(a.0, b.0, "{what}: step numbers");
            for (x, y) in [(a.1, b.1), (a.2, b.2)] {
                let rel = (x - y).abs() / y.abs().max(1e-12);
                worst = worst.max(rel);
                assert!(
                    rel <= TOLERANCE,
                    "{what}: step {}: {x} vs {y} (one process)",
                    a.0
                );
            }
        }
        eprintln!(
            "{what}: {} steps, largest relative difference {worst:.2e}",
            got.len()
        );
    }

    /// Every file under `dir`, relative, sorted.
    fn files(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(dir).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }

    /// Two ranks with batch 4 against one process with batch 8, on `backend`.
    /// Rank 1 is given an output folder it cannot create (under a file): had
    /// it written anything, it would fail and end the job.
    fn pretrain_matches_one_process(backend: &str) {
        let Some(mut mpi) = mpirun(1) else { return };
        let dir = tmp(&format!("mpi-pretrain-{backend}"));
        let data = small_fasta(&dir);
        let (one, two) = (dir.join("one"), dir.join("two"));
        let (ok, _, err) = run(dnagpu().args(pretrain_args(backend, &data, &one, 8, 12)));
        if backend == "gpu"
            && err.contains("no adapter")
            && std::env::var("DNAGPU_REQUIRE_GPU").as_deref() != Ok("1")
        {
            eprintln!("SKIPPED: {err}");
            return;
        }
        assert!(ok, "{err}");
        std::fs::write(dir.join("a-file"), "").unwrap();
        let nowhere = dir.join("a-file/out");
        mpi.arg(BIN)
            .args(pretrain_args(backend, &data, &two, 4, 12))
            .args(["--distributed", ":", "-np", "1", BIN])
            .args(pretrain_args(backend, &data, &nowhere, 4, 12))
            .arg("--distributed");
        let (ok, _, err) = run(&mut mpi);
        assert!(ok, "{err}");
        assert_same_run(
            &format!("pretrain on {backend}, 2 ranks"),
            &log(&two),
            &log(&one),
        );
        assert_eq!(files(&two), files(&one), "the same files as one process");
        assert_eq!(err.matches("done: 12 steps").count(), 1, "{err}");
    }

    #[test]
    fn two_ranks_pretrain_as_one_process_with_the_doubled_batch_cpu() {
        pretrain_matches_one_process("cpu");
    }

    #[test]
    fn two_ranks_pretrain_as_one_process_with_the_doubled_batch_lavapipe() {
        pretrain_matches_one_process("gpu");
    }

    /// Waits until `ready` or the deadline.
    fn wait(what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while !ready() {
            assert!(std::time::Instant::now() < deadline, "{what}: not in time");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The process ids of rank `rank` of the runs writing to `out` (Open MPI
    /// and MPICH name the rank in the environment).
    fn rank_pids(out: &Path, rank: usize) -> Vec<i32> {
        let want = out.display().to_string();
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            let has =
                |hay: &[u8], needle: &str| hay.split(|&b| b == 0).any(|w| w == needle.as_bytes());
            let is_dnagpu = cmd
                .split(|&b| b == 0)
                .next()
                .is_some_and(|a| a == BIN.as_bytes());
            if is_dnagpu
                && has(&cmd, &want)
                && (has(&env, &format!("OMPI_COMM_WORLD_RANK={rank}"))
                    || has(&env, &format!("PMI_RANK={rank}")))
            {
                pids.push(pid);
            }
        }
        pids
    }

    #[cfg(unix)]
    #[test]
    fn resume_after_one_rank_is_killed_continues_as_one_process() {
        let Some(mut mpi) = mpirun(2) else { return };
        let dir = tmp("mpi-kill");
        let data = small_fasta(&dir);
        let (one, two) = (dir.join("one"), dir.join("two"));
        let steps = 400;
        let (ok, _, err) = run(dnagpu().args(pretrain_args("cpu", &data, &one, 8, steps)));
        assert!(ok, "{err}");
        mpi.arg(BIN)
            .args(pretrain_args("cpu", &data, &two, 4, steps))
            .arg("--distributed");
        let mut job = super::common::running::Running::spawn(&mut mpi);
        job.wait_until("two checkpoints", || {
            two.join("checkpoints/step-00000010/state.json").is_file()
        });
        let pids = rank_pids(&two, 1);
        assert_eq!(pids.len(), 1, "rank 1's process");
        // SAFETY: kill(2) on a process this test started (through mpirun).
        assert_eq!(unsafe { libc::kill(pids[0], libc::SIGKILL) }, 0);
        let (code, err) = job.finish();
        assert_ne!(code, Some(0), "the job ends when a rank dies: {err}");
        let logged = log(&two).len() as u64;
        assert!(logged < steps, "killed before the end ({logged} steps)");
        let mut again = mpirun(2).unwrap();
        again
            .arg(BIN)
            .args(pretrain_args("cpu", &data, &two, 4, steps))
            .args(["--distributed", "--resume"]);
        let (ok, _, err) = run(&mut again);
        assert!(ok, "{err}");
        assert!(err.contains("resuming from"), "{err}");
        assert_same_run("resumed after a kill", &log(&two), &log(&one));
    }

    #[cfg(unix)]
    #[test]
    fn sigterm_to_mpirun_saves_one_checkpoint_and_stops_every_rank() {
        let Some(mut mpi) = mpirun(2) else { return };
        let dir = tmp("mpi-term");
        let data = small_fasta(&dir);
        let out = dir.join("run");
        let mut args = pretrain_args("cpu", &data, &out, 4, 1_000_000);
        let at = args.iter().position(|a| a == "--save-every").unwrap();
        args[at + 1] = "1000000".into();
        mpi.arg(BIN).args(args).arg("--distributed");
        let mut job = super::common::running::Running::spawn(&mut mpi);
        job.wait_until("a few steps", || {
            std::fs::read_to_string(out.join("log.csv")).is_ok_and(|t| t.lines().count() > 4)
        });
        job.signal(libc::SIGTERM);
        let (_, err) = job.finish();
        let saved: Vec<_> =
            std::fs::read_dir(out.join("checkpoints")).map_or(vec![], |d| d.flatten().collect());
        assert_eq!(saved.len(), 1, "one checkpoint: {err}");
        let step: u64 = saved[0].file_name().to_string_lossy()["step-".len()..]
            .parse()
            .unwrap();
        assert_eq!(log(&out).last().unwrap().0, step, "{err}");
        assert!(err.contains("stopped at step"), "{err}");
        wait("every rank gone", 30, || {
            rank_pids(&out, 0).is_empty() && rank_pids(&out, 1).is_empty()
        });
    }

    #[test]
    fn a_failing_rank_ends_the_job_with_its_message() {
        let Some(mut mpi) = mpirun(1) else { return };
        let dir = tmp("mpi-fail");
        let data = small_fasta(&dir);
        let missing = dir.join("missing.fa");
        mpi.arg(BIN)
            .args(pretrain_args("cpu", &data, &dir.join("run"), 4, 50))
            .args(["--distributed", ":", "-np", "1", BIN])
            .args(pretrain_args("cpu", &missing, &dir.join("run"), 4, 50))
            .arg("--distributed");
        let started = std::time::Instant::now();
        let (ok, _, err) = run(&mut mpi);
        assert!(!ok);
        assert!(
            err.contains("rank 1 of 2 failed") && err.contains("missing.fa"),
            "{err}"
        );
        assert!(started.elapsed().as_secs() < 120);
    }

    /// (The tiny config's hidden dropout is 0.1: on in both runs.)
    /// train/dev/test CSVs: label 1 GC-rich, label 0 AT-rich, 40 bp.
    fn task(dir: &Path) {
        let mut x: u64 = 3;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as f64 / (1u64 << 31) as f64
        };
        for (name, n) in [("train", 40), ("dev", 12), ("test", 12)] {
            let mut s = String::from("sequence,label\n");
            for i in 0..n {
                let label = i % 2;
                let p = if label == 1 { 0.75 } else { 0.25 };
                let seq: String = (0..40)
                    .map(|_| match (next() < p, next() < 0.5) {
                        (true, true) => 'G',
                        (true, false) => 'C',
                        (false, true) => 'A',
                        (false, false) => 'T',
                    })
                    .collect();
                s.push_str(&format!("{seq},{label}\n"));
            }
            std::fs::write(dir.join(format!("{name}.csv")), s).unwrap();
        }
    }

    fn finetune_args(mode: &str, data: &Path, out: &Path, batch: usize) -> Vec<String> {
        let mut a: Vec<String> = ["--backend", "cpu", "finetune", "--random-init"]
            .map(String::from)
            .to_vec();
        a.push(format!("{FIXTURE}/config.json"));
        a.extend([
            "--data".into(),
            data.display().to_string(),
            "--output".into(),
            out.display().to_string(),
        ]);
        a.extend(["--batch-size".into(), batch.to_string()]);
        a.extend(
            [
                "--mode",
                mode,
                "--epochs",
                "2",
                "--eval-every",
                "4",
                "--warmup",
                "2",
                "--lora-dropout",
                "0.1",
            ]
            .map(String::from),
        );
        a
    }

    /// Every f32 tensor of the safetensors files in `dir`, by file and name.
    fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
        let mut out = Vec::new();
        for f in files(dir)
            .into_iter()
            .filter(|f| f.ends_with(".safetensors"))
        {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
            names.sort();
            for n in names {
                let v = st.tensor(&n).unwrap();
                let data = v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()));
                out.push((format!("{f}:{n}"), data.collect()));
            }
        }
        out
    }

    #[test]
    fn two_ranks_fine_tune_as_one_process_full_and_lora() {
        let Some(_) = mpirun(2) else { return };
        let dir = tmp("mpi-finetune");
        task(&dir);
        for mode in ["full", "lora"] {
            let (one, two) = (
                dir.join(format!("{mode}-one")),
                dir.join(format!("{mode}-two")),
            );
            let (ok, _, err) = run(dnagpu().args(finetune_args(mode, &dir, &one, 8)));
            assert!(ok, "{err}");
            let mut mpi = mpirun(2).unwrap();
            mpi.arg(BIN)
                .args(finetune_args(mode, &dir, &two, 4))
                .arg("--distributed");
            let (ok, _, err) = run(&mut mpi);
            assert!(ok, "{err}");
            assert_eq!(files(&two), files(&one), "{mode}");
            let metrics = |d: &Path| -> serde_json::Value {
                serde_json::from_str(&std::fs::read_to_string(d.join("metrics.json")).unwrap())
                    .unwrap()
            };
            let (m1, m2) = (metrics(&one), metrics(&two));
            assert_eq!(m1["steps"], m2["steps"], "{mode}");
            assert_eq!(m1["best_step"], m2["best_step"], "{mode}");
            let (l1, l2) = (
                m1["dev"]["loss"].as_f64().unwrap(),
                m2["dev"]["loss"].as_f64().unwrap(),
            );
            assert!(
                (l1 - l2).abs() <= TOLERANCE * l1,
                "{mode}: dev loss {l2} vs {l1}"
            );
            let (w1, w2) = (weights(&one), weights(&two));
            assert_eq!(w1.len(), w2.len(), "{mode}");
            assert!(!w1.is_empty(), "{mode}");
            for ((n1, a), (n2, b)) in w1.iter().zip(&w2) {
                assert_eq!(n1, n2);
                let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                assert!(
                    worst as f64 <= 1e-3 * scale as f64,
                    "{mode}: {n1} differs by {worst} (scale {scale})"
                );
            }
        }
    }

    #[test]
    fn bench_train_distributed_reports_the_all_reduce_share() {
        let Some(mut mpi) = mpirun(2) else { return };
        let dir = tmp("mpi-bench");
        mpi.arg(BIN)
            .args(["--backend", "cpu", "bench", "train", "--config"]);
        mpi.arg(format!("{FIXTURE}/config.json"));
        mpi.args([
            "--batch",
            "4",
            "--seq",
            "32",
            "--iters",
            "2",
            "--distributed",
            "--json",
        ]);
        mpi.arg(dir.join("b.json"));
        let (ok, out, err) = run(&mut mpi);
        assert!(ok, "{err}");
        assert_eq!(out.matches("ranks: 2; all-reduce").count(), 1, "{out}");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("b.json")).unwrap()).unwrap();
        assert_eq!(doc["ranks"], 2);
        assert_eq!(doc["batch"], 8);
        let (ok, info, _) = run(dnagpu().args(["--backend", "cpu", "info"]));
        assert!(ok && info.contains("mpi: yes"), "{info}");
    }
}
