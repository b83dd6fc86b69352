//! The model family in burn: the reference forward pass (what the exported graphs must
//! reproduce) and the trainable form used by the training stages.
//!
//! The model group: this family, its weights on disk ([`weights`], the one list of names and
//! shapes), the captioner's image side ([`image`]), BLIP's weights mapped onto it ([`blip`]),
//! the reference forward pass ([`reference`]) and the ONNX graphs the runtime runs ([`onnx`]).
//! It uses nothing else of the crate.

pub mod blip;
pub mod image;
pub mod onnx;
pub mod reference;
pub mod weights;

mod grads;

pub use grads::params_without_grad;

use std::collections::BTreeMap;

use anyhow::Result;
use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::activation::{gelu, relu, softmax};
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::TensorData;
use earsight::config::{ConvBackboneConfig, DecoderStyle, LAYER_NORM_EPS};
use earsight::ModelConfig;

use crate::model::image::{ImageConfig, ImageWeights};
use crate::model::weights::{conv_name, Array, Weights};

/// The CPU backend the tools test and run the reference with (burn's ndarray).
pub type Cpu = burn::backend::NdArray<f32>;

/// `x @ w + b` with `w` stored `[in, out]` (the ONNX MatMul layout).
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    w: Param<Tensor<B, 2>>,
    b: Param<Tensor<B, 1>>,
}

impl<B: Backend> Dense<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        x.matmul(self.w.val().unsqueeze()) + self.b.val().unsqueeze()
    }
}

/// Layer normalisation over the last axis (population variance, as ONNX LayerNormalization).
#[derive(Module, Debug)]
pub struct Norm<B: Backend> {
    g: Param<Tensor<B, 1>>,
    b: Param<Tensor<B, 1>>,
}

impl<B: Backend> Norm<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.forward_eps(x, LAYER_NORM_EPS)
    }

    fn forward_eps(&self, x: Tensor<B, 3>, eps: f32) -> Tensor<B, 3> {
        let mean = x.clone().mean_dim(2);
        let centred = x - mean;
        let var = centred.clone().powi_scalar(2).mean_dim(2);
        centred / (var + eps).sqrt() * self.g.val().unsqueeze() + self.b.val().unsqueeze()
    }
}

/// Multi-head attention projections.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    q: Dense<B>,
    k: Dense<B>,
    v: Dense<B>,
    o: Dense<B>,
}

/// `[b, t, h*dh] -> [b, h, t, dh]`
fn split_heads<B: Backend>(x: Tensor<B, 3>, heads: usize) -> Tensor<B, 4> {
    let [b, t, d] = x.dims();
    x.reshape([b, t, heads, d / heads]).swap_dims(1, 2)
}

/// An attention layer's keys and values of a context, split into heads.
pub type KeysValues<B> = (Tensor<B, 4>, Tensor<B, 4>);

impl<B: Backend> Attention<B> {
    /// Attention of `query` over `context`; `bias` is added to the scores (the causal mask).
    fn forward(
        &self,
        query: Tensor<B, 3>,
        context: Tensor<B, 3>,
        heads: usize,
        bias: Option<Tensor<B, 4>>,
    ) -> Tensor<B, 3> {
        let kv = self.keys_values(context, heads);
        self.attend(query, kv, heads, bias)
    }

    fn keys_values(&self, context: Tensor<B, 3>, heads: usize) -> KeysValues<B> {
        (
            split_heads(self.k.forward(context.clone()), heads),
            split_heads(self.v.forward(context), heads),
        )
    }

    fn attend(
        &self,
        query: Tensor<B, 3>,
        (k, v): KeysValues<B>,
        heads: usize,
        bias: Option<Tensor<B, 4>>,
    ) -> Tensor<B, 3> {
        let [b, t, d] = query.dims();
        let scale = 1.0 / ((d / heads) as f64).sqrt();
        let q = split_heads(self.q.forward(query), heads).mul_scalar(scale);
        let mut scores = q.matmul(k.swap_dims(2, 3));
        if let Some(bias) = bias {
            scores = scores + bias;
        }
        let out = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b, t, d]);
        self.o.forward(out)
    }
}

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    fc1: Dense<B>,
    fc2: Dense<B>,
}

