//! Stage 1b, distribution alignment: the audio encoder and projector learn to
//! put out, for each clip, a set of tokens distributed like the image tokens of the clip's
//! frame. No captions are used, and the captioner (its image encoder and text decoder) does
//! not change: only the audio side is in the optimiser.

use std::path::Path;

use anyhow::{bail, ensure, Result};
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use earsight::config::FrontendConfig;
use serde::{Deserialize, Serialize};

use super::augment::Augment;
use super::stage_parts::{save_captioner, LossParts, Trainable};
use super::{mean_loss, run_stage, Checkpoint, Optim, Recipe, Report, Run, Stage};
use crate::data::Split;
use crate::model::image::ImageWeights;
use crate::model::weights::Weights;
use crate::model::{AudioEncoder, Captioner, TextDecoder};
use crate::train::losses::{self, Marginals, Scorers, Sinkhorn, Solver};

/// The alignment objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlignLoss {
    Mmd,
    Ot,
    OtAtt,
    Contrastive,
}

/// How transport problems are solved.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SolverConfig {
    /// Exact EMD, as the paper's code; for the miniature sizes.
    Exact,
    /// Entropic; `epsilon` relative to the pair's mean cost.
    Sinkhorn { epsilon: f64, iterations: usize },
}

impl SolverConfig {
    fn solver(self) -> Solver {
        match self {
            SolverConfig::Exact => Solver::Exact,
            SolverConfig::Sinkhorn {
                epsilon,
                iterations,
            } => Solver::Sinkhorn(Sinkhorn {
                epsilon,
                iterations,
            }),
        }
    }
}

/// The attentive-OT scorers and their training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentiveConfig {
    pub heads: usize,
    /// Softmax temperature of the token weights (20 in the paper, for 1024-d tokens).
    pub temperature: f64,
    pub lr: f64,
    /// Entropy bonus per epoch (epoch 1 first; the last one holds after). A zero freezes the
    /// scorers for that epoch, as the paper does in its first.
    pub entropy_weights: Vec<f64>,
}

/// A stage-1b recipe (the paper's optimiser: Adam, lr 1e-4, betas 0.95/0.999, weight decay
/// 5e-7, lr halved at epochs 10 and 15 of 20).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignConfig {
    pub loss: AlignLoss,
    pub optim: Optim,
    pub solver: SolverConfig,
    /// Required for `ot-att`, ignored otherwise.
    pub attentive: Option<AttentiveConfig>,
    /// Changes to the train clips' windows; off, it stays out of the stage's fingerprint, so a
    /// run made before it existed is still recognised.
    #[serde(default, skip_serializing_if = "Augment::is_off")]
    pub augment: Augment,
}

impl AlignConfig {
    /// This recipe for `loss`. The attentive section goes with `ot-att` alone: the other losses
    /// ignore it, so it stays out of their runs' records, and retuning the scorers does not make
    /// their finished runs look made with another recipe.
    pub fn with_loss(&self, loss: AlignLoss) -> AlignConfig {
        AlignConfig {
            loss,
            attentive: self.attentive.clone().filter(|_| loss == AlignLoss::OtAtt),
            ..self.clone()
        }
    }
}

impl Recipe for AlignConfig {
    const WHAT: &'static str = "alignment config";

    fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        if let SolverConfig::Sinkhorn {
            epsilon,
            iterations,
        } = self.solver
        {
            ensure!(epsilon > 0.0, "solver.epsilon must be positive");
            ensure!(iterations > 0, "solver.iterations must be at least 1");
        }
        if self.loss == AlignLoss::Contrastive {
            ensure!(
                self.optim.batch_size > 1,
                "the contrastive loss needs batch_size > 1 (the other pairs are its negatives)"
            );
        }
        if self.loss == AlignLoss::OtAtt {
            let Some(att) = &self.attentive else {
                bail!("loss ot-att needs an \"attentive\" section (heads, temperature, lr, entropy_weights)");
            };
            ensure!(
                !att.entropy_weights.is_empty(),
                "attentive.entropy_weights is empty"
            );
            ensure!(
                att.temperature > 0.0,
                "attentive.temperature must be positive"
            );
        }
        Ok(())
    }
}

