//! Large inputs: a `File` (or any `Blob`) read in slices, never whole, and
//! embedded a chunk at a time, its results handed to the page in parts as
//! they are done (the page writes them to files), so memory stays bounded
//! whatever the input's size. The library's two-pass reader checks every
//! record first, as the CLI's `embed` does.

use std::io::Read;

use dnagpu::data::{InvalidPolicy, Opener, StreamedInput, Summary};
use dnagpu::embed::{check_long_sequence, embed_stream, Chunking, EmbedOptions, Pooling};
use dnagpu::export::{EmbeddingParts, PredictionParts};
use dnagpu::train::finetune::predict;
use wasm_bindgen::prelude::*;
use web_sys::{Blob, FileReaderSync};

use crate::model::{batching, Model};
use crate::results::{Classified, Embeddings, Rows};
use crate::{js, report_stage};

/// Bytes read from the file at a time.
const SLICE: usize = 1 << 20;
/// Results handed on once this many bytes of them are held.
const PART_BYTES: usize = 4 << 20;
/// Sequences classified at a time (tokens held for them only): as many
/// as the library's bounded chunks hold.
const CLASSIFY_CHUNK: Chunking = Chunking::bounded(0);

/// A `Blob` read from its start, a slice at a time, with FileReaderSync
/// (workers only); `on_read(bytes, size)` is told after each slice.
///
/// Slices are read as binary strings (one char per byte), not as
/// ArrayBuffers: strings live on V8's heap, whose garbage is collected as
/// fast as it is made, while ArrayBuffers live outside it, and a worker
/// busy in wasm let them pile up (measured in headless Chromium: +0.5 to
/// +1 GB resident while reading a 200 MB file six times, against a steady
/// +150 MB as strings).
struct BlobReader {
    blob: Blob,
    reader: FileReaderSync,
    at: f64,
    on_read: Option<js_sys::Function>,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.blob.size();
        if self.at >= size || buf.is_empty() {
            return Ok(0);
        }
        let end = (self.at + buf.len().min(SLICE) as f64).min(size);
        let text = self
            .blob
            .slice_with_f64_and_f64(self.at, end)
            .and_then(|slice| self.reader.read_as_binary_string(&slice))
            .map_err(js_io_error)?;
        let n = binary_string_bytes(&text, buf)?;
        self.at += n as f64;
        report_stage(
            self.on_read.as_ref(),
            self.at as usize,
            size as usize,
            "reading",
        );
        Ok(n)
    }
}

/// The bytes of a binary string (chars 0–255, one a byte; as UTF-8 the
/// chars past 127 take two bytes) put into `buf`; their count.
fn binary_string_bytes(text: &str, buf: &mut [u8]) -> std::io::Result<usize> {
    if text.is_ascii() && text.len() <= buf.len() {
        buf[..text.len()].copy_from_slice(text.as_bytes());
        return Ok(text.len());
    }
    let mut n = 0;
    for c in text.chars() {
        let (Ok(byte), Some(slot)) = (u8::try_from(c), buf.get_mut(n)) else {
            return Err(std::io::Error::other(
                "the browser read the file as text, not bytes",
            ));
        };
        *slot = byte;
        n += 1;
    }
    Ok(n)
}

fn js_io_error(e: JsValue) -> std::io::Error {
    let message = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{e:?}"));
    std::io::Error::other(message)
}

/// `blob` as an input the library reads (again and again); the first pass
/// after the sniff reports the bytes read through `on_progress`.
pub(crate) fn blob_input(
    blob: &Blob,
    name: &str,
    on_progress: Option<js_sys::Function>,
) -> Result<StreamedInput, JsError> {
    // Only the first two opens report: the sniff's and the check's.
    let opened = std::cell::Cell::new(0);
    let blob = blob.clone();
    let open: Opener = Box::new(move || {
        opened.set(opened.get() + 1);
        Ok(Box::new(BlobReader {
            blob: blob.clone(),
            reader: FileReaderSync::new().map_err(js_io_error)?,
            at: 0.0,
            on_read: (opened.get() <= 2).then(|| on_progress.clone()).flatten(),
        }))
    });
    StreamedInput::from_opener(name, open).map_err(js)
}

/// [`blob_input`] with every record checked (the first pass): the input,
/// its summary and what the reader noticed; no records is an error.
fn checked_blob(
    blob: &Blob,
    name: &str,
    on_progress: Option<js_sys::Function>,
) -> Result<(StreamedInput, Summary, Vec<String>), JsError> {
    let input = blob_input(blob, name, on_progress)?;
    let mut warnings = Vec::new();
    let scan = input
        .scan(InvalidPolicy::Error, &mut |w| warnings.push(w))
        .map_err(js)?;
    if scan.records == 0 {
        return Err(JsError::new(&format!("{name}: no sequences")));
    }
    Ok((input, scan, warnings))
}