impl<B: Backend> Mlp<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.fc2.forward(gelu(self.fc1.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct EncoderBlock<B: Backend> {
    ln1: Norm<B>,
    attn: Attention<B>,
    ln2: Norm<B>,
    mlp: Mlp<B>,
}

#[derive(Module, Debug)]
pub struct DecoderBlock<B: Backend> {
    ln1: Norm<B>,
    self_attn: Attention<B>,
    ln2: Norm<B>,
    cross: Attention<B>,
    ln3: Norm<B>,
    mlp: Mlp<B>,
}

/// Audio encoder, projector and prefix: mel window -> memory tokens in the captioner's space.
/// Its backbone is a transformer over patches or, with `encoder.conv` in the config, a
/// convolutional one ([`ConvTokens`]); exactly one of the two is present.
#[derive(Module, Debug)]
pub struct AudioEncoder<B: Backend> {
    vit: Option<VitBackbone<B>>,
    conv: Option<ConvTokens<B>>,
    proj1: Dense<B>,
    proj2: Dense<B>,
    prefix: Option<Param<Tensor<B, 2>>>,
}

/// The transformer backbone: patch embedding, positions, blocks, a last norm.
#[derive(Module, Debug)]
pub struct VitBackbone<B: Backend> {
    patch: Dense<B>,
    pos: Param<Tensor<B, 2>>,
    blocks: Vec<EncoderBlock<B>>,
    ln: Norm<B>,
}

/// The convolutional backbone of `encoder.conv`: a CNN distilled from an AudioSet teacher, its
/// batch norms folded into each convolution's kernel and bias. The stages keep it frozen unless
/// told otherwise ([`AudioEncoder::fine_tuned`]): it learnt to hear from far more audio than the
/// world holds, and the DALI stages train what sits on it.
#[derive(Module, Debug)]
pub struct ConvTokens<B: Backend> {
    /// Each convolution's kernel `[out, in, 3, 3]`, the stem's first.
    kernels: Vec<Param<Tensor<B, 4>>>,
    /// Each convolution's bias `[out]`.
    biases: Vec<Param<Tensor<B, 1>>>,
    /// Whether gradients reach the kernels and biases.
    #[module(skip)]
    trained: bool,
}

impl<B: Backend> ConvTokens<B> {
    /// `mel [b, frames, mels]` -> tokens `[b, frames / shrink, width]`. Frozen, the kernels are
    /// read detached, so that no gradient reaches them and autodiff keeps none of this graph.
    pub fn forward(&self, mel: Tensor<B, 3>) -> Tensor<B, 3> {
        let read = |t: Tensor<B, 4>| if self.trained { t } else { t.detach() };
        let read_bias = |t: Tensor<B, 1>| if self.trained { t } else { t.detach() };
        let [b, frames, mels] = mel.dims();
        let mut x = mel.reshape([b, 1, frames, mels]);
        for (i, (kernel, bias)) in self.kernels.iter().zip(&self.biases).enumerate() {
            let stride = if i == 0 { 2 } else { 1 };
            let options = ConvOptions::new([stride, stride], [1, 1], [1, 1], 1);
            let y = conv2d(x, read(kernel.val()), Some(read_bias(bias.val())), options);
            x = max_pool2d(relu(y), [2, 2], [2, 2], [0, 0], [1, 1], false);
        }
        let [b, c, t, _] = x.dims();
        x.mean_dim(3).reshape([b, c, t]).swap_dims(1, 2)
    }
}

/// BLIP-style text decoder with tied output projection, in either [`DecoderStyle`].
#[derive(Module, Debug)]
pub struct TextDecoder<B: Backend> {
    tok: Param<Tensor<B, 2>>,
    pos: Param<Tensor<B, 2>>,
    /// Post-norm only: the norm of the embeddings.
    emb_ln: Option<Norm<B>>,
    blocks: Vec<DecoderBlock<B>>,
    /// Post-norm only: the dense layer of the output transform (before GELU and `ln`).
    head: Option<Dense<B>>,
    ln: Norm<B>,
    /// Post-norm only: the output bias per token.
    out_b: Option<Param<Tensor<B, 1>>>,
}

/// The whole model.
#[derive(Module, Debug)]
pub struct Captioner<B: Backend> {
    pub encoder: AudioEncoder<B>,
    pub decoder: TextDecoder<B>,
}

/// The captioner's image encoder: a ViT over square patches of the picture, then a linear map
/// into the captioner's token space.
#[derive(Module, Debug)]
pub struct ImageEncoder<B: Backend> {
    patch: Dense<B>,
    cls: Option<Param<Tensor<B, 1>>>,
    pos: Param<Tensor<B, 2>>,
    blocks: Vec<EncoderBlock<B>>,
    ln: Norm<B>,
    out: Option<Dense<B>>,
}

impl<B: Backend> ImageEncoder<B> {
    pub fn from_weights(weights: &ImageWeights, device: &B::Device) -> ImageEncoder<B> {
        let l = Loader::<B> {
            tensors: weights.tensors(),
            device,
        };
        let c = &weights.config;
        ImageEncoder {
            patch: l.dense("img.patch"),
            cls: c.cls_token.then(|| l.tensor("img.cls")),
            pos: l.tensor("img.pos"),
            blocks: (0..c.depth)
                .map(|i| l.encoder_block(&format!("img.blocks.{i}")))
                .collect(),
            ln: l.norm("img.ln"),
            out: c.project.then(|| l.dense("img.out")),
        }
    }

    pub fn to_weights(&self, config: &ImageConfig) -> Result<ImageWeights> {
        let mut out = Collector::default();
        self.patch.collect("img.patch", &mut out);
        if let Some(cls) = &self.cls {
            out.put("img.cls", cls);
        }
        out.put("img.pos", &self.pos);
        for (i, b) in self.blocks.iter().enumerate() {
            b.collect(&format!("img.blocks.{i}"), &mut out);
        }
        self.ln.collect("img.ln", &mut out);
        if let Some(d) = &self.out {
            d.collect("img.out", &mut out);
        }
        ImageWeights::from_tensors(config, out.0)
    }

    /// `pixels [b, size, size, 3]` (RGB, scaled as the encoder was trained) -> image tokens
    /// `[b, tokens, D]` (the class token first, when there is one).
    pub fn forward(&self, pixels: Tensor<B, 4>, c: &ImageConfig) -> Tensor<B, 3> {
        let [b, size, _, _] = pixels.dims();
        let (p, g) = (c.patch, size / c.patch);
        let patches = pixels
            .reshape([b * g, p, g, p * 3])
            .swap_dims(1, 2)
            .reshape([b, g * g, p * p * 3]);
        let mut x = self.patch.forward(patches);
        if let Some(cls) = &self.cls {
            let cls = cls.val().reshape([1, 1, c.dim]).expand([b, 1, c.dim]);
            x = Tensor::cat(vec![cls, x], 1);
        }
        x = x + self.pos.val().unsqueeze();
        for block in &self.blocks {
            x = block.forward(x, c.heads);
        }
        let x = self.ln.forward(x);
        match &self.out {
            Some(out) => out.forward(x),
            None => x,
        }
    }
}

/// Builds burn parameters from [`Weights`] (and back), by the layout's names.
struct Loader<'a, B: Backend> {
    tensors: &'a BTreeMap<String, Array>,
    device: &'a B::Device,
}

impl<B: Backend> Loader<'_, B> {
    fn tensor<const D: usize>(&self, name: &str) -> Param<Tensor<B, D>> {
        let a = &self.tensors[name];
        let data = TensorData::new(a.data.clone(), a.shape.clone());
        Param::from_tensor(Tensor::from_data(data, self.device))
    }
    fn dense(&self, name: &str) -> Dense<B> {
        Dense {
            w: self.tensor(&format!("{name}.w")),
            b: self.tensor(&format!("{name}.b")),
        }
    }
    fn norm(&self, name: &str) -> Norm<B> {
        Norm {
            g: self.tensor(&format!("{name}.g")),
            b: self.tensor(&format!("{name}.b")),
        }
    }
    fn attention(&self, name: &str) -> Attention<B> {
        Attention {
            q: self.dense(&format!("{name}.q")),
            k: self.dense(&format!("{name}.k")),
            v: self.dense(&format!("{name}.v")),
            o: self.dense(&format!("{name}.o")),
        }
    }
    fn mlp(&self, name: &str) -> Mlp<B> {
        Mlp {
            fc1: self.dense(&format!("{name}.fc1")),
            fc2: self.dense(&format!("{name}.fc2")),
        }
    }
    fn encoder_block(&self, name: &str) -> EncoderBlock<B> {
        EncoderBlock {
            ln1: self.norm(&format!("{name}.ln1")),
            attn: self.attention(&format!("{name}.attn")),
            ln2: self.norm(&format!("{name}.ln2")),
            mlp: self.mlp(&format!("{name}.mlp")),
        }
    }
}

