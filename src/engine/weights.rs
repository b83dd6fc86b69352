//! Int8 weights that join a graph after tract has typed it.
//!
//! tract's ONNX import infers facts over the whole graph with every initializer as a known
//! value: it casts each int8 weight to f32 there and compares whole weight tensors whenever two
//! facts about them meet, which was about a fifth of loading a bundle. Declared as plain inputs
//! for that step and bound as constants right after, the weights give the same typed graph, and
//! the optimiser folds each cast once.

use anyhow::{ensure, format_err};
use tract_onnx::pb::{self, tensor_proto::DataType};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::konst::Const;

use super::filled_tensor;

/// The int8 initializers taken out of a graph, in the order they were appended to its inputs.
pub(super) struct DeferredWeights {
    weights: Vec<(String, Tensor)>,
}

impl DeferredWeights {
    /// How many inputs the deferred weights added after the graph's own.
    pub(super) fn len(&self) -> usize {
        self.weights.len()
    }

    /// Turns each deferred weight's input of a typed graph back into its constant.
    pub(super) fn bind(self, model: &mut TypedModel) -> TractResult<()> {
        for (name, tensor) in self.weights {
            let id = model.node_by_name(&name)?.id;
            let tensor = tensor.into_arc_tensor();
            model.nodes[id].outputs[0].fact = TypedFact::try_from(tensor.clone())?;
            model.nodes[id].op = Box::new(Const::new(tensor)?);
            model.inputs.retain(|outlet| outlet.node != id);
        }
        Ok(())
    }
}

/// Moves every int8 initializer held inline (the weights of an int8 bundle) to a graph input of
/// the same name, type and shape, and returns their values.
pub(super) fn defer_int8(proto: &mut pb::ModelProto) -> TractResult<DeferredWeights> {
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| format_err!("model proto does not contain a graph"))?;
    let mut weights = Vec::new();
    let mut kept = Vec::with_capacity(graph.initializer.len());
    for init in std::mem::take(&mut graph.initializer) {
        let shadowed = graph.input.iter().any(|i| i.name == init.name);
        let external = init.data_location == Some(pb::tensor_proto::DataLocation::External as i32);
        if init.data_type != DataType::Int8 as i32 || shadowed || external {
            kept.push(init);
            continue;
        }
        let tensor = int8_tensor(&init)?;
        graph.input.push(input_like(&init));
        weights.push((init.name, tensor));
    }
    graph.initializer = kept;
    Ok(DeferredWeights { weights })
}

fn int8_tensor(init: &pb::TensorProto) -> TractResult<Tensor> {
    let shape = init
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format_err!("{}: dimension {d}", init.name)))
        .collect::<TractResult<Vec<usize>>>()?;
    let found = if init.raw_data.is_empty() {
        init.int32_data.len()
    } else {
        init.raw_data.len()
    };
    let expected = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format_err!("initializer {}: shape {shape:?} is too large", init.name))?;
    ensure!(
        found == expected,
        "initializer {}: {found} int8 values for shape {shape:?} ({expected} expected)",
        init.name
    );
    filled_tensor::<i8>(&shape, |values| {
        if init.raw_data.is_empty() {
            for (value, &stored) in values.iter_mut().zip(&init.int32_data) {
                *value = stored as i8;
            }
        } else {
            for (value, &stored) in values.iter_mut().zip(&init.raw_data) {
                *value = stored as i8;
            }
        }
        Ok(())
    })
}

fn input_like(init: &pb::TensorProto) -> pb::ValueInfoProto {
    value_info(&init.name, init.data_type, &init.dims)
}

