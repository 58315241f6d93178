//! safetensors checkpoints (`model.safetensors`, PEFT's
//! `adapter_model.safetensors`): every floating-point tensor converted to f32.

use std::collections::BTreeMap;

use super::weights::{bad, HostTensor, Weights};
use crate::error::Result;

impl Weights {
    /// Parses a safetensors file held in memory; `origin` names it in errors.
    pub fn from_safetensors(bytes: &[u8], origin: &str) -> Result<Self> {
        let st = ::safetensors::SafeTensors::deserialize(bytes).map_err(|e| {
            bad(
                origin,
                format_args!("not a readable safetensors file ({e})"),
            )
        })?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let data = to_f32(view.dtype(), view.data())
                .map_err(|msg| bad(origin, format_args!("tensor `{name}`: {msg}")))?;
            tensors.insert(
                name,
                HostTensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(Self::new(tensors, origin))
    }

    /// Reads a safetensors file (memory-mapped).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_safetensors_file(path: &std::path::Path) -> Result<Self> {
        let origin = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| bad(&origin, e))?;
        // SAFETY: the map is read-only and dropped before this returns; a
        // file changed under us gives wrong numbers, not unsoundness we rely on.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| bad(&origin, e))?;
        Self::from_safetensors(&map, &origin)
    }
}

fn to_f32(dtype: ::safetensors::Dtype, bytes: &[u8]) -> std::result::Result<Vec<f32>, String> {
    use ::safetensors::Dtype;
    Ok(match dtype {
        Dtype::F32 => bytemuck::pod_collect_to_vec(bytes),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        other => {
            return Err(format!(
                "dtype {other:?} is not a floating-point type dnagpu reads"
            ))
        }
    })
}
