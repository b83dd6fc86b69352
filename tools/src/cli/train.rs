//! `earsight-tools train STAGE`: one stage of DALI, or a tagger distilled into the audio
//! backbone, on the CPU or an NVIDIA GPU.

use std::path::PathBuf;

#[cfg(not(feature = "cuda"))]
use anyhow::bail;
use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use clap::Subcommand;
use earsight_tools::train::pipeline::{self, Common};
use earsight_tools::train::Report;

#[cfg(not(feature = "cuda"))]
use super::common::NO_CUDA;
use super::common::{
    checkpoint_every, in_checkout, CpuTrain, DeviceArg, LossArg, DEFAULT_CHECKPOINT_MINUTES,
    DEFAULT_TOKENIZER, ESC10_MAP,
};
#[cfg(feature = "cuda")]
use super::common::{cuda_device, CudaTrain};

/// What every training stage takes.
#[derive(clap::Args)]
pub struct StageArgs {
    /// The stage's recipe (JSON; tools/configs has one per stage).
    #[arg(long)]
    config: PathBuf,
    /// A dataset directory: manifest.jsonl and, for the captioner, scenes.jsonl (as `world`
    /// writes them).
    #[arg(long)]
    data: PathBuf,
    /// The starting checkpoint (`init`, or an earlier stage's best/).
    #[arg(long)]
    model: PathBuf,
    /// The run directory: best/, last/, metrics.jsonl.
    #[arg(long)]
    out: PathBuf,
    /// Go on from --out's last/ checkpoint.
    #[arg(long)]
    resume: bool,
    /// Stop after this many steps in all, with a checkpoint to resume from.
    #[arg(long)]
    stop_after: Option<usize>,
    /// Also checkpoint inside an epoch every this many minutes (0: at epoch ends only).
    #[arg(long, default_value_t = DEFAULT_CHECKPOINT_MINUTES)]
    checkpoint_minutes: u64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[arg(long, default_value = DEFAULT_TOKENIZER, value_parser = in_checkout)]
    tokenizer: PathBuf,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
}

impl StageArgs {
    fn common(&self) -> Common {
        Common {
            recipe: self.config.clone(),
            data: self.data.clone(),
            model: self.model.clone(),
            out: self.out.clone(),
            tokenizer: self.tokenizer.clone(),
            resume: self.resume,
            stop_after: self.stop_after,
            checkpoint_every: checkpoint_every(self.checkpoint_minutes),
            progress: !self.quiet,
        }
    }
}

#[derive(Subcommand)]
pub enum TrainStage {
    /// Stage 0: the image captioner (image encoder + text decoder) on pictures and their
    /// visual captions; only for a captioner trained from scratch, as the miniature world's.
    Captioner {
        #[command(flatten)]
        args: StageArgs,
        /// Image encoder config, when --model has no image encoder yet.
        #[arg(long)]
        image_config: Option<PathBuf>,
    },
    /// Stage 1a: prefix vectors on a handful of (frame, audio caption) pairs, captioner frozen.
    Prefix {
        #[command(flatten)]
        args: StageArgs,
        /// Training pairs (the paper's 16); as many again for validation.
        #[arg(long, default_value_t = 16)]
        pairs: usize,
    },
    /// Before stage 1b: the audio backbone pretrained on the clips' audio alone by
    /// reconstructing hidden patches of their log-mel windows (masked spectrogram modelling);
    /// no captions, images or labels.
    Pretrain {
        #[command(flatten)]
        args: StageArgs,
    },
    /// Stage 1b: the audio encoder and projector aligned to the frozen captioner's image tokens
    /// on (audio, frame) pairs, no captions (loss: mmd, ot, ot-att or contrastive, in the
    /// recipe).
    Align {
        #[command(flatten)]
        args: StageArgs,
        /// Overrides the recipe's loss (ot-att needs the recipe's "attentive" section).
        #[arg(long, value_enum)]
        loss: Option<LossArg>,
    },
    /// Stage 2: the audio projector (and with `"backbone": true` the backbone) fine-tuned, audio
    /// only, on pseudo-labels.
    Distill {
        #[command(flatten)]
        args: StageArgs,
        /// Pseudo-labels (`pseudo-label`), JSON lines {id, split, caption}.
        #[arg(long)]
        labels: PathBuf,
    },
    /// A pretrained tagger distilled into the audio backbone and a new tag head, on fresh
    /// random mixtures of the audio under --data (here ../shared/data), labelled by the teacher
    /// as they are drawn; ESC-10's test fold is held out and reported after every epoch.
    Teach {
        #[command(flatten)]
        args: StageArgs,
        /// The teacher directory (here ../shared/models/efficientat-mn04).
        #[arg(long)]
        teacher: PathBuf,
        /// ESC-10's labels mapped to the teacher's class indices, for the test fold.
        #[arg(long, default_value = ESC10_MAP, value_parser = in_checkout)]
        map: PathBuf,
        /// Threads that decode the clips and run the teacher (default: every core).
        #[arg(long)]
        threads: Option<usize>,
    },
}

impl TrainStage {
    fn args(&self) -> &StageArgs {
        match self {
            TrainStage::Captioner { args, .. }
            | TrainStage::Prefix { args, .. }
            | TrainStage::Pretrain { args }
            | TrainStage::Align { args, .. }
            | TrainStage::Distill { args, .. }
            | TrainStage::Teach { args, .. } => args,
        }
    }

    fn run<B: AutodiffBackend>(&self, device: &B::Device) -> Result<Report> {
        let common = self.args().common();
        match self {
            TrainStage::Captioner { image_config, .. } => {
                pipeline::captioner::<B>(&common, image_config.as_deref(), device)
            }
            TrainStage::Prefix { pairs, .. } => pipeline::prefix::<B>(&common, *pairs, device),
            TrainStage::Pretrain { .. } => pipeline::pretrain_stage::<B>(&common, device),
            TrainStage::Align { loss, .. } => {
                pipeline::align_stage::<B>(&common, loss.map(Into::into), device)
            }
            TrainStage::Distill { labels, .. } => {
                pipeline::distill_stage::<B>(&common, labels, device)
            }
            TrainStage::Teach {
                teacher,
                map,
                threads,
                ..
            } => {
                let threads = threads.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
                });
                pipeline::teach_stage::<B>(&common, teacher, map, threads, device)
            }
        }
    }
}

fn train(stage: &TrainStage) -> Result<Report> {
    match stage.args().device {
        DeviceArg::Cpu => stage.run::<CpuTrain>(&Default::default()),
        #[cfg(feature = "cuda")]
        DeviceArg::Cuda => stage.run::<CudaTrain>(&cuda_device()?),
        #[cfg(not(feature = "cuda"))]
        DeviceArg::Cuda => bail!(NO_CUDA),
    }
}

/// Runs `train STAGE` and prints the stage's report as JSON.
pub fn run(stage: TrainStage) -> Result<()> {
    let report = train(&stage)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
