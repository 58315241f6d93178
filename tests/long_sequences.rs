//! One sequence of 20,000 tokens runs whole, with memory linear in its
//! length (attention keeps one block of scores per task, never T x T), on
//! the CPU backend. (The GPU's linear memory is tests/attention_memory.rs;
//! lavapipe is too slow for T = 20,000.)

mod common;

use common::run;
use dnagpu::embed::{embed, EmbedOptions, Pooling};
use dnagpu::model::{init, Config, Model};
use dnagpu::tokenize::{BpeTokenizer, Tokenizer};
use dnagpu::Device;

#[test]
fn attention_at_20000_tokens_matches_f64_rows() {
    run(dnagpu::ops::attention::check::check_attention_rows(
        &Device::Cpu,
        20_000,
        2,
        8,
        &[0, 1, 9_999, 15_000, 19_998, 19_999],
        5,
    ));
}

#[test]
fn a_20000_token_sequence_embeds_whole() {
    let text = r#"{"vocab_size": 4096, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}"#;
    let cfg = Config::from_json(text, "test config").unwrap();
    let model = Model::load(&Device::Cpu, &cfg, &init::random_weights(&cfg, 1)).unwrap();
    let tok: Tokenizer = BpeTokenizer::dnabert2().into();
    let mut rng = dnagpu::rng::Rng::new(2);
    // Random DNA tokenizes to about 4.5-5 bp per token.
    let seq: String = (0..110_000)
        .map(|_| b"ACGT"[rng.below(4) as usize] as char)
        .collect();
    let t = tok.encode(&seq).unwrap().ids.len();
    assert!(t >= 20_000, "{t} tokens");
    let opts = EmbedOptions {
        pooling: Pooling::Mean,
        batching: dnagpu::embed::Batching {
            batch_size: 1,
            max_tokens: 1024,
        },
        ..Default::default()
    };
    let out =
        pollster::block_on(embed(&Device::Cpu, &model, &tok, &[&seq], &opts, |_| {})).unwrap();
    assert_eq!(out[0].input_ids.len(), t);
    assert_eq!(out[0].values.len(), 32);
    assert!(out[0].values.iter().all(|v| v.is_finite()));
}
