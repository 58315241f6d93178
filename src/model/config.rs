//! The model's hyper-parameters, read from a Hugging Face `config.json`.

use serde::Deserialize;

use crate::error::{Error, Result};

/// A model's configuration (DNABERT-2, BERT, ESM keys). Unknown keys are
/// ignored; a missing required key is an error naming it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    #[serde(default = "ln_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default)]
    pub attention_probs_dropout_prob: f64,
    /// Classes of the classification head, when the config names them.
    #[serde(default)]
    pub num_labels: Option<usize>,
    #[serde(default)]
    pub id2label: Option<std::collections::BTreeMap<String, String>>,
    /// ESM: "absolute" (NT v1) or "rotary" (NT v2).
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    /// ESM: token dropout (NT v1), which scales embeddings at inference too.
    #[serde(default)]
    pub token_dropout: Option<bool>,
    /// ESM: the mask token whose embedding token dropout zeroes.
    #[serde(default)]
    pub mask_token_id: Option<u32>,
    #[serde(default)]
    pub max_position_embeddings: Option<usize>,
}

fn two() -> usize {
    2
}
fn ln_eps() -> f64 {
    1e-12
}
fn dropout() -> f64 {
    0.1
}

impl Config {
    /// DNABERT-2-117M (zhihan1996/DNABERT-2-117M).
    pub fn dnabert2_117m() -> Self {
        Self {
            vocab_size: 4096,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.0,
            num_labels: None,
            id2label: None,
            position_embedding_type: None,
            token_dropout: None,
            mask_token_id: None,
            max_position_embeddings: None,
        }
    }

    /// Parses `config.json` text; `origin` names the file in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let cfg: Config =
            serde_json::from_str(text).map_err(|e| Error::Invalid(format!("{origin}: {e}")))?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let bad = |msg: String| Err(Error::Invalid(format!("{origin}: {msg}")));
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
        ] {
            if v == 0 {
                return bad(format!("`{name}` must be positive"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        // The weight shapes the model code derives must have countable
        // elements: packed QKV [3H, H], the gated MLP [2I, H], the tables
        // [rows, H] (found by fuzzing: `3 * H` and `2 * I` overflowed).
        let h = self.hidden_size;
        for (name, v, factor) in [
            ("vocab_size", self.vocab_size, 1),
            ("type_vocab_size", self.type_vocab_size, 1),
            ("hidden_size", h, 3),
            ("intermediate_size", self.intermediate_size, 2),
            (
                "max_position_embeddings",
                self.max_position_embeddings.unwrap_or(0),
                1,
            ),
            ("num_labels", self.labels().unwrap_or(0), 1),
        ] {
            if v.checked_mul(factor)
                .and_then(|rows| rows.checked_mul(h))
                .is_none()
            {
                return bad(format!(
                    "`{name}` {v} is too large: with hidden_size {h}, a weight of [{factor} x {v}, {h}] has more elements than can be counted"
                ));
            }
        }
        let d = self.head_dim();
        if d > crate::ops::attention::MAX_HEAD_DIM {
            return bad(format!(
                "head dim {d} is over the supported {}",
                crate::ops::attention::MAX_HEAD_DIM
            ));
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Classes of the classification head named by the config, if any.
    pub fn labels(&self) -> Option<usize> {
        self.num_labels
            .or_else(|| self.id2label.as_ref().map(|m| m.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn reads_the_real_dnabert2_config() {
        let text = include_str!("../../assets/dnabert2/config.json");
        let cfg = Config::from_json(text, "config.json").unwrap();
        let mut want = Config::dnabert2_117m();
        want.num_labels = cfg.num_labels;
        want.id2label = cfg.id2label.clone();
        want.position_embedding_type = cfg.position_embedding_type.clone();
        want.max_position_embeddings = cfg.max_position_embeddings;
        assert_eq!(cfg, want);
    }

    #[test]
    fn a_missing_key_is_named() {
        let err = Config::from_json(r#"{"vocab_size": 8, "hidden_size": 4}"#, "m/config.json")
            .unwrap_err();
        assert!(err.to_string().contains("m/config.json"), "{err}");
        assert!(err.to_string().contains("num_hidden_layers"), "{err}");
    }

    #[test]
    fn sizes_whose_weights_cannot_be_counted_are_refused() {
        // The fuzzer's input: serde also reads a struct from an array.
        let err = Config::from_json("[5,5,6,5,18446744073709551615]", "c.json").unwrap_err();
        assert!(
            err.to_string()
                .contains("`intermediate_size` 18446744073709551615 is too large"),
            "{err}"
        );
        let text = format!(
            r#"{{"vocab_size": 8, "hidden_size": {h}, "num_hidden_layers": 1, "num_attention_heads": {h}, "intermediate_size": 4}}"#,
            h = usize::MAX / 2
        );
        let err = Config::from_json(&text, "c.json").unwrap_err();
        assert!(
            err.to_string().contains("`vocab_size` 8 is too large"),
            "{err}"
        );
    }

    #[test]
    fn heads_must_divide_hidden() {
        let text = r#"{"vocab_size": 8, "hidden_size": 10, "num_hidden_layers": 1, "num_attention_heads": 3, "intermediate_size": 4}"#;
        let err = Config::from_json(text, "c.json").unwrap_err();
        assert!(err.to_string().contains("not a multiple"), "{err}");
    }
}