/// One (audio clip, video frame) pair, ready for the models.
pub struct Pair {
    /// Normalised log-mel window, `[frames, mels]` row-major.
    pub mel: Vec<f32>,
    /// The frozen captioner's image tokens of the frame, `[tokens, dim]` row-major.
    pub image: Vec<f32>,
}

/// Audio-visual pairs by split.
pub trait Pairs {
    fn len(&self, split: Split) -> usize;
    /// Shape of one pair's image tokens: `(tokens, dim)`.
    fn image_shape(&self) -> (usize, usize);
    fn pair(&self, split: Split, index: usize) -> Result<Pair>;
    /// The frozen image encoder that made the image tokens, if it is at hand: alignment keeps
    /// it in its checkpoints, so that later stages find the whole captioner there.
    fn image_encoder(&self) -> Option<&ImageWeights> {
        None
    }
}

/// The mel windows (of `frontend`'s size) and image tokens of the pairs `indices`, each window
/// passed through `change` with its pair's index first.
fn changed_batch<B: Backend>(
    data: &dyn Pairs,
    split: Split,
    indices: &[usize],
    frontend: &FrontendConfig,
    change: &dyn Fn(usize, &mut [f32]),
    device: &B::Device,
) -> Result<(Tensor<B, 3>, Tensor<B, 3>)> {
    let (frames, mels) = (frontend.clip_frames, frontend.n_mels);
    let (n, d) = data.image_shape();
    let (mut mel, mut image) = (Vec::new(), Vec::new());
    for &i in indices {
        let mut pair = data.pair(split, i)?;
        ensure!(
            pair.mel.len() == frames * mels && pair.image.len() == n * d,
            "{split:?} pair {i}: expected a {frames}x{mels} mel window and {n}x{d} image tokens, \
             found {} and {} values",
            pair.mel.len(),
            pair.image.len()
        );
        change(i, &mut pair.mel);
        mel.extend(pair.mel);
        image.extend(pair.image);
    }
    let b = indices.len();
    Ok((
        Tensor::from_data(TensorData::new(mel, vec![b, frames, mels]), device),
        Tensor::from_data(TensorData::new(image, vec![b, n, d]), device),
    ))
}

/// The mel windows (of `frontend`'s size) and image tokens of the pairs `indices`, unchanged.
pub(crate) fn batch_tensors<B: Backend>(
    data: &dyn Pairs,
    split: Split,
    indices: &[usize],
    frontend: &FrontendConfig,
    device: &B::Device,
) -> Result<(Tensor<B, 3>, Tensor<B, 3>)> {
    changed_batch(data, split, indices, frontend, &|_, _| {}, device)
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_scalar().elem::<f64>()
}

/// The mean validation loss of `encoder` on the `val` split (uniform marginals for `ot-att`,
/// as the paper validates).
pub fn validate<B: Backend>(
    encoder: &AudioEncoder<B>,
    weights: &Weights,
    config: &AlignConfig,
    data: &dyn Pairs,
    split: Split,
    device: &B::Device,
) -> Result<f64> {
    let c = &weights.config;
    let solver = config.solver.solver();
    mean_loss(
        data.len(split),
        config.optim.batch_size,
        &format!("{split:?} pairs"),
        |chunk| {
            let (mel, image) = batch_tensors::<B>(data, split, chunk, &c.frontend, device)?;
            let a = encoder.tokens(mel, c);
            let loss = match config.loss {
                AlignLoss::Mmd => losses::mmd(a, image).mean(),
                AlignLoss::Ot | AlignLoss::OtAtt => losses::ot(a, image, &solver).mean(),
                // A lone last pair has no negatives: it weighs nothing.
                AlignLoss::Contrastive if chunk.len() == 1 => return Ok((0.0, 0.0)),
                AlignLoss::Contrastive => losses::info_nce(a, image, losses::INFO_NCE_TEMPERATURE),
            };
            Ok((scalar(loss), chunk.len() as f64))
        },
    )
}

