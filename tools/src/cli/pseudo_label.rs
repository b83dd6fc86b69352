//! `earsight-tools pseudo-label`: stage 2's labels, every clip of a dataset captioned from its
//! frame's image tokens, its aligned audio tokens and the prefix.

use std::path::PathBuf;

use anyhow::Result;
use earsight_tools::data::Split;
use earsight_tools::train::distill::Inputs;
use earsight_tools::train::pipeline;

use super::common::{in_checkout, DEFAULT_TOKENIZER};

#[derive(clap::Args)]
pub struct PseudoLabelArgs {
    /// The aligned checkpoint (`train align`'s best/).
    #[arg(long)]
    model: PathBuf,
    /// The prefix checkpoint (`train prefix`'s best/).
    #[arg(long)]
    prefix: PathBuf,
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value_t = 20)]
    max_tokens: usize,
    #[arg(long, default_value = DEFAULT_TOKENIZER, value_parser = in_checkout)]
    tokenizer: PathBuf,
    /// Caption the pictures alone (image tokens only), with --model and --prefix both the
    /// stage 0 captioner: does it name what is pictured?
    #[arg(long)]
    pictures: bool,
    #[arg(long)]
    out: PathBuf,
}

/// Runs `pseudo-label`.
pub fn run(args: PseudoLabelArgs) -> Result<()> {
    let PseudoLabelArgs {
        model,
        prefix,
        data,
        max_tokens,
        tokenizer,
        pictures,
        out,
    } = args;
    let n = pipeline::pseudo_labels::<burn::backend::NdArray<f32>>(
        &model,
        &prefix,
        &data,
        &tokenizer,
        max_tokens,
        &[Split::Train, Split::Val, Split::Test],
        if pictures {
            Inputs::Picture
        } else {
            Inputs::PictureAndAudio
        },
        &out,
        &Default::default(),
    )?;
    println!("wrote {n} pseudo-labels to {}", out.display());
    Ok(())
}
