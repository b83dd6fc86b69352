//! `earsight-tools decode`: the reference greedy decode in burn (full recompute, no cache),
//! which the exported graphs are checked against.

use std::path::PathBuf;

use anyhow::{Context, Result};
use earsight::frontend::LogMel;
use earsight::text::{read_special_tokens, TextDecoder};
use earsight_tools::model::reference::Reference;

use super::common::{in_checkout, ModelSource, DEFAULT_TOKENIZER};

#[derive(clap::Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    source: ModelSource,
    #[arg(long, default_value = DEFAULT_TOKENIZER, value_parser = in_checkout)]
    tokenizer: PathBuf,
    #[arg(long, default_value_t = 20)]
    max_tokens: usize,
    /// Print token ids and every step's logits as JSON.
    #[arg(long)]
    json: bool,
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Runs `decode`.
pub fn run(args: DecodeArgs) -> Result<()> {
    let DecodeArgs {
        source,
        tokenizer,
        max_tokens,
        json,
        files,
    } = args;
    let (weights, _, _) = source.load()?;
    let c = &weights.config;
    let (_, special) = read_special_tokens(&tokenizer, c.decoder.vocab_size)?;
    let text = TextDecoder::open(&tokenizer, c.decoder.vocab_size, &special)?;
    let reference = Reference::new(&weights);
    let mut frontend = LogMel::new(&c.frontend);
    for file in files {
        let samples = earsight::audio::read_all(&file, c.frontend.sample_rate)
            .with_context(|| format!("reading {}", file.display()))?;
        let mel = frontend.window(&samples);
        let out = reference.greedy(&mel, special.bos, special.eos, max_tokens);
        let caption = text.decode(&out.tokens)?;
        if json {
            let value = serde_json::json!({
                "file": file, "caption": caption, "tokens": out.tokens, "logits": out.logits,
            });
            println!("{value}");
        } else {
            println!("{}: {caption}", file.display());
        }
    }
    Ok(())
}
