//! The outputs of `embed` and `classify` written row by row, as results
//! come, in the formats of this module's parent (the same bytes for `.npy`,
//! `.csv` and `.jsonl`): to stdout, or to a temporary file beside the
//! target that [`EmbeddingWriter::finish`] renames over it once complete,
//! so a failed run leaves an earlier result as it was. A safetensors file
//! lists every tensor before the data: the data go to a scratch file
//! first, and the file is put together at the end.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use super::{
    check_row, csv_header, csv_row, jsonl_line, npy_header, prediction_row, predictions_header,
    CsvRows,
};
use crate::embed::Embedding;
use crate::error::{Error, Result};
use crate::fs::{io_error, AtomicFile};

/// What an embeddings file holds, by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// float32 `[N, H]`.
    Npy,
    /// `id,e0,…`.
    Csv,
    /// `{"id": …, "embedding": […]}` per line.
    Jsonl,
    /// One `[H]` tensor per id, or per token (`<id>` = `[T, H]`,
    /// `<id>.input_ids` = `[T]` int64).
    Safetensors { per_token: bool },
}

impl OutputFormat {
    /// The format of `embed`'s output `path` by its extension (JSON lines
    /// on stdout without one), checked against `pooling`: per-token states
    /// (`none`) need a .safetensors file.
    pub fn for_output(path: Option<&Path>, pooling: crate::embed::Pooling) -> Result<Self> {
        use crate::embed::Pooling;
        let per_token = |what: String| {
            Err(Error::Invalid(format!(
                "--pooling none writes per-token states: {what}"
            )))
        };
        let Some(p) = path else {
            if pooling == Pooling::None {
                return per_token("give --output FILE.safetensors".into());
            }
            return Ok(Self::Jsonl);
        };
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let format = match ext.as_str() {
            "npy" => Self::Npy,
            "csv" => Self::Csv,
            "jsonl" | "json" => Self::Jsonl,
            "safetensors" => Self::Safetensors {
                per_token: pooling == Pooling::None,
            },
            _ => {
                return Err(Error::Invalid(format!(
                    "{}: unknown output format; use .npy, .csv, .jsonl or .safetensors",
                    p.display()
                )))
            }
        };
        if pooling == Pooling::None && !matches!(format, Self::Safetensors { .. }) {
            return per_token(format!(
                "only .safetensors holds them ({} given)",
                p.display()
            ));
        }
        Ok(format)
    }
}

/// Where rows go: stdout as they come, or a file renamed when complete.
enum Out {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    File(AtomicFile),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Stdout(w) => w.write(buf),
            Out::File(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Stdout(w) => w.flush(),
            Out::File(w) => w.flush(),
        }
    }
}

impl Out {
    fn open(path: Option<&Path>) -> Result<Self> {
        Ok(match path {
            None => Out::Stdout(std::io::BufWriter::new(std::io::stdout())),
            Some(p) => Out::File(AtomicFile::create(p)?),
        })
    }

    /// What a failed run leaves of it, for the error message.
    fn left(&self) -> &'static str {
        match self {
            Out::Stdout(_) => "the records before it were written to stdout",
            Out::File(_) => "nothing was written",
        }
    }

    fn finish(self, name: &str) -> Result<()> {
        match self {
            Out::Stdout(mut w) => w.flush().map_err(io_error(format!("writing {name}"))),
            Out::File(f) => f.commit(),
        }
    }
}

enum Body {
    Npy { rows: usize, expected: usize },
    Csv(Box<CsvRows<Out>>),
    Jsonl,
    Safetensors(Tensors),
}

/// Embeddings written as they come.
pub struct EmbeddingWriter {
    name: String,
    out: Option<Out>,
    body: Body,
    dim: usize,
    /// Records written (their 1-based number in messages).
    written: usize,
}

impl EmbeddingWriter {
    /// Starts writing `path` (`None`: JSON lines on stdout) in `format`:
    /// `rows` embeddings of width `dim` (the `.npy` header says so; a
    /// different count at the end is an error, and nothing is written).
    pub fn create(
        path: Option<&Path>,
        format: OutputFormat,
        rows: usize,
        dim: usize,
    ) -> Result<Self> {
        let name = path.map_or("stdout".to_owned(), |p| p.display().to_string());
        let mut out = Out::open(path)?;
        let body = match (format, path) {
            (OutputFormat::Npy, Some(_)) => {
                out.write_all(&npy_header(&[rows, dim]))
                    .map_err(io_error(format!("writing {name}")))?;
                Body::Npy {
                    rows: 0,
                    expected: rows,
                }
            }
            (OutputFormat::Csv, Some(_)) => {
                let mut csv = CsvRows::to(out);
                csv.row(csv_header(dim))?;
                return Ok(Self {
                    name,
                    out: None,
                    body: Body::Csv(Box::new(csv)),
                    dim,
                    written: 0,
                });
            }
            (OutputFormat::Safetensors { per_token }, Some(p)) => {
                Body::Safetensors(Tensors::new(p, per_token)?)
            }
            _ => Body::Jsonl,
        };
        Ok(Self {
            name,
            out: Some(out),
            body,
            dim,
            written: 0,
        })
    }

