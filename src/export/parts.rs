//! Results kept as the bytes of their downloads, a few rows at a time: the
//! `.npy` and CSV files that [`super::npy_f32`] and [`super::csv`] write
//! whole, and the predictions CSV of [`super::predictions_csv`], cut into
//! parts whose concatenation is byte for byte the same. The page streams a
//! large input's results into files this way (the CLI writes its files
//! with `EmbeddingWriter` and `PredictionWriter`).

use super::CsvText;
use super::{check_row, csv_header, csv_row, npy_header, prediction_row, predictions_header};
use crate::error::{Error, Result};

/// The `.npy` and CSV of `rows` embeddings in the making.
pub struct EmbeddingParts {
    expected: usize,
    written: usize,
    npy: Vec<u8>,
    csv: CsvText,
}

impl EmbeddingParts {
    /// Parts of `rows` embeddings of width `dim`: the first parts start
    /// with the `.npy` header and the CSV header.
    pub fn new(rows: usize, dim: usize) -> Result<Self> {
        let mut csv = CsvText::new();
        csv.row(csv_header(dim))?;
        Ok(Self {
            expected: rows,
            written: 0,
            npy: npy_header(&[rows, dim]),
            csv,
        })
    }

    /// Adds one record's embedding, checked to be finite.
    pub fn push(&mut self, id: &str, values: &[f32]) -> Result<()> {
        check_row(
            id,
            self.written + 1,
            values,
            "embedding",
            "nothing was kept",
        )?;
        if self.written == self.expected {
            return Err(self.miscounted(self.written + 1));
        }
        self.written += 1;
        self.npy.extend_from_slice(bytemuck::cast_slice(values));
        self.csv.row(csv_row(id, values))
    }

    /// Bytes held for the next [`Self::take`] (about: the CSV writer
    /// buffers a few kB of its own).
    pub fn held(&self) -> usize {
        self.npy.len() + self.csv.0.get_ref().len()
    }

    /// The `.npy` and CSV bytes added since the last take.
    pub fn take(&mut self) -> Result<(Vec<u8>, String)> {
        let csv = std::mem::take(&mut self.csv).finish()?;
        Ok((std::mem::take(&mut self.npy), csv))
    }

    /// The last parts; an error if the count differs from the header's.
    pub fn finish(mut self) -> Result<(Vec<u8>, String)> {
        if self.written != self.expected {
            return Err(self.miscounted(self.written));
        }
        self.take()
    }

    fn miscounted(&self, got: usize) -> Error {
        Error::Invalid(format!(
            "{got} embeddings for the {} records the input held when first read (did it change meanwhile?); nothing was kept",
            self.expected
        ))
    }
}

/// The predictions CSV (`id,prediction,prob_0,…` and `label` when
/// labelled) in the making.
pub struct PredictionParts {
    labelled: bool,
    written: usize,
    csv: CsvText,
}

impl PredictionParts {
    /// Parts of the CSV of `classes` probabilities a row; the first part
    /// starts with the header.
    pub fn new(classes: usize, labelled: bool) -> Result<Self> {
        let mut csv = CsvText::new();
        csv.row(predictions_header(classes, labelled))?;
        Ok(Self {
            labelled,
            written: 0,
            csv,
        })
    }

    /// Adds one record's probabilities (checked to be finite) and, when
    /// labelled, its label.
    pub fn push(&mut self, id: &str, probs: &[f32], label: Option<&str>) -> Result<()> {
        check_row(
            id,
            self.written + 1,
            probs,
            "class probabilities",
            "nothing was kept",
        )?;
        self.written += 1;
        let label = self.labelled.then(|| label.unwrap_or_default());
        self.csv.row(prediction_row(id, probs, label))
    }

    /// Bytes held for the next [`Self::take`] (about).
    pub fn held(&self) -> usize {
        self.csv.0.get_ref().len()
    }

    /// The CSV text added since the last take.
    pub fn take(&mut self) -> Result<String> {
        std::mem::take(&mut self.csv).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_concatenate_to_the_whole_files() {
        let (rows, dim) = (7, 3);
        let ids: Vec<String> = (0..rows).map(|r| format!("seq {r}, \"x\"")).collect();
        let values: Vec<f32> = (0..rows * dim).map(|i| i as f32 * -0.37 + 1e-7).collect();
        let mut parts = EmbeddingParts::new(rows, dim).unwrap();
        let (mut npy, mut csv) = (Vec::new(), String::new());
        for (r, id) in ids.iter().enumerate() {
            parts.push(id, &values[r * dim..(r + 1) * dim]).unwrap();
            if r % 3 == 1 {
                assert!(parts.held() > 0);
                let (n, c) = parts.take().unwrap();
                npy.extend(n);
                csv.push_str(&c);
            }
        }
        let (n, c) = parts.finish().unwrap();
        npy.extend(n);
        csv.push_str(&c);
        assert_eq!(npy, super::super::npy_f32(&[rows, dim], &values));
        assert_eq!(csv, super::super::csv(&ids, dim, &values).unwrap());
    }

    #[test]
    fn non_finite_values_and_wrong_counts_are_refused() {
        let mut parts = EmbeddingParts::new(2, 2).unwrap();
        parts.push("a", &[1.0, 2.0]).unwrap();
        let err = parts.push("b", &[f32::NAN, 0.0]).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "record \"b\" (number 2 of the input): its embedding holds NaN; nothing was kept"
            ),
            "{err}"
        );
        let err = parts.finish().err().unwrap().to_string();
        assert!(err.starts_with("1 embeddings for the 2 records"), "{err}");
        let mut parts = EmbeddingParts::new(1, 1).unwrap();
        parts.push("a", &[1.0]).unwrap();
        let err = parts.push("b", &[1.0]).unwrap_err().to_string();
        assert!(err.starts_with("2 embeddings for the 1 records"), "{err}");
    }

    #[test]
    fn prediction_parts_concatenate_to_the_whole_csv() {
        let ids: Vec<String> = (0..5).map(|r| format!("s,{r}")).collect();
        let probs: Vec<Vec<f32>> = (0..5)
            .map(|r| vec![0.1 * r as f32, 1.0 - 0.1 * r as f32])
            .collect();
        let labels = ["1", "0", "", "1", "0"];
        for labelled in [false, true] {
            let mut parts = PredictionParts::new(2, labelled).unwrap();
            let mut csv = String::new();
            for r in 0..5 {
                parts.push(&ids[r], &probs[r], Some(labels[r])).unwrap();
                if r == 2 {
                    csv.push_str(&parts.take().unwrap());
                }
            }
            csv.push_str(&parts.take().unwrap());
            let whole =
                super::super::predictions_csv(&ids, &probs, labelled.then_some(&labels[..]));
            assert_eq!(csv, whole.unwrap());
        }
        let mut parts = PredictionParts::new(2, false).unwrap();
        let err = parts
            .push("x", &[f32::INFINITY, 0.0], None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("record \"x\" (number 1 of the input): its class probabilities holds inf; nothing was kept"), "{err}");
    }
}
