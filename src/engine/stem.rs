//! A 3x3 convolution of stride 2 over a single input channel (a log-mel image), in place of
//! tract's.
//!
//! tract 0.23.9 runs every convolution as a matrix product over patches gathered on the fly;
//! with one input channel each patch has nine values, and the tagger's stem convolution cost
//! about ten times what onnxruntime takes (`tools/bench/FINDINGS.md`, "The tagger's pools and
//! stem"). This op splits each input row into its even and odd columns once, so that every tap
//! of a stride-2 row is a contiguous run, and accumulates the nine taps of each output row as
//! vector multiply-adds.

use tract_onnx::tract_core::internal::*;

use super::epilogue::{Epilogue, WithEpilogue};
#[cfg(test)]
use tract_onnx::tract_core::ops::cnn::PoolSpec;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// A convolution of `[N, 1, H, W]` f32 with `C` kernels of 3x3, stride 2, one pixel of zero
/// padding on every side, and a bias: `[N, C, (H + 1) / 2, (W + 1) / 2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StemConv {
    /// `[C, 3, 3]`, row-major.
    weights: Arc<Tensor>,
    /// `[C]`.
    bias: Arc<Tensor>,
    /// The ReLU and pool folded in after it, if any.
    epilogue: Epilogue,
}

/// The output length of a stride-2, 3-tap axis padded by one on each side.
fn out_len(n: usize) -> usize {
    n.div_ceil(2)
}

impl StemConv {
    fn channels(&self) -> usize {
        self.bias.len()
    }
}

impl Op for StemConv {
    fn name(&self) -> StaticName {
        "StemConv".into()
    }

    op_as_typed_op!();
}

impl EvalOp for StemConv {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let [n, 1, h, w] = *input.shape() else {
            bail!("StemConv wants [N, 1, H, W], found {:?}", input.shape());
        };
        let (oh, ow, channels) = (out_len(h), out_len(w), self.channels());
        let e = self.epilogue;
        let plain = input.try_as_plain_ram()?;
        let images = plain.as_slice::<f32>()?;
        let weights = self.weights.try_as_plain_ram()?;
        let weights = weights.as_slice::<f32>()?;
        let bias = self.bias.try_as_plain_ram()?;
        let bias = bias.as_slice::<f32>()?;
        let output = super::new_f32(&[n, channels, e.len(oh), e.len(ow)], |output| {
            if output.is_empty() {
                return Ok(());
            }
            // For each input row, the input column under each of the three taps of every
            // output column (2 * ox - 1, 2 * ox, 2 * ox + 1), zero where it falls in the padding.
            let mut taps = vec![0f32; h * 3 * ow];
            for (image, out) in images
                .chunks_exact(h * w)
                .zip(output.chunks_exact_mut(channels * e.len(oh) * e.len(ow)))
            {
                for (row, taps) in image.chunks_exact(w).zip(taps.chunks_exact_mut(3 * ow)) {
                    let (left, rest) = taps.split_at_mut(ow);
                    let (centre, right) = rest.split_at_mut(ow);
                    for ox in 0..ow {
                        left[ox] = if ox > 0 { row[2 * ox - 1] } else { 0.0 };
                        centre[ox] = row[2 * ox];
                        right[ox] = row.get(2 * ox + 1).copied().unwrap_or(0.0);
                    }
                }
                e.apply(oh, ow, out, |planes| {
                    convolve(&Taps { rows: &taps, h, ow }, weights, bias, planes)
                });
            }
            Ok(())
        })?;
        Ok(tvec!(output))
    }

    op_out_of_plan!();
}

/// The input columns under each tap of every output column, for each of the `h` input rows:
/// per row, `ow` values for the left tap, then the centre's, then the right's.
struct Taps<'a> {
    rows: &'a [f32],
    h: usize,
    ow: usize,
}

