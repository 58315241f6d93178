//! The device model code runs on: the CPU backend or a wgpu GPU, chosen once
//! at start-up (`--backend auto|gpu|cpu`, `DNAGPU_BACKEND`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::context::{adapters, GpuDevice};
use crate::tensor::{CpuData, DType, Storage, Tensor};

/// Which backend to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// A hardware GPU when there is one, else the CPU backend. Software
    /// adapters (llvmpipe, SwiftShader) count as no GPU: the CPU backend is
    /// faster than they are.
    #[default]
    Auto,
    /// wgpu, taking a software adapter when that is all there is.
    Gpu,
    /// The CPU backend.
    Cpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            _ => Err(Error::Invalid(format!(
                "unknown backend `{s}`: expected auto, gpu or cpu"
            ))),
        }
    }
}

impl BackendChoice {
    /// `DNAGPU_BACKEND` if set (and valid), else `Auto`.
    pub fn from_env() -> Result<Self> {
        match std::env::var("DNAGPU_BACKEND") {
            Ok(s) if !s.is_empty() => s.parse(),
            _ => Ok(Self::Auto),
        }
    }
}

/// A backend to run ops on. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Device {
    Cpu,
    Gpu(Arc<GpuDevice>),
}

impl Device {
    /// Picks a device as `choice` says; `gpu` selects among adapters by index
    /// or by a case-insensitive part of the name. Returns the device and a
    /// one-line notice saying what was chosen and why.
    pub async fn select(choice: BackendChoice, gpu: Option<&str>) -> Result<(Device, String)> {
        if choice == BackendChoice::Cpu {
            return Ok((Device::Cpu, format!("using {}", Device::Cpu.name())));
        }
        let found = adapters().await;
        let pick = match gpu {
            Some(sel) => Some(pick_adapter(&found, sel)?),
            None => found.iter().position(|a| {
                choice == BackendChoice::Gpu || a.get_info().device_type != wgpu::DeviceType::Cpu
            }),
        };
        match pick {
            Some(i) => {
                let dev = GpuDevice::open(i, &found[i]).await?;
                let s = dev.summary();
                let notice = format!("using GPU {} ({}, {})", s.name, s.backend, s.device_type);
                Ok((Device::Gpu(Arc::new(dev)), notice))
            }
            None if choice == BackendChoice::Gpu => Err(Error::NoAdapter(
                "wgpu found no adapter (install a Vulkan, Metal or DX12 driver, or Mesa's lavapipe for a software one)".into(),
            )),
            None => {
                let why = if found.is_empty() {
                    "no GPU adapter found".to_string()
                } else {
                    let names: Vec<String> = found.iter().map(|a| a.get_info().name).collect();
                    format!("only software adapters found ({}); --backend gpu uses them", names.join(", "))
                };
                Ok((Device::Cpu, format!("{why}: using {}", Device::Cpu.name())))
            }
        }
    }

    /// [`Device::select`] for the data-parallel rank `local_rank` of this
    /// machine (`None`: one process, `select` itself): without `gpu`, the
    /// `local_rank`-th (wrapping) of the adapters `choice` would consider,
    /// so each rank gets its own device.
    pub async fn select_for_rank(
        choice: BackendChoice,
        gpu: Option<&str>,
        local_rank: Option<usize>,
    ) -> Result<(Device, String)> {
        let Some(local_rank) = local_rank.filter(|_| gpu.is_none() && choice != BackendChoice::Cpu)
        else {
            return Self::select(choice, gpu).await;
        };
        let found = adapters().await;
        let usable: Vec<usize> = (0..found.len())
            .filter(|&i| {
                choice == BackendChoice::Gpu
                    || found[i].get_info().device_type != wgpu::DeviceType::Cpu
            })
            .collect();
        match usable.get(local_rank % usable.len().max(1)) {
            Some(i) => Self::select(choice, Some(&i.to_string())).await,
            None => Self::select(choice, None).await,
        }
    }

    /// The GPU device on the best adapter, software ones included.
    pub async fn gpu() -> Result<Device> {
        Ok(Self::select(BackendChoice::Gpu, None).await?.0)
    }

    /// A human-readable name: the adapter, or the CPU backend and its threads.
    pub fn name(&self) -> String {
        match self {
            Device::Cpu => format!("CPU backend ({} threads)", rayon::current_num_threads()),
            Device::Gpu(g) => format!("{} ({})", g.summary().name, g.summary().backend),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Gpu(_) => "gpu",
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self, Device::Gpu(_))
    }

    /// Whether products with f16 operands run on cooperative matrices here
    /// (`gpu::coop`): where `--precision f16` computes in half precision.
    pub fn cooperative_matrices(&self) -> bool {
        matches!(self, Device::Gpu(g) if g.cooperative_matrices())
    }

