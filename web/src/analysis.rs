//! The page's Variants and Attention panels and its per-base embeddings:
//! `Model`'s calls onto the library's own code for `dnagpu vep`
//! (`dnagpu::vep`), `dnagpu attention` (`dnagpu::attention_maps`) and
//! `embed --pooling none --per-base`, with the CLI's writers for the
//! downloads. Nothing is computed here that the CLI does not compute.

use dnagpu::data::vcf::{Allele, Vcf};
use dnagpu::embed::Pooling;
use dnagpu::vep::{self, output::Format, Mismatch, Scorer};
use wasm_bindgen::prelude::*;

use crate::model::{batching, Model};
use crate::results::Rows;
use crate::{js, read_input, report_stage};

/// Variant scores, one row per scored ALT allele in VCF order (the CLI's
/// `dnagpu vep` rows).
#[wasm_bindgen]
pub struct VepScores {
    chrom: Vec<String>,
    pos: Vec<f64>,
    id: Vec<String>,
    reference: Vec<String>,
    alt: Vec<String>,
    /// [rows, columns] row-major, in [`VepScores::columns`] order.
    values: Vec<f64>,
    columns: Vec<String>,
    classes: usize,
    symbolic: usize,
    csv: String,
}

#[wasm_bindgen]
impl VepScores {
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.chrom.len()
    }
    /// Classes of the classifier that gave `p_ref_k`, `p_alt_k` (0: none).
    #[wasm_bindgen(getter)]
    pub fn classes(&self) -> usize {
        self.classes
    }
    /// ALT alleles skipped as not sequences (`<DEL>`, `*`, …).
    #[wasm_bindgen(getter)]
    pub fn symbolic(&self) -> usize {
        self.symbolic
    }
    pub fn chrom(&self) -> Vec<String> {
        self.chrom.clone()
    }
    /// 1-based positions.
    pub fn pos(&self) -> Vec<f64> {
        self.pos.clone()
    }
    pub fn id(&self) -> Vec<String> {
        self.id.clone()
    }
    #[wasm_bindgen(js_name = "ref")]
    pub fn reference(&self) -> Vec<String> {
        self.reference.clone()
    }
    pub fn alt(&self) -> Vec<String> {
        self.alt.clone()
    }
    /// The score columns' names: llr, llr_fwd, llr_rev,
    /// embedding_distance, then p_ref_k and p_alt_k per class.
    pub fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }
    pub fn values(&self) -> Vec<f64> {
        self.values.clone()
    }
    /// The download: byte for byte what `dnagpu vep --output x.csv` writes.
    pub fn csv(&self) -> String {
        self.csv.clone()
    }
}

/// One attention map [T, T] (row = query, column = key) and its tokens.
#[wasm_bindgen]
pub struct AttentionMap {
    tokens: Vec<String>,
    values: Vec<f32>,
}

#[wasm_bindgen]
impl AttentionMap {
    /// T: the tokens, special ones included.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.tokens.len()
    }
    pub fn tokens(&self) -> Vec<String> {
        self.tokens.clone()
    }
    pub fn values(&self) -> Vec<f32> {
        self.values.clone()
    }
}

/// Per-base embeddings: per record, [bases, H].
#[wasm_bindgen]
pub struct PerBase {
    rows: Rows,
    hidden: usize,
    bases: Vec<usize>,
    values: Vec<Vec<f32>>,
}

#[wasm_bindgen]
impl PerBase {
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.values.len()
    }
    #[wasm_bindgen(getter)]
    pub fn hidden(&self) -> usize {
        self.hidden
    }
    pub fn ids(&self) -> Vec<String> {
        self.rows.ids.clone()
    }
    pub fn warnings(&self) -> Vec<String> {
        self.rows.warnings.clone()
    }
    /// Bases of each record.
    pub fn bases(&self) -> Vec<u32> {
        self.bases.iter().map(|&b| b as u32).collect()
    }
    /// Record `row`'s [bases, H] values.
    pub fn values(&self, row: usize) -> Result<Vec<f32>, JsError> {
        Ok(self.row(row)?.to_vec())
    }
    /// Record `row` as `.npy` (float32 [bases, H]), the library's writer.
    pub fn npy(&self, row: usize) -> Result<Vec<u8>, JsError> {
        let v = self.row(row)?;
        Ok(dnagpu::export::npy_f32(&[self.bases[row], self.hidden], v))
    }
}

