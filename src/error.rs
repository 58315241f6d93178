//! The library's one error type.

/// Everything that can go wrong in dnagpu, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Tensors given to an op do not fit its contract.
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },
    /// A tensor has the wrong element type for an op.
    #[error("{op}: tensor `{name}` must be {want:?}, got {got:?}")]
    DType {
        op: &'static str,
        name: &'static str,
        want: crate::DType,
        got: crate::DType,
    },
    /// A request exceeds what the device allows; the caller should split the work.
    #[error("{what} needs {requested}, over the device limit of {limit} ({device}); split the work into smaller pieces")]
    DeviceLimit {
        what: String,
        requested: u64,
        limit: u64,
        device: String,
    },
    /// The GPU cannot hold a buffer: wgpu reported out of memory, or the
    /// buffer is larger than the device's largest (`max_buffer_size`,
    /// `max_storage_buffer_binding_size`, or `DNAGPU_MAX_BUFFER_BYTES`).
    /// Less work at once fits: embed and classify split the batch on it.
    #[error("out of GPU memory on {device}: {what}")]
    OutOfMemory { what: String, device: String },
    /// One input sequence does not fit on the GPU even alone, after its
    /// batch was split down to it.
    #[error("input sequence {sequence} ({tokens} tokens) does not fit on the GPU even alone ({cause}): {fix}")]
    SequenceTooLarge {
        /// 1-based, in input order.
        sequence: usize,
        tokens: usize,
        /// The out-of-memory error it met.
        cause: Box<Error>,
        /// What to do about it.
        fix: String,
    },
    /// No adapter matched the request.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// wgpu reported an error (validation, out of memory, lost device).
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A tensor lives on another device than the one asked to run the op.
    #[error("{op}: tensor `{name}` is on the {got} backend, the op runs on {want}")]
    WrongDevice {
        op: &'static str,
        name: &'static str,
        want: &'static str,
        got: &'static str,
    },
    /// A bad argument that is not a shape (an unknown backend name, ...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Out of GPU memory: the same work in smaller pieces may fit.
    pub fn is_out_of_memory(&self) -> bool {
        matches!(self, Error::OutOfMemory { .. })
    }

    /// This error for work that started at input sequence `offset + 1`:
    /// a [`Error::SequenceTooLarge`]'s number counted from the input's
    /// start (work done in parts numbers its sequences from each part's).
    pub fn renumbered(self, offset: usize) -> Self {
        match self {
            Error::SequenceTooLarge {
                sequence,
                tokens,
                cause,
                fix,
            } => Error::SequenceTooLarge {
                sequence: sequence + offset,
                tokens,
                cause,
                fix,
            },
            e => e,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds a [`Error::Shape`] for `op`.
pub(crate) fn shape_err(op: &'static str, msg: impl Into<String>) -> Error {
    Error::Shape {
        op,
        msg: msg.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbering_moves_only_a_sequence_number() {
        let too_large = Error::SequenceTooLarge {
            sequence: 5,
            tokens: 9,
            cause: Box::new(Error::Gpu("oom".into())),
            fix: "cut it".into(),
        };
        assert!(too_large
            .renumbered(4096)
            .to_string()
            .starts_with("input sequence 4101 (9 tokens)"));
        assert_eq!(
            Error::Gpu("x".into()).renumbered(7).to_string(),
            "GPU error: x"
        );
    }
}