    /// Whether `--precision f16` keeps the activations between kernels in
    /// half precision here (inference): a GPU with shader-f16, unless
    /// `DNAGPU_F16_ACTIVATIONS=off` (to compare). Elsewhere only the weights
    /// are f16.
    pub fn half_activations(&self) -> bool {
        static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let off =
            *OFF.get_or_init(|| std::env::var("DNAGPU_F16_ACTIVATIONS").is_ok_and(|v| v == "off"));
        !off && matches!(self, Device::Gpu(g) if g.shader_f16())
    }

    /// An f32 tensor holding `data` (row-major).
    pub fn tensor_f32(&self, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        self.upload(shape, DType::F32, bytemuck::cast_slice(data), || {
            CpuData::F32(data.to_vec())
        })
    }

    /// A linear layer's weight W [N, K] (`dtype` f32, or f16 for weights
    /// stored at half the size): an f32 one on the CPU backend also packed
    /// for the matmul's own kernel where this CPU has one
    /// (`ops::matmul::packed`; the panels are a second copy of the values),
    /// so that no product packs it again. f16 weights are not packed: f32
    /// panels would triple the memory that `--precision f16` halves.
    pub fn linear_weight(&self, shape: &[usize], data: &[f32], dtype: DType) -> Result<Tensor> {
        if dtype == DType::F16 {
            return self.tensor_f16(shape, data);
        }
        let mut t = self.tensor_f32(shape, data)?;
        if let (Device::Cpu, &[n, k]) = (self, shape) {
            t.packed = crate::ops::matmul::packed::PackedB::of_weight(data, n, k).map(Arc::new);
        }
        Ok(t)
    }

    /// An f16 tensor holding `data` rounded to half precision (to nearest,
    /// ties to even); values beyond f16's range are an error naming the
    /// first.
    pub fn tensor_f16(&self, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        let mut bits: Vec<u16> = Vec::with_capacity(data.len());
        for (i, &x) in data.iter().enumerate() {
            let h = half::f16::from_f32(x);
            if h.is_infinite() && x.is_finite() {
                return Err(crate::Error::Invalid(format!(
                    "element {i} ({x}) is beyond half precision's range (65504): it cannot be stored as f16"
                )));
            }
            bits.push(h.to_bits());
        }
        // `upload` pads the GPU buffer to whole 32-bit words.
        self.upload(shape, DType::F16, bytemuck::cast_slice(&bits), || {
            CpuData::F16(bits.clone())
        })
    }

    /// A u32 tensor (token ids, masks) holding `data`.
    pub fn tensor_u32(&self, shape: &[usize], data: &[u32]) -> Result<Tensor> {
        self.upload(shape, DType::U32, bytemuck::cast_slice(data), || {
            CpuData::U32(data.to_vec())
        })
    }