    /// Writes one record's embedding (checked to be finite first).
    pub fn write(&mut self, id: &str, e: &Embedding) -> Result<()> {
        let left = match (&self.out, &self.body) {
            (Some(out), _) => out.left(),
            (None, Body::Csv(csv)) => csv.0.get_ref().left(),
            (None, _) => "nothing was written",
        };
        check_row(id, self.written + 1, &e.values, "embedding", left)?;
        self.written += 1;
        let failed = io_error(format!("writing {}", self.name));
        match &mut self.body {
            Body::Csv(csv) => csv.row(csv_row(id, &e.values))?,
            Body::Safetensors(t) => t.add(id, e, self.dim)?,
            body => {
                let out = self.out.as_mut().expect("every other body writes to out");
                match body {
                    Body::Npy { rows, .. } => {
                        *rows += 1;
                        out.write_all(bytemuck::cast_slice(&e.values))
                    }
                    _ => out.write_all(jsonl_line(id, &e.values).as_bytes()),
                }
                .map_err(failed)?;
            }
        }
        Ok(())
    }

    /// Completes the output: a file is renamed over the target.
    pub fn finish(self) -> Result<()> {
        let out = match self.body {
            Body::Csv(csv) => (*csv).into_inner()?,
            Body::Npy { rows, expected } if rows != expected => {
                return Err(Error::Invalid(format!(
                    "{}: {rows} embeddings for the {expected} records the input held when first read (did it change meanwhile?); nothing was written",
                    self.name
                )))
            }
            Body::Safetensors(t) => {
                let mut out = self.out.expect("safetensors write to a file");
                t.finish(&mut out, &self.name, None)?;
                out
            }
            _ => self.out.expect("every other body writes to out"),
        };
        out.finish(&self.name)
    }
}

/// A safetensors file in the making: the tensors' data in a scratch file,
/// their names, shapes and places in memory.
struct Tensors {
    scratch: AtomicFile,
    per_token: bool,
    /// (name, dtype, shape, start, end) in data order.
    entries: Vec<(String, &'static str, Vec<usize>, u64, u64)>,
    names: HashSet<String>,
    end: u64,
}

impl Tensors {
    fn new(path: &Path, per_token: bool) -> Result<Self> {
        Ok(Self {
            scratch: AtomicFile::scratch(path, "data")?,
            per_token,
            entries: Vec::new(),
            names: HashSet::new(),
            end: 0,
        })
    }

    fn add(&mut self, id: &str, e: &Embedding, dim: usize) -> Result<()> {
        if !self.per_token {
            return self.push(
                id.to_owned(),
                "F32",
                vec![dim],
                bytemuck::cast_slice(&e.values),
            );
        }
        // [T, H] per token, or [bases, H] per base (`Pooling::PerBase`).
        let rows = e.values.len() / dim.max(1);
        if e.values.len() != rows * dim {
            return Err(Error::Invalid(format!(
                "record `{id}`: {} values are not rows of width {dim}",
                e.values.len()
            )));
        }
        let t = e.input_ids.len();
        self.push(
            id.to_owned(),
            "F32",
            vec![rows, dim],
            bytemuck::cast_slice(&e.values),
        )?;
        let ids: Vec<i64> = e.input_ids.iter().map(|&i| i as i64).collect();
        self.push(
            format!("{id}.input_ids"),
            "I64",
            vec![t],
            bytemuck::cast_slice(&ids),
        )
    }

    fn push(
        &mut self,
        name: String,
        dtype: &'static str,
        shape: Vec<usize>,
        bytes: &[u8],
    ) -> Result<()> {
        self.begin(name, dtype, shape)?;
        self.append(bytes)
    }

    /// Starts tensor `name`, whose data [`Tensors::append`] then writes.
    fn begin(&mut self, name: String, dtype: &'static str, shape: Vec<usize>) -> Result<()> {
        if !self.names.insert(name.clone()) {
            return Err(Error::Invalid(format!(
                "two outputs would both be named `{name}` in the safetensors file"
            )));
        }
        self.entries.push((name, dtype, shape, self.end, self.end));
        Ok(())
    }

