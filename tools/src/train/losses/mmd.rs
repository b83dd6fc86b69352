//! Maximum mean discrepancy between a pair's token sets (DALI's MMD loss).

use burn::prelude::*;

use super::distance::{squared_distances, sum_pairs};

/// Multipliers of the MMD kernel's bandwidth: five RBF kernels at {1/4, 1/2, 1, 2, 4} x h.
pub const MMD_BANDWIDTHS: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

/// Biased (V-statistic) MMD² per pair with a sum of RBF kernels `exp(-|z - z'|² / (h m))`,
/// `m` in [`MMD_BANDWIDTHS`], `h` the mean off-diagonal squared distance of the pair's pooled
/// tokens (no gradient through `h`). Diagonals are included, as in the paper's code.
pub fn mmd<B: Backend>(a: Tensor<B, 3>, v: Tensor<B, 3>) -> Tensor<B, 1> {
    let n = a.dims()[1];
    let m = v.dims()[1];
    let total = n + m;
    let z = Tensor::cat(vec![a, v], 1);
    let d = squared_distances(z.clone(), z);
    let h = (d.clone().detach().sum_dim(2).sum_dim(1) / (total * (total - 1)) as f64)
        // Every token equal: any bandwidth gives the same (zero) MMD.
        .clamp_min(1e-12);
    let mut k = d.zeros_like();
    for mult in MMD_BANDWIDTHS {
        k = k + (d.clone().neg() / h.clone().mul_scalar(mult)).exp();
    }
    let block = |r: usize, rn: usize, c: usize, cn: usize| {
        sum_pairs(k.clone().narrow(1, r, rn).narrow(2, c, cn)) / (rn * cn) as f64
    };
    block(0, n, 0, n) + block(n, m, n, m) - block(0, n, n, m).mul_scalar(2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::losses::test_support::{random, sq, tokens, values};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn mmd_brute(a: &[&[f64]], v: &[&[f64]]) -> f64 {
        let z: Vec<&[f64]> = a.iter().chain(v).copied().collect();
        let total = z.len();
        let mut h = 0.0;
        for i in 0..total {
            for j in 0..total {
                if i != j {
                    h += sq(z[i], z[j]);
                }
            }
        }
        h /= (total * (total - 1)) as f64;
        let k = |x: &[f64], y: &[f64]| -> f64 {
            MMD_BANDWIDTHS
                .iter()
                .map(|m| (-sq(x, y) / (h * m)).exp())
                .sum()
        };
        let mean = |xs: &[&[f64]], ys: &[&[f64]]| {
            let mut s = 0.0;
            for x in xs {
                for y in ys {
                    s += k(x, y);
                }
            }
            s / (xs.len() * ys.len()) as f64
        };
        mean(a, a) + mean(v, v) - 2.0 * mean(a, v)
    }

    #[test]
    fn mmd_matches_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (fa, a) = random(&mut rng, [3, 4, 5]);
        let (fv, v) = random(&mut rng, [3, 6, 5]);
        let got = values(mmd(a, v));
        for (p, got) in got.iter().enumerate() {
            let want = mmd_brute(&tokens(&fa, p, 4, 5), &tokens(&fv, p, 6, 5));
            assert!((got - want).abs() < 1e-5, "pair {p}: {got} vs {want}");
        }
    }

    #[test]
    fn mmd_of_two_single_tokens_has_a_closed_form() {
        // With one token each, h is their squared distance, so every kernel term between
        // them is exp(-1/m) whatever the tokens are.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let (_, a) = random(&mut rng, [1, 1, 3]);
        let (_, v) = random(&mut rng, [1, 1, 3]);
        let want = 10.0 - 2.0 * MMD_BANDWIDTHS.iter().map(|m| (-1.0 / m).exp()).sum::<f64>();
        let got = values(mmd(a, v))[0];
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn mmd_of_a_set_with_itself_is_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (_, a) = random(&mut rng, [2, 5, 4]);
        for x in values(mmd(a.clone(), a)) {
            assert!(x.abs() < 1e-5, "{x}");
        }
    }
}
