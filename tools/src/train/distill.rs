//! Stage 2, audio-visual distillation: the captioner, given a clip's image tokens,
//! its aligned audio tokens and the prefix, writes pseudo-captions for unlabelled clips; then
//! the audio projector is fine-tuned to make the captioner write them from audio only, without
//! the prefix, as the board will run it. The paper trains the projector alone, over a backbone
//! pretrained on AudioSet; `backbone: true` fine-tunes the backbone too, for a backbone that
//! only the alignment has trained, or a grafted convolutional one (`encoder.conv`) that every
//! other stage keeps frozen.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{ensure, Context, Result};
use burn::module::{AutodiffModule, Module};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use earsight::bundle::SpecialTokens;
use serde::{Deserialize, Serialize};

use super::align::{batch_tensors, Pairs};
use super::augment::Augment;
use super::captions::{caption_loss, greedy};
use super::stage_parts::{mean_val_loss, save_captioner, LossParts, Trainable};
use super::{run_stage, Checkpoint, Optim, Recipe, Report, Run, Stage};
use crate::data::Split;
use crate::model::weights::Weights;
use crate::model::{AudioEncoder, Captioner, TextDecoder};

/// A stage-2 recipe (the paper: one epoch, AdamW lr 2e-4, only the projector trains).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    pub optim: Optim,
    /// Fine-tune the audio backbone with the projector. Left out of the file when false, so
    /// that runs made before the field existed still match their recipe.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backbone: bool,
    /// Fine-tune the caption decoder with the projector, so that it learns to read audio
    /// tokens rather than waiting for them to look like image tokens. Left out when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub decoder: bool,
    /// Changes to the train clips' windows, as in stage 1b; left out when off.
    #[serde(default, skip_serializing_if = "Augment::is_off")]
    pub augment: Augment,
}

impl Recipe for DistillConfig {
    const WHAT: &'static str = "distillation config";

    fn validate(&self) -> Result<()> {
        self.optim.validate()
    }
}

/// A mel window and a caption of it (token ids without the start and end tokens).
pub struct CaptionedClip {
    pub mel: Vec<f32>,
    pub ids: Vec<u32>,
}

/// Captioned clips by split.
pub trait CaptionedAudio {
    fn len(&self, split: Split) -> usize;
    fn item(&self, split: Split, index: usize) -> Result<CaptionedClip>;
}

/// What the captioner reads when it captions a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inputs {
    /// `[image tokens, audio tokens, prefix]`: stage 2's pseudo-labels.
    PictureAndAudio,
    /// The image tokens alone: the stage 0 captioner as it was trained, to see whether it
    /// names what is pictured before any audio reaches it.
    Picture,
}

/// Pseudo-captions of every pair of `split`: greedy captions from the memory `inputs` names
/// (the paper samples at temperature 0.2; greedy keeps the labels reproducible).
#[allow(clippy::too_many_arguments)]
pub fn pseudo_label<B: Backend>(
    weights: &Weights,
    pairs: &dyn Pairs,
    split: Split,
    special: &SpecialTokens,
    max_tokens: usize,
    batch_size: usize,
    inputs: Inputs,
    device: &B::Device,
) -> Result<Vec<Vec<u32>>> {
    let c = &weights.config;
    let (_, dim) = pairs.image_shape();
    ensure!(
        dim == c.decoder.dim,
        "the image tokens have {dim} values but the decoder reads {} (decoder.dim)",
        c.decoder.dim
    );
    let captioner = Captioner::<B>::from_weights(weights, device);
    let indices: Vec<usize> = (0..pairs.len(split)).collect();
    let mut captions = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(batch_size.max(1)) {
        let (mel, image) = batch_tensors::<B>(pairs, split, chunk, &c.frontend, device)?;
        let memory = match inputs {
            // The encoder's memory is the audio tokens followed by the prefix.
            Inputs::PictureAndAudio => {
                Tensor::cat(vec![image, captioner.encoder.forward(mel, c)], 1)
            }
            Inputs::Picture => image,
        };
        captions.extend(greedy(&captioner.decoder, memory, c, special, max_tokens));
    }
    Ok(captions)
}

/// Mel windows of clips by split.
pub trait MelWindows {
    fn mel(&self, split: Split, index: usize) -> Result<Vec<f32>>;
}

/// Clips' mel windows with captions given per split (pseudo-captions, or real ones).
pub struct Labelled<'a> {
    pub clips: &'a dyn MelWindows,
    pub captions: BTreeMap<Split, Vec<Vec<u32>>>,
}

impl CaptionedAudio for Labelled<'_> {
    fn len(&self, split: Split) -> usize {
        self.captions.get(&split).map_or(0, Vec::len)
    }

    fn item(&self, split: Split, index: usize) -> Result<CaptionedClip> {
        let ids = self
            .captions
            .get(&split)
            .and_then(|c| c.get(index))
            .with_context(|| format!("no caption for {split:?} clip {index}"))?
            .clone();
        Ok(CaptionedClip {
            mel: self.clips.mel(split, index)?,
            ids,
        })
    }
}

/// `weights` without prefix vectors: the audio-only model the board runs.
pub fn without_prefix(weights: &Weights) -> Result<Weights> {
    let mut config = weights.config.clone();
    config.encoder.n_prefix = 0;
    let mut tensors = weights.tensors().clone();
    tensors.remove("prefix");
    Weights::from_tensors(&config, tensors)
}

/// Mel windows of a batch of clips, and their captions' token ids.
type Batch<B> = (Tensor<B, 3>, Vec<Vec<u32>>);

