//! Writes a model bundle (`models/README.md`): both ONNX graphs, the tokenizer, the model card
//! and the manifest with every file's SHA-256; [`tagger`] adds a convolutional student's tags to
//! a bundle.

pub mod tagger;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use earsight::bundle::{
    sha256_file, DecodingConfig, Manifest, Provenance, Quantization, DECODER_FILE, ENCODER_FILE,
    FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, MODEL_CARD_FILE, TAGGER_FILE, TOKENIZER_FILE,
};

use crate::model::weights::Weights;
use earsight::text::read_special_tokens;

/// Weight scheme per graph under `--int8`: `int8-weights` for both, which loads and runs as fast
/// as f32 at a quarter of its size, where `int8-dynamic` loads slower and saves memory no board
/// in `boards/` needs (timed side by side by `tools/bench/quantization.sh`; the numbers are in
/// models/README.md). `--encoder-quant`/`--decoder-quant int8-dynamic` still give it.
pub const INT8_ENCODER: Quantization = Quantization::Int8Weights;
pub const INT8_DECODER: Quantization = Quantization::Int8Weights;

/// What to write besides the weights.
pub struct ExportOptions {
    pub name: String,
    pub encoder_quantization: Quantization,
    pub decoder_quantization: Quantization,
    pub tokenizer: PathBuf,
    /// Where the tokenizer came from, for the manifest.
    pub tokenizer_provenance: String,
    pub trained: bool,
    /// How the weights were obtained (training data and method, or "untrained").
    pub training: String,
    pub seed: u64,
    pub decoding: DecodingConfig,
    /// Markdown appended to the model card (what the recipe measured).
    pub card: String,
    /// Replace the files of an existing bundle directory.
    pub force: bool,
}

pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Makes `out` ready for a bundle: created if needed; an existing bundle is replaced only with
/// `force`, and a directory holding anything else is never touched.
pub fn prepare_out_dir(out: &Path, force: bool) -> Result<()> {
    if out.exists() {
        ensure!(
            out.is_dir(),
            "{}: exists and is not a directory",
            out.display()
        );
        let ours = [
            MANIFEST_FILE,
            ENCODER_FILE,
            DECODER_FILE,
            TOKENIZER_FILE,
            MODEL_CARD_FILE,
            TAGGER_FILE,
        ];
        let entries: Vec<String> = std::fs::read_dir(out)
            .with_context(|| format!("reading {}", out.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if let Some(foreign) = entries.iter().find(|e| !ours.contains(&e.as_str())) {
            bail!(
                "{}: holds `{foreign}`, which is not part of a bundle; choose an empty directory",
                out.display()
            );
        }
        if !entries.is_empty() && !force {
            bail!(
                "{}: already holds a bundle; pass --force to replace it",
                out.display()
            );
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

/// Writes the bundle into `out` (created if needed; an existing bundle is replaced only with
/// `force`, and a directory holding anything else is never touched).
pub fn export_bundle(weights: &Weights, options: &ExportOptions, out: &Path) -> Result<Manifest> {
    let config = &weights.config;
    let (_, tokens) = read_special_tokens(&options.tokenizer, config.decoder.vocab_size)?;
    // Refused before anything is written, as the runtime would refuse the manifest.
    if let Err((field, expected, found)) = options.decoding.check(config) {
        bail!("{field}: expected {expected}, found {found}");
    }
    prepare_out_dir(out, options.force)?;
    let stale_tagger = out.join(TAGGER_FILE);
    if stale_tagger.exists() {
        std::fs::remove_file(&stale_tagger)
            .with_context(|| format!("removing {}", stale_tagger.display()))?;
    }

    let encoder = crate::model::onnx::encoder(weights, options.encoder_quantization);
    let decoder = crate::model::onnx::decoder(weights, options.decoder_quantization);
    write(
        &out.join(ENCODER_FILE),
        &crate::model::onnx::to_bytes(&encoder),
    )?;
    write(
        &out.join(DECODER_FILE),
        &crate::model::onnx::to_bytes(&decoder),
    )?;
    std::fs::copy(&options.tokenizer, out.join(TOKENIZER_FILE)).with_context(|| {
        format!(
            "copying {} into {}",
            options.tokenizer.display(),
            out.display()
        )
    })?;
    write(
        &out.join(MODEL_CARD_FILE),
        model_card(weights, options).as_bytes(),
    )?;

    let mut sha256 = BTreeMap::new();
    for file in [ENCODER_FILE, DECODER_FILE, TOKENIZER_FILE, MODEL_CARD_FILE] {
        sha256.insert(file.to_string(), sha256_file(&out.join(file))?);
    }
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        name: options.name.clone(),
        trained: options.trained,
        model: config.clone(),
        encoder: config.encoder_spec(),
        decoder: config.decoder_spec(),
        encoder_quantization: options.encoder_quantization,
        decoder_quantization: options.decoder_quantization,
        tokens,
        decoding: options.decoding.clone(),
        sha256,
        tagger: None,
        provenance: Provenance {
            tool: format!("earsight-tools {}", env!("CARGO_PKG_VERSION")),
            seed: options.seed,
            training: options.training.clone(),
            tokenizer: options.tokenizer_provenance.clone(),
        },
    };
    let json = serde_json::to_string_pretty(&manifest)? + "\n";
    write(&out.join(MANIFEST_FILE), json.as_bytes())?;
    Ok(manifest)
}

fn model_card(weights: &Weights, o: &ExportOptions) -> String {
    let c = &weights.config;
    let (enc, dec) = c.parameter_counts();
    let status = if o.trained {
        "Trained weights."
    } else {
        "**Untrained: seeded random weights.** This bundle exercises the pipeline; its captions \
         describe nothing."
    };
    format!(
        "# {name}\n\n{status}\n\n\
         - Audio encoder: {ed} blocks x {ew}, {nt} audio tokens + {np} prefix, projector to \
         D={dd}; {enc} parameters, stored {eq}.\n\
         - Text decoder: {dl} blocks x {dd}, vocabulary {v}; {dec} parameters, stored {dq}.\n\
         - Frontend: {sr} Hz, {nm} log-mel bands, {cf} frames per window.\n\
         - Training: {training}\n- Seed: {seed}\n- Tokenizer: {tok}\n{card}",
        name = o.name,
        ed = c.encoder.depth,
        ew = c.encoder.dim,
        nt = c.n_audio_tokens(),
        np = c.encoder.n_prefix,
        dd = c.decoder.dim,
        eq = o.encoder_quantization,
        dl = c.decoder.depth,
        v = c.decoder.vocab_size,
        dq = o.decoder_quantization,
        sr = c.frontend.sample_rate,
        nm = c.frontend.n_mels,
        cf = c.frontend.clip_frames,
        training = o.training,
        seed = o.seed,
        tok = o.tokenizer_provenance,
        card = o.card,
    )
}
