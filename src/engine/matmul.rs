//! A matrix product of many f32 rows by constant f32 weights, in place of tract's.
//!
//! The encoder's projections multiply its 256 tokens by constant weights. tract 0.23.9's
//! kernels reached about half of this machine's multiply-add rate on them
//! (`tools/bench/FINDINGS.md`, "The encoder's products"). This op packs the weights once, in
//! blocks of 32 output columns, and keeps a tile of rows by one block in vector registers over
//! the whole inner dimension: one broadcast input and two (AVX-512) or four (AVX2) vectors of
//! weights per multiply-add, the outputs stored as contiguous runs. The int8 graphs scale each
//! product's columns and add a bias after it; those are folded in, applied to the sums in
//! registers before they are stored. It runs where the processor has AVX-512, or AVX2 and FMA;
//! elsewhere tract's product stays.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use super::filled_tensor;
use super::rewrite::{replace_each, rows_by_weights, Column, ScalesColumns};
use super::weights::{pack_output_blocks, ProductWeights};

use super::lanes::{Lanes, Scalar};

/// Output columns per block of packed weights.
pub(super) const BLOCK: usize = 32;

/// `[.., K]` f32 rows times constant `[K, N]` weights, each column then times its scale plus
/// its bias -> `[.., N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MatMulPacked {
    /// `[blocks, K, BLOCK]`: per block of output columns, per inner index, the block's weights,
    /// zero past the last column.
    packed: Arc<Tensor>,
    /// `[blocks * BLOCK]`: each column's scale (one where there is none), then its bias (zero
    /// where there is none), padded as the blocks are.
    scale: Arc<Tensor>,
    bias: Arc<Tensor>,
    n: usize,
}

impl MatMulPacked {
    fn k(&self) -> usize {
        self.packed.shape()[1]
    }

    /// Packs constant weights, f32 or int8, as the graph stores them.
    fn new(weights: &ProductWeights) -> TractResult<MatMulPacked> {
        let stored = weights.stored.try_as_plain_ram()?;
        match weights.stored.datum_type() {
            DatumType::F32 => Self::pack(stored.as_slice::<f32>()?, weights),
            DatumType::I8 => Self::pack(stored.as_slice::<i8>()?, weights),
            other => bail!("MatMulPacked: weights of {other:?}"),
        }
    }

    fn pack<T: Copy + Into<f32>>(values: &[T], weights: &ProductWeights) -> TractResult<Self> {
        let (k, n) = (weights.k, weights.n);
        ensure!(values.len() == k * n);
        let blocks = n.div_ceil(BLOCK);
        let packed = filled_tensor::<f32>(&[blocks, k, BLOCK], |packed| {
            if weights.transposed {
                pack_output_blocks::<BLOCK, T>(values, k, packed);
                return Ok(());
            }
            for (i, row) in values.chunks_exact(n).enumerate() {
                for (block, columns) in row.chunks(BLOCK).enumerate() {
                    let out = &mut packed[(block * k + i) * BLOCK..][..columns.len()];
                    for (o, &w) in out.iter_mut().zip(columns) {
                        *o = w.into();
                    }
                }
            }
            Ok(())
        })?;
        let columns =
            |value: f32| tract_ndarray::Array1::from_elem(blocks * BLOCK, value).into_arc_tensor();
        Ok(MatMulPacked {
            packed: packed.into_arc_tensor(),
            scale: columns(1.0),
            bias: columns(0.0),
            n,
        })
    }
}

impl ScalesColumns for MatMulPacked {
    fn columns(&self) -> usize {
        self.n
    }

    fn then(&self, column: Column, values: &[f32]) -> TractResult<MatMulPacked> {
        let (scale, bias) = column.fold(&self.scale, &self.bias, self.n, values)?;
        Ok(MatMulPacked {
            scale,
            bias,
            ..self.clone()
        })
    }
}

impl Op for MatMulPacked {
    fn name(&self) -> StaticName {
        "MatMulPacked".into()
    }

