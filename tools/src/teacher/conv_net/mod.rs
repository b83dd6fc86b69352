//! The convolutional audio backbone: blocks of 3x3 convolution, batch norm, ReLU and 2x2
//! max-pooling over a log-mel window, the first (the stem) with stride 2, read out as one token per time step
//! (the mean over frequency). A CNN shares its weights over time and frequency, which is what
//! lets a small student learn a teacher's tags from few recordings (issue 34); the ViT backbone
//! learns none of that from its patches.
//!
//! Windows are `[batch, frames, mels]`, held as one-channel images with time as height and
//! frequency as width, so that no transpose sits between the frontend and the first layer.

use std::collections::BTreeMap;

use anyhow::{ensure, Result};
use burn::module::{Module, ModuleMapper, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

pub mod backbone;
pub mod graph;
pub mod tagger;

use std::path::Path;

use anyhow::Context;
use earsight::config::FrontendConfig;

use crate::model::weights::{read_safetensors, Array};
use crate::model::{redrawn, to_array, values};

/// Bounds on a [`ConvConfig`], so that a mistyped recipe is refused rather than allocated.
const MAX_BLOCKS: usize = 8;
const MAX_CHANNELS: usize = 2048;
const MAX_CLIP_FRAMES: usize = 6000;

/// The shape of a [`ConvBackbone`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvConfig {
    /// Frames in one window: the student's windows are cut or repeated to this length (the
    /// ViT's come from the model's frontend instead).
    pub clip_frames: usize,
    /// Channels of the stem, a 3x3 convolution with stride 2 along time and frequency; with
    /// its pooling it brings time and frequency to a quarter.
    pub stem: usize,
    /// Channels of each block after the stem; each block halves time and frequency.
    pub channels: Vec<usize>,
    /// How each block halves time and frequency.
    #[serde(default, skip_serializing_if = "is_pool")]
    pub downsample: Downsample,
}

/// How the backbone's blocks shrink time and frequency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Downsample {
    /// 2x2 max-pooling after each block (the stem has stride 2 as well, so it quarters).
    #[default]
    Pool,
    /// Stride 2 in every convolution, no pooling: tract runs max-pooling slowly.
    Stride,
}

fn is_pool(d: &Downsample) -> bool {
    *d == Downsample::Pool
}

impl ConvConfig {
    pub fn validate(&self, n_mels: usize) -> Result<()> {
        ensure!(
            (1..=MAX_CHANNELS).contains(&self.stem),
            "student.stem must be 1 to {MAX_CHANNELS} channels, found {}",
            self.stem
        );
        ensure!(
            (1..=MAX_BLOCKS).contains(&self.channels.len())
                && self.channels.iter().all(|c| (1..=MAX_CHANNELS).contains(c)),
            "student.channels must list 1 to {MAX_BLOCKS} blocks of 1 to {MAX_CHANNELS} \
             channels each, found {:?}",
            self.channels
        );
        ensure!(
            self.clip_frames <= MAX_CLIP_FRAMES,
            "student.clip_frames must be at most {MAX_CLIP_FRAMES} (60 s at a 10 ms hop), found {}",
            self.clip_frames
        );
        let shrink = self.shrink();
        ensure!(
            self.clip_frames >= shrink && n_mels >= shrink,
            "student.clip_frames ({}) and the frontend's n_mels ({n_mels}) must each be at \
             least {shrink}, what the stem and {} blocks shrink them by",
            self.clip_frames,
            self.channels.len(),
        );
        Ok(())
    }

    /// By how much the backbone shrinks time (and frequency): one token per this many frames.
    pub fn shrink(&self) -> usize {
        match self.downsample {
            Downsample::Pool => 4 << self.channels.len(),
            Downsample::Stride => 2 << self.channels.len(),
        }
    }

    /// Width of the backbone's tokens.
    pub fn dim(&self) -> usize {
        *self.channels.last().unwrap_or(&self.stem)
    }
}

/// A 3x3 convolution without bias (the batch norm after it has one), then batch norm and ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock<B: Backend> {
    pub conv: Conv2d<B>,
    pub norm: BatchNorm<B>,
}

