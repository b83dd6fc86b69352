//! Teacher distillation (issue 34): the project's audio backbone learns to give a pretrained
//! tagger's answers. Each step draws fresh mixtures of recorded audio ([`super::mixtures`]);
//! the teacher, on worker threads, scores each at its own rate, and the student hears the same
//! mixture through the project's own frontend at the model's rate, with a tag head (one linear
//! layer over the mean plus the max of the backbone's tokens) trained with binary cross-entropy
//! against the teacher's sigmoid scores.
//!
//! `best/` is chosen by the loss on fixed validation mixtures drawn from held-out clips. After
//! every epoch the stage also logs the student's top-class agreement with the teacher on them,
//! and its zero-shot accuracy on ESC-10's test fold through the teacher's label map, with its
//! agreement there: the test fold is reported, never chosen on.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use burn::module::{AutodiffModule, Module};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use earsight::config::FrontendConfig;
use earsight::frontend::LogMel;
use earsight::ModelConfig;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::augment::Augment;
use super::mixtures::{esc_metadata, Clips, MixtureConfig, Pool, Sources};
use super::stage_parts::{save_captioner, LossParts, Trainable};
use super::{run_stage, save_with_image, Checkpoint, Optim, Recipe, Report, Run, Stage};
use crate::data::esc_fold;
use crate::model::image::ImageWeights;
use crate::model::weights::{write_safetensors, Array, Weights};
use crate::model::{to_array, AudioEncoder, Captioner, TextDecoder};
pub use crate::teacher::conv_net::TAG_HEAD_FILE;
use crate::teacher::conv_net::{
    ConvBackbone, ConvConfig, ConvStudent, CONV_BACKBONE_FILE, CONV_CONFIG_FILE,
};
use crate::teacher::zero_shot::LabelMap;
use crate::teacher::Teacher;
use crate::train::losses::SeededInit;

/// A distillation recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeachConfig {
    pub optim: Optim,
    /// Optimiser steps per epoch: an epoch is this many batches of fresh mixtures, then
    /// validation.
    pub steps_per_epoch: usize,
    pub sources: Sources,
    pub mixture: MixtureConfig,
    /// Fixed mixtures of the validation clips that choose `best/`.
    pub val_mixtures: usize,
    /// Changes to the student's log-mel windows (not the teacher's input); left out when off.
    #[serde(default, skip_serializing_if = "Augment::is_off")]
    pub augment: Augment,
    /// A convolutional backbone to distil into, in place of the model's own (ViT) encoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student: Option<ConvConfig>,
}

impl Recipe for TeachConfig {
    const WHAT: &'static str = "teacher distillation config";

    fn validate(&self) -> Result<()> {
        self.optim.validate()?;
        self.sources.validate()?;
        self.mixture.validate()?;
        ensure!(
            self.steps_per_epoch > 0,
            "steps_per_epoch must be at least 1"
        );
        ensure!(self.val_mixtures > 0, "val_mixtures must be at least 1");
        Ok(())
    }
}

/// A linear layer over the pooled backbone tokens: one logit per teacher class.
#[derive(Module, Debug)]
pub struct TagHead<B: Backend> {
    linear: Linear<B>,
}

impl<B: Backend> TagHead<B> {
    pub fn new(dim: usize, classes: usize, seed: u64, device: &B::Device) -> TagHead<B> {
        TagHead {
            linear: LinearConfig::new(dim, classes).init(device),
        }
        .map(&mut SeededInit(ChaCha8Rng::seed_from_u64(seed)))
    }

    /// `features [b, tokens, dim]` -> logits `[b, classes]`. The mean keeps what lasts, the
    /// max what is brief (a knock in ten seconds of room tone).
    pub fn forward(&self, features: Tensor<B, 3>) -> Tensor<B, 2> {
        let [b, _, d] = features.dims();
        let pooled = features.clone().mean_dim(1) + features.max_dim(1);
        self.linear.forward(pooled.reshape([b, d]))
    }

    /// The head's tensors: `tag_head.weight [dim, classes]`, `tag_head.bias [classes]`.
    pub fn to_arrays(&self) -> BTreeMap<String, Array> {
        let mut tensors = BTreeMap::new();
        tensors.insert("tag_head.weight".into(), to_array(&self.linear.weight));
        if let Some(bias) = &self.linear.bias {
            tensors.insert("tag_head.bias".into(), to_array(bias));
        }
        tensors
    }

