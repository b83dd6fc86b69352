//! Before alignment: masked spectrogram modelling of the audio backbone on the world's audio.
//! The paper's audio encoder starts from CAV-MAE, pretrained by reconstructing hidden patches
//! of unlabelled audio; the miniature's starts from seeded weights, and alignment alone leaves
//! it below plain band statistics. This stage gives it the same kind of start: a share of each
//! window's patches is replaced by a learnt mask token, and a linear head reconstructs them
//! from the backbone's features (SimMIM's form of MAE: every token goes through the encoder,
//! so the graph is the one the runtime exports). No captions, images or labels are used; the
//! head and the mask token are dropped afterwards, and the projector does not change.

use std::path::Path;

use anyhow::{ensure, Result};
use burn::module::{AutodiffModule, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use earsight::ModelConfig;
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::augment::Augment;
use super::dataset::Dataset;
use super::stage_parts::{mean_val_loss, save_captioner, LossParts, Trainable};
use super::{run_stage, Checkpoint, Optim, Recipe, Report, Run, Stage};
use crate::data::Split;
use crate::model::image::ImageWeights;
use crate::model::weights::Weights;
use crate::model::{patches, AudioEncoder, Captioner, TextDecoder};
use crate::train::losses::SeededInit;

/// A pretraining recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    pub optim: Optim,
    /// The share of each window's patches hidden from the encoder (CAV-MAE hides 0.75).
    pub mask_ratio: f64,
    /// Changes to the train clips' windows before masking.
    #[serde(default, skip_serializing_if = "Augment::is_off")]
    pub augment: Augment,
}

impl Recipe for PretrainConfig {
    const WHAT: &'static str = "pretraining config";

    fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        ensure!(
            self.mask_ratio > 0.0 && self.mask_ratio < 1.0,
            "mask_ratio must be between 0 and 1 (exclusive), found {}",
            self.mask_ratio
        );
        Ok(())
    }
}

/// What pretraining adds to the encoder, and drops after: the mask token and the head that
/// maps a token's features back to its patch.
#[derive(Module, Debug)]
pub struct Reconstructor<B: Backend> {
    mask: Param<Tensor<B, 1>>,
    head: Linear<B>,
}

impl<B: Backend> Reconstructor<B> {
    pub fn new(c: &ModelConfig, seed: u64, device: &B::Device) -> Reconstructor<B> {
        let e = &c.encoder;
        Reconstructor {
            mask: Param::from_tensor(Tensor::zeros([e.dim], device)),
            head: LinearConfig::new(e.dim, e.patch_time * e.patch_freq).init(device),
        }
        .map(&mut SeededInit(ChaCha8Rng::seed_from_u64(seed)))
    }
}

/// The patches of one window that are hidden: `count` of `tokens`, drawn from (`seed`,
/// `epoch`, `clip`) so that a resumed run hides what an uninterrupted one would.
fn hidden_patches(tokens: usize, count: usize, seed: u64, epoch: usize, clip: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (clip as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
    );
    let mut hidden = vec![0.0; tokens];
    for i in sample(&mut rng, tokens, count) {
        hidden[i] = 1.0;
    }
    hidden
}

/// The mean squared error of the reconstruction over the hidden patches of a batch.
pub fn masked_loss<B: Backend>(
    encoder: &AudioEncoder<B>,
    reconstructor: &Reconstructor<B>,
    mel: Tensor<B, 3>,
    hidden: Tensor<B, 3>,
    c: &ModelConfig,
) -> Tensor<B, 1> {
    let target = patches(mel.clone(), c);
    let features = encoder.masked_features(mel, hidden.clone(), reconstructor.mask.val(), c);
    let error = (reconstructor.head.forward(features) - target)
        .powi_scalar(2)
        .mean_dim(2);
    (error * hidden.clone()).sum() / hidden.sum()
}

/// A batch of windows of `split` and their hidden patches, `[b, frames, mels]` and
/// `[b, tokens, 1]`.
fn batch<B: Backend>(
    config: &PretrainConfig,
    c: &ModelConfig,
    data: &Dataset,
    split: Split,
    epoch: usize,
    indices: &[usize],
    device: &B::Device,
) -> Result<(Tensor<B, 3>, Tensor<B, 3>)> {
    let f = &c.frontend;
    let tokens = c.n_audio_tokens();
    let count = ((tokens as f64 * config.mask_ratio).round() as usize).clamp(1, tokens - 1);
    let seed = config.optim.seed;
    let (mut mel, mut hidden) = (Vec::new(), Vec::new());
    for &i in indices {
        let mut window = data.mel(data.clip(split, i)?)?;
        ensure!(
            window.len() == f.clip_frames * f.n_mels,
            "{split:?} clip {i}: expected a {}x{} mel window, found {} values",
            f.clip_frames,
            f.n_mels,
            window.len()
        );
        if split == Split::Train {
            config.augment.apply(&mut window, f, seed, epoch, i);
        }
        mel.extend(window);
        // Validation hides the same patches after every epoch.
        let draw = if split == Split::Train { epoch } else { 0 };
        hidden.extend(hidden_patches(tokens, count, seed, draw, i));
    }
    let b = indices.len();
    Ok((
        Tensor::from_data(TensorData::new(mel, [b, f.clip_frames, f.n_mels]), device),
        Tensor::from_data(TensorData::new(hidden, [b, tokens, 1]), device),
    ))
}