/// Every output channel of one image into `out` (planes of `oh` rows of `ow`), kernel `c` of
/// `weights` (3x3, row-major) and its bias. With the x86-64 AVX2 and FMA extensions where the
/// processor has them (the portable build's code is SSE2, four lanes and no fused multiply-add).
fn convolve(taps: &Taps, weights: &[f32], bias: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the processor has both extensions, checked just above.
        return unsafe { convolve_avx2_fma(taps, weights, bias, out) };
    }
    // aarch64's NEON always fuses; elsewhere `mul_add` may be a library call.
    convolve_with::<{ cfg!(target_arch = "aarch64") }>(taps, weights, bias, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn convolve_avx2_fma(taps: &Taps, weights: &[f32], bias: &[f32], out: &mut [f32]) {
    convolve_with::<true>(taps, weights, bias, out)
}

#[inline(always)]
fn convolve_with<const FUSED: bool>(taps: &Taps, weights: &[f32], bias: &[f32], out: &mut [f32]) {
    let Taps { rows, h, ow } = *taps;
    if out.is_empty() || bias.is_empty() {
        return;
    }
    let planes = out.chunks_exact_mut(out.len() / bias.len());
    for ((plane, k), &channel_bias) in planes.zip(weights.chunks_exact(9)).zip(bias) {
        for (oy, out_row) in plane.chunks_exact_mut(ow).enumerate() {
            out_row.fill(channel_bias);
            for ky in 0..3 {
                let Some(iy) = (2 * oy + ky).checked_sub(1).filter(|&iy| iy < h) else {
                    continue;
                };
                let t = &rows[iy * 3 * ow..][..3 * ow];
                let (left, rest) = t.split_at(ow);
                let (centre, right) = rest.split_at(ow);
                let (k0, k1, k2) = (k[3 * ky], k[3 * ky + 1], k[3 * ky + 2]);
                for (((o, &a), &b), &d) in out_row.iter_mut().zip(left).zip(centre).zip(right) {
                    *o = if FUSED {
                        k2.mul_add(d, k1.mul_add(b, k0.mul_add(a, *o)))
                    } else {
                        *o + k0 * a + k1 * b + k2 * d
                    };
                }
            }
        }
    }
}

impl TypedOp for StemConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        ensure!(shape.rank() == 4, "StemConv wants a rank-4 input");
        let halved = |d: &TDim| self.epilogue.side(&((d.clone() + 1) / 2));
        Ok(tvec!(f32::fact([
            shape[0].clone(),
            self.channels().to_dim(),
            halved(&shape[2]),
            halved(&shape[3]),
        ])))
    }
}

impl WithEpilogue for StemConv {
    fn epilogue(&self) -> Epilogue {
        self.epilogue
    }

    fn with_epilogue(&self, epilogue: Epilogue) -> StemConv {
        StemConv {
            epilogue,
            ..self.clone()
        }
    }
}

/// The kernel and bias of tract's convolution `op` over `inputs` when it is the one
/// [`StemConv`] computes: one input channel, 3x3, stride 2, padded by one, constant weights.
fn stem_of(op: &Conv, inputs: &[&TypedFact]) -> Option<StemConv> {
    let spec = &op.pool_spec;
    let padded_by_one = match &spec.padding {
        PaddingSpec::Explicit(before, after) => before.iter().chain(after).all(|&p| p == 1),
        PaddingSpec::ExplicitOnnxPool(before, after, ceil) => {
            !ceil && before.iter().chain(after).all(|&p| p == 1)
        }
        _ => false,
    };
    let plain = op.q_params.is_none()
        && op.group == 1
        && op.kernel_fmt == KernelFormat::OIHW
        && spec.data_format == DataFormat::NCHW
        && spec.kernel_shape[..] == [3, 3]
        && spec.strides.as_deref().is_some_and(|s| s == [2, 2])
        && spec.dilations.as_deref().is_none_or(|d| d == [1, 1])
        && padded_by_one
        && inputs.len() == 3
        && inputs[0].datum_type == f32::datum_type()
        && inputs[0].rank() == 4
        && inputs[0].shape[1] == 1.to_dim();
    if !plain {
        return None;
    }
    let kernel = inputs[1].konst.as_ref()?;
    let bias = inputs[2].konst.as_ref()?;
    let channels = kernel.shape().first().copied()?;
    if kernel.datum_type() != f32::datum_type()
        || kernel.shape() != [channels, 1, 3, 3]
        || bias.datum_type() != f32::datum_type()
        || bias.len() != channels
    {
        return None;
    }
    let weights = kernel
        .clone()
        .into_tensor()
        .into_shape(&[channels, 9])
        .ok()?;
    let bias = bias.clone().into_tensor().into_shape(&[channels]).ok()?;
    Some(StemConv {
        weights: weights.into_arc_tensor(),
        bias: bias.into_arc_tensor(),
        epilogue: Epilogue::default(),
    })
}

