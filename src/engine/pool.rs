//! A 2x2 max-pool of stride 2 over NCHW f32 planes, in place of tract's.
//!
//! tract 0.23.9 vectorises the 2x2 max-pool of stride 1 only; at stride 2 it visits every tap of
//! every output with its bounds checks, and the tagger's four pools cost a fifth of its time
//! (`tools/bench/FINDINGS.md`, "Pooling in the runtime"). This op takes each pair of input rows
//! once: the elementwise max of the two rows, then the max of each pair of neighbours. It
//! replaces tract's pool in an optimised graph wherever the pool has no padding, no dilation
//! and no index output, and gives the same values (the max is exact).

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{OptMaxPool, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::nn::{DataFormat, Reduce, Reducer};

/// A max-pool of a 2x2 kernel and stride 2 over a `[N, C, H, W]` f32 tensor: `[N, C, H/2,
/// W/2]`, a last odd row or column dropped, as ONNX's MaxPool without `ceil_mode` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MaxPool2x2;

impl Op for MaxPool2x2 {
    fn name(&self) -> StaticName {
        "MaxPool2x2".into()
    }

    op_as_typed_op!();
}

impl EvalOp for MaxPool2x2 {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let [n, c, h, w] = *input.shape() else {
            bail!("MaxPool2x2 wants a rank-4 input, found {:?}", input.shape());
        };
        let (oh, ow) = (h / 2, w / 2);
        let plain = input.try_as_plain_ram()?;
        let planes = plain.as_slice::<f32>()?;
        let output = super::new_f32(&[n, c, oh, ow], |output| {
            max_pool_planes(planes, h, w, false, output);
            Ok(())
        })?;
        Ok(tvec!(output))
    }

    op_out_of_plan!();
}

/// The 2x2, stride-2 max of each `h x w` plane of `planes` into the `h/2 x w/2` planes of
/// `out`, then `max(0, _)` when `relu` (the two commute).
pub(super) fn max_pool_planes(planes: &[f32], h: usize, w: usize, relu: bool, out: &mut [f32]) {
    let (oh, ow) = (h / 2, w / 2);
    if oh == 0 || ow == 0 {
        return;
    }
    let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
    let mut rows = vec![0f32; 2 * ow];
    for (plane, out) in planes
        .chunks_exact(h * w)
        .zip(out.chunks_exact_mut(oh * ow))
    {
        for (pair, out) in plane.chunks_exact(2 * w).zip(out.chunks_exact_mut(ow)) {
            let (top, bottom) = pair.split_at(w);
            for ((m, &a), &b) in rows.iter_mut().zip(top).zip(bottom) {
                *m = if a < b { b } else { a };
            }
            for (o, m) in out.iter_mut().zip(rows.chunks_exact(2)) {
                let m = if m[0] < m[1] { m[1] } else { m[0] };
                *o = if m < floor { floor } else { m };
            }
        }
    }
}

impl TypedOp for MaxPool2x2 {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        ensure!(shape.rank() == 4, "MaxPool2x2 wants a rank-4 input");
        let halved = |d: &TDim| d.clone() / 2;
        Ok(tvec!(f32::fact([
            shape[0].clone(),
            shape[1].clone(),
            halved(&shape[2]),
            halved(&shape[3]),
        ])))
    }
}

/// Whether one of tract's max-pools of `spec` (and index outputs when `with_index_outputs`),
/// over an input of `fact`, is the one [`MaxPool2x2`] computes.
pub(super) fn is_plain_2x2(
    spec: &PoolSpec,
    with_index_outputs: Option<DatumType>,
    fact: &TypedFact,
) -> bool {
    let unpadded = match &spec.padding {
        PaddingSpec::Valid => true,
        PaddingSpec::Explicit(before, after) => before.iter().chain(after).all(|&p| p == 0),
        PaddingSpec::ExplicitOnnxPool(before, after, ceil) => {
            !ceil && before.iter().chain(after).all(|&p| p == 0)
        }
        PaddingSpec::SameUpper | PaddingSpec::SameLower => false,
    };
    with_index_outputs.is_none()
        && spec.data_format == DataFormat::NCHW
        && spec.kernel_shape[..] == [2, 2]
        && spec.strides.as_deref().is_some_and(|s| s == [2, 2])
        && spec.dilations.as_deref().is_none_or(|d| d == [1, 1])
        && unpadded
        && fact.datum_type == f32::datum_type()
        && fact.rank() == 4
}

