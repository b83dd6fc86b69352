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
        let node = &model.nodes[id];
        let mut patch = TypedModelPatch::default();
        let data = patch.tap_model(model, node.inputs[0])?;
        let wire = patch.wire_node(&node.name, op, &[data])?[0];
        patch.shunt_outside(model, OutletId::new(last, 0), wire)?;
        patch.apply(model)?;
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
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::math::max;
    use tract_onnx::tract_core::ops::nn::DataFormat;

    /// A 3x3 convolution (one input channel and stride 2 when `stem`, else two channels and
    /// stride 1) of `[1, I, 9, 7]`, padded by one, then `max(x, 0)`, then a 2x2 max-pool of
    /// stride 2 when `pool`, decluttered.
    fn block(stem: bool, pool: bool) -> TypedModel {
        let (inputs, stride) = if stem { (1, 2) } else { (2, 1) };
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, inputs, 9, 7])).unwrap();
        let values = |len: usize, seed: usize| -> Vec<f32> {
            (0..len)
                .map(|i| ((i * 7919 + seed * 104729) % 211) as f32 / 53.0 - 2.0)
                .collect()
        };
        let kernel = Tensor::from_shape(&[3, inputs, 3, 3], &values(27 * inputs, 1)).unwrap();
        let kernel = model.add_const("kernel", kernel).unwrap();
        let bias = model
            .add_const("bias", Tensor::from_shape(&[3], &values(3, 2)).unwrap())
            .unwrap();
        let spec = |kernel: usize, stride: usize, pad: usize, channels: usize| PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![kernel, kernel],
            padding: PaddingSpec::Explicit(tvec![pad, pad], tvec![pad, pad]),
            dilations: None,
            strides: Some(tvec![stride, stride]),
            input_channels: channels,
            output_channels: 3,
        };
        let conv = Conv {
            pool_spec: spec(3, stride, 1, inputs),
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let mut wire = model.wire_node("conv", conv, &[x, kernel, bias]).unwrap();
        let zero = model.add_const("zero", tensor4(&[[[[0f32]]]])).unwrap();
        wire = model.wire_node("relu", max(), &[wire[0], zero]).unwrap();
        if pool {
            let spec = PoolSpec {
                padding: PaddingSpec::Valid,
                ..spec(2, 2, 0, 3)
            };
            wire = model
                .wire_node("pool", MaxPool::new(spec, None), &wire)
                .unwrap();
        }
        model.select_output_outlets(&wire).unwrap();
        model.into_decluttered().unwrap()
    }

    fn run(model: TypedModel, input: &Tensor) -> Tensor {
        let outputs = model
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap()
            .run(tvec![input.clone().into()])
            .unwrap();
        outputs[0].clone().into_tensor()
    }

    #[test]
    fn folds_the_relu_and_the_pool_with_the_same_values() {
        for stem in [true, false] {
            for pool in [true, false] {
                let inputs = if stem { 1 } else { 2 };
                let values: Vec<f32> = (0..inputs * 63)
                    .map(|i| ((i * 31 + 7) % 19) as f32 / 4.0 - 2.0)
                    .collect();
                let x = Tensor::from_shape(&[1, inputs, 9, 7], &values).unwrap();
                let expected = run(block(stem, pool), &x);
                let mut model = block(stem, pool);
                let replaced = if stem {
                    super::super::stem::replace_stem_convs(&mut model).unwrap()
                } else {
                    super::super::conv3x3::replace_conv3x3s(&mut model).unwrap()
                };
                assert_eq!(replaced, 1);
                assert_eq!(fuse_epilogues(&mut model).unwrap(), 1, "{stem} {pool}");
                let model = model.into_decluttered().unwrap();
                assert_eq!(model.nodes.len(), 2, "source and convolution: {model}");
                let found = run(model, &x);
                assert_eq!(found.shape(), expected.shape(), "{stem} {pool}");
                let found = found.to_plain_array_view::<f32>().unwrap();
                let expected = expected.to_plain_array_view::<f32>().unwrap();
                for (f, e) in found.iter().zip(expected.iter()) {
                    assert!((f - e).abs() <= 1e-5 * (1.0 + e.abs()), "{f} != {e}");
                }
            }
        }
    }
}
