//! Encoders for embedding outputs: bytes in the formats users load
//! elsewhere (NumPy `.npy`, CSV, JSON lines, safetensors). The browser
//! offers them as downloads; `stream` writes them row by row as results
//! come (the CLI), each to a temporary file renamed when complete, and
//! [`EmbeddingParts`] a few rows at a time into memory (the page's large
//! inputs).

mod parts;
#[cfg(not(target_arch = "wasm32"))]
mod stream;

pub use parts::{EmbeddingParts, PredictionParts};

#[cfg(not(target_arch = "wasm32"))]
pub use stream::{EmbeddingWriter, OutputFormat, PredictionWriter, TensorFile};

use std::collections::HashMap;

use crate::error::{Error, Result};

/// Checks results before they are written: a NaN or infinity (an overflow,
/// a diverged model) is an error naming the first record that holds one,
/// never a file of silent garbage. `rows` are the records' values, in the
/// order of `ids`; `what` names them ("embedding", "probabilities").
pub fn check_finite<'a>(
    ids: &[String],
    rows: impl IntoIterator<Item = &'a [f32]>,
    what: &str,
) -> Result<()> {
    for (i, row) in rows.into_iter().enumerate() {
        let id = ids.get(i).map_or("?", String::as_str);
        check_row(id, i + 1, row, what, "nothing was written")?;
    }
    Ok(())
}

/// [`check_finite`] for one record, input number `number`; `written` says
/// what became of the output ("nothing was written").
pub fn check_row(id: &str, number: usize, row: &[f32], what: &str, written: &str) -> Result<()> {
    match row.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(Error::Invalid(format!(
            "record \"{id}\" (number {number} of the input): its {what} holds {v}; {written}. The model's weights or the sequence drive it out of range (with --precision f16 an activation past f16's 65504 overflows: run it in f32; or a diverged fine-tune?)"
        ))),
        None => Ok(()),
    }
}

/// A float32 C-order `.npy` (format 1.0) of `shape`.
pub fn npy_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let mut out = npy_header(shape);
    out.extend_from_slice(bytemuck::cast_slice(data));
    out
}

