//! `earsight-tools export`: a model bundle (ONNX graphs, tokenizer, manifest, model card) from
//! a checkpoint or seeded random weights, in f32 or with int8 weights.

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use earsight::bundle::{DecodingConfig, Quantization};
use earsight_tools::ship::export::{export_bundle, ExportOptions, INT8_DECODER, INT8_ENCODER};

use super::common::{in_checkout, in_checkout_path, ModelSource, DEFAULT_TOKENIZER};

const DEFAULT_TOKENIZER_PROVENANCE: &str = "models/tokenizer/tokenizer.json: WordPiece trained by \
     `earsight-tools tokenizer` on AudioCaps v1 train + Clotho v1 development captions";

#[derive(Clone, Copy, ValueEnum)]
enum Scheme {
    F32,
    Int8Weights,
    Int8Dynamic,
}

impl From<Scheme> for Quantization {
    fn from(s: Scheme) -> Quantization {
        match s {
            Scheme::F32 => Quantization::F32,
            Scheme::Int8Weights => Quantization::Int8Weights,
            Scheme::Int8Dynamic => Quantization::Int8Dynamic,
        }
    }
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    source: ModelSource,
    #[arg(long)]
    out: PathBuf,
    /// int8 weights (the scheme per graph that measured best: see models/README.md).
    #[arg(long)]
    int8: bool,
    /// Override the encoder's weight scheme.
    #[arg(long, value_enum)]
    encoder_quant: Option<Scheme>,
    /// Override the decoder's weight scheme.
    #[arg(long, value_enum)]
    decoder_quant: Option<Scheme>,
    #[arg(long, default_value = DEFAULT_TOKENIZER, value_parser = in_checkout)]
    tokenizer: PathBuf,
    #[arg(long)]
    name: Option<String>,
    /// The most tokens a caption may have (the manifest's decoding.max_tokens); a model
    /// that learnt longer captions than this is cut off mid-phrase.
    #[arg(long, default_value_t = DecodingConfig::default().max_tokens)]
    max_tokens: usize,
    /// Replace an existing bundle in --out.
    #[arg(long)]
    force: bool,
}

/// Runs `export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let ExportArgs {
        source,
        out,
        int8,
        encoder_quant,
        decoder_quant,
        tokenizer,
        name,
        max_tokens,
        force,
    } = args;
    let (weights, trained, training) = source.load()?;
    let (enc_default, dec_default) = if int8 {
        (INT8_ENCODER, INT8_DECODER)
    } else {
        (Quantization::F32, Quantization::F32)
    };
    let options = ExportOptions {
        name: name.unwrap_or_else(|| {
            out.file_name()
                .map_or("earsight".into(), |n| n.to_string_lossy().into_owned())
        }),
        encoder_quantization: encoder_quant.map_or(enc_default, Into::into),
        decoder_quantization: decoder_quant.map_or(dec_default, Into::into),
        tokenizer_provenance: if tokenizer == in_checkout_path(DEFAULT_TOKENIZER) {
            DEFAULT_TOKENIZER_PROVENANCE.into()
        } else {
            tokenizer.display().to_string()
        },
        tokenizer,
        trained,
        training,
        seed: source.seed,
        decoding: DecodingConfig {
            max_tokens,
            ..DecodingConfig::default()
        },
        card: String::new(),
        force,
    };
    let m = export_bundle(&weights, &options, &out)?;
    println!(
        "wrote {} (encoder {}, decoder {}, trained: {})",
        out.display(),
        m.encoder_quantization,
        m.decoder_quantization,
        m.trained
    );
    Ok(())
}
