//! The contrastive baseline: InfoNCE over the batch's pooled tokens.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Temperature of the contrastive baseline.
pub const INFO_NCE_TEMPERATURE: f64 = 0.05;

/// Symmetric InfoNCE on the L2-normalised mean-pooled tokens of each pair, the other pairs of
/// the batch as negatives (the paper's contrastive baseline). One value for the batch: `[1]`.
pub fn info_nce<B: Backend>(a: Tensor<B, 3>, v: Tensor<B, 3>, temperature: f64) -> Tensor<B, 1> {
    let b = a.dims()[0];
    let pool = |x: Tensor<B, 3>| {
        let p: Tensor<B, 2> = x.mean_dim(1).squeeze_dim(1);
        let norm = p.clone().powi_scalar(2).sum_dim(1).add_scalar(1e-12).sqrt();
        p / norm
    };
    let logits = pool(a).matmul(pool(v).transpose()) / temperature;
    let eye = Tensor::<B, 2>::eye(b, &logits.device());
    let rows = (log_softmax(logits.clone(), 1) * eye.clone()).sum();
    let cols = (log_softmax(logits, 0) * eye).sum();
    (rows + cols).neg() / (2 * b) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::losses::test_support::{random, tokens, values};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn info_nce_matches_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (b, n, m, d) = (3, 4, 5, 6);
        let (fa, a) = random(&mut rng, [b, n, d]);
        let (fv, v) = random(&mut rng, [b, m, d]);
        let pooled = |flat: &[f64], t: usize| -> Vec<Vec<f64>> {
            (0..b)
                .map(|p| {
                    let mut mean = vec![0.0; d];
                    for tok in tokens(flat, p, t, d) {
                        for (acc, x) in mean.iter_mut().zip(tok) {
                            *acc += x / t as f64;
                        }
                    }
                    let norm = mean.iter().map(|x| x * x).sum::<f64>().sqrt();
                    mean.iter().map(|x| x / norm).collect()
                })
                .collect()
        };
        let (pa, pv) = (pooled(&fa, n), pooled(&fv, m));
        let logit = |i: usize, j: usize| -> f64 {
            pa[i].iter().zip(&pv[j]).map(|(x, y)| x * y).sum::<f64>() / INFO_NCE_TEMPERATURE
        };
        let mut want = 0.0;
        for i in 0..b {
            let row: f64 = (0..b).map(|j| logit(i, j).exp()).sum();
            let col: f64 = (0..b).map(|j| logit(j, i).exp()).sum();
            want -= (logit(i, i).exp() / row).ln() + (logit(i, i).exp() / col).ln();
        }
        want /= 2.0 * b as f64;
        let got = values(info_nce(a, v, INFO_NCE_TEMPERATURE))[0];
        assert!(
            (got - want).abs() < 1e-3 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
}
