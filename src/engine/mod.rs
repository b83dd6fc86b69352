//! The graphs of a bundle, run by tract: the encoder (mel window -> audio tokens and the
//! decoder's cross-attention keys/values), the one-step decoder with its self-attention cache,
//! and, in bundles that have one, the tagger (mel window -> a score per tag).

mod attention;
mod conv3x3;
mod cuda;
mod epilogue;
mod group_max;
mod guide;
mod hoist;
mod lanes;
mod layer_norm;
mod matmul;
mod matvec_i8;
#[cfg(test)]
mod op_tests;
mod pool;
mod rewrite;
mod search;
mod stem;
mod tagger;
mod weights;

use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::optim::Optimizer;

use crate::bundle::{Bundle, Dim, TensorSpec, DECODER_FILE, ENCODER_FILE};
use crate::config::ModelConfig;
use tract_onnx::tract_hir::infer::GenericFactoid;

pub use guide::{Guided, GuidedCache, GuidedTag, TagWords};
pub use search::{decode, Hypothesis, StepModel};
pub use tagger::{fired, fired_indices, Tag, Tagger};

/// Why a graph could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{path}: cannot load ONNX graph: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("{path}: graph {kind} {index} is `{found}` but the manifest says `{expected}`")]
    Interface {
        path: PathBuf,
        kind: &'static str,
        index: usize,
        expected: String,
        found: String,
    },
    #[error("mel window has {found} values, the encoder takes {expected} ({frames} frames x {mels} mels)")]
    MelShape {
        expected: usize,
        found: usize,
        frames: usize,
        mels: usize,
    },
    #[error("the tagger's mel has {found} values, not whole frames of {mels} bands")]
    TaggerShape { found: usize, mels: usize },
    #[error("position {position} is past the decoder's position table ({max})")]
    Position { position: usize, max: usize },
    #[error("token id {id} is outside the vocabulary (size {vocab})")]
    Token { id: u32, vocab: usize },
    #[error("{graph} failed: {reason}")]
    Run { graph: &'static str, reason: String },
    #[error("the {backend} backend is not available here: {reason}")]
    Backend {
        backend: &'static str,
        reason: String,
    },
}

/// Where a bundle's graphs run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// tract's CPU runtime, with earsight's own ops where they are faster than tract's.
    #[default]
    Cpu,
    /// tract's CUDA runtime on an NVIDIA GPU (the Jetson boards): the same graphs, as tract
    /// reads them, without earsight's CPU ops. Needs a build with the `cuda` feature, and the
    /// NVIDIA driver, NVRTC, cuBLAS and cuDNN libraries at run time.
    Cuda,
}

impl Backend {
    /// The name `--backend` takes.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        }
    }
}

/// A graph ready to run on its backend.
type Plan = Box<dyn Runnable>;

/// Encoder output for one window: the audio tokens and, per decoder layer, cross-attention K
/// and V, computed once per window rather than once per token.
#[derive(Clone)]
pub struct Memory {
    tokens: TValue,
    cross: TVec<TValue>,
    /// What the decoder's steps take from `cross` alone, computed once.
    cross_once: TVec<TValue>,
}

impl Memory {
    /// The audio tokens in the captioner's token space, `[1, tokens, dim]` row-major.
    pub fn tokens(&self) -> Result<&[f32], EngineError> {
        plain_f32("encoder", &self.tokens)
    }
}

/// The self-attention cache of one hypothesis: `past_k`/`past_v` of every layer.
#[derive(Clone)]
pub struct KvCache {
    past: TVec<TValue>,
}

impl KvCache {
    /// Tokens already in the cache.
    pub fn len(&self) -> usize {
        self.past[0].shape()[2]
    }

    /// True before the first step.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Loaded, optimized encoder and decoder plans.
pub struct Engine {
    config: ModelConfig,
    encoder: Plan,
    /// What the decoder computes from the cross-attention keys and values alone, run once per
    /// window; `None` when it computes nothing from them alone.
    cross_once: Option<Plan>,
    /// The decoder's step, which also takes `cross_once`'s outputs.
    decoder: Plan,
}

impl Engine {
    /// Loads both graphs of a checked bundle for the CPU ([`Engine::load_on`]).
    pub fn load(bundle: &Bundle) -> Result<Engine, EngineError> {
        Self::load_on(bundle, Backend::Cpu)
    }

