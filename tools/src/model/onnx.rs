//! ONNX graphs of the model family, written with tract's protobuf types: the encoder (mel ->
//! memory tokens + every decoder layer's cross-attention K/V) and the one-step decoder with an
//! explicit self-attention cache of symbolic length.
//!
//! Each graph is written in one of three weight schemes ([`Quantization`]); layer norms,
//! softmax and the activation-by-activation products of attention always stay f32. The same
//! builder writes the tools' tiny test teacher ([`crate::teacher::tiny`]).

use earsight::bundle::{names, DType, Dim, GraphSpec, Quantization, TensorSpec};
use earsight::config::{DecoderStyle, LAYER_NORM_EPS};
use earsight::ModelConfig;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

use crate::model::weights::{conv_name, Array, Weights};

/// ONNX opset the graphs use (LayerNormalization is opset 17).
pub const OPSET: i64 = 17;
const IR_VERSION: i64 = 8;

/// A graph under construction.
pub(crate) struct Graph {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    next_id: usize,
    scheme: Quantization,
}

pub(crate) enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

fn value_info(spec: &TensorSpec) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = spec
        .shape
        .iter()
        .map(|d| Dimension {
            denotation: String::new(),
            value: Some(match d {
                Dim::Fixed(n) => Value::DimValue(*n as i64),
                Dim::Symbol(s) => Value::DimParam(s.clone()),
            }),
        })
        .collect();
    let elem_type = match spec.dtype {
        DType::F32 => DataType::Float,
        DType::I64 => DataType::Int64,
    } as i32;
    pb::ValueInfoProto {
        name: spec.name.clone(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

/// Symmetric per-channel int8: `w[.., c] ~= q[.., c] * scale[c]` along `axis` (0 or 1 of a
/// 2-D array).
pub fn quantize_per_channel(a: &Array, axis: usize) -> (Vec<i8>, Vec<f32>) {
    let (rows, cols) = (a.shape[0], a.shape[1]);
    let channels = if axis == 0 { rows } else { cols };
    let mut max = vec![0f32; channels];
    for r in 0..rows {
        for c in 0..cols {
            let ch = if axis == 0 { r } else { c };
            max[ch] = max[ch].max(a.data[r * cols + c].abs());
        }
    }
    let scale: Vec<f32> = max
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q = (0..rows * cols)
        .map(|i| {
            let ch = if axis == 0 { i / cols } else { i % cols };
            (a.data[i] / scale[ch]).round().clamp(-127.0, 127.0) as i8
        })
        .collect();
    (q, scale)
}

impl Graph {
    pub(crate) fn new(scheme: Quantization, spec: &GraphSpec) -> Graph {
        Graph {
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: spec.inputs.iter().map(value_info).collect(),
            outputs: spec.outputs.iter().map(value_info).collect(),
            next_id: 0,
            scheme,
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.next_id += 1;
        format!("{hint}_{}", self.next_id)
    }

    fn initializer(
        &mut self,
        name: &str,
        dims: &[usize],
        data_type: DataType,
        raw: Vec<u8>,
    ) -> String {
        self.initializers.push(pb::TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type as i32,
            name: name.into(),
            raw_data: raw,
            ..Default::default()
        });
        name.into()
    }

    pub(crate) fn f32s(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name, dims, DataType::Float, raw)
    }

    pub(crate) fn i8s(&mut self, name: &str, dims: &[usize], data: &[i8]) -> String {
        let raw = data.iter().map(|&v| v as u8).collect();
        self.initializer(name, dims, DataType::Int8, raw)
    }

    pub(crate) fn i64s(&mut self, name: &str, data: &[i64]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name, &[data.len()], DataType::Int64, raw)
    }

    fn array(&mut self, name: &str, a: &Array) -> String {
        self.f32s(name, &a.shape, &a.data)
    }

    /// Adds a node and returns the names of its outputs.
    fn node_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        n_out: usize,
        attrs: Vec<(&str, Attr)>,
    ) -> Vec<String> {
        use pb::attribute_proto::AttributeType;
        let name = self.fresh(op);
        let outputs: Vec<String> = (0..n_out).map(|i| format!("{name}:{i}")).collect();
        let attribute = attrs
            .into_iter()
            .map(|(k, v)| {
                let mut a = pb::AttributeProto {
                    name: k.into(),
                    ..Default::default()
                };
                match v {
                    Attr::Int(i) => {
                        a.i = i;
                        a.r#type = AttributeType::Int as i32;
                    }
                    Attr::Ints(is) => {
                        a.ints = is;
                        a.r#type = AttributeType::Ints as i32;
                    }
                    Attr::Float(f) => {
                        a.f = f;
                        a.r#type = AttributeType::Float as i32;
                    }
                }
                a
            })
            .collect();
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.clone(),
            name,
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        outputs
    }

    pub(crate) fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        self.node_n(op, inputs, 1, attrs).remove(0)
    }

    /// Binds an internal value to a graph output name.
    pub(crate) fn output(&mut self, value: &str, name: &str) {
        self.nodes.push(pb::NodeProto {
            input: vec![value.into()],
            output: vec![name.into()],
            name: format!("{name}_identity"),
            op_type: "Identity".into(),
            ..Default::default()
        });
    }

    pub(crate) fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.fresh("shape");
        let s = self.i64s(&s, shape);
        self.node("Reshape", &[x, &s], vec![])
    }

    fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.node("Transpose", &[x], vec![("perm", Attr::Ints(perm.to_vec()))])
    }

    /// `x @ W` for a weight stored `[in, out]`, in the graph's scheme.
    fn matmul_weight(&mut self, x: &str, name: &str, w: &Array) -> String {
        match self.scheme {
            Quantization::F32 => {
                let w = self.array(name, w);
                self.node("MatMul", &[x, &w], vec![])
            }
            Quantization::Int8Weights | Quantization::Int8Dynamic => {
                let (q, scale) = quantize_per_channel(w, 1);
                let wq = self.i8s(&format!("{name}.q"), &w.shape, &q);
                let ws = self.f32s(&format!("{name}.scale"), &[w.shape[1]], &scale);
                self.int8_matmul(x, &wq, &ws)
            }
        }
    }

    /// `x @ W` for an int8 weight `wq` with per-output-column scales `ws`, in the graph's int8
    /// scheme.
    fn int8_matmul(&mut self, x: &str, wq: &str, ws: &str) -> String {
        if self.scheme == Quantization::Int8Weights {
            self.scaled_matmul(x, wq, ws)
        } else {
            self.dynamic_matmul(x, wq, ws)
        }
    }

    /// `(x @ f32(wq)) * ws` for an int8 weight `wq` with per-output-column scales `ws`: the
    /// same product as dequantizing first, since each scale belongs to one output column. The
    /// scale comes after the product because tract folds a Cast of a constant into plain f32
    /// weights at load, but folds a per-channel DequantizeLinear through a broadcast subtract
    /// and multiply over every weight, a sixth of the mini model's load time.
    fn scaled_matmul(&mut self, x: &str, wq: &str, ws: &str) -> String {
        let w = self.node(
            "Cast",
            &[wq],
            vec![("to", Attr::Int(DataType::Float as i64))],
        );
        let y = self.node("MatMul", &[x, &w], vec![]);
        self.node("Mul", &[&y, ws], vec![])
    }

    /// DynamicQuantizeLinear -> MatMulInteger -> rescale, against an int8 weight `wq` with
    /// per-output-column scales `ws`.
    fn dynamic_matmul(&mut self, x: &str, wq: &str, ws: &str) -> String {
        let q = self.node_n("DynamicQuantizeLinear", &[x], 3, vec![]);
        let acc = self.node("MatMulInteger", &[&q[0], wq, &q[2]], vec![]);
        let acc = self.node(
            "Cast",
            &[&acc],
            vec![("to", Attr::Int(DataType::Float as i64))],
        );
        let scale = self.node("Mul", &[&q[1], ws], vec![]);
        self.node("Mul", &[&acc, &scale], vec![])
    }

    fn linear(&mut self, x: &str, weights: &Weights, name: &str) -> String {
        let y = self.matmul_weight(x, &format!("{name}.w"), weights.get(&format!("{name}.w")));
        let b = self.array(&format!("{name}.b"), weights.get(&format!("{name}.b")));
        self.node("Add", &[&y, &b], vec![])
    }

    fn layer_norm(&mut self, x: &str, weights: &Weights, name: &str) -> String {
        self.layer_norm_eps(x, weights, name, LAYER_NORM_EPS)
    }

    fn layer_norm_eps(&mut self, x: &str, weights: &Weights, name: &str, eps: f32) -> String {
        let g = self.array(&format!("{name}.g"), weights.get(&format!("{name}.g")));
        let b = self.array(&format!("{name}.b"), weights.get(&format!("{name}.b")));
        self.node(
            "LayerNormalization",
            &[x, &g, &b],
            vec![("axis", Attr::Int(-1)), ("epsilon", Attr::Float(eps))],
        )
    }

    /// Exact (erf) GELU, as burn's `gelu`.
    fn gelu(&mut self, x: &str) -> String {
        let c = self.fresh("c");
        let inv_sqrt2 = self.f32s(&c, &[], &[std::f32::consts::FRAC_1_SQRT_2]);
        let c = self.fresh("c");
        let one = self.f32s(&c, &[], &[1.0]);
        let c = self.fresh("c");
        let half = self.f32s(&c, &[], &[0.5]);
        let t = self.node("Mul", &[x, &inv_sqrt2], vec![]);
        let t = self.node("Erf", &[&t], vec![]);
        let t = self.node("Add", &[&t, &one], vec![]);
        let t = self.node("Mul", &[x, &t], vec![]);
        self.node("Mul", &[&t, &half], vec![])
    }

    fn scalar(&mut self, value: f32) -> String {
        let c = self.fresh("c");
        self.f32s(&c, &[], &[value])
    }

    /// `[1, t, h*dh] -> [1, h, t, dh]`
    fn heads(&mut self, x: &str, t: i64, h: usize, dh: usize) -> String {
        let x = self.reshape(x, &[1, t, h as i64, dh as i64]);
        self.transpose(&x, &[0, 2, 1, 3])
    }

    /// `softmax(q k^T / sqrt(dh)) v` on `[1, h, t, dh]` heads, merged back to `[1, tq, h*dh]`.
    fn attend(&mut self, q: &str, k: &str, v: &str, tq: i64, h: usize, dh: usize) -> String {
        let scale = self.scalar(1.0 / (dh as f32).sqrt());
        let q = self.node("Mul", &[q, &scale], vec![]);
        let kt = self.transpose(k, &[0, 1, 3, 2]);
        let scores = self.node("MatMul", &[&q, &kt], vec![]);
        let p = self.node("Softmax", &[&scores], vec![("axis", Attr::Int(-1))]);
        let o = self.node("MatMul", &[&p, v], vec![]);
        let o = self.transpose(&o, &[0, 2, 1, 3]);
        self.reshape(&o, &[1, tq, (h * dh) as i64])
    }

    /// A 3x3 convolution padded by one (`kernel [out, in, 3, 3]` and `bias` with any batch
    /// norm already folded in), ReLU and, with `pool`, 2x2 max-pooling of stride 2. Under an
    /// int8 scheme the kernel is stored int8 with one scale per output channel (`Cast` then
    /// `Mul`, which tract folds into f32 kernels at load).
    pub(crate) fn conv3x3_relu(
        &mut self,
        x: &str,
        name: &str,
        kernel: &Array,
        bias: &[f32],
        stride: i64,
        pool: bool,
    ) -> String {
        let channels = kernel.shape[0];
        let w = match self.scheme {
            Quantization::F32 => self.f32s(&format!("{name}.w"), &kernel.shape, &kernel.data),
            Quantization::Int8Weights | Quantization::Int8Dynamic => {
                let rows = Array {
                    shape: vec![channels, kernel.data.len() / channels],
                    data: kernel.data.clone(),
                };
                let (q, scale) = quantize_per_channel(&rows, 0);
                let q = self.i8s(&format!("{name}.w.q"), &kernel.shape, &q);
                let s = self.f32s(&format!("{name}.w.scale"), &[channels, 1, 1, 1], &scale);
                let w = self.node(
                    "Cast",
                    &[&q],
                    vec![("to", Attr::Int(DataType::Float as i64))],
                );
                self.node("Mul", &[&w, &s], vec![])
            }
        };
        let b = self.f32s(&format!("{name}.b"), &[channels], bias);
        let y = self.node(
            "Conv",
            &[x, &w, &b],
            vec![
                ("kernel_shape", Attr::Ints(vec![3, 3])),
                ("strides", Attr::Ints(vec![stride, stride])),
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            ],
        );
        let y = self.node("Relu", &[&y], vec![]);
        if !pool {
            return y;
        }
        self.node(
            "MaxPool",
            &[&y],
            vec![
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
        )
    }

    fn mlp(&mut self, x: &str, weights: &Weights, name: &str) -> String {
        let h = self.linear(x, weights, &format!("{name}.fc1"));
        let h = self.gelu(&h);
        self.linear(&h, weights, &format!("{name}.fc2"))
    }

    pub(crate) fn finish(self, name: &str) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "earsight-tools".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(pb::GraphProto {
                node: self.nodes,
                name: name.into(),
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// The encoder graph: `mel [1, frames, mels]` -> `memory [1, n, D]` and `cross_k.l`/`cross_v.l`
/// `[1, H, n, D/H]` for every decoder layer.
pub fn encoder(weights: &Weights, scheme: Quantization) -> pb::ModelProto {
    let c: &ModelConfig = &weights.config;
    let (e, d) = (&c.encoder, &c.decoder);
    let mut g = Graph::new(scheme, &c.encoder_spec());
    let x = match &e.conv {
        None => vit_backbone(&mut g, weights),
        Some(conv) => {
            let (frames, mels) = (c.frontend.clip_frames as i64, c.frontend.n_mels as i64);
            let mut x = g.reshape(names::MEL, &[1, 1, frames, mels]);
            for i in 0..conv.convolutions().len() {
                let (kernel, bias) = (
                    weights.get(&conv_name(i, "w")),
                    weights.get(&conv_name(i, "b")),
                );
                let stride = if i == 0 { 2 } else { 1 };
                x = g.conv3x3_relu(
                    &x,
                    &format!("enc.conv.{i}"),
                    kernel,
                    &bias.data,
                    stride,
                    true,
                );
            }
            let x = g.node(
                "ReduceMean",
                &[&x],
                vec![("axes", Attr::Ints(vec![3])), ("keepdims", Attr::Int(0))],
            );
            g.transpose(&x, &[0, 2, 1])
        }
    };
    let x = g.linear(&x, weights, "proj.fc1");
    let x = g.gelu(&x);
    let mut memory = g.linear(&x, weights, "proj.fc2");
    if e.n_prefix > 0 {
        let p = weights.get("prefix");
        let prefix = g.f32s("prefix", &[1, p.shape[0], p.shape[1]], &p.data);
        memory = g.node("Concat", &[&memory, &prefix], vec![("axis", Attr::Int(1))]);
    }
    g.output(&memory, names::MEMORY);
    let n_memory = c.n_memory_tokens() as i64;
    let (h, dh) = (d.heads, c.decoder_head_dim());
    for l in 0..d.depth {
        let b = format!("dec.blocks.{l}.cross");
        let k = g.linear(&memory, weights, &format!("{b}.k"));
        let k = g.heads(&k, n_memory, h, dh);
        g.output(&k, &names::cross_k(l));
        let v = g.linear(&memory, weights, &format!("{b}.v"));
        let v = g.heads(&v, n_memory, h, dh);
        g.output(&v, &names::cross_v(l));
    }
    g.finish("earsight-encoder")
}

/// The transformer backbone's part of the encoder graph: `mel` -> normalised features.
fn vit_backbone(g: &mut Graph, weights: &Weights) -> String {
    let c: &ModelConfig = &weights.config;
    let e = &c.encoder;
    let (frames, mels) = (c.frontend.clip_frames as i64, c.frontend.n_mels as i64);
    let (pt, pf) = (e.patch_time as i64, e.patch_freq as i64);
    let n_audio = c.n_audio_tokens() as i64;
    let x = g.reshape(names::MEL, &[1, frames / pt, pt, mels / pf, pf]);
    let x = g.transpose(&x, &[0, 1, 3, 2, 4]);
    let x = g.reshape(&x, &[1, n_audio, pt * pf]);
    let x = g.linear(&x, weights, "enc.patch");
    let pos = g.array("enc.pos", weights.get("enc.pos"));
    let mut x = g.node("Add", &[&x, &pos], vec![]);
    let (eh, edh) = (e.heads, e.dim / e.heads);
    for i in 0..e.depth {
        let b = format!("enc.blocks.{i}");
        let h = g.layer_norm(&x, weights, &format!("{b}.ln1"));
        let q = g.linear(&h, weights, &format!("{b}.attn.q"));
        let k = g.linear(&h, weights, &format!("{b}.attn.k"));
        let v = g.linear(&h, weights, &format!("{b}.attn.v"));
        let (q, k, v) = (
            g.heads(&q, n_audio, eh, edh),
            g.heads(&k, n_audio, eh, edh),
            g.heads(&v, n_audio, eh, edh),
        );
        let a = g.attend(&q, &k, &v, n_audio, eh, edh);
        let a = g.linear(&a, weights, &format!("{b}.attn.o"));
        x = g.node("Add", &[&x, &a], vec![]);
        let h = g.layer_norm(&x, weights, &format!("{b}.ln2"));
        let m = g.mlp(&h, weights, &format!("{b}.mlp"));
        x = g.node("Add", &[&x, &m], vec![]);
    }
    g.layer_norm(&x, weights, "enc.ln")
}

/// The one-step decoder graph: token, position, self-attention cache and cross K/V in; logits
/// and the extended cache out.
pub fn decoder(weights: &Weights, scheme: Quantization) -> pb::ModelProto {
    let c: &ModelConfig = &weights.config;
    let d = &c.decoder;
    let mut g = Graph::new(scheme, &c.decoder_spec());
    let (h, dh) = (d.heads, c.decoder_head_dim());
    let tok = weights.get("dec.tok");
    // The token table serves both the embedding lookup and the tied output projection.
    let (embedded, table_t) = match scheme {
        Quantization::F32 => {
            let t = g.array("dec.tok", tok);
            let e = g.node(
                "Gather",
                &[&t, names::INPUT_IDS],
                vec![("axis", Attr::Int(0))],
            );
            (e, Some(g.transpose(&t, &[1, 0])))
        }
        Quantization::Int8Weights | Quantization::Int8Dynamic => {
            let (q, scale) = quantize_per_channel(tok, 0);
            let tq = g.i8s("dec.tok.q", &tok.shape, &q);
            let ts = g.f32s("dec.tok.scale", &[tok.shape[0]], &scale);
            let rows = g.node(
                "Gather",
                &[&tq, names::INPUT_IDS],
                vec![("axis", Attr::Int(0))],
            );
            let rows = g.node(
                "Cast",
                &[&rows],
                vec![("to", Attr::Int(DataType::Float as i64))],
            );
            let s = g.node(
                "Gather",
                &[&ts, names::INPUT_IDS],
                vec![("axis", Attr::Int(0))],
            );
            let axes = g.fresh("axes");
            let axes = g.i64s(&axes, &[-1]);
            let s = g.node("Unsqueeze", &[&s, &axes], vec![]);
            let e = g.node("Mul", &[&rows, &s], vec![]);
            (e, None)
        }
    };
    let pos = g.array("dec.pos", weights.get("dec.pos"));
    let p = g.node(
        "Gather",
        &[&pos, names::POSITION_IDS],
        vec![("axis", Attr::Int(0))],
    );
    let mut x = g.node("Add", &[&embedded, &p], vec![]);
    let (post_norm, eps) = (d.style == DecoderStyle::PostNorm, d.norm_eps);
    if post_norm {
        x = g.layer_norm_eps(&x, weights, "dec.emb_ln", eps);
    }
    // Pre-norm normalises what goes into a sub-layer, post-norm the residual sum it gives.
    let sub_layer_input = |g: &mut Graph, x: &str, norm: &str| {
        if post_norm {
            x.to_string()
        } else {
            g.layer_norm_eps(x, weights, norm, eps)
        }
    };
    let residual = |g: &mut Graph, x: &str, y: &str, norm: &str| {
        let sum = g.node("Add", &[x, y], vec![]);
        if post_norm {
            g.layer_norm_eps(&sum, weights, norm, eps)
        } else {
            sum
        }
    };
    for l in 0..d.depth {
        let b = format!("dec.blocks.{l}");
        let hs = sub_layer_input(&mut g, &x, &format!("{b}.ln1"));
        let q = g.linear(&hs, weights, &format!("{b}.self.q"));
        let k = g.linear(&hs, weights, &format!("{b}.self.k"));
        let v = g.linear(&hs, weights, &format!("{b}.self.v"));
        let (q, k, v) = (
            g.heads(&q, 1, h, dh),
            g.heads(&k, 1, h, dh),
            g.heads(&v, 1, h, dh),
        );
        let past_k = names::past_k(l);
        let past_v = names::past_v(l);
        let k = g.node("Concat", &[&past_k, &k], vec![("axis", Attr::Int(2))]);
        let v = g.node("Concat", &[&past_v, &v], vec![("axis", Attr::Int(2))]);
        g.output(&k, &names::present_k(l));
        g.output(&v, &names::present_v(l));
        let a = g.attend(&q, &k, &v, 1, h, dh);
        let a = g.linear(&a, weights, &format!("{b}.self.o"));
        x = residual(&mut g, &x, &a, &format!("{b}.ln1"));
        let hs = sub_layer_input(&mut g, &x, &format!("{b}.ln2"));
        let q = g.linear(&hs, weights, &format!("{b}.cross.q"));
        let q = g.heads(&q, 1, h, dh);
        let a = g.attend(&q, &names::cross_k(l), &names::cross_v(l), 1, h, dh);
        let a = g.linear(&a, weights, &format!("{b}.cross.o"));
        x = residual(&mut g, &x, &a, &format!("{b}.ln2"));
        let hs = sub_layer_input(&mut g, &x, &format!("{b}.ln3"));
        let m = g.mlp(&hs, weights, &format!("{b}.mlp"));
        x = residual(&mut g, &x, &m, &format!("{b}.ln3"));
    }
    if post_norm {
        let y = g.linear(&x, weights, "dec.head");
        x = g.gelu(&y);
    }
    let x = g.layer_norm_eps(&x, weights, "dec.ln", eps);
    let mut logits = match table_t {
        Some(t) => g.node("MatMul", &[&x, &t], vec![]),
        None => {
            let tq_t = g.transpose("dec.tok.q", &[1, 0]);
            g.int8_matmul(&x, &tq_t, "dec.tok.scale")
        }
    };
    if post_norm {
        let bias = g.array("dec.out_b", weights.get("dec.out_b"));
        logits = g.node("Add", &[&logits, &bias], vec![]);
    }
    g.output(&logits, names::LOGITS);
    g.finish("earsight-decoder")
}

/// Serialises a graph to ONNX bytes.
pub fn to_bytes(model: &pb::ModelProto) -> Vec<u8> {
    prost::Message::encode_to_vec(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_quantization_bounds_the_error_by_half_a_step() {
        let a = Array::new(vec![3, 2], vec![0.5, -2.0, 0.25, 1.0, -1.0, 0.0]).unwrap();
        for axis in [0, 1] {
            let (q, scale) = quantize_per_channel(&a, axis);
            for (i, (&qi, &x)) in q.iter().zip(&a.data).enumerate() {
                let ch = if axis == 0 { i / 2 } else { i % 2 };
                assert!((qi as f32 * scale[ch] - x).abs() <= scale[ch] / 2.0 + 1e-7);
                assert!(qi.unsigned_abs() <= 127);
            }
        }
    }
}