/// Calls `on_output` with `parts` as Uint8Arrays that view wasm memory:
/// no copy, no garbage for the browser to collect.
fn hand_on(on_output: &js_sys::Function, parts: &[&[u8]]) -> dnagpu::Result<()> {
    let args = js_sys::Array::new();
    for part in parts {
        // SAFETY: the views stay valid while nothing allocates in wasm
        // memory: the callback copies them out before it returns and calls
        // nothing of this module.
        let view = unsafe { js_sys::Uint8Array::view(part) };
        args.push(&view);
    }
    on_output
        .apply(&JsValue::NULL, &args)
        .map(drop)
        .map_err(|e| {
            dnagpu::Error::Invalid(format!(
                "could not write the results to the browser's storage (is the disk full?): {}",
                js_io_error(e)
            ))
        })
}

/// Picks `want` evenly spaced rows of `rows` (all when fewer), in order.
struct Sample {
    rows: u64,
    want: u64,
    taken: u64,
}

impl Sample {
    fn new(rows: usize, want: usize) -> Self {
        Self {
            rows: rows as u64,
            want: want.min(rows) as u64,
            taken: 0,
        }
    }

    /// Whether row `row` (asked in order, each once) is one of them.
    fn keeps(&mut self, row: usize) -> bool {
        let keep = self.taken < self.want && row as u64 == self.taken * self.rows / self.want;
        self.taken += u64::from(keep);
        keep
    }
}

/// The text of `blob` (FASTA, CSV or plain, gzip decompressed, bgzip's
/// many members too; `name` names it in messages), for the tasks that read
/// their input whole: more than `maxBytes` of text is refused.
#[wasm_bindgen(js_name = readText)]
pub fn read_text(blob: Blob, name: String, max_bytes: usize) -> Result<String, JsError> {
    let input = blob_input(&blob, &name, None)?;
    let mut text = String::new();
    input
        .reader()
        .map_err(js)?
        .take(max_bytes as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| JsError::new(&format!("cannot read {name}: {e}")))?;
    if text.len() > max_bytes {
        return Err(JsError::new(&format!(
            "{name} holds more than {} MB of text (uncompressed), more than a task that reads its input whole takes: embed or classify it (read in slices there), split it, or use the command line, which streams any size",
            max_bytes / 1_000_000
        )));
    }
    Ok(text)
}

/// Embeddings of a streamed input: the counts, what the reader noticed,
/// and an evenly spaced sample of the rows for the page's plot (the
/// files hold them all).
#[wasm_bindgen]
pub struct StreamedEmbeddings {
    total: usize,
    tokens: usize,
    sample: Embeddings,
}

#[wasm_bindgen]
impl StreamedEmbeddings {
    /// Rows embedded (all of them).
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.total
    }
    #[wasm_bindgen(getter)]
    pub fn tokens(&self) -> usize {
        self.tokens
    }
    /// The sample: ids, labels and values of the evenly spaced rows.
    pub fn sample(&self) -> Embeddings {
        self.sample.clone()
    }
}

#[wasm_bindgen]
impl Model {
    /// Embeds every sequence of the file `blob` (FASTA, CSV or one sequence
    /// per line, gzip allowed, sniffed; `name` names it in messages) as
    /// `embed` does, reading it in slices: `onProgress(done, total, stage)`
    /// counts bytes while the file is checked ("reading"), then sequences
    /// ("embedding"); `onOutput(npy, csv)` receives the `.npy` and CSV
    /// downloads in parts, in order, as rows are done: two Uint8Arrays that
    /// view this module's memory, to be written out (copied) before it
    /// returns and never kept. At most
    /// `sampleRows` evenly spaced rows are returned.
    #[wasm_bindgen(js_name = embedFile)]
    #[allow(clippy::too_many_arguments)]
    pub async fn embed_file(
        &self,
        blob: Blob,
        name: String,
        pooling: &str,
        layer: Option<i32>,
        batch_size: usize,
        sample_rows: usize,
        on_progress: Option<js_sys::Function>,
        on_output: js_sys::Function,
    ) -> Result<StreamedEmbeddings, JsError> {
        let pooling: Pooling = pooling.parse().map_err(js)?;
        if matches!(pooling, Pooling::None | Pooling::PerBase) {
            return Err(JsError::new(
                "per-token output is not offered for large files: choose a pooling",
            ));
        }
        let (input, scan, warnings) = checked_blob(&blob, &name, on_progress.clone())?;
        let opts = EmbedOptions {
            pooling,
            layer: layer.map(|l| l as isize),
            batching: batching(batch_size),
            window: None,
        };
        let (longest_at, longest_bp) = scan.longest;
        check_long_sequence(
            &self.config,
            &self.tokenizer,
            longest_at + 1,
            longest_bp,
            opts.batching.max_tokens,
        )
        .map_err(js)?;
        let hidden = self.config.hidden_size;
        let mut sample_at = Sample::new(scan.records, sample_rows);
        let mut sample = Rows {
            ids: Vec::new(),
            labels: Vec::new(),
            warnings: Vec::new(),
        };
        let mut sample_values = Vec::new();
        let mut parts = EmbeddingParts::new(scan.records, hidden).map_err(js)?;
        let hand_on_parts =
            |(npy, csv): (Vec<u8>, String)| hand_on(&on_output, &[&npy, csv.as_bytes()]);
        let (mut row, mut split) = (0, None);
        let ran = embed_stream(
            &self.device,
            &self.model,
            &self.tokenizer,
            input.records(InvalidPolicy::Error, &scan).map_err(js)?,
            &opts,
            Chunking::bounded(scan.records),
            |record, e| {
                parts.push(&record.id, &e.values)?;
                if sample_at.keeps(row) {
                    sample.ids.push(record.id);
                    sample.labels.push(record.label.unwrap_or_default());
                    sample_values.extend_from_slice(&e.values);
                }
                row += 1;
                if parts.held() >= PART_BYTES {
                    hand_on_parts(parts.take()?)?;
                }
                Ok(())
            },
            |p| {
                split = p.split_notice();
                report_stage(
                    on_progress.as_ref(),
                    p.sequences,
                    p.total_sequences,
                    "embedding",
                )
            },
        )
        .await
        .map_err(js)?;
        input.check_count(&scan, ran.sequences).map_err(js)?;
        hand_on_parts(parts.finish().map_err(js)?).map_err(js)?;
        sample.warnings = warnings;
        sample.warnings.extend(split);
        Ok(StreamedEmbeddings {
            total: scan.records,
            tokens: ran.tokens,
            sample: Embeddings {
                rows: sample,
                hidden,
                values: sample_values,
            },
        })
    }
}

