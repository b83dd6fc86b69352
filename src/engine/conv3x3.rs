//! A 3x3 convolution of stride 1 with one pixel of zero padding, over many input channels, in
//! place of tract's.
//!
//! tract 0.23.9 runs such a convolution as a separate padding op, then a matrix product whose
//! right-hand side it gathers patch by patch from the padded image, and the gathering was a
//! large part of the tagger's time (`tools/bench/FINDINGS.md`, "The tagger's convolutions").
//! This op gathers nothing: the nine taps of a pixel are fixed offsets into a padded copy of
//! each input plane, so the product reads every input value straight from there. A tile of
//! output pixels times a block of output channels stays in vector registers while the loop
//! runs over input channels and taps, one broadcast input value and one vector of packed
//! weights per multiply-add.

use tract_onnx::tract_core::internal::*;

use super::epilogue::{Epilogue, WithEpilogue};
use super::filled_tensor;
#[cfg(target_arch = "x86_64")]
use super::lanes::Lanes;
use super::rewrite::replace_each;
use super::weights::pack_output_blocks;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Output channels per block of packed weights: a tile's accumulators are this many lanes wide.
const BLOCK: usize = 32;

/// A convolution of `[N, I, H, W]` f32 with `O` kernels of `I x 3 x 3`, stride 1, one pixel of
/// zero padding on every side, and a bias: `[N, O, H, W]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Conv3x3 {
    /// `[blocks, I, 9, BLOCK]`: per block of output channels, per input channel and tap, the
    /// block's weights, zero past the last output channel.
    packed: Arc<Tensor>,
    /// `[O]`.
    bias: Arc<Tensor>,
    inputs: usize,
    /// The ReLU and pool folded in after it, if any.
    epilogue: Epilogue,
}

impl Conv3x3 {
    fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// Packs a `[O, I, 3, 3]` kernel.
    fn new(kernel: &[f32], bias: Tensor, inputs: usize) -> TractResult<Conv3x3> {
        let outputs = bias.len();
        ensure!(kernel.len() == outputs * inputs * 9);
        let blocks = outputs.div_ceil(BLOCK);
        // `[O, I, 3, 3]` is each output's `I * 9` taps, contiguous.
        let packed = filled_tensor::<f32>(&[blocks, inputs, 9, BLOCK], |packed| {
            pack_output_blocks::<BLOCK, f32>(kernel, inputs * 9, packed);
            Ok(())
        })?;
        Ok(Conv3x3 {
            packed: packed.into_arc_tensor(),
            bias: bias.into_arc_tensor(),
            inputs,
            epilogue: Epilogue::default(),
        })
    }
}

impl Op for Conv3x3 {
    fn name(&self) -> StaticName {
        "Conv3x3".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Conv3x3 {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let [n, i, h, w] = *input.shape() else {
            bail!("Conv3x3 wants [N, I, H, W], found {:?}", input.shape());
        };
        ensure!(
            i == self.inputs,
            "Conv3x3 has kernels for {} input channels, found {i}",
            self.inputs
        );
        let outputs = self.outputs();
        let plain = input.try_as_plain_ram()?;
        let images = plain.as_slice::<f32>()?;
        let packed = self.packed.try_as_plain_ram()?;
        let packed = packed.as_slice::<f32>()?;
        let bias = self.bias.try_as_plain_ram()?;
        let bias = bias.as_slice::<f32>()?;
        let e = self.epilogue;
        let output = super::new_f32(&[n, outputs, e.len(h), e.len(w)], |output| {
            if output.is_empty() {
                return Ok(());
            }
            let image = Image { h, w };
            let mut padded = vec![0f32; i * image.plane()];
            for (pixels, out) in images
                .chunks_exact(i * h * w)
                .zip(output.chunks_exact_mut(outputs * e.len(h) * e.len(w)))
            {
                image.pad(pixels, &mut padded);
                let mut convolved = Ok(());
                e.apply(h, w, out, |planes| {
                    convolved = convolve(&image, &padded, packed, bias, planes)
                });
                convolved?;
            }
            Ok(())
        })?;
        Ok(tvec!(output))
    }

    op_out_of_plan!();
}

impl TypedOp for Conv3x3 {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        ensure!(shape.rank() == 4, "Conv3x3 wants a rank-4 input");
        Ok(tvec!(f32::fact([
            shape[0].clone(),
            self.outputs().to_dim(),
            self.epilogue.side(&shape[2]),
            self.epilogue.side(&shape[3]),
        ])))
    }
}

