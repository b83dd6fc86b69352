//! Captions as the decoder sees them in training (teacher forcing) and in generation (greedy),
//! whatever memory the stage gives it: image tokens, prefix vectors, audio tokens.

use anyhow::{ensure, Result};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::TensorData;
use earsight::bundle::SpecialTokens;
use earsight::ModelConfig;

use crate::model::TextDecoder;

/// Decoder inputs (start token + caption, padded), targets (caption + end token, padded) and
/// the mask of real targets, for a batch of captions.
pub struct Teacher<B: Backend> {
    inputs: Tensor<B, 2, Int>,
    targets: Tensor<B, 2, Int>,
    mask: Tensor<B, 2>,
}

impl<B: Backend> Teacher<B> {
    /// `captions` are token ids without the start and end tokens.
    pub fn new(
        captions: &[&[u32]],
        special: &SpecialTokens,
        model: &ModelConfig,
        device: &B::Device,
    ) -> Result<Teacher<B>> {
        let t = captions.iter().map(|c| c.len() + 1).max().unwrap_or(1);
        ensure!(
            t <= model.decoder.max_positions,
            "a caption of {} tokens does not fit decoder.max_positions = {}",
            t - 1,
            model.decoder.max_positions
        );
        let (mut inputs, mut targets, mut mask) = (Vec::new(), Vec::new(), Vec::new());
        for ids in captions {
            let n = ids.len();
            let pad = |v: &mut Vec<i64>| v.extend((n + 1..t).map(|_| special.pad as i64));
            inputs.push(special.bos as i64);
            inputs.extend(ids.iter().map(|&x| x as i64));
            pad(&mut inputs);
            targets.extend(ids.iter().map(|&x| x as i64));
            targets.push(special.eos as i64);
            pad(&mut targets);
            mask.extend((0..t).map(|k| if k <= n { 1.0f32 } else { 0.0 }));
        }
        let b = captions.len();
        Ok(Teacher {
            inputs: Tensor::from_data(TensorData::new(inputs, [b, t]), device),
            targets: Tensor::from_data(TensorData::new(targets, [b, t]), device),
            mask: Tensor::from_data(TensorData::new(mask, [b, t]), device),
        })
    }

    /// Mean cross-entropy per caption token given `memory [b, tokens, D]`, and the number of
    /// tokens (to average over batches).
    pub fn loss(
        self,
        decoder: &TextDecoder<B>,
        memory: Tensor<B, 3>,
        model: &ModelConfig,
    ) -> (Tensor<B, 1>, f64) {
        let [b, t] = self.targets.dims();
        let logits = decoder.forward(self.inputs, memory, model);
        let picked = log_softmax(logits, 2)
            .gather(2, self.targets.reshape([b, t, 1]))
            .reshape([b, t]);
        let count = self.mask.clone().sum().into_scalar().elem::<f64>();
        ((picked * self.mask).sum().neg() / count, count)
    }
}

/// Mean cross-entropy per caption token of `captions` (token ids without the start and end
/// tokens) given `memory [b, tokens, D]`, and the token count: the teacher-forced loss every
/// captioning stage trains on.
pub fn caption_loss<B: Backend>(
    captions: &[Vec<u32>],
    special: &SpecialTokens,
    decoder: &TextDecoder<B>,
    memory: Tensor<B, 3>,
    model: &ModelConfig,
    device: &B::Device,
) -> Result<(Tensor<B, 1>, f64)> {
    let refs: Vec<&[u32]> = captions.iter().map(Vec::as_slice).collect();
    Ok(Teacher::new(&refs, special, model, device)?.loss(decoder, memory, model))
}

/// Greedy captions from `memory [b, tokens, D]`, recomputing the sequence at each step: token
/// ids without the start and end tokens.
pub fn greedy<B: Backend>(
    decoder: &TextDecoder<B>,
    memory: Tensor<B, 3>,
    model: &ModelConfig,
    special: &SpecialTokens,
    max_tokens: usize,
) -> Vec<Vec<u32>> {
    let b = memory.dims()[0];
    let device = memory.device();
    let mut ids = vec![vec![special.bos]; b];
    // The memory's keys and values once; only the last position's logits each step.
    let cross = decoder.cross_keys_values(memory, model);
    for _ in 0..max_tokens.min(model.decoder.max_positions - 1) {
        let t = ids[0].len();
        let flat: Vec<i64> = ids.iter().flatten().map(|&i| i as i64).collect();
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [b, t]), &device);
        let last = decoder.hidden(input, &cross, model).narrow(1, t - 1, 1);
        let next: Vec<i64> = decoder
            .logits(last, model)
            .argmax(2)
            .into_data()
            .convert::<i64>()
            .into_vec()
            .expect("ids");
        for (seq, &n) in ids.iter_mut().zip(&next) {
            // A finished caption keeps padding with the end token.
            let done = seq.last() == Some(&special.eos);
            seq.push(if done { special.eos } else { n as u32 });
        }
        if ids.iter().all(|seq| seq.last() == Some(&special.eos)) {
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
