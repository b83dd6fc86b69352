//! A 3x3 convolution of stride 2 over a single input channel (a log-mel image), in place of
//! tract's.
//!
//! tract 0.23.9 runs every convolution as a matrix product over patches gathered on the fly;
//! with one input channel each patch has nine values, and the tagger's stem convolution cost
//! about ten times what onnxruntime takes (`tools/bench/FINDINGS.md`, "The tagger's pools and
//! stem"). This op splits each input row into its even and odd columns once, so that every tap
//! of a stride-2 row is a contiguous run, and accumulates the nine taps of each output row as
//! vector multiply-adds, for a block of output channels at once: each input vector is loaded
//! once for the block, and the block's sums stay in registers.

use tract_onnx::tract_core::internal::*;

use super::conv3x3::constant_3x3;
use super::epilogue::{Epilogue, WithEpilogue};
use super::lanes::{Lanes, Scalar};
use super::rewrite::replace_each;
use tract_onnx::tract_core::ops::cnn::Conv;

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
/// `weights` (3x3, row-major) and its bias. With AVX-512 or AVX2 and FMA on x86-64 where the
/// processor has them, NEON on aarch64, and plain arithmetic elsewhere.
fn convolve(taps: &Taps, weights: &[f32], bias: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::lanes::{Avx2Fma, Avx512};
        if is_x86_feature_detected!("avx512f") {
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512(taps: &Taps, weights: &[f32], bias: &[f32], out: &mut [f32]) {
                // 8 channels x 2 vectors: 16 of the 32 ZMM registers hold the sums.
                convolve_with::<Avx512, 8, 2>(taps, weights, bias, out)
            }
            // SAFETY: the processor has AVX-512F, checked just above.
            return unsafe { avx512(taps, weights, bias, out) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2_fma(taps: &Taps, weights: &[f32], bias: &[f32], out: &mut [f32]) {
                // 4 channels x 2 vectors: 8 of the 16 YMM registers hold the sums.
                convolve_with::<Avx2Fma, 4, 2>(taps, weights, bias, out)
            }
            // SAFETY: the processor has both extensions, checked just above.
            return unsafe { avx2_fma(taps, weights, bias, out) };
        }
    }
    // 4 channels x 4 vectors: 16 of the 32 NEON registers hold the sums.
    #[cfg(target_arch = "aarch64")]
    // SAFETY: NEON is part of every aarch64 processor.
    return unsafe { convolve_with::<super::lanes::Neon, 4, 4>(taps, weights, bias, out) };
    #[allow(unreachable_code)]
    // SAFETY: plain arithmetic needs no processor extension.
    unsafe {
        convolve_with::<Scalar, 1, 8>(taps, weights, bias, out)
    }
}

/// The convolution in blocks of `R` output channels, each output row in tiles of `V` vectors:
/// the tile's sums stay in registers over the nine taps, each input vector loaded once for the
/// `R` channels. Channels past the last whole block go one at a time.
///
/// # Safety
/// The processor has `S`'s instruction set.
#[inline(always)]
unsafe fn convolve_with<S: Lanes, const R: usize, const V: usize>(
    taps: &Taps,
    weights: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    if out.is_empty() || bias.is_empty() {
        return;
    }
    let plane = out.len() / bias.len();
    let whole = bias.len() / R * R;
    let (blocks, rest) = out.split_at_mut(whole * plane);
    for ((planes, k), b) in blocks
        .chunks_exact_mut(R * plane)
        .zip(weights.chunks_exact(R * 9))
        .zip(bias.chunks_exact(R))
    {
        channels::<S, R, V>(taps, k, b, planes);
    }
    for ((planes, k), b) in rest
        .chunks_exact_mut(plane)
        .zip(weights[whole * 9..].chunks_exact(9))
        .zip(bias[whole..].chunks_exact(1))
    {
        channels::<S, 1, V>(taps, k, b, planes);
    }
}

