//! The best score of each group of classes, in two ops in place of a gather, a max and an input
//! of a concatenation per group.
//!
//! A tagger's graph gives each tag the maximum over the teacher classes mapped to it: one
//! gather, one max and one input of a final concatenation per tag, some two hundred small ops
//! for a hundred tags. tract's import infers the facts of each of them, which was most of
//! loading the tagger, and then runs each as an op (`tools/bench/FINDINGS.md`, "Loading").
//! Before tract reads the graph, they become one gather of a `[G, S]` table of class indices
//! (each group padded by repeating its last class, which leaves its maximum as it was) and one
//! max over the table's rows.

use std::collections::HashMap;

use tract_onnx::pb::{self, attribute_proto::AttributeType, tensor_proto::DataType};
use tract_onnx::prelude::*;

/// Rewrites each concatenation along axis 1 whose every input is the max over axis 1 (kept) of
/// a gather along axis 1, by constant indices, of the same scores, and read by nothing else;
/// returns how many it rewrote.
pub(super) fn gather_group_maxes(proto: &mut pb::ModelProto) -> TractResult<usize> {
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(0);
    };
    let mut rewritten = 0;
    while let Some(found) = find_groups(graph) {
        rewrite(graph, found);
        rewritten += 1;
    }
    Ok(rewritten)
}

/// A concatenation of group maxes: where it is, what it reads, and what it replaces.
struct Groups {
    concat: usize,
    scores: String,
    groups: Vec<Vec<i64>>,
    /// The gathers and maxes, and the index tables only they read.
    nodes: Vec<usize>,
    indices: Vec<String>,
}

fn find_groups(graph: &pb::GraphProto) -> Option<Groups> {
    let producer: HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(k, n)| n.output.iter().map(move |o| (o.as_str(), k)))
        .collect();
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for name in graph
        .node
        .iter()
        .flat_map(|n| &n.input)
        .chain(graph.output.iter().map(|o| &o.name))
    {
        *readers.entry(name.as_str()).or_default() += 1;
    }
    let read_once = |name: &str| readers.get(name) == Some(&1);
    // An initializer that is also a graph input can be fed another value: not a constant.
    let initializer = |name: &str| {
        (!graph.input.iter().any(|i| i.name == name))
            .then(|| graph.initializer.iter().find(|i| i.name == name))
            .flatten()
    };
    let taken = |name: &str| {
        producer.contains_key(name)
            || readers.contains_key(name)
            || graph.initializer.iter().any(|i| i.name == name)
    };
    graph.node.iter().enumerate().find_map(|(concat, node)| {
        if node.op_type != "Concat" || int_attribute(node, "axis") != Some(1) {
            return None;
        }
        let mut found = Groups {
            concat,
            scores: String::new(),
            groups: vec![],
            nodes: vec![],
            indices: vec![],
        };
        for input in &node.input {
            let max_at = *producer.get(input.as_str())?;
            let max = &graph.node[max_at];
            let kept = int_attribute(max, "keepdims").unwrap_or(1) == 1;
            if max.op_type != "ReduceMax" || !kept || ints_attribute(max, "axes")? != [1] {
                return None;
            }
            let gather_at = *producer.get(max.input.first()?.as_str())?;
            let gather = &graph.node[gather_at];
            if gather.op_type != "Gather"
                || int_attribute(gather, "axis") != Some(1)
                || gather.input.len() != 2
                || !read_once(input)
                || !read_once(&max.input[0])
            {
                return None;
            }
            if found.nodes.is_empty() {
                found.scores = gather.input[0].clone();
            } else if gather.input[0] != found.scores {
                return None;
            }
            let table = &gather.input[1];
            let group = int64s(initializer(table)?)?;
            if group.is_empty() {
                return None;
            }
            found.groups.push(group);
            found.nodes.extend([max_at, gather_at]);
            if read_once(table) {
                found.indices.push(table.clone());
            }
        }
        let free = [".groups", ".picked"]
            .iter()
            .all(|suffix| !taken(&format!("{}{suffix}", node.name)));
        (free && !found.groups.is_empty()).then_some(found)
    })
}

fn rewrite(graph: &mut pb::GraphProto, found: Groups) {
    let concat = graph.node[found.concat].clone();
    let table_name = format!("{}.groups", concat.name);
    let picked = format!("{}.picked", concat.name);
    let width = found.groups.iter().map(Vec::len).max().unwrap_or(1);
    let mut table = Vec::with_capacity(found.groups.len() * width * 8);
    for group in &found.groups {
        let last = group[group.len() - 1];
        for class in group.iter().chain(std::iter::repeat(&last)).take(width) {
            table.extend_from_slice(&class.to_le_bytes());
        }
    }
    graph
        .initializer
        .retain(|i| !found.indices.contains(&i.name));
    graph.initializer.push(pb::TensorProto {
        name: table_name.clone(),
        dims: vec![found.groups.len() as i64, width as i64],
        data_type: DataType::Int64 as i32,
        raw_data: table,
        ..Default::default()
    });
    let gather = pb::NodeProto {
        name: format!("{}.gather", concat.name),
        op_type: "Gather".into(),
        input: vec![found.scores, table_name],
        output: vec![picked.clone()],
        attribute: vec![int("axis", 1)],
        ..Default::default()
    };
    let max = pb::NodeProto {
        name: concat.name.clone(),
        op_type: "ReduceMax".into(),
        input: vec![picked],
        output: concat.output.clone(),
        attribute: vec![ints("axes", &[2]), int("keepdims", 0)],
        ..Default::default()
    };
    let nodes = std::mem::take(&mut graph.node);
    for (k, node) in nodes.into_iter().enumerate() {
        if k == found.concat {
            graph.node.extend([gather.clone(), max.clone()]);
        } else if !found.nodes.contains(&k) {
            graph.node.push(node);
        }
    }
}

