//! What the stages' own code shares: a module trained under its own Adam state and filed in
//! the checkpoints under one name ([`Trainable`]), the name of a step's logged loss parts, the
//! validation loss of stages whose batches give their loss as a tensor, the writing of a
//! captioner whose audio encoder a stage trained; and, for the stages' unit tests, the tiny
//! model they train.

use std::path::Path;

use anyhow::Result;
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use earsight::ModelConfig;

use super::{
    adam_step, adam_step_with, mean_loss, save_trainable, save_with_image, AdamOf, Checkpoint,
    Optim,
};
use crate::model::image::ImageWeights;
use crate::model::{AudioEncoder, Captioner, TextDecoder};

/// The parts of a step's loss, by name, that [`super::Stage::step`] gives for the metrics log
/// (empty where the loss has none).
pub(super) type LossParts = serde_json::Map<String, serde_json::Value>;

/// A module a stage trains and the Adam state it is trained with. The checkpoints file both
/// under the one `name`, so that what a stage saves is what it loads on resuming.
pub(super) struct Trainable<M: AutodiffModule<B>, B: AutodiffBackend> {
    name: &'static str,
    pub module: M,
    opt: AdamOf<M, B>,
}

impl<M: AutodiffModule<B>, B: AutodiffBackend> Trainable<M, B> {
    /// `module` with a fresh optimiser of `optim`, filed as `name`.
    pub fn new(name: &'static str, module: M, optim: &Optim) -> Trainable<M, B> {
        Trainable {
            name,
            module,
            opt: optim.adam().init(),
        }
    }

    /// One step down the gradient of `loss` at learning rate `lr`; the loss's value.
    pub fn step(&mut self, loss: Tensor<B, 1>, lr: f64) -> f64 {
        adam_step(&mut self.opt, &mut self.module, loss, lr)
    }

    /// One step with the module's share of `grads` (taken out of them), for a loss that trains
    /// several modules.
    pub fn step_with(&mut self, grads: &mut B::Gradients, lr: f64) {
        adam_step_with(&mut self.opt, &mut self.module, grads, lr);
    }

    /// Writes the module and its optimiser state into the checkpoint directory `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_trainable(dir, self.name, &self.module, &self.opt)
    }

    /// Reads back what [`Trainable::save`] wrote in `checkpoint`'s `last/`.
    pub fn load(&mut self, checkpoint: &Checkpoint, device: &B::Device) -> Result<()> {
        checkpoint.load_trainable(self.name, &mut self.module, &mut self.opt, device)
    }
}

/// The mean loss over the `count` validation examples, `batch_size` at a time, as
/// [`mean_loss`] weighs it: `batch` gives a batch's mean loss as a tensor, and its weight.
pub(super) fn mean_val_loss<C: Backend>(
    count: usize,
    batch_size: usize,
    what: &str,
    mut batch: impl FnMut(&[usize]) -> Result<(Tensor<C, 1>, f64)>,
) -> Result<f64> {
    mean_loss(count, batch_size, what, |chunk| {
        let (loss, weight) = batch(chunk)?;
        Ok((loss.into_scalar().elem::<f64>(), weight))
    })
}

/// Writes the weights of the captioner made of a stage's audio `encoder` and `decoder`, and
/// `image`, the image encoder, when the stage carries it along for the stages after it.
pub(super) fn save_captioner<B: Backend>(
    dir: &Path,
    encoder: &AudioEncoder<B>,
    decoder: &TextDecoder<B>,
    config: &ModelConfig,
    image: Option<&ImageWeights>,
) -> Result<()> {
    let captioner = Captioner {
        encoder: encoder.clone(),
        decoder: decoder.clone(),
    };
    save_with_image(dir, &captioner.to_weights(config)?, image)
}

/// The tiny test model, seeded, without prefix vectors: its config and its captioner on the
/// autodiff CPU backend.
#[cfg(test)]
pub(super) fn tiny_captioner() -> (ModelConfig, Captioner<Grad>) {
    let mut c = crate::model::weights::test_config();
    c.encoder.n_prefix = 0;
    let weights = crate::model::weights::Weights::init(&c, 1).unwrap();
    let captioner = Captioner::from_weights(&weights, &Default::default());
    (c, captioner)
}

/// The backend the stages' unit tests train on.
#[cfg(test)]
pub(super) type Grad = burn::backend::Autodiff<crate::model::reference::Cpu>;