    /// Loads both graphs of a checked bundle to run on `backend`, and verifies that their
    /// inputs and outputs are the ones the manifest declares. The decoder is optimized once,
    /// with a symbolic cache length.
    pub fn load_on(bundle: &Bundle, backend: Backend) -> Result<Engine, EngineError> {
        let m = bundle.manifest();
        let encoder = load_graph(&bundle.path(ENCODER_FILE), &m.encoder, backend)?;
        let path = bundle.path(DECODER_FILE);
        let decoder = load_typed(&path, &m.decoder, backend)?;
        // The token, its position and each layer's past keys and values come first; the
        // cross-attention keys and values, the same for every step of a window, after them.
        let depth = m.model.decoder.depth;
        let cross: Vec<usize> = (2 + 2 * depth..2 + 4 * depth).collect();
        let runnable = |model: TypedModel| prepare(&path, model, backend);
        let (cross_once, decoder) =
            match hoist::split(&decoder, &cross).map_err(|e| load_error(&path, e))? {
                Some(split) => {
                    log::debug!(
                        "{}: {} of {} ops run once per window",
                        path.display(),
                        split.once.nodes.len(),
                        decoder.nodes.len()
                    );
                    (Some(runnable(split.once)?), runnable(split.each)?)
                }
                None => (None, runnable(decoder)?),
            };
        Ok(Engine {
            config: m.model.clone(),
            encoder,
            cross_once,
            decoder,
        })
    }

    /// Runs the encoder on one window of `clip_frames x n_mels` normalised log-mel values.
    pub fn encode(&self, mel: &[f32]) -> Result<Memory, EngineError> {
        let f = &self.config.frontend;
        let expected = f.clip_frames * f.n_mels;
        if mel.len() != expected {
            return Err(EngineError::MelShape {
                expected,
                found: mel.len(),
                frames: f.clip_frames,
                mels: f.n_mels,
            });
        }
        let input =
            Tensor::from_shape(&[1, f.clip_frames, f.n_mels], mel).map_err(run_err("encoder"))?;
        let mut outputs = run(&self.encoder, tvec![input.into()]).map_err(run_err("encoder"))?;
        let cross: TVec<TValue> = outputs.drain(1..).collect();
        let cross_once = match &self.cross_once {
            Some(once) => run(once, cross.clone()).map_err(run_err("decoder"))?,
            None => tvec![],
        };
        Ok(Memory {
            tokens: outputs.remove(0),
            cross,
            cross_once,
        })
    }

    /// An empty self-attention cache.
    pub fn empty_cache(&self) -> KvCache {
        let d = &self.config.decoder;
        let empty = Tensor::zero::<f32>(&[1, d.heads, 0, self.config.decoder_head_dim()])
            .expect("zero-sized tensor");
        KvCache {
            past: (0..2 * d.depth).map(|_| empty.clone().into()).collect(),
        }
    }

    /// Feeds `token` at position `cache.len()`, appends to the cache, and returns the logits of
    /// the next token.
    pub fn step(
        &self,
        memory: &Memory,
        cache: &mut KvCache,
        token: u32,
    ) -> Result<Vec<f32>, EngineError> {
        let d = &self.config.decoder;
        let position = cache.len();
        if position >= d.max_positions {
            return Err(EngineError::Position {
                position,
                max: d.max_positions,
            });
        }
        if token as usize >= d.vocab_size {
            return Err(EngineError::Token {
                id: token,
                vocab: d.vocab_size,
            });
        }
        let mut inputs: TVec<TValue> =
            TVec::with_capacity(2 + 4 * d.depth + memory.cross_once.len());
        inputs.push(tensor2(&[[token as i64]]).into());
        inputs.push(tensor2(&[[position as i64]]).into());
        inputs.extend(cache.past.drain(..));
        inputs.extend(memory.cross.iter().cloned());
        inputs.extend(memory.cross_once.iter().cloned());
        let mut outputs = run(&self.decoder, inputs).map_err(run_err("decoder"))?;
        cache.past = outputs.drain(1..).collect();
        Ok(plain_f32("decoder", &outputs[0])?.to_vec())
    }
}

/// One window's encoder output bound to the engine, as the search sees it.
pub struct WindowDecoder<'a> {
    pub engine: &'a Engine,
    pub memory: &'a Memory,
}

