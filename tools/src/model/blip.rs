//! A pretrained BLIP captioner in the Hugging Face layout of
//! `Salesforce/blip-image-captioning-base` (`config.json` + `model.safetensors`), read by a
//! name mapping: its ViT becomes the family's image encoder (with a class token and no
//! projection), its BERT-style text decoder the family's decoder in its post-norm style
//! ([`DecoderStyle::PostNorm`]), so that every stage and the export take it as they take
//! earsight's own. Pictures go in as BLIP's processor makes them (resized to `image_size`,
//! normalised with CLIP's mean and deviation), channels last.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{ensure, Context, Result};
use earsight::config::{DecoderConfig, DecoderStyle};
use earsight::ModelConfig;
use serde::Deserialize;

use crate::model::image::{ImageConfig, ImageWeights};
use crate::model::weights::{init_slots, layout, read_safetensors, Array, Weights};

/// The parts of BLIP's `vision_config` the mapping needs (defaults: transformers' for BLIP).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub layer_norm_eps: f64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            image_size: 384,
            patch_size: 16,
            layer_norm_eps: 1e-5,
        }
    }
}

/// The parts of BLIP's `text_config` the mapping needs (defaults: transformers' for BLIP).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub encoder_hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    pub bos_token_id: u32,
    pub sep_token_id: u32,
    pub pad_token_id: u32,
    pub tie_word_embeddings: bool,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            vocab_size: 30524,
            hidden_size: 768,
            encoder_hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 512,
            layer_norm_eps: 1e-12,
            bos_token_id: 30522,
            sep_token_id: 102,
            pad_token_id: 0,
            tie_word_embeddings: true,
        }
    }
}

/// `config.json` of a BLIP captioner.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlipConfig {
    pub vision_config: VisionConfig,
    pub text_config: TextConfig,
}

/// The tensors of `model.safetensors`, taken by name.
struct Checkpoint {
    path: String,
    tensors: Tensors,
}

impl Checkpoint {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Array> {
        let a = self
            .tensors
            .remove(name)
            .with_context(|| format!("{}: no tensor `{name}`", self.path))?;
        ensure!(
            a.shape == shape,
            "{}: tensor `{name}` has shape {:?}, the config implies {shape:?}",
            self.path,
            a.shape
        );
        Ok(a)
    }

    /// A torch `Linear` (`[out, in]` weight) as `[in, out]` weight and bias.
    fn linear(&mut self, name: &str, i: usize, o: usize) -> Result<(Array, Array)> {
        let w = self.take(&format!("{name}.weight"), &[o, i])?;
        let b = self.take(&format!("{name}.bias"), &[o])?;
        Ok((transpose(&w), b))
    }

    /// Moves a torch `Linear` into `into` as the family's dense layer `ours` (`.w`, `.b`).
    fn move_linear(
        &mut self,
        name: &str,
        i: usize,
        o: usize,
        ours: &str,
        into: &mut Tensors,
    ) -> Result<()> {
        let (w, b) = self.linear(name, i, o)?;
        into.insert(format!("{ours}.w"), w);
        into.insert(format!("{ours}.b"), b);
        Ok(())
    }

    /// Moves a torch `LayerNorm` into `into` as the family's norm `ours` (`.g`, `.b`).
    fn move_norm(&mut self, name: &str, d: usize, ours: &str, into: &mut Tensors) -> Result<()> {
        into.insert(
            format!("{ours}.g"),
            self.take(&format!("{name}.weight"), &[d])?,
        );
        into.insert(
            format!("{ours}.b"),
            self.take(&format!("{name}.bias"), &[d])?,
        );
        Ok(())
    }
}

type Tensors = BTreeMap<String, Array>;

fn transpose(a: &Array) -> Array {
    let (r, c) = (a.shape[0], a.shape[1]);
    let mut data = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            data[j * r + i] = a.data[i * c + j];
        }
    }
    Array {
        shape: vec![c, r],
        data,
    }
}

fn rows(a: &Array, from: usize, count: usize) -> Array {
    let c = a.shape[1];
    Array {
        shape: vec![count, c],
        data: a.data[from * c..(from + count) * c].to_vec(),
    }
}