impl<B: Backend> Captioner<B> {
    /// The model with the given weights on `device`.
    pub fn from_weights(weights: &Weights, device: &B::Device) -> Captioner<B> {
        let l = Loader::<B> {
            tensors: weights.tensors(),
            device,
        };
        let c = &weights.config;
        let vit = || VitBackbone {
            patch: l.dense("enc.patch"),
            pos: l.tensor("enc.pos"),
            blocks: (0..c.encoder.depth)
                .map(|i| l.encoder_block(&format!("enc.blocks.{i}")))
                .collect(),
            ln: l.norm("enc.ln"),
        };
        let conv = |conv: &ConvBackboneConfig| {
            let count = conv.convolutions().len();
            ConvTokens {
                kernels: (0..count).map(|i| l.tensor(&conv_name(i, "w"))).collect(),
                biases: (0..count).map(|i| l.tensor(&conv_name(i, "b"))).collect(),
                trained: false,
            }
        };
        let encoder = AudioEncoder {
            vit: c.encoder.conv.is_none().then(vit),
            conv: c.encoder.conv.as_ref().map(conv),
            proj1: l.dense("proj.fc1"),
            proj2: l.dense("proj.fc2"),
            prefix: (c.encoder.n_prefix > 0).then(|| l.tensor("prefix")),
        };
        let post_norm = c.decoder.style == DecoderStyle::PostNorm;
        let decoder = TextDecoder {
            tok: l.tensor("dec.tok"),
            pos: l.tensor("dec.pos"),
            emb_ln: post_norm.then(|| l.norm("dec.emb_ln")),
            blocks: (0..c.decoder.depth)
                .map(|i| {
                    let b = format!("dec.blocks.{i}");
                    DecoderBlock {
                        ln1: l.norm(&format!("{b}.ln1")),
                        self_attn: l.attention(&format!("{b}.self")),
                        ln2: l.norm(&format!("{b}.ln2")),
                        cross: l.attention(&format!("{b}.cross")),
                        ln3: l.norm(&format!("{b}.ln3")),
                        mlp: l.mlp(&format!("{b}.mlp")),
                    }
                })
                .collect(),
            head: post_norm.then(|| l.dense("dec.head")),
            ln: l.norm("dec.ln"),
            out_b: post_norm.then(|| l.tensor("dec.out_b")),
        };
        Captioner { encoder, decoder }
    }

