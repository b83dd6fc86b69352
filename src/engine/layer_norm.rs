//! Layer normalisation as one op, in place of the six tract runs it as.
//!
//! tract reads an ONNX `LayerNormalization` as a sum over the last axis, a multiply to make it
//! a mean, a subtraction, a root-mean-square normalisation, then a scale and a shift: five
//! passes over the rows, each writing a whole tensor that the next reads again. This op takes
//! each row once while it is in the cache: its mean, its variance, then the normalised, scaled
//! and shifted row (`tools/bench/FINDINGS.md`, "The encoder's attention").

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer, RmsNorm};

use super::rewrite::{scalar_factor, Column, ScalesColumns};

/// `(x - mean(x)) / sqrt(var(x) + eps) * gamma + beta` over the last axis of `[.., C]` f32 rows.
#[derive(Debug, Clone)]
pub(super) struct LayerNorm {
    eps: f32,
    /// `[C]` each.
    gamma: Arc<Tensor>,
    beta: Arc<Tensor>,
}

impl PartialEq for LayerNorm {
    fn eq(&self, other: &LayerNorm) -> bool {
        (self.eps.to_bits(), &self.gamma, &self.beta)
            == (other.eps.to_bits(), &other.gamma, &other.beta)
    }
}

impl Eq for LayerNorm {}

impl ScalesColumns for LayerNorm {
    fn columns(&self) -> usize {
        self.gamma.len()
    }

    fn then(&self, column: Column, values: &[f32]) -> TractResult<LayerNorm> {
        let (gamma, beta) = column.fold(&self.gamma, &self.beta, self.gamma.len(), values)?;
        Ok(LayerNorm {
            gamma,
            beta,
            ..self.clone()
        })
    }
}

impl Op for LayerNorm {
    fn name(&self) -> StaticName {
        "LayerNorm".into()
    }

    op_as_typed_op!();
}

impl EvalOp for LayerNorm {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let gamma = self.gamma.try_as_plain_ram()?;
        let beta = self.beta.try_as_plain_ram()?;
        let (gamma, beta) = (gamma.as_slice::<f32>()?, beta.as_slice::<f32>()?);
        let c = gamma.len();
        let output = super::map_rows("LayerNorm", &inputs[0], (c, c), |rows, output| {
            for (row, out) in rows.chunks_exact(c).zip(output.chunks_exact_mut(c)) {
                normalise(row, self.eps, gamma, beta, out);
            }
            Ok(())
        })?;
        Ok(tvec!(output))
    }

    op_out_of_plan!();
}

impl TypedOp for LayerNorm {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        super::rows_fact("LayerNorm", inputs[0], self.gamma.len())
    }
}

