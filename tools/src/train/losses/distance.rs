//! The token geometry the losses share.

use burn::prelude::*;

/// Squared Euclidean distances between the tokens of `x [b, n, d]` and `y [b, m, d]`:
/// `[b, n, m]`.
pub fn squared_distances<B: Backend>(x: Tensor<B, 3>, y: Tensor<B, 3>) -> Tensor<B, 3> {
    let xx = x.clone().powi_scalar(2).sum_dim(2);
    let yy = y.clone().powi_scalar(2).sum_dim(2).swap_dims(1, 2);
    let xy = x.matmul(y.swap_dims(1, 2));
    // Rounding can make the distance of a token to itself slightly negative.
    (xx + yy - xy.mul_scalar(2.0)).clamp_min(0.0)
}

/// Sum over the last two axes: `[b, n, m] -> [b]`.
pub(super) fn sum_pairs<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 1> {
    let b = x.dims()[0];
    x.sum_dim(2).sum_dim(1).reshape([b])
}
