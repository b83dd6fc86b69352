//! `earsight-tools init`: the starting checkpoint of training, seeded random weights or
//! BLIP's pretrained captioner with a seeded audio encoder.

use std::path::PathBuf;

use anyhow::{bail, Result};
use earsight_tools::model::weights::{read_config, Weights};

#[derive(clap::Args)]
pub struct InitArgs {
    #[arg(long)]
    config: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Take the captioner from a pretrained BLIP (a directory in the Hugging Face layout of
    /// Salesforce/blip-image-captioning-base: config.json + model.safetensors): its text
    /// decoder replaces the config's decoder, and its ViT is written as the checkpoint's
    /// image encoder. Only the audio encoder is seeded. Stage 0 is then not needed.
    #[arg(long)]
    blip: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

/// Runs `init`.
pub fn run(args: InitArgs) -> Result<()> {
    let InitArgs {
        config,
        seed,
        blip,
        out,
    } = args;
    if out
        .join(earsight_tools::model::weights::WEIGHTS_FILE)
        .exists()
    {
        bail!(
            "{}: already holds a checkpoint; choose a new directory",
            out.display()
        );
    }
    let config = read_config(&config)?;
    match blip {
        None => {
            Weights::init(&config, seed)?.save(&out)?;
            println!("wrote seeded checkpoint {} (seed {seed})", out.display());
        }
        Some(dir) => {
            let blip = earsight_tools::model::blip::load(&dir)?;
            blip.captioner(&config, seed)?.save(&out)?;
            blip.image.save(&out)?;
            let d = &blip.decoder;
            println!(
                "wrote {}: BLIP's captioner from {} ({}-layer post-norm decoder, \
                 {} tokens; {}-layer ViT) with a seeded audio encoder (seed {seed})",
                out.display(),
                dir.display(),
                d.depth,
                d.vocab_size,
                blip.image.config.depth
            );
        }
    }
    Ok(())
}