/// The training loss of a batch of audio tokens `a` and image tokens, and its parts for the
/// log.
fn batch_loss<B: AutodiffBackend>(
    config: &AlignConfig,
    scorers: Option<&Scorers<B>>,
    a: Tensor<B, 3>,
    image: Tensor<B, 3>,
    entropy_weight: f64,
) -> (Tensor<B, 1>, LossParts) {
    let solver = config.solver.solver();
    let mut parts = LossParts::new();
    let loss = match (config.loss, scorers, &config.attentive) {
        (AlignLoss::OtAtt, Some(scorers), Some(att)) => {
            // The scorers see detached audio tokens: the backbone learns from the transport
            // cost alone, the scorers from OT minus the entropy bonus.
            let marginals: Marginals<B> =
                scorers.marginals(a.clone().detach(), image.clone(), att.temperature);
            let ot = losses::attentive_ot(a, image, &marginals, &solver).mean();
            let entropy = marginals.entropy().mean();
            parts.insert("ot".into(), scalar(ot.clone().detach()).into());
            parts.insert("entropy".into(), scalar(entropy.clone().detach()).into());
            ot - entropy.mul_scalar(entropy_weight)
        }
        (AlignLoss::Mmd, _, _) => losses::mmd(a, image).mean(),
        (AlignLoss::Contrastive, _, _) => losses::info_nce(a, image, losses::INFO_NCE_TEMPERATURE),
        // Plain OT, and attentive OT before its scorers exist (validation's uniform marginals).
        (AlignLoss::Ot | AlignLoss::OtAtt, _, _) => losses::ot(a, image, &solver).mean(),
    };
    (loss, parts)
}

/// Stage 1b's state between steps.
struct AlignStage<'a, B: AutodiffBackend> {
    config: &'a AlignConfig,
    start: &'a Weights,
    data: &'a dyn Pairs,
    device: B::Device,
    encoder: Trainable<AudioEncoder<B>, B>,
    /// Rides along unchanged, so that the checkpoints hold the whole captioner.
    decoder: TextDecoder<B>,
    scorers: Option<Trainable<Scorers<B>, B>>,
}

impl<B: AutodiffBackend> Stage for AlignStage<'_, B> {
    fn train_len(&self) -> usize {
        self.data.len(Split::Train)
    }

    fn step(&mut self, epoch: usize, lr: f64, indices: &[usize]) -> Result<(f64, LossParts)> {
        let c = &self.start.config;
        let (augment, seed) = (&self.config.augment, self.config.optim.seed);
        let (mel, image) = changed_batch::<B>(
            self.data,
            Split::Train,
            indices,
            &c.frontend,
            &|clip, mel| augment.apply(mel, &c.frontend, seed, epoch, clip),
            &self.device,
        )?;
        let entropy_weight = self.config.attentive.as_ref().map_or(0.0, |att| {
            att.entropy_weights[(epoch - 1).min(att.entropy_weights.len() - 1)]
        });
        let a = self.encoder.module.tokens(mel, c);
        let scorers = self.scorers.as_ref().map(|s| &s.module);
        let (loss, parts) = batch_loss(self.config, scorers, a, image, entropy_weight);
        let value = scalar(loss.clone().detach());
        let mut grads = loss.backward();
        self.encoder.step_with(&mut grads, lr);
        if let (Some(scorers), Some(att)) = (&mut self.scorers, &self.config.attentive) {
            // A zero entropy weight freezes the scorers, as the paper's first epoch.
            if entropy_weight > 0.0 {
                scorers.step_with(&mut grads, att.lr);
            }
        }
        Ok((value, parts))
    }

    fn validate(&self) -> Result<f64> {
        validate(
            &self.encoder.module.valid(),
            self.start,
            self.config,
            self.data,
            Split::Val,
            &self.device,
        )
    }

    fn save_weights(&self, dir: &Path) -> Result<()> {
        let (encoder, decoder) = (&self.encoder.module, &self.decoder);
        let c = &self.start.config;
        save_captioner(dir, encoder, decoder, c, self.data.image_encoder())
    }

    fn save_records(&self, dir: &Path) -> Result<()> {
        self.encoder.save(dir)?;
        if let Some(scorers) = &self.scorers {
            scorers.save(dir)?;
        }
        Ok(())
    }

    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.encoder.load(checkpoint, &self.device)?;
        if let Some(scorers) = &mut self.scorers {
            scorers.load(checkpoint, &self.device)?;
        }
        Ok(())
    }
}