    /// The current parameters as [`Weights`] (after training, for saving and export).
    pub fn to_weights(&self, config: &ModelConfig) -> Result<Weights> {
        let mut out = Collector::default();
        let e = &self.encoder;
        if let Some(vit) = &e.vit {
            vit.patch.collect("enc.patch", &mut out);
            out.put("enc.pos", &vit.pos);
            for (i, b) in vit.blocks.iter().enumerate() {
                b.collect(&format!("enc.blocks.{i}"), &mut out);
            }
            vit.ln.collect("enc.ln", &mut out);
        }
        if let Some(conv) = &e.conv {
            for (i, (kernel, bias)) in conv.kernels.iter().zip(&conv.biases).enumerate() {
                out.put(&conv_name(i, "w"), kernel);
                out.put(&conv_name(i, "b"), bias);
            }
        }
        e.proj1.collect("proj.fc1", &mut out);
        e.proj2.collect("proj.fc2", &mut out);
        if let Some(p) = &e.prefix {
            out.put("prefix", p);
        }
        let d = &self.decoder;
        out.put("dec.tok", &d.tok);
        out.put("dec.pos", &d.pos);
        if let Some(n) = &d.emb_ln {
            n.collect("dec.emb_ln", &mut out);
        }
        for (i, b) in d.blocks.iter().enumerate() {
            let n = format!("dec.blocks.{i}");
            b.ln1.collect(&format!("{n}.ln1"), &mut out);
            b.self_attn.collect(&format!("{n}.self"), &mut out);
            b.ln2.collect(&format!("{n}.ln2"), &mut out);
            b.cross.collect(&format!("{n}.cross"), &mut out);
            b.ln3.collect(&format!("{n}.ln3"), &mut out);
            b.mlp.collect(&format!("{n}.mlp"), &mut out);
        }
        if let Some(h) = &d.head {
            h.collect("dec.head", &mut out);
        }
        d.ln.collect("dec.ln", &mut out);
        if let Some(b) = &d.out_b {
            out.put("dec.out_b", b);
        }
        Weights::from_tensors(config, out.0)
    }
}