impl StepModel for WindowDecoder<'_> {
    type Cache = KvCache;
    type Error = EngineError;

    fn start(&self) -> KvCache {
        self.engine.empty_cache()
    }

    fn step(&self, cache: &mut KvCache, token: u32) -> Result<Vec<f32>, EngineError> {
        self.engine.step(self.memory, cache, token)
    }
}

/// Runs a graph and leaves the vector registers clean for the code after it.
///
/// tract 0.23's x86-64 assembly kernels return with the upper halves of the vector registers
/// dirty (no `vzeroupper`), and until the next one every legacy-SSE instruction after them pays
/// the AVX-SSE transition: all of this crate's float code and libm's. Log-softmax over the
/// mini decoder's 4000 logits took 550 µs instead of 15.
fn run(graph: &Plan, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let outputs = graph.run(inputs);
    clear_upper_vector_state();
    outputs
}

#[inline]
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (checked above), and vzeroupper only clears the upper
        // halves of the YMM/ZMM registers, which hold nothing live between two calls.
        unsafe { std::arch::x86_64::_mm256_zeroupper() }
    }
}

fn run_err(graph: &'static str) -> impl Fn(TractError) -> EngineError {
    move |e| EngineError::Run {
        graph,
        reason: format!("{e:#}"),
    }
}

/// A new tensor of `shape`, zeroed, then filled in place by `fill`. Its own aligned storage is
/// the only copy of the values: a `Vec` turned into a tensor would be copied once more, and
/// while graphs load, the heap would keep both.
fn filled_tensor<T: Datum>(
    shape: &[usize],
    fill: impl FnOnce(&mut [T]) -> TractResult<()>,
) -> TractResult<Tensor> {
    let mut tensor = Tensor::zero_dt(T::datum_type(), shape)?;
    fill(tensor.try_as_plain_ram_mut()?.as_slice_mut::<T>()?)?;
    Ok(tensor)
}

/// A new f32 op output of `shape`, filled in place by `fill` ([`filled_tensor`]).
fn new_f32(
    shape: &[usize],
    fill: impl FnOnce(&mut [f32]) -> TractResult<()>,
) -> TractResult<TValue> {
    Ok(filled_tensor(shape, fill)?.into_tvalue())
}

/// For an op that maps each last-axis row of `k` f32 values to a row of `n`: its output, filled
/// by `fill` from the input's rows (`op` names the op in errors).
fn map_rows(
    op: &str,
    input: &TValue,
    (k, n): (usize, usize),
    fill: impl FnOnce(&[f32], &mut [f32]) -> TractResult<()>,
) -> TractResult<TValue> {
    let shape = input.shape();
    tract_onnx::tract_core::internal::ensure!(
        shape.last() == Some(&k),
        "{op} wants rows of {k}, found {shape:?}"
    );
    let mut out_shape: TVec<usize> = shape.into();
    *out_shape.last_mut().expect("a rank of at least one") = n;
    let plain = input.try_as_plain_ram()?;
    let rows = plain.as_slice::<f32>()?;
    new_f32(&out_shape, |output| {
        if output.is_empty() || k == 0 {
            return Ok(());
        }
        fill(rows, output)
    })
}

/// The output fact of a [`map_rows`] op: the input's shape with a last axis of `n`.
fn rows_fact(op: &str, input: &TypedFact, n: usize) -> TractResult<TVec<TypedFact>> {
    let mut shape = input.shape.clone();
    tract_onnx::tract_core::internal::ensure!(
        shape.rank() >= 1,
        "{op} wants a rank of at least one"
    );
    shape.set(shape.rank() - 1, n.to_dim());
    Ok(tvec!(f32::fact(shape)))
}

fn plain_f32<'a>(graph: &'static str, value: &'a TValue) -> Result<&'a [f32], EngineError> {
    value
        .try_as_plain_ram()
        .and_then(|v| v.as_slice::<f32>())
        .map_err(run_err(graph))
}

