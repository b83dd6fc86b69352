//! A step graph split in two: what depends only on inputs that stay the same for many runs, and
//! the rest.
//!
//! Every step of the decoder takes the window's cross-attention keys and values, and tract's
//! plan transposes and packs them for its matrix kernels again at each step: the same work,
//! a quarter of a step (`tools/bench/FINDINGS.md`, "The decoder's step"). Split off, that part
//! runs once per window; the step takes its outputs as extra inputs.

use std::collections::HashSet;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::konst::Const;

/// An optimised graph cut where the part that depends only on its `fixed` inputs ends.
pub(super) struct Split {
    /// The `fixed` inputs -> the values the rest takes from them.
    pub once: TypedModel,
    /// The graph's own inputs, then `once`'s outputs.
    pub each: TypedModel,
}

/// Cuts an optimised `model` after every op whose inputs come only from the inputs at indices
/// `fixed` and from constants (and at least one of those inputs). `None` when no op does.
pub(super) fn split(model: &TypedModel, fixed: &[usize]) -> TractResult<Option<Split>> {
    let sources: Vec<OutletId> = fixed.iter().map(|&i| model.inputs[i]).collect();
    let mut constant: HashSet<usize> = HashSet::new();
    let mut window: HashSet<usize> = sources.iter().map(|o| o.node).collect();
    for id in model.eval_order()? {
        let node = model.node(id);
        if node.op_is::<Const>() {
            constant.insert(id);
        } else if !node.inputs.is_empty()
            && node
                .inputs
                .iter()
                .all(|i| window.contains(&i.node) || constant.contains(&i.node))
            && node.inputs.iter().any(|i| window.contains(&i.node))
        {
            window.insert(id);
        }
    }
    // Outlets of the window's ops (not its sources) that the rest reads, or that are outputs.
    let mut boundary: Vec<OutletId> = vec![];
    for &id in &window {
        if sources.iter().any(|s| s.node == id) {
            continue;
        }
        for (slot, output) in model.node(id).outputs.iter().enumerate() {
            let outlet = OutletId::new(id, slot);
            let read_outside = output.successors.iter().any(|s| !window.contains(&s.node));
            if read_outside || model.outputs.contains(&outlet) {
                boundary.push(outlet);
            }
        }
    }
    if boundary.is_empty() {
        return Ok(None);
    }
    boundary.sort();
    if boundary.iter().any(|o| model.outputs.contains(o)) {
        // A graph output computed from the fixed inputs alone: not a step graph; left whole.
        return Ok(None);
    }

    let mut once = model.clone();
    once.set_input_outlets(&sources)?;
    once.select_output_outlets(&boundary)?;
    once.compact()?;

    let mut each = model.clone();
    for (index, &outlet) in boundary.iter().enumerate() {
        let fact = each.outlet_fact(outlet)?.clone();
        let source = each.add_source(format!("once.{index}"), fact)?;
        let readers: Vec<InletId> = each.node(outlet.node).outputs[outlet.slot]
            .successors
            .iter()
            .filter(|s| !window.contains(&s.node))
            .copied()
            .collect();
        for reader in readers {
            each.add_edge(source, reader)?;
        }
    }
    each.compact()?;
    Ok(Some(Split { once, each }))
}

#[cfg(test)]
mod tests {
    use super::super::op_tests::tensor;
    use super::*;
    use tract_onnx::tract_core::ops::change_axes::AxisOp;
    use tract_onnx::tract_core::ops::math::{add, mul};

    /// `x * transpose(w) + c`, then `x + 1` as a second output: `w` fixed, `x` per run.
    fn model() -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([2, 3])).unwrap();
        let w = model.add_source("w", f32::fact([3, 2])).unwrap();
        let c = model.add_const("c", tensor(&[2, 3], 5)).unwrap();
        let t = model.wire_node("t", AxisOp::Move(1, 0), &[w]).unwrap()[0];
        let tc = model.wire_node("tc", add(), &[t, c]).unwrap()[0];
        let y = model.wire_node("y", mul(), &[x, tc]).unwrap()[0];
        let one = model.add_const("one", tensor2(&[[1f32]])).unwrap();
        let z = model.wire_node("z", add(), &[x, one]).unwrap()[0];
        model.select_output_outlets(&[y, z]).unwrap();
        model.into_optimized().unwrap()
    }

    #[test]
    fn the_split_computes_what_the_whole_graph_does() {
        let model = model();
        let (x, w) = (tensor(&[2, 3], 1), tensor(&[3, 2], 2));
        let whole = model
            .clone()
            .into_runnable()
            .unwrap()
            .run(tvec![x.clone().into(), w.clone().into()])
            .unwrap();
        let Split { once, each } = split(&model, &[1]).unwrap().unwrap();
        assert_eq!(once.inputs.len(), 1);
        let hoisted = once
            .into_runnable()
            .unwrap()
            .run(tvec![w.clone().into()])
            .unwrap();
        let mut inputs: TVec<TValue> = tvec![x.into(), w.into()];
        inputs.extend(hoisted);
        let parts = each.into_runnable().unwrap().run(inputs).unwrap();
        assert_eq!(parts.len(), whole.len());
        for (p, w) in parts.iter().zip(&whole) {
            assert_eq!(p.clone().into_tensor(), w.clone().into_tensor());
        }
    }

    #[test]
    fn nothing_is_split_off_when_nothing_depends_on_the_fixed_inputs_alone() {
        // `x + 1` is a graph output from `x` alone: not a step's work to hoist.
        assert!(split(&model(), &[0]).unwrap().is_none());
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([2])).unwrap();
        let w = model.add_source("w", f32::fact([2])).unwrap();
        let y = model.wire_node("y", add(), &[x, w]).unwrap()[0];
        model.select_output_outlets(&[y]).unwrap();
        assert!(split(&model, &[1]).unwrap().is_none());
    }
}