    fn upload(
        &self,
        shape: &[usize],
        dtype: DType,
        bytes: &[u8],
        cpu: impl FnOnce() -> CpuData,
    ) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n * dtype.size() != bytes.len() {
            return Err(crate::error::shape_err(
                "tensor",
                format!(
                    "shape {shape:?} needs {n} elements, data has {}",
                    bytes.len() / dtype.size()
                ),
            ));
        }
        let storage = match self {
            Device::Cpu => Storage::Cpu(Arc::new(cpu())),
            Device::Gpu(g) => {
                // Buffers hold whole 32-bit words (an odd count of f16s).
                let padded = bytes.len().next_multiple_of(4);
                let data = if padded == bytes.len() {
                    std::borrow::Cow::Borrowed(bytes)
                } else {
                    let mut v = bytes.to_vec();
                    v.resize(padded, 0);
                    std::borrow::Cow::Owned(v)
                };
                Storage::Gpu(Arc::new(g.upload(&data, "tensor")?))
            }
        };
        Ok(Tensor::from_storage(shape.to_vec(), dtype, storage))
    }

    /// An f32 tensor for an op's output: uninitialised on the GPU (the
    /// kernel writes every element), `fill` on the CPU.
    pub(crate) fn output_f32(
        &self,
        op: &'static str,
        shape: &[usize],
        cpu: Vec<f32>,
    ) -> Result<Tensor> {
        debug_assert!(
            matches!(self, Device::Gpu(_)) || cpu.len() == shape.iter().product::<usize>()
        );
        let storage = match self {
            Device::Cpu => {
                crate::cpu_profile::output(op);
                Storage::Cpu(Arc::new(CpuData::F32(cpu)))
            }
            Device::Gpu(g) => {
                let n: usize = shape.iter().product();
                Storage::Gpu(Arc::new(
                    g.alloc((n * 4) as u64, &format!("the output of {op}"))?,
                ))
            }
        };
        Ok(Tensor::from_storage(shape.to_vec(), DType::F32, storage))
    }

    /// An op's output of `dtype`: f32 as [`Device::output_f32`], or f16
    /// (half-precision activations) rounded on the CPU as the kernels round
    /// on the GPU, where the buffer is left for the kernel to write.
    pub(crate) fn output_as(
        &self,
        op: &'static str,
        shape: &[usize],
        dtype: DType,
        cpu: Vec<f32>,
    ) -> Result<Tensor> {
        if dtype != DType::F16 {
            return self.output_f32(op, shape, cpu);
        }
        let storage = match self {
            Device::Cpu => {
                crate::cpu_profile::output(op);
                Storage::Cpu(Arc::new(CpuData::F16(crate::ops::cast::cpu::to_f16(&cpu))))
            }
            Device::Gpu(g) => {
                let n: usize = shape.iter().product();
                let bytes = (n * 2).next_multiple_of(4).max(4);
                Storage::Gpu(Arc::new(
                    g.alloc(bytes as u64, &format!("the output of {op}"))?,
                ))
            }
        };
        Ok(Tensor::from_storage(shape.to_vec(), DType::F16, storage))
    }

    /// Copies an f32 tensor (or an f16 one, widened exactly) to the host,
    /// after all work recorded before it.
    pub async fn read_f32(&self, t: &Tensor) -> Result<Vec<f32>> {
        if t.dtype() != DType::F16 {
            t.check_dtype("read_f32", "tensor", DType::F32)?;
        }
        match &t.storage {
            Storage::Cpu(_) => Ok(t.cpu_float().into_owned()),
            Storage::Gpu(b) => {
                let g = self.gpu_of("read_f32", t)?;
                let size = t.dtype().size();
                let bytes = g.read_bytes(b, (t.numel() * size) as u64).await?;
                Ok(match t.dtype() {
                    DType::F16 => bytes
                        .chunks_exact(2)
                        .take(t.numel())
                        .map(|h| half::f16::from_le_bytes([h[0], h[1]]).to_f32())
                        .collect(),
                    _ => bytemuck::pod_collect_to_vec(&bytes[..t.numel() * 4]),
                })
            }
        }
    }

    /// Copies a u32 tensor to the host.
    pub async fn read_u32(&self, t: &Tensor) -> Result<Vec<u32>> {
        t.check_dtype("read_u32", "tensor", DType::U32)?;
        match &t.storage {
            Storage::Cpu(_) => Ok(t.cpu_u32().to_vec()),
            Storage::Gpu(b) => {
                let g = self.gpu_of("read_u32", t)?;
                let bytes = g.read_bytes(b, (t.numel() * 4) as u64).await?;
                Ok(bytemuck::pod_collect_to_vec(&bytes))
            }
        }
    }

    /// Blocking [`Device::read_f32`] for native callers.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_f32_blocking(&self, t: &Tensor) -> Result<Vec<f32>> {
        pollster::block_on(self.read_f32(t))
    }

    /// Submits the work recorded so far (nothing to do on the CPU): work
    /// that fails after this concerns only what comes next.
    pub fn flush(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Gpu(g) => g.flush(),
        }
    }

    /// After an out-of-memory error, the GPU forgets the failed work
    /// ([`GpuDevice::recover`]) so that smaller work can run.
    pub fn recover(&self) {
        if let Device::Gpu(g) = self {
            g.recover();
        }
    }

    /// Waits until all recorded work is done (native; a no-op on the CPU).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn synchronize(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            Device::Gpu(g) => g.synchronize(),
        }
    }

    fn gpu_of(&self, op: &'static str, t: &Tensor) -> Result<&GpuDevice> {
        match self {
            Device::Gpu(g) => Ok(g),
            Device::Cpu => Err(Error::WrongDevice {
                op,
                name: "tensor",
                want: "cpu",
                got: t.backend(),
            }),
        }
    }

    /// Checks that every tensor lives on this device's backend.
    pub(crate) fn check_on(
        &self,
        op: &'static str,
        tensors: &[(&'static str, &Tensor)],
    ) -> Result<()> {
        for (name, t) in tensors {
            if t.backend() != self.backend() {
                return Err(Error::WrongDevice {
                    op,
                    name,
                    want: self.backend(),
                    got: t.backend(),
                });
            }
        }
        Ok(())
    }
}

fn pick_adapter(found: &[wgpu::Adapter], sel: &str) -> Result<usize> {
    if let Ok(i) = sel.parse::<usize>() {
        return if i < found.len() {
            Ok(i)
        } else {
            Err(Error::NoAdapter(format!(
                "--gpu {i}: only {} adapter(s) found (see `dnagpu info`)",
                found.len()
            )))
        };
    }
    let want = sel.to_ascii_lowercase();
    found
        .iter()
        .position(|a| a.get_info().name.to_ascii_lowercase().contains(&want))
        .ok_or_else(|| {
            Error::NoAdapter(format!(
                "no adapter name contains `{sel}` (see `dnagpu info`)"
            ))
        })
}