impl PerBase {
    fn row(&self, row: usize) -> Result<&[f32], JsError> {
        self.values.get(row).map(Vec::as_slice).ok_or_else(|| {
            JsError::new(&format!("no record {row}: there are {}", self.values.len()))
        })
    }
}

#[wasm_bindgen]
impl Model {
    /// Attention heads per layer.
    #[wasm_bindgen(getter)]
    pub fn heads(&self) -> usize {
        self.config.num_attention_heads
    }

    #[wasm_bindgen(getter, js_name = hasMlmHead)]
    pub fn has_mlm_head(&self) -> bool {
        self.model.mlm.is_some()
    }

    /// `dnagpu vep` on `vcf` (VCF text) against `reference` (FASTA text of
    /// the chromosomes or regions the VCF names) or, when given, the FASTA
    /// file `referenceFile` (a genome of any size, gzip allowed: read in
    /// slices, only the windows kept; `onProgress` counts its bytes, stage
    /// "reading"): the scores of every ALT allele, `flank` bases either
    /// side of REF, `batchSize` windows at a time. Class probabilities come
    /// with the base model's own classification head, as the CLI's without
    /// `--adapter`.
    #[allow(clippy::too_many_arguments)]
    pub async fn vep(
        &self,
        vcf: &str,
        reference: &str,
        reference_file: Option<web_sys::Blob>,
        reference_name: Option<String>,
        flank: usize,
        batch_size: usize,
        on_progress: Option<js_sys::Function>,
    ) -> Result<VepScores, JsError> {
        if flank > vep::MAX_FLANK {
            return Err(JsError::new(&format!(
                "flank {flank}: at most {} bases",
                vep::MAX_FLANK
            )));
        }
        if self.model.mlm.is_none() {
            return Err(JsError::new(
                "this model has no masked-language-model head (cls.predictions or lm_head weights): variant scores need it",
            ));
        }
        let Some(mask_id) = self.tokenizer.mask_id() else {
            return Err(JsError::new("the tokenizer has no mask token ([MASK])"));
        };
        let vcf = Vcf::parse(vcf.as_bytes(), "variants").map_err(js)?;
        let regions = vep::regions(&vcf, flank);
        let origin = reference_name.unwrap_or_else(|| "reference".into());
        let fetched = match reference_file {
            Some(file) => {
                let genome = crate::streamed::blob_input(&file, &origin, on_progress.clone())?;
                let reader = genome.reader().map_err(js)?;
                dnagpu::data::regions::fetch(reader, &origin, &regions)
            }
            None => dnagpu::data::regions::fetch(reference.as_bytes(), &origin, &regions),
        }
        .map_err(js)?;
        let plan = vep::plan(&vcf, &fetched, &origin, flank, Mismatch::Error).map_err(js)?;
        drop(fetched);
        if plan.alleles.is_empty() {
            return Err(JsError::new(&format!(
                "variants: no allele to score ({} symbolic)",
                plan.symbolic
            )));
        }
        let max_positions = self.model.encoder.max_positions();
        vep::check_tokens(&vcf, &plan, &self.tokenizer, max_positions, flank).map_err(js)?;
        let classifier = self.model.classifier.is_some().then_some(&self.model);
        let classes = self.model.classifier.as_ref().map(|c| c.num_labels);
        let scorer = Scorer {
            model: &self.model,
            mask_id,
            classifier,
        };
        let scores = vep::score_plan(
            &self.device,
            &scorer,
            &vcf,
            &plan,
            &self.tokenizer,
            max_positions,
            flank,
            batching(batch_size),
            |p| {
                report_stage(
                    on_progress.as_ref(),
                    p.sequences,
                    p.total_sequences,
                    "scoring",
                )
            },
        )
        .await
        .map_err(js)?;
        vep::check_finite(&vcf, &plan, &scores).map_err(js)?;
        let csv = vep::output::write(Format::Csv, &vcf, &plan, &scores, classes).map_err(js)?;
        let columns: Vec<String> = csv
            .lines()
            .next()
            .unwrap_or("")
            .split(',')
            .skip(5)
            .map(String::from)
            .collect();
        let mut out = VepScores {
            chrom: vec![],
            pos: vec![],
            id: vec![],
            reference: vec![],
            alt: vec![],
            values: vec![],
            columns,
            classes: classes.unwrap_or(0),
            symbolic: plan.symbolic,
            csv,
        };
        for (a, s) in plan.alleles.iter().zip(&scores) {
            let rec = &vcf.records[a.record];
            let Allele::Bases(alt) = &rec.alts[a.alt] else {
                continue;
            };
            out.chrom.push(rec.chrom.clone());
            out.pos.push(rec.pos as f64);
            out.id.push(rec.id.clone());
            out.reference.push(rec.reference.clone());
            out.alt.push(alt.clone());
            out.values
                .extend([s.llr, s.llr_fwd, s.llr_rev, s.embedding_distance]);
            out.values
                .extend(s.p_ref.iter().chain(&s.p_alt).flatten().map(|&p| p as f64));
        }
        Ok(out)
    }

