//! A pretrained BLIP captioner in the Hugging Face layout of
//! `Salesforce/blip-image-captioning-base` (`config.json` + `model.safetensors`), read by a
//! name mapping: its ViT becomes the family's [`ImageEncoder`] (with a class token and no
//! projection), its BERT-style text decoder a [`BertDecoder`].
//!
//! BLIP's decoder normalises after each residual (post-norm, BERT) where earsight's own decoder
//! normalises before (pre-norm), and it has an embedding norm and a transform before its tied
//! output projection, so it is a module of its own. Pictures go in as BLIP's processor makes
//! them (resized to `image_size`, normalised with CLIP's mean and deviation), channels last.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::TensorData;
use serde::Deserialize;

use crate::image::{ImageConfig, ImageWeights};
use crate::model::ImageEncoder;
use crate::weights::{read_safetensors, Array};

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
    tensors: BTreeMap<String, Array>,
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

    fn norm(&mut self, name: &str, d: usize) -> Result<(Array, Array)> {
        Ok((
            self.take(&format!("{name}.weight"), &[d])?,
            self.take(&format!("{name}.bias"), &[d])?,
        ))
    }
}

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
        v.intermediate_size % d == 0,
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
    let mut t = BTreeMap::new();
    let mut put = |name: &str, a: Array| {
        t.insert(name.to_string(), a);
    };
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
    put("img.patch.w", Array::new(vec![p * p * 3, d], w)?);
    put(
        "img.patch.b",
        ck.take("vision_model.embeddings.patch_embedding.bias", &[d])?,
    );
    let cls = ck.take("vision_model.embeddings.class_embedding", &[1, 1, d])?;
    put("img.cls", Array::new(vec![d], cls.data)?);
    let n = config.n_tokens();
    let pos = ck.take("vision_model.embeddings.position_embedding", &[1, n, d])?;
    put("img.pos", Array::new(vec![n, d], pos.data)?);
    for i in 0..v.num_hidden_layers {
        let (hf, ours) = (
            format!("vision_model.encoder.layers.{i}"),
            format!("img.blocks.{i}"),
        );
        let (g, b) = ck.norm(&format!("{hf}.layer_norm1"), d)?;
        put(&format!("{ours}.ln1.g"), g);
        put(&format!("{ours}.ln1.b"), b);
        // The fused projection's output rows are q, then k, then v.
        let (qkv_w, qkv_b) = ck.linear(&format!("{hf}.self_attn.qkv"), d, 3 * d)?;
        let qkv_w = transpose(&qkv_w);
        for (k, name) in ["q", "k", "v"].iter().enumerate() {
            put(
                &format!("{ours}.attn.{name}.w"),
                transpose(&rows(&qkv_w, k * d, d)),
            );
            put(
                &format!("{ours}.attn.{name}.b"),
                Array::new(vec![d], qkv_b.data[k * d..(k + 1) * d].to_vec())?,
            );
        }
        let (w, b) = ck.linear(&format!("{hf}.self_attn.projection"), d, d)?;
        put(&format!("{ours}.attn.o.w"), w);
        put(&format!("{ours}.attn.o.b"), b);
        let (g, b) = ck.norm(&format!("{hf}.layer_norm2"), d)?;
        put(&format!("{ours}.ln2.g"), g);
        put(&format!("{ours}.ln2.b"), b);
        let (w, b) = ck.linear(&format!("{hf}.mlp.fc1"), d, v.intermediate_size)?;
        put(&format!("{ours}.mlp.fc1.w"), w);
        put(&format!("{ours}.mlp.fc1.b"), b);
        let (w, b) = ck.linear(&format!("{hf}.mlp.fc2"), v.intermediate_size, d)?;
        put(&format!("{ours}.mlp.fc2.w"), w);
        put(&format!("{ours}.mlp.fc2.b"), b);
    }
    let (g, b) = ck.norm("vision_model.post_layernorm", d)?;
    put("img.ln.g", g);
    put("img.ln.b", b);
    ImageWeights::from_tensors(&config, t)
}

