//! `dnagpu`: the command-line tool. See README.md for the commands.

mod attention;
mod bench;
mod classify;
mod embed;
mod finetune;
mod grad;
mod gue;
mod info;
mod input;
mod interrupt;
mod model_arg;
mod pretrain;
mod progress;
mod serve;
mod shipped;
mod tokenizer;
mod vep;
mod windows;

use anyhow::Result;
use clap::{Parser, Subcommand};
use dnagpu::train::distributed::Distributed;

#[derive(Parser)]
#[command(
    name = "dnagpu",
    version,
    about = "DNA language models (DNABERT-2) on any GPU through WebGPU, with a CPU fallback"
)]
struct Cli {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command shares: which backend and adapter to run on.
#[derive(clap::Args, Clone)]
pub struct DeviceArgs {
    /// auto: a hardware GPU if there is one, else the CPU backend;
    /// gpu: wgpu, software adapters (lavapipe, SwiftShader) included; cpu: the CPU backend.
    #[arg(long, global = true, env = "DNAGPU_BACKEND", default_value = "auto")]
    backend: String,
    /// Pick an adapter by index (see `dnagpu info`) or by part of its name.
    #[arg(long, global = true)]
    gpu: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Adapters found, the backend chosen, features and key limits.
    Info,
    /// One embedding per input sequence (FASTA, CSV or plain text).
    Embed(embed::EmbedArgs),
    /// Attention probabilities [layers, heads, T, T] per input sequence, as a .safetensors file.
    Attention(attention::AttentionArgs),
    /// Class probabilities per input sequence, from a model with a classification head.
    Classify(classify::ClassifyArgs),
    /// Throughput benchmarks (tokens/s, GFLOP/s, peak memory).
    Bench(bench::BenchArgs),
    /// Masked-language-model pretraining from FASTA files, with checkpoints and --resume.
    Pretrain(pretrain::PretrainArgs),
    /// Fine-tunes a sequence classifier on a GUE-style folder (train/dev/test.csv).
    Finetune(finetune::FinetuneArgs),
    /// Fine-tunes and evaluates on every GUE subset present; writes results.csv/.md and a chart.
    Gue(gue::GueArgs),
    /// The MLM loss and every parameter's gradient for one batch (and optional AdamW steps).
    Grad(grad::GradArgs),
    /// Serves the browser page (web/dist, built by scripts/build-web.sh) on localhost.
    Serve(serve::ServeArgs),
    /// Tokenizer tools: `train` learns a DNABERT-2-style BPE vocabulary from FASTA files.
    Tokenizer(tokenizer::TokenizerArgs),
    /// Variant-effect scores (masked-LM log-likelihood ratios) of a VCF's alleles against a genome.
    Vep(vep::VepArgs),
    /// Cuts a genome into windows in shard FASTA files and a BED (for workflows).
    Windows(windows::WindowsArgs),
}

impl DeviceArgs {
    /// The device these options select; the one-line notice goes to stderr.
    pub fn device(&self) -> Result<dnagpu::Device> {
        self.device_for(None)
    }

    /// [`DeviceArgs::device`] for a data-parallel rank (`dist`): the rank's
    /// own adapter by its node-local rank, unless --gpu says.
    pub fn device_for(&self, dist: Option<&Distributed>) -> Result<dnagpu::Device> {
        let choice: dnagpu::BackendChoice = self.backend.parse()?;
        let local = dist.map(|d| d.collective.local_rank());
        let (dev, notice) = pollster::block_on(dnagpu::Device::select_for_rank(
            choice,
            self.gpu.as_deref(),
            local,
        ))?;
        let rank = dist.map(|d| format!("rank {} of {}: ", d.rank(), d.size()));
        eprintln!("{}{notice}", rank.unwrap_or_default());
        Ok(dev)
    }
}

/// glibc hands every block over 32 MiB to mmap and back to the kernel when
/// freed, so each op's output on the CPU backend (a [tokens, 3072] buffer is
/// 50 MB at 32 x 128 tokens) is page-faulted and zeroed again: 7-9% of a
/// forward here (docs/benchmarks.md, CPU). Serve large blocks from the heap
/// and keep freed memory for reuse, as PyTorch's CPU guides do with
/// jemalloc; one job per process, so the peak is what it would be anyway.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation policy; called before
    // any thread starts. A refusal (returns 0) leaves the defaults.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Runs `body` (a training command; `Some(code)`: exit with it, a signal
/// came); as a rank (`dist`), an error ends every rank of the job.
pub fn run_ranked(
    dist: Option<std::sync::Arc<Distributed>>,
    body: impl FnOnce(Option<std::sync::Arc<Distributed>>) -> Result<Option<i32>>,
) -> Result<()> {
    let code = match &dist {
        Some(d) => {
            d.or_abort(body(dist.clone()).map_err(|e| dnagpu::Error::Invalid(format!("{e:#}"))))
        }
        None => body(None)?,
    };
    if let Some(code) = code {
        // MPI is finalised first.
        drop(dist);
        std::process::exit(code);
    }
    Ok(())
}

/// `--distributed`: this process's rank of the MPI job; `None` without the flag.
pub fn join(distributed: bool) -> Result<Option<std::sync::Arc<Distributed>>> {
    Ok(distributed
        .then(dnagpu::train::distributed::join_mpi)
        .transpose()?)
}

fn main() -> Result<()> {
    // Like other Unix tools, end quietly when the reader of stdout goes away
    // (`dnagpu embed | head`) instead of panicking on the broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Info => info::run(&cli.device),
        Command::Embed(args) => embed::run(&cli.device, &args),
        Command::Attention(args) => attention::run(&cli.device, &args),
        Command::Classify(args) => classify::run(&cli.device, &args),
        Command::Bench(args) => bench::run(&cli.device, &args),
        Command::Tokenizer(args) => tokenizer::run(&args),
        Command::Pretrain(args) => pretrain::run(&cli.device, &args),
        Command::Grad(args) => grad::run(&cli.device, &args),
        Command::Finetune(args) => finetune::run(&cli.device, &args),
        Command::Gue(args) => gue::run(&cli.device, &args),
        Command::Serve(args) => serve::run(&args),
        Command::Vep(args) => vep::run(&cli.device, &args),
        Command::Windows(args) => windows::run(&args),
    }
}
