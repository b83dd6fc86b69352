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
#[cfg(test)]
use tract_onnx::tract_core::ops::cnn::PoolSpec;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// Output channels per block of packed weights: a tile's accumulators are this many lanes wide.
const BLOCK: usize = if cfg!(target_arch = "x86_64") { 32 } else { 16 };

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
        let mut packed = vec![0f32; blocks * inputs * 9 * BLOCK];
        for (o, kernels) in kernel.chunks_exact(inputs * 9).enumerate() {
            let (block, lane) = (o / BLOCK, o % BLOCK);
            for (i, taps) in kernels.chunks_exact(9).enumerate() {
                for (t, &w) in taps.iter().enumerate() {
                    packed[((block * inputs + i) * 9 + t) * BLOCK + lane] = w;
                }
            }
        }
        Ok(Conv3x3 {
            packed: Tensor::from_shape(&[blocks, inputs, 9, BLOCK], &packed)?.into_arc_tensor(),
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
                e.apply(h, w, out, |planes| {
                    convolve(&image, &padded, packed, bias, planes)
                });
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
    fn corner(&self, p: usize) -> usize {
        (p / self.w) * (self.w + 2) + p % self.w
    }

    /// The offsets of the nine taps from a pixel's top-left tap, row-major.
    fn taps(&self) -> [usize; 9] {
        let stride = self.w + 2;
        std::array::from_fn(|t| (t / 3) * stride + t % 3)
    }
}

/// One image's convolution: `padded` holds its input planes padded by one pixel, `out` gets
/// its output planes. With AVX-512 or AVX2 and FMA on x86-64 where the processor has them, NEON
/// on aarch64, and plain arithmetic elsewhere.
fn convolve(image: &Image, padded: &[f32], packed: &[f32], bias: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512F, checked just above.
            return unsafe { x86::convolve_avx512(image, padded, packed, bias, out) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the processor has both extensions, checked just above.
            return unsafe { x86::convolve_avx2_fma(image, padded, packed, bias, out) };
        }
    }
    // 5 pixels x 4 vectors: 20 of the 32 NEON registers hold the sums, 5 the broadcast inputs,
    // 4 the weights.
    #[cfg(target_arch = "aarch64")]
    // SAFETY: NEON is part of every aarch64 processor.
    return unsafe { convolve_with::<neon::Neon, 5, 4>(image, padded, packed, bias, out) };
    #[allow(unreachable_code)]
    // SAFETY: plain arithmetic needs no processor extension.
    unsafe {
        convolve_with::<Scalar, 2, BLOCK>(image, padded, packed, bias, out)
    }
}

/// The vectors of f32 of one instruction set, as the tile loop uses them.
trait Lanes {
    type V: Copy;
    const LANES: usize;
    /// # Safety
    /// The processor has the instruction set.
    unsafe fn zero() -> Self::V;
    /// # Safety
    /// The processor has the instruction set, and `LANES` values are readable at `src`.
    unsafe fn load(src: *const f32) -> Self::V;
    /// # Safety
    /// The processor has the instruction set.
    unsafe fn splat(x: f32) -> Self::V;
    /// `a * b + acc`.
    /// # Safety
    /// The processor has the instruction set.
    unsafe fn mul_add(a: Self::V, b: Self::V, acc: Self::V) -> Self::V;
    /// # Safety
    /// The processor has the instruction set, and `LANES` values are writable at `dst`.
    unsafe fn store(dst: *mut f32, v: Self::V);
}

/// One value at a time, for processors without a vector path here.
struct Scalar;

