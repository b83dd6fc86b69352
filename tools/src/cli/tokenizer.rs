//! `earsight-tools tokenizer`: the caption tokenizer (WordPiece) trained on caption CSV files.

use std::path::PathBuf;

use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct TokenizerArgs {
    #[arg(long, default_value_t = 4000)]
    vocab_size: usize,
    #[arg(long)]
    out: PathBuf,
    #[arg(required = true)]
    captions: Vec<PathBuf>,
}

/// Runs `tokenizer`.
pub fn run(args: TokenizerArgs) -> Result<()> {
    let TokenizerArgs {
        vocab_size,
        out,
        captions,
    } = args;
    if out.exists() {
        bail!("{}: exists; choose a new path", out.display());
    }
    let texts = earsight_tools::text::vocab::read_captions(&captions)?;
    let tokenizer = earsight_tools::text::vocab::train(&texts, vocab_size)?;
    tokenizer
        .save(&out, true)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
    println!(
        "trained on {} captions: {} tokens -> {}",
        texts.len(),
        tokenizer.get_vocab_size(true),
        out.display()
    );
    Ok(())
}
