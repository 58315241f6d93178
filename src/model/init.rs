//! Random initialisation for training from scratch, tests and benchmarks:
//! weights N(0, 0.02²) (`initializer_range`), biases 0, LayerNorm 1 and 0,
//! as docs/models/dnabert2.md says. Same seed, same weights, on every target.

use std::collections::BTreeMap;

use super::config::Config;
use super::encoder::Family;
use super::io::{HostTensor, Weights};
use crate::rng::Rng;

/// Every parameter of an MLM model of `cfg`, by Hugging Face name and shape.
pub fn parameter_shapes(cfg: &Config) -> Vec<(String, Vec<usize>)> {
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let mut p = vec![
        (
            "bert.embeddings.word_embeddings.weight".to_string(),
            vec![v, h],
        ),
        (
            "bert.embeddings.token_type_embeddings.weight".to_string(),
            vec![cfg.type_vocab_size, h],
        ),
        ("bert.embeddings.LayerNorm.weight".to_string(), vec![h]),
        ("bert.embeddings.LayerNorm.bias".to_string(), vec![h]),
    ];
    for l in 0..cfg.num_hidden_layers {
        let pre = format!("bert.encoder.layer.{l}");
        for (name, shape) in [
            ("attention.self.Wqkv.weight", vec![3 * h, h]),
            ("attention.self.Wqkv.bias", vec![3 * h]),
            ("attention.output.dense.weight", vec![h, h]),
            ("attention.output.dense.bias", vec![h]),
            ("attention.output.LayerNorm.weight", vec![h]),
            ("attention.output.LayerNorm.bias", vec![h]),
            ("mlp.gated_layers.weight", vec![2 * i, h]),
            ("mlp.wo.weight", vec![h, i]),
            ("mlp.wo.bias", vec![h]),
            ("mlp.layernorm.weight", vec![h]),
            ("mlp.layernorm.bias", vec![h]),
        ] {
            p.push((format!("{pre}.{name}"), shape));
        }
    }
    for (name, shape) in [
        ("cls.predictions.transform.dense.weight", vec![h, h]),
        ("cls.predictions.transform.dense.bias", vec![h]),
        ("cls.predictions.transform.LayerNorm.weight", vec![h]),
        ("cls.predictions.transform.LayerNorm.bias", vec![h]),
        ("cls.predictions.decoder.bias", vec![v]),
    ] {
        p.push((name.to_string(), shape));
    }
    p
}

/// The encoder parameters of the other families' checkpoints (benchmarks):
/// BERT (DNABERT) or ESM (the Nucleotide Transformer; v2 when the config's
/// positions are rotary, with SwiGLU), by Hugging Face name.
pub fn other_encoder_shapes(cfg: &Config, family: Family) -> Vec<(String, Vec<usize>)> {
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let positions = cfg.max_position_embeddings.unwrap_or(512);
    let rotary = cfg.position_embedding_type.as_deref() == Some("rotary");
    let root = if family == Family::Esm { "esm" } else { "bert" };
    let mut p = vec![(
        format!("{root}.embeddings.word_embeddings.weight"),
        vec![v, h],
    )];
    if !rotary {
        p.push((
            format!("{root}.embeddings.position_embeddings.weight"),
            vec![positions, h],
        ));
    }
    if family == Family::Bert {
        p.push((
            "bert.embeddings.token_type_embeddings.weight".into(),
            vec![cfg.type_vocab_size, h],
        ));
        p.push(("bert.embeddings.LayerNorm.weight".into(), vec![h]));
        p.push(("bert.embeddings.LayerNorm.bias".into(), vec![h]));
    } else {
        p.push(("esm.encoder.emb_layer_norm_after.weight".into(), vec![h]));
        p.push(("esm.encoder.emb_layer_norm_after.bias".into(), vec![h]));
    }
    for l in 0..cfg.num_hidden_layers {
        let pre = format!("{root}.encoder.layer.{l}");
        let mut add = |name: &str, shape: Vec<usize>| p.push((format!("{pre}.{name}"), shape));
        for m in ["query", "key", "value"] {
            add(&format!("attention.self.{m}.weight"), vec![h, h]);
            add(&format!("attention.self.{m}.bias"), vec![h]);
        }
        add("attention.output.dense.weight", vec![h, h]);
        add("attention.output.dense.bias", vec![h]);
        let norms = if family == Family::Esm {
            ["attention.LayerNorm", "LayerNorm"]
        } else {
            ["attention.output.LayerNorm", "output.LayerNorm"]
        };
        for n in norms {
            add(&format!("{n}.weight"), vec![h]);
            add(&format!("{n}.bias"), vec![h]);
        }
        if rotary {
            add("intermediate.dense.weight", vec![2 * i, h]);
            add("output.dense.weight", vec![h, i]);
        } else {
            add("intermediate.dense.weight", vec![i, h]);
            add("intermediate.dense.bias", vec![i]);
            add("output.dense.weight", vec![h, i]);
            add("output.dense.bias", vec![h]);
        }
    }
    p
}

/// A freshly initialised MLM model's weights.
pub fn random_weights(cfg: &Config, seed: u64) -> Weights {
    random_weights_of(parameter_shapes(cfg), seed)
}

/// Weights of `shapes`, initialised as docs/models/dnabert2.md says.
pub fn random_weights_of(shapes: Vec<(String, Vec<usize>)>, seed: u64) -> Weights {
    let mut rng = Rng::new(seed);
    let mut tensors = BTreeMap::new();
    for (name, shape) in shapes {
        let n: usize = shape.iter().product();
        let lower = name.to_ascii_lowercase();
        let data =
            if lower.contains("layernorm.weight") || lower.contains("layer_norm_after.weight") {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                (0..n).map(|_| (rng.normal() * 0.02) as f32).collect()
            };
        tensors.insert(name, HostTensor { shape, data });
    }
    Weights::new(tensors, format!("random init (seed {seed})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_117m_config_has_the_documented_parameter_count() {
        let n: usize = parameter_shapes(&Config::dnabert2_117m())
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert_eq!(n, 117_074_176);
    }

    #[test]
    fn init_is_seeded_and_has_the_documented_statistics() {
        let mut cfg = Config::dnabert2_117m();
        cfg.hidden_size = 64;
        cfg.intermediate_size = 128;
        cfg.num_hidden_layers = 1;
        cfg.num_attention_heads = 4;
        let a = random_weights(&cfg, 7);
        let b = random_weights(&cfg, 7);
        let w = a
            .take("bert.embeddings.word_embeddings.weight", &[4096, 64])
            .unwrap();
        assert_eq!(
            w,
            b.take("bert.embeddings.word_embeddings.weight", &[4096, 64])
                .unwrap()
        );
        let mean = w.data.iter().map(|&v| v as f64).sum::<f64>() / w.data.len() as f64;
        let std = (w
            .data
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / w.data.len() as f64)
            .sqrt();
        assert!(
            mean.abs() < 1e-3 && (std - 0.02).abs() < 1e-3,
            "mean {mean} std {std}"
        );
        assert!(a
            .take("bert.embeddings.LayerNorm.weight", &[64])
            .unwrap()
            .data
            .iter()
            .all(|&v| v == 1.0));
    }
}
