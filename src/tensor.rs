//! A typed tensor: shape, element type and storage on one backend.

use std::sync::Arc;

use crate::error::{shape_err, Error, Result};
use crate::gpu::GpuBuffer;

/// Element types the kernels read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    /// Token ids and attention masks.
    U32,
    /// IEEE half precision, for weights stored at half the size (the
    /// matmul's B operand). On the GPU two elements share a 32-bit word,
    /// element 2i in the low half (WGSL's `unpack2x16float`).
    F16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::F16 => 2,
        }
    }
}

/// Host-side data of the CPU backend.
#[derive(Debug)]
pub enum CpuData {
    F32(Vec<f32>),
    U32(Vec<u32>),
    /// f16 bit patterns.
    F16(Vec<u16>),
}

/// f16 bit patterns to f32, in parallel chunks with the CPU's conversion
/// instructions where it has them (F16C; `half` detects it at run time).
fn widen_f16(bits: &[u16]) -> Vec<f32> {
    use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
    use rayon::prelude::*;
    let mut out = vec![0f32; bits.len()];
    out.par_chunks_mut(1 << 16)
        .zip(bits.par_chunks(1 << 16))
        .for_each(|(o, b)| b.reinterpret_cast::<half::f16>().convert_to_f32_slice(o));
    out
}

#[derive(Clone, Debug)]
pub(crate) enum Storage {
    Cpu(Arc<CpuData>),
    Gpu(Arc<GpuBuffer>),
}

/// A dense row-major tensor. Cloning is cheap (the storage is shared);
/// [`Tensor::reshape`] is a view.
#[derive(Clone, Debug)]
pub struct Tensor {
    shape: Vec<usize>,
    dtype: DType,
    pub(crate) storage: Storage,
    /// A linear layer's weight on the CPU backend, packed for its matmul
    /// (`Device::linear_weight`); the values are `storage`'s.
    pub(crate) packed: Option<Arc<crate::ops::matmul::packed::PackedB>>,
}

impl Tensor {
    pub(crate) fn from_storage(shape: Vec<usize>, dtype: DType, storage: Storage) -> Self {
        Self {
            shape,
            dtype,
            storage,
            packed: None,
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size of dimension `d`, negative counting from the end.
    pub fn dim(&self, d: isize) -> usize {
        let i = if d < 0 {
            self.shape.len() as isize + d
        } else {
            d
        };
        self.shape[i as usize]
    }

    /// The backend the data lives on: "cpu" or "gpu".
    pub fn backend(&self) -> &'static str {
        match self.storage {
            Storage::Cpu(_) => "cpu",
            Storage::Gpu(_) => "gpu",
        }
    }

    /// Same data, another shape with the same element count.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != self.numel() {
            return Err(shape_err(
                "reshape",
                format!("cannot view {:?} as {:?}", self.shape, shape),
            ));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            dtype: self.dtype,
            storage: self.storage.clone(),
            // The panels are of this shape's [N, K].
            packed: self.packed.clone().filter(|_| shape == self.shape),
        })
    }

    pub(crate) fn check_dtype(
        &self,
        op: &'static str,
        name: &'static str,
        want: DType,
    ) -> Result<()> {
        if self.dtype != want {
            return Err(Error::DType {
                op,
                name,
                want,
                got: self.dtype,
            });
        }
        Ok(())
    }

    pub(crate) fn cpu_f32(&self) -> &[f32] {
        match &self.storage {
            Storage::Cpu(d) => match d.as_ref() {
                CpuData::F32(v) => v,
                _ => unreachable!("dtype checked by the op"),
            },
            Storage::Gpu(_) => unreachable!("backend checked by the op"),
        }
    }

    pub(crate) fn cpu_u32(&self) -> &[u32] {
        match &self.storage {
            Storage::Cpu(d) => match d.as_ref() {
                CpuData::U32(v) => v,
                _ => unreachable!("dtype checked by the op"),
            },
            Storage::Gpu(_) => unreachable!("backend checked by the op"),
        }
    }

    /// The values of an f32 or f16 tensor on the CPU backend, widened to
    /// f32 (exactly) for f16.
    pub(crate) fn cpu_float(&self) -> std::borrow::Cow<'_, [f32]> {
        match &self.storage {
            Storage::Cpu(d) => match d.as_ref() {
                CpuData::F32(v) => std::borrow::Cow::Borrowed(v),
                CpuData::F16(v) => std::borrow::Cow::Owned(widen_f16(v)),
                CpuData::U32(_) => unreachable!("dtype checked by the op"),
            },
            Storage::Gpu(_) => unreachable!("backend checked by the op"),
        }
    }

    pub(crate) fn gpu_buffer(&self) -> &GpuBuffer {
        match &self.storage {
            Storage::Gpu(b) => b,
            Storage::Cpu(_) => unreachable!("backend checked by the op"),
        }
    }
}
