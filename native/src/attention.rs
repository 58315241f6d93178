//! `dnagpu attention`: per input record, the attention probabilities of
//! chosen layers and heads (`dnagpu::attention_maps`) in one safetensors
//! file: `<id>` f32 [layers, heads, T, T], `<id>.input_ids` int64 [T], and
//! in the metadata `<id>.tokens` (the token strings as a JSON list),
//! `layers` and `heads` (the indices, JSON lists).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use dnagpu::attention_maps::{attention_maps, check_length, resolve};
use dnagpu::export::TensorFile;
use dnagpu::fs::check_output;
use dnagpu::model::{Encoder, Model};

use crate::input::InputArgs;
use crate::model_arg::ModelArgs;
use crate::DeviceArgs;

#[derive(clap::Args)]
pub struct AttentionArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    input: InputArgs,
    /// The maps: a .safetensors file.
    #[arg(long)]
    output: PathBuf,
    /// Encoder layers, 0-based, comma-separated (negative counts from the end); default: all.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    layers: Option<Vec<isize>>,
    /// Attention heads, 0-based, comma-separated (negative counts from the end); default: all.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    heads: Option<Vec<isize>>,
}

pub fn run(dev_args: &DeviceArgs, args: &AttentionArgs) -> Result<()> {
    let out = &args.output;
    check_output(out, &args.input.path())?;
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !ext.eq_ignore_ascii_case("safetensors") {
        bail!(
            "{}: attention maps are written as .safetensors",
            out.display()
        );
    }
    let src = args.model.files()?;
    let cfg = &src.config;
    let layers = resolve(args.layers.as_deref(), cfg.num_hidden_layers, "--layers")?;
    let heads = resolve(args.heads.as_deref(), cfg.num_attention_heads, "--heads")?;
    let input = args.input.scan()?;
    let tok = &src.tokenizer;
    // Every record's length is checked before any work (a bound from its
    // bases first: a chromosome is refused without tokenizing it).
    let max_positions = Encoder::max_positions_of(cfg, &src.weights);
    for (i, r) in input.records(&args.input)?.enumerate() {
        let r = r?;
        let bp = r.seq.len();
        check_length(max_positions, i + 1, bp, bp / tok.most_bases_per_token())?;
        check_length(max_positions, i + 1, bp, tok.encode(&r.seq)?.ids.len())?;
    }

    let dev = dev_args.device()?;
    let model = Model::load_with(&dev, cfg, &src.weights, src.precision)?;
    let mut file = TensorFile::create(out)?;
    let mut meta = BTreeMap::new();
    let t0 = std::time::Instant::now();
    let mut records = 0;
    for r in input.records(&args.input)? {
        let r = r?;
        let ids = tok.encode(&r.seq)?.ids;
        let t = ids.len();
        file.begin_f32(&r.id, &[layers.len(), heads.len(), t, t])?;
        pollster::block_on(attention_maps(
            &dev,
            &model.encoder,
            &ids,
            &layers,
            &heads,
            |m| file.append_f32(m),
        ))?;
        let wide: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        file.push_i64(&format!("{}.input_ids", r.id), &wide)?;
        let names: Vec<String> = ids
            .iter()
            .map(|&i| tok.token(i).unwrap_or_else(|| format!("#{i}")))
            .collect();
        meta.insert(format!("{}.tokens", r.id), serde_json::to_string(&names)?);
        records += 1;
    }
    input.check_count(records)?;
    meta.insert("layers".into(), serde_json::to_string(&layers)?);
    meta.insert("heads".into(), serde_json::to_string(&heads)?);
    file.finish(meta)?;
    eprintln!(
        "wrote the attention maps of {records} sequences ({} layers x {} heads) with {} on {} in {:.2} s to {}",
        layers.len(),
        heads.len(),
        src.source,
        dev.name(),
        t0.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