impl WithEpilogue for Conv3x3 {
    fn epilogue(&self) -> Epilogue {
        self.epilogue
    }

    fn with_epilogue(&self, epilogue: Epilogue) -> Conv3x3 {
        Conv3x3 {
            epilogue,
            ..self.clone()
        }
    }
}

/// The size of one image's planes.
struct Image {
    h: usize,
    w: usize,
}

impl Image {
    /// Values in a plane padded by one pixel on every side.
    fn plane(&self) -> usize {
        (self.h + 2) * (self.w + 2)
    }

    /// Copies each `h x w` plane of `pixels` into the middle of its padded plane in `padded`,
    /// whose border stays zero.
    fn pad(&self, pixels: &[f32], padded: &mut [f32]) {
        let stride = self.w + 2;
        for (plane, padded) in pixels
            .chunks_exact(self.h * self.w)
            .zip(padded.chunks_exact_mut(self.plane()))
        {
            for (row, out) in plane
                .chunks_exact(self.w)
                .zip(padded[stride..].chunks_exact_mut(stride))
            {
                out[1..=self.w].copy_from_slice(row);
            }
        }
    }

    /// The offset in a padded plane of the top-left tap of output pixel `p` (row-major).
    #[cfg(target_arch = "x86_64")]
    fn corner(&self, p: usize) -> usize {
        (p / self.w) * (self.w + 2) + p % self.w
    }

    /// The offsets of the nine taps from a pixel's top-left tap, row-major.
    #[cfg(target_arch = "x86_64")]
    fn taps(&self) -> [usize; 9] {
        let stride = self.w + 2;
        std::array::from_fn(|t| (t / 3) * stride + t % 3)
    }
}

/// One image's convolution: `padded` holds its input planes padded by one pixel, `out` gets
/// its output planes. With AVX-512, or AVX2 and FMA ([`super::lanes::x86_vectors`]).
fn convolve(
    image: &Image,
    padded: &[f32],
    packed: &[f32],
    bias: &[f32],
    out: &mut [f32],
) -> TractResult<()> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512F, checked just above.
            unsafe { x86::convolve_avx512(image, padded, packed, bias, out) };
            return Ok(());
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the processor has both extensions, checked just above.
            unsafe { x86::convolve_avx2_fma(image, padded, packed, bias, out) };
            return Ok(());
        }
    }
    let _ = (image, padded, packed, bias, out);
    bail!("Conv3x3 needs AVX-512, or AVX2 and FMA")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::lanes::{Avx2Fma, Avx512};
    use super::{convolve_with, Image};

    /// 10 pixels x 2 vectors: 20 of the 32 ZMM registers hold the sums, 10 the broadcast
    /// inputs, 2 the weights (at 12 pixels they spill).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn convolve_avx512(
        image: &Image,
        padded: &[f32],
        packed: &[f32],
        bias: &[f32],
        out: &mut [f32],
    ) {
        convolve_with::<Avx512, 10, 2>(image, padded, packed, bias, out)
    }

    /// 2 pixels x 4 vectors: 8 of the 16 YMM registers hold the sums, 2 the broadcast inputs,
    /// 4 the weights (at 3 pixels they spill).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn convolve_avx2_fma(
        image: &Image,
        padded: &[f32],
        packed: &[f32],
        bias: &[f32],
        out: &mut [f32],
    ) {
        convolve_with::<Avx2Fma, 2, 4>(image, padded, packed, bias, out)
    }
}