    /// The attention map of `layer` and `head` (0-based; negative counts
    /// from the end) for the first sequence of `text`, as `dnagpu
    /// attention --layers L --heads H` writes it.
    pub async fn attention(
        &self,
        text: &str,
        layer: i32,
        head: i32,
    ) -> Result<AttentionMap, JsError> {
        use dnagpu::attention_maps::{attention_maps, check_length, resolve};
        let layers = resolve(
            Some(&[layer as isize]),
            self.config.num_hidden_layers,
            "layer",
        )
        .map_err(js)?;
        let heads = resolve(
            Some(&[head as isize]),
            self.config.num_attention_heads,
            "head",
        )
        .map_err(js)?;
        let input = read_input(text, "sequence")?;
        let seq = &input.records[0].seq;
        let ids = self.tokenizer.encode(seq).map_err(js)?.ids;
        check_length(self.model.encoder.max_positions(), 1, seq.len(), ids.len()).map_err(js)?;
        let mut values = Vec::new();
        attention_maps(
            &self.device,
            &self.model.encoder,
            &ids,
            &layers,
            &heads,
            |m| {
                values.extend_from_slice(m);
                Ok(())
            },
        )
        .await
        .map_err(js)?;
        let tokens = ids
            .iter()
            .map(|&i| self.tokenizer.token(i).unwrap_or_else(|| format!("#{i}")))
            .collect();
        Ok(AttentionMap { tokens, values })
    }

    /// Per-base embeddings (`embed --pooling none --per-base`) of every
    /// sequence in `text`, from hidden state `layer` (`undefined` = last).
    #[wasm_bindgen(js_name = embedPerBase)]
    pub async fn embed_per_base(
        &self,
        text: &str,
        layer: Option<i32>,
        batch_size: usize,
        on_progress: Option<js_sys::Function>,
    ) -> Result<PerBase, JsError> {
        let (rows, out) = self
            .embed_rows(
                text,
                Pooling::PerBase,
                layer,
                batch_size,
                on_progress,
                "per-base embedding",
            )
            .await?;
        Ok(PerBase {
            rows,
            hidden: self.config.hidden_size,
            bases: out
                .iter()
                .map(|e| e.values.len() / self.config.hidden_size.max(1))
                .collect(),
            values: out.into_iter().map(|e| e.values).collect(),
        })
    }
}