/// `R` output channels (kernels `weights`, biases `bias`) into their planes.
///
/// # Safety
/// As [`convolve_with`].
#[inline(always)]
unsafe fn channels<S: Lanes, const R: usize, const V: usize>(
    taps: &Taps,
    weights: &[f32],
    bias: &[f32],
    planes: &mut [f32],
) {
    let Taps { rows, h, ow } = *taps;
    let plane = planes.len() / R;
    let width = V * S::LANES;
    let tiled = ow / width * width;
    for oy in 0..plane / ow {
        // The input rows under the kernel's three rows, None in the padding.
        let under: [Option<&[f32]>; 3] = std::array::from_fn(|ky| {
            (2 * oy + ky)
                .checked_sub(1)
                .filter(|&iy| iy < h)
                .map(|iy| &rows[iy * 3 * ow..][..3 * ow])
        });
        for x0 in (0..tiled).step_by(width) {
            let mut sums: [[S::V; V]; R] = std::array::from_fn(|r| [S::splat(bias[r]); V]);
            for (ky, row) in under.iter().enumerate() {
                let Some(row) = row else { continue };
                for kx in 0..3 {
                    // Tap kx's columns of this row, from x0: within the row (x0 + width <= ow).
                    let src = row[kx * ow + x0..][..width].as_ptr();
                    let x: [S::V; V] = std::array::from_fn(|v| S::load(src.add(v * S::LANES)));
                    for (sum, k) in sums.iter_mut().zip(weights.chunks_exact(9)) {
                        let w = S::splat(k[3 * ky + kx]);
                        for (s, &x) in sum.iter_mut().zip(&x) {
                            *s = S::mul_add(w, x, *s);
                        }
                    }
                }
            }
            for (sum, out) in sums.iter().zip(planes.chunks_exact_mut(plane)) {
                let dst = out[oy * ow + x0..][..width].as_mut_ptr();
                for (v, &s) in sum.iter().enumerate() {
                    S::store(dst.add(v * S::LANES), s);
                }
            }
        }
        // The columns past the last whole tile, one at a time.
        for ((out, k), &b) in planes
            .chunks_exact_mut(plane)
            .zip(weights.chunks_exact(9))
            .zip(bias)
        {
            for x in tiled..ow {
                let mut sum = b;
                for (ky, row) in under.iter().enumerate() {
                    if let Some(row) = row {
                        for kx in 0..3 {
                            sum += k[3 * ky + kx] * row[kx * ow + x];
                        }
                    }
                }
                out[oy * ow + x] = sum;
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

/// Puts [`StemConv`] in place of each of tract's single-channel constant 3x3 convolutions
/// of stride 2; returns how many it replaced.
pub(super) fn replace_stem_convs(model: &mut TypedModel) -> TractResult<usize> {
    replace_each(model, |_, _, op: &Conv, inputs| {
        let c = constant_3x3(op, inputs, 2).filter(|c| c.inputs == 1)?;
        let channels = c.bias.len();
        Some(StemConv {
            weights: Tensor::from_shape(&[channels, 9], &c.kernel)
                .ok()?
                .into_arc_tensor(),
            bias: c.bias.into_arc_tensor(),
            epilogue: Epilogue::default(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::op_tests::{assert_close, run, tensor, tract_conv};
    use super::*;

    #[test]
    fn replaces_tracts_convolution_with_the_same_values_at_even_and_odd_sizes() {
        for (shape, channels) in [([1, 1, 496, 64], 24), ([2, 1, 7, 9], 3), ([1, 1, 1, 1], 2)] {
            let (kernel, bias) = (tensor(&[channels, 1, 3, 3], 1), tensor(&[channels], 2));
            let x = tensor(&shape, 3);
            let conv = || tract_conv(&shape, &kernel, &bias, (2, 1), |_, o| o);
            let expected = run(conv(), &x);
            let mut model = conv();
            assert_eq!(replace_stem_convs(&mut model).unwrap(), 1, "{shape:?}");
            assert_close(&run(model, &x), &expected, 1e-5, &format!("{shape:?}"));
        }
    }

    #[test]
    fn leaves_other_convolutions_to_tract() {
        let (kernel, bias) = (tensor(&[4, 1, 3, 3], 1), tensor(&[4], 2));
        for (stride, pad) in [(1, 1), (2, 0)] {
            let mut model = tract_conv(&[1, 1, 8, 8], &kernel, &bias, (stride, pad), |_, o| o);
            assert_eq!(replace_stem_convs(&mut model).unwrap(), 0, "{stride} {pad}");
        }
    }
}
