//! A matrix product of f32 activations, one row at a time, with constant weights that are
//! whole numbers in the int8 range, kept as int8, in place of tract's.
//!
//! An int8 bundle's graphs multiply by the int8 weights cast to f32 and scale the product
//! after. tract folds the cast into an f32 constant, four times the bytes, and a decoder step
//! reads all of them for its single token (`tools/bench/FINDINGS.md`, "The decoder's step").
//! This op keeps each output's weights as a contiguous row of int8, converts them in vector
//! registers, and takes the dot product with the activation row: the same products (a whole
//! number below 128 is exact in f32), summed in another order. The per-column scale and bias
//! after the product are folded in. It runs where the processor has AVX-512, or AVX2 and FMA;
//! elsewhere tract's product is kept.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

use super::rewrite::{replace_each, rows_by_weights, Column, ScalesColumns};
use super::weights::ProductWeights;

#[cfg(target_arch = "x86_64")]
use super::lanes::LanesI8;

/// `[A, M, K]` f32 times constant `[K, N]` weights, each column then times its scale plus its
/// bias -> `[A, M, N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MatVecI8 {
    /// `[N, K]`: the weights of each output, int8.
    weights: Arc<Tensor>,
    /// `[N]` each: one and zero where there are none.
    scale: Arc<Tensor>,
    bias: Arc<Tensor>,
}

impl MatVecI8 {
    fn k(&self) -> usize {
        self.weights.shape()[1]
    }

    fn n(&self) -> usize {
        self.weights.shape()[0]
    }
}

impl ScalesColumns for MatVecI8 {
    fn columns(&self) -> usize {
        self.n()
    }

    fn then(&self, column: Column, values: &[f32]) -> TractResult<MatVecI8> {
        let (scale, bias) = column.fold(&self.scale, &self.bias, self.n(), values)?;
        Ok(MatVecI8 {
            scale,
            bias,
            ..self.clone()
        })
    }
}

impl Op for MatVecI8 {
    fn name(&self) -> StaticName {
        "MatVecI8".into()
    }

    op_as_typed_op!();
}

impl EvalOp for MatVecI8 {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let weights = self.weights.try_as_plain_ram()?;
        let weights = weights.as_slice::<i8>()?;
        let (scale, bias) = (
            self.scale.try_as_plain_ram()?,
            self.bias.try_as_plain_ram()?,
        );
        let (scale, bias) = (scale.as_slice::<f32>()?, bias.as_slice::<f32>()?);
        let (k, n) = (self.k(), self.n());
        let output = super::map_rows("MatVecI8", &inputs[0], (k, n), |rows, output| {
            for (row, out) in rows.chunks_exact(k).zip(output.chunks_exact_mut(n)) {
                products(row, weights, out)?;
                for ((o, &s), &b) in out.iter_mut().zip(scale).zip(bias) {
                    *o = *o * s + b;
                }
            }
            Ok(())
        })?;
        Ok(tvec!(output))
    }

    op_out_of_plan!();
}

impl TypedOp for MatVecI8 {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        super::rows_fact("MatVecI8", inputs[0], self.n())
    }
}

/// Each output of `out`: the dot product of `row` with that output's weights.
fn products(row: &[f32], weights: &[i8], out: &mut [f32]) -> TractResult<()> {
    #[cfg(target_arch = "x86_64")]
    {
        use super::lanes::{Avx2Fma, Avx512};
        if is_x86_feature_detected!("avx512f") {
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512(row: &[f32], weights: &[i8], out: &mut [f32]) {
                dot_rows::<Avx512>(row, weights, out)
            }
            // SAFETY: the processor has AVX-512F, checked just above.
            unsafe { avx512(row, weights, out) };
            return Ok(());
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2_fma(row: &[f32], weights: &[i8], out: &mut [f32]) {
                dot_rows::<Avx2Fma>(row, weights, out)
            }
            // SAFETY: the processor has both extensions, checked just above.
            unsafe { avx2_fma(row, weights, out) };
            return Ok(());
        }
    }
    let _ = (row, weights, out);
    bail!("MatVecI8 needs AVX-512, or AVX2 and FMA")
}

/// Four outputs at a time, each with its own sum in a register, over whole vectors of the row;
/// the row's last values past a whole vector one at a time.
///
/// # Safety
/// The processor has `S`'s instruction set.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dot_rows<S: LanesI8>(row: &[f32], weights: &[i8], out: &mut [f32]) {
    let k = row.len();
    let whole = k / S::LANES * S::LANES;
    let dot_tail = |w: &[i8]| -> f32 {
        row[whole..]
            .iter()
            .zip(&w[whole..])
            .map(|(&x, &q)| x * q as f32)
            .sum()
    };
    let mut outs = out.chunks_exact_mut(4);
    let mut blocks = weights.chunks_exact(4 * k);
    for (out, block) in (&mut outs).zip(&mut blocks) {
        let mut sums = [S::splat(0.0); 4];
        for c in (0..whole).step_by(S::LANES) {
            let x = S::load(row[c..][..S::LANES].as_ptr());
            for (r, sum) in sums.iter_mut().enumerate() {
                let w = S::load_i8(block[r * k + c..][..S::LANES].as_ptr());
                *sum = S::mul_add(w, x, *sum);
            }
        }
        for (r, (o, &sum)) in out.iter_mut().zip(&sums).enumerate() {
            *o = S::sum(sum) + dot_tail(&block[r * k..][..k]);
        }
    }
    for (o, w) in outs
        .into_remainder()
        .iter_mut()
        .zip(blocks.remainder().chunks_exact(k))
    {
        let mut sum = S::splat(0.0);
        for c in (0..whole).step_by(S::LANES) {
            let x = S::load(row[c..][..S::LANES].as_ptr());
            sum = S::mul_add(S::load_i8(w[c..][..S::LANES].as_ptr()), x, sum);
        }
        *o = S::sum(sum) + dot_tail(w);
    }
}

