//! Putting the engine's own ops in place of tract's in a graph.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::einsum::EinSum;

use super::weights::ProductWeights;

/// Wires `op` named `name` over `inputs` and puts its output in place of `replaced`: what
/// reads `replaced` then reads it; tract drops the ops left unread.
pub(super) fn put_in_place<T: TypedOp>(
    model: &mut TypedModel,
    name: impl Into<String>,
    op: T,
    inputs: &[OutletId],
    replaced: OutletId,
) -> TractResult<()> {
    let mut patch = TypedModelPatch::default();
    let taps = inputs
        .iter()
        .map(|&i| patch.tap_model(model, i))
        .collect::<TractResult<TVec<_>>>()?;
    let wire = patch.wire_node(name, op, &taps)?[0];
    patch.shunt_outside(model, replaced, wire)?;
    patch.apply(model)
}

/// Puts `op_for`'s op in place of each of the graph's ops of type `O` for which it has one,
/// reading the same first input; returns how many it replaced. `op_for` sees the graph, the
/// node and the facts of its inputs.
pub(super) fn replace_each<O: TypedOp, T: TypedOp>(
    model: &mut TypedModel,
    op_for: impl Fn(&TypedModel, &TypedNode, &O, &[&TypedFact]) -> Option<T>,
) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        let Some(op) = node.op_as::<O>() else {
            continue;
        };
        let Some(op) = op_for(model, node, op, &model.node_input_facts(id)?) else {
            continue;
        };
        let (name, input) = (node.name.clone(), node.inputs[0]);
        put_in_place(model, name, op, &[input], OutletId::new(id, 0))?;
        replaced += 1;
    }
    Ok(replaced)
}

/// The `M` (rows) dimension of tract's product `op` over `inputs` when it is `[A, M, K]` f32
/// rows times `weights` (`[K, N]`, held apart as a constant): what the engine's product ops
/// replace.
pub(super) fn rows_by_weights(
    op: &EinSum,
    inputs: &[&TypedFact],
    weights: &ProductWeights,
) -> Option<TDim> {
    if op.q_params.is_some()
        || op.operating_dt != f32::datum_type()
        || op.axes.to_string() != "amk,kn->amn"
        || inputs.len() != 2
        || inputs[0].datum_type != f32::datum_type()
        || inputs[0].rank() != 3
    {
        return None;
    }
    (inputs[0].shape[2] == weights.k.to_dim()).then(|| inputs[0].shape[1].clone())
}

/// What an op after a product does to each of its columns, by a value per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    Scale,
    Shift,
}

impl Column {
    /// A product's per-column `scale` and `bias` (applied as `x * scale + bias`, `n` columns,
    /// maybe padded) once this is applied after them with the column's value in `values` (one
    /// value: all columns).
    pub fn fold(
        self,
        scale: &Tensor,
        bias: &Tensor,
        n: usize,
        values: &[f32],
    ) -> TractResult<(Arc<Tensor>, Arc<Tensor>)> {
        let (mut scale, mut bias) = (scale.clone(), bias.clone());
        {
            let mut scale_plain = scale.try_as_plain_ram_mut()?;
            let mut bias_plain = bias.try_as_plain_ram_mut()?;
            let scales = scale_plain.as_slice_mut::<f32>()?;
            let biases = bias_plain.as_slice_mut::<f32>()?;
            for (c, (s, b)) in scales.iter_mut().zip(biases.iter_mut()).enumerate().take(n) {
                let value = values[c % values.len()];
                match self {
                    // (x * s + b) * v = x * (s * v) + b * v
                    Column::Scale => (*s, *b) = (*s * value, *b * value),
                    Column::Shift => *b += value,
                }
            }
        }
        Ok((scale.into_arc_tensor(), bias.into_arc_tensor()))
    }
}

/// A product op that scales and shifts each of its output columns before it returns them.
pub(super) trait ScalesColumns: TypedOp + Clone {
    /// Its output columns.
    fn columns(&self) -> usize;
    /// The same op with `column` then applied by `values`.
    fn then(&self, column: Column, values: &[f32]) -> TractResult<Self>;
}

/// The column op and its values when `node` multiplies or shifts `x`, rows of `n`, by an f32
/// constant that varies along the last axis alone, or not at all.
pub(super) fn column_op(
    model: &TypedModel,
    node: &TypedNode,
    x: OutletId,
    n: usize,
) -> Option<(Column, Vec<f32>)> {
    let op = node.op_as::<TypedBinOp>()?;
    let column = match op.0.name() {
        "Mul" => Column::Scale,
        "Add" => Column::Shift,
        _ => return None,
    };
    let [a, b] = node.inputs[..] else {
        return None;
    };
    let other = if a == x { b } else { a };
    let konst = model.outlet_fact(other).ok()?.konst.clone()?;
    let shape = konst.shape();
    let last = shape.last().copied().unwrap_or(1);
    let leading_ones = shape.iter().rev().skip(1).all(|&d| d == 1);
    if other == x
        || konst.datum_type() != f32::datum_type()
        || konst.rank() > model.outlet_fact(x).ok()?.rank()
        || !leading_ones
        || (last != n && last != 1)
    {
        return None;
    }
    let plain = konst.try_as_plain_ram().ok()?;
    Some((column, plain.as_slice::<f32>().ok()?.to_vec()))
}

/// The one f32 number `node` multiplies `x` by, when it does.
pub(super) fn scalar_factor(model: &TypedModel, node: &TypedNode, x: OutletId) -> Option<f32> {
    match column_op(model, node, x, 1)? {
        (Column::Scale, values) => values.first().copied(),
        (Column::Shift, _) => None,
    }
}

/// Folds into each op of type `T` the chain of per-column scales and shifts by constants that
/// alone read its output (the int8 graphs' weight scales and biases); returns how many ops took
/// one.
pub(super) fn fuse_column_ops<T: ScalesColumns>(model: &mut TypedModel) -> TractResult<usize> {
    let outputs = model.output_outlets()?.to_vec();
    let mut fused = 0;
    for id in 0..model.nodes.len() {
        let Some(op) = model.nodes[id].op_as::<T>() else {
            continue;
        };
        let mut op = op.clone();
        let mut last = id;
        while let Some(next) = model.single_succ(last)? {
            let x = OutletId::new(last, 0);
            if outputs.contains(&x) {
                break;
            }
            let Some((column, values)) = column_op(model, next, x, op.columns()) else {
                break;
            };
            op = op.then(column, &values)?;
            last = next.id;
        }
        if last == id {
            continue;
        }
        let (name, input) = (model.nodes[id].name.clone(), model.nodes[id].inputs[0]);
        put_in_place(model, name, op, &[input], OutletId::new(last, 0))?;
        fused += 1;
    }
    Ok(fused)
}
