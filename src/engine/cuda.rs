//! tract's CUDA runtime, for [`super::Backend::Cuda`]: present in a build with the `cuda`
//! feature, and usable where the NVIDIA driver and CUDA's libraries open.

use tract_onnx::tract_core::runtime::Runtime;

use super::{Backend, EngineError};

/// tract's CUDA runtime, once its libraries are known to open.
#[cfg(feature = "cuda")]
pub(super) fn runtime() -> Result<&'static dyn Runtime, EngineError> {
    // Linking tract-cuda registers its runtime under this name.
    use tract_cuda as _;
    use tract_onnx::tract_core::runtime::runtime_for_name;
    let unavailable = |reason: String| EngineError::Backend {
        backend: Backend::Cuda.name(),
        reason,
    };
    runtime_for_name("cuda")
        .map_err(|e| unavailable(format!("{e:#}")))?
        .ok_or_else(|| unavailable("tract's CUDA runtime is not registered".into()))
}

/// A build without the `cuda` feature has no CUDA runtime.
#[cfg(not(feature = "cuda"))]
pub(super) fn runtime() -> Result<&'static dyn Runtime, EngineError> {
    Err(EngineError::Backend {
        backend: Backend::Cuda.name(),
        reason: "this earsight was built without CUDA; build it with `cargo build --release \
                 --features cuda` (the Jetson's board package has it)"
            .into(),
    })
}
