//! A VCF read line by line (`dnagpu vep` on a VCF of any size): the same
//! checks and messages as [`Vcf::parse`](super::vcf::Vcf::parse), one line
//! held at a time.

use std::io::BufRead;

use super::lines::TextLines;
use super::vcf::{VcfLines, VcfRecord};
use crate::error::Result;

/// One line of a VCF, its line end removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VcfItem {
    /// A header or blank line, as written.
    Other(String),
    /// A data line: its record and its text.
    Record(VcfRecord, String),
}

/// The lines of a VCF stream, in order; at its end, a VCF without records
/// is an error.
pub struct VcfStream<R> {
    lines: TextLines<R>,
    check: VcfLines,
    ended: bool,
}

impl<R: BufRead> VcfStream<R> {
    /// `origin` names the input in messages.
    pub fn new(reader: R, origin: &str) -> Self {
        Self {
            lines: TextLines::new(reader, origin),
            check: VcfLines::new(origin),
            ended: false,
        }
    }

    /// Whether a `#CHROM` header came before the records read so far.
    pub fn has_header(&self) -> bool {
        self.check.has_header()
    }

    /// The next line, or `None` at the end.
    pub fn next_item(&mut self) -> Result<Option<VcfItem>> {
        if self.ended {
            return Ok(None);
        }
        let Some(text) = self.lines.next_text()? else {
            self.ended = true;
            self.check.finish()?;
            return Ok(None);
        };
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text).to_owned();
        let line = self.lines.line();
        Ok(Some(match self.check.line(&text, line)? {
            Some(r) => VcfItem::Record(r, text),
            None => VcfItem::Other(text),
        }))
    }
}

impl<R: BufRead> Iterator for VcfStream<R> {
    type Item = Result<VcfItem>;

    fn next(&mut self) -> Option<Result<VcfItem>> {
        self.next_item().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::vcf::Vcf;

    /// The streamed reading gives the records, lines and errors of the
    /// whole one.
    #[test]
    fn agrees_with_the_whole_reading() {
        for text in [
            "##fileformat=VCFv4.2\r\n#CHROM\tPOS\tID\tREF\tALT\n\nc\t5\trs1\tA\tg,<DEL>\r\n  \nc\t1\t.\tN\tC",
            "c\t5\t.\tA\tG\n",
            "c\t5\t.\tA\tG\n##x\n",
            "c\t0\t.\tA\tG\n",
            "##x\n",
        ] {
            let whole = Vcf::parse(text.as_bytes(), "v.vcf");
            let items: Result<Vec<VcfItem>> = VcfStream::new(text.as_bytes(), "v.vcf").collect();
            match (whole, items) {
                (Ok(v), Ok(items)) => {
                    let records: Vec<&VcfRecord> = items
                        .iter()
                        .filter_map(|i| match i {
                            VcfItem::Record(r, _) => Some(r),
                            VcfItem::Other(_) => None,
                        })
                        .collect();
                    assert_eq!(records, v.records.iter().collect::<Vec<_>>());
                    let lines: Vec<&str> = items
                        .iter()
                        .map(|i| match i {
                            VcfItem::Record(_, t) | VcfItem::Other(t) => t.as_str(),
                        })
                        .collect();
                    assert_eq!(lines, v.lines().map(|(_, l)| l).collect::<Vec<_>>());
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text:?}"),
                (a, b) => panic!("{text:?}: {:?} vs {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }
}