    /// Writes the head as `dir/`[`TAG_HEAD_FILE`], the form the exporter reads.
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_safetensors(&dir.join(TAG_HEAD_FILE), &self.to_arrays())
    }
}

/// The backbone a student distils into.
// One per stage: the variants' sizes do not matter, and burn's Module derive takes no Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone<B: Backend> {
    /// The model's own audio encoder, trained in place.
    Vit(AudioEncoder<B>),
    /// A convolutional backbone of its own ([`ConvBackbone`]).
    Conv(ConvBackbone<B>),
}

/// The student: an audio backbone and the tag head.
#[derive(Module, Debug)]
pub struct Student<B: Backend> {
    pub backbone: Backbone<B>,
    pub head: TagHead<B>,
}

impl<B: Backend> Student<B> {
    /// `mel [b, frames, mels]` -> logits `[b, classes]`.
    pub fn forward(&self, mel: Tensor<B, 3>, c: &ModelConfig) -> Tensor<B, 2> {
        let features = match &self.backbone {
            Backbone::Vit(encoder) => encoder.features(mel, c),
            Backbone::Conv(net) => net.forward(mel),
        };
        self.head.forward(features)
    }
}

/// Binary cross-entropy of `logits` against probabilities `targets`, in the stable form
/// `max(x, 0) - x t + ln(1 + e^-|x|)`, averaged over everything.
pub fn bce_with_logits<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
    let softplus = logits.clone().abs().neg().exp().log1p();
    (logits.clone().clamp_min(0.0) - logits * targets + softplus).mean()
}

/// The same loss on the host, for validation.
fn bce(logits: &[f32], targets: &[f32]) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(targets)
        .map(|(&x, &t)| {
            let x = x as f64;
            x.max(0.0) - x * t as f64 + (-x.abs()).exp().ln_1p()
        })
        .sum();
    total / logits.len() as f64
}

fn argmax(values: &[f32]) -> usize {
    (0..values.len()).fold(0, |best, i| if values[i] > values[best] { i } else { best })
}

fn sigmoid(logits: &[f32]) -> Vec<f32> {
    logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect()
}

/// Inputs with what the teacher says about them.
#[derive(Default)]
struct Labelled {
    /// The student's windows, `clip_frames * n_mels` values each.
    mels: Vec<Vec<f32>>,
    /// The teacher's scores.
    scores: Vec<Vec<f32>>,
    /// Mean milliseconds per example of the teacher (frontend and graph).
    teacher_ms: f64,
}

/// What a worker needs to label mixtures.
struct Labeller<'a> {
    teacher: &'a Teacher,
    mixture: &'a MixtureConfig,
    pool: &'a Pool,
    /// The student's frontend.
    frontend: &'a FrontendConfig,
    threads: usize,
}

