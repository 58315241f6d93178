//! What makes a checkpoint read back trustworthy: the sha256 of each of its
//! files, recorded in its state.json when it is written and compared when
//! it is loaded (a bit flipped on disk or in a copy is caught before it is
//! trained on), and weights and moments that are all finite.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::Weights;

/// The sha256 of `bytes` in hex, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Errors unless `bytes`, the checkpoint's file `name`, have the digest
/// `sums` (state.json's) records for it.
pub fn check_digest(name: &str, bytes: &[u8], sums: &BTreeMap<String, String>) -> Result<()> {
    match sums.get(name) {
        None => Err(Error::Invalid(format!(
            "state.json records no sha256 of {name}"
        ))),
        Some(want) if *want != sha256_hex(bytes) => Err(Error::Invalid(format!(
            "{name} does not match the sha256 in state.json: the file changed after it was written (disk or copy corruption)"
        ))),
        Some(_) => Ok(()),
    }
}

/// Errors naming the file and the tensor when a value of `w` (the
/// checkpoint's file `name`) is NaN or infinite: training never saves
/// such values (a step that makes them is refused), so the file is corrupt.
pub fn check_finite(name: &str, w: &Weights) -> Result<()> {
    w.check_all_finite().map_err(|e| {
        Error::Invalid(format!(
            "{name}: {e} (in a checkpoint: a corrupt file, not a training problem)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HostTensor;

    #[test]
    fn digests_are_sha256sums_and_mismatches_name_the_file() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let sums = BTreeMap::from([("a.bin".to_string(), sha256_hex(b"abc"))]);
        check_digest("a.bin", b"abc", &sums).unwrap();
        let err = check_digest("a.bin", b"abd", &sums)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.bin") && err.contains("sha256"), "{err}");
        let err = check_digest("b.bin", b"abc", &sums)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no sha256 of b.bin"), "{err}");
    }

    #[test]
    fn a_non_finite_value_names_file_and_tensor() {
        let t = |v: f32| HostTensor {
            shape: vec![2],
            data: vec![1.0, v],
        };
        let ok = Weights::new(BTreeMap::from([("w".into(), t(2.0))]), "x");
        check_finite("model.safetensors", &ok).unwrap();
        let bad = Weights::new(
            BTreeMap::from([("a".into(), t(2.0)), ("b".into(), t(f32::NAN))]),
            "x",
        );
        let err = check_finite("model.safetensors", &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("`b`") && err.contains("corrupt"),
            "{err}"
        );
    }
}
