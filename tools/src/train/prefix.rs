//! Stage 1a, prefix tuning: K learned vectors appended to the captioner's memory
//! make the frozen captioner describe what is heard rather than what is seen. They learn from
//! a handful of (video frame, audio caption) pairs; no audio is used and, unless the recipe
//! tunes the caption decoder with them, nothing of the captioner changes.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use burn::module::{AutodiffModule, Module, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use earsight::bundle::SpecialTokens;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::captioner::{CaptionedImages, ImageCaptioner, PictureCaptions};
use super::stage_parts::{LossParts, Trainable};
use super::{run_stage, Checkpoint, Optim, Recipe, Report, Run, Stage};
use crate::data::Split;
use crate::model::image::ImageWeights;
use crate::model::weights::Weights;
use crate::model::{to_array, Captioner};

/// A stage-1a recipe (the paper: 16 vectors, initialised N(0, 1e-4), AdamW lr 1e-3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixConfig {
    pub optim: Optim,
    pub n_prefix: usize,
    pub init_std: f64,
    /// Tune the caption decoder with the prefix: a captioner trained on picture captions
    /// alone has never written a sound's words ("barks", "rings"), which no prefix in its
    /// memory can make it write. The image encoder stays frozen. Left out of the file when
    /// false, so that runs made before the field existed still match their recipe.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub decoder: bool,
}

impl Recipe for PrefixConfig {
    const WHAT: &'static str = "prefix config";

    fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        ensure!(self.n_prefix > 0, "n_prefix must be at least 1");
        ensure!(self.init_std > 0.0, "init_std must be positive");
        Ok(())
    }
}

/// The prefix vectors, `[K, D]`.
#[derive(Module, Debug)]
pub struct Prefix<B: Backend> {
    pub vectors: Param<Tensor<B, 2>>,
}

impl<B: Backend> Prefix<B> {
    /// `memory [b, tokens, D]` followed by the prefix: `[b, tokens + K, D]`.
    pub fn append(&self, memory: Tensor<B, 3>) -> Tensor<B, 3> {
        let b = memory.dims()[0];
        let [k, d] = self.vectors.dims();
        Tensor::cat(
            vec![
                memory,
                self.vectors.val().unsqueeze::<3>().expand([b, k, d]),
            ],
            1,
        )
    }
}

/// `weights` with `prefix` as its prefix vectors (the config's `n_prefix` set to match).
pub fn with_prefix<B: Backend>(weights: &Weights, prefix: &Prefix<B>) -> Result<Weights> {
    let vectors = to_array(&prefix.vectors);
    let mut config = weights.config.clone();
    config.encoder.n_prefix = vectors.shape[0];
    let mut tensors = weights.tensors().clone();
    tensors.insert("prefix".into(), vectors);
    Weights::from_tensors(&config, tensors)
}

/// Stage 1a's state between steps.
struct PrefixStage<'a, B: AutodiffBackend> {
    start: &'a Weights,
    image: &'a ImageWeights,
    pictures: PictureCaptions<'a>,
    device: B::Device,
    /// Trained, and in the records, only with `decoder`; its image encoder never.
    captioner: Trainable<ImageCaptioner<B>, B>,
    decoder: bool,
    prefix: Trainable<Prefix<B>, B>,
}

impl<B: AutodiffBackend> Stage for PrefixStage<'_, B> {
    fn train_len(&self) -> usize {
        self.pictures.train_len()
    }

    fn step(&mut self, _epoch: usize, lr: f64, indices: &[usize]) -> Result<(f64, LossParts)> {
        let prefix = &self.prefix.module;
        let (loss, _) = self.pictures.loss(
            &self.captioner.module,
            |memory| prefix.append(memory),
            Split::Train,
            indices,
            &self.device,
        )?;
        let value = loss.clone().into_scalar().elem::<f64>();
        let mut grads = loss.backward();
        if self.decoder {
            self.captioner.step_with(&mut grads, lr);
        }
        self.prefix.step_with(&mut grads, lr);
        Ok((value, LossParts::new()))
    }

    fn validate(&self) -> Result<f64> {
        let prefix = self.prefix.module.valid();
        self.pictures.validate(
            &self.captioner.module.valid(),
            |memory| prefix.append(memory),
            &self.device,
        )
    }

    fn save_weights(&self, dir: &Path) -> Result<()> {
        let prefixed = if self.decoder {
            let mut whole = Captioner::<B>::from_weights(self.start, &self.device);
            whole.decoder = self.captioner.module.decoder.clone();
            with_prefix(&whole.to_weights(&self.start.config)?, &self.prefix.module)?
        } else {
            with_prefix(self.start, &self.prefix.module)?
        };
        prefixed.save(dir)?;
        self.image.save(dir)
    }

    fn save_records(&self, dir: &Path) -> Result<()> {
        if self.decoder {
            self.captioner.save(dir)?;
        }
        self.prefix.save(dir)
    }

    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        if self.decoder {
            self.captioner.load(checkpoint, &self.device)?;
        }
        self.prefix.load(checkpoint, &self.device)
    }
}

/// Trains prefix vectors for the frozen captioner (`start`'s decoder, `image`) on captioned
/// pictures, and with `config.decoder` the decoder too; checkpoints hold `start` with the
/// prefix (and the tuned decoder), and the image encoder unchanged.
pub fn train_prefix<B: AutodiffBackend>(
    config: &PrefixConfig,
    start: &Weights,
    image: &ImageWeights,
    data: &dyn CaptionedImages,
    special: &SpecialTokens,
    run: &Run,
    device: &B::Device,
) -> Result<Report> {
    config.validate()?;
    let c = &start.config;
    let pictures = PictureCaptions::new(c, &image.config, data, special, config.optim.batch_size)?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.optim.seed);
    let normal = Normal::new(0.0, config.init_std as f32).context("init_std")?;
    let values: Vec<f32> = (0..config.n_prefix * c.decoder.dim)
        .map(|_| normal.sample(&mut rng))
        .collect();
    let prefix = Prefix::<B> {
        vectors: Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [config.n_prefix, c.decoder.dim]),
            device,
        )),
    };
    let mut stage = PrefixStage {
        start,
        image,
        pictures,
        device: device.clone(),
        captioner: Trainable::new(
            "captioner",
            captioner_to_tune(image, start, config, device),
            &config.optim,
        ),
        decoder: config.decoder,
        prefix: Trainable::new("prefix", prefix, &config.optim),
    };
    let fingerprint = super::fingerprint(&("prefix", config, c, &image.config))?;
    run_stage(&mut stage, "prefix", &config.optim, &fingerprint, run)
}

/// The captioner stage 1a reads: no gradient is kept for its image encoder, nor for its
/// decoder unless the recipe tunes it.
fn captioner_to_tune<B: AutodiffBackend>(
    image: &ImageWeights,
    start: &Weights,
    config: &PrefixConfig,
    device: &B::Device,
) -> ImageCaptioner<B> {
    let captioner = ImageCaptioner::<B>::new(image, start, device);
    ImageCaptioner {
        image: captioner.image.no_grad(),
        decoder: if config.decoder {
            captioner.decoder
        } else {
            captioner.decoder.no_grad()
        },
    }
}
