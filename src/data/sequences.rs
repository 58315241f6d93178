//! The validated sequences of FASTA / FASTA.gz files, one record at a time
//! (tokenizer training): the record reader over the shared opener, with the
//! same checks and messages as every record reader.

use super::open::open_stream;
use super::validate::check_sequence;
use super::FastaReader;
use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::io::BufRead;

/// Streams the sequences of FASTA / FASTA.gz files (gzip is recognised by
/// its magic bytes; `-` is stdin), one record at a time, normalised as
/// [`super::alphabet::normalize`] says: a symbol outside the alphabet, an
/// empty record or a file without records is an error naming the file (and
/// record, line and position).
pub struct FastaSequences {
    /// Files not opened yet, in order.
    pending: VecDeque<String>,
    current: Option<OpenFasta>,
    done: bool,
}

struct OpenFasta {
    name: String,
    reader: FastaReader<Box<dyn BufRead + Send>>,
    records: u64,
}

impl FastaSequences {
    /// Checks up front that every path is a readable file (so a typo in the
    /// last one fails before hours of reading); opens them one at a time.
    pub fn open(paths: &[String]) -> Result<Self> {
        if paths.is_empty() {
            return Err(Error::Invalid("no input files given".to_owned()));
        }
        for path in paths.iter().filter(|p| *p != "-") {
            let meta = std::fs::metadata(path)
                .map_err(|e| Error::Invalid(format!("cannot read {path}: {e}")))?;
            if meta.is_dir() {
                return Err(Error::Invalid(format!(
                    "cannot read {path}: it is a folder"
                )));
            }
        }
        Ok(Self {
            pending: paths.iter().cloned().collect(),
            current: None,
            done: false,
        })
    }

    fn open_next(&mut self) -> Result<bool> {
        let Some(path) = self.pending.pop_front() else {
            return Ok(false);
        };
        let opened = open_stream(std::path::Path::new(&path))?;
        self.current = Some(OpenFasta {
            reader: FastaReader::new(opened.reader, &opened.name),
            name: opened.name,
            records: 0,
        });
        Ok(true)
    }

    fn next_sequence(&mut self) -> Result<Option<String>> {
        loop {
            let Some(file) = self.current.as_mut() else {
                if !self.open_next()? {
                    return Ok(None);
                }
                continue;
            };
            let Some(raw) = file.reader.next().transpose()? else {
                if file.records == 0 {
                    return Err(Error::Invalid(format!("{}: no sequences found", file.name)));
                }
                self.current = None;
                continue;
            };
            file.records += 1;
            let mut seq = raw.seq;
            check_sequence(&file.name, &raw.id, raw.line, &mut seq).map_err(Error::Invalid)?;
            return Ok(Some(seq));
        }
    }
}

impl Iterator for FastaSequences {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        if self.done {
            return None;
        }
        let item = self.next_sequence();
        if !matches!(item, Ok(Some(_))) {
            self.done = true;
        }
        item.transpose()
    }
}
