//! Stage 0, only for a captioner trained from scratch (the miniature world's; a pretrained one
//! is loaded instead): the image encoder and the text decoder learn to caption pictures with
//! their visual captions, by teacher-forced cross-entropy. The audio encoder is not involved.

use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use burn::module::{AutodiffModule, Module};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use earsight::ModelConfig;
use serde::{Deserialize, Serialize};

use super::{save_module, save_record, Checkpoint, MetricsLog, Optim, Progress, Run};
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

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct CaptionerReport {
    pub steps: usize,
    pub epochs: usize,
    /// Validation cross-entropy before the first step and after each epoch.
    pub val_losses: Vec<f64>,
    pub best_epoch: usize,
    pub stopped: bool,
    pub mean_step_ms: f64,
    pub examples_per_s: f64,
}

/// Trains the image encoder and text decoder; checkpoints hold the whole model's [`Weights`]
/// (the audio encoder unchanged) and the image encoder's [`ImageWeights`].
#[allow(clippy::too_many_arguments)]
pub fn train_captioner<B: AutodiffBackend>(
    config: &CaptionerConfig,
    start: &Weights,
    image_start: &ImageWeights,
    data: &dyn CaptionedImages,
    special: &SpecialTokens,
    run: &Run,
    device: &B::Device,
) -> Result<CaptionerReport> {
    config.optim.validate()?;
    let c = start.config.clone();
    let ic = image_start.config.clone();
    ensure!(
        ic.out_dim == c.decoder.dim,
        "the image encoder puts out tokens of {} values (image.out_dim) but the decoder reads \
         {} (decoder.dim)",
        ic.out_dim,
        c.decoder.dim
    );
    let optim = &config.optim;
    let n_train = data.len(Split::Train);
    ensure!(
        n_train >= optim.batch_size,
        "{n_train} training pictures for a batch of {}",
        optim.batch_size
    );
    let steps_per_epoch = n_train / optim.batch_size;
    let total_steps = steps_per_epoch * optim.epochs;

    B::seed(device, optim.seed);
    let mut model = ImageCaptioner::<B>::new(image_start, start, device);
    let mut opt = optim.adam().init::<B, ImageCaptioner<B>>();
    let fingerprint = super::fingerprint(&("captioner", config, &c, &ic))?;
    let checkpoint = Checkpoint::new(run.out, &fingerprint);
    let mut state = if run.resume {
        let state = checkpoint.read_state()?;
        model = checkpoint.load_module(model, "captioner", device)?;
        opt = opt.load_record(checkpoint.load_record("captioner-adam", device)?);
        state
    } else {
        checkpoint.start()?
    };
    let mut log = MetricsLog::open(&run.out.join("metrics.jsonl"), run.resume)?;
    let val = |m: &ImageCaptioner<B>| {
        validate(
            &m.valid(),
            &ic,
            start,
            data,
            Split::Val,
            special,
            optim.batch_size,
            device,
        )
    };
    if state.val_losses.is_empty() {
        let v = val(&model)?;
        log.write(&serde_json::json!({"epoch": 0, "val_loss": v}))?;
        state.val_losses.push(v);
    }
    let weights_of = |m: &ImageCaptioner<B>| -> Result<(Weights, ImageWeights)> {
        let mut whole = Captioner::<B>::from_weights(start, device);
        whole.decoder = m.decoder.clone();
        Ok((whole.to_weights(&c)?, m.image.to_weights(&ic)?))
    };

    let progress = Progress::new(
        run.progress,
        total_steps as u64,
        state.step as u64,
        "captioner",
    );
    let (mut step_seconds, mut timed_steps, mut stopped) = (0.0, 0usize, false);
    'epochs: while state.epoch < optim.epochs {
        let epoch = state.epoch + 1;
        let lr = optim.lr_at(epoch);
        let order = optim.order(epoch, n_train);
        for s in state.step - state.epoch * steps_per_epoch..steps_per_epoch {
            let began = Instant::now();
            let indices = &order[s * optim.batch_size..(s + 1) * optim.batch_size];
            let b = batch::<B>(data, Split::Train, indices, &ic, &c, special, device)?;
            let (loss, _) = caption_loss(&model, b, &ic, &c);
            let value = loss.clone().into_scalar().elem::<f64>();
            ensure!(
                value.is_finite(),
                "step {}: the loss is {value}",
                state.step + 1
            );
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(lr, model, grads);
            state.step += 1;
            let seconds = began.elapsed().as_secs_f64();
            step_seconds += seconds;
            timed_steps += 1;
            log.write(&serde_json::json!({
                "step": state.step,
                "epoch": epoch,
                "loss": value,
                "lr": lr,
                "examples_per_s": optim.batch_size as f64 / seconds,
            }))?;
            progress.step(value);
            if run.stop_after == Some(state.step) && state.step < total_steps {
                stopped = true;
                break 'epochs;
            }
        }
        state.epoch = epoch;
        let v = val(&model)?;
        let best = state.val_losses[1..].iter().all(|&x| v < x);
        state.val_losses.push(v);
        log.write(&serde_json::json!({"epoch": epoch, "val_loss": v, "best": best}))?;
        if best {
            state.best_epoch = epoch;
            let (w, iw) = weights_of(&model)?;
            checkpoint.save("best", &w, &state, |dir| iw.save(dir))?;
        }
    }
    let (w, iw) = weights_of(&model)?;
    checkpoint.save("last", &w, &state, |dir| {
        iw.save(dir)?;
        save_module(dir, "captioner", &model)?;
        save_record::<B, _>(dir, "captioner-adam", opt.to_record())
    })?;
    progress.finish();
    let mean_step = step_seconds / timed_steps.max(1) as f64;
    Ok(CaptionerReport {
        steps: state.step,
        epochs: state.epoch,
        val_losses: state.val_losses.clone(),
        best_epoch: state.best_epoch,
        stopped,
        mean_step_ms: mean_step * 1e3,
        examples_per_s: if timed_steps > 0 {
            optim.batch_size as f64 / mean_step
        } else {
            0.0
        },
    })
}
