//! The stored entries of the zip archive torch.save writes.

use super::tensors::sub;
use super::Res;

/// One stored entry of the archive.
pub(super) struct Entry<'a> {
    pub(super) name: String,
    pub(super) data: &'a [u8],
    crc: u32,
}

impl Entry<'_> {
    /// Checks the CRC-32; torch writes 0 when told not to compute it.
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

fn field<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}
pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    field(b, at).map(u16::from_le_bytes)
}
pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    field(b, at).map(u32::from_le_bytes)
}
pub(super) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    field(b, at).map(u64::from_le_bytes)
}

pub(super) const SIG_LOCAL: u32 = 0x0403_4b50;
pub(super) const SIG_CENTRAL: u32 = 0x0201_4b50;
pub(super) const SIG_EOCD: u32 = 0x0605_4b50;
pub(super) const SIG_EOCD64: u32 = 0x0606_4b50;
pub(super) const SIG_LOCATOR64: u32 = 0x0706_4b50;

/// The entries of a zip archive, from its central directory. Only stored
/// (uncompressed, unencrypted) entries are accepted, as torch writes.
pub(super) fn zip_entries(b: &[u8]) -> Res<Vec<Entry<'_>>> {
    let corrupt = |what: &str| format!("truncated or corrupt zip archive ({what})");
    // End of central directory: 22 bytes plus a comment of at most 64 KiB,
    // which must end exactly at the end of the file.
    let last = b
        .len()
        .checked_sub(22)
        .ok_or_else(|| corrupt("too short"))?;
    let eocd = (last.saturating_sub(0xFFFF)..=last)
        .rev()
        .find(|&p| {
            u32_at(b, p) == Some(SIG_EOCD)
                && u16_at(b, p + 20).map(|c| p + 22 + usize::from(c)) == Some(b.len())
        })
        .ok_or_else(|| corrupt("no end-of-central-directory record"))?;
    let mut count = u64::from(u16_at(b, eocd + 10).ok_or_else(|| corrupt("eocd"))?);
    let mut cd_size = u64::from(u32_at(b, eocd + 12).ok_or_else(|| corrupt("eocd"))?);
    let mut cd_off = u64::from(u32_at(b, eocd + 16).ok_or_else(|| corrupt("eocd"))?);
    let locator = eocd.checked_sub(20);
    if let Some(loc) = locator.filter(|&l| u32_at(b, l) == Some(SIG_LOCATOR64)) {
        let z = u64_at(b, loc + 8)
            .and_then(|z| usize::try_from(z).ok())
            .ok_or_else(|| corrupt("zip64 locator"))?;
        if u32_at(b, z) != Some(SIG_EOCD64) {
            return Err(corrupt("no zip64 end-of-central-directory record"));
        }
        count = u64_at(b, z + 32).ok_or_else(|| corrupt("zip64 record"))?;
        cd_size = u64_at(b, z + 40).ok_or_else(|| corrupt("zip64 record"))?;
        cd_off = u64_at(b, z + 48).ok_or_else(|| corrupt("zip64 record"))?;
    } else if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_off == 0xFFFF_FFFF {
        return Err(corrupt("zip64 fields without a zip64 record"));
    }
    let cd = sub(b, cd_off, cd_size).ok_or_else(|| corrupt("central directory out of bounds"))?;

    let mut entries = Vec::new();
    let mut at = 0usize;
    // Each entry takes at least 46 bytes of `cd`, so this ends quickly
    // whatever `count` says.
    for _ in 0..count {
        let bad = || corrupt("central directory entry");
        if u32_at(cd, at) != Some(SIG_CENTRAL) {
            return Err(bad());
        }
        let flags = u16_at(cd, at + 8).ok_or_else(bad)?;
        let method = u16_at(cd, at + 10).ok_or_else(bad)?;
        let crc = u32_at(cd, at + 16).ok_or_else(bad)?;
        let mut csize = u64::from(u32_at(cd, at + 20).ok_or_else(bad)?);
        let mut usize_ = u64::from(u32_at(cd, at + 24).ok_or_else(bad)?);
        let nlen = usize::from(u16_at(cd, at + 28).ok_or_else(bad)?);
        let elen = usize::from(u16_at(cd, at + 30).ok_or_else(bad)?);
        let clen = usize::from(u16_at(cd, at + 32).ok_or_else(bad)?);
        let mut local = u64::from(u32_at(cd, at + 42).ok_or_else(bad)?);
        let name_at = at + 46;
        let name = cd.get(name_at..name_at + nlen).ok_or_else(bad)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = cd
            .get(name_at + nlen..name_at + nlen + elen)
            .ok_or_else(bad)?;
        // Zip64 extended information: the saturated fields, in this order.
        let mut x = 0usize;
        while let (Some(id), Some(size)) = (u16_at(extra, x), u16_at(extra, x + 2)) {
            let body = extra
                .get(x + 4..x + 4 + usize::from(size))
                .ok_or_else(bad)?;
            if id == 1 {
                let mut f = 0usize;
                for v in [&mut usize_, &mut csize, &mut local] {
                    if *v == 0xFFFF_FFFF {
                        *v = u64_at(body, f).ok_or_else(bad)?;
                        f += 8;
                    }
                }
            }
            x += 4 + usize::from(size);
        }
        at = name_at + nlen + elen + clen;

        if flags & 1 != 0 {
            return Err(format!("zip entry `{name}` is encrypted"));
        }
        if method != 0 {
            return Err(format!(
                "zip entry `{name}` is compressed (method {method}); torch.save stores \
                 entries uncompressed: re-save the file with torch.save"
            ));
        }
        if csize != usize_ {
            return Err(bad());
        }
        let l = usize::try_from(local).map_err(|_| bad())?;
        if u32_at(b, l) != Some(SIG_LOCAL) {
            return Err(corrupt("local header"));
        }
        let lnlen = u16_at(b, l + 26).ok_or_else(bad)?;
        let lelen = u16_at(b, l + 28).ok_or_else(bad)?;
        let start = local
            .checked_add(30 + u64::from(lnlen) + u64::from(lelen))
            .ok_or_else(bad)?;
        let data = sub(b, start, csize)
            .ok_or_else(|| corrupt(&format!("entry `{name}` out of bounds")))?;
        entries.push(Entry { name, data, crc });
    }
    Ok(entries)
}