    op_as_typed_op!();
}

impl EvalOp for MatMulPacked {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [packed, scale, bias] =
            [&self.packed, &self.scale, &self.bias].map(|t| t.try_as_plain_ram());
        let (packed, scale, bias) = (packed?, scale?, bias?);
        let weights = Packed {
            weights: packed.as_slice::<f32>()?,
            scale: scale.as_slice::<f32>()?,
            bias: bias.as_slice::<f32>()?,
            k: self.k(),
            n: self.n,
        };
        let output = super::map_rows(
            "MatMulPacked",
            &inputs[0],
            (weights.k, weights.n),
            |rows, output| {
                multiply(rows, &weights, output);
                Ok(())
            },
        )?;
        Ok(tvec!(output))
    }

    op_out_of_plan!();
}

impl TypedOp for MatMulPacked {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        super::rows_fact("MatMulPacked", inputs[0], self.n)
    }
}

/// Weights packed in blocks of [`BLOCK`] columns, with each column's scale and bias.
#[derive(Clone, Copy)]
pub(super) struct Packed<'a> {
    /// `[blocks, k, BLOCK]`.
    pub weights: &'a [f32],
    /// `[blocks * BLOCK]` each.
    pub scale: &'a [f32],
    pub bias: &'a [f32],
    pub k: usize,
    pub n: usize,
}

/// `out` (rows of `n`) = `rows` (rows of `k`) times the packed weights, each column then
/// scaled and shifted.
pub(super) fn multiply(rows: &[f32], weights: &Packed, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::lanes::{Avx2Fma, Avx512};
        if is_x86_feature_detected!("avx512f") {
            /// 10 rows x 2 vectors: 20 of the 32 ZMM registers hold the sums.
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512(rows: &[f32], weights: &Packed, out: &mut [f32]) {
                multiply_with::<Avx512, 10, 2>(rows, weights, out)
            }
            // SAFETY: the processor has AVX-512F, checked just above.
            return unsafe { avx512(rows, weights, out) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            /// 2 rows x 4 vectors: 8 of the 16 YMM registers hold the sums.
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2_fma(rows: &[f32], weights: &Packed, out: &mut [f32]) {
                multiply_with::<Avx2Fma, 2, 4>(rows, weights, out)
            }
            // SAFETY: the processor has both extensions, checked just above.
            return unsafe { avx2_fma(rows, weights, out) };
        }
    }
    // Elsewhere the graphs keep tract's products; this serves the op's tests and any other use.
    // SAFETY: plain f32 arithmetic needs no instruction set.
    unsafe { multiply_with::<Scalar, 1, BLOCK>(rows, weights, out) }
}

