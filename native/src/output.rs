//! Where a command's text result goes: a file, written atomically, or
//! stdout.

use std::path::Path;

use anyhow::Result;
use dnagpu::fs::write_atomic;

/// Writes `text` to `output` (saying so on stderr), or prints it.
pub fn write_or_print(output: Option<&Path>, text: &str) -> Result<()> {
    match output {
        Some(p) => {
            write_atomic(p, text.as_bytes())?;
            eprintln!("wrote {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}
