//! Writing variant scores: a table (CSV or TSV) with one row per scored ALT
//! allele in VCF order, `chrom,pos,id,ref,alt,llr,llr_fwd,llr_rev,
//! embedding_distance` (then `p_ref_k`, `p_alt_k` per class with a
//! classifier), or a copy of the input VCF with the scores as INFO fields
//! (`Number=A`: one value per ALT, `.` for an ALT not scored).

use super::score::Scores;
use super::windows::Plan;
use crate::data::vcf::{Allele, Vcf, VcfRecord};
use crate::error::{Error, Result};
use crate::export::CsvText;

/// An output format, from the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    Vcf,
}

impl Format {
    /// `.csv`, `.tsv` or `.vcf` (any case); anything else is an error.
    pub fn of_path(path: &std::path::Path) -> Result<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("tsv") => Ok(Format::Tsv),
            Some("vcf") => Ok(Format::Vcf),
            _ => Err(Error::Invalid(format!(
                "{}: vep writes .csv, .tsv or .vcf (a copy of the input with INFO fields); name the output so",
                path.display()
            ))),
        }
    }
}

/// The scores' text in `format`. `scores[i]` belongs to `plan.alleles[i]`;
/// `classes` is the classifier's class count, if one ran. The same bytes
/// as [`Writer`] fed the VCF's lines in order.
pub fn write(
    format: Format,
    vcf: &Vcf,
    plan: &Plan,
    scores: &[Scores],
    classes: Option<usize>,
) -> Result<String> {
    let has_header = vcf.lines().any(|(_, l)| l.starts_with("#CHROM"));
    let mut by_line: std::collections::HashMap<usize, Vec<(usize, &Scores)>> =
        std::collections::HashMap::new();
    for (a, s) in plan.alleles.iter().zip(scores) {
        by_line
            .entry(vcf.records[a.record].line)
            .or_default()
            .push((a.alt, s));
    }
    let mut records = vcf.records.iter().peekable();
    let mut w = Writer::new(Vec::new(), format, classes, has_header)?;
    for (n, l) in vcf.lines() {
        match records.peek() {
            Some(r) if r.line == n => {
                let scored = by_line.get(&n).map_or(&[][..], Vec::as_slice);
                w.record(r, l, scored)?;
                records.next();
            }
            _ => w.other(l)?,
        }
    }
    String::from_utf8(w.finish()?).map_err(|e| Error::Invalid(format!("writing scores: {e}")))
}

/// Writes the scores line by line as the VCF is read: [`Writer::other`]
/// for each header or blank line, [`Writer::record`] for each record.
pub struct Writer<W: std::io::Write> {
    out: W,
    format: Format,
    classes: Option<usize>,
    /// The VCF's `#CHROM` line exists (else one is written).
    has_header: bool,
    header_written: bool,
    /// What a failed run leaves of the output, for the error message.
    left: &'static str,
}

impl<W: std::io::Write> Writer<W> {
    /// A table's header row is written now; `has_header` says whether the
    /// VCF has a `#CHROM` line.
    pub fn new(out: W, format: Format, classes: Option<usize>, has_header: bool) -> Result<Self> {
        let mut w = Self {
            out,
            format,
            classes,
            has_header,
            header_written: false,
            left: "nothing was written",
        };
        if format != Format::Vcf {
            let mut header: Vec<String> = ["chrom", "pos", "id", "ref", "alt"]
                .map(String::from)
                .to_vec();
            header.extend(score_columns(classes));
            w.rows(&[header])?;
        }
        Ok(w)
    }

    /// For an `out` that cannot be taken back (stdout): an error then says
    /// that the lines before it went out.
    pub fn written_as_it_goes(mut self) -> Self {
        self.left = "the lines before it went to stdout";
        self
    }

