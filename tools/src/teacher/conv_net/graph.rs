//! The convolutional student as one ONNX graph, written with the project's own graph builder:
//! `mel [1, clip_frames, n_mels]` -> `tokens [1, n, dim]` (the backbone's, for a captioner) and
//! `tag_scores [1, classes]` (the tag head's sigmoid over the teacher's classes) for measuring
//! it against its teacher ([`tagger`]), or `tag_scores [1, tags]` over the project's tags for a
//! bundle ([`bundle_tagger`]). Each batch norm is folded into the
//! convolution before it; under an int8 scheme each kernel is stored int8 with one scale per
//! output channel (`Cast` then `Mul`, which tract folds into f32 kernels at load).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use earsight::bundle::{names, DType, Dim, GraphSpec, Quantization, TensorSpec};
use serde::Serialize;
use tract_onnx::pb;
use tract_onnx::prelude::{tvec, Framework, InferenceModelExt, IntoRunnable, Tensor};

use super::{ConvConfig, Downsample};
use crate::model::onnx::{Attr, Graph};
use crate::model::weights::Array;

/// The graph's output of backbone tokens.
pub const TOKENS: &str = "tokens";
/// The graph's output of tag scores (sigmoid of the tag head's logits).
pub const TAG_SCORES: &str = names::TAG_SCORES;
/// The batch norm's epsilon (burn's default, which the backbone trains with).
const NORM_EPS: f32 = 1e-5;

fn spec(name: &str, shape: &[usize]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: DType::F32,
        shape: shape.iter().map(|&n| Dim::Fixed(n)).collect(),
    }
}

fn get<'a>(arrays: &'a BTreeMap<String, Array>, name: &str) -> Result<&'a Array> {
    arrays
        .get(name)
        .with_context(|| format!("the student's weights have no tensor {name:?}"))
}

/// A kernel with its batch norm folded in: `w * g / sqrt(v + eps)` per output channel, and
/// the bias `b - m * g / sqrt(v + eps)`.
pub(super) fn folded(arrays: &BTreeMap<String, Array>, block: &str) -> Result<(Array, Vec<f32>)> {
    let kernel = get(arrays, &format!("{block}.conv.weight"))?;
    let norm = |stat: &str| get(arrays, &format!("{block}.norm.{stat}")).map(|a| &a.data);
    let (gamma, beta, mean, var) = (
        norm("gamma")?,
        norm("beta")?,
        norm("running_mean")?,
        norm("running_var")?,
    );
    let channels = kernel.shape[0];
    ensure!(
        [gamma, beta, mean, var].iter().all(|s| s.len() == channels),
        "{block}: its batch norm does not have the kernel's {channels} channels"
    );
    let per_channel = kernel.data.len() / channels;
    let scale: Vec<f32> = (0..channels)
        .map(|c| gamma[c] / (var[c] + NORM_EPS).sqrt())
        .collect();
    let data = kernel
        .data
        .iter()
        .enumerate()
        .map(|(i, w)| w * scale[i / per_channel])
        .collect();
    let bias = (0..channels)
        .map(|c| beta[c] - mean[c] * scale[c])
        .collect();
    Ok((
        Array {
            shape: kernel.shape.clone(),
            data,
        },
        bias,
    ))
}

/// One block: convolution (batch norm folded), ReLU, 2x2 max-pooling.
fn block(
    g: &mut Graph,
    x: &str,
    arrays: &BTreeMap<String, Array>,
    name: &str,
    stride: i64,
    pool: bool,
) -> Result<String> {
    let (kernel, bias) = folded(arrays, name)?;
    Ok(g.conv3x3_relu(x, name, &kernel, &bias, stride, pool))
}

/// The student's graph from its backbone's tensors ([`super::ConvBackbone::to_arrays`]) and
/// its tag head's (`tag_head.weight [dim, classes]`, `tag_head.bias [classes]`): tokens and
/// the score of every class of the head.
pub fn tagger(
    config: &ConvConfig,
    n_mels: usize,
    backbone: &BTreeMap<String, Array>,
    head: &BTreeMap<String, Array>,
    scheme: Quantization,
) -> Result<pb::ModelProto> {
    student_graph(config, n_mels, backbone, head, scheme, None)
}

/// The student's graph as a bundle's tagger ([`earsight::bundle::TaggerManifest`]): mel ->
/// one score per tag, each the best of its classes of the head (`tags[i]`, indices into the
/// head's classes).
pub fn bundle_tagger(
    config: &ConvConfig,
    n_mels: usize,
    backbone: &BTreeMap<String, Array>,
    head: &BTreeMap<String, Array>,
    scheme: Quantization,
    tags: &[Vec<usize>],
) -> Result<pb::ModelProto> {
    ensure!(!tags.is_empty(), "a tagger needs at least one tag");
    student_graph(config, n_mels, backbone, head, scheme, Some(tags))
}