impl<B: Backend> ConvBlock<B> {
    fn new(input: usize, output: usize, stride: usize, device: &B::Device) -> ConvBlock<B> {
        ConvBlock {
            conv: Conv2dConfig::new([input, output], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(output).init(device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        relu(self.norm.forward(self.conv.forward(x)))
    }
}

/// The backbone: `stem`, then each of `blocks`, each followed by 2x2 max-pooling.
#[derive(Module, Debug)]
pub struct ConvBackbone<B: Backend> {
    pub stem: ConvBlock<B>,
    pub blocks: Vec<ConvBlock<B>>,
    /// The shape it was made with.
    #[module(skip)]
    pub config: ConvConfig,
}

/// He-normal initial kernels from a seed of their own (not burn's process-wide generator);
/// batch norms keep their ones and zeros.
struct HeInit(ChaCha8Rng);

impl<B: Backend> ModuleMapper<B> for HeInit {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if D != 4 {
            return param;
        }
        redrawn(param, |shape| {
            let fan_in: usize = shape[1..].iter().product();
            let normal = Normal::new(0.0f32, (2.0 / fan_in as f32).sqrt()).expect("a finite std");
            (0..shape.iter().product())
                .map(|_| normal.sample(&mut self.0))
                .collect()
        })
    }
}

impl<B: Backend> ConvBackbone<B> {
    pub fn new(config: &ConvConfig, seed: u64, device: &B::Device) -> ConvBackbone<B> {
        let mut input = config.stem;
        let stride = match config.downsample {
            Downsample::Pool => 1,
            Downsample::Stride => 2,
        };
        let blocks = config
            .channels
            .iter()
            .map(|&output| {
                let block = ConvBlock::new(input, output, stride, device);
                input = output;
                block
            })
            .collect();
        ConvBackbone {
            stem: ConvBlock::new(1, config.stem, 2, device),
            blocks,
            config: config.clone(),
        }
        .map(&mut HeInit(ChaCha8Rng::seed_from_u64(seed)))
    }

    /// `mel [b, frames, mels]` -> tokens `[b, frames / shrink, dim]` ([`ConvConfig::shrink`]).
    pub fn forward(&self, mel: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, frames, mels] = mel.dims();
        let pooled = self.config.downsample == Downsample::Pool;
        let pool = |x| {
            if pooled {
                max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false)
            } else {
                x
            }
        };
        let mut x = pool(self.stem.forward(mel.reshape([b, 1, frames, mels])));
        for block in &self.blocks {
            x = pool(block.forward(x));
        }
        let [b, c, t, _] = x.dims();
        x.mean_dim(3).reshape([b, c, t]).swap_dims(1, 2)
    }

    /// Every tensor by name (`stem.conv.weight`, `blocks.0.norm.running_var`, ...), batch norm
    /// statistics included, the form the exporter reads.
    pub fn to_arrays(&self) -> BTreeMap<String, Array> {
        let mut out = BTreeMap::new();
        let blocks = std::iter::once(("stem".to_string(), &self.stem)).chain(
            self.blocks
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("blocks.{i}"), b)),
        );
        for (name, block) in blocks {
            out.insert(format!("{name}.conv.weight"), to_array(&block.conv.weight));
            let norm = &block.norm;
            out.insert(format!("{name}.norm.gamma"), to_array(&norm.gamma));
            out.insert(format!("{name}.norm.beta"), to_array(&norm.beta));
            for (stat, tensor) in [
                ("running_mean", norm.running_mean.value()),
                ("running_var", norm.running_var.value()),
            ] {
                let shape = tensor.dims().to_vec();
                out.insert(
                    format!("{name}.norm.{stat}"),
                    Array {
                        shape,
                        data: values(tensor),
                    },
                );
            }
        }
        out
    }
}

/// The file of a checkpoint that holds the tag head (`tag_head.weight [dim, classes]`,
/// `tag_head.bias [classes]`).
pub const TAG_HEAD_FILE: &str = "tag_head.safetensors";

