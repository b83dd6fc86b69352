//! Stage 0, only for a captioner trained from scratch (the miniature world's; a pretrained one
//! is loaded instead): the image encoder and the text decoder learn to caption pictures with
//! their visual captions, by teacher-forced cross-entropy. The audio encoder is not involved.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use earsight::ModelConfig;
use serde::{Deserialize, Serialize};

use super::{run_stage, save_module, save_record, Checkpoint, Optim, Report, Run, Stage};
use crate::data::Split;
use crate::image::{ImageConfig, ImageWeights};
use crate::model::{Captioner, ImageEncoder, TextDecoder};
use crate::weights::Weights;
use earsight::bundle::SpecialTokens;

/// A stage-0 recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionerConfig {
    pub optim: Optim,
}

impl CaptionerConfig {
    pub fn read(path: &Path) -> Result<CaptionerConfig> {
        let config: CaptionerConfig = super::read_json(path, "captioner config")?;
        config
            .optim
            .validate()
            .with_context(|| format!("{}: invalid captioner config", path.display()))?;
        Ok(config)
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

    /// Greedy captions of `pixels [b, size, size, 3]`, recomputing the sequence at each step:
    /// token ids without the start and end tokens.
    pub fn caption(
        &self,
        pixels: Tensor<B, 4>,
        image: &ImageConfig,
        model: &ModelConfig,
        special: &SpecialTokens,
        max_tokens: usize,
    ) -> Vec<Vec<u32>> {
        let b = pixels.dims()[0];
        let device = pixels.device();
        let memory = self.image.forward(pixels, image);
        let mut ids = vec![vec![special.bos]; b];
        let mut done = vec![false; b];
        for _ in 0..max_tokens.min(model.decoder.max_positions - 1) {
            let t = ids[0].len();
            let flat: Vec<i64> = ids.iter().flatten().map(|&i| i as i64).collect();
            let input = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [b, t]), &device);
            let logits = self.decoder.forward(input, memory.clone(), model);
            let last = logits.narrow(1, t - 1, 1).argmax(2);
            let next: Vec<i64> = last.into_data().convert::<i64>().into_vec().expect("ids");
            for (k, &n) in next.iter().enumerate() {
                done[k] |= ids[k].last() == Some(&special.eos);
                ids[k].push(if done[k] { special.eos } else { n as u32 });
            }
            if done.iter().all(|&d| d) || next.iter().all(|&n| n as u32 == special.eos) {
                break;
            }
        }
        ids.into_iter()
            .map(|seq| {
                seq.into_iter()
                    .skip(1)
                    .take_while(|&i| i != special.eos)
                    .collect()
            })
            .collect()
    }
}

/// A batch: pixels, decoder inputs (start token + caption, padded), targets (caption + end
/// token, padded) and the mask of real targets.
struct Batch<B: Backend> {
    pixels: Tensor<B, 4>,
    inputs: Tensor<B, 2, Int>,
    targets: Tensor<B, 2, Int>,
    mask: Tensor<B, 2>,
}

fn batch<B: Backend>(
    data: &dyn CaptionedImages,
    split: Split,
    indices: &[usize],
    image: &ImageConfig,
    model: &ModelConfig,
    special: &SpecialTokens,
    device: &B::Device,
) -> Result<Batch<B>> {
    let items = indices
        .iter()
        .map(|&i| data.item(split, i))
        .collect::<Result<Vec<_>>>()?;
    let size = image.image_size;
    let t = items.iter().map(|x| x.ids.len() + 1).max().unwrap_or(1);
    ensure!(
        t <= model.decoder.max_positions,
        "a {split:?} caption of {} tokens does not fit decoder.max_positions = {}",
        t - 1,
        model.decoder.max_positions
    );
    let (mut pixels, mut inputs, mut targets, mut mask) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (item, &i) in items.iter().zip(indices) {
        ensure!(
            item.pixels.len() == size * size * 3,
            "{split:?} picture {i}: expected {size}x{size}x3 values, found {}",
            item.pixels.len()
        );
        pixels.extend_from_slice(&item.pixels);
        let n = item.ids.len();
        let pad = |v: &mut Vec<i64>, from: usize| v.extend((from..t).map(|_| special.pad as i64));
        inputs.push(special.bos as i64);
        inputs.extend(item.ids.iter().map(|&x| x as i64));
        pad(&mut inputs, n + 1);
        targets.extend(item.ids.iter().map(|&x| x as i64));
        targets.push(special.eos as i64);
        pad(&mut targets, n + 1);
        mask.extend((0..t).map(|k| if k <= n { 1.0f32 } else { 0.0 }));
    }
    let b = indices.len();
    Ok(Batch {
        pixels: Tensor::from_data(TensorData::new(pixels, [b, size, size, 3]), device),
        inputs: Tensor::from_data(TensorData::new(inputs, [b, t]), device),
        targets: Tensor::from_data(TensorData::new(targets, [b, t]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, t]), device),
    })
}

