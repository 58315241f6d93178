//! Model files in the formats checkpoints come in: a Hugging Face model
//! folder, the hub cache it may be fetched into, and the weights inside it
//! (safetensors, or PyTorch's `.bin`), all read into [`Weights`].

mod folder;
#[cfg(not(target_arch = "wasm32"))]
pub mod hub;
mod safetensors;
pub(crate) mod torch_bin;
mod weights;

pub use folder::ModelFiles;
pub use weights::{HostTensor, Weights};