/// Maps BLIP's vision tower onto the family's image encoder.
fn image_weights(v: &VisionConfig, ck: &mut Checkpoint) -> Result<ImageWeights> {
    let d = v.hidden_size;
    ensure!(
        v.intermediate_size.is_multiple_of(d),
        "vision intermediate_size {} is not a multiple of hidden_size {d}",
        v.intermediate_size
    );
    ensure!(
        (v.layer_norm_eps - f64::from(earsight::config::LAYER_NORM_EPS)).abs() < 1e-12,
        "vision layer_norm_eps {} differs from the family's {}",
        v.layer_norm_eps,
        earsight::config::LAYER_NORM_EPS
    );
    let config = ImageConfig {
        image_size: v.image_size,
        patch: v.patch_size,
        dim: d,
        depth: v.num_hidden_layers,
        heads: v.num_attention_heads,
        mlp_ratio: v.intermediate_size / d,
        out_dim: d,
        cls_token: true,
        project: false,
    };
    config.validate()?;
    let p = v.patch_size;
    let mut t = Tensors::new();
    // Conv weight [d, c, py, px] -> dense rows in the (py, px, c) order of channels-last
    // patches.
    let conv = ck.take(
        "vision_model.embeddings.patch_embedding.weight",
        &[d, 3, p, p],
    )?;
    let mut w = vec![0.0; p * p * 3 * d];
    for o in 0..d {
        for c in 0..3 {
            for py in 0..p {
                for px in 0..p {
                    w[((py * p + px) * 3 + c) * d + o] = conv.data[((o * 3 + c) * p + py) * p + px];
                }
            }
        }
    }
    t.insert("img.patch.w".into(), Array::new(vec![p * p * 3, d], w)?);
    t.insert(
        "img.patch.b".into(),
        ck.take("vision_model.embeddings.patch_embedding.bias", &[d])?,
    );
    let cls = ck.take("vision_model.embeddings.class_embedding", &[1, 1, d])?;
    t.insert("img.cls".into(), Array::new(vec![d], cls.data)?);
    let n = config.n_tokens();
    let pos = ck.take("vision_model.embeddings.position_embedding", &[1, n, d])?;
    t.insert("img.pos".into(), Array::new(vec![n, d], pos.data)?);
    for i in 0..v.num_hidden_layers {
        let (hf, ours) = (
            format!("vision_model.encoder.layers.{i}"),
            format!("img.blocks.{i}"),
        );
        ck.move_norm(
            &format!("{hf}.layer_norm1"),
            d,
            &format!("{ours}.ln1"),
            &mut t,
        )?;
        // The fused projection's output rows are q, then k, then v.
        let (qkv_w, qkv_b) = ck.linear(&format!("{hf}.self_attn.qkv"), d, 3 * d)?;
        let qkv_w = transpose(&qkv_w);
        for (k, name) in ["q", "k", "v"].iter().enumerate() {
            t.insert(
                format!("{ours}.attn.{name}.w"),
                transpose(&rows(&qkv_w, k * d, d)),
            );
            t.insert(
                format!("{ours}.attn.{name}.b"),
                Array::new(vec![d], qkv_b.data[k * d..(k + 1) * d].to_vec())?,
            );
        }
        let projection = format!("{hf}.self_attn.projection");
        ck.move_linear(&projection, d, d, &format!("{ours}.attn.o"), &mut t)?;
        ck.move_norm(
            &format!("{hf}.layer_norm2"),
            d,
            &format!("{ours}.ln2"),
            &mut t,
        )?;
        let (fc1, fc2) = (format!("{hf}.mlp.fc1"), format!("{hf}.mlp.fc2"));
        let hidden = v.intermediate_size;
        ck.move_linear(&fc1, d, hidden, &format!("{ours}.mlp.fc1"), &mut t)?;
        ck.move_linear(&fc2, hidden, d, &format!("{ours}.mlp.fc2"), &mut t)?;
    }
    ck.move_norm("vision_model.post_layernorm", d, "img.ln", &mut t)?;
    ImageWeights::from_tensors(&config, t)
}