/// Puts [`StemConv`] in place of each of tract's single-channel 3x3, stride-2 convolutions of
/// a decluttered graph (before tract optimises it into patches and a matrix product); returns
/// how many it replaced.
pub(super) fn replace_stem_convs(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        let Some(op) = node.op_as::<Conv>() else {
            continue;
        };
        let Some(stem) = stem_of(op, &model.node_input_facts(id)?) else {
            continue;
        };
        let mut patch = TypedModelPatch::default();
        let data = patch.tap_model(model, node.inputs[0])?;
        let wire = patch.wire_node(&node.name, stem, &[data])?[0];
        patch.shunt_outside(model, OutletId::new(id, 0), wire)?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tract's convolution of `kernel` (`[C, 1, 3, 3]`) and `bias` over an input of `shape`,
    /// with `stride` and `pad` on every side, decluttered as the engine declutters its graphs.
    fn tract_conv(
        shape: &[usize],
        kernel: &Tensor,
        bias: &Tensor,
        stride: usize,
        pad: usize,
    ) -> TypedModel {
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(shape)).unwrap();
        let kernel = model.add_const("kernel", kernel.clone()).unwrap();
        let bias = model.add_const("bias", bias.clone()).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec![3, 3],
                padding: PaddingSpec::Explicit(tvec![pad, pad], tvec![pad, pad]),
                dilations: None,
                strides: Some(tvec![stride, stride]),
                input_channels: 1,
                output_channels: kernel_channels(&model, kernel),
            },
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let out = model
            .wire_node("conv", conv, &[source, kernel, bias])
            .unwrap();
        model.select_output_outlets(&out).unwrap();
        model.into_decluttered().unwrap()
    }

    fn kernel_channels(model: &TypedModel, kernel: OutletId) -> usize {
        model.outlet_fact(kernel).unwrap().shape[0]
            .to_usize()
            .unwrap()
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104729) % 211) as f32 / 53.0 - 2.0)
            .collect()
    }

    fn run(model: TypedModel, input: &Tensor) -> Tensor {
        let outputs = model
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap()
            .run(tvec![input.clone().into()])
            .unwrap();
        outputs[0].clone().into_tensor()
    }

    #[test]
    fn replaces_tracts_convolution_with_the_same_values_at_even_and_odd_sizes() {
        for (shape, channels) in [([1, 1, 496, 64], 24), ([2, 1, 7, 9], 3), ([1, 1, 1, 1], 2)] {
            let kernel =
                Tensor::from_shape(&[channels, 1, 3, 3], &values(channels * 9, 1)).unwrap();
            let bias = Tensor::from_shape(&[channels], &values(channels, 2)).unwrap();
            let x = Tensor::from_shape(&shape, &values(shape.iter().product(), 3)).unwrap();
            let expected = run(tract_conv(&shape, &kernel, &bias, 2, 1), &x);
            let mut model = tract_conv(&shape, &kernel, &bias, 2, 1);
            assert_eq!(replace_stem_convs(&mut model).unwrap(), 1, "{shape:?}");
            let found = run(model, &x);
            assert_eq!(found.shape(), expected.shape(), "{shape:?}");
            let (found, expected) = (
                found.to_plain_array_view::<f32>().unwrap(),
                expected.to_plain_array_view::<f32>().unwrap(),
            );
            for (i, (f, e)) in found.iter().zip(expected.iter()).enumerate() {
                // The same products, summed in another order.
                assert!(
                    (f - e).abs() <= 1e-5 * (1.0 + e.abs()),
                    "{shape:?} at {i}: {f} != {e}"
                );
            }
        }
    }

    #[test]
    fn leaves_other_convolutions_to_tract() {
        let kernel = Tensor::from_shape(&[4, 1, 3, 3], &values(36, 1)).unwrap();
        let bias = Tensor::from_shape(&[4], &values(4, 2)).unwrap();
        for (stride, pad) in [(1, 1), (2, 0)] {
            let mut model = tract_conv(&[1, 1, 8, 8], &kernel, &bias, stride, pad);
            assert_eq!(replace_stem_convs(&mut model).unwrap(), 0, "{stride} {pad}");
        }
    }
}