/// Trains the audio encoder and projector of `start` (the captioner's decoder rides along
/// unchanged) and writes checkpoints under `run.out`.
pub fn align<B: AutodiffBackend>(
    config: &AlignConfig,
    start: &Weights,
    data: &dyn Pairs,
    run: &Run,
    device: &B::Device,
) -> Result<Report> {
    config.validate()?;
    let c = &start.config;
    config.augment.validate(&c.frontend)?;
    let (n_image, d_image) = data.image_shape();
    ensure!(
        c.decoder.dim == d_image,
        "the audio projector puts out tokens of {} values (decoder.dim of the model config) but \
         the captioner's image tokens have {d_image}: align needs the same token space",
        c.decoder.dim
    );
    ensure!(n_image > 0, "the image tokens are empty");
    let scorers = match (&config.attentive, config.loss) {
        (Some(att), AlignLoss::OtAtt) => {
            let scorers = Scorers::<B>::new(d_image, att.heads, config.optim.seed, device);
            Some(Trainable::new("scorers", scorers, &config.optim))
        }
        _ => None,
    };
    let captioner = Captioner::<B>::from_weights(start, device);
    let mut stage = AlignStage {
        config,
        start,
        data,
        device: device.clone(),
        encoder: Trainable::new("encoder", captioner.encoder, &config.optim),
        decoder: captioner.decoder,
        scorers,
    };
    let fingerprint = super::fingerprint(&("align", config, c))?;
    run_stage(&mut stage, "align", &config.optim, &fingerprint, run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::params_without_grad;
    use crate::train::stage_parts::{tiny_captioner, Grad};
    use crate::train::AdamOf;
    use burn::optim::{GradientsParams, Optimizer};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn every_loss_reaches_every_trainable_parameter() {
        let device = Default::default();
        for loss in [
            AlignLoss::Mmd,
            AlignLoss::Ot,
            AlignLoss::OtAtt,
            AlignLoss::Contrastive,
        ] {
            let config = AlignConfig {
                loss,
                optim: Optim {
                    seed: 1,
                    epochs: 1,
                    batch_size: 3,
                    lr: 1e-3,
                    betas: [0.9, 0.999],
                    weight_decay: 0.0,
                    halve_lr_at: vec![],
                },
                solver: SolverConfig::Sinkhorn {
                    epsilon: 0.1,
                    iterations: 30,
                },
                attentive: Some(AttentiveConfig {
                    heads: 2,
                    temperature: 1.0,
                    lr: 1e-3,
                    entropy_weights: vec![1.0],
                }),
                augment: Default::default(),
            };
            let (c, captioner) = tiny_captioner();
            let (frames, mels, dim) = (c.frontend.clip_frames, c.frontend.n_mels, c.decoder.dim);
            let scorers = Scorers::<Grad>::new(dim, 2, 2, &device);
            let mel = Tensor::<Grad, 3>::random(
                [3, frames, mels],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let image = Tensor::<Grad, 3>::random(
                [3, 5, dim],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let a = captioner.encoder.tokens(mel, &c);
            let (value, _) = batch_loss(&config, Some(&scorers), a, image, 1.0);
            let grads = value.backward();
            let missing = params_without_grad(&captioner.encoder, &grads);
            assert!(
                missing.is_empty(),
                "{loss:?}: no gradient reaches {missing:?}"
            );
            if loss == AlignLoss::OtAtt {
                let missing = params_without_grad(&scorers, &grads);
                assert!(
                    missing.is_empty(),
                    "scorers: no gradient reaches {missing:?}"
                );
            }
        }
    }

    /// The mini recipe's scorer settings must let the masses move at the scale of its tokens
    /// (256 values, transport costs near 100): at the paper's temperature and entropy weights,
    /// made for 1024-value tokens, every scene's masses stayed uniform to six digits.
    #[test]
    fn the_mini_recipe_scorers_take_mass_off_audio_tokens_the_picture_lacks() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/mini/align.json");
        let config = AlignConfig::read(&path)
            .unwrap()
            .with_loss(AlignLoss::OtAtt);
        let att = config.attentive.clone().unwrap();
        let weight = *att.entropy_weights.last().unwrap();
        let (pairs, audio, image, dim) = (2, 32, 16, 256);
        let device = Default::default();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut normal = |scale: f32| Normal::new(0.0, scale).unwrap().sample(&mut rng);
        // Random tokens in 256 values at this scale lie about 100 apart, as the recipe's do.
        let scale = 0.45;
        let v: Vec<f32> = (0..pairs * image * dim).map(|_| normal(scale)).collect();
        // The first half of each clip's audio tokens are near its image tokens; the second
        // half match nothing in the picture.
        let a: Vec<f32> = (0..pairs * audio * dim)
            .map(|i| {
                let (p, t, d) = (i / (audio * dim), i / dim % audio, i % dim);
                if t < audio / 2 {
                    v[(p * image + t % image) * dim + d] + normal(0.1 * scale)
                } else {
                    normal(scale)
                }
            })
            .collect();
        let tensor = |x: &[f32], n| {
            Tensor::<Grad, 3>::from_data(TensorData::new(x.to_vec(), vec![pairs, n, dim]), &device)
        };
        let (a, v) = (tensor(&a, audio), tensor(&v, image));
        let mut scorers = Scorers::<Grad>::new(dim, att.heads, 1, &device);
        let mut opt: AdamOf<Scorers<Grad>, Grad> = config.optim.adam().init();
        let unmatched_mass = |m: &Marginals<Grad>| {
            let mu: Vec<f32> = m.audio.clone().into_data().into_vec().unwrap();
            mu.chunks(audio)
                .map(|c| c[audio / 2..].iter().sum::<f32>())
                .sum::<f32>()
                / pairs as f32
        };
        let before = unmatched_mass(&scorers.marginals(a.clone(), v.clone(), att.temperature));
        for _ in 0..30 {
            let (loss, _) = batch_loss(&config, Some(&scorers), a.clone(), v.clone(), weight);
            let mut grads = loss.backward();
            let grads = GradientsParams::from_module(&mut grads, &scorers);
            scorers = opt.step(att.lr, scorers, grads);
        }
        let after = unmatched_mass(&scorers.marginals(a, v, att.temperature));
        assert!((before - 0.5).abs() < 0.02, "{before}");
        assert!(
            after < 0.4,
            "the unmatched half of the audio tokens still carries {after} of the mass"
        );
    }

    #[test]
    fn augment_off_leaves_the_fingerprint_as_it_was() {
        let old = r#"{"loss":"contrastive","optim":{"seed":1,"epochs":3,"batch_size":16,"lr":0.0003,"betas":[0.95,0.999],"weight_decay":5e-7,"halve_lr_at":[]},"solver":{"kind":"sinkhorn","epsilon":0.05,"iterations":100},"attentive":null}"#;
        let config: AlignConfig = serde_json::from_str(old).unwrap();
        assert!(config.augment.is_off());
        assert_eq!(serde_json::to_string(&config).unwrap(), old);
        let on = AlignConfig {
            augment: Augment {
                shift: true,
                ..Augment::default()
            },
            ..config
        };
        let json = serde_json::to_string(&on).unwrap();
        assert!(
            json.contains(r#""augment":{"gain_db":0.0,"shift":true"#),
            "{json}"
        );
    }
}