/// The sum of `f` over `row`, in sixteen independent lanes that the compiler turns into vectors.
#[inline(always)]
fn sum_of(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let (runs, rest) = row.as_chunks::<16>();
    let mut lanes = [0f32; 16];
    for run in runs {
        for (lane, &x) in lanes.iter_mut().zip(run) {
            *lane += f(x);
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().map(|&x| f(x)).sum::<f32>()
}

/// One row, normalised into `out`.
fn normalise(row: &[f32], eps: f32, gamma: &[f32], beta: &[f32], out: &mut [f32]) {
    let c = row.len() as f32;
    let mean = sum_of(row, |x| x) / c;
    let variance = sum_of(row, |x| (x - mean) * (x - mean)) / c;
    let inverse = (variance + eps).sqrt().recip();
    for (((o, &x), &g), &b) in out.iter_mut().zip(row).zip(gamma).zip(beta) {
        *o = (x - mean) * inverse * g + b;
    }
}

/// The layer norm whose root-mean-square node is `rms`: its input rows and the op, with no
/// scale or shift yet ([`super::rewrite::fuse_column_ops`] folds those in after).
fn layer_norm_at(model: &TypedModel, rms: &TypedNode) -> Option<(OutletId, LayerNorm)> {
    let op = rms.op_as::<RmsNorm>()?;
    let centred = model.node(rms.inputs[0].node);
    let [x, mean] = centred.inputs[..] else {
        return None;
    };
    if centred.op_as::<TypedBinOp>()?.0.name() != "Sub" || x == mean {
        return None;
    }
    let fact = model.outlet_fact(x).ok()?;
    let rank = fact.rank();
    let c = fact.shape.last()?.to_usize().ok()?;
    if fact.datum_type != f32::datum_type() || op.axis + 1 != rank || c == 0 {
        return None;
    }
    // mean = sum(x) * (1 / C)
    let mean_node = model.node(mean.node);
    let sum = mean_node
        .inputs
        .iter()
        .copied()
        .find(|&i| model.node(i.node).op_as::<Reduce>().is_some())?;
    let recip = scalar_factor(model, mean_node, sum)?;
    let reduce = model.node(sum.node).op_as::<Reduce>()?;
    let sums_rows = reduce.reducer == Reducer::Sum
        && reduce.axes[..] == [rank - 1]
        && model.node(sum.node).inputs[0] == x;
    if !sums_rows || (recip * c as f32 - 1.0).abs() > 1e-6 {
        return None;
    }
    let columns = |value: f32| Tensor::from_shape(&[c], &vec![value; c]).ok();
    Some((
        x,
        LayerNorm {
            eps: op.eps.cast_to_scalar::<f32>().ok()?,
            gamma: columns(1.0)?.into_arc_tensor(),
            beta: columns(0.0)?.into_arc_tensor(),
        },
    ))
}

/// Puts [`LayerNorm`] in place of each layer normalisation written as tract reads ONNX's, in a
/// decluttered graph, up to its root-mean-square norm; returns how many it replaced. The
/// scale and shift after it are folded in by [`super::rewrite::fuse_column_ops`].
pub(super) fn replace_layer_norms(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let Some((x, op)) = layer_norm_at(model, &model.nodes[id]) else {
            continue;
        };
        let output = OutletId::new(id, 0);
        let name = format!("{}.layer_norm", model.nodes[id].name);
        super::rewrite::put_in_place(model, name, op, &[x], output)?;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::super::op_tests::{assert_close, run, tensor};
    use super::super::rewrite::fuse_column_ops;
    use super::*;
    use tract_onnx::tract_core::ops::math::{add, mul, sub};

    /// tract's layer norm over `[1, rows, c]` as it reads ONNX's `LayerNormalization`, with a
    /// scale and a shift of `[1, 1, c]` where given, decluttered as the engine does.
    fn tract_layer_norm(
        rows: usize,
        c: usize,
        gamma: Option<Tensor>,
        beta: Option<Tensor>,
    ) -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, rows, c])).unwrap();
        let reduce = Reduce {
            axes: tvec![2],
            reducer: Reducer::Sum,
        };
        let sum = model.wire_node("sum", reduce, &[x]).unwrap()[0];
        let recip = model
            .add_const("recip", tensor3(&[[[1.0 / c as f32]]]))
            .unwrap();
        let mean = model.wire_node("mean", mul(), &[sum, recip]).unwrap()[0];
        let centred = model.wire_node("centred", sub(), &[x, mean]).unwrap()[0];
        let rms = RmsNorm {
            axis: 2,
            eps: tensor0(1e-5f32).into_arc_tensor(),
        };
        let mut y = model.wire_node("rms", rms, &[centred]).unwrap()[0];
        if let Some(gamma) = gamma {
            let gamma = model.add_const("gamma", gamma).unwrap();
            y = model.wire_node("scaled", mul(), &[gamma, y]).unwrap()[0];
        }
        if let Some(beta) = beta {
            let beta = model.add_const("beta", beta).unwrap();
            y = model.wire_node("shifted", add(), &[y, beta]).unwrap()[0];
        }
        model.select_output_outlets(&[y]).unwrap();
        super::super::declutter(&mut model).unwrap();
        model
    }

    #[test]
    fn replaces_tracts_layer_norm_with_the_same_values() {
        // The encoder's and decoder's widths; a width that leaves partial lanes.
        for (rows, c) in [(256, 192), (1, 256), (5, 13)] {
            for (gamma, beta) in [
                (Some(tensor(&[1, 1, c], 2)), Some(tensor(&[1, 1, c], 3))),
                (None, Some(tensor(&[1, 1, c], 3))),
                (None, None),
            ] {
                let what = format!("{rows} {c} {} {}", gamma.is_some(), beta.is_some());
                let x = tensor(&[1, rows, c], 1);
                let expected = run(tract_layer_norm(rows, c, gamma.clone(), beta.clone()), &x);
                let mut model = tract_layer_norm(rows, c, gamma, beta);
                assert_eq!(replace_layer_norms(&mut model).unwrap(), 1, "{what}");
                fuse_column_ops::<LayerNorm>(&mut model).unwrap();
                assert_eq!(
                    model.eval_order().unwrap().len(),
                    2,
                    "{what}: source and norm alone"
                );
                assert_close(&run(model, &x), &expected, 1e-5, &what);
            }
        }
    }

    #[test]
    fn leaves_a_mean_over_the_wrong_count() {
        let mut model = tract_layer_norm(4, 8, None, None);
        let recip = model.nodes.iter().position(|n| n.name == "recip").unwrap();
        let half = tensor3(&[[[0.5f32]]]).into_arc_tensor();
        model.nodes[recip].op =
            Box::new(tract_onnx::tract_core::ops::konst::Const::new(half.clone()).unwrap());
        model.nodes[recip].outputs[0].fact = TypedFact::try_from(half).unwrap();
        assert_eq!(replace_layer_norms(&mut model).unwrap(), 0);
    }
}
