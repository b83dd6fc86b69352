//! `earsight-tools bench-train`: the step time of every training stage on generated data, to
//! compare devices.

use std::path::PathBuf;

#[cfg(not(feature = "cuda"))]
use anyhow::bail;
use anyhow::Result;
use earsight_tools::model::image::ImageConfig;
use earsight_tools::model::weights::read_config;
use earsight_tools::train::align::AlignLoss;
use earsight_tools::train::bench::bench;

#[cfg(not(feature = "cuda"))]
use super::common::NO_CUDA;
#[cfg(feature = "cuda")]
use super::common::{cuda_device, CudaTrain};
use super::common::{in_checkout, CpuTrain, DeviceArg, LossArg};

const MINI_CONFIG: &str = "tools/configs/mini.json";
const MINI_IMAGE_CONFIG: &str = "tools/configs/image-mini.json";

#[derive(clap::Args)]
pub struct BenchTrainArgs {
    #[arg(long, default_value = MINI_CONFIG, value_parser = in_checkout)]
    config: PathBuf,
    #[arg(long, default_value = MINI_IMAGE_CONFIG, value_parser = in_checkout)]
    image_config: PathBuf,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Steps timed per stage.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Steps run before the timed ones (a GPU compiles its kernels in its first steps).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    #[arg(long, value_enum, default_value_t = LossArg::OtAtt)]
    loss: LossArg,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `bench-train`.
pub fn run(args: BenchTrainArgs) -> Result<()> {
    let BenchTrainArgs {
        config,
        image_config,
        batch_size,
        steps,
        warmup,
        loss,
        device,
        json,
    } = args;
    let model = read_config(&config)?;
    let image: ImageConfig =
        earsight_tools::train::read_json(&image_config, "image encoder config")?;
    let loss = AlignLoss::from(loss);
    let results = match device {
        DeviceArg::Cpu => bench::<CpuTrain>(
            &model,
            &image,
            batch_size,
            (warmup, steps),
            loss,
            &Default::default(),
        )?,
        #[cfg(feature = "cuda")]
        DeviceArg::Cuda => bench::<CudaTrain>(
            &model,
            &image,
            batch_size,
            (warmup, steps),
            loss,
            &cuda_device()?,
        )?,
        #[cfg(not(feature = "cuda"))]
        DeviceArg::Cuda => bail!(NO_CUDA),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("| stage | warm-up + timed steps | batch | ms/step | examples/s | first loss |");
        println!("|---|---|---|---|---|---|");
        for r in &results {
            println!(
                "| {} | {} + {} | {} | {:.1} | {:.1} | {:.6} |",
                r.stage,
                r.warmup,
                r.steps,
                r.batch_size,
                r.mean_step_ms,
                r.examples_per_s,
                r.first_loss
            );
        }
    }
    Ok(())
}