fn attribute<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn int_attribute(node: &pb::NodeProto, name: &str) -> Option<i64> {
    attribute(node, name)
        .filter(|a| a.r#type == AttributeType::Int as i32)
        .map(|a| a.i)
}

fn ints_attribute<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a [i64]> {
    attribute(node, name)
        .filter(|a| a.r#type == AttributeType::Ints as i32)
        .map(|a| a.ints.as_slice())
}

fn int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// The values of a one-dimensional int64 initializer held inline.
fn int64s(tensor: &pb::TensorProto) -> Option<Vec<i64>> {
    if tensor.data_type != DataType::Int64 as i32 || tensor.dims.len() != 1 {
        return None;
    }
    let values: Vec<i64> = if tensor.raw_data.is_empty() {
        tensor.int64_data.clone()
    } else {
        tensor
            .raw_data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("chunks of 8 bytes")))
            .collect()
    };
    (values.len() as i64 == tensor.dims[0]).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores `[2, 10]` -> per group a gather of its classes and a max over axis 1, kept, then
    /// their concatenation (and the scores themselves, or a second reader of the first max,
    /// when asked).
    fn tagger_head(groups: &[&[i64]], concat_scores: bool, read_twice: bool) -> pb::ModelProto {
        let mut graph = pb::GraphProto {
            input: vec![value("scores", &[2, 10])],
            output: vec![value("tags", &[2, groups.len() as i64])],
            ..Default::default()
        };
        let mut maxes = vec![];
        for (g, group) in groups.iter().enumerate() {
            let bytes = group.iter().flat_map(|c| c.to_le_bytes()).collect();
            graph.initializer.push(pb::TensorProto {
                name: format!("idx{g}"),
                dims: vec![group.len() as i64],
                data_type: DataType::Int64 as i32,
                raw_data: bytes,
                ..Default::default()
            });
            graph.node.push(node(
                "Gather",
                &["scores", &format!("idx{g}")],
                &format!("picked{g}"),
                vec![int("axis", 1)],
            ));
            graph.node.push(node(
                "ReduceMax",
                &[&format!("picked{g}")],
                &format!("max{g}"),
                vec![ints("axes", &[1]), int("keepdims", 1)],
            ));
            maxes.push(format!("max{g}"));
        }
        if concat_scores {
            maxes.push("scores".into());
        }
        let inputs: Vec<&str> = maxes.iter().map(String::as_str).collect();
        graph
            .node
            .push(node("Concat", &inputs, "tags", vec![int("axis", 1)]));
        if read_twice {
            graph
                .node
                .push(node("Identity", &["max0"], "again", vec![]));
            graph.output.push(value("again", &[2, 1]));
        }
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(graph),
            ..Default::default()
        }
    }

    fn node(
        op: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<pb::AttributeProto>,
    ) -> pb::NodeProto {
        pb::NodeProto {
            name: output.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute,
            ..Default::default()
        }
    }

    fn value(name: &str, shape: &[i64]) -> pb::ValueInfoProto {
        super::super::weights::value_info(name, DataType::Float as i32, shape)
    }

    fn run(proto: &pb::ModelProto, scores: &Tensor) -> Tensor {
        let model = tract_onnx::onnx().model_for_proto_model(proto).unwrap();
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        plan.run(tvec![scores.clone().into()])
            .unwrap()
            .remove(0)
            .into_tensor()
    }

    #[test]
    fn the_groups_become_one_gather_and_one_max_with_the_same_values() {
        let groups: &[&[i64]] = &[&[3, 1], &[7], &[0, 9, 4], &[2]];
        let values: Vec<f32> = (0..20)
            .map(|i| ((i * 7) % 11) as f32 / 10.0 - 0.3)
            .collect();
        let scores = Tensor::from_shape(&[2, 10], &values).unwrap();
        let original = tagger_head(groups, false, false);
        let mut proto = original.clone();
        assert_eq!(gather_group_maxes(&mut proto).unwrap(), 1);
        let graph = proto.graph.as_ref().unwrap();
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Gather", "ReduceMax"]);
        assert_eq!(
            graph.initializer.len(),
            1,
            "the four index tables become one"
        );
        assert_eq!(run(&proto, &scores), run(&original, &scores));
    }

    #[test]
    fn other_concatenations_are_left_as_they_are() {
        let groups: &[&[i64]] = &[&[3, 1], &[7]];
        for (concat_scores, read_twice) in [(true, false), (false, true)] {
            let original = tagger_head(groups, concat_scores, read_twice);
            let mut proto = original.clone();
            assert_eq!(gather_group_maxes(&mut proto).unwrap(), 0);
            assert_eq!(proto, original);
        }
        // Indices that are also a graph input can be fed at run time: not constant groups.
        let mut fed = tagger_head(groups, false, false);
        let graph = fed.graph.as_mut().unwrap();
        graph.input.push(value("idx0", &[2]));
        let original = fed.clone();
        assert_eq!(gather_group_maxes(&mut fed).unwrap(), 0);
        assert_eq!(fed, original);
    }
}
