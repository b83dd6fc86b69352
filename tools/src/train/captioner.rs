//! Stage 0, only for a captioner trained from scratch (the miniature world's; a pretrained one
//! is loaded instead): the image encoder and the text decoder learn to caption pictures with
//! their visual captions, by teacher-forced cross-entropy. The audio encoder is not involved.

use std::path::Path;

use anyhow::{ensure, Result};
use burn::module::{AutodiffModule, Module};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use earsight::ModelConfig;
use serde::{Deserialize, Serialize};

use super::captions::{caption_loss, greedy};
use super::stage_parts::{mean_val_loss, LossParts, Trainable};
use super::{run_stage, Checkpoint, Optim, Recipe, Report, Run, Stage};
use crate::data::Split;
use crate::model::image::{ImageConfig, ImageWeights};
use crate::model::weights::Weights;
use crate::model::{Captioner, ImageEncoder, TextDecoder};
use earsight::bundle::SpecialTokens;

/// A stage-0 recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionerConfig {
    pub optim: Optim,
    /// Pictures of each train scene per epoch: its frame, then ones drawn again from the scene
    /// (on a dataset with scenes.jsonl). 1 trains on the frames alone.
    #[serde(default = "one_picture", skip_serializing_if = "is_one")]
    pub picture_variants: u64,
    /// Picture-only train scenes of every class (see `world::picture_scenes`), drawn from the
    /// optimiser's seed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub picture_scenes: usize,
}

// The defaults are left out of the stage's fingerprint, so that a stage trained before these
// options existed is still recognised as trained with the same recipe.
fn one_picture() -> u64 {
    1
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Recipe for CaptionerConfig {
    const WHAT: &'static str = "captioner config";

    fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        ensure!(
            self.picture_variants > 0,
            "picture_variants: expected at least 1 (the scene's own picture), found 0"
        );
        Ok(())
    }
}

/// A picture and one of its captions, as token ids without the start and end tokens.
pub struct CaptionedImage {
    /// `[size, size, 3]` RGB in 0..1, row-major.
    pub pixels: Vec<f32>,
    pub ids: Vec<u32>,
}

/// Captioned pictures by split.
pub trait CaptionedImages {
    fn len(&self, split: Split) -> usize;
    fn item(&self, split: Split, index: usize) -> Result<CaptionedImage>;
}

/// The image captioner: image encoder and text decoder.
#[derive(Module, Debug)]
pub struct ImageCaptioner<B: Backend> {
    pub image: ImageEncoder<B>,
    pub decoder: TextDecoder<B>,
}

impl<B: Backend> ImageCaptioner<B> {
    pub fn new(image: &ImageWeights, weights: &Weights, device: &B::Device) -> ImageCaptioner<B> {
        ImageCaptioner {
            image: ImageEncoder::from_weights(image, device),
            decoder: Captioner::<B>::from_weights(weights, device).decoder,
        }
    }

    /// Greedy captions of `pixels [b, size, size, 3]`: token ids without the start and end
    /// tokens.
    pub fn caption(
        &self,
        pixels: Tensor<B, 4>,
        image: &ImageConfig,
        model: &ModelConfig,
        special: &SpecialTokens,
        max_tokens: usize,
    ) -> Vec<Vec<u32>> {
        greedy(
            &self.decoder,
            self.image.forward(pixels, image),
            model,
            special,
            max_tokens,
        )
    }
}

/// The pictures of `indices` as `[b, size, size, 3]` and their captions.
pub fn picture_batch<B: Backend>(
    data: &dyn CaptionedImages,
    split: Split,
    indices: &[usize],
    image: &ImageConfig,
    device: &B::Device,
) -> Result<(Tensor<B, 4>, Vec<Vec<u32>>)> {
    let size = image.image_size;
    let (mut pixels, mut captions) = (Vec::new(), Vec::new());
    for &i in indices {
        let item = data.item(split, i)?;
        ensure!(
            item.pixels.len() == size * size * 3,
            "{split:?} picture {i}: expected {size}x{size}x3 values, found {}",
            item.pixels.len()
        );
        pixels.extend(item.pixels);
        captions.push(item.ids);
    }
    let b = indices.len();
    Ok((
        Tensor::from_data(TensorData::new(pixels, [b, size, size, 3]), device),
        captions,
    ))
}

/// The captioned pictures a stage learns from, and how a captioner's loss on them is measured.
pub(crate) struct PictureCaptions<'a> {
    model: &'a ModelConfig,
    image: &'a ImageConfig,
    data: &'a dyn CaptionedImages,
    special: &'a SpecialTokens,
    batch_size: usize,
}