impl Lanes for Scalar {
    type V = f32;
    const LANES: usize = 1;
    unsafe fn zero() -> f32 {
        0.0
    }
    unsafe fn load(src: *const f32) -> f32 {
        *src
    }
    unsafe fn splat(x: f32) -> f32 {
        x
    }
    unsafe fn mul_add(a: f32, b: f32, acc: f32) -> f32 {
        acc + a * b
    }
    unsafe fn store(dst: *mut f32, v: f32) {
        *dst = v
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{convolve_with, Image, Lanes};
    use std::arch::x86_64::*;

    pub(super) struct Avx512;

    impl Lanes for Avx512 {
        type V = __m512;
        const LANES: usize = 16;
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn zero() -> __m512 {
            _mm512_setzero_ps()
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load(src: *const f32) -> __m512 {
            _mm512_loadu_ps(src)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn splat(x: f32) -> __m512 {
            _mm512_set1_ps(x)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn mul_add(a: __m512, b: __m512, acc: __m512) -> __m512 {
            _mm512_fmadd_ps(a, b, acc)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn store(dst: *mut f32, v: __m512) {
            _mm512_storeu_ps(dst, v)
        }
    }

    pub(super) struct Avx2Fma;

    impl Lanes for Avx2Fma {
        type V = __m256;
        const LANES: usize = 8;
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn zero() -> __m256 {
            _mm256_setzero_ps()
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn load(src: *const f32) -> __m256 {
            _mm256_loadu_ps(src)
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn splat(x: f32) -> __m256 {
            _mm256_set1_ps(x)
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn mul_add(a: __m256, b: __m256, acc: __m256) -> __m256 {
            _mm256_fmadd_ps(a, b, acc)
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn store(dst: *mut f32, v: __m256) {
            _mm256_storeu_ps(dst, v)
        }
    }

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

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::Lanes;
    use std::arch::aarch64::*;

    pub(super) struct Neon;

    impl Lanes for Neon {
        type V = float32x4_t;
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> float32x4_t {
            vdupq_n_f32(0.0)
        }
        #[inline(always)]
        unsafe fn load(src: *const f32) -> float32x4_t {
            vld1q_f32(src)
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> float32x4_t {
            vdupq_n_f32(x)
        }
        #[inline(always)]
        unsafe fn mul_add(a: float32x4_t, b: float32x4_t, acc: float32x4_t) -> float32x4_t {
            vfmaq_f32(acc, a, b)
        }
        #[inline(always)]
        unsafe fn store(dst: *mut f32, v: float32x4_t) {
            vst1q_f32(dst, v)
        }
    }
}

/// The convolution in tiles of `P` output pixels by a block of `V` vectors of output channels.
///
/// # Safety
/// The processor has `S`'s instruction set, and `V * S::LANES == BLOCK`.
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
#[inline(always)]
unsafe fn tile<S: Lanes, const P: usize, const V: usize>(
    image: &Image,
    padded: &[f32],
    weights: &[f32],
    corners: &[usize; P],
    taps: &[usize; 9],
) -> [[S::V; V]; P] {
    let plane = image.plane();
    let mut sums = [[S::zero(); V]; P];
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

/// The kernel and bias of tract's convolution `op` over `inputs` when it is one [`Conv3x3`]
/// computes: 3x3, stride 1, padded by one, more than one input channel, constant weights.
fn conv3x3_of(op: &Conv, inputs: &[&TypedFact]) -> Option<Conv3x3> {
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
        && spec.strides.as_deref().is_none_or(|s| s == [1, 1])
        && spec.dilations.as_deref().is_none_or(|d| d == [1, 1])
        && padded_by_one
        && inputs.len() == 3
        && inputs[0].datum_type == f32::datum_type()
        && inputs[0].rank() == 4;
    if !plain {
        return None;
    }
    let channels = inputs[0].shape[1].to_usize().ok().filter(|&c| c > 1)?;
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
    let kernel = kernel.try_as_plain_ram().ok()?;
    let bias = bias.clone().into_tensor().into_shape(&[outputs]).ok()?;
    Conv3x3::new(kernel.as_slice::<f32>().ok()?, bias, channels).ok()
}

/// Puts [`Conv3x3`] in place of each of tract's multi-channel 3x3, stride-1 convolutions padded
/// by one in a decluttered graph (before tract optimises it into patches and a matrix product);
/// returns how many it replaced.
pub(super) fn replace_conv3x3s(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        let Some(op) = node.op_as::<Conv>() else {
            continue;
        };
        let Some(conv) = conv3x3_of(op, &model.node_input_facts(id)?) else {
            continue;
        };
        let mut patch = TypedModelPatch::default();
        let data = patch.tap_model(model, node.inputs[0])?;
        let wire = patch.wire_node(&node.name, conv, &[data])?[0];
        patch.shunt_outside(model, OutletId::new(id, 0), wire)?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tract's convolution of `kernel` (`[O, I, 3, 3]`) and `bias` over an input of `shape`,
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
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec![3, 3],
                padding: PaddingSpec::Explicit(tvec![pad, pad], tvec![pad, pad]),
                dilations: None,
                strides: Some(tvec![stride, stride]),
                input_channels: kernel.shape()[1],
                output_channels: kernel.shape()[0],
            },
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let kernel = model.add_const("kernel", kernel.clone()).unwrap();
        let bias = model.add_const("bias", bias.clone()).unwrap();
        let out = model
            .wire_node("conv", conv, &[source, kernel, bias])
            .unwrap();
        model.select_output_outlets(&out).unwrap();
        model.into_decluttered().unwrap()
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
            let kernel =
                Tensor::from_shape(&[outputs, inputs, 3, 3], &values(outputs * inputs * 9, 1))
                    .unwrap();
            let bias = Tensor::from_shape(&[outputs], &values(outputs, 2)).unwrap();
            let x = Tensor::from_shape(&shape, &values(shape.iter().product(), 3)).unwrap();
            let expected = run(tract_conv(&shape, &kernel, &bias, 1, 1), &x);
            let mut model = tract_conv(&shape, &kernel, &bias, 1, 1);
            assert_eq!(replace_conv3x3s(&mut model).unwrap(), 1, "{shape:?}");
            let found = run(model, &x);
            assert_eq!(found.shape(), expected.shape(), "{shape:?}");
            let (found, expected) = (
                found.to_plain_array_view::<f32>().unwrap(),
                expected.to_plain_array_view::<f32>().unwrap(),
            );
            let scale = (inputs * 9) as f32;
            for (i, (f, e)) in found.iter().zip(expected.iter()).enumerate() {
                // The same products, summed in another order.
                assert!(
                    (f - e).abs() <= 1e-5 * scale * (1.0 + e.abs()),
                    "{shape:?} at {i}: {f} != {e}"
                );
            }
        }
    }

    #[test]
    fn leaves_other_convolutions_to_tract() {
        let kernel = Tensor::from_shape(&[4, 2, 3, 3], &values(72, 1)).unwrap();
        let bias = Tensor::from_shape(&[4], &values(4, 2)).unwrap();
        for (stride, pad) in [(2, 1), (1, 0)] {
            let mut model = tract_conv(&[1, 2, 8, 8], &kernel, &bias, stride, pad);
            assert_eq!(replace_conv3x3s(&mut model).unwrap(), 0, "{stride} {pad}");
        }
        let single = Tensor::from_shape(&[4, 1, 3, 3], &values(36, 1)).unwrap();
        let mut model = tract_conv(&[1, 1, 8, 8], &single, &bias, 1, 1);
        assert_eq!(
            replace_conv3x3s(&mut model).unwrap(),
            0,
            "one input channel"
        );
    }
}