/// The convolution in tiles of `P` output pixels by a block of `V` vectors of output channels.
///
/// # Safety
/// The processor has `S`'s instruction set, and `V * S::LANES == BLOCK`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn convolve_with<S: Lanes, const P: usize, const V: usize>(
    image: &Image,
    padded: &[f32],
    packed: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    assert_eq!(V * S::LANES, BLOCK, "a block is V vectors");
    let pixels = image.h * image.w;
    let taps = image.taps();
    let inputs = padded.len() / image.plane();
    let outputs = bias.len();
    let mut sums = [[0f32; BLOCK]; P];
    for (block, weights) in packed.chunks_exact(inputs * 9 * BLOCK).enumerate() {
        let lanes = BLOCK.min(outputs - block * BLOCK);
        for first in (0..pixels).step_by(P) {
            let count = P.min(pixels - first);
            // A short last tile repeats its last pixel; the repeats are not written.
            let corners: [usize; P] =
                std::array::from_fn(|p| image.corner(first + p.min(count - 1)));
            let vectors = tile::<S, P, V>(image, padded, weights, &corners, &taps);
            for (sum, vectors) in sums.iter_mut().zip(&vectors) {
                for (lanes, &v) in sum.chunks_exact_mut(S::LANES).zip(vectors) {
                    S::store(lanes.as_mut_ptr(), v);
                }
            }
            for (lane, out) in out[block * BLOCK * pixels..]
                .chunks_exact_mut(pixels)
                .take(lanes)
                .enumerate()
            {
                let b = bias[block * BLOCK + lane];
                for (o, sum) in out[first..first + count].iter_mut().zip(&sums) {
                    *o = sum[lane] + b;
                }
            }
        }
    }
}

/// The sums over every input channel and tap for `P` output pixels (their top-left taps at
/// `corners` in each padded plane) and one block of output channels (`weights`).
///
/// # Safety
/// As [`convolve_with`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile<S: Lanes, const P: usize, const V: usize>(
    image: &Image,
    padded: &[f32],
    weights: &[f32],
    corners: &[usize; P],
    taps: &[usize; 9],
) -> [[S::V; V]; P] {
    let plane = image.plane();
    let mut sums = [[S::splat(0.0); V]; P];
    let last = corners.iter().max().copied().unwrap_or(0) + taps[8];
    assert!(last < plane, "a tap falls outside the padded plane");
    // Unrolled, the nine taps' loads were hoisted above their multiply-adds and spilled the
    // registers; a tap count the compiler cannot see keeps the loop a loop.
    let taps: &[usize] = std::hint::black_box(taps);
    for (values, weights) in padded
        .chunks_exact(plane)
        .zip(weights.chunks_exact(9 * BLOCK))
    {
        for (&tap, w) in taps.iter().zip(weights.chunks_exact(BLOCK)) {
            let w: [S::V; V] = std::array::from_fn(|v| S::load(w[v * S::LANES..].as_ptr()));
            let under_tap = values.as_ptr().add(tap);
            for (sum, &corner) in sums.iter_mut().zip(corners) {
                // SAFETY: corner + tap <= last < plane == values.len(), asserted above.
                let x = S::splat(*under_tap.add(corner));
                for (s, &w) in sum.iter_mut().zip(&w) {
                    *s = S::mul_add(x, w, *s);
                }
            }
        }
    }
    sums
}

/// The constant weights of one of tract's 3x3 convolutions padded by one pixel on every side,
/// over an f32 NCHW input, without groups, quantisation or dilation.
pub(super) struct Constant3x3 {
    /// The input channels.
    pub inputs: usize,
    /// `[O, I, 3, 3]`, row-major.
    pub kernel: Vec<f32>,
    /// `[O]`.
    pub bias: Tensor,
}