    /// Data of the tensor begun last.
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.scratch
            .write_all(bytes)
            .map_err(io_error("writing the safetensors data"))?;
        self.end += bytes.len() as u64;
        if let Some(last) = self.entries.last_mut() {
            last.4 = self.end;
        }
        Ok(())
    }

    /// The header (8-byte length, JSON padded with spaces to 8 bytes), then
    /// the data.
    fn finish(
        mut self,
        out: &mut Out,
        name: &str,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<()> {
        let mut header = serde_json::Map::new();
        if let Some(m) = metadata {
            header.insert("__metadata__".into(), serde_json::Value::Object(m));
        }
        for (n, dtype, shape, start, end) in &self.entries {
            let bytes =
                shape.iter().product::<usize>() as u64 * if *dtype == "I64" { 8 } else { 4 };
            if end - start != bytes {
                return Err(Error::Invalid(format!(
                    "tensor `{n}` {shape:?}: {} bytes of data for {bytes}",
                    end - start
                )));
            }
            header.insert(
                n.clone(),
                serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, end]}),
            );
        }
        let mut json = serde_json::Value::Object(header).to_string();
        json.push_str(&" ".repeat((8 - json.len() % 8) % 8));
        let failed = || io_error(format!("writing {name}"));
        out.write_all(&(json.len() as u64).to_le_bytes())
            .map_err(failed())?;
        out.write_all(json.as_bytes()).map_err(failed())?;
        let mut data = self.scratch.read_back()?;
        std::io::copy(&mut data, out).map_err(failed())?;
        Ok(())
    }
}

/// A safetensors file written tensor by tensor, each tensor's data in as
/// many pieces as come (an attention map a head at a time), with string
/// metadata; renamed over the target by [`TensorFile::finish`], so a
/// failed run leaves an earlier file as it was.
pub struct TensorFile {
    name: String,
    out: Out,
    tensors: Tensors,
}

impl TensorFile {
    pub fn create(path: &Path) -> Result<Self> {
        Ok(Self {
            name: path.display().to_string(),
            out: Out::open(Some(path))?,
            tensors: Tensors::new(path, false)?,
        })
    }

    /// Starts an f32 tensor whose data [`TensorFile::append_f32`] writes.
    pub fn begin_f32(&mut self, name: &str, shape: &[usize]) -> Result<()> {
        self.tensors.begin(name.to_owned(), "F32", shape.to_vec())
    }

    pub fn append_f32(&mut self, values: &[f32]) -> Result<()> {
        self.tensors.append(bytemuck::cast_slice(values))
    }

    /// One whole int64 tensor [n].
    pub fn push_i64(&mut self, name: &str, values: &[i64]) -> Result<()> {
        let shape = vec![values.len()];
        self.tensors
            .push(name.to_owned(), "I64", shape, bytemuck::cast_slice(values))
    }

    /// Writes the header (with `metadata` as `__metadata__`) and the data,
    /// then renames the file over the target. Every tensor must have all
    /// its data.
    pub fn finish(self, metadata: std::collections::BTreeMap<String, String>) -> Result<()> {
        let mut out = self.out;
        let meta = metadata
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        self.tensors.finish(&mut out, &self.name, Some(meta))?;
        out.finish(&self.name)
    }
}

/// Class probabilities written as they come: `id,prediction,prob_0,…`
/// (and `label` when every record has one), as [`super::predictions_csv`]
/// writes them.
pub struct PredictionWriter {
    name: String,
    csv: CsvRows<Out>,
    labelled: bool,
    written: usize,
}

impl PredictionWriter {
    /// Starts writing `path` (`None`: stdout); `labelled`: with a `label` column.
    pub fn create(path: Option<&Path>, labelled: bool) -> Result<Self> {
        Ok(Self {
            name: path.map_or("stdout".to_owned(), |p| p.display().to_string()),
            csv: CsvRows::to(Out::open(path)?),
            labelled,
            written: 0,
        })
    }

    /// Writes one record's probabilities (checked to be finite first).
    pub fn write(&mut self, id: &str, probs: &[f32], label: Option<&str>) -> Result<()> {
        let left = self.csv.0.get_ref().left();
        check_row(id, self.written + 1, probs, "class probabilities", left)?;
        if self.written == 0 {
            self.csv
                .row(predictions_header(probs.len(), self.labelled))?;
        }
        self.written += 1;
        let label = self.labelled.then(|| label.unwrap_or_default());
        self.csv.row(prediction_row(id, probs, label))
    }

