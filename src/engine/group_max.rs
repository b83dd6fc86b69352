//! The best score of each group of classes, in one op in place of tract's gather, max and
//! concatenation per group.
//!
//! A tagger's graph gives each tag the maximum over the teacher classes mapped to it: one
//! gather (or slice), one max and one input of a final concatenation per tag, some three
//! hundred small ops for a hundred tags, each with tract's cost of running an op
//! (`tools/bench/FINDINGS.md`, "The tagger's convolutions"). This op reads each group's
//! classes straight from the scores.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::array::{Gather, Slice, TypedConcat};
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer};

/// `[N, C]` f32 scores -> `[N, G]`: the maximum over each of the `G` groups of class indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct GroupMax {
    groups: Vec<Vec<usize>>,
}

impl Op for GroupMax {
    fn name(&self) -> StaticName {
        "GroupMax".into()
    }

    op_as_typed_op!();
}

impl EvalOp for GroupMax {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let [n, classes] = *input.shape() else {
            bail!("GroupMax wants [N, C], found {:?}", input.shape());
        };
        if let Some(&class) = self.groups.iter().flatten().find(|&&c| c >= classes) {
            bail!("GroupMax: class {class} is past the {classes} scores");
        }
        let plain = input.try_as_plain_ram()?;
        let scores = plain.as_slice::<f32>()?;
        let output = super::new_f32(&[n, self.groups.len()], |output| {
            if self.groups.is_empty() {
                return Ok(());
            }
            for (scores, out) in scores
                .chunks_exact(classes.max(1))
                .zip(output.chunks_exact_mut(self.groups.len()))
            {
                for (o, group) in out.iter_mut().zip(&self.groups) {
                    *o = group
                        .iter()
                        .map(|&c| scores[c])
                        .fold(f32::NEG_INFINITY, f32::max);
                }
            }
            Ok(())
        })?;
        Ok(tvec!(output))
    }

    op_out_of_plan!();
}

impl TypedOp for GroupMax {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = &inputs[0].shape;
        ensure!(shape.rank() == 2, "GroupMax wants a rank-2 input");
        Ok(tvec!(f32::fact([
            shape[0].clone(),
            self.groups.len().to_dim()
        ])))
    }
}

/// The scores' outlet and the classes of one input of the concatenation, when that input is
/// the max over axis 1 of a gather of constant indices, or of a slice, of rank-2 f32 scores.
fn group_of(model: &TypedModel, outlet: OutletId) -> Option<(OutletId, Vec<usize>)> {
    let max = model.node(outlet.node);
    let reduce = max.op_as::<Reduce>()?;
    if reduce.reducer != Reducer::Max || reduce.axes[..] != [1] {
        return None;
    }
    let pick = model.node(max.inputs[0].node);
    let source = *pick.inputs.first()?;
    let fact = model.outlet_fact(source).ok()?;
    if fact.rank() != 2 || fact.datum_type != f32::datum_type() {
        return None;
    }
    let classes = fact.shape[1].to_usize().ok()?;
    let group: Vec<usize> = if let Some(gather) = pick.op_as::<Gather>() {
        let indices = model.outlet_fact(pick.inputs[1]).ok()?.konst.clone()?;
        if gather.axis != 1 || indices.rank() != 1 {
            return None;
        }
        let indices = indices.cast_to::<i64>().ok()?;
        let indices = indices.try_as_plain_ram().ok()?;
        indices
            .as_slice::<i64>()
            .ok()?
            .iter()
            .map(|&i| usize::try_from(i).ok().filter(|&i| i < classes))
            .collect::<Option<_>>()?
    } else if let Some(slice) = pick.op_as::<Slice>() {
        if slice.axis != 1 {
            return None;
        }
        (slice.start.to_usize().ok()?..slice.end.to_usize().ok()?).collect()
    } else {
        return None;
    };
    (!group.is_empty() && group.iter().all(|&c| c < classes)).then_some((source, group))
}

/// Puts [`GroupMax`] in place of each concatenation along axis 1 whose every input is a group
/// max of the same scores, in a decluttered graph; returns how many it replaced.
pub(super) fn replace_group_maxes(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let node = &model.nodes[id];
        if node.op_as::<TypedConcat>().is_none_or(|c| c.axis != 1) {
            continue;
        }
        let Some(groups) = node
            .inputs
            .iter()
            .map(|&i| group_of(model, i))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let source = groups[0].0;
        if groups.iter().any(|(s, _)| *s != source) {
            continue;
        }
        let op = GroupMax {
            groups: groups.into_iter().map(|(_, g)| g).collect(),
        };
        let name = node.name.clone();
        super::rewrite::put_in_place(model, name, op, &[source], OutletId::new(id, 0))?;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::super::op_tests::run;
    use super::*;

    /// Scores `[2, 10]` -> per group, a gather (several classes) or a slice (one class), a max
    /// over axis 1 kept as a dimension, and their concatenation (then the scores themselves
    /// when `with_scores`).
    fn tract_groups(groups: &[&[i64]], with_scores: bool) -> TypedModel {
        let mut model = TypedModel::default();
        let scores = model.add_source("scores", f32::fact([2, 10])).unwrap();
        let mut maxes = vec![];
        for (g, group) in groups.iter().enumerate() {
            let picked = if let [one] = group {
                let slice = Slice::new(1, *one as usize, *one as usize + 1);
                model.wire_node(format!("slice{g}"), slice, &[scores])
            } else {
                let indices = model
                    .add_const(format!("indices{g}"), tensor1(group))
                    .unwrap();
                let gather = Gather::new(1);
                model.wire_node(format!("gather{g}"), gather, &[scores, indices])
            }
            .unwrap();
            let max = Reduce::new(tvec![1], Reducer::Max);
            maxes.push(model.wire_node(format!("max{g}"), max, &picked).unwrap()[0]);
        }
        if with_scores {
            maxes.push(scores);
        }
        let out = model
            .wire_node("concat", TypedConcat::new(1), &maxes)
            .unwrap();
        model.select_output_outlets(&out).unwrap();
        model
    }

    #[test]
    fn replaces_the_groups_with_the_same_values() {
        let groups: &[&[i64]] = &[&[3, 1], &[7], &[0, 9, 4], &[2]];
        let values: Vec<f32> = (0..20).map(|i| ((i * 7) % 11) as f32 / 10.0).collect();
        let x = Tensor::from_shape(&[2, 10], &values).unwrap();
        let expected = run(tract_groups(groups, false), &x);
        let mut model = tract_groups(groups, false);
        assert_eq!(replace_group_maxes(&mut model).unwrap(), 1);
        assert!(model.nodes.iter().any(|n| n.op_is::<GroupMax>()));
        assert_eq!(run(model, &x), expected);
    }

    #[test]
    fn leaves_other_concatenations_to_tract() {
        let groups: &[&[i64]] = &[&[3, 1], &[7]];
        let mut model = tract_groups(groups, true);
        assert_eq!(replace_group_maxes(&mut model).unwrap(), 0);
    }
}
