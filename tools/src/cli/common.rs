//! What more than one subcommand takes: the checkout the defaults are in, the model to export
//! or decode, the devices, losses and checkpoints of training, the split of a clip.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::ValueEnum;
use earsight_tools::model::weights::{read_config, Weights};
use earsight_tools::train::align::AlignLoss;
use earsight_tools::train::pipeline::Training;

/// The earsight checkout these tools were built from, where the defaults below are.
pub const CHECKOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// The tokenizer shipped in the repository (trained on caption text, see its PROVENANCE.md).
pub const DEFAULT_TOKENIZER: &str = "models/tokenizer/tokenizer.json";
pub const ESC10_MAP: &str = "tools/configs/esc10-audioset.json";

#[derive(clap::Args)]
pub struct ModelSource {
    /// Model config JSON (e.g. tools/configs/mini.json); with --seed, seeded random weights.
    #[arg(long, required_unless_present = "weights")]
    config: Option<PathBuf>,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A checkpoint directory (weights.safetensors + config.json) instead of random weights.
    #[arg(long, conflicts_with = "config")]
    weights: Option<PathBuf>,
}

impl ModelSource {
    /// The weights, whether a training stage made them, and what the manifest should say
    /// about how they were made (the stages recorded in the checkpoint's training.json).
    pub fn load(&self) -> Result<(Weights, bool, String)> {
        match (&self.weights, &self.config) {
            (Some(dir), _) => {
                let training = Training::read(dir)?;
                let trained = training.trained();
                let summary = if trained {
                    training.summary()
                } else {
                    format!("untrained: weights read from checkpoint {}", dir.display())
                };
                Ok((Weights::load(dir)?, trained, summary))
            }
            (None, Some(config)) => Ok((
                Weights::init(&read_config(config)?, self.seed)?,
                false,
                "untrained: seeded random weights".into(),
            )),
            (None, None) => bail!("give --config (random weights) or --weights DIR"),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LossArg {
    Mmd,
    Ot,
    OtAtt,
    Contrastive,
}

impl From<LossArg> for AlignLoss {
    fn from(l: LossArg) -> AlignLoss {
        match l {
            LossArg::Mmd => AlignLoss::Mmd,
            LossArg::Ot => AlignLoss::Ot,
            LossArg::OtAtt => AlignLoss::OtAtt,
            LossArg::Contrastive => AlignLoss::Contrastive,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    Cpu,
    /// An NVIDIA GPU (a build with `--features cuda`).
    Cuda,
}

#[cfg(not(feature = "cuda"))]
pub const NO_CUDA: &str = "this earsight-tools was built without CUDA: build it with \
                           `cargo build --release -p earsight-tools --features cuda`";

pub type CpuTrain = burn::backend::Autodiff<burn::backend::Flex>;

#[cfg(feature = "cuda")]
pub type CudaTrain = burn::backend::Autodiff<burn::backend::Cuda>;

/// The first NVIDIA GPU, once its driver and NVRTC are known to be there: burn's CUDA runtime
/// panics in a worker thread without them, with a message that names neither.
#[cfg(feature = "cuda")]
pub fn cuda_device() -> Result<burn::backend::cuda::CudaDevice> {
    use cudarc::driver::result as driver;
    // SAFETY: both only try to open the libraries by their usual names.
    let (has_driver, has_nvrtc) = unsafe {
        (
            cudarc::driver::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
        )
    };
    anyhow::ensure!(
        has_driver,
        "--device cuda: no NVIDIA driver library (libcuda.so.1) on the library path; \
         add the driver's folder to LD_LIBRARY_PATH"
    );
    anyhow::ensure!(
        has_nvrtc,
        "--device cuda: no NVRTC (libnvrtc.so), which compiles burn's kernels at run time, on \
         the library path; it comes with the CUDA toolkit (lib64) or the nvidia-cuda-nvrtc wheel"
    );
    driver::init().map_err(|e| {
        anyhow::anyhow!(
            "--device cuda: the NVIDIA driver did not start ({e:?}); CUDA_ERROR_STUB_LIBRARY \
             means a toolkit's stubs/libcuda.so comes before the driver's on LD_LIBRARY_PATH"
        )
    })?;
    let gpus = driver::device::get_count()
        .map_err(|e| anyhow::anyhow!("--device cuda: counting GPUs: {e:?}"))?;
    anyhow::ensure!(gpus > 0, "--device cuda: the NVIDIA driver sees no GPU");
    Ok(Default::default())
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SplitArg {
    Train,
    Val,
    Test,
}

impl From<SplitArg> for earsight_tools::data::Split {
    fn from(s: SplitArg) -> Self {
        match s {
            SplitArg::Train => Self::Train,
            SplitArg::Val => Self::Val,
            SplitArg::Test => Self::Test,
        }
    }
}

/// A training run loses at most this much work when it is killed mid-epoch.
pub const DEFAULT_CHECKPOINT_MINUTES: u64 = 15;

pub fn checkpoint_every(minutes: u64) -> Option<std::time::Duration> {
    (minutes > 0).then(|| std::time::Duration::from_secs(60 * minutes))
}

/// A path as given, except that a relative one that is not there is looked for in the checkout
/// the tools were built from: the defaults are written relative to the checkout and work from
/// any directory.
pub fn in_checkout_path(path: &str) -> PathBuf {
    let given = PathBuf::from(path);
    if given.is_relative() && !given.exists() {
        let there = Path::new(CHECKOUT).join(&given);
        if there.exists() {
            return there;
        }
    }
    given
}

/// [`in_checkout_path`] as a clap value parser.
pub fn in_checkout(path: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(in_checkout_path(path))
}
