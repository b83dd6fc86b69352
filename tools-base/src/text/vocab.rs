//! The caption tokenizer: a WordPiece vocabulary trained with the `tokenizers` crate on caption
//! text (AudioCaps / Clotho CSV files), written as a Hugging Face `tokenizer.json`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use earsight::text::SPECIAL_TOKENS;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainerBuilder};
use tokenizers::models::TrainerWrapper;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Tokenizer};

/// Reads every caption from CSV files with a header: every column whose name starts with
/// `caption` is taken (AudioCaps has `caption`, Clotho `caption_1`..`caption_5`).
pub fn read_captions(files: &[impl AsRef<Path>]) -> Result<Vec<String>> {
    let mut captions = Vec::new();
    for file in files {
        let path = file.as_ref();
        let mut reader =
            csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
        let headers = reader
            .headers()
            .with_context(|| format!("{}: no CSV header", path.display()))?
            .clone();
        let columns: Vec<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.starts_with("caption"))
            .map(|(i, _)| i)
            .collect();
        if columns.is_empty() {
            bail!(
                "{}: no column named caption* in header {:?}",
                path.display(),
                headers.iter().collect::<Vec<_>>()
            );
        }
        for (line, record) in reader.records().enumerate() {
            let record =
                record.with_context(|| format!("{}: record {}", path.display(), line + 2))?;
            for &c in &columns {
                if let Some(text) = record.get(c).map(str::trim).filter(|t| !t.is_empty()) {
                    captions.push(text.to_owned());
                }
            }
        }
    }
    Ok(captions)
}

/// Trains a lowercase WordPiece tokenizer of (at most) `vocab_size` tokens.
pub fn train(captions: &[String], vocab_size: usize) -> Result<Tokenizer> {
    if captions.is_empty() {
        bail!("no captions to train the tokenizer on");
    }
    let mut tokenizer = Tokenizer::new(WordPiece::default());
    tokenizer
        .with_normalizer(Some(BertNormalizer::default()))
        .map_err(|e| anyhow::anyhow!("setting up the normalizer: {e}"))?
        .with_pre_tokenizer(Some(BertPreTokenizer))
        .with_decoder(Some(WordPieceDecoder::default()));
    let trainer = WordPieceTrainerBuilder::default()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        // The special tokens by earsight's own names, in id order: they take ids 0..4.
        .special_tokens(
            SPECIAL_TOKENS
                .iter()
                .map(|names| AddedToken::from(names[0], true))
                .collect(),
        )
        .build();
    let mut trainer = TrainerWrapper::from(trainer);
    tokenizer
        .train(&mut trainer, captions.iter())
        .map_err(|e| anyhow::anyhow!("training the tokenizer: {e}"))?;
    Ok(tokenizer)
}