/// The maximum of an f32 tensor over one axis, kept as a dimension of 1: a global max-pool
/// over time, as a tagger's head takes it.
///
/// tract 0.23.9 reduces a max over any axis but the last one value at a time, many times
/// slower than a sum over the same axis (`tools/bench/FINDINGS.md`, "The tagger's
/// convolutions"); this op takes the elementwise max of the contiguous runs after the axis.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct MaxOverAxis {
    axis: usize,
}

impl Op for MaxOverAxis {
    fn name(&self) -> StaticName {
        "MaxOverAxis".into()
    }

    op_as_typed_op!();
}

impl EvalOp for MaxOverAxis {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let shape = input.shape();
        ensure!(
            self.axis < shape.len(),
            "MaxOverAxis: axis {} of a rank-{} input",
            self.axis,
            shape.len()
        );
        let outer: usize = shape[..self.axis].iter().product();
        let len = shape[self.axis];
        let inner: usize = shape[self.axis + 1..].iter().product();
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[self.axis] = 1;
        let plain = input.try_as_plain_ram()?;
        let values = plain.as_slice::<f32>()?;
        let output = super::new_f32(&out_shape, |output| {
            if len == 0 || inner == 0 || outer == 0 {
                output.fill(f32::NEG_INFINITY);
                return Ok(());
            }
            for (block, out) in values
                .chunks_exact(len * inner)
                .zip(output.chunks_exact_mut(inner))
            {
                out.copy_from_slice(&block[..inner]);
                for run in block.chunks_exact(inner).skip(1) {
                    for (o, &v) in out.iter_mut().zip(run) {
                        *o = if *o < v { v } else { *o };
                    }
                }
            }
            Ok(())
        })?;
        Ok(tvec!(output))
    }

    op_out_of_plan!();
}

impl TypedOp for MaxOverAxis {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape = inputs[0].shape.clone();
        ensure!(self.axis < shape.rank(), "MaxOverAxis: axis past the rank");
        shape.set(self.axis, 1.to_dim());
        Ok(tvec!(f32::fact(shape)))
    }
}