    /// Completes the output: a file is renamed over the target.
    pub fn finish(self) -> Result<()> {
        self.csv.into_inner()?.finish(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{csv, jsonl, npy_f32, predictions_csv};
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("dnagpu-writers-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rows() -> (Vec<String>, Vec<Embedding>) {
        let ids = vec!["a".to_owned(), "b,\"c\"".to_owned(), "d".to_owned()];
        let e = |v: [f32; 2], t: &[u32]| Embedding {
            values: v.to_vec(),
            input_ids: t.to_vec(),
        };
        (
            ids,
            vec![
                e([1.0, 0.5], &[1]),
                e([-2.0, 3.25], &[1]),
                e([0.0, 7.0], &[1]),
            ],
        )
    }

    /// Writes `rows` to `path` in `format`; the bytes, and what the folder
    /// holds besides.
    fn write(path: &Path, format: OutputFormat) -> (Vec<u8>, usize) {
        let (ids, es) = rows();
        let mut w = EmbeddingWriter::create(Some(path), format, ids.len(), 2).unwrap();
        for (id, e) in ids.iter().zip(&es) {
            w.write(id, e).unwrap();
        }
        w.finish().unwrap();
        let others = std::fs::read_dir(path.parent().unwrap()).unwrap().count() - 1;
        (std::fs::read(path).unwrap(), others)
    }

    #[test]
    fn rows_written_as_they_come_are_the_files_written_whole() {
        let d = dir("formats");
        let (ids, es) = rows();
        let flat: Vec<f32> = es.iter().flat_map(|e| e.values.clone()).collect();
        assert_eq!(
            write(&d.join("e.npy"), OutputFormat::Npy),
            (npy_f32(&[3, 2], &flat), 0)
        );
        let text = write(&d.join("e.csv"), OutputFormat::Csv).0;
        assert_eq!(text, csv(&ids, 2, &flat).unwrap().into_bytes());
        let text = write(&d.join("e.jsonl"), OutputFormat::Jsonl).0;
        assert_eq!(text, jsonl(&ids, 2, &flat).into_bytes());
        let pooled = OutputFormat::Safetensors { per_token: false };
        let (bytes, others) = write(&d.join("e.safetensors"), pooled);
        assert_eq!(others, 3, "the scratch data file is gone");
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(
            st.tensor("b,\"c\"").unwrap().data(),
            bytemuck::cast_slice::<f32, u8>(&[-2.0, 3.25])
        );
        let per_token = OutputFormat::Safetensors { per_token: true };
        let (bytes, _) = write(&d.join("t.safetensors"), per_token);
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor("d").unwrap().shape(), [1, 2]);
        assert_eq!(
            st.tensor("d.input_ids").unwrap().dtype(),
            safetensors::Dtype::I64
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_earlier_file_and_nothing_else() {
        let d = dir("failed");
        let path = d.join("e.npy");
        std::fs::write(&path, b"earlier").unwrap();
        let (ids, mut es) = rows();
        es[1].values[1] = f32::NAN;
        for format in [OutputFormat::Npy, OutputFormat::Csv] {
            let mut w = EmbeddingWriter::create(Some(&path), format, 3, 2).unwrap();
            w.write(&ids[0], &es[0]).unwrap();
            let err = w.write(&ids[1], &es[1]).unwrap_err().to_string();
            assert!(err.contains("number 2 of the input") && err.contains("nothing was written"));
            drop(w);
            assert_eq!(std::fs::read(&path).unwrap(), b"earlier");
            assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        }
        // Fewer rows than the header promised: an error, nothing written.
        let mut w = EmbeddingWriter::create(Some(&path), OutputFormat::Npy, 3, 2).unwrap();
        w.write(&ids[0], &es[0]).unwrap();
        assert!(w
            .finish()
            .unwrap_err()
            .to_string()
            .contains("1 embeddings for the 3"));
        assert_eq!(std::fs::read(&path).unwrap(), b"earlier");
        // A repeated safetensors name.
        let st = d.join("e.safetensors");
        let pooled = OutputFormat::Safetensors { per_token: false };
        let mut w = EmbeddingWriter::create(Some(&st), pooled, 2, 2).unwrap();
        w.write("x", &es[0]).unwrap();
        assert!(w.write("x", &es[2]).is_err());
        drop(w);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn predictions_as_they_come_are_the_csv_written_whole() {
        let d = dir("predictions");
        let path = d.join("p.csv");
        let mut w = PredictionWriter::create(Some(&path), true).unwrap();
        w.write("a", &[0.25, 0.75], Some("1")).unwrap();
        w.write("b,c", &[0.5, 0.5], Some("0")).unwrap();
        w.finish().unwrap();
        let whole = predictions_csv(
            &["a".into(), "b,c".into()],
            &[vec![0.25, 0.75], vec![0.5, 0.5]],
            Some(&["1", "0"]),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