struct PretrainStage<'a, B: AutodiffBackend> {
    config: &'a PretrainConfig,
    start: &'a Weights,
    image: Option<&'a ImageWeights>,
    data: &'a Dataset,
    device: B::Device,
    encoder: Trainable<AudioEncoder<B>, B>,
    /// Rides along unchanged, so that the checkpoints hold the whole captioner.
    decoder: TextDecoder<B>,
    reconstructor: Trainable<Reconstructor<B>, B>,
}

impl<B: AutodiffBackend> Stage for PretrainStage<'_, B> {
    fn train_len(&self) -> usize {
        self.data.clips(Split::Train).len()
    }

    fn step(&mut self, epoch: usize, lr: f64, indices: &[usize]) -> Result<(f64, LossParts)> {
        let c = &self.start.config;
        let (mel, hidden) = batch::<B>(
            self.config,
            c,
            self.data,
            Split::Train,
            epoch,
            indices,
            &self.device,
        )?;
        let (encoder, reconstructor) = (&self.encoder.module, &self.reconstructor.module);
        let loss = masked_loss(encoder, reconstructor, mel, hidden, c);
        let value = loss.clone().into_scalar().elem::<f64>();
        let mut grads = loss.backward();
        self.encoder.step_with(&mut grads, lr);
        self.reconstructor.step_with(&mut grads, lr);
        Ok((value, LossParts::new()))
    }

    fn validate(&self) -> Result<f64> {
        let c = &self.start.config;
        let encoder = self.encoder.module.valid();
        let reconstructor = self.reconstructor.module.valid();
        mean_val_loss(
            self.data.clips(Split::Val).len(),
            self.config.optim.batch_size,
            "validation clips",
            |chunk| {
                let (mel, hidden) = batch::<B::InnerBackend>(
                    self.config,
                    c,
                    self.data,
                    Split::Val,
                    0,
                    chunk,
                    &self.device,
                )?;
                let loss = masked_loss(&encoder, &reconstructor, mel, hidden, c);
                Ok((loss, chunk.len() as f64))
            },
        )
    }

    fn save_weights(&self, dir: &Path) -> Result<()> {
        let (encoder, decoder) = (&self.encoder.module, &self.decoder);
        save_captioner(dir, encoder, decoder, &self.start.config, self.image)
    }

    fn save_records(&self, dir: &Path) -> Result<()> {
        self.encoder.save(dir)?;
        self.reconstructor.save(dir)
    }

    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.encoder.load(checkpoint, &self.device)?;
        self.reconstructor.load(checkpoint, &self.device)
    }
}

