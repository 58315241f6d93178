//! BERT masking and padding: 15% of the regular tokens of each sequence
//! are chosen (each independently, as Hugging Face's
//! `DataCollatorForLanguageModeling` does); of those 80% become [MASK], 10%
//! a random regular token, 10% stay. Special tokens ([UNK], [CLS], [SEP],
//! [PAD], [MASK]: ids 0-4 in DNABERT-2's layout) are never chosen.

use super::batch::HostBatch;
use crate::rng::Rng;

/// DNABERT-2's special ids (also what `dnagpu tokenizer train` writes).
pub const PAD: u32 = 3;
pub const MASK: u32 = 4;
/// The first id that is not a special token.
pub const FIRST_REGULAR: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Masking {
    /// Fraction of regular tokens chosen for prediction.
    pub prob: f64,
    pub vocab: u32,
}

impl Masking {
    /// Masks `ids` in place; returns the labels (the original id where
    /// chosen, -100 elsewhere).
    pub fn apply(&self, ids: &mut [u32], rng: &mut Rng) -> Vec<i64> {
        let mut labels = vec![-100i64; ids.len()];
        for (id, label) in ids.iter_mut().zip(labels.iter_mut()) {
            if *id < FIRST_REGULAR || rng.unit() >= self.prob {
                continue;
            }
            *label = *id as i64;
            self.replace(id, rng);
        }
        labels
    }

    fn replace(&self, id: &mut u32, rng: &mut Rng) {
        let r = rng.unit();
        if r < 0.8 {
            *id = MASK;
        } else if r < 0.9 {
            *id = FIRST_REGULAR + rng.below(self.vocab - FIRST_REGULAR);
        }
    }

    /// Masks and pads tokenized sequences into one batch [B, longest].
    /// A batch where chance chose nothing gets one chosen token, so that
    /// every batch has a loss.
    pub fn collate(&self, seqs: &[Vec<u32>], rng: &mut Rng) -> HostBatch {
        let t = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let b = seqs.len();
        let mut ids = vec![PAD; b * t];
        let mut mask = vec![0u32; b * t];
        let mut labels = vec![-100i64; b * t];
        for (i, s) in seqs.iter().enumerate() {
            let row = i * t..i * t + s.len();
            ids[row.clone()].copy_from_slice(s);
            mask[row.clone()].iter_mut().for_each(|m| *m = 1);
            let l = self.apply(&mut ids[row.clone()], rng);
            labels[row].copy_from_slice(&l);
        }
        if labels.iter().all(|&l| l <= 0) {
            let regular: Vec<usize> = (0..ids.len())
                .filter(|&i| mask[i] == 1 && ids[i] >= FIRST_REGULAR)
                .collect();
            if !regular.is_empty() {
                let i = regular[rng.below(regular.len() as u32) as usize];
                labels[i] = ids[i] as i64;
                self.replace(&mut ids[i], rng);
            }
        }
        HostBatch {
            batch: b,
            seq: t,
            ids,
            mask,
            labels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_about_15_percent_of_regular_tokens_and_never_specials() {
        let m = Masking {
            prob: 0.15,
            vocab: 4096,
        };
        let mut rng = Rng::new(3);
        let orig: Vec<u32> = (0..200_000)
            .map(|i| [1, 2, 0, 4][i % 4].max((i % 4000) as u32))
            .collect();
        let mut ids = orig.clone();
        let labels = m.apply(&mut ids, &mut rng);
        let regular = orig.iter().filter(|&&i| i >= FIRST_REGULAR).count() as f64;
        let chosen: Vec<usize> = (0..ids.len()).filter(|&i| labels[i] > 0).collect();
        let frac = chosen.len() as f64 / regular;
        assert!((frac - 0.15).abs() < 0.005, "{frac}");
        assert!(chosen
            .iter()
            .all(|&i| orig[i] >= FIRST_REGULAR && labels[i] == orig[i] as i64));
        let masked =
            chosen.iter().filter(|&&i| ids[i] == MASK).count() as f64 / chosen.len() as f64;
        let kept =
            chosen.iter().filter(|&&i| ids[i] == orig[i]).count() as f64 / chosen.len() as f64;
        assert!(
            (masked - 0.8).abs() < 0.01 && (kept - 0.1).abs() < 0.01,
            "{masked} {kept}"
        );
        assert!((0..ids.len()).all(|i| labels[i] > 0 || ids[i] == orig[i]));
        assert!(ids.iter().all(|&i| i < 4096));
    }

    #[test]
    fn collate_pads_and_always_labels_something() {
        let m = Masking {
            prob: 0.0,
            vocab: 4096,
        };
        let b = m.collate(&[vec![1, 9, 10, 2], vec![1, 11, 2]], &mut Rng::new(1));
        assert_eq!((b.batch, b.seq), (2, 4));
        assert_eq!(b.mask, vec![1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(b.ids[7], PAD);
        assert_eq!(b.labels.iter().filter(|&&l| l > 0).count(), 1);
    }
}