/// Loads one ONNX graph, checks its interface names against the manifest, and optimizes it
/// for `backend`.
fn load_graph(
    path: &Path,
    spec: &crate::bundle::GraphSpec,
    backend: Backend,
) -> Result<Plan, EngineError> {
    prepare(path, load_typed(path, spec, backend)?, backend)
}

/// Makes an optimised graph runnable on `backend`.
fn prepare(path: &Path, model: TypedModel, backend: Backend) -> Result<Plan, EngineError> {
    match backend {
        Backend::Cpu => Ok(Box::new(
            model.into_runnable().map_err(|e| load_error(path, e))?,
        )),
        Backend::Cuda => cuda::runtime()?
            .prepare(model)
            .map_err(|e| load_error(path, e)),
    }
}

fn load_error(path: &Path, e: TractError) -> EngineError {
    EngineError::Load {
        path: path.into(),
        reason: format!("{e:#}"),
    }
}

/// [`load_graph`]'s optimised graph, before it is made runnable: for the CPU with earsight's
/// own ops; for a GPU as tract's declutter leaves it, for the GPU runtime to translate.
fn load_typed(
    path: &Path,
    spec: &crate::bundle::GraphSpec,
    backend: Backend,
) -> Result<TypedModel, EngineError> {
    let load = |e: TractError| load_error(path, e);
    let onnx = tract_onnx::onnx();
    let mut proto = onnx.proto_model_for_path(path).map_err(load)?;
    let weights = weights::defer_int8(&mut proto).map_err(load)?;
    let groups = group_max::gather_group_maxes(&mut proto).map_err(load)?;
    let model = onnx.model_for_proto_model(&proto).map_err(load)?;
    // The graph's own inputs; the deferred weights follow them.
    let inputs = &model.inputs[..model.inputs.len() - weights.len()];
    let input_names: Vec<String> = inputs
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    let output_names = output_names(&model).map_err(load)?;
    for (kind, found, expected) in [
        ("input", &input_names, &spec.inputs),
        ("output", &output_names, &spec.outputs),
    ] {
        let expected_names: Vec<&str> = expected.iter().map(|t| t.name.as_str()).collect();
        for index in 0..found.len().max(expected_names.len()) {
            let f = found.get(index).map_or("nothing", |s| s.as_str());
            let e = expected_names.get(index).copied().unwrap_or("nothing");
            if f != e {
                return Err(EngineError::Interface {
                    path: path.into(),
                    kind,
                    index,
                    expected: e.into(),
                    found: f.into(),
                });
            }
        }
    }
    for (index, (outlet, expected)) in inputs.iter().zip(&spec.inputs).enumerate() {
        let fact = model.outlet_fact(*outlet).map_err(load)?;
        let dims: Vec<Option<TDim>> = fact
            .shape
            .dims()
            .map(|d| match d {
                GenericFactoid::Only(t) => Some(t.clone()),
                GenericFactoid::Any => None,
            })
            .collect();
        check_shape(path, "input shape", index, expected, &dims)?;
    }
    let mut typed = model.into_typed().map_err(load)?;
    weights.bind(&mut typed).map_err(load)?;
    match backend {
        Backend::Cpu => optimise_for_cpu(path, &mut typed, groups).map_err(load)?,
        Backend::Cuda => declutter(&mut typed).map_err(load)?,
    }
    check_output_shapes(path, spec, &typed)?;
    Ok(typed)
}