/// Gathers parameters under their layout names.
#[derive(Default)]
struct Collector(BTreeMap<String, Array>);

impl Collector {
    fn put<B: Backend, const D: usize>(&mut self, name: &str, param: &Param<Tensor<B, D>>) {
        self.0.insert(name.into(), to_array(param));
    }
}

/// `param` with new values that `draw` makes for its shape; it keeps its id and whether it
/// takes gradients (what a seeded initialiser needs).
pub(crate) fn redrawn<B: Backend, const D: usize>(
    param: Param<Tensor<B, D>>,
    draw: impl FnOnce(&[usize]) -> Vec<f32>,
) -> Param<Tensor<B, D>> {
    let (id, tensor, mapper) = param.consume();
    let shape = tensor.dims();
    let values = draw(&shape);
    let mut fresh = Tensor::from_data(TensorData::new(values, shape.to_vec()), &tensor.device());
    if tensor.is_require_grad() {
        fresh = fresh.require_grad();
    }
    Param::from_mapped_value(id, fresh, mapper)
}

/// The values of a tensor as f32, row-major.
pub fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32")
}

/// A parameter's current value as a weights array.
pub fn to_array<B: Backend, const D: usize>(param: &Param<Tensor<B, D>>) -> Array {
    let value = param.val();
    Array {
        shape: value.dims().to_vec(),
        data: values(value),
    }
}

impl<B: Backend> Dense<B> {
    fn collect(&self, name: &str, out: &mut Collector) {
        out.put(&format!("{name}.w"), &self.w);
        out.put(&format!("{name}.b"), &self.b);
    }
}

impl<B: Backend> Norm<B> {
    fn collect(&self, name: &str, out: &mut Collector) {
        out.put(&format!("{name}.g"), &self.g);
        out.put(&format!("{name}.b"), &self.b);
    }
}

impl<B: Backend> Attention<B> {
    fn collect(&self, name: &str, out: &mut Collector) {
        for (p, d) in [
            ("q", &self.q),
            ("k", &self.k),
            ("v", &self.v),
            ("o", &self.o),
        ] {
            d.collect(&format!("{name}.{p}"), out);
        }
    }
}

impl<B: Backend> EncoderBlock<B> {
    fn collect(&self, name: &str, out: &mut Collector) {
        self.ln1.collect(&format!("{name}.ln1"), out);
        self.attn.collect(&format!("{name}.attn"), out);
        self.ln2.collect(&format!("{name}.ln2"), out);
        self.mlp.collect(&format!("{name}.mlp"), out);
    }

    /// Pre-norm self-attention and MLP, each residual.
    fn forward(&self, x: Tensor<B, 3>, heads: usize) -> Tensor<B, 3> {
        let h = self.ln1.forward(x.clone());
        let x = x + self.attn.forward(h.clone(), h, heads, None);
        x.clone() + self.mlp.forward(self.ln2.forward(x))
    }
}

impl<B: Backend> Mlp<B> {
    fn collect(&self, name: &str, out: &mut Collector) {
        self.fc1.collect(&format!("{name}.fc1"), out);
        self.fc2.collect(&format!("{name}.fc2"), out);
    }
}

/// `mel [b, frames, mels]` -> its patches `[b, tokens, patch_time * patch_freq]`, in the
/// encoder's token order (time-major).
pub fn patches<B: Backend>(mel: Tensor<B, 3>, c: &ModelConfig) -> Tensor<B, 3> {
    let [b, frames, mels] = mel.dims();
    let (pt, pf) = (c.encoder.patch_time, c.encoder.patch_freq);
    mel.reshape([b, frames / pt, pt, mels / pf, pf])
        .swap_dims(2, 3)
        .reshape([b, (frames / pt) * (mels / pf), pt * pf])
}