/// Class probabilities of a streamed input: the count, the predicted
/// class counts, and the first rows for the page's table (the file holds
/// them all).
#[wasm_bindgen]
pub struct StreamedClassified {
    total: usize,
    predicted: Vec<u32>,
    first: Classified,
}

#[wasm_bindgen]
impl StreamedClassified {
    /// Rows classified (all of them).
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.total
    }
    /// How many rows each class was predicted for.
    pub fn predicted(&self) -> Vec<u32> {
        self.predicted.clone()
    }
    /// The first rows: ids, labels, probabilities, and the input's warnings.
    pub fn first(&self) -> Classified {
        self.first.clone()
    }
}

#[wasm_bindgen]
impl Model {
    /// Classifies every sequence of the file `blob` as `classify` does,
    /// reading it in slices and classifying 4,096 sequences (at most 4 Mbp)
    /// at a time:
    /// `onProgress(done, total, stage)` counts bytes while the file is
    /// checked ("reading"), then sequences ("classifying"); `onOutput(csv)`
    /// receives the predictions CSV in parts (a Uint8Array viewing this
    /// module's memory: written out before it returns, never kept). The
    /// first `firstRows` rows come back for the page's table.
    #[wasm_bindgen(js_name = classifyFile)]
    pub async fn classify_file(
        &self,
        blob: Blob,
        name: String,
        batch_size: usize,
        first_rows: usize,
        on_progress: Option<js_sys::Function>,
        on_output: js_sys::Function,
    ) -> Result<StreamedClassified, JsError> {
        let cls = self.classifier()?;
        let (input, scan, warnings) = checked_blob(&blob, &name, on_progress.clone())?;
        let classes = cls.classes();
        let mut parts = PredictionParts::new(classes, scan.labelled).map_err(js)?;
        let mut predicted = vec![0u32; classes];
        let mut first = Rows {
            ids: Vec::new(),
            labels: Vec::new(),
            warnings,
        };
        let mut first_probs = Vec::new();
        let mut records = input.records(InvalidPolicy::Error, &scan).map_err(js)?;
        let mut done = 0;
        loop {
            let mut chunk = Vec::new();
            let mut bases = 0;
            while chunk.len() < CLASSIFY_CHUNK.pieces && bases < CLASSIFY_CHUNK.bases {
                let Some(record) = records.next() else { break };
                let record = record.map_err(js)?;
                bases += record.seq.len();
                chunk.push(record);
            }
            if chunk.is_empty() {
                break;
            }
            let tokens = chunk
                .iter()
                .map(|r| self.tokenizer.encode(&r.seq).map(|e| e.ids))
                .collect::<dnagpu::Result<Vec<_>>>()
                .map_err(js)?;
            let probs = predict(&self.device, cls, &tokens, batch_size, |d, _| {
                report_stage(on_progress.as_ref(), done + d, scan.records, "classifying")
            })
            .await
            .map_err(|e| js(e.renumbered(done)))?;
            for (record, p) in chunk.into_iter().zip(&probs) {
                parts
                    .push(&record.id, p, record.label.as_deref())
                    .map_err(js)?;
                predicted[dnagpu::metrics::argmax(p)] += 1;
                if first.ids.len() < first_rows {
                    first.ids.push(record.id);
                    first.labels.push(record.label.unwrap_or_default());
                    first_probs.extend_from_slice(p);
                }
            }
            done += probs.len();
            if parts.held() >= PART_BYTES {
                hand_on(&on_output, &[parts.take().map_err(js)?.as_bytes()]).map_err(js)?;
            }
        }
        input.check_count(&scan, done).map_err(js)?;
        hand_on(&on_output, &[parts.take().map_err(js)?.as_bytes()]).map_err(js)?;
        Ok(StreamedClassified {
            total: done,
            predicted,
            first: Classified {
                rows: first,
                classes,
                probs: first_probs,
            },
        })
    }
}
