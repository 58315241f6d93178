//! The log of a pretraining run: `log.csv` (one row per step, the
//! validation loss where it was measured), written from the run's start and
//! appended to as each step ends, read back on `--resume`; and its plot
//! `loss.svg`, redrawn at each checkpoint and at the end.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::trainer::EvalStats;
use crate::error::Result;
use crate::export::CsvText;
use crate::fs::{io_error, write_atomic};
use crate::plot::{line_chart, Series};

/// One row of log.csv.
#[derive(Clone, Debug)]
pub struct LogRow {
    pub step: u64,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens: u64,
    pub seconds: f64,
    pub val: Option<EvalStats>,
}

pub const LOG_HEADER: [&str; 8] = [
    "step",
    "loss",
    "lr",
    "grad_norm",
    "tokens",
    "seconds",
    "val_loss",
    "val_accuracy",
];

impl LogRow {
    /// The row's fields, in `LOG_HEADER` order.
    fn fields(&self) -> [String; 8] {
        let (vl, va) = match self.val {
            Some(v) => (format!("{:.9e}", v.loss), format!("{:.6}", v.accuracy)),
            None => (String::new(), String::new()),
        };
        [
            self.step.to_string(),
            format!("{:.9e}", self.loss),
            format!("{:.6e}", self.lr),
            format!("{:.6e}", self.grad_norm),
            self.tokens.to_string(),
            format!("{:.3}", self.seconds),
            vl,
            va,
        ]
    }

    fn parse(f: &csv::StringRecord) -> Option<Self> {
        if f.len() != 8 {
            return None;
        }
        let val = match (f[6].parse(), f[7].parse()) {
            (Ok(loss), Ok(accuracy)) => Some(EvalStats {
                loss,
                accuracy,
                labelled: 0,
            }),
            _ => None,
        };
        Some(Self {
            step: f[0].parse().ok()?,
            loss: f[1].parse().ok()?,
            lr: f[2].parse().ok()?,
            grad_norm: f[3].parse().ok()?,
            tokens: f[4].parse().ok()?,
            seconds: f[5].parse().ok()?,
            val,
        })
    }
}

/// log.csv of a run as it goes: a run killed before its first checkpoint
/// still leaves the losses of every step it took.
pub struct RunLog {
    run: PathBuf,
    /// log.csv, open for appending; each row is one write, so nothing waits
    /// in a buffer when the process dies.
    /// `None`: a data-parallel rank other than 0, which writes nothing.
    file: Option<File>,
    rows: Vec<LogRow>,
}

impl RunLog {
    /// Starts log.csv in the run folder `run` with its header and `rows`
    /// (those of the checkpoint a resumed run continues from; rows the run
    /// logged after that checkpoint are dropped).
    pub fn start(run: &Path, rows: Vec<LogRow>) -> Result<Self> {
        let path = run.join("log.csv");
        let mut csv = CsvText::new();
        csv.row(LOG_HEADER)?;
        for r in &rows {
            csv.row(r.fields())?;
        }
        write_atomic(&path, csv.finish()?.as_bytes())?;
        let file = File::options()
            .append(true)
            .open(&path)
            .map_err(io_error(format!("opening {}", path.display())))?;
        Ok(Self {
            run: run.to_path_buf(),
            file: Some(file),
            rows,
        })
    }

    /// A log kept in memory only (data-parallel ranks other than 0).
    pub fn unwritten(rows: Vec<LogRow>) -> Self {
        Self {
            run: PathBuf::new(),
            file: None,
            rows,
        }
    }

    /// Appends the row of a step just taken.
    pub fn push(&mut self, row: LogRow) -> Result<()> {
        let mut csv = CsvText::new();
        csv.row(row.fields())?;
        if let Some(file) = &mut self.file {
            let path = self.run.join("log.csv");
            file.write_all(csv.finish()?.as_bytes())
                .map_err(io_error(format!("writing {}", path.display())))?;
        }
        self.rows.push(row);
        Ok(())
    }

    pub fn rows(&self) -> &[LogRow] {
        &self.rows
    }

    /// Redraws loss.svg (at checkpoints and at the end: not worth it every
    /// step).
    pub fn plot(&self) -> Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        let train = Series {
            name: "training loss".into(),
            points: self.rows.iter().map(|r| (r.step as f64, r.loss)).collect(),
            color: "#1f77b4",
            dots: false,
        };
        let val = Series {
            name: "validation loss".into(),
            points: self
                .rows
                .iter()
                .filter_map(|r| r.val.map(|v| (r.step as f64, v.loss)))
                .collect(),
            color: "#d62728",
            dots: true,
        };
        let svg = line_chart(
            "MLM pretraining",
            "step",
            "masked-token cross-entropy",
            &[train, val],
        );
        write_atomic(&self.run.join("loss.svg"), svg.as_bytes())
    }
}

/// The rows of the run's log.csv up to step `upto` (a resumed run goes on
/// from there); none when there is no readable log.
pub fn read_log(run: &Path, upto: u64) -> Vec<LogRow> {
    let Ok(mut reader) = csv::Reader::from_path(run.join("log.csv")) else {
        return Vec::new();
    };
    reader
        .records()
        .filter_map(|r| LogRow::parse(&r.ok()?))
        .filter(|r| r.step <= upto)
        .collect()
}