impl<B: Backend> AudioEncoder<B> {
    /// `mel [b, frames, mels]` -> memory tokens `[b, tokens (+ prefix), D]`.
    pub fn forward(&self, mel: Tensor<B, 3>, c: &ModelConfig) -> Tensor<B, 3> {
        let tokens = self.tokens(mel, c);
        match &self.prefix {
            Some(prefix) => {
                let [b, _, _] = tokens.dims();
                let [n, d] = prefix.dims();
                let prefix = prefix.val().unsqueeze::<3>().expand([b, n, d]);
                Tensor::cat(vec![tokens, prefix], 1)
            }
            None => tokens,
        }
    }

    /// `mel [b, frames, mels]` -> projected audio tokens `[b, tokens, D]`, without the prefix:
    /// what alignment compares with image tokens.
    pub fn tokens(&self, mel: Tensor<B, 3>, c: &ModelConfig) -> Tensor<B, 3> {
        self.project(self.features(mel, c))
    }

    /// This encoder with its convolutional backbone trained along with what sits on it, where
    /// it has one (a transformer backbone always is).
    pub fn fine_tuned(mut self) -> AudioEncoder<B> {
        if let Some(conv) = &mut self.conv {
            conv.trained = true;
        }
        self
    }

    /// The audio backbone alone: `mel` -> features before the projector.
    pub fn features(&self, mel: Tensor<B, 3>, c: &ModelConfig) -> Tensor<B, 3> {
        match (&self.vit, &self.conv) {
            (Some(vit), _) => vit.forward(vit.patch.forward(patches(mel, c)), c),
            (None, Some(conv)) => conv.forward(mel),
            (None, None) => unreachable!("an audio encoder is built with one backbone"),
        }
    }

    /// The backbone with the embedded patches where `hidden [b, tokens, 1]` is 1 replaced by
    /// `token [dim]`: what masked spectrogram modelling reconstructs the hidden patches from.
    pub fn masked_features(
        &self,
        mel: Tensor<B, 3>,
        hidden: Tensor<B, 3>,
        token: Tensor<B, 1>,
        c: &ModelConfig,
    ) -> Tensor<B, 3> {
        let vit = self
            .vit
            .as_ref()
            .expect("pretraining refuses a convolutional backbone before it starts");
        let embedded = vit.patch.forward(patches(mel, c));
        let shown = hidden.clone().neg().add_scalar(1.0);
        let x = embedded * shown + hidden * token.unsqueeze::<3>();
        vit.forward(x, c)
    }

    /// The projector into the captioner's token space (what distillation trains).
    pub fn project(&self, features: Tensor<B, 3>) -> Tensor<B, 3> {
        self.proj2.forward(gelu(self.proj1.forward(features)))
    }
}

impl<B: Backend> VitBackbone<B> {
    /// Embedded patches `[b, tokens, dim]` -> normalised features.
    fn forward(&self, embedded: Tensor<B, 3>, c: &ModelConfig) -> Tensor<B, 3> {
        let mut x = embedded + self.pos.val().unsqueeze();
        for block in &self.blocks {
            x = block.forward(x, c.encoder.heads);
        }
        self.ln.forward(x)
    }
}