/// The product in tiles of `P` rows by one block of `V` vectors of output columns.
///
/// # Safety
/// The processor has `S`'s instruction set, and `V * S::LANES == BLOCK`.
#[inline(always)]
unsafe fn multiply_with<S: Lanes, const P: usize, const V: usize>(
    rows: &[f32],
    weights: &Packed,
    out: &mut [f32],
) {
    assert_eq!(V * S::LANES, BLOCK, "a block is V vectors");
    let Packed { k, n, .. } = *weights;
    assert!(
        weights.scale.len() >= n.div_ceil(BLOCK) * BLOCK
            && weights.bias.len() >= n.div_ceil(BLOCK) * BLOCK
    );
    let count = rows.len() / k;
    let mut lanes = [[0f32; BLOCK]; P];
    for (block, packed) in weights.weights.chunks_exact(k * BLOCK).enumerate() {
        let columns = BLOCK.min(n - block * BLOCK);
        // SAFETY: the scales and biases hold whole blocks (asserted above).
        let scale: [S::V; V] = std::array::from_fn(|v| {
            S::load(weights.scale[block * BLOCK + v * S::LANES..].as_ptr())
        });
        let bias: [S::V; V] =
            std::array::from_fn(|v| S::load(weights.bias[block * BLOCK + v * S::LANES..].as_ptr()));
        for first in (0..count).step_by(P) {
            let used = P.min(count - first);
            // A short last tile repeats its last row; the repeats are not written.
            // Each tile row's first value; its k values are all within `rows`.
            let starts: [*const f32; P] =
                std::array::from_fn(|p| rows[(first + p.min(used - 1)) * k..][..k].as_ptr());
            let mut sums = [[S::splat(0.0); V]; P];
            for (i, w) in packed.chunks_exact(BLOCK).enumerate() {
                let w: [S::V; V] = std::array::from_fn(|v| S::load(w[v * S::LANES..].as_ptr()));
                for (sum, &start) in sums.iter_mut().zip(&starts) {
                    // SAFETY: i < k, and each start has k values after it (sliced above).
                    let x = S::splat(*start.add(i));
                    for (s, &w) in sum.iter_mut().zip(&w) {
                        *s = S::mul_add(x, w, *s);
                    }
                }
            }
            for (lane, sum) in lanes.iter_mut().zip(&sums) {
                for ((chunk, &s), (&scale, &bias)) in lane
                    .chunks_exact_mut(S::LANES)
                    .zip(sum)
                    .zip(scale.iter().zip(&bias))
                {
                    S::store(chunk.as_mut_ptr(), S::mul_add(s, scale, bias));
                }
            }
            for (p, lane) in lanes.iter().enumerate().take(used) {
                let row = &mut out[(first + p) * n + block * BLOCK..][..columns];
                row.copy_from_slice(&lane[..columns]);
            }
        }
    }
}

/// The op for tract's product `op` over `inputs` when it is `[A, M, K]` f32 rows, `M` more
/// than one, times `weights`.
fn matmul_of(op: &EinSum, inputs: &[&TypedFact], weights: &ProductWeights) -> Option<MatMulPacked> {
    let m = rows_by_weights(op, inputs, weights)?;
    if m.to_usize().is_ok_and(|m| m < 2) {
        return None;
    }
    MatMulPacked::new(weights).ok()
}

/// The constant `[K, N]` weights at `outlet`: an f32 constant, or int8 constant weights cast
/// to f32 (before tract has folded the cast).
fn constant_weights(model: &TypedModel, outlet: OutletId) -> Option<ProductWeights> {
    match &model.outlet_fact(outlet).ok()?.konst {
        Some(konst) if konst.datum_type() == f32::datum_type() => {
            ProductWeights::new(konst.clone(), false)
        }
        Some(_) => None,
        None => super::weights::int8_constant(model, outlet),
    }
}

