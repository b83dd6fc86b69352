//! What a stage optimises with: Adam and its learning-rate schedule, the shuffled order of
//! each epoch, and the Adam steps the stages take.

use anyhow::{ensure, Result};
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

/// The optimiser and schedule of a stage: Adam with decoupled settings, the learning rate
/// halved at the given epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Optim {
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub betas: [f64; 2],
    pub weight_decay: f64,
    /// Epochs (1-based) from which the learning rate is halved once more.
    pub halve_lr_at: Vec<usize>,
}

impl Optim {
    pub fn validate(&self) -> Result<()> {
        ensure!(self.epochs > 0, "optim.epochs must be at least 1");
        ensure!(self.batch_size > 0, "optim.batch_size must be at least 1");
        ensure!(
            self.lr > 0.0 && self.lr.is_finite(),
            "optim.lr must be positive, found {}",
            self.lr
        );
        ensure!(
            self.betas.iter().all(|b| (0.0..1.0).contains(b)),
            "optim.betas must be in [0, 1), found {:?}",
            self.betas
        );
        Ok(())
    }

    pub fn adam(&self) -> AdamConfig {
        AdamConfig::new()
            .with_beta_1(self.betas[0] as f32)
            .with_beta_2(self.betas[1] as f32)
            .with_weight_decay(Some(WeightDecayConfig::new(self.weight_decay as f32)))
    }

    /// The learning rate of epoch `epoch` (1-based).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let halvings = self.halve_lr_at.iter().filter(|&&e| e <= epoch).count();
        self.lr * 0.5f64.powi(halvings as i32)
    }

    /// The order of the training examples in `epoch`, the same on every run and resume.
    pub fn order(&self, epoch: usize, count: usize) -> Vec<usize> {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut order: Vec<usize> = (0..count).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            self.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        order
    }
}

/// Adam over the parameters of module `M`.
pub type AdamOf<M, B> = OptimizerAdaptor<Adam, M, B>;

/// One step of `opt` on `module` down the gradient of `loss` at learning rate `lr`; returns
/// the loss's value.
pub fn adam_step<B: AutodiffBackend, M: AutodiffModule<B>>(
    opt: &mut AdamOf<M, B>,
    module: &mut M,
    loss: Tensor<B, 1>,
    lr: f64,
) -> f64 {
    let value = loss.clone().into_scalar().elem::<f64>();
    adam_step_with(opt, module, &mut loss.backward(), lr);
    value
}

/// One step of `opt` on `module` with its share of `grads` (taken out of them) at learning
/// rate `lr`: for a loss that trains several modules, each under its own optimiser.
pub fn adam_step_with<B: AutodiffBackend, M: AutodiffModule<B>>(
    opt: &mut AdamOf<M, B>,
    module: &mut M,
    grads: &mut B::Gradients,
    lr: f64,
) {
    let grads = GradientsParams::from_module(grads, module);
    *module = opt.step(lr, module.clone(), grads);
}