impl Labeller<'_> {
    /// The student's window of audio at the teacher's rate, through the runtime's resampler
    /// and frontend.
    fn window(&self, mel: &mut LogMel, samples: &[f32]) -> Result<Vec<f32>> {
        let samples = earsight::audio::MonoResampler::resample_all(
            samples,
            self.pool.rate,
            self.frontend.sample_rate,
        )?;
        Ok(mel.window(&samples))
    }

    /// Draws the mixtures of `seeds` from `clips`, on worker threads, and labels them;
    /// `augment` changes the student's windows (drawn from the same seed).
    fn label(&self, clips: &Clips, seeds: &[u64], augment: &Augment) -> Result<Labelled> {
        let len = self.mixture.samples(self.pool.rate);
        let per_thread = seeds.len().div_ceil(self.threads.max(1)).max(1);
        let parts = std::thread::scope(|scope| {
            let workers: Vec<_> = seeds
                .chunks(per_thread)
                .map(|chunk| {
                    scope.spawn(move || -> Result<(Labelled, f64)> {
                        let mut mel = LogMel::new(self.frontend);
                        let mut out = Labelled::default();
                        let mut teacher_s = 0.0;
                        for &seed in chunk {
                            let mut rng = ChaCha8Rng::seed_from_u64(seed);
                            let mix =
                                self.mixture
                                    .draw(clips, &self.pool.backgrounds, len, &mut rng);
                            let began = Instant::now();
                            out.scores.push(self.teacher.clip(&mix)?.scores);
                            teacher_s += began.elapsed().as_secs_f64();
                            let mut window = self.window(&mut mel, &mix)?;
                            augment.apply(&mut window, self.frontend, seed, 0, 0);
                            out.mels.push(window);
                        }
                        Ok((out, teacher_s))
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .map_err(|_| anyhow::anyhow!("a labelling thread panicked"))?
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let mut all = Labelled::default();
        let mut teacher_s = 0.0;
        for (part, seconds) in parts {
            all.mels.extend(part.mels);
            all.scores.extend(part.scores);
            teacher_s += seconds;
        }
        all.teacher_ms = 1e3 * teacher_s / seeds.len().max(1) as f64;
        Ok(all)
    }
}

/// The seed of training example `index` of `epoch`, the same on every run and resume.
fn example_seed(seed: u64, epoch: usize, index: usize) -> u64 {
    seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (index as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
}

/// The seed of validation mixture `index`: its own stream, apart from every epoch's.
fn val_seed(seed: u64, index: usize) -> u64 {
    example_seed(seed ^ 0xD6E8_FEB8_6659_FD93, 0, index)
}

/// ESC-10's test fold as the student and the teacher hear it.
struct TestFold {
    fold: u32,
    /// The student's window of each clip, read as the runtime reads a file.
    mels: Vec<Vec<f32>>,
    /// The index of each clip's label in the label map.
    labels: Vec<usize>,
    /// The teacher's scores of each whole clip.
    scores: Vec<Vec<f32>>,
    teacher_accuracy: f64,
}

impl TestFold {
    fn load(
        metadata: &Path,
        fold: u32,
        teacher: &Teacher,
        map: &LabelMap,
        frontend: &FrontendConfig,
    ) -> Result<TestFold> {
        let clips = esc_fold(metadata, fold).context("sources.test_fold")?;
        let mut mel = LogMel::new(frontend);
        let mut fold_clips = TestFold {
            fold,
            mels: Vec::new(),
            labels: Vec::new(),
            scores: Vec::new(),
            teacher_accuracy: 0.0,
        };
        let mut correct = 0;
        for clip in &clips {
            let label = &clip.labels[0];
            let Some(truth) = map.position(label) else {
                bail!(
                    "{}: label {label:?} of {} is not in the label map",
                    metadata.display(),
                    clip.id
                );
            };
            let samples = earsight::audio::read_all(&clip.audio, frontend.sample_rate)
                .with_context(|| format!("{}: cannot decode it", clip.audio.display()))?;
            let scores = teacher.file(&clip.audio)?.scores;
            if map.predict(&scores) == truth {
                correct += 1;
            }
            fold_clips.mels.push(mel.window(&samples));
            fold_clips.labels.push(truth);
            fold_clips.scores.push(scores);
        }
        fold_clips.teacher_accuracy = correct as f64 / clips.len() as f64;
        Ok(fold_clips)
    }
}

struct TeachStage<'a, B: AutodiffBackend> {
    config: &'a TeachConfig,
    start: &'a Weights,
    image: Option<&'a ImageWeights>,
    map: &'a LabelMap,
    labeller: Labeller<'a>,
    val: Labelled,
    test: TestFold,
    device: B::Device,
    student: Trainable<Student<B>, B>,
    /// Carried along unchanged, so that a ViT student's checkpoints hold the whole captioner.
    decoder: TextDecoder<B>,
}

impl<B: AutodiffBackend> TeachStage<'_, B> {
    fn mel_batch<C: Backend>(&self, mels: &[Vec<f32>], device: &C::Device) -> Tensor<C, 3> {
        let f = self.labeller.frontend;
        let values: Vec<f32> = mels.iter().flatten().copied().collect();
        Tensor::from_data(
            TensorData::new(values, [mels.len(), f.clip_frames, f.n_mels]),
            device,
        )
    }

    /// The student's logits of `mels`, a batch at a time, without gradients.
    fn logits(&self, mels: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let student = self.student.module.valid();
        let mut out = Vec::with_capacity(mels.len());
        for chunk in mels.chunks(self.config.optim.batch_size) {
            let logits = student.forward(
                self.mel_batch::<B::InnerBackend>(chunk, &self.device),
                &self.start.config,
            );
            let [b, classes] = logits.dims();
            let values = crate::model::values(logits);
            out.extend((0..b).map(|i| values[i * classes..(i + 1) * classes].to_vec()));
        }
        out
    }
}

/// The share of `student` logits whose best class is the teacher's.
fn agreement(student: &[Vec<f32>], teacher: &[Vec<f32>]) -> f64 {
    let same = student
        .iter()
        .zip(teacher)
        .filter(|(s, t)| argmax(s) == argmax(t))
        .count();
    same as f64 / student.len().max(1) as f64
}

impl<B: AutodiffBackend> Stage for TeachStage<'_, B> {
    fn train_len(&self) -> usize {
        self.config.steps_per_epoch * self.config.optim.batch_size
    }

    fn step(&mut self, epoch: usize, lr: f64, indices: &[usize]) -> Result<(f64, LossParts)> {
        let began = Instant::now();
        let seeds: Vec<u64> = indices
            .iter()
            .map(|&i| example_seed(self.config.optim.seed, epoch, i))
            .collect();
        let batch = self
            .labeller
            .label(&self.labeller.pool.train, &seeds, &self.config.augment)?;
        let labelled_s = began.elapsed().as_secs_f64();
        let classes = self.labeller.teacher.classes().len();
        let targets: Vec<f32> = batch.scores.iter().flatten().copied().collect();
        let targets = Tensor::<B, 2>::from_data(
            TensorData::new(targets, [indices.len(), classes]),
            &self.device,
        );
        let mel = self.mel_batch::<B>(&batch.mels, &self.device);
        let logits = self.student.module.forward(mel, &self.start.config);
        let value = self.student.step(bce_with_logits(logits, targets), lr);
        let mut parts = LossParts::new();
        parts.insert("teacher_ms".into(), batch.teacher_ms.into());
        parts.insert("label_ms".into(), (1e3 * labelled_s).into());
        parts.insert(
            "student_ms".into(),
            (1e3 * (began.elapsed().as_secs_f64() - labelled_s)).into(),
        );
        Ok((value, parts))
    }

    fn validate(&self) -> Result<f64> {
        let logits = self.logits(&self.val.mels);
        let total: f64 = logits
            .iter()
            .zip(&self.val.scores)
            .map(|(l, t)| bce(l, t))
            .sum();
        Ok(total / logits.len() as f64)
    }

    fn epoch_metrics(&self) -> Result<Map<String, Value>> {
        let val = self.logits(&self.val.mels);
        let test = self.logits(&self.test.mels);
        let correct = test
            .iter()
            .zip(&self.test.labels)
            .filter(|(l, &truth)| self.map.predict(&sigmoid(l)) == truth)
            .count();
        let mut m = Map::new();
        m.insert(
            "val_agreement".into(),
            agreement(&val, &self.val.scores).into(),
        );
        m.insert("test_fold".into(), self.test.fold.into());
        m.insert(
            "test_accuracy".into(),
            (correct as f64 / test.len() as f64).into(),
        );
        m.insert(
            "test_agreement".into(),
            agreement(&test, &self.test.scores).into(),
        );
        m.insert(
            "teacher_test_accuracy".into(),
            self.test.teacher_accuracy.into(),
        );
        Ok(m)
    }

    fn save_weights(&self, dir: &Path) -> Result<()> {
        match &self.student.module.backbone {
            Backbone::Vit(encoder) => {
                save_captioner(dir, encoder, &self.decoder, &self.start.config, self.image)?;
            }
            Backbone::Conv(net) => {
                write_safetensors(&dir.join(CONV_BACKBONE_FILE), &net.to_arrays())?;
                let shape = ConvStudent {
                    backbone: net.config.clone(),
                    frontend: self.labeller.frontend.clone(),
                };
                std::fs::write(
                    dir.join(CONV_CONFIG_FILE),
                    serde_json::to_string_pretty(&shape)?,
                )
                .with_context(|| format!("writing {}", dir.join(CONV_CONFIG_FILE).display()))?;
                // The captioner is untouched: its starting weights are what it is.
                save_with_image(dir, self.start, self.image)?;
            }
        }
        self.student.module.head.save(dir)
    }

    fn save_records(&self, dir: &Path) -> Result<()> {
        self.student.save(dir)
    }

    fn load_records(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.student.load(checkpoint, &self.device)
    }
}

/// What the stage reads besides its recipe and starting checkpoint.
pub struct TeachInputs<'a> {
    pub teacher: &'a Teacher,
    /// The teacher's classes mapped to ESC-10's labels, for the test fold.
    pub map: &'a LabelMap,
    /// The directory the recipe's sources are in.
    pub data: &'a Path,
    /// Threads that decode clips and label mixtures.
    pub threads: usize,
}

/// Distils `inputs.teacher` into the audio backbone of `start` with a new tag head, on fresh
/// mixtures of the sources under `inputs.data`; the rest of the captioner rides along
/// unchanged, and `image` is kept in the checkpoints for the stages after.
pub fn teach<B: AutodiffBackend>(
    config: &TeachConfig,
    start: &Weights,
    image: Option<&ImageWeights>,
    inputs: &TeachInputs,
    run: &Run,
    device: &B::Device,
) -> Result<Report> {
    config.validate()?;
    let c = &start.config;
    ensure!(
        config.student.is_some() || c.encoder.conv.is_none(),
        "this model's audio backbone is convolutional (encoder.conv) and stays frozen: give the \
         teach recipe a \"student\" to distil into instead"
    );
    let mut frontend = c.frontend.clone();
    if let Some(student) = &config.student {
        student.validate(frontend.n_mels)?;
        frontend.clip_frames = student.clip_frames;
    }
    config.augment.validate(&frontend)?;
    inputs.map.check(inputs.teacher)?;
    let pool = Pool::load(
        inputs.data,
        &config.sources,
        inputs.teacher.sample_rate(),
        inputs.threads,
    )?;
    let test = TestFold::load(
        &esc_metadata(inputs.data, &config.sources),
        config.sources.test_fold,
        inputs.teacher,
        inputs.map,
        &frontend,
    )?;
    let labeller = Labeller {
        teacher: inputs.teacher,
        mixture: &config.mixture,
        pool: &pool,
        frontend: &frontend,
        threads: inputs.threads,
    };
    let val_seeds: Vec<u64> = (0..config.val_mixtures)
        .map(|i| val_seed(config.optim.seed, i))
        .collect();
    let val = labeller.label(&pool.val, &val_seeds, &Augment::default())?;
    let captioner = Captioner::<B>::from_weights(start, device);
    let classes = inputs.teacher.classes().len();
    let (backbone, dim) = match &config.student {
        None => (Backbone::Vit(captioner.encoder), c.encoder.dim),
        Some(student) => (
            Backbone::Conv(ConvBackbone::new(student, config.optim.seed, device)),
            student.dim(),
        ),
    };
    let student = Student {
        backbone,
        head: TagHead::new(dim, classes, config.optim.seed, device),
    };
    let mut stage = TeachStage {
        config,
        start,
        image,
        map: inputs.map,
        labeller,
        val,
        test,
        device: device.clone(),
        student: Trainable::new("student", student, &config.optim),
        decoder: captioner.decoder.no_grad(),
    };
    let graph = inputs
        .teacher
        .graph_path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let fingerprint = super::fingerprint(&("teach", config, c, graph, classes))?;
    run_stage(&mut stage, "teach", &config.optim, &fingerprint, run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_loss_is_the_graph_loss() {
        let logits = [2.0f32, -1.0, 0.0, 30.0];
        let targets = [0.9f32, 0.1, 0.5, 0.0];
        let device = Default::default();
        let graph = bce_with_logits(
            Tensor::<crate::model::reference::Cpu, 2>::from_data(
                TensorData::new(logits.to_vec(), [2, 2]),
                &device,
            ),
            Tensor::from_data(TensorData::new(targets.to_vec(), [2, 2]), &device),
        )
        .into_scalar();
        assert!((graph as f64 - bce(&logits, &targets)).abs() < 1e-5);
        assert!((bce(&[30.0], &[0.0]) - 30.0).abs() < 1e-9);
    }
}