/// Pretrains the audio backbone of `start` on the clips of `data` (the rest of the model rides
/// along unchanged; `image`, the captioner's image encoder, is kept in the checkpoints so that
/// alignment finds the whole captioner there) and writes checkpoints under `run.out`.
pub fn pretrain<B: AutodiffBackend>(
    config: &PretrainConfig,
    start: &Weights,
    image: Option<&ImageWeights>,
    data: &Dataset,
    run: &Run,
    device: &B::Device,
) -> Result<Report> {
    config.validate()?;
    let c = &start.config;
    config.augment.validate(&c.frontend)?;
    ensure!(
        c.encoder.conv.is_none(),
        "pretraining trains a transformer backbone, and this model's is convolutional \
         (encoder.conv): it comes distilled from a teacher and needs no pretraining"
    );
    ensure!(
        c.n_audio_tokens() >= 2,
        "pretraining hides some of a window's patches and shows the rest, but the model config \
         makes {} patch of a window",
        c.n_audio_tokens()
    );
    let captioner = Captioner::<B>::from_weights(start, device);
    let reconstructor = Reconstructor::new(c, config.optim.seed, device);
    let mut stage = PretrainStage {
        config,
        start,
        image,
        data,
        device: device.clone(),
        encoder: Trainable::new("encoder", captioner.encoder, &config.optim),
        decoder: captioner.decoder,
        reconstructor: Trainable::new("reconstructor", reconstructor, &config.optim),
    };
    let fingerprint = super::fingerprint(&("pretrain", config, c))?;
    run_stage(&mut stage, "pretrain", &config.optim, &fingerprint, run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params_without_grad;
    use crate::train::stage_parts::{tiny_captioner, Grad};
    use burn::optim::{GradientsParams, Optimizer};

    fn windows(c: &ModelConfig, b: usize) -> Tensor<Grad, 3> {
        // Each window a steady spectrum of its own: reconstructable from what is shown.
        let (frames, mels) = (c.frontend.clip_frames, c.frontend.n_mels);
        let values = (0..b * frames * mels)
            .map(|i| {
                let (clip, bin) = (i / (frames * mels), i % mels);
                ((clip * 7 + bin * 3) % 11) as f32 / 5.0 - 1.0
            })
            .collect::<Vec<_>>();
        Tensor::from_data(
            TensorData::new(values, [b, frames, mels]),
            &Default::default(),
        )
    }

    /// A seeded tiny model without prefix and a fresh reconstructor.
    fn start() -> (ModelConfig, AudioEncoder<Grad>, Reconstructor<Grad>) {
        let (c, captioner) = tiny_captioner();
        let reconstructor = Reconstructor::new(&c, 1, &Default::default());
        (c, captioner.encoder, reconstructor)
    }

    fn optim(lr: f64) -> Optim {
        Optim {
            seed: 1,
            epochs: 1,
            batch_size: 2,
            lr,
            betas: [0.9, 0.95],
            weight_decay: 0.0,
            halve_lr_at: vec![],
        }
    }

    fn hidden(c: &ModelConfig, b: usize, count: usize) -> Tensor<Grad, 3> {
        let tokens = c.n_audio_tokens();
        let values = (0..b)
            .flat_map(|clip| hidden_patches(tokens, count, 1, 1, clip))
            .collect::<Vec<_>>();
        Tensor::from_data(TensorData::new(values, [b, tokens, 1]), &Default::default())
    }

    #[test]
    fn hides_the_asked_share_differently_per_clip_and_epoch() {
        let a = hidden_patches(64, 48, 1, 1, 0);
        assert_eq!(a.iter().filter(|&&h| h == 1.0).count(), 48);
        assert_eq!(a, hidden_patches(64, 48, 1, 1, 0));
        assert_ne!(a, hidden_patches(64, 48, 1, 1, 1));
        assert_ne!(a, hidden_patches(64, 48, 1, 2, 0));
    }

    #[test]
    fn a_mask_ratio_that_hides_all_or_nothing_is_refused_by_name() {
        let config = |ratio: f64| PretrainConfig {
            optim: optim(1e-3),
            mask_ratio: ratio,
            augment: Augment::default(),
        };
        assert!(config(0.75).validate().is_ok());
        for ratio in [0.0, 1.0, f64::NAN] {
            let err = config(ratio).validate().unwrap_err().to_string();
            assert!(err.contains("mask_ratio"), "{err}");
        }
    }

    #[test]
    fn the_loss_reaches_the_backbone_and_the_head_but_not_the_projector() {
        let (c, encoder, reconstructor) = start();
        let count = c.n_audio_tokens() / 2;
        let loss = masked_loss(
            &encoder,
            &reconstructor,
            windows(&c, 2),
            hidden(&c, 2, count),
            &c,
        );
        let grads = loss.backward();
        assert!(params_without_grad(&reconstructor, &grads).is_empty());
        let missing = params_without_grad(&encoder, &grads);
        assert!(
            !missing.is_empty() && missing.iter().all(|name| name.starts_with("proj")),
            "without gradient: {missing:?}"
        );
    }

    #[test]
    fn training_lowers_the_reconstruction_error() {
        let (c, mut encoder, mut reconstructor) = start();
        let optim = optim(3e-3);
        let (mut encoder_opt, mut reconstructor_opt) = (optim.adam().init(), optim.adam().init());
        let count = c.n_audio_tokens() / 2;
        let error = |encoder: &AudioEncoder<Grad>, reconstructor: &Reconstructor<Grad>| {
            masked_loss(
                encoder,
                reconstructor,
                windows(&c, 2),
                hidden(&c, 2, count),
                &c,
            )
        };
        let before = error(&encoder, &reconstructor).into_scalar();
        for _ in 0..30 {
            let mut grads = error(&encoder, &reconstructor).backward();
            let e = GradientsParams::from_module(&mut grads, &encoder);
            let r = GradientsParams::from_module(&mut grads, &reconstructor);
            encoder = encoder_opt.step(optim.lr, encoder, e);
            reconstructor = reconstructor_opt.step(optim.lr, reconstructor, r);
        }
        let after = error(&encoder, &reconstructor).into_scalar();
        assert!(after < before * 0.5, "error {before} -> {after}");
    }
}