impl<'a> PictureCaptions<'a> {
    /// The pictures of `data` for the decoder of `model` and the image encoder of `image`,
    /// refusing an image encoder whose tokens the decoder cannot read.
    pub(crate) fn new(
        model: &'a ModelConfig,
        image: &'a ImageConfig,
        data: &'a dyn CaptionedImages,
        special: &'a SpecialTokens,
        batch_size: usize,
    ) -> Result<PictureCaptions<'a>> {
        ensure!(
            image.out_dim == model.decoder.dim,
            "the image encoder puts out tokens of {} values (image.out_dim) but the decoder reads \
             {} (decoder.dim)",
            image.out_dim,
            model.decoder.dim
        );
        Ok(PictureCaptions {
            model,
            image,
            data,
            special,
            batch_size,
        })
    }

    /// Training pictures per epoch.
    pub(crate) fn train_len(&self) -> usize {
        self.data.len(Split::Train)
    }

    /// Mean cross-entropy per caption token of the pictures `indices` of `split`, captioned by
    /// `captioner` from its image tokens passed through `memory`, and the token count.
    pub(crate) fn loss<C: Backend>(
        &self,
        captioner: &ImageCaptioner<C>,
        memory: impl FnOnce(Tensor<C, 3>) -> Tensor<C, 3>,
        split: Split,
        indices: &[usize],
        device: &C::Device,
    ) -> Result<(Tensor<C, 1>, f64)> {
        let (pixels, captions) = picture_batch(self.data, split, indices, self.image, device)?;
        let memory = memory(captioner.image.forward(pixels, self.image));
        caption_loss(
            &captions,
            self.special,
            &captioner.decoder,
            memory,
            self.model,
            device,
        )
    }

    /// The mean [`PictureCaptions::loss`] over the validation pictures.
    pub(crate) fn validate<C: Backend>(
        &self,
        captioner: &ImageCaptioner<C>,
        memory: impl Fn(Tensor<C, 3>) -> Tensor<C, 3>,
        device: &C::Device,
    ) -> Result<f64> {
        mean_val_loss(
            self.data.len(Split::Val),
            self.batch_size,
            "Val pictures",
            |chunk| self.loss(captioner, &memory, Split::Val, chunk, device),
        )
    }
}

/// Stage 0's state between steps.
struct CaptionerStage<'a, B: AutodiffBackend> {
    start: &'a Weights,
    pictures: PictureCaptions<'a>,
    device: B::Device,
    captioner: Trainable<ImageCaptioner<B>, B>,
}

impl<B: AutodiffBackend> Stage for CaptionerStage<'_, B> {
    fn train_len(&self) -> usize {
        self.pictures.train_len()
    }

    fn step(&mut self, _epoch: usize, lr: f64, indices: &[usize]) -> Result<(f64, LossParts)> {
        let (loss, _) = self.pictures.loss(
            &self.captioner.module,
            |memory| memory,
            Split::Train,
            indices,
            &self.device,
        )?;
        Ok((self.captioner.step(loss, lr), LossParts::new()))
    }

    fn validate(&self) -> Result<f64> {
        self.pictures.validate(
            &self.captioner.module.valid(),
            |memory| memory,
            &self.device,
        )
    }

    fn save_weights(&self, dir: &Path) -> Result<()> {
        let trained = &self.captioner.module;
        let mut whole = Captioner::<B>::from_weights(self.start, &self.device);
        whole.decoder = trained.decoder.clone();
        whole.to_weights(&self.start.config)?.save(dir)?;
        trained.image.to_weights(self.pictures.image)?.save(dir)
    }

    fn save_records(&self, dir: &Path) -> Result<()> {
        self.captioner.save(dir)
    }

    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.captioner.load(checkpoint, &self.device)
    }
}

/// Trains the image encoder and text decoder; checkpoints hold the whole model's [`Weights`]
/// (the audio encoder unchanged) and the image encoder's [`ImageWeights`].
pub fn train_captioner<B: AutodiffBackend>(
    config: &CaptionerConfig,
    start: &Weights,
    image_start: &ImageWeights,
    data: &dyn CaptionedImages,
    special: &SpecialTokens,
    run: &Run,
    device: &B::Device,
) -> Result<Report> {
    let (c, ic) = (&start.config, &image_start.config);
    let pictures = PictureCaptions::new(c, ic, data, special, config.optim.batch_size)?;
    let captioner = ImageCaptioner::<B>::new(image_start, start, device);
    let mut stage = CaptionerStage {
        start,
        pictures,
        device: device.clone(),
        captioner: Trainable::new("captioner", captioner, &config.optim),
    };
    let fingerprint = super::fingerprint(&("captioner", config, c, ic))?;
    run_stage(&mut stage, "captioner", &config.optim, &fingerprint, run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_options_at_their_defaults_leave_the_fingerprint_as_it_was() {
        let old = r#"{"optim":{"seed":1,"epochs":2,"batch_size":4,"lr":0.001,"betas":[0.9,0.999],"weight_decay":0.0,"halve_lr_at":[]}}"#;
        let config: CaptionerConfig = serde_json::from_str(old).unwrap();
        assert_eq!((config.picture_variants, config.picture_scenes), (1, 0));
        assert_eq!(serde_json::to_string(&config).unwrap(), old);
        let more = CaptionerConfig {
            picture_variants: 2,
            picture_scenes: 10,
            ..config
        };
        let json = serde_json::to_string(&more).unwrap();
        assert!(
            json.contains(r#""picture_variants":2,"picture_scenes":10"#),
            "{json}"
        );
        let zero = CaptionerConfig {
            picture_variants: 0,
            ..more
        };
        let err = format!("{:#}", zero.validate().unwrap_err());
        assert!(err.contains("picture_variants"), "{err}");
    }
}