    /// What a failed run leaves of the output: "nothing was written" (an
    /// output replaced only when complete, or text in memory), or what
    /// [`Self::written_as_it_goes`] says.
    pub fn left(&self) -> &'static str {
        self.left
    }

    fn delimiter(&self) -> u8 {
        if self.format == Format::Tsv {
            b'\t'
        } else {
            b','
        }
    }

    fn rows(&mut self, rows: &[Vec<String>]) -> Result<()> {
        let mut text = CsvText::with_delimiter(self.delimiter());
        for r in rows {
            text.row(r)?;
        }
        let text = text.finish()?;
        self.put(&text)
    }

    fn put(&mut self, text: &str) -> Result<()> {
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| Error::Invalid(format!("writing scores: {e}")))
    }

    /// The INFO lines (and, without a `#CHROM` line, the VCF's header) go
    /// before the `#CHROM` line or the first record.
    fn vcf_header(&mut self, line: &str, is_record: bool) -> Result<()> {
        if self.header_written || !(line.starts_with("#CHROM") || (!self.has_header && is_record)) {
            return Ok(());
        }
        let mut text = String::new();
        if !self.has_header {
            text.push_str("##fileformat=VCFv4.2\n");
        }
        for (c, k) in score_columns(self.classes)
            .iter()
            .zip(info_keys(self.classes))
        {
            text.push_str(&format!(
                "##INFO=<ID={k},Number=A,Type=Float,Description=\"{} (dnagpu vep)\">\n",
                info_description(c)
            ));
        }
        if !self.has_header {
            text.push_str("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n");
        }
        self.header_written = true;
        self.put(&text)
    }

    /// A header or blank line of the VCF (copied to a VCF output).
    pub fn other(&mut self, line: &str) -> Result<()> {
        if self.format != Format::Vcf {
            return Ok(());
        }
        self.vcf_header(line, false)?;
        self.put(line)?;
        self.put("\n")
    }

    /// A record, its line as written and its scored alleles (ALT index and
    /// scores, in ALT order).
    pub fn record(
        &mut self,
        rec: &VcfRecord,
        line: &str,
        scored: &[(usize, &Scores)],
    ) -> Result<()> {
        if self.format == Format::Vcf {
            self.vcf_header(line, true)?;
            let keys = info_keys(self.classes);
            let values: Vec<(usize, Vec<String>)> =
                scored.iter().map(|(k, s)| (*k, score_values(s))).collect();
            let text = if values.is_empty() {
                line.to_owned()
            } else {
                with_info(line, &keys, &values, rec.alts.len())
            };
            self.put(&text)?;
            return self.put("\n");
        }
        let rows: Vec<Vec<String>> = scored
            .iter()
            .filter_map(|(k, s)| {
                let Allele::Bases(alt) = &rec.alts[*k] else {
                    return None;
                };
                let mut row = vec![
                    rec.chrom.clone(),
                    rec.pos.to_string(),
                    rec.id.clone(),
                    rec.reference.clone(),
                    alt.clone(),
                ];
                row.extend(score_values(s));
                Some(row)
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        self.rows(&rows)
    }

    /// The writer, everything written to it.
    pub fn finish(mut self) -> Result<W> {
        self.out
            .flush()
            .map_err(|e| Error::Invalid(format!("writing scores: {e}")))?;
        Ok(self.out)
    }
}

/// The column names after `chrom,pos,id,ref,alt`.
fn score_columns(classes: Option<usize>) -> Vec<String> {
    let mut cols: Vec<String> = ["llr", "llr_fwd", "llr_rev", "embedding_distance"]
        .map(String::from)
        .to_vec();
    for side in ["ref", "alt"] {
        cols.extend((0..classes.unwrap_or(0)).map(|k| format!("p_{side}_{k}")));
    }
    cols
}

/// One allele's numbers in [`score_columns`] order.
fn score_values(s: &Scores) -> Vec<String> {
    let mut v: Vec<String> = [s.llr, s.llr_fwd, s.llr_rev, s.embedding_distance]
        .iter()
        .map(|&x| (x as f32).to_string())
        .collect();
    v.extend(s.p_ref.iter().chain(&s.p_alt).flatten().map(f32::to_string));
    v
}

/// INFO keys, in [`score_columns`] order.
fn info_keys(classes: Option<usize>) -> Vec<String> {
    score_columns(classes)
        .iter()
        .map(|c| format!("DNAGPU_{}", c.to_ascii_uppercase()))
        .collect()
}

fn info_description(column: &str) -> String {
    match column {
        "llr" => "Masked-LM log-likelihood ratio of ALT vs REF, mean of both strands".into(),
        "llr_fwd" => "Masked-LM log-likelihood ratio of ALT vs REF, forward strand".into(),
        "llr_rev" => "Masked-LM log-likelihood ratio of ALT vs REF, reverse strand".into(),
        "embedding_distance" => {
            "1 - cosine of the mean embeddings of the ALT and REF windows, mean of both strands"
                .into()
        }
        c => {
            let (side, k) = c[2..].split_once('_').unwrap_or(("?", "?"));
            format!(
                "Probability of class {k} for the {} window",
                side.to_ascii_uppercase()
            )
        }
    }
}

/// A record line with the INFO fields of its scored alleles added
/// (`scored`: alt index and values; `alts`: the record's ALT count).
fn with_info(line: &str, keys: &[String], scored: &[(usize, Vec<String>)], alts: usize) -> String {
    let mut cols: Vec<String> = line.split('\t').map(String::from).collect();
    while cols.len() < 8 {
        cols.push(".".into());
    }
    let fields: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(j, key)| {
            let per_alt: Vec<&str> = (0..alts)
                .map(|k| {
                    scored
                        .iter()
                        .find(|(alt, _)| *alt == k)
                        .map_or(".", |(_, v)| v[j].as_str())
                })
                .collect();
            format!("{key}={}", per_alt.join(","))
        })
        .collect();
    let info = &mut cols[7];
    if info.is_empty() || info == "." {
        *info = fields.join(";");
    } else {
        info.push(';');
        info.push_str(&fields.join(";"));
    }
    cols.join("\t")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vep::windows::{plan, regions, Mismatch};

    fn scores(x: f64, classes: bool) -> Scores {
        Scores {
            llr: x,
            llr_fwd: x + 1.0,
            llr_rev: x - 1.0,
            embedding_distance: 0.25,
            p_ref: classes.then(|| vec![0.75, 0.25]),
            p_alt: classes.then(|| vec![0.5, 0.5]),
        }
    }

    fn setup(vcf: &str) -> (Vcf, Plan) {
        let vcf = Vcf::parse(vcf.as_bytes(), "in.vcf").unwrap();
        let fa = b">c\nACGTACGTAC\n";
        let got = crate::data::regions::fetch(&fa[..], "g.fa", &regions(&vcf, 2)).unwrap();
        let p = plan(&vcf, &got, "g.fa", 2, Mismatch::Skip).unwrap();
        (vcf, p)
    }

    #[test]
    fn tables_in_vcf_order_one_row_per_alt() {
        let (vcf, p) = setup("c\t2\trs1\tC\tT,<DEL>,G\nc\t3\t.\tT\tA\nc\t5\t.\tA\tC\n");
        assert_eq!(p.mismatched, 1);
        let s = [scores(0.5, true), scores(-2.0, true), scores(1.0, true)];
        let csv = write(Format::Csv, &vcf, &p, &s, Some(2)).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "chrom,pos,id,ref,alt,llr,llr_fwd,llr_rev,embedding_distance,p_ref_0,p_ref_1,p_alt_0,p_alt_1"
        );
        assert_eq!(lines[1], "c,2,rs1,C,T,0.5,1.5,-0.5,0.25,0.75,0.25,0.5,0.5");
        assert_eq!(lines[2], "c,2,rs1,C,G,-2,-1,-3,0.25,0.75,0.25,0.5,0.5");
        assert_eq!(lines[3], "c,5,.,A,C,1,2,0,0.25,0.75,0.25,0.5,0.5");
        assert_eq!(lines.len(), 4);
        let tsv = write(Format::Tsv, &vcf, &p, &s, Some(2)).unwrap();
        assert!(tsv
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("c\t2\trs1\tC\tT\t0.5\t"));
    }

    #[test]
    fn vcf_copies_the_input_and_adds_info() {
        let text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nc\t2\trs1\tC\tT,<DEL>\t9\tPASS\tDP=3\nc\t3\t.\tG\tA\nc\t4\t.\tA\tC\t.\t.\t.\n";
        let (vcf, p) = setup(text);
        let s = [scores(0.5, false), scores(-2.0, false)];
        let out = write(Format::Vcf, &vcf, &p, &s, None).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "##fileformat=VCFv4.2");
        assert!(lines[1].starts_with("##INFO=<ID=DNAGPU_LLR,Number=A,Type=Float"));
        assert!(lines[4].starts_with("##INFO=<ID=DNAGPU_EMBEDDING_DISTANCE,"));
        assert!(lines[5].starts_with("#CHROM"));
        assert_eq!(
            lines[6],
            "c\t2\trs1\tC\tT,<DEL>\t9\tPASS\tDP=3;DNAGPU_LLR=0.5,.;DNAGPU_LLR_FWD=1.5,.;DNAGPU_LLR_REV=-0.5,.;DNAGPU_EMBEDDING_DISTANCE=0.25,."
        );
        assert_eq!(
            lines[7],
            "c\t3\t.\tG\tA\t.\t.\tDNAGPU_LLR=-2;DNAGPU_LLR_FWD=-1;DNAGPU_LLR_REV=-3;DNAGPU_EMBEDDING_DISTANCE=0.25"
        );
        // The mismatched record is copied as it was.
        assert_eq!(lines[8], "c\t4\t.\tA\tC\t.\t.\t.");
        assert_eq!(lines.len(), 9);
    }
}