/// Maps BLIP's text decoder onto the family's decoder in its post-norm (BERT) style: the
/// config it implies and its tensors under the family's `dec.*` names.
fn decoder_weights(t: &TextConfig, ck: &mut Checkpoint) -> Result<(DecoderConfig, Tensors)> {
    let (h, e, i) = (t.hidden_size, t.encoder_hidden_size, t.intermediate_size);
    // The family's memory tokens are as wide as the decoder (BLIP-base; BLIP-large's ViT is
    // wider than its text decoder and would need a projection the family does not have).
    ensure!(
        e == h,
        "{}: the decoder attends to {e}-wide tokens but is {h} wide; earsight's decoder needs \
         them equal (BLIP-base)",
        ck.path
    );
    ensure!(
        i % h == 0,
        "{}: text intermediate_size {i} is not a multiple of hidden_size {h}",
        ck.path
    );
    ensure!(
        t.tie_word_embeddings,
        "{}: the decoder's output projection is not tied to its word embeddings, as earsight's \
         must be",
        ck.path
    );
    let config = DecoderConfig {
        dim: h,
        depth: t.num_hidden_layers,
        heads: t.num_attention_heads,
        mlp_ratio: i / h,
        vocab_size: t.vocab_size,
        max_positions: t.max_position_embeddings,
        style: DecoderStyle::PostNorm,
        norm_eps: t.layer_norm_eps as f32,
    };
    let pre = "text_decoder.bert";
    let mut out = Tensors::new();
    let word = ck.take(
        &format!("{pre}.embeddings.word_embeddings.weight"),
        &[t.vocab_size, h],
    )?;
    let pos = ck.take(
        &format!("{pre}.embeddings.position_embeddings.weight"),
        &[t.max_position_embeddings, h],
    )?;
    ck.move_norm(
        &format!("{pre}.embeddings.LayerNorm"),
        h,
        "dec.emb_ln",
        &mut out,
    )?;
    for n in 0..t.num_hidden_layers {
        let (hf, ours) = (
            format!("{pre}.encoder.layer.{n}"),
            format!("dec.blocks.{n}"),
        );
        for (attention, to) in [("attention", "self"), ("crossattention", "cross")] {
            for (part, p, width) in [("query", "q", h), ("key", "k", e), ("value", "v", e)] {
                let name = format!("{hf}.{attention}.self.{part}");
                ck.move_linear(&name, width, h, &format!("{ours}.{to}.{p}"), &mut out)?;
            }
            let name = format!("{hf}.{attention}.output.dense");
            ck.move_linear(&name, h, h, &format!("{ours}.{to}.o"), &mut out)?;
        }
        for (norm, to) in [
            ("attention.output", "ln1"),
            ("crossattention.output", "ln2"),
            ("output", "ln3"),
        ] {
            let name = format!("{hf}.{norm}.LayerNorm");
            ck.move_norm(&name, h, &format!("{ours}.{to}"), &mut out)?;
        }
        let (up, down) = (
            format!("{hf}.intermediate.dense"),
            format!("{hf}.output.dense"),
        );
        ck.move_linear(&up, h, i, &format!("{ours}.mlp.fc1"), &mut out)?;
        ck.move_linear(&down, i, h, &format!("{ours}.mlp.fc2"), &mut out)?;
    }
    let p = "text_decoder.cls.predictions";
    ck.move_linear(&format!("{p}.transform.dense"), h, h, "dec.head", &mut out)?;
    ck.move_norm(&format!("{p}.transform.LayerNorm"), h, "dec.ln", &mut out)?;
    // A checkpoint may store the tied copy too; it must then equal the word embeddings.
    if let Some(copy) = ck.tensors.remove(&format!("{p}.decoder.weight")) {
        ensure!(
            copy == word,
            "{}: `{p}.decoder.weight` should be tied to the word embeddings but differs",
            ck.path
        );
    }
    out.insert(
        "dec.out_b".into(),
        ck.take(&format!("{p}.bias"), &[t.vocab_size])?,
    );
    ck.tensors.remove(&format!("{p}.decoder.bias"));
    out.insert("dec.tok".into(), word);
    out.insert("dec.pos".into(), pos);
    Ok((config, out))
}

/// A BLIP captioner in the family's terms: its image encoder, and its text decoder as the
/// decoder of an earsight model.
pub struct Blip {
    pub config: BlipConfig,
    pub image: ImageWeights,
    pub decoder: DecoderConfig,
    decoder_tensors: Tensors,
}

impl Blip {
    /// An earsight model that hears with `audio`'s frontend and seeded audio encoder and speaks
    /// with BLIP's decoder: the starting point of DALI's stages with a pretrained captioner.
    pub fn captioner(&self, audio: &ModelConfig, seed: u64) -> Result<Weights> {
        let mut config = audio.clone();
        config.decoder = self.decoder.clone();
        config.validate().map_err(anyhow::Error::msg)?;
        // The decoder's slots come last in the layout, so leaving them out seeds the audio
        // side exactly as `Weights::init` would.
        let audio_slots = layout(&config)
            .into_iter()
            .filter(|slot| !slot.name.starts_with("dec."))
            .collect();
        let mut tensors = init_slots(audio_slots, seed)?;
        tensors.extend(self.decoder_tensors.clone());
        Weights::from_tensors(&config, tensors)
    }
}

/// Reads `dir/config.json` and `dir/model.safetensors`. Tensors the captioner does not use
/// (BLIP checkpoints also hold buffers such as position ids) are listed in the log.
pub fn load(dir: &Path) -> Result<Blip> {
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config: BlipConfig = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a BLIP config", config_path.display()))?;
    let weights = dir.join("model.safetensors");
    let mut ck = Checkpoint {
        path: weights.display().to_string(),
        tensors: read_safetensors(&weights)?,
    };
    ensure!(
        config.text_config.encoder_hidden_size == config.vision_config.hidden_size,
        "{}: the decoder attends to {} values but the ViT gives {}",
        config_path.display(),
        config.text_config.encoder_hidden_size,
        config.vision_config.hidden_size
    );
    let image = image_weights(&config.vision_config, &mut ck)?;
    let (decoder, decoder_tensors) = decoder_weights(&config.text_config, &mut ck)?;
    if !ck.tensors.is_empty() {
        log::info!(
            "{}: not used: {}",
            ck.path,
            ck.tensors.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(Blip {
        config,
        image,
        decoder,
        decoder_tensors,
    })
}
