//! Gzip detection and the opening of streamed inputs, for every reader: a
//! gzip stream is known by its magic bytes (a `.gz` name is a hint, the
//! bytes decide), and a corrupt one is reported as such, not as an I/O error.

use std::io::Read;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether data starting with `head` is gzip-compressed.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC)
}

pub(crate) fn gzip_message(e: &std::io::Error) -> String {
    format!("corrupt or truncated gzip data ({e})")
}

/// Rewords a gzip decoder's I/O errors so the readers' messages say what
/// went wrong.
pub(crate) struct GzErrors<R>(pub R);

impl<R: Read> Read for GzErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| std::io::Error::new(e.kind(), gzip_message(&e)))
    }
}

/// An input opened for streaming.
#[cfg(not(target_arch = "wasm32"))]
pub struct Opened {
    /// How messages name it (`<stdin>` for `-`).
    pub name: String,
    /// The decompressed text.
    pub reader: Box<dyn std::io::BufRead + Send>,
}

/// Opens a file, or stdin for `-`, decompressing gzip (by magic bytes).
#[cfg(not(target_arch = "wasm32"))]
pub fn open_stream(path: &std::path::Path) -> crate::error::Result<Opened> {
    use crate::error::Error;
    use std::io::{BufRead, BufReader};
    // Large buffers: genomes are read at disk speed.
    const BUFFER: usize = 1 << 20;
    let (name, raw): (String, Box<dyn Read + Send>) = if path.as_os_str() == "-" {
        ("<stdin>".to_owned(), Box::new(std::io::stdin()))
    } else {
        let name = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Invalid(format!("cannot read {name}: {e}")))?;
        (name, Box::new(file))
    };
    let mut buffered = BufReader::with_capacity(BUFFER, raw);
    let head = buffered
        .fill_buf()
        .map_err(|e| Error::Invalid(format!("cannot read {name}: {e}")))?;
    let reader: Box<dyn BufRead + Send> = if is_gzip(head) {
        let decoder = flate2::read::MultiGzDecoder::new(buffered);
        Box::new(BufReader::with_capacity(BUFFER, GzErrors(decoder)))
    } else {
        Box::new(buffered)
    };
    Ok(Opened { name, reader })
}