/// The header of a float32 C-order `.npy` (format 1.0) of `shape`: the
/// data follow it, row after row.
pub fn npy_header(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Magic (6) + version (2) + length (2) + header, padded to 64 bytes, ending in '\n'.
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    header.push_str(&" ".repeat(total - 10 - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// CSV written row by row with `csv::Writer`: `\n` line ends, a field
/// quoted only where RFC 4180 needs it (a comma, quote or line break), so
/// every CSV dnagpu writes quotes alike.
pub struct CsvRows<W: std::io::Write>(::csv::Writer<W>);

/// CSV text in memory.
pub type CsvText = CsvRows<Vec<u8>>;

impl Default for CsvText {
    fn default() -> Self {
        Self::new()
    }
}

impl CsvText {
    pub fn new() -> Self {
        Self::to(Vec::new())
    }

    /// Fields separated by `delimiter` (`b'\t'`: TSV).
    pub fn with_delimiter(delimiter: u8) -> Self {
        Self(
            ::csv::WriterBuilder::new()
                .delimiter(delimiter)
                .from_writer(Vec::new()),
        )
    }

    /// The text written.
    pub fn finish(self) -> Result<String> {
        String::from_utf8(self.into_inner()?)
            .map_err(|e| Error::Invalid(format!("writing CSV: {e}")))
    }
}

impl<W: std::io::Write> CsvRows<W> {
    /// CSV written to `out`.
    pub fn to(out: W) -> Self {
        Self(::csv::Writer::from_writer(out))
    }

    /// Appends one row; every row must have as many fields as the first.
    pub fn row<I>(&mut self, fields: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.0.write_record(fields).map_err(csv_error)
    }

    /// Everything written, flushed to the writer, which is given back.
    pub fn into_inner(self) -> Result<W> {
        self.0
            .into_inner()
            .map_err(|e| csv_error(e.into_error().into()))
    }
}

fn csv_error(e: ::csv::Error) -> Error {
    Error::Invalid(format!("writing CSV: {e}"))
}

/// CSV with header `id,e0,…,e{H-1}`, one row per id.
pub fn csv(ids: &[String], dim: usize, data: &[f32]) -> Result<String> {
    let mut out = CsvText::new();
    out.row(csv_header(dim))?;
    for (id, row) in ids.iter().zip(data.chunks(dim.max(1))) {
        out.row(csv_row(id, row))?;
    }
    out.finish()
}

/// The embeddings CSV's header: `id,e0,…,e{H-1}`.
fn csv_header(dim: usize) -> impl Iterator<Item = String> {
    std::iter::once("id".to_owned()).chain((0..dim).map(|j| format!("e{j}")))
}

/// One record's row of the embeddings CSV.
fn csv_row<'a>(id: &'a str, row: &'a [f32]) -> impl Iterator<Item = String> + 'a {
    std::iter::once(id.to_owned()).chain(row.iter().map(f32::to_string))
}

/// Classification results: `id,prediction,prob_0,…,prob_{C-1}` and a
/// `label` column when `labels` are given; the prediction is the most
/// probable class (the first on ties).
pub fn predictions_csv(
    ids: &[String],
    probs: &[Vec<f32>],
    labels: Option<&[&str]>,
) -> Result<String> {
    let c = probs.first().map_or(0, Vec::len);
    let mut out = CsvText::new();
    out.row(predictions_header(c, labels.is_some()))?;
    for (r, (id, p)) in ids.iter().zip(probs).enumerate() {
        let label = labels.map(|l| l.get(r).copied().unwrap_or_default());
        out.row(prediction_row(id, p, label))?;
    }
    out.finish()
}

/// The predictions CSV's header: `id,prediction,prob_0,…` (`,label`).
fn predictions_header(classes: usize, labelled: bool) -> Vec<String> {
    let mut header = vec!["id".to_owned(), "prediction".to_owned()];
    header.extend((0..classes).map(|k| format!("prob_{k}")));
    if labelled {
        header.push("label".to_owned());
    }
    header
}

/// One record's row of the predictions CSV.
fn prediction_row(id: &str, p: &[f32], label: Option<&str>) -> Vec<String> {
    let mut fields = vec![id.to_owned(), crate::metrics::argmax(p).to_string()];
    fields.extend(p.iter().map(f32::to_string));
    if let Some(l) = label {
        fields.push(l.to_owned());
    }
    fields
}

/// One `{"id": …, "embedding": […]}` object per line.
pub fn jsonl(ids: &[String], dim: usize, data: &[f32]) -> String {
    let mut out = String::new();
    for (id, row) in ids.iter().zip(data.chunks(dim.max(1))) {
        out.push_str(&jsonl_line(id, row));
    }
    out
}

/// One record's line of JSON lines, `\n` included.
fn jsonl_line(id: &str, row: &[f32]) -> String {
    let id = serde_json::Value::from(id);
    // Serialised as f32: the shortest text that reads back exactly.
    let row = serde_json::to_string(row).unwrap_or_default();
    format!("{{\"id\":{id},\"embedding\":{row}}}\n")
}

/// One tensor to store: name, shape, little-endian bytes, dtype.
struct Entry {
    shape: Vec<usize>,
    bytes: Vec<u8>,
    dtype: safetensors::Dtype,
}

fn safetensors_bytes(entries: Vec<(String, Entry)>) -> Result<Vec<u8>> {
    safetensors_bytes_with(entries, None)
}

fn safetensors_bytes_with(
    entries: Vec<(String, Entry)>,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut seen = HashMap::new();
    for (name, _) in &entries {
        if seen.insert(name.clone(), ()).is_some() {
            return Err(Error::Invalid(format!(
                "two outputs would both be named `{name}` in the safetensors file"
            )));
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = entries
        .iter()
        .map(|(n, e)| {
            safetensors::tensor::TensorView::new(e.dtype, e.shape.clone(), &e.bytes)
                .map(|v| (n.clone(), v))
                .map_err(|err| Error::Invalid(format!("tensor `{n}`: {err}")))
        })
        .collect::<Result<_>>()?;
    safetensors::serialize(views, metadata)
        .map_err(|e| Error::Invalid(format!("writing safetensors: {e}")))
}

/// Storage precision of saved weights (f16: half the size; loaders widen
/// it back to f32) — the same choice as the device's weight storage.
pub use crate::model::Precision;

/// Named tensors (weights, gradients, optimizer moments) as a safetensors
/// file, names sorted, with `metadata` in the header (Hugging Face writes
/// `{"format": "pt"}`).
pub fn safetensors_named<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
    precision: Precision,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let entries: Vec<(String, Entry)> = tensors
        .into_iter()
        .map(|(name, shape, data)| {
            let (bytes, dtype) = match precision {
                Precision::F32 => (bytemuck::cast_slice(data).to_vec(), safetensors::Dtype::F32),
                Precision::F16 => (
                    data.iter()
                        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                        .collect(),
                    safetensors::Dtype::F16,
                ),
            };
            (
                name.to_string(),
                Entry {
                    shape: shape.to_vec(),
                    bytes,
                    dtype,
                },
            )
        })
        .collect();
    safetensors_bytes_with(entries, metadata)
}

/// Pooled embeddings: one `[H]` float32 tensor per id.
pub fn safetensors_pooled(ids: &[String], dim: usize, data: &[f32]) -> Result<Vec<u8>> {
    let entries = ids
        .iter()
        .zip(data.chunks(dim.max(1)))
        .map(|(id, row)| {
            (
                id.clone(),
                Entry {
                    shape: vec![dim],
                    bytes: bytemuck::cast_slice(row).to_vec(),
                    dtype: safetensors::Dtype::F32,
                },
            )
        })
        .collect();
    safetensors_bytes(entries)
}

/// Per-token states of one record: its token ids and `[T, H]` rows.
pub struct TokenStates<'a> {
    pub id: &'a str,
    pub input_ids: &'a [u32],
    pub states: &'a [f32],
}

/// `--pooling none`: per record `<id>` = `[T, H]` float32 and
/// `<id>.input_ids` = `[T]` int64.
pub fn safetensors_tokens(records: &[TokenStates<'_>], dim: usize) -> Result<Vec<u8>> {
    let mut entries = Vec::with_capacity(records.len() * 2);
    for r in records {
        let t = r.input_ids.len();
        if r.states.len() != t * dim {
            return Err(Error::Invalid(format!(
                "record `{}`: {} values for {t} tokens of width {dim}",
                r.id,
                r.states.len()
            )));
        }
        entries.push((
            r.id.to_string(),
            Entry {
                shape: vec![t, dim],
                bytes: bytemuck::cast_slice(r.states).to_vec(),
                dtype: safetensors::Dtype::F32,
            },
        ));
        let ids: Vec<i64> = r.input_ids.iter().map(|&i| i as i64).collect();
        entries.push((
            format!("{}.input_ids", r.id),
            Entry {
                shape: vec![t],
                bytes: bytemuck::cast_slice(&ids).to_vec(),
                dtype: safetensors::Dtype::I64,
            },
        ));
    }
    safetensors_bytes(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_describes_the_data() {
        let b = npy_f32(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
        assert!(
            header.contains("'shape': (2, 3)")
                && header.contains("'<f4'")
                && header.ends_with('\n')
        );
        assert_eq!(
            &b[10 + hlen..],
            bytemuck::cast_slice::<f32, u8>(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
    }

    #[test]
    fn csv_quotes_ids_that_need_it() {
        let s = csv(&["a".into(), "b,\"c\"".into()], 2, &[1.0, 0.5, -2.0, 3.25]).unwrap();
        assert_eq!(s, "id,e0,e1\na,1,0.5\n\"b,\"\"c\"\"\",-2,3.25\n");
    }

    #[test]
    fn predictions_csv_has_argmax_probabilities_and_labels() {
        let s = predictions_csv(
            &["a".into(), "b,c".into()],
            &[vec![0.25, 0.75], vec![0.5, 0.5]],
            Some(&["1", "0"]),
        )
        .unwrap();
        assert_eq!(
            s,
            "id,prediction,prob_0,prob_1,label\na,1,0.25,0.75,1\n\"b,c\",0,0.5,0.5,0\n"
        );
        assert_eq!(
            predictions_csv(&["x".into()], &[vec![1.0]], None).unwrap(),
            "id,prediction,prob_0\nx,0,1\n"
        );
    }

    #[test]
    fn jsonl_has_one_object_per_line() {
        let s = jsonl(&["x".into()], 2, &[1.5, -0.25]);
        assert_eq!(s, "{\"id\":\"x\",\"embedding\":[1.5,-0.25]}\n");
    }

    #[test]
    fn safetensors_round_trip_and_duplicate_names_are_errors() {
        let b = safetensors_tokens(
            &[TokenStates {
                id: "s1",
                input_ids: &[1, 5, 2],
                states: &[0.0; 6],
            }],
            2,
        )
        .unwrap();
        let st = safetensors::SafeTensors::deserialize(&b).unwrap();
        assert_eq!(st.tensor("s1").unwrap().shape(), [3, 2]);
        assert_eq!(
            st.tensor("s1.input_ids").unwrap().dtype(),
            safetensors::Dtype::I64
        );
        let pooled =
            safetensors_pooled(&["a".into(), "b".into()], 2, &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let st = safetensors::SafeTensors::deserialize(&pooled).unwrap();
        assert_eq!(
            st.tensor("b").unwrap().data(),
            bytemuck::cast_slice::<f32, u8>(&[3.0, 4.0])
        );
        assert!(safetensors_pooled(&["a".into(), "a".into()], 1, &[1.0, 2.0]).is_err());
    }
}
