//! `earsight-tools graft`: a distilled convolutional backbone in place of a checkpoint's audio
//! encoder (issue 35, step 1).

use std::path::PathBuf;

use anyhow::{bail, Result};
use earsight_tools::model::weights::WEIGHTS_FILE;
use earsight_tools::train::pipeline::graft_stage;

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
    let grafted = graft_stage(&model, &backbone, seed, &out)?;
    let shape = grafted
        .config
        .encoder
        .conv
        .as_ref()
        .map_or(String::new(), |c| {
            format!("{} stem + {:?} channels, ", c.stem, c.channels)
        });
    println!(
        "wrote {}: the backbone of {} ({shape}{} tokens a window) with a projector seeded by \
         {seed}, on the decoder of {}",
        out.display(),
        backbone.display(),
        grafted.config.n_audio_tokens(),
        model.display()
    );
    Ok(())
}