/// Puts [`MatMulPacked`] in place of each of tract's products of many rows by constant weights,
/// where the processor has its vector paths; returns how many it replaced. Before tract
/// declutters the graph, so that it neither folds nor packs those weights itself, and again
/// after, for products whose weights only declutter makes constant.
pub(super) fn replace_matmuls(model: &mut TypedModel) -> TractResult<usize> {
    if !super::lanes::x86_vectors() {
        return Ok(0);
    }
    replace_each(model, |model, node, op: &EinSum, inputs| {
        let weights = constant_weights(model, *node.inputs.get(1)?)?;
        matmul_of(op, inputs, &weights)
    })
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::op_tests::{assert_close, run, tensor, tract_product, tract_scaled_product};
    use super::super::rewrite::fuse_column_ops;
    use super::*;
    use tract_onnx::tract_core::ops::cast::Cast;
    use tract_onnx::tract_core::ops::change_axes::AxisOp;

    #[test]
    fn replaces_tracts_product_with_the_same_values() {
        // The encoder's sizes; sizes that leave a partial tile of rows and a partial block.
        for (m, k, n) in [(256, 192, 768), (256, 768, 192), (13, 7, 37), (2, 3, 5)] {
            let (b, x) = (tensor(&[k, n], 1), tensor(&[1, m, k], 2));
            let expected = run(tract_product(m, &b), &x);
            let mut model = tract_product(m, &b);
            assert_eq!(replace_matmuls(&mut model).unwrap(), 1, "{m} {k} {n}");
            let tolerance = 1e-6 * k as f32;
            assert_close(
                &run(model, &x),
                &expected,
                tolerance,
                &format!("{m} {k} {n}"),
            );
        }
    }

    #[test]
    fn takes_int8_weights_cast_to_f32_before_tract_folds_them() {
        // Stored `[K, N]`, and stored `[N, K]` under a transpose (as the int8 exporter writes
        // them), with a partial block of columns.
        let (m, k, n) = (13, 7, 37);
        let ints: Vec<i8> = (0..k * n).map(|i| ((i * 7919) % 256) as u8 as i8).collect();
        for transposed in [false, true] {
            let product = || {
                let mut model = TypedModel::default();
                let x = model.add_source("x", f32::fact([1, m, k])).unwrap();
                let shape = if transposed { [n, k] } else { [k, n] };
                let w = Tensor::from_shape(&shape, &ints).unwrap();
                let mut w = model.add_const("w", w).unwrap();
                if transposed {
                    w = model.wire_node("t", AxisOp::Move(1, 0), &[w]).unwrap()[0];
                }
                let cast = Cast::new(f32::datum_type());
                let b = model.wire_node("b", cast, &[w]).unwrap()[0];
                let einsum = EinSum::new("amk,kn->amn".parse().unwrap(), f32::datum_type());
                let y = model.wire_node("product", einsum, &[x, b]).unwrap();
                model.select_output_outlets(&y).unwrap();
                model
            };
            let x = tensor(&[1, m, k], 2);
            let expected = run(product(), &x);
            let mut model = product();
            assert_eq!(replace_matmuls(&mut model).unwrap(), 1);
            let tolerance = 1e-6 * k as f32 * 128.0;
            assert_close(&run(model, &x), &expected, tolerance, "cast");
        }
    }

    #[test]
    fn folds_the_scale_and_bias_after_it_with_the_same_values() {
        let (m, k, n) = (13, 7, 37);
        let x = tensor(&[1, m, k], 2);
        for (scale, bias) in [
            (tensor(&[1, 1, n], 3), tensor(&[1, 1, n], 4)),
            (tensor(&[1, 1, 1], 3), tensor(&[1, 1, 1], 4)),
        ] {
            let product =
                || tract_scaled_product(m, &tensor(&[k, n], 1), scale.clone(), bias.clone());
            let expected = run(product(), &x);
            let mut model = product();
            assert_eq!(replace_matmuls(&mut model).unwrap(), 1);
            assert_eq!(fuse_column_ops::<MatMulPacked>(&mut model).unwrap(), 1);
            assert_eq!(
                model.eval_order().unwrap().len(),
                2,
                "source and product alone"
            );
            assert_close(&run(model, &x), &expected, 1e-5, "scaled and shifted");
        }
    }

    #[test]
    fn leaves_a_scale_that_varies_by_row() {
        use tract_onnx::tract_core::ops::math::mul;
        let (m, k, n) = (13, 7, 37);
        let mut model = tract_product(m, &tensor(&[k, n], 1));
        let y = model.output_outlets().unwrap()[0];
        let scale = model.add_const("scale", tensor(&[1, m, 1], 3)).unwrap();
        let y = model.wire_node("scaled", mul(), &[y, scale]).unwrap();
        model.select_output_outlets(&y).unwrap();
        assert_eq!(replace_matmuls(&mut model).unwrap(), 1);
        assert_eq!(fuse_column_ops::<MatMulPacked>(&mut model).unwrap(), 0);
    }

    #[test]
    fn leaves_single_rows_to_tract() {
        let mut model = tract_product(1, &tensor(&[8, 4], 1));
        assert_eq!(replace_matmuls(&mut model).unwrap(), 0);
    }
}
