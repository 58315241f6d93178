//! Attention maps (`dnagpu attention`): per sequence, the softmax attention
//! probabilities [layers, heads, T, T] of chosen layers and heads, T = its
//! tokens with the special ones, exactly as the forward forms them (ALiBi
//! for DNABERT-2, rotary q and k for NT v2, neither for BERT and NT v1),
//! from [`ops::attention_probs`], a kernel that materialises what the flash
//! kernels never hold. One sequence runs at a time, without padding; each
//! (layer, head) map is handed on as soon as it is read back, so memory
//! holds one [T, T] map, not the whole [layers, heads, T, T].

use crate::error::{Error, Result};
use crate::model::{Dropout, Encoder};
use crate::ops;
use crate::Device;

/// The most tokens a sequence may have: one map is T² floats (16 MiB at
/// 2,048), and a sequence's whole output L·A·T² (2.4 GB for 12 x 12).
pub const MAX_TOKENS: usize = 2048;

/// Indices as given (negative counting from the end: -1 = the last) to
/// 0-based ones below `count`, ascending whatever the order given; `None`
/// = all. An index out of range or given twice is an error naming `flag`
/// and the range.
pub fn resolve(given: Option<&[isize]>, count: usize, flag: &str) -> Result<Vec<usize>> {
    let Some(given) = given else {
        return Ok((0..count).collect());
    };
    if given.is_empty() {
        return Err(Error::Invalid(format!("{flag}: no index given")));
    }
    let mut out: Vec<usize> = Vec::with_capacity(given.len());
    for &g in given {
        let i = if g < 0 { count as isize + g } else { g };
        if i < 0 || i >= count as isize {
            return Err(Error::Invalid(format!(
                "{flag} {g}: this model has {count} (0..={}; negative counts from the end)",
                count as isize - 1
            )));
        }
        if out.contains(&(i as usize)) {
            return Err(Error::Invalid(format!("{flag}: {g} is given twice")));
        }
        out.push(i as usize);
    }
    out.sort_unstable();
    Ok(out)
}

/// A sequence of `tokens` tokens is within [`MAX_TOKENS`] and the model's
/// `max_positions` (a learned position table: [`Encoder::max_positions`]);
/// else the error naming input sequence `number` of `bp` bases.
pub fn check_length(
    max_positions: Option<usize>,
    number: usize,
    bp: usize,
    tokens: usize,
) -> Result<()> {
    let max = most_tokens(max_positions);
    if tokens > max {
        return Err(Error::Invalid(format!(
            "input sequence {number} ({bp} bp) is {tokens} tokens: attention maps are written for at most {max} tokens ({} floats per map): cut it",
            max * max
        )));
    }
    Ok(())
}

/// The most tokens a map is made for: [`MAX_TOKENS`], or fewer positions.
fn most_tokens(max_positions: Option<usize>) -> usize {
    max_positions.unwrap_or(usize::MAX).min(MAX_TOKENS)
}

/// Runs `encoder` on one sequence's `ids` (special tokens included) and
/// hands `emit` each chosen map [T, T] (row = query, column = key), layer
/// by layer in ascending order, head by head in the order of `heads` within
/// each ([`resolve`] gives both ascending; 0-based: encoder layer l is
/// Hugging Face's `attentions[l]`). The layers run up to the deepest
/// chosen one; memory holds one map at a time.
pub async fn attention_maps(
    dev: &Device,
    encoder: &Encoder,
    ids: &[u32],
    layers: &[usize],
    heads: &[usize],
    mut emit: impl FnMut(&[f32]) -> Result<()>,
) -> Result<()> {
    let (count, nheads) = (encoder.layers.len(), encoder.config.num_attention_heads);
    if let Some(&l) = layers.iter().find(|&&l| l >= count) {
        return Err(Error::Invalid(format!(
            "layer {l}: the model has 0..{count}"
        )));
    }
    if let Some(&h) = heads.iter().find(|&&h| h >= nheads) {
        return Err(Error::Invalid(format!(
            "head {h}: the model has 0..{nheads}"
        )));
    }
    let t = ids.len();
    let max = most_tokens(encoder.max_positions());
    if t > max {
        return Err(Error::Invalid(format!(
            "a sequence of {t} tokens: attention maps are made for at most {max}"
        )));
    }
    let Some(&deepest) = layers.iter().max() else {
        return Ok(());
    };
    let mask = dev.tensor_u32(&[1, t], &vec![1; t])?;
    let ids = dev.tensor_u32(&[1, t], ids)?;
    let mut x = encoder.embeddings.forward(dev, &ids, &Dropout::OFF)?.x;
    for l in 0..=deepest {
        let acts = encoder.layer_forward(dev, l, &x, &mask, &Dropout::OFF, None)?;
        if layers.contains(&l) {
            for &h in heads {
                let p =
                    ops::attention_probs(dev, &acts.qkv, &mask, &encoder.slopes, nheads, h..h + 1)?;
                emit(&dev.read_f32(&p).await?)?;
            }
        }
        x = acts.out;
    }
    Ok(())
}