/// Stage 2's state between steps.
struct DistillStage<'a, B: AutodiffBackend> {
    start: Weights,
    data: &'a dyn CaptionedAudio,
    special: &'a SpecialTokens,
    config: &'a DistillConfig,
    device: B::Device,
    encoder: Trainable<AudioEncoder<B>, B>,
    /// Trained, and in the records, only with `config.decoder`.
    decoder: Trainable<TextDecoder<B>, B>,
}

impl<B: AutodiffBackend> DistillStage<'_, B> {
    /// A batch's mel windows and captions; train clips changed by the recipe's augment, drawn
    /// for `epoch`.
    fn batch(
        &self,
        split: Split,
        indices: &[usize],
        epoch: usize,
    ) -> Result<Batch<B::InnerBackend>> {
        let c = &self.start.config;
        let (frames, mels) = (c.frontend.clip_frames, c.frontend.n_mels);
        let (mut mel, mut captions) = (Vec::new(), Vec::new());
        for &i in indices {
            let mut clip = self.data.item(split, i)?;
            ensure!(
                clip.mel.len() == frames * mels,
                "{split:?} clip {i}: expected a {frames}x{mels} mel window, found {} values",
                clip.mel.len()
            );
            if split == Split::Train {
                let seed = self.config.optim.seed;
                self.config
                    .augment
                    .apply(&mut clip.mel, &c.frontend, seed, epoch, i);
            }
            mel.extend(clip.mel);
            captions.push(clip.ids);
        }
        let mel = Tensor::from_data(
            TensorData::new(mel, [indices.len(), frames, mels]),
            &self.device,
        );
        Ok((mel, captions))
    }

    /// Teacher-forced caption loss of the projected `features`.
    fn loss<C: Backend>(
        &self,
        encoder: &AudioEncoder<C>,
        decoder: &TextDecoder<C>,
        features: Tensor<C, 3>,
        captions: &[Vec<u32>],
        device: &C::Device,
    ) -> Result<(Tensor<C, 1>, f64)> {
        let c = &self.start.config;
        let memory = encoder.project(features);
        caption_loss(captions, self.special, decoder, memory, c, device)
    }
}

impl<B: AutodiffBackend> Stage for DistillStage<'_, B> {
    fn train_len(&self) -> usize {
        self.data.len(Split::Train)
    }

    fn step(&mut self, epoch: usize, lr: f64, indices: &[usize]) -> Result<(f64, LossParts)> {
        let (mel, captions) = self.batch(Split::Train, indices, epoch)?;
        let c = &self.start.config;
        let encoder = &self.encoder.module;
        let features = if self.config.backbone {
            encoder.features(Tensor::from_inner(mel), c)
        } else {
            // A frozen backbone runs outside autodiff: detaching its features afterwards left
            // every step's backbone graph behind, about a gigabyte a step at the mini size.
            Tensor::from_inner(encoder.valid().features(mel, c))
        };
        let decoder = &self.decoder.module;
        let (loss, _) = self.loss(encoder, decoder, features, &captions, &self.device)?;
        let value = loss.clone().into_scalar().elem::<f64>();
        let mut grads = loss.backward();
        if self.config.decoder {
            self.decoder.step_with(&mut grads, lr);
        }
        self.encoder.step_with(&mut grads, lr);
        Ok((value, LossParts::new()))
    }

    fn validate(&self) -> Result<f64> {
        let (encoder, decoder) = (self.encoder.module.valid(), self.decoder.module.valid());
        mean_val_loss(
            self.data.len(Split::Val),
            self.config.optim.batch_size,
            "Val clips",
            |chunk| {
                let (mel, captions) = self.batch(Split::Val, chunk, 0)?;
                let features = encoder.features(mel, &self.start.config);
                self.loss(&encoder, &decoder, features, &captions, &self.device)
            },
        )
    }

    fn save_weights(&self, dir: &Path) -> Result<()> {
        let (encoder, decoder) = (&self.encoder.module, &self.decoder.module);
        save_captioner(dir, encoder, decoder, &self.start.config, None)
    }

    fn save_records(&self, dir: &Path) -> Result<()> {
        self.encoder.save(dir)?;
        if self.config.decoder {
            self.decoder.save(dir)?;
        }
        Ok(())
    }

    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.encoder.load(checkpoint, &self.device)?;
        if self.config.decoder {
            self.decoder.load(checkpoint, &self.device)?;
        }
        Ok(())
    }
}

/// Fine-tunes the audio projector of `start` (its prefix dropped), and its backbone when
/// `config.backbone`, on captioned clips, audio only; checkpoints hold the audio-only model.
pub fn distill<B: AutodiffBackend>(
    config: &DistillConfig,
    start: &Weights,
    data: &dyn CaptionedAudio,
    special: &SpecialTokens,
    run: &Run,
    device: &B::Device,
) -> Result<Report> {
    config.augment.validate(&start.config.frontend)?;
    let audio_only = without_prefix(start)?;
    let model = Captioner::<B>::from_weights(&audio_only, device);
    let fingerprint = super::fingerprint(&("distill", config, &audio_only.config))?;
    // Frozen unless trained: then no gradient is kept for it.
    let decoder = if config.decoder {
        model.decoder
    } else {
        model.decoder.no_grad()
    };
    // A convolutional backbone is frozen unless this stage trains it.
    let encoder = if config.backbone {
        model.encoder.fine_tuned()
    } else {
        model.encoder
    };
    let mut stage = DistillStage {
        data,
        special,
        config,
        device: device.clone(),
        encoder: Trainable::new("encoder", encoder, &config.optim),
        decoder: Trainable::new("decoder", decoder, &config.optim),
        start: audio_only,
    };
    run_stage(&mut stage, "distill", &config.optim, &fingerprint, run)
}
