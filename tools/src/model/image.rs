//! The captioner's image side: its configuration, its weights on disk and their
//! layout. It never ships to a board; it gives the image tokens the audio encoder is aligned
//! to, and captions pictures for the stages that need the captioner's eyes.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};

use crate::model::weights::{
    blocks, check_slots, dense, init_slots, norm, read_safetensors, write_safetensors, Array, Init,
    Slot, ENCODER_BLOCK,
};

/// Weights file and config file of the image encoder inside a checkpoint directory.
pub const IMAGE_WEIGHTS_FILE: &str = "image.safetensors";
pub const IMAGE_CONFIG_FILE: &str = "image.json";

/// A ViT over square RGB pictures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Side of the square input, in pixels.
    pub image_size: usize,
    /// Side of a square patch.
    pub patch: usize,
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_ratio: usize,
    /// Width of the image tokens: the captioner's token space (the decoder's width).
    pub out_dim: usize,
    /// A learned class token before the patch tokens (BLIP's ViT has one).
    #[serde(default)]
    pub cls_token: bool,
    /// A linear map from `dim` to `out_dim` after the last norm; without it (BLIP, whose
    /// decoder reads the ViT's width) `out_dim` must equal `dim`.
    #[serde(default = "projected")]
    pub project: bool,
}

fn projected() -> bool {
    true
}

impl ImageConfig {
    /// Image tokens per picture.
    pub fn n_tokens(&self) -> usize {
        (self.image_size / self.patch).pow(2) + usize::from(self.cls_token)
    }

    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("image_size", self.image_size),
            ("patch", self.patch),
            ("dim", self.dim),
            ("depth", self.depth),
            ("heads", self.heads),
            ("mlp_ratio", self.mlp_ratio),
            ("out_dim", self.out_dim),
        ] {
            ensure!(v > 0, "image.{name} must be positive");
        }
        ensure!(
            self.image_size.is_multiple_of(self.patch),
            "image.image_size ({}) must be a multiple of image.patch ({})",
            self.image_size,
            self.patch
        );
        ensure!(
            self.project || self.out_dim == self.dim,
            "image.out_dim ({}) must equal image.dim ({}) without a projection",
            self.out_dim,
            self.dim
        );
        ensure!(
            self.dim.is_multiple_of(self.heads),
            "image.dim ({}) must be a multiple of image.heads ({})",
            self.dim,
            self.heads
        );
        Ok(())
    }
}

/// Every tensor of the image encoder, in seeding order.
pub fn image_layout(c: &ImageConfig) -> Vec<Slot> {
    let mut s = Vec::new();
    dense(&mut s, "img.patch", c.patch * c.patch * 3, c.dim);
    if c.cls_token {
        s.push(Slot {
            name: "img.cls".into(),
            shape: vec![c.dim],
            init: Init::Normal(0.02),
        });
    }
    s.push(Slot {
        name: "img.pos".into(),
        shape: vec![c.n_tokens(), c.dim],
        init: Init::Normal(0.1),
    });
    blocks(&mut s, "img", c.depth, c.dim, c.mlp_ratio, ENCODER_BLOCK);
    norm(&mut s, "img.ln", c.dim);
    if c.project {
        dense(&mut s, "img.out", c.dim, c.out_dim);
    }
    s
}

/// The image encoder's config and weights.
#[derive(Clone, Debug)]
pub struct ImageWeights {
    pub config: ImageConfig,
    tensors: BTreeMap<String, Array>,
}

impl ImageWeights {
    /// Seeded random weights.
    pub fn init(config: &ImageConfig, seed: u64) -> Result<ImageWeights> {
        config.validate()?;
        Ok(ImageWeights {
            config: config.clone(),
            tensors: init_slots(image_layout(config), seed)?,
        })
    }

    pub fn from_tensors(
        config: &ImageConfig,
        tensors: BTreeMap<String, Array>,
    ) -> Result<ImageWeights> {
        config.validate()?;
        Ok(ImageWeights {
            config: config.clone(),
            tensors: check_slots(image_layout(config), tensors)?,
        })
    }

    pub fn tensors(&self) -> &BTreeMap<String, Array> {
        &self.tensors
    }

    /// Writes `dir/image.safetensors` and `dir/image.json`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_safetensors(&dir.join(IMAGE_WEIGHTS_FILE), &self.tensors)?;
        let path = dir.join(IMAGE_CONFIG_FILE);
        std::fs::write(&path, serde_json::to_string_pretty(&self.config)? + "\n")
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Reads what [`ImageWeights::save`] wrote.
    pub fn load(dir: &Path) -> Result<ImageWeights> {
        let path = dir.join(IMAGE_CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let config: ImageConfig = serde_json::from_str(&text)
            .with_context(|| format!("{}: not an image encoder config", path.display()))?;
        let weights = dir.join(IMAGE_WEIGHTS_FILE);
        ImageWeights::from_tensors(&config, read_safetensors(&weights)?)
            .with_context(|| format!("{}", weights.display()))
    }
}
