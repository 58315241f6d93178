//! A writer of zip archives of stored entries (no compression, no zip64),
//! laid out as `torch.save` writes them: the `.bin` reader's tests and the
//! pickle fuzz target build their archives with it.

// Signatures of the zip records written (the central one is public: tests
// find a central directory entry by it).
const SIG_LOCAL: u32 = 0x0403_4b50;
pub const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;

/// A zip of `entries` (name, data), stored, each with its CRC-32.
pub fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let (crc, len, off) = (crc.sum(), data.len() as u32, out.len() as u32);
        out.extend(SIG_LOCAL.to_le_bytes());
        out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend(crc.to_le_bytes());
        out.extend(len.to_le_bytes());
        out.extend(len.to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend([0, 0]);
        out.extend(name.as_bytes());
        out.extend(*data);
        cd.extend(SIG_CENTRAL.to_le_bytes());
        cd.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        cd.extend(crc.to_le_bytes());
        cd.extend(len.to_le_bytes());
        cd.extend(len.to_le_bytes());
        cd.extend((name.len() as u16).to_le_bytes());
        cd.extend([0; 12]);
        cd.extend(off.to_le_bytes());
        cd.extend(name.as_bytes());
    }
    let (cd_off, cd_len, n) = (out.len() as u32, cd.len() as u32, entries.len() as u16);
    out.extend(cd);
    out.extend(SIG_EOCD.to_le_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend(n.to_le_bytes());
    out.extend(n.to_le_bytes());
    out.extend(cd_len.to_le_bytes());
    out.extend(cd_off.to_le_bytes());
    out.extend([0, 0]);
    out
}
