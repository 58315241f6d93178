//! The entries of the zip archive torch.save writes, listed by the `zip`
//! crate and borrowed from the file's bytes: torch stores them
//! uncompressed, so a storage of hundreds of megabytes is read in place,
//! never copied.

use std::io::Cursor;

use zip::{CompressionMethod, ZipArchive};

use super::tensors::sub;
use super::Res;

/// One stored entry of the archive.
pub(super) struct Entry<'a> {
    pub(super) name: String,
    pub(super) data: &'a [u8],
    crc: u32,
}

impl Entry<'_> {
    /// Checks the CRC-32 here rather than through the `zip` crate's reader,
    /// which would copy the data and reject the 0 torch writes when told
    /// not to compute it.
    pub(super) fn check_crc(&self) -> Res<()> {
        if self.crc == 0 {
            return Ok(());
        }
        let mut crc = flate2::Crc::new();
        crc.update(self.data);
        if crc.sum() == self.crc {
            Ok(())
        } else {
            Err(format!(
                "zip entry `{}` is corrupt (CRC-32 mismatch)",
                self.name
            ))
        }
    }
}

fn corrupt(what: impl std::fmt::Display) -> String {
    format!("truncated or corrupt zip archive ({what})")
}

/// The entries of a zip archive, from its central directory. Only stored
/// (uncompressed, unencrypted) entries are accepted, as torch writes.
pub(super) fn zip_entries(b: &[u8]) -> Res<Vec<Entry<'_>>> {
    let mut zip = ZipArchive::new(Cursor::new(b)).map_err(corrupt)?;
    let mut entries = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        // Raw: neither decrypted nor inflated, so only the local header is read.
        let f = zip.by_index_raw(i).map_err(corrupt)?;
        let name = f.name().to_string();
        if f.encrypted() {
            return Err(format!("zip entry `{name}` is encrypted"));
        }
        if f.compression() != CompressionMethod::Stored {
            // The number as stored: the `zip` crate names only the methods
            // its enabled features decode, and this build enables none.
            let method = sub(b, f.central_header_start().saturating_add(10), 2)
                .map_or(0, |m| u16::from_le_bytes([m[0], m[1]]));
            return Err(format!(
                "zip entry `{name}` is compressed (method {method}); torch.save stores \
                 entries uncompressed: re-save the file with torch.save"
            ));
        }
        if f.compressed_size() != f.size() {
            return Err(corrupt("central directory entry"));
        }
        let data = f
            .data_start()
            .and_then(|start| sub(b, start, f.compressed_size()))
            .ok_or_else(|| corrupt(format_args!("entry `{name}` out of bounds")))?;
        entries.push(Entry {
            name,
            data,
            crc: f.crc32(),
        });
    }
    Ok(entries)
}
