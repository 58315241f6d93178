//! What `Model`'s calls return to JS: rows of floats with their record ids
//! and labels, and evaluation scores.

use wasm_bindgen::prelude::*;

/// Ids and labels ('' where none) of the input records, in input order,
/// and what the reader noticed (ambiguous bases, renamed duplicate ids).
#[derive(Clone)]
pub(crate) struct Rows {
    pub ids: Vec<String>,
    pub labels: Vec<String>,
    pub warnings: Vec<String>,
}

impl Rows {
    pub fn of(input: &dnagpu::data::ReadOutput) -> Self {
        Self {
            ids: input.records.iter().map(|r| r.id.clone()).collect(),
            labels: input
                .records
                .iter()
                .map(|r| r.label.clone().unwrap_or_default())
                .collect(),
            warnings: input.warnings.clone(),
        }
    }
}

/// Pooled embeddings, [rows, hidden] row-major.
#[wasm_bindgen]
#[derive(Clone)]
pub struct Embeddings {
    pub(crate) rows: Rows,
    pub(crate) hidden: usize,
    pub(crate) values: Vec<f32>,
}

#[wasm_bindgen]
impl Embeddings {
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.rows.ids.len()
    }
    #[wasm_bindgen(getter)]
    pub fn hidden(&self) -> usize {
        self.hidden
    }
    pub fn ids(&self) -> Vec<String> {
        self.rows.ids.clone()
    }
    pub fn labels(&self) -> Vec<String> {
        self.rows.labels.clone()
    }
    pub fn warnings(&self) -> Vec<String> {
        self.rows.warnings.clone()
    }
    pub fn values(&self) -> Vec<f32> {
        self.values.clone()
    }
    /// The `.npy` download (float32 `[rows, hidden]`), the CLI's writer.
    pub fn npy(&self) -> Vec<u8> {
        dnagpu::export::npy_f32(&[self.rows.ids.len(), self.hidden], &self.values)
    }
    /// The `.csv` download (`id,e0,…`), byte for byte the CLI's.
    pub fn csv(&self) -> Result<String, JsError> {
        dnagpu::export::csv(&self.rows.ids, self.hidden, &self.values).map_err(crate::js)
    }
}

/// Class probabilities, [rows, classes] row-major.
#[wasm_bindgen]
#[derive(Clone)]
pub struct Classified {
    pub(crate) rows: Rows,
    pub(crate) classes: usize,
    pub(crate) probs: Vec<f32>,
}

#[wasm_bindgen]
impl Classified {
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.rows.ids.len()
    }
    #[wasm_bindgen(getter)]
    pub fn classes(&self) -> usize {
        self.classes
    }
    pub fn ids(&self) -> Vec<String> {
        self.rows.ids.clone()
    }
    pub fn labels(&self) -> Vec<String> {
        self.rows.labels.clone()
    }
    pub fn warnings(&self) -> Vec<String> {
        self.rows.warnings.clone()
    }
    pub fn probs(&self) -> Vec<f32> {
        self.probs.clone()
    }
    /// The predictions download, the CLI's CSV (`id,prediction,prob_0,…`)
    /// with a `label` column when every record has a label (the CLI's rule,
    /// and the streamed `classifyFile`'s).
    pub fn csv(&self) -> Result<String, JsError> {
        let probs: Vec<Vec<f32>> = self
            .probs
            .chunks(self.classes.max(1))
            .map(<[f32]>::to_vec)
            .collect();
        let labels: Vec<&str> = self.rows.labels.iter().map(String::as_str).collect();
        let with_labels = labels.iter().all(|l| !l.is_empty());
        dnagpu::export::predictions_csv(&self.rows.ids, &probs, with_labels.then_some(&labels[..]))
            .map_err(crate::js)
    }
}

/// A classifier's scores on a labelled CSV.
#[wasm_bindgen]
pub struct Evaluation {
    pub(crate) inner: dnagpu::train::finetune::Evaluation,
}

#[wasm_bindgen]
impl Evaluation {
    #[wasm_bindgen(getter)]
    pub fn n(&self) -> usize {
        self.inner.probs.len()
    }
    #[wasm_bindgen(getter)]
    pub fn classes(&self) -> usize {
        self.inner.confusion.classes()
    }
    #[wasm_bindgen(getter)]
    pub fn mcc(&self) -> f64 {
        self.inner.metrics.mcc
    }
    #[wasm_bindgen(getter)]
    pub fn f1(&self) -> f64 {
        self.inner.metrics.f1_macro
    }
    #[wasm_bindgen(getter)]
    pub fn accuracy(&self) -> f64 {
        self.inner.metrics.accuracy
    }
    #[wasm_bindgen(getter)]
    pub fn loss(&self) -> f64 {
        self.inner.loss
    }
    /// [classes, classes] counts, row = true class, column = predicted.
    pub fn confusion(&self) -> Vec<u32> {
        let c = self.classes();
        (0..c * c)
            .map(|i| self.inner.confusion.counts(i / c, i % c) as u32)
            .collect()
    }
    pub fn probs(&self) -> Vec<f32> {
        self.inner.probs.concat()
    }
}
