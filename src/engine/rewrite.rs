//! Putting the engine's own ops in place of tract's in a graph.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

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
        let mut patch = TypedModelPatch::default();
        let data = patch.tap_model(model, node.inputs[0])?;
        let wire = patch.wire_node(&node.name, op, &[data])?[0];
        patch.shunt_outside(model, OutletId::new(id, 0), wire)?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

/// The `M` (rows) dimension and `[K, N]` sizes of tract's product `op` over `inputs` when it is
/// `[A, M, K]` f32 rows times `weights` (`[K, N]`, held apart as a constant): what the engine's
/// product ops replace.
pub(super) fn rows_by_weights(
    op: &EinSum,
    inputs: &[&TypedFact],
    weights: &Tensor,
) -> Option<(TDim, usize, usize)> {
    if op.q_params.is_some()
        || op.operating_dt != f32::datum_type()
        || op.axes.to_string() != "amk,kn->amn"
        || inputs.len() != 2
        || inputs[0].datum_type != f32::datum_type()
        || inputs[0].rank() != 3
    {
        return None;
    }
    let [k, n] = *weights.shape() else {
        return None;
    };
    (inputs[0].shape[2] == k.to_dim()).then(|| (inputs[0].shape[1].clone(), k, n))
}