/// One BERT decoder layer: causal self-attention, cross-attention, feed-forward, each added to
/// its input and then normalised.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    q: Linear<B>,
    k: Linear<B>,
    v: Linear<B>,
    o: Linear<B>,
    ln1: LayerNorm<B>,
    cq: Linear<B>,
    ck: Linear<B>,
    cv: Linear<B>,
    co: Linear<B>,
    ln2: LayerNorm<B>,
    up: Linear<B>,
    down: Linear<B>,
    ln3: LayerNorm<B>,
}

/// BLIP's text decoder.
#[derive(Module, Debug)]
pub struct BertDecoder<B: Backend> {
    word: Param<Tensor<B, 2>>,
    pos: Param<Tensor<B, 2>>,
    emb_ln: LayerNorm<B>,
    layers: Vec<BertLayer<B>>,
    head: Linear<B>,
    head_ln: LayerNorm<B>,
    /// Tied to `word` when the config ties them, as BLIP-base does.
    out: Option<Param<Tensor<B, 2>>>,
    out_bias: Param<Tensor<B, 1>>,
    heads: usize,
}

fn param<B: Backend, const D: usize>(a: Array, device: &B::Device) -> Param<Tensor<B, D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(a.data, a.shape), device))
}

fn linear<B: Backend>((w, b): (Array, Array), device: &B::Device) -> Linear<B> {
    let mut l = LinearConfig::new(w.shape[0], w.shape[1]).init(device);
    l.weight = param(w, device);
    l.bias = Some(param(b, device));
    l
}

fn layer_norm<B: Backend>((g, b): (Array, Array), eps: f64, device: &B::Device) -> LayerNorm<B> {
    let mut n = LayerNormConfig::new(g.shape[0])
        .with_epsilon(eps)
        .init(device);
    n.gamma = param(g, device);
    n.beta = Some(param(b, device));
    n
}

/// `[b, t, h*dh] -> [b, h, t, dh]`
fn heads<B: Backend>(x: Tensor<B, 3>, h: usize) -> Tensor<B, 4> {
    let [b, t, d] = x.dims();
    x.reshape([b, t, h, d / h]).swap_dims(1, 2)
}

fn attend<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    h: usize,
    causal: bool,
) -> Tensor<B, 3> {
    let [b, t, d] = q.dims();
    let scale = 1.0 / ((d / h) as f64).sqrt();
    let mut scores = heads(q, h)
        .mul_scalar(scale)
        .matmul(heads(k, h).swap_dims(2, 3));
    if causal {
        let mask = Tensor::<B, 2>::ones([t, t], &scores.device())
            .triu(1)
            .mul_scalar(-1e9);
        scores = scores + mask.unsqueeze::<4>();
    }
    softmax(scores, 3)
        .matmul(heads(v, h))
        .swap_dims(1, 2)
        .reshape([b, t, d])
}