/// Puts [`MaxPool2x2`] in place of each of tract's 2x2, stride-2 max-pools of an optimised
/// graph, and [`MaxOverAxis`] in place of each f32 max over one axis; returns how many it
/// replaced.
pub(super) fn replace_max_pools(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        if let Some(reduce) = node.op_as::<Reduce>() {
            if let (Reducer::Max, [axis]) = (reduce.reducer, &reduce.axes[..]) {
                if model.outlet_fact(node.inputs[0])?.datum_type == f32::datum_type() {
                    model.nodes[id].op = Box::new(MaxOverAxis { axis: *axis });
                    replaced += 1;
                }
            }
            continue;
        }
        let Some(op) = node.op_as::<OptMaxPool>() else {
            continue;
        };
        if node.inputs.len() == 1
            && is_plain_2x2(
                &op.pool_spec,
                op.with_index_outputs,
                model.outlet_fact(node.inputs[0])?,
            )
        {
            model.nodes[id].op = Box::new(MaxPool2x2);
            replaced += 1;
        }
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{MaxPool, PoolSpec};

    /// tract's own max-pool of `kernel`, `strides` and `padding` over an input of `shape`,
    /// optimised as the engine optimises its graphs.
    fn tract_pool(
        shape: &[usize],
        kernel: [usize; 2],
        strides: [usize; 2],
        padding: PaddingSpec,
    ) -> TypedModel {
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(shape)).unwrap();
        let spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: kernel.into_iter().collect(),
            padding,
            dilations: None,
            strides: Some(strides.into_iter().collect()),
            input_channels: shape[1],
            output_channels: shape[1],
        };
        let pool = model
            .wire_node("pool", MaxPool::new(spec, None), &[source])
            .unwrap();
        model.select_output_outlets(&pool).unwrap();
        model.into_optimized().unwrap()
    }

    fn run(model: TypedModel, input: &Tensor) -> Tensor {
        let outputs = model
            .into_runnable()
            .unwrap()
            .run(tvec![input.clone().into()])
            .unwrap();
        outputs[0].clone().into_tensor()
    }

    fn input(shape: &[usize]) -> Tensor {
        let len: usize = shape.iter().product();
        // Deterministic, with ties and negative values.
        let values: Vec<f32> = (0..len)
            .map(|i| ((i * 7919 + 13) % 97) as f32 / 8.0 - 6.0)
            .collect();
        Tensor::from_shape(shape, &values).unwrap()
    }

    #[test]
    fn replaces_tracts_pool_with_the_same_values_at_even_and_odd_sizes() {
        for shape in [[1, 24, 248, 32], [2, 3, 7, 9], [1, 2, 2, 2], [1, 1, 3, 5]] {
            let x = input(&shape);
            let expected = run(tract_pool(&shape, [2, 2], [2, 2], PaddingSpec::Valid), &x);
            let mut model = tract_pool(&shape, [2, 2], [2, 2], PaddingSpec::Valid);
            assert_eq!(replace_max_pools(&mut model).unwrap(), 1, "{shape:?}");
            let facts = model
                .output_fact(0)
                .unwrap()
                .shape
                .as_concrete()
                .map(<[_]>::to_vec);
            assert_eq!(facts.as_deref(), Some(expected.shape()), "{shape:?}");
            assert_eq!(run(model, &x), expected, "{shape:?}");
        }
    }

    #[test]
    fn leaves_other_pools_to_tract() {
        let shape = [1, 4, 8, 8];
        let others = [
            ([2, 2], [1, 1], PaddingSpec::Valid),
            ([3, 3], [2, 2], PaddingSpec::Valid),
            ([2, 2], [2, 2], PaddingSpec::SameUpper),
            (
                [2, 2],
                [2, 2],
                PaddingSpec::Explicit(tvec![1, 1], tvec![0, 0]),
            ),
        ];
        for (kernel, strides, padding) in others {
            let mut model = tract_pool(&shape, kernel, strides, padding.clone());
            assert_eq!(
                replace_max_pools(&mut model).unwrap(),
                0,
                "{kernel:?} {strides:?} {padding:?}"
            );
        }
    }
}

#[cfg(test)]
mod max_over_axis_tests {
    use super::super::op_tests::{run, tensor};
    use super::*;

    /// tract's max over `axis` of an input of `shape`, kept as a dimension, optimised.
    fn tract_max(shape: &[usize], axis: usize) -> TypedModel {
        let mut model = TypedModel::default();
        let source = model.add_source("x", f32::fact(shape)).unwrap();
        let max = model
            .wire_node("max", Reduce::new(tvec![axis], Reducer::Max), &[source])
            .unwrap();
        model.select_output_outlets(&max).unwrap();
        model.into_optimized().unwrap()
    }

    #[test]
    fn replaces_tracts_max_over_any_axis_with_the_same_values() {
        let shape = [2, 15, 3, 4];
        let x = tensor(&shape, 1);
        for axis in 0..shape.len() {
            let expected = run(tract_max(&shape, axis), &x);
            let mut model = tract_max(&shape, axis);
            assert_eq!(replace_max_pools(&mut model).unwrap(), 1, "axis {axis}");
            assert!(model.nodes.iter().any(|n| n.op_is::<MaxOverAxis>()));
            assert_eq!(run(model, &x), expected, "axis {axis}");
        }
    }
}