/// Mean cross-entropy per caption token of `batch` (sum and count, for averaging over batches).
fn caption_loss<B: Backend>(
    model: &ImageCaptioner<B>,
    batch: Batch<B>,
    image: &ImageConfig,
    config: &ModelConfig,
) -> (Tensor<B, 1>, f64) {
    let [b, t] = batch.targets.dims();
    let memory = model.image.forward(batch.pixels, image);
    let logits = model.decoder.forward(batch.inputs, memory, config);
    let picked = log_softmax(logits, 2)
        .gather(2, batch.targets.reshape([b, t, 1]))
        .reshape([b, t]);
    let count = batch.mask.clone().sum().into_scalar().elem::<f64>();
    ((picked * batch.mask).sum().neg() / count, count)
}

/// Mean cross-entropy per caption token on `split`.
#[allow(clippy::too_many_arguments)]
pub fn validate<B: Backend>(
    model: &ImageCaptioner<B>,
    image: &ImageConfig,
    weights: &Weights,
    data: &dyn CaptionedImages,
    split: Split,
    special: &SpecialTokens,
    batch_size: usize,
    device: &B::Device,
) -> Result<f64> {
    let count = data.len(split);
    ensure!(count > 0, "no {split:?} pictures to validate on");
    let indices: Vec<usize> = (0..count).collect();
    let (mut total, mut tokens) = (0.0, 0.0);
    for chunk in indices.chunks(batch_size) {
        let b = batch(data, split, chunk, image, &weights.config, special, device)?;
        let (loss, n) = caption_loss(model, b, image, &weights.config);
        total += loss.into_scalar().elem::<f64>() * n;
        tokens += n;
    }
    Ok(total / tokens)
}

/// Stage 0's state between steps.
struct CaptionerStage<'a, B: AutodiffBackend> {
    start: &'a Weights,
    image_config: ImageConfig,
    data: &'a dyn CaptionedImages,
    special: &'a SpecialTokens,
    batch_size: usize,
    device: B::Device,
    model: ImageCaptioner<B>,
    opt: OptimizerAdaptor<Adam, ImageCaptioner<B>, B>,
}

impl<B: AutodiffBackend> Stage for CaptionerStage<'_, B> {
    fn train_len(&self) -> usize {
        self.data.len(Split::Train)
    }

    fn step(
        &mut self,
        _epoch: usize,
        lr: f64,
        indices: &[usize],
    ) -> Result<(f64, serde_json::Map<String, serde_json::Value>)> {
        let c = &self.start.config;
        let b = batch::<B>(
            self.data,
            Split::Train,
            indices,
            &self.image_config,
            c,
            self.special,
            &self.device,
        )?;
        let (loss, _) = caption_loss(&self.model, b, &self.image_config, c);
        let value = loss.clone().into_scalar().elem::<f64>();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.opt.step(lr, self.model.clone(), grads);
        Ok((value, serde_json::Map::new()))
    }

    fn validate(&self) -> Result<f64> {
        validate(
            &self.model.valid(),
            &self.image_config,
            self.start,
            self.data,
            Split::Val,
            self.special,
            self.batch_size,
            &self.device,
        )
    }

    fn save_weights(&self, dir: &Path) -> Result<()> {
        let mut whole = Captioner::<B>::from_weights(self.start, &self.device);
        whole.decoder = self.model.decoder.clone();
        whole.to_weights(&self.start.config)?.save(dir)?;
        self.model.image.to_weights(&self.image_config)?.save(dir)
    }

    fn save_records(&self, dir: &Path) -> Result<()> {
        save_module(dir, "captioner", &self.model)?;
        save_record::<B, _>(dir, "captioner-adam", self.opt.to_record())
    }

    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.model = checkpoint.load_module(self.model.clone(), "captioner", &self.device)?;
        self.opt = self
            .opt
            .clone()
            .load_record(checkpoint.load_record("captioner-adam", &self.device)?);
        Ok(())
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
    let c = &start.config;
    let ic = &image_start.config;
    ensure!(
        ic.out_dim == c.decoder.dim,
        "the image encoder puts out tokens of {} values (image.out_dim) but the decoder reads \
         {} (decoder.dim)",
        ic.out_dim,
        c.decoder.dim
    );
    let mut stage = CaptionerStage {
        start,
        image_config: ic.clone(),
        data,
        special,
        batch_size: config.optim.batch_size,
        device: device.clone(),
        model: ImageCaptioner::<B>::new(image_start, start, device),
        opt: config.optim.adam().init(),
    };
    let fingerprint = super::fingerprint(&("captioner", config, c, ic))?;
    run_stage(&mut stage, "captioner", &config.optim, &fingerprint, run)
}
