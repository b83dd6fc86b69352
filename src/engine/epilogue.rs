//! A ReLU and a 2x2 max-pool folded into the convolution before them.
//!
//! Each of the tagger's convolutions is followed by `max(x, 0)` and a 2x2, stride-2 max-pool.
//! As separate ops, each writes its whole output and the next reads it again; folded into the
//! convolution, the activation and the pool run on planes the convolution has just written,
//! and the full-size planes never leave the op (`tools/bench/FINDINGS.md`, "The tagger's
//! convolutions").

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cnn::MaxPool;

use super::conv3x3::Conv3x3;
use super::pool::{is_plain_2x2, max_pool_planes};
use super::stem::StemConv;

/// What a convolution op does to its output before it returns it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(super) struct Epilogue {
    /// `max(x, 0)`.
    pub relu: bool,
    /// A 2x2 max-pool of stride 2, a last odd row or column dropped.
    pub pool: bool,
}

impl Epilogue {
    /// The output's height or width for a convolution's `d`.
    pub fn side(&self, d: &TDim) -> TDim {
        if self.pool {
            d.clone() / 2
        } else {
            d.clone()
        }
    }

    /// The same, for a concrete size.
    pub fn len(&self, d: usize) -> usize {
        if self.pool {
            d / 2
        } else {
            d
        }
    }

    /// Runs `convolve` for one image's `h x w` output planes, then this epilogue, into `out`
    /// (planes of `self.len(h) x self.len(w)`).
    pub fn apply(&self, h: usize, w: usize, out: &mut [f32], convolve: impl FnOnce(&mut [f32])) {
        if self.pool {
            let mut planes = vec![0f32; out.len() / (h / 2 * (w / 2)).max(1) * h * w];
            convolve(&mut planes);
            max_pool_planes(&planes, h, w, self.relu, out);
        } else {
            convolve(out);
            if self.relu {
                for o in out.iter_mut() {
                    *o = o.max(0.0);
                }
            }
        }
    }
}

/// A convolution op of the engine that can take an epilogue.
pub(super) trait WithEpilogue: TypedOp + Clone {
    fn epilogue(&self) -> Epilogue;
    fn with_epilogue(&self, epilogue: Epilogue) -> Self;
}

/// Whether `node` is `max(x, 0)` of its input `x` (a zero constant on the other side).
fn is_relu_of(model: &TypedModel, node: &TypedNode, x: OutletId) -> bool {
    let Some(op) = node.op_as::<TypedBinOp>() else {
        return false;
    };
    if op.0.name() != "Max" || node.inputs.len() != 2 {
        return false;
    }
    let Some(other) = node.inputs.iter().find(|&&i| i != x) else {
        return false;
    };
    model
        .outlet_fact(*other)
        .ok()
        .and_then(|f| f.konst.clone())
        .is_some_and(|k| {
            k.len() == 1
                && k.cast_to_scalar::<f32>().is_ok_and(|v| v == 0.0)
                && model.outlet_fact(x).is_ok_and(|f| k.rank() <= f.rank())
        })
}

/// Folds into each op of type `T` of a decluttered graph the ReLU that alone reads its output,
/// and the 2x2 max-pool that alone reads the ReLU's; returns how many ops took an epilogue.
fn fuse<T: WithEpilogue>(model: &mut TypedModel) -> TractResult<usize> {
    let mut fused = 0;
    for id in 0..model.nodes.len() {
        let Some(op) = model.nodes[id].op_as::<T>() else {
            continue;
        };
        if op.epilogue() != Epilogue::default() {
            continue;
        }
        let conv = OutletId::new(id, 0);
        let Some(relu) = model.single_succ(id)? else {
            continue;
        };
        if !is_relu_of(model, relu, conv) {
            continue;
        }
        let mut epilogue = Epilogue {
            relu: true,
            pool: false,
        };
        let mut last = relu.id;
        if let Some(pool) = model.single_succ(relu.id)? {
            if let Some(p) = pool.op_as::<MaxPool>() {
                let fact = model.outlet_fact(OutletId::new(relu.id, 0))?;
                if is_plain_2x2(&p.pool_spec, p.with_index_outputs, fact) {
                    epilogue.pool = true;
                    last = pool.id;
                }
            }
        }
        let op = op.with_epilogue(epilogue);
        let (name, input) = (model.nodes[id].name.clone(), model.nodes[id].inputs[0]);
        super::rewrite::put_in_place(model, name, op, &[input], OutletId::new(last, 0))?;
        fused += 1;
    }
    Ok(fused)
}

/// Folds ReLUs and max-pools into the engine's own convolutions; returns how many took them.
pub(super) fn fuse_epilogues(model: &mut TypedModel) -> TractResult<usize> {
    Ok(fuse::<StemConv>(model)? + fuse::<Conv3x3>(model)?)
}

#[cfg(test)]
mod tests {
    use super::super::op_tests::{assert_close, run, tensor, tract_conv};
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::math::max;
    use tract_onnx::tract_core::ops::nn::DataFormat;

    /// `max(x, 0)` after `x`, then a 2x2 max-pool of stride 2 when `pool`.
    fn relu_and_pool(model: &mut TypedModel, x: OutletId, pool: bool) -> OutletId {
        let zero = model.add_const("zero", tensor4(&[[[[0f32]]]])).unwrap();
        let relu = model.wire_node("relu", max(), &[x, zero]).unwrap()[0];
        if !pool {
            return relu;
        }
        let channels = model.outlet_fact(x).unwrap().shape[1].to_usize().unwrap();
        let spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![2, 2],
            padding: PaddingSpec::Valid,
            dilations: None,
            strides: Some(tvec![2, 2]),
            input_channels: channels,
            output_channels: channels,
        };
        model
            .wire_node("pool", MaxPool::new(spec, None), &[relu])
            .unwrap()[0]
    }

    #[test]
    fn folds_the_relu_and_the_pool_with_the_same_values() {
        // The stem (one input channel, stride 2) and a 3x3 convolution of two channels.
        for (inputs, stride) in [(1, 2), (2, 1)] {
            if inputs > 1 && !super::super::lanes::x86_vectors() {
                continue;
            }
            for pool in [true, false] {
                let shape = [1, inputs, 9, 7];
                let (kernel, bias) = (tensor(&[3, inputs, 3, 3], 1), tensor(&[3], 2));
                let x = tensor(&shape, 3);
                let block = || {
                    tract_conv(&shape, &kernel, &bias, (stride, 1), |m, o| {
                        relu_and_pool(m, o, pool)
                    })
                };
                let expected = run(block(), &x);
                let mut model = block();
                let replaced = if inputs == 1 {
                    super::super::stem::replace_stem_convs(&mut model).unwrap()
                } else {
                    super::super::conv3x3::replace_conv3x3s(&mut model).unwrap()
                };
                assert_eq!(replaced, 1);
                assert_eq!(fuse_epilogues(&mut model).unwrap(), 1, "{inputs} {pool}");
                let model = model.into_decluttered().unwrap();
                assert_eq!(model.nodes.len(), 2, "source and convolution: {model}");
                assert_close(
                    &run(model, &x),
                    &expected,
                    1e-5,
                    &format!("{inputs} {pool}"),
                );
            }
        }
    }
}
