//! What the tests of the engine's own ops share: tract's ops to compare them with, inputs, and
//! running a graph as the engine runs it.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
#[cfg(target_arch = "x86_64")]
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::nn::DataFormat;

/// `len` deterministic values in [-2, 2), different for each `seed`.
pub fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + seed * 104729) % 211) as f32 / 53.0 - 2.0)
        .collect()
}

/// A tensor of `shape` filled with [`values`].
pub fn tensor(shape: &[usize], seed: usize) -> Tensor {
    Tensor::from_shape(shape, &values(shape.iter().product(), seed)).unwrap()
}

/// tract's 3x3 convolution of `kernel` (`[O, I, 3, 3]`) and `bias` over an input of `shape`,
/// with `stride` and `pad` on every side, then `tail` wired after it (nothing: return the
/// convolution), decluttered as the engine declutters its graphs.
pub fn tract_conv(
    shape: &[usize],
    kernel: &Tensor,
    bias: &Tensor,
    (stride, pad): (usize, usize),
    tail: impl FnOnce(&mut TypedModel, OutletId) -> OutletId,
) -> TypedModel {
    let mut model = TypedModel::default();
    let source = model.add_source("x", f32::fact(shape)).unwrap();
    let conv = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![3, 3],
            padding: PaddingSpec::Explicit(tvec![pad, pad], tvec![pad, pad]),
            dilations: None,
            strides: Some(tvec![stride, stride]),
            input_channels: kernel.shape()[1],
            output_channels: kernel.shape()[0],
        },
        kernel_fmt: KernelFormat::OIHW,
        group: 1,
        q_params: None,
    };
    let kernel = model.add_const("kernel", kernel.clone()).unwrap();
    let bias = model.add_const("bias", bias.clone()).unwrap();
    let out = model
        .wire_node("conv", conv, &[source, kernel, bias])
        .unwrap()[0];
    let out = tail(&mut model, out);
    model.select_output_outlets(&[out]).unwrap();
    model.into_decluttered().unwrap()
}

/// tract's product of an `[1, m, k]` input with the constant `b` (`[k, n]`), decluttered.
#[cfg(target_arch = "x86_64")]
pub fn tract_product(m: usize, b: &Tensor) -> TypedModel {
    let k = b.shape()[0];
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, m, k])).unwrap();
    let b = model.add_const("b", b.clone()).unwrap();
    let einsum = EinSum::new("amk,kn->amn".parse().unwrap(), f32::datum_type());
    let y = model.wire_node("product", einsum, &[x, b]).unwrap();
    model.select_output_outlets(&y).unwrap();
    model.into_decluttered().unwrap()
}

/// [`tract_product`], then its columns multiplied by `scale` and shifted by `bias` (each
/// `[1, 1, n]`, or `[1, 1, 1]` for all columns), as the int8 graphs follow their products.
#[cfg(target_arch = "x86_64")]
pub fn tract_scaled_product(m: usize, b: &Tensor, scale: Tensor, bias: Tensor) -> TypedModel {
    use tract_onnx::tract_core::ops::math::{add, mul};
    let mut model = tract_product(m, b);
    let y = model.output_outlets().unwrap()[0];
    let scale = model.add_const("scale", scale).unwrap();
    let y = model.wire_node("scaled", mul(), &[y, scale]).unwrap()[0];
    let bias = model.add_const("bias", bias).unwrap();
    let y = model.wire_node("shifted", add(), &[bias, y]).unwrap();
    model.select_output_outlets(&y).unwrap();
    model
}

/// Optimises `model` as the engine does and runs it on `input`.
pub fn run(model: TypedModel, input: &Tensor) -> Tensor {
    let outputs = model
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap()
        .run(tvec![input.clone().into()])
        .unwrap();
    outputs[0].clone().into_tensor()
}

/// The same shape, and every value within `tolerance` relative (the same products summed in
/// another order).
pub fn assert_close(found: &Tensor, expected: &Tensor, tolerance: f32, what: &str) {
    assert_eq!(found.shape(), expected.shape(), "{what}");
    let found = found.to_plain_array_view::<f32>().unwrap();
    let expected = expected.to_plain_array_view::<f32>().unwrap();
    for (i, (f, e)) in found.iter().zip(expected.iter()).enumerate() {
        assert!(
            (f - e).abs() <= tolerance * (1.0 + e.abs()),
            "{what} at {i}: {f} != {e}"
        );
    }
}