/// tract's declutter and optimisation, with earsight's own ops put in place of tract's where
/// they are faster on the CPU (each with its module's reasons).
fn optimise_for_cpu(path: &Path, typed: &mut TypedModel, groups: usize) -> TractResult<()> {
    let kernels = weights::fold_kernel_scales(typed)?;
    // Before decluttering, so that tract's passes do not visit the hundreds of ops they
    // replace, nor widen the int8 weights of single-row products to f32.
    let matvecs = matvec_i8::replace_matvecs(typed)?;
    let mut matmuls = matmul::replace_matmuls(typed)?;
    declutter(typed)?;
    let stems = stem::replace_stem_convs(typed)?;
    let convs = conv3x3::replace_conv3x3s(typed)?;
    let fused = epilogue::fuse_epilogues(typed)?;
    matmuls += matmul::replace_matmuls(typed)?;
    let scaled = rewrite::fuse_column_ops::<matmul::MatMulPacked>(typed)?
        + rewrite::fuse_column_ops::<matvec_i8::MatVecI8>(typed)?;
    let attentions = attention::replace_attentions(typed)?;
    let norms = layer_norm::replace_layer_norms(typed)?;
    rewrite::fuse_column_ops::<layer_norm::LayerNorm>(typed)?;
    typed.optimize()?;
    let pools = pool::replace_max_pools(typed)?;
    log::debug!(
        "{}: {groups} concatenation(s) of group maxes gathered at once, {kernels} int8 \
         kernel(s) scaled once; earsight's own ops run {stems} stem convolution(s), {convs} 3x3 \
         convolution(s) ({fused} of the two with their ReLU and pool), {pools} other max-pool(s) \
         or max(es) over an axis, {matvecs} int8 single-row product(s), {matmuls} product(s) of \
         many rows ({scaled} of the products with their columns' scales and biases), \
         {attentions} multi-head attention(s) and {norms} layer norm(s)",
        path.display()
    );
    Ok(())
}

/// Checks the output shapes as tract infers them from the graph itself, not as the file
/// declares them.
fn check_output_shapes(
    path: &Path,
    spec: &crate::bundle::GraphSpec,
    typed: &TypedModel,
) -> Result<(), EngineError> {
    let load = |e: TractError| load_error(path, e);
    for (index, (outlet, expected)) in typed
        .output_outlets()
        .map_err(load)?
        .iter()
        .zip(&spec.outputs)
        .enumerate()
    {
        let fact = typed.outlet_fact(*outlet).map_err(load)?;
        let dims: Vec<Option<TDim>> = fact.shape.iter().map(|d| Some(d.clone())).collect();
        check_shape(path, "output shape", index, expected, &dims)?;
    }
    Ok(())
}

/// A graph's output names, in order: each output's label, else its node's name (what an ONNX
/// graph's outputs are called once tract has read it).
pub fn output_names<F, O>(model: &Graph<F, O>) -> TractResult<Vec<String>>
where
    F: Fact + Clone + 'static,
    O: std::fmt::Debug + std::fmt::Display + AsRef<dyn Op> + AsMut<dyn Op> + Clone + 'static,
{
    Ok(model
        .output_outlets()?
        .iter()
        .map(|&o| {
            model
                .outlet_label(o)
                .map(str::to_owned)
                .unwrap_or_else(|| model.node(o.node).name.clone())
        })
        .collect())
}

/// tract's declutter passes but ChangeAxes (it moves transposes through the graph): that pass
/// cost load time and made the graphs no faster (`tools/bench/FINDINGS.md`, "The runtime's
/// speed").
fn declutter(model: &mut TypedModel) -> TractResult<()> {
    let mut declutter = Optimizer::declutter();
    declutter
        .passes
        .retain(|pass| format!("{pass:?}") != "ChangeAxes");
    declutter.session().optimize(model)
}

/// A dimension matches a fixed size when tract knows it to be that number, and a symbol when
/// it varies per call.
fn check_shape(
    path: &Path,
    kind: &'static str,
    index: usize,
    expected: &TensorSpec,
    dims: &[Option<TDim>],
) -> Result<(), EngineError> {
    let matches = dims.len() == expected.shape.len()
        && dims.iter().zip(&expected.shape).all(|(d, e)| match (d, e) {
            (Some(t), Dim::Fixed(n)) => t.to_i64().ok() == Some(*n as i64),
            (Some(t), Dim::Symbol(_)) => t.to_i64().is_err(),
            (None, _) => false,
        });
    if matches {
        return Ok(());
    }
    let found: Vec<String> = dims
        .iter()
        .map(|d| d.as_ref().map_or("?".into(), |t| t.to_string()))
        .collect();
    Err(EngineError::Interface {
        path: path.into(),
        kind,
        index,
        expected: expected.to_string(),
        found: format!("[{}]", found.join(", ")),
    })
}
