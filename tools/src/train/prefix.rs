//! Stage 1a, prefix tuning: K learned vectors appended to the captioner's memory
//! make the frozen captioner describe what is heard rather than what is seen. They learn from
//! a handful of (video frame, audio caption) pairs; no audio is used and nothing of the
//! captioner changes.

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
use crate::model::to_array;
use crate::model::weights::Weights;

/// A stage-1a recipe (the paper: 16 vectors, initialised N(0, 1e-4), AdamW lr 1e-3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixConfig {
    pub optim: Optim,
    pub n_prefix: usize,
    pub init_std: f64,
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
    captioner: ImageCaptioner<B>,
    prefix: Trainable<Prefix<B>, B>,
}

impl<B: AutodiffBackend> Stage for PrefixStage<'_, B> {
    fn train_len(&self) -> usize {
        self.pictures.train_len()
    }

    fn step(&mut self, _epoch: usize, lr: f64, indices: &[usize]) -> Result<(f64, LossParts)> {
        let prefix = &self.prefix.module;
        let (loss, _) = self.pictures.loss(
            &self.captioner,
            |memory| prefix.append(memory),
            Split::Train,
            indices,
            &self.device,
        )?;
        Ok((self.prefix.step(loss, lr), LossParts::new()))
    }

    fn validate(&self) -> Result<f64> {
        let prefix = self.prefix.module.valid();
        self.pictures.validate(
            &self.captioner.valid(),
            |memory| prefix.append(memory),
            &self.device,
        )
    }

    fn save_weights(&self, dir: &Path) -> Result<()> {
        with_prefix(self.start, &self.prefix.module)?.save(dir)?;
        self.image.save(dir)
    }

    fn save_records(&self, dir: &Path) -> Result<()> {
        self.prefix.save(dir)
    }

    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.prefix.load(checkpoint, &self.device)
    }
}

/// Trains prefix vectors for the frozen captioner (`start`'s decoder, `image`) on captioned
/// pictures; checkpoints hold `start` with the prefix, and the image encoder unchanged.
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
    let prefix = Prefix {
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
        // Frozen: no gradient is kept for the captioner.
        captioner: ImageCaptioner::<B>::new(image, start, device).no_grad(),
        prefix: Trainable::new("prefix", prefix, &config.optim),
    };
    let fingerprint = super::fingerprint(&("prefix", config, c, &image.config))?;
    run_stage(&mut stage, "prefix", &config.optim, &fingerprint, run)
}