impl<B: Backend> TextDecoder<B> {
    /// Full-sequence forward with a causal mask (no cache): `ids [b, t]` -> logits `[b, t, V]`.
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        memory: Tensor<B, 3>,
        c: &ModelConfig,
    ) -> Tensor<B, 3> {
        let cross = self.cross_keys_values(memory, c);
        self.logits(self.hidden(ids, &cross, c), c)
    }

    /// Every block's cross-attention keys and values of `memory`: what stays the same from one
    /// decoding step to the next.
    pub fn cross_keys_values(&self, memory: Tensor<B, 3>, c: &ModelConfig) -> Vec<KeysValues<B>> {
        self.blocks
            .iter()
            .map(|block| block.cross.keys_values(memory.clone(), c.decoder.heads))
            .collect()
    }

    /// The final hidden states `[b, t, D]` of `ids` over a memory's keys and values.
    pub fn hidden(
        &self,
        ids: Tensor<B, 2, Int>,
        cross: &[KeysValues<B>],
        c: &ModelConfig,
    ) -> Tensor<B, 3> {
        let [b, t] = ids.dims();
        let d = c.decoder.dim;
        let device = ids.device();
        let tok = self
            .tok
            .val()
            .select(0, ids.reshape([b * t]))
            .reshape([b, t, d]);
        let pos = self.pos.val().narrow(0, 0, t).unsqueeze::<3>();
        let (heads, eps) = (c.decoder.heads, c.decoder.norm_eps);
        let mut x = tok + pos;
        if let Some(ln) = &self.emb_ln {
            x = ln.forward_eps(x, eps);
        }
        let causal: Tensor<B, 2> = Tensor::<B, 2>::ones([t, t], &device)
            .triu(1)
            .mul_scalar(-1e9);
        let causal = causal.unsqueeze::<4>();
        for (block, kv) in self.blocks.iter().zip(cross) {
            let mask = Some(causal.clone());
            match c.decoder.style {
                DecoderStyle::PreNorm => {
                    let h = block.ln1.forward_eps(x.clone(), eps);
                    x = x + block.self_attn.forward(h.clone(), h, heads, mask);
                    let h = block.ln2.forward_eps(x.clone(), eps);
                    x = x + block.cross.attend(h, kv.clone(), heads, None);
                    x = x.clone() + block.mlp.forward(block.ln3.forward_eps(x, eps));
                }
                DecoderStyle::PostNorm => {
                    let a = block.self_attn.forward(x.clone(), x.clone(), heads, mask);
                    x = block.ln1.forward_eps(x + a, eps);
                    let a = block.cross.attend(x.clone(), kv.clone(), heads, None);
                    x = block.ln2.forward_eps(x + a, eps);
                    let f = block.mlp.forward(x.clone());
                    x = block.ln3.forward_eps(x + f, eps);
                }
            }
        }
        x
    }

    /// Logits `[b, t, V]` of hidden states (the output projection is the tied embedding).
    pub fn logits(&self, hidden: Tensor<B, 3>, c: &ModelConfig) -> Tensor<B, 3> {
        let hidden = match &self.head {
            Some(head) => gelu(head.forward(hidden)),
            None => hidden,
        };
        let logits = self
            .ln
            .forward_eps(hidden, c.decoder.norm_eps)
            .matmul(self.tok.val().transpose().unsqueeze());
        match &self.out_b {
            Some(b) => logits + b.val().unsqueeze(),
            None => logits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decoder_parameter_gets_a_gradient_in_both_styles() {
        type Train = burn::backend::Autodiff<Cpu>;
        for style in [DecoderStyle::PreNorm, DecoderStyle::PostNorm] {
            let mut c = crate::model::weights::test_config();
            c.decoder.style = style;
            let w = Weights::init(&c, 5).unwrap();
            let device = Default::default();
            let model = Captioner::<Train>::from_weights(&w, &device);
            let memory = Tensor::<Train, 3>::random(
                [2, 3, c.decoder.dim],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let ids = vec![1i64, 5, 7, 9, 2, 4, 6, 8];
            let ids = Tensor::<Train, 2, Int>::from_data(TensorData::new(ids, [2, 4]), &device);
            let logits = model.decoder.forward(ids, memory, &c);
            let grads = logits.powi_scalar(2).mean().backward();
            let missing = params_without_grad(&model.decoder, &grads);
            assert!(
                missing.is_empty(),
                "{style:?}: no gradient reaches {missing:?}"
            );
        }
    }

    #[test]
    fn weights_survive_the_trip_through_burn_modules() {
        for style in [DecoderStyle::PreNorm, DecoderStyle::PostNorm] {
            let mut c = crate::model::weights::test_config();
            c.decoder.style = style;
            let w = Weights::init(&c, 11).unwrap();
            let model = Captioner::<Cpu>::from_weights(&w, &Default::default());
            let back = model.to_weights(&c).unwrap();
            assert_eq!(back.tensors(), w.tensors(), "{style:?}");
        }
    }
}