/// The weights of tract's convolution `op` over `inputs` when it is a [`Constant3x3`] of
/// `stride` on both axes.
pub(super) fn constant_3x3(op: &Conv, inputs: &[&TypedFact], stride: usize) -> Option<Constant3x3> {
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
        && spec.strides.as_deref().unwrap_or(&[1, 1]) == [stride, stride]
        && spec.dilations.as_deref().is_none_or(|d| d == [1, 1])
        && padded_by_one
        && inputs.len() == 3
        && inputs[0].datum_type == f32::datum_type()
        && inputs[0].rank() == 4;
    if !plain {
        return None;
    }
    let channels = inputs[0].shape[1].to_usize().ok()?;
    let kernel = inputs[1].konst.as_ref()?;
    let bias = inputs[2].konst.as_ref()?;
    let outputs = kernel.shape().first().copied()?;
    if kernel.datum_type() != f32::datum_type()
        || kernel.shape() != [outputs, channels, 3, 3]
        || bias.datum_type() != f32::datum_type()
        || bias.len() != outputs
    {
        return None;
    }
    Some(Constant3x3 {
        inputs: channels,
        kernel: kernel
            .try_as_plain_ram()
            .ok()?
            .as_slice::<f32>()
            .ok()?
            .to_vec(),
        bias: bias.clone().into_tensor().into_shape(&[outputs]).ok()?,
    })
}

/// Puts [`Conv3x3`] in place of each of tract's [`Constant3x3`] convolutions of stride 1 over
/// more than one input channel, where the processor has its vector paths
/// ([`super::lanes::x86_vectors`]): on ARM, tract's assembly kernels took fewer instructions
/// than this op's NEON loop (`tools/bench/FINDINGS.md`, "The tagger's convolutions"). Returns
/// how many it replaced.
pub(super) fn replace_conv3x3s(model: &mut TypedModel) -> TractResult<usize> {
    if !super::lanes::x86_vectors() {
        return Ok(0);
    }
    replace_each(model, |_, _, op: &Conv, inputs| {
        let c = constant_3x3(op, inputs, 1).filter(|c| c.inputs > 1)?;
        Conv3x3::new(&c.kernel, c.bias, c.inputs).ok()
    })
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::op_tests::{assert_close, run, tensor, tract_conv};
    use super::*;

    #[test]
    fn replaces_tracts_convolution_with_the_same_values() {
        // The tagger's three sizes; odd sizes, partial tiles and a partial block of outputs;
        // two images; a single pixel.
        for (shape, outputs) in [
            ([1, 24, 124, 16], 64),
            ([1, 64, 62, 8], 128),
            ([1, 128, 31, 4], 256),
            ([2, 3, 7, 5], 37),
            ([1, 2, 1, 1], 5),
        ] {
            let inputs = shape[1];
            let (kernel, bias) = (tensor(&[outputs, inputs, 3, 3], 1), tensor(&[outputs], 2));
            let x = tensor(&shape, 3);
            let conv = || tract_conv(&shape, &kernel, &bias, (1, 1), |_, o| o);
            let expected = run(conv(), &x);
            let mut model = conv();
            assert_eq!(replace_conv3x3s(&mut model).unwrap(), 1, "{shape:?}");
            let tolerance = 1e-5 * (inputs * 9) as f32;
            assert_close(&run(model, &x), &expected, tolerance, &format!("{shape:?}"));
        }
    }

    #[test]
    fn leaves_other_convolutions_to_tract() {
        let (kernel, bias) = (tensor(&[4, 2, 3, 3], 1), tensor(&[4], 2));
        for (stride, pad) in [(2, 1), (1, 0)] {
            let mut model = tract_conv(&[1, 2, 8, 8], &kernel, &bias, (stride, pad), |_, o| o);
            assert_eq!(replace_conv3x3s(&mut model).unwrap(), 0, "{stride} {pad}");
        }
        let single = tensor(&[4, 1, 3, 3], 1);
        let mut model = tract_conv(&[1, 1, 8, 8], &single, &bias, (1, 1), |_, o| o);
        assert_eq!(
            replace_conv3x3s(&mut model).unwrap(),
            0,
            "one input channel"
        );
    }
}