/// A graph input or output named `name`, of ONNX element type `elem_type` and shape `dims`.
pub(super) fn value_info(name: &str, elem_type: i32, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            denotation: String::new(),
            value: Some(Value::DimValue(d)),
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

/// A product's constant `[K, N]` weights, shared with the graph that holds them rather than
/// copied: row-major `[K, N]`, or `[N, K]` (each output's weights contiguous) where the graph
/// transposes a stored `[N, K]` constant, as the int8 exporter writes them.
pub(super) struct ProductWeights {
    pub stored: Arc<Tensor>,
    /// `stored` is `[N, K]`.
    pub transposed: bool,
    pub k: usize,
    pub n: usize,
}

impl ProductWeights {
    /// `stored` as `[K, N]` weights (`[N, K]` when `transposed`); `None` unless it has two
    /// dimensions, neither of them empty.
    pub fn new(stored: Arc<Tensor>, transposed: bool) -> Option<ProductWeights> {
        let (k, n) = match (stored.shape(), transposed) {
            (&[k, n], false) | (&[n, k], true) if k > 0 && n > 0 => (k, n),
            _ => return None,
        };
        Some(ProductWeights {
            stored,
            transposed,
            k,
            n,
        })
    }

    /// The weights of each output, `[N, K]` row-major: the stored values where they are laid out
    /// so, else transposed in tiles that stay in the cache.
    pub fn by_output<T: Datum + Copy>(&self) -> TractResult<Arc<Tensor>> {
        if self.transposed {
            return Ok(self.stored.clone());
        }
        let (k, n) = (self.k, self.n);
        let stored = self.stored.try_as_plain_ram()?;
        let b = stored.as_slice::<T>()?;
        const TILE: usize = 32;
        // Tile by tile: each output row's run of a tile is written in order, from reads that
        // stay within the tile's cache lines.
        let rows = filled_tensor::<T>(&[n, k], |rows| {
            for (j0, outputs) in (0..n).step_by(TILE).zip(rows.chunks_mut(TILE * k)) {
                for i0 in (0..k).step_by(TILE) {
                    let i1 = (i0 + TILE).min(k);
                    for (j, row) in (j0..).zip(outputs.chunks_exact_mut(k)) {
                        for (o, i) in row[i0..i1].iter_mut().zip(i0..) {
                            *o = b[i * n + j];
                        }
                    }
                }
            }
            Ok(())
        })?;
        Ok(rows.into_arc_tensor())
    }
}

/// Weights stored `[N, K]` (each output's `k` weights contiguous) packed into `packed`,
/// `[blocks, K, B]` and zeroed: per block of `B` outputs, per inner index, the block's weights,
/// zero past the last output. A block's outputs are read side by side, so that the packed
/// weights are written in order.
pub(super) fn pack_output_blocks<const B: usize, T: Copy + Into<f32>>(
    by_output: &[T],
    k: usize,
    packed: &mut [f32],
) {
    if k == 0 {
        return;
    }
    for (outputs, out) in by_output.chunks(k * B).zip(packed.chunks_exact_mut(k * B)) {
        for (i, out) in out.chunks_exact_mut(B).enumerate() {
            for (o, weights) in out.iter_mut().zip(outputs.chunks_exact(k)) {
                *o = weights[i].into();
            }
        }
    }
}

/// The `[K, N]` weights at `outlet` as int8, when they are a constant of whole numbers in the
/// int8 range: an f32 constant (once tract has folded the cast), or int8 constant weights cast
/// to f32, possibly through transposes (before it has).
pub(super) fn int8_constant(model: &TypedModel, outlet: OutletId) -> Option<ProductWeights> {
    let fact = model.outlet_fact(outlet).ok()?;
    if let Some(konst) = &fact.konst {
        let values = konst.try_as_plain_ram().ok()?;
        let values = values.as_slice::<f32>().ok()?;
        let whole = |v: f32| v.fract() == 0.0 && (-128.0..=127.0).contains(&v);
        if !values.iter().all(|&v| whole(v)) {
            return None;
        }
        let ints = filled_tensor::<i8>(konst.shape(), |ints| {
            for (int, &v) in ints.iter_mut().zip(values) {
                *int = v as i8;
            }
            Ok(())
        })
        .ok()?;
        return ProductWeights::new(ints.into_arc_tensor(), false);
    }
    let cast = model.node(outlet.node);
    if cast.op_as::<Cast>()?.to != f32::datum_type() {
        return None;
    }
    // Each transpose between the constant and the cast swaps its two axes.
    let mut transposed = false;
    let mut source = cast.inputs[0];
    loop {
        let node = model.node(source.node);
        if let Some(&AxisOp::Move(from, to)) = node.op_as::<AxisOp>() {
            if from.max(to) > 1 {
                return None;
            }
            transposed ^= from != to;
            source = node.inputs[0];
        } else {
            let konst = node.op_as::<Const>()?.val();
            if konst.datum_type() != i8::datum_type() {
                return None;
            }
            return ProductWeights::new(konst.clone(), transposed);
        }
    }
}

/// Folds each int8 kernel's per-output-channel scale (`Cast(int8 constant) * constant`, how the
/// int8 exporter writes a convolution's kernel) into one f32 constant before tract declutters,
/// which would fold it element by element through its broadcasting product; returns how many it
/// folded. The values are tract's own: each int8 value widened, times its channel's scale.
pub(super) fn fold_kernel_scales(model: &mut TypedModel) -> TractResult<usize> {
    let mut folded = 0;
    for id in 0..model.nodes.len() {
        let Some(kernel) = scaled_kernel(model, &model.nodes[id]) else {
            continue;
        };
        let (name, konst) = (
            model.nodes[id].name.clone(),
            Const::new(kernel.into_arc_tensor())?,
        );
        super::rewrite::put_in_place(model, name, konst, &[], OutletId::new(id, 0))?;
        folded += 1;
    }
    Ok(folded)
}

/// `node`'s value when it multiplies an int8 constant `[O, ..]` widened to f32 by an f32
/// constant `[O, 1, ..]` of the same rank (one scale per leading index).
fn scaled_kernel(model: &TypedModel, node: &TypedNode) -> Option<Tensor> {
    if node.op_as::<TypedBinOp>()?.0.name() != "Mul" {
        return None;
    }
    let [a, b] = node.inputs[..] else {
        return None;
    };
    let int8_source = |outlet: OutletId| -> Option<Arc<Tensor>> {
        let cast = model.node(outlet.node);
        if cast.op_as::<Cast>()?.to != f32::datum_type() {
            return None;
        }
        let konst = model.node(cast.inputs[0].node).op_as::<Const>()?.val();
        (konst.datum_type() == i8::datum_type()).then(|| konst.clone())
    };
    let (ints, scale) = match (int8_source(a), int8_source(b)) {
        (Some(ints), None) => (ints, b),
        (None, Some(ints)) => (ints, a),
        _ => return None,
    };
    let scale = model.outlet_fact(scale).ok()?.konst.clone()?;
    let shape = ints.shape().to_vec();
    let channels = *shape.first()?;
    if scale.datum_type() != f32::datum_type()
        || scale.rank() != ints.rank()
        || scale.shape()[0] != channels
        || scale.shape()[1..].iter().any(|&d| d != 1)
    {
        return None;
    }
    let (ints, scale) = (
        ints.try_as_plain_ram().ok()?,
        scale.try_as_plain_ram().ok()?,
    );
    let (ints, scale) = (ints.as_slice::<i8>().ok()?, scale.as_slice::<f32>().ok()?);
    let per_channel = (ints.len() / channels.max(1)).max(1);
    filled_tensor::<f32>(&shape, |values| {
        for ((out, channel), &s) in values
            .chunks_exact_mut(per_channel)
            .zip(ints.chunks_exact(per_channel))
            .zip(scale)
        {
            for (o, &q) in out.iter_mut().zip(channel) {
                *o = q as f32 * s;
            }
        }
        Ok(())
    })
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::internal::Approximation;

    fn int8_initializer(name: &str, dims: &[i64], bytes: usize) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: DataType::Int8 as i32,
            raw_data: (0..bytes).map(|i| i as u8).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_shipped_encoder_computes_the_same_with_its_weights_bound_after_typing() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/mini/encoder.onnx");
        let onnx = tract_onnx::onnx();
        let plain = onnx
            .model_for_path(path)
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let mut proto = onnx.proto_model_for_path(path).unwrap();
        let weights = defer_int8(&mut proto).unwrap();
        assert!(weights.len() > 0, "the mini encoder has int8 weights");
        let mut typed = onnx
            .model_for_proto_model(&proto)
            .unwrap()
            .into_typed()
            .unwrap();
        weights.bind(&mut typed).unwrap();
        assert_eq!(typed.inputs.len(), 1, "only the mel input is left");
        let deferred = typed.into_optimized().unwrap().into_runnable().unwrap();

        let mel: Vec<f32> = (0..1024 * 64)
            .map(|i| ((i % 97) as f32 / 48.0) - 1.0)
            .collect();
        let input = || tvec![Tensor::from_shape(&[1, 1024, 64], &mel).unwrap().into()];
        let (a, b) = (plain.run(input()).unwrap(), deferred.run(input()).unwrap());
        assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(&b) {
            a.close_enough(b, Approximation::Close).unwrap();
        }
    }

    /// `kernel` (int8) widened to f32, times `scale`, which comes first when `scale_first`.
    fn scaled_kernel_graph(kernel: &Tensor, scale: &Tensor, scale_first: bool) -> TypedModel {
        let mut model = TypedModel::default();
        let q = model.add_const("q", kernel.clone()).unwrap();
        let w = model
            .wire_node("w", Cast::new(f32::datum_type()), &[q])
            .unwrap()[0];
        let s = model.add_const("s", scale.clone()).unwrap();
        let inputs = if scale_first { [s, w] } else { [w, s] };
        let k = model
            .wire_node("k", tract_onnx::tract_core::ops::math::mul(), &inputs)
            .unwrap();
        model.select_output_outlets(&k).unwrap();
        model
    }

    #[test]
    fn int8_kernels_are_scaled_once_to_tracts_own_values() {
        // Four output channels of 2 x 3 x 3, and the scale on either side of the product.
        let ints: Vec<i8> = (0..72).map(|i| ((i * 37) % 256) as u8 as i8).collect();
        let kernel = Tensor::from_shape(&[4, 2, 3, 3], &ints).unwrap();
        let scale = Tensor::from_shape(&[4, 1, 1, 1], &[0.5f32, -0.25, 3.0, 1e-3]).unwrap();
        for scale_first in [false, true] {
            let mut model = scaled_kernel_graph(&kernel, &scale, scale_first);
            let run = |model: TypedModel| {
                let plan = model.into_runnable().unwrap();
                plan.run(tvec![]).unwrap().remove(0).into_tensor()
            };
            let expected = run(model.clone());
            assert_eq!(fold_kernel_scales(&mut model).unwrap(), 1);
            let node = model.node(model.output_outlets().unwrap()[0].node);
            assert!(node.op_is::<Const>(), "{node}");
            assert_eq!(run(model), expected, "bit for bit");
        }
    }

    #[test]
    fn only_per_channel_scales_of_int8_kernels_are_folded() {
        // Large enough that tract does not fold the product as it wires it.
        let ints: Vec<i8> = (0..100).map(|i| i as i8).collect();
        let kernel = Tensor::from_shape(&[2, 50], &ints).unwrap();
        for (scale, folded) in [
            (Tensor::from_shape(&[2, 1], &[2f32, 3.0]).unwrap(), 1),
            // A scale per column, or per element, is another product.
            (Tensor::from_shape(&[1, 50], &[2f32; 50]).unwrap(), 0),
            (Tensor::from_shape(&[2, 50], &[1f32; 100]).unwrap(), 0),
        ] {
            let mut model = scaled_kernel_graph(&kernel, &scale, false);
            assert_eq!(fold_kernel_scales(&mut model).unwrap(), folded, "{scale:?}");
        }
    }

    #[test]
    fn a_weight_with_too_few_values_is_named() {
        let mut proto = pb::ModelProto {
            graph: Some(pb::GraphProto {
                initializer: vec![int8_initializer("enc.w", &[4, 8], 30)],
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = defer_int8(&mut proto).err().unwrap().to_string();
        assert!(
            e.contains("enc.w") && e.contains("30 int8 values") && e.contains("32"),
            "{e}"
        );
    }

    #[test]
    fn only_inline_int8_initializers_move_to_the_inputs() {
        let mut f32_init = int8_initializer("scale", &[2], 8);
        f32_init.data_type = DataType::Float as i32;
        let mut proto = pb::ModelProto {
            graph: Some(pb::GraphProto {
                initializer: vec![int8_initializer("w", &[2, 3], 6), f32_init],
                ..Default::default()
            }),
            ..Default::default()
        };
        let weights = defer_int8(&mut proto).unwrap();
        let graph = proto.graph.unwrap();
        assert_eq!(weights.len(), 1);
        assert_eq!(graph.initializer.len(), 1);
        assert_eq!(graph.initializer[0].name, "scale");
        assert_eq!(graph.input.len(), 1);
        assert_eq!(graph.input[0].name, "w");
    }
}