/// The op for tract's product `op` over `inputs` when it is `[A, 1, K]` f32 activations times
/// `weights`, `[K, N]` int8.
fn matvec_of(op: &EinSum, inputs: &[&TypedFact], weights: &ProductWeights) -> Option<MatVecI8> {
    if rows_by_weights(op, inputs, weights)? != 1.to_dim()
        || weights.stored.datum_type() != i8::datum_type()
    {
        return None;
    }
    let n = weights.n;
    let columns = |value: f32| tract_ndarray::Array1::from_elem(n, value).into_arc_tensor();
    Some(MatVecI8 {
        weights: weights.by_output::<i8>().ok()?,
        scale: columns(1.0),
        bias: columns(0.0),
    })
}

/// Puts [`MatVecI8`] in place of each of tract's single-row products by int8-valued constant
/// weights (see [`super::weights::int8_constant`]), where the processor has its vector paths;
/// returns how many it replaced. Before tract declutters the graph, so that it never widens
/// those weights to f32.
pub(super) fn replace_matvecs(model: &mut TypedModel) -> TractResult<usize> {
    if !super::lanes::x86_vectors() {
        return Ok(0);
    }
    replace_each(model, |model, node, op: &EinSum, inputs| {
        let weights = super::weights::int8_constant(model, *node.inputs.get(1)?)?;
        matvec_of(op, inputs, &weights)
    })
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::op_tests::{assert_close, run, tensor, tract_product, tract_scaled_product};
    use super::super::rewrite::fuse_column_ops;
    use super::*;
    use tract_onnx::tract_core::ops::cast::Cast;
    use tract_onnx::tract_core::ops::change_axes::AxisOp;

    /// `[k, n]` whole numbers from -128 to 127.
    fn int8_valued(k: usize, n: usize) -> Tensor {
        let values: Vec<f32> = (0..k * n)
            .map(|i| ((i * 7919) % 256) as f32 - 128.0)
            .collect();
        Tensor::from_shape(&[k, n], &values).unwrap()
    }

    #[test]
    fn replaces_tracts_product_with_the_same_values() {
        // The decoder's sizes; sizes that leave a partial vector and a partial block of four.
        for (k, n) in [(256, 4000), (256, 1024), (37, 9), (5, 3)] {
            let b = int8_valued(k, n);
            let x = tensor(&[1, 1, k], 1);
            let expected = run(tract_product(1, &b), &x);
            let mut model = tract_product(1, &b);
            assert_eq!(replace_matvecs(&mut model).unwrap(), 1, "{k} {n}");
            let tolerance = 1e-6 * k as f32 * 128.0;
            assert_close(&run(model, &x), &expected, tolerance, &format!("{k} {n}"));
        }
    }

    #[test]
    fn folds_the_scale_and_bias_after_it_with_the_same_values() {
        let (k, n) = (37, 9);
        let x = tensor(&[1, 1, k], 1);
        let product = || {
            let (scale, bias) = (tensor(&[1, 1, n], 3), tensor(&[1, 1, n], 4));
            tract_scaled_product(1, &int8_valued(k, n), scale, bias)
        };
        let expected = run(product(), &x);
        let mut model = product();
        assert_eq!(replace_matvecs(&mut model).unwrap(), 1);
        assert_eq!(fuse_column_ops::<MatVecI8>(&mut model).unwrap(), 1);
        assert_eq!(
            model.eval_order().unwrap().len(),
            2,
            "source and product alone"
        );
        let tolerance = 1e-6 * k as f32 * 128.0;
        assert_close(&run(model, &x), &expected, tolerance, "scaled and shifted");
    }

    #[test]
    fn takes_int8_weights_cast_to_f32_through_a_transpose_before_tract_folds_them() {
        let (k, n) = (37, 9);
        let ints: Vec<i8> = (0..k * n).map(|i| ((i * 7919) % 256) as u8 as i8).collect();
        let stored = Tensor::from_shape(&[n, k], &ints).unwrap();
        let product = || {
            let mut model = TypedModel::default();
            let x = model.add_source("x", f32::fact([1, 1, k])).unwrap();
            let w = model.add_const("w", stored.clone()).unwrap();
            let t = model.wire_node("t", AxisOp::Move(1, 0), &[w]).unwrap();
            let b = model
                .wire_node("b", Cast::new(f32::datum_type()), &t)
                .unwrap()[0];
            let einsum = EinSum::new("amk,kn->amn".parse().unwrap(), f32::datum_type());
            let y = model.wire_node("product", einsum, &[x, b]).unwrap();
            model.select_output_outlets(&y).unwrap();
            model
        };
        let x = tensor(&[1, 1, k], 1);
        let expected = run(product(), &x);
        let mut model = product();
        assert_eq!(replace_matvecs(&mut model).unwrap(), 1);
        assert_close(&run(model, &x), &expected, 1e-6 * k as f32 * 128.0, "cast");
    }

    #[test]
    fn leaves_other_products_to_tract() {
        // Weights that are not whole numbers, or out of the int8 range; more than one row.
        let fractional = tensor(&[8, 4], 2);
        let mut wide = int8_valued(8, 4);
        wide.try_as_plain_ram_mut()
            .unwrap()
            .as_slice_mut::<f32>()
            .unwrap()[3] = 128.0;
        for (m, b) in [(1, &fractional), (1, &wide), (2, &int8_valued(8, 4))] {
            let mut model = tract_product(m, b);
            assert_eq!(replace_matvecs(&mut model).unwrap(), 0, "{m}");
        }
    }
}
