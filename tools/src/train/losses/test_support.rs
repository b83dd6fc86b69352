//! What the loss families' unit tests share: random tokens and marginals, and host copies of
//! tensors.

use burn::backend::Autodiff;
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::reference::Cpu;

/// The CPU backend with autodiff, for the tests that check gradients.
pub(super) type Grad = Autodiff<Cpu>;

/// Tokens `shape` drawn uniformly in [-1, 1): their host values and the tensor.
pub(super) fn random(rng: &mut ChaCha8Rng, shape: [usize; 3]) -> (Vec<f64>, Tensor<Cpu, 3>) {
    let v: Vec<f64> = (0..shape.iter().product())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let t = tensor(&v, shape);
    (v, t)
}

/// Host values as a tensor `shape` on backend `Bk`'s default device.
pub(super) fn tensor<Bk: Backend, const D: usize>(v: &[f64], shape: [usize; D]) -> Tensor<Bk, D> {
    let data = TensorData::new(v.iter().map(|&x| x as f32).collect(), shape.to_vec());
    Tensor::from_data(data, &Default::default())
}

/// A tensor's values on the host.
pub(super) fn values<const D: usize>(t: Tensor<Cpu, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().into_vec().unwrap()
}

/// Squared Euclidean distance of two host tokens.
pub(super) fn sq(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// Tokens `[n, d]` of pair `p` from a flat `[b, n, d]` buffer.
pub(super) fn tokens(flat: &[f64], p: usize, n: usize, d: usize) -> Vec<&[f64]> {
    (0..n)
        .map(|i| &flat[(p * n + i) * d..(p * n + i + 1) * d])
        .collect()
}

/// A random marginal of `n` tokens: positive, summing to one.
pub(super) fn weights(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    let w: Vec<f64> = (0..n).map(|_| rng.random_range(0.1..1.0)).collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}
