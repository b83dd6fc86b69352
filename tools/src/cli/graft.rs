//! `earsight-tools graft`: a distilled convolutional backbone in place of a checkpoint's audio
//! encoder (issue 35, step 1).

use std::path::PathBuf;

use anyhow::{bail, Result};
use earsight_tools::model::image::{ImageWeights, IMAGE_CONFIG_FILE};
use earsight_tools::model::weights::{Weights, WEIGHTS_FILE};
use earsight_tools::teacher::conv_net::backbone::{graft, FoldedBackbone};
use earsight_tools::train::pipeline::{StageRecord, Training, TRAINING_FILE};

#[derive(clap::Args)]
pub struct GraftArgs {
    /// Where the backbone comes from: a bundle with a tagger (its graph's convolutions, as the
    /// runtime runs them) or a `train teach` checkpoint with a convolutional student.
    #[arg(long)]
    backbone: PathBuf,
    /// The checkpoint whose audio encoder it replaces (its decoder, prefix vectors and image
    /// encoder are kept).
    #[arg(long)]
    model: PathBuf,
    /// Seeds the new projector from the backbone's tokens into the captioner's token space.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

/// Runs `graft`.
pub fn run(args: GraftArgs) -> Result<()> {
    let GraftArgs {
        backbone,
        model,
        seed,
        out,
    } = args;
    if out.join(WEIGHTS_FILE).exists() {
        bail!(
            "{}: already holds a checkpoint; choose a new directory",
            out.display()
        );
    }
    let start = Weights::load(&model)?;
    let folded = FoldedBackbone::load(&backbone)?;
    let grafted = graft(&start, &folded, seed)?;
    grafted.save(&out)?;
    if model.join(IMAGE_CONFIG_FILE).exists() {
        ImageWeights::load(&model)?.save(&out)?;
    }
    let mut training = Training::read(&model)?;
    training.stages.push(StageRecord {
        stage: "graft".into(),
        recipe: serde_json::json!({ "backbone": folded.source, "seed": seed }),
        data: backbone.display().to_string(),
        start: model.display().to_string(),
        val_before: 0.0,
        val_best: 0.0,
        steps: 0,
    });
    let json = serde_json::to_string_pretty(&training)? + "\n";
    std::fs::write(out.join(TRAINING_FILE), json)?;
    let c = &folded.config;
    println!(
        "wrote {}: {} ({} stem + {:?} channels, {} tokens a window) with a projector seeded by \
         {seed}, on the decoder of {}",
        out.display(),
        folded.source,
        c.stem,
        c.channels,
        grafted.config.n_audio_tokens(),
        model.display()
    );
    Ok(())
}