impl<B: Backend> BertDecoder<B> {
    fn load(t: &TextConfig, ck: &mut Checkpoint, device: &B::Device) -> Result<BertDecoder<B>> {
        let (h, e, i) = (t.hidden_size, t.encoder_hidden_size, t.intermediate_size);
        let eps = t.layer_norm_eps;
        let pre = "text_decoder.bert";
        let word = ck.take(
            &format!("{pre}.embeddings.word_embeddings.weight"),
            &[t.vocab_size, h],
        )?;
        let pos = ck.take(
            &format!("{pre}.embeddings.position_embeddings.weight"),
            &[t.max_position_embeddings, h],
        )?;
        let emb_ln = layer_norm(
            ck.norm(&format!("{pre}.embeddings.LayerNorm"), h)?,
            eps,
            device,
        );
        let mut layers = Vec::new();
        for n in 0..t.num_hidden_layers {
            let l = format!("{pre}.encoder.layer.{n}");
            let mut lin = |name: &str, i: usize, o: usize| -> Result<Linear<B>> {
                Ok(linear(ck.linear(&format!("{l}.{name}"), i, o)?, device))
            };
            let (q, k, v) = (
                lin("attention.self.query", h, h)?,
                lin("attention.self.key", h, h)?,
                lin("attention.self.value", h, h)?,
            );
            let o = lin("attention.output.dense", h, h)?;
            let (cq, ck_, cv) = (
                lin("crossattention.self.query", h, h)?,
                lin("crossattention.self.key", e, h)?,
                lin("crossattention.self.value", e, h)?,
            );
            let co = lin("crossattention.output.dense", h, h)?;
            let up = lin("intermediate.dense", h, i)?;
            let down = lin("output.dense", i, h)?;
            let mut norm = |name: &str| -> Result<LayerNorm<B>> {
                Ok(layer_norm(ck.norm(&format!("{l}.{name}"), h)?, eps, device))
            };
            layers.push(BertLayer {
                q,
                k,
                v,
                o,
                ln1: norm("attention.output.LayerNorm")?,
                cq,
                ck: ck_,
                cv,
                co,
                ln2: norm("crossattention.output.LayerNorm")?,
                up,
                down,
                ln3: norm("output.LayerNorm")?,
            });
        }
        let p = "text_decoder.cls.predictions";
        let head = linear(ck.linear(&format!("{p}.transform.dense"), h, h)?, device);
        let head_ln = layer_norm(
            ck.norm(&format!("{p}.transform.LayerNorm"), h)?,
            eps,
            device,
        );
        // A checkpoint may store the tied copies too; they must then equal the tensors tied.
        let stored = ck.tensors.remove(&format!("{p}.decoder.weight"));
        let out = match (t.tie_word_embeddings, stored) {
            (true, Some(copy)) if copy != word => {
                bail!(
                    "{}: `{p}.decoder.weight` should be tied to the word embeddings but differs",
                    ck.path
                )
            }
            (true, _) => None,
            (false, Some(w)) => Some(param(w, device)),
            (false, None) => bail!("{}: no tensor `{p}.decoder.weight`", ck.path),
        };
        let out_bias = ck.take(&format!("{p}.bias"), &[t.vocab_size])?;
        ck.tensors.remove(&format!("{p}.decoder.bias"));
        Ok(BertDecoder {
            word: param(word, device),
            pos: param(pos, device),
            emb_ln,
            layers,
            head,
            head_ln,
            out,
            out_bias: param(out_bias, device),
            heads: t.num_attention_heads,
        })
    }

    /// Full-sequence forward with a causal mask: `ids [b, t]` (starting with the start token)
    /// and image tokens `memory [b, m, E]` -> logits `[b, t, V]`.
    pub fn forward(&self, ids: Tensor<B, 2, Int>, memory: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, t] = ids.dims();
        let d = self.word.dims()[1];
        let tok = self
            .word
            .val()
            .select(0, ids.reshape([b * t]))
            .reshape([b, t, d]);
        let mut x = self
            .emb_ln
            .forward(tok + self.pos.val().narrow(0, 0, t).unsqueeze::<3>());
        for l in &self.layers {
            let a = attend(
                l.q.forward(x.clone()),
                l.k.forward(x.clone()),
                l.v.forward(x.clone()),
                self.heads,
                true,
            );
            x = l.ln1.forward(x + l.o.forward(a));
            let c = attend(
                l.cq.forward(x.clone()),
                l.ck.forward(memory.clone()),
                l.cv.forward(memory.clone()),
                self.heads,
                false,
            );
            x = l.ln2.forward(x + l.co.forward(c));
            let f = l.down.forward(gelu(l.up.forward(x.clone())));
            x = l.ln3.forward(x + f);
        }
        let x = self.head_ln.forward(gelu(self.head.forward(x)));
        let out = self.out.as_ref().unwrap_or(&self.word).val();
        x.matmul(out.transpose().unsqueeze()) + self.out_bias.val().unsqueeze()
    }
}

/// A BLIP captioner: its image encoder (in the family's form) and its text decoder.
pub struct Blip<B: Backend> {
    pub config: BlipConfig,
    pub image: ImageWeights,
    pub encoder: ImageEncoder<B>,
    pub decoder: BertDecoder<B>,
}

/// Reads `dir/config.json` and `dir/model.safetensors`. Tensors the captioner does not use
/// (BLIP checkpoints also hold buffers such as position ids) are listed in the log.
pub fn load<B: Backend>(dir: &Path, device: &B::Device) -> Result<Blip<B>> {
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
    let decoder = BertDecoder::load(&config.text_config, &mut ck, device)?;
    if !ck.tensors.is_empty() {
        log::info!(
            "{}: not used: {}",
            ck.path,
            ck.tensors.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(Blip {
        encoder: ImageEncoder::from_weights(&image, device),
        image,
        decoder,
        config,
    })
}