/// The file of a checkpoint that holds a convolutional student's backbone
/// ([`ConvBackbone::to_arrays`]), beside [`TAG_HEAD_FILE`].
pub const CONV_BACKBONE_FILE: &str = "conv_backbone.safetensors";
/// The file beside [`CONV_BACKBONE_FILE`] that gives its shape ([`ConvStudent`]).
pub const CONV_CONFIG_FILE: &str = "conv_backbone.json";

/// What a checkpoint's convolutional student is: its shape and the frontend it hears through.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvStudent {
    pub backbone: ConvConfig,
    pub frontend: FrontendConfig,
}

/// A convolutional student as a checkpoint holds it.
#[derive(Debug)]
pub struct ConvCheckpoint {
    pub student: ConvStudent,
    /// [`ConvBackbone::to_arrays`].
    pub backbone: BTreeMap<String, Array>,
    /// The tag head's (`tag_head.weight`, `tag_head.bias`).
    pub head: BTreeMap<String, Array>,
}

impl ConvCheckpoint {
    /// Reads the convolutional student of checkpoint `dir`.
    pub fn load(dir: &Path) -> Result<ConvCheckpoint> {
        let path = dir.join(CONV_CONFIG_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {}: is {} a checkpoint of `train teach` with a convolutional student?",
                path.display(),
                dir.display()
            )
        })?;
        let student: ConvStudent = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a student's shape", path.display()))?;
        Ok(ConvCheckpoint {
            student,
            backbone: read_safetensors(&dir.join(CONV_BACKBONE_FILE))?,
            head: read_safetensors(&dir.join(TAG_HEAD_FILE))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reference::Cpu;

    fn config() -> ConvConfig {
        ConvConfig {
            clip_frames: 64,
            stem: 4,
            channels: vec![8, 16],
            downsample: Downsample::Pool,
        }
    }

    #[test]
    fn tokens_are_one_per_time_step_after_four_halvings() {
        let device = Default::default();
        let net = ConvBackbone::<Cpu>::new(&config(), 1, &device);
        let mel = Tensor::<Cpu, 3>::ones([2, 64, 32], &device);
        assert_eq!(net.forward(mel.clone()).dims(), [2, 4, 16]);
        let strided = ConvConfig {
            downsample: Downsample::Stride,
            ..config()
        };
        let net = ConvBackbone::<Cpu>::new(&strided, 1, &device);
        assert_eq!(net.forward(mel).dims(), [2, 8, 16]);
    }

    #[test]
    fn the_same_seed_gives_the_same_kernels_and_another_does_not() {
        let device = Default::default();
        let weight = |seed| {
            values(
                ConvBackbone::<Cpu>::new(&config(), seed, &device).blocks[1]
                    .conv
                    .weight
                    .val(),
            )
        };
        assert_eq!(weight(3), weight(3));
        assert_ne!(weight(3), weight(4));
    }

    #[test]
    fn every_tensor_is_named_with_its_statistics() {
        let arrays = ConvBackbone::<Cpu>::new(&config(), 1, &Default::default()).to_arrays();
        assert_eq!(arrays.len(), 3 * 5);
        assert_eq!(arrays["blocks.0.conv.weight"].shape, [8, 4, 3, 3]);
        assert_eq!(arrays["stem.norm.running_var"].data, vec![1.0; 4]);
    }

    #[test]
    fn windows_too_short_for_the_halvings_are_refused() {
        let short = ConvConfig {
            clip_frames: 8,
            ..config()
        };
        let err = short.validate(64).unwrap_err().to_string();
        assert!(err.contains("student.clip_frames (8)"), "{err}");
        assert!(config().validate(64).is_ok());
        let deep = ConvConfig {
            channels: vec![8; 70],
            ..config()
        };
        let err = deep.validate(64).unwrap_err().to_string();
        assert!(
            err.contains("student.channels must list 1 to 8 blocks"),
            "{err}"
        );
        let long = ConvConfig {
            clip_frames: 1_000_000,
            ..config()
        };
        let err = long.validate(64).unwrap_err().to_string();
        assert!(
            err.contains("student.clip_frames must be at most 6000"),
            "{err}"
        );
    }
}
