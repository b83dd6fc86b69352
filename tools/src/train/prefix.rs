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

use super::captioner::{picture_batch, CaptionedImages, ImageCaptioner};
use super::captions::caption_loss;
use super::{
    adam_step, mean_loss, run_stage, save_trainable, AdamOf, Checkpoint, Optim, Recipe, Report,
    Run, Stage,
};
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
    data: &'a dyn CaptionedImages,
    special: &'a SpecialTokens,
    batch_size: usize,
    device: B::Device,
    captioner: ImageCaptioner<B>,
    prefix: Prefix<B>,
    opt: AdamOf<Prefix<B>, B>,
}

impl<B: AutodiffBackend> PrefixStage<'_, B> {
    fn loss<C: Backend>(
        &self,
        captioner: &ImageCaptioner<C>,
        prefix: &Prefix<C>,
        split: Split,
        indices: &[usize],
        device: &C::Device,
    ) -> Result<(Tensor<C, 1>, f64)> {
        let c = &self.start.config;
        let (pixels, captions) =
            picture_batch(self.data, split, indices, &self.image.config, device)?;
        let memory = prefix.append(captioner.image.forward(pixels, &self.image.config));
        caption_loss(
            &captions,
            self.special,
            &captioner.decoder,
            memory,
            c,
            device,
        )
    }
}

impl<B: AutodiffBackend> Stage for PrefixStage<'_, B> {
    fn train_len(&self) -> usize {
        self.data.len(Split::Train)
    }

    fn step(
        &mut self,
        _epoch: usize,
        lr: f64,
        indices: &[usize],
    ) -> Result<(f64, serde_json::Map<String, serde_json::Value>)> {
        let (loss, _) = self.loss(
            &self.captioner,
            &self.prefix,
            Split::Train,
            indices,
            &self.device,
        )?;
        let value = adam_step(&mut self.opt, &mut self.prefix, loss, lr);
        Ok((value, serde_json::Map::new()))
    }

    fn validate(&self) -> Result<f64> {
        let (captioner, prefix) = (self.captioner.valid(), self.prefix.valid());
        mean_loss(
            self.data.len(Split::Val),
            self.batch_size,
            "Val pictures",
            |chunk| {
                let (loss, n) = self.loss(&captioner, &prefix, Split::Val, chunk, &self.device)?;
                Ok((loss.into_scalar().elem::<f64>(), n))
            },
        )
    }

    fn save_weights(&self, dir: &Path) -> Result<()> {
        with_prefix(self.start, &self.prefix)?.save(dir)?;
        self.image.save(dir)
    }

    fn save_records(&self, dir: &Path) -> Result<()> {
        save_trainable(dir, "prefix", &self.prefix, &self.opt)
    }

    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        checkpoint.load_trainable("prefix", &mut self.prefix, &mut self.opt, &self.device)
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
    ensure!(
        image.config.out_dim == c.decoder.dim,
        "the image encoder puts out tokens of {} values (image.out_dim) but the decoder reads \
         {} (decoder.dim)",
        image.config.out_dim,
        c.decoder.dim
    );
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
        data,
        special,
        batch_size: config.optim.batch_size,
        device: device.clone(),
        // Frozen: no gradient is kept for the captioner.
        captioner: ImageCaptioner::<B>::new(image, start, device).no_grad(),
        prefix,
        opt: config.optim.adam().init(),
    };
    let fingerprint = super::fingerprint(&("prefix", config, c, &image.config))?;
    run_stage(&mut stage, "prefix", &config.optim, &fingerprint, run)
}
