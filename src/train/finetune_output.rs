//! The output folder of a fine-tuning run. An earlier result there is never
//! replaced unasked: the CLI refuses a folder that holds anything, before
//! any work. Asked to overwrite, it removes the earlier result's files
//! first, so that two results never mix (a full model left beside a new
//! LoRA adapter would be what `classify --model` loads).

use std::path::Path;

use crate::error::{Error, Result};
use crate::fs::io_error;

/// Every file a fine-tuning run writes (LoRA or full, merged or not).
const RESULT_FILES: [&str; 10] = [
    "adapter_config.json",
    "adapter_model.safetensors",
    "config.json",
    "tokenizer.json",
    "vocab.txt",
    "model.safetensors",
    "metrics.json",
    "predictions.csv",
    "dev_curve.svg",
    "confusion_matrix.svg",
];

/// Errors unless `output` is absent or an empty folder, naming what it
/// holds and the ways on.
pub fn check_output(output: &Path) -> Result<()> {
    let held = entries(output)?;
    if held.is_empty() {
        return Ok(());
    }
    let shown = held.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
    let more = match held.len() {
        n if n > 6 => format!(" and {} more", n - 6),
        _ => String::new(),
    };
    let what = if held.iter().any(|f| f == "metrics.json") {
        "an earlier fine-tuning result"
    } else {
        "files"
    };
    Err(Error::Invalid(format!(
        "{} already holds {what} ({shown}{more}), which this run would replace or mix with. Choose another --output (an absent or empty folder), or pass --overwrite to replace an earlier result (its files are removed first; other files are kept)",
        output.display()
    )))
}

/// Removes an earlier result's files from `output`, keeping anything else;
/// returns the names removed.
pub fn clear_output(output: &Path) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in entries(output)? {
        if RESULT_FILES.contains(&name.as_str()) {
            let path = output.join(&name);
            std::fs::remove_file(&path).map_err(io_error(format!(
                "--overwrite: removing {}",
                path.display()
            )))?;
            removed.push(name);
        }
    }
    Ok(removed)
}

/// The names in the folder `output`, sorted; none when it does not exist.
fn entries(output: &Path) -> Result<Vec<String>> {
    if !output.exists() {
        return Ok(Vec::new());
    }
    if !output.is_dir() {
        return Err(Error::Invalid(format!(
            "--output {} is a file, not a folder",
            output.display()
        )));
    }
    let listing = |e| io_error(format!("listing {}", output.display()))(e);
    let mut names = std::fs::read_dir(output)
        .map_err(listing)?
        .map(|e| {
            Ok(e.map_err(listing)?
                .file_name()
                .to_string_lossy()
                .to_string())
        })
        .collect::<Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_result_is_refused_and_overwrite_removes_only_its_files() {
        let dir = std::env::temp_dir().join(format!("dnagpu-ft-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        check_output(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        check_output(&dir).unwrap();
        for f in ["metrics.json", "adapter_model.safetensors", "notes.txt"] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        let err = check_output(&dir).unwrap_err().to_string();
        assert!(
            err.contains("earlier fine-tuning result")
                && err.contains("adapter_model.safetensors, metrics.json, notes.txt")
                && err.contains("--output")
                && err.contains("--overwrite"),
            "{err}"
        );
        assert_eq!(
            clear_output(&dir).unwrap(),
            ["adapter_model.safetensors", "metrics.json"]
        );
        assert_eq!(entries(&dir).unwrap(), ["notes.txt"]);
        let file = dir.join("notes.txt");
        let err = check_output(&file).unwrap_err().to_string();
        assert!(err.contains("is a file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