fn student_graph(
    config: &ConvConfig,
    n_mels: usize,
    backbone: &BTreeMap<String, Array>,
    head: &BTreeMap<String, Array>,
    scheme: Quantization,
    tags: Option<&[Vec<usize>]>,
) -> Result<pb::ModelProto> {
    config.validate(n_mels)?;
    let head_w = get(head, "tag_head.weight")?;
    let head_b = get(head, "tag_head.bias")?;
    let (dim, classes) = (config.dim(), head_b.data.len());
    ensure!(
        head_w.shape == [dim, classes],
        "tag_head.weight is {:?}, not [{dim}, {classes}] for the backbone's width",
        head_w.shape
    );
    if let Some(tags) = tags {
        for (i, t) in tags.iter().enumerate() {
            ensure!(
                !t.is_empty() && t.iter().all(|&c| c < classes),
                "tag {i}: its classes {t:?} are not among the head's {classes} (0..{classes})"
            );
        }
    }
    let (frames, tokens) = (config.clip_frames, config.clip_frames / config.shrink());
    let interface = match tags {
        None => GraphSpec {
            inputs: vec![spec(names::MEL, &[1, frames, n_mels])],
            outputs: vec![
                spec(TOKENS, &[1, tokens, dim]),
                spec(TAG_SCORES, &[1, classes]),
            ],
        },
        Some(tags) => earsight::bundle::TaggerManifest::graph_spec(frames, n_mels, tags.len()),
    };
    let mut g = Graph::new(scheme, &interface);
    let mut x = g.reshape(names::MEL, &[1, 1, frames as i64, n_mels as i64]);
    let pool = config.downsample == Downsample::Pool;
    x = block(&mut g, &x, backbone, "stem", 2, pool)?;
    let stride = if pool { 1 } else { 2 };
    for i in 0..config.channels.len() {
        let name = format!("blocks.{i}");
        x = block(&mut g, &x, backbone, &name, stride, pool)?;
    }
    let x = g.node(
        "ReduceMean",
        &[&x],
        vec![("axes", Attr::Ints(vec![3])), ("keepdims", Attr::Int(0))],
    );
    let tokens_value = g.node(
        "Transpose",
        &[&x],
        vec![("perm", Attr::Ints(vec![0, 2, 1]))],
    );
    let pool = |g: &mut Graph, op: &str| {
        g.node(
            op,
            &[&tokens_value],
            vec![("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(0))],
        )
    };
    let mean = pool(&mut g, "ReduceMean");
    let max = pool(&mut g, "ReduceMax");
    let pooled = g.node("Add", &[&mean, &max], vec![]);
    let w = g.f32s("tag_head.weight", &head_w.shape, &head_w.data);
    let b = g.f32s("tag_head.bias", &[classes], &head_b.data);
    let logits = g.node("MatMul", &[&pooled, &w], vec![]);
    let logits = g.node("Add", &[&logits, &b], vec![]);
    let scores = g.node("Sigmoid", &[&logits], vec![]);
    let Some(tags) = tags else {
        g.output(&tokens_value, TOKENS);
        g.output(&scores, TAG_SCORES);
        return Ok(g.finish("earsight-conv-tagger"));
    };
    let per_tag: Vec<String> = tags
        .iter()
        .enumerate()
        .map(|(i, classes)| {
            let indices: Vec<i64> = classes.iter().map(|&c| c as i64).collect();
            let indices = g.i64s(&format!("tag.{i}.classes"), &indices);
            let picked = g.node("Gather", &[&scores, &indices], vec![("axis", Attr::Int(1))]);
            g.node(
                "ReduceMax",
                &[&picked],
                vec![("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(1))],
            )
        })
        .collect();
    let inputs: Vec<&str> = per_tag.iter().map(String::as_str).collect();
    let tag_scores = g.node("Concat", &inputs, vec![("axis", Attr::Int(1))]);
    g.output(&tag_scores, TAG_SCORES);
    Ok(g.finish("earsight-tagger"))
}

/// What [`time_in_tract`] measured.
#[derive(Debug, Serialize)]
pub struct GraphTiming {
    /// Reading, typing and optimising the graph.
    pub load_ms: f64,
    /// Each run on one window, in order.
    pub run_ms: Vec<f64>,
}

/// Loads the graph at `path` in tract as the runtime does (optimised, one thread) and runs it
/// `runs` times on a window of `frames` x `n_mels` values, timing each.
pub fn time_in_tract(
    path: &Path,
    frames: usize,
    n_mels: usize,
    runs: usize,
) -> Result<GraphTiming> {
    let began = Instant::now();
    let model = tract_onnx::onnx()
        .model_for_path(path)
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .with_context(|| format!("{}: loading it in tract", path.display()))?;
    let load_ms = 1e3 * began.elapsed().as_secs_f64();
    let window: Vec<f32> = (0..frames * n_mels)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let mut run_ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let input = Tensor::from_shape(&[1, frames, n_mels], &window)?;
        let began = Instant::now();
        model
            .run(tvec![input.into()])
            .with_context(|| format!("{}: running it in tract", path.display()))?;
        run_ms.push(1e3 * began.elapsed().as_secs_f64());
    }
    Ok(GraphTiming { load_ms, run_ms })
}
