//! Attentive OT: cross-attention scorers weight each token, and the weights are the
//! transport marginals.

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::distance::squared_distances;
use super::transport::{transport_loss, Solver};
use crate::model::redrawn;

/// The attentive-OT scorers: cross-attention from each modality to the other gives every
/// token a weight, and the weights make the transport marginals, so that tokens seen but not
/// heard (or heard but off-screen) carry less mass.
#[derive(Module, Debug)]
pub struct Scorers<B: Backend> {
    audio_q: Linear<B>,
    image_k: Linear<B>,
    image_v: Linear<B>,
    image_q: Linear<B>,
    audio_k: Linear<B>,
    audio_v: Linear<B>,
    to_image: MultiHeadAttention<B>,
    to_audio: MultiHeadAttention<B>,
}

/// Redraws every parameter uniformly in +-1/sqrt(first dimension) (torch's default bound for
/// linear layers, whose weights burn stores `[in, out]`) from one seeded generator.
pub(crate) struct SeededInit(pub(crate) ChaCha8Rng);

impl<B: Backend> ModuleMapper<B> for SeededInit {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        redrawn(param, |shape| {
            let bound = 1.0 / (shape[0] as f32).sqrt();
            (0..shape.iter().product())
                .map(|_| self.0.random_range(-bound..bound))
                .collect()
        })
    }
}

/// The marginals the scorers give a batch, and their entropies.
pub struct Marginals<B: Backend> {
    pub audio: Tensor<B, 2>,
    pub image: Tensor<B, 2>,
}

impl<B: Backend> Marginals<B> {
    /// `H(mu_a) + H(mu_v)` per pair: `[b]`.
    pub fn entropy(&self) -> Tensor<B, 1> {
        let h = |mu: Tensor<B, 2>| (mu.clone() * mu.log()).sum_dim(1).neg();
        let k = self.audio.dims()[0];
        (h(self.audio.clone()) + h(self.image.clone())).reshape([k])
    }
}

impl<B: Backend> Scorers<B> {
    /// Scorers for tokens of `dim` with `heads` attention heads, initialised from `seed`
    /// alone (not burn's process-wide generator, which parallel work would disturb).
    pub fn new(dim: usize, heads: usize, seed: u64, device: &B::Device) -> Scorers<B> {
        let linear = || LinearConfig::new(dim, dim).init(device);
        let attention = || {
            // No dropout, as torch's MultiheadAttention in the paper (burn defaults to 0.1).
            let mut attn = MultiHeadAttentionConfig::new(dim, heads)
                .with_dropout(0.0)
                .init(device);
            // An output bias would shift every token's weight alike, which the softmax
            // ignores: it could never learn.
            attn.output.bias = None;
            attn
        };
        let scorers = Scorers {
            audio_q: linear(),
            image_k: linear(),
            image_v: linear(),
            image_q: linear(),
            audio_k: linear(),
            audio_v: linear(),
            to_image: attention(),
            to_audio: attention(),
        };
        scorers.map(&mut SeededInit(ChaCha8Rng::seed_from_u64(seed)))
    }

    /// Marginals `1/2 softmax(w / temperature) + 1/2 uniform` for each side, `w` a token's
    /// mean cross-attention output.
    pub fn marginals(&self, a: Tensor<B, 3>, v: Tensor<B, 3>, temperature: f64) -> Marginals<B> {
        let weight = |attn: &MultiHeadAttention<B>, q: Tensor<B, 3>, k, val| {
            let out = attn.forward(MhaInput::new(q, k, val)).context;
            let [b, t, _] = out.dims();
            let w: Tensor<B, 2> = out.mean_dim(2).reshape([b, t]);
            softmax(w / temperature, 1)
                .mul_scalar(0.5)
                .add_scalar(0.5 / t as f64)
        };
        let audio = weight(
            &self.to_image,
            self.audio_q.forward(a.clone()),
            self.image_k.forward(v.clone()),
            self.image_v.forward(v.clone()),
        );
        let image = weight(
            &self.to_audio,
            self.image_q.forward(v),
            self.audio_k.forward(a.clone()),
            self.audio_v.forward(a),
        );
        Marginals { audio, image }
    }
}

/// OT between each pair's tokens with the given marginals: `[b]`, with gradients to the
/// tokens and to the marginals.
pub fn attentive_ot<B: Backend>(
    a: Tensor<B, 3>,
    v: Tensor<B, 3>,
    marginals: &Marginals<B>,
    solver: &Solver,
) -> Tensor<B, 1> {
    let cost = squared_distances(a, v);
    let solution = solver.solve(
        cost.clone(),
        marginals.audio.clone(),
        marginals.image.clone(),
    );
    transport_loss(
        cost,
        Some((marginals.audio.clone(), marginals.image.clone())),
        &solution,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::losses::exact::emd;
    use crate::train::losses::test_support::{random, sq, tensor, values, weights, Grad};
    use crate::train::losses::transport::Sinkhorn;

    #[test]
    fn transport_gradients_match_finite_differences_of_the_exact_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (n, m, d) = (4, 6, 3);
        let (fa, _) = random(&mut rng, [1, n, d]);
        let (fv, _) = random(&mut rng, [1, m, d]);
        let mu_a = weights(&mut rng, n);
        let mu_b = weights(&mut rng, m);
        let a = tensor::<Grad, 3>(&fa, [1, n, d]).require_grad();
        let ma = tensor::<Grad, 2>(&mu_a, [1, n]).require_grad();
        let v = tensor::<Grad, 3>(&fv, [1, m, d]);
        let marginals = Marginals {
            audio: ma.clone(),
            image: tensor::<Grad, 2>(&mu_b, [1, m]),
        };
        let loss = attentive_ot(a.clone(), v, &marginals, &Solver::Exact).sum();
        let grads = loss.backward();
        let ga = values(a.grad(&grads).unwrap());
        let gm = values(ma.grad(&grads).unwrap());

        let value = |fa: &[f64], mu_a: &[f64]| {
            let cost: Vec<f64> = (0..n * m)
                .map(|k| {
                    sq(
                        &fa[(k / m) * d..(k / m + 1) * d],
                        &fv[(k % m) * d..(k % m + 1) * d],
                    )
                })
                .collect();
            let (plan, _, _) = emd(&cost, mu_a, &mu_b);
            plan.iter().zip(&cost).map(|(p, c)| p * c).sum::<f64>()
        };
        let h = 1e-6;
        for k in 0..n * d {
            let (mut up, mut down) = (fa.clone(), fa.clone());
            up[k] += h;
            down[k] -= h;
            let numeric = (value(&up, &mu_a) - value(&down, &mu_a)) / (2.0 * h);
            assert!(
                (numeric - ga[k]).abs() < 1e-3,
                "token value {k}: {numeric} vs {}",
                ga[k]
            );
        }
        // Along a direction that keeps the marginal's sum: move mass from token 0 to token 1.
        let (mut up, mut down) = (mu_a.clone(), mu_a.clone());
        up[0] += h;
        up[1] -= h;
        down[0] -= h;
        down[1] += h;
        let numeric = (value(&fa, &up) - value(&fa, &down)) / (2.0 * h);
        assert!(
            (numeric - (gm[0] - gm[1])).abs() < 1e-3,
            "marginal: {numeric} vs {}",
            gm[0] - gm[1]
        );
    }

    #[test]
    fn scorer_marginals_are_distributions_with_a_uniform_floor_and_train() {
        let device = Default::default();
        let scorers = Scorers::<Grad>::new(8, 2, 9, &device);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (fa, _) = random(&mut rng, [2, 5, 8]);
        let (fv, _) = random(&mut rng, [2, 3, 8]);
        let t = tensor::<Grad, 3>;
        let marginals = scorers.marginals(t(&fa, [2, 5, 8]), t(&fv, [2, 3, 8]), 1.0);
        for (mu, len) in [(&marginals.audio, 5), (&marginals.image, 3)] {
            let v: Vec<f64> = mu.clone().into_data().convert::<f64>().into_vec().unwrap();
            for pair in v.chunks(len) {
                assert!((pair.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{pair:?}");
                assert!(
                    pair.iter().all(|&x| x >= 0.5 / len as f64 - 1e-6),
                    "{pair:?}"
                );
            }
        }
        let solver = Solver::Sinkhorn(Sinkhorn {
            epsilon: 0.05,
            iterations: 200,
        });
        let loss = attentive_ot(t(&fa, [2, 5, 8]), t(&fv, [2, 3, 8]), &marginals, &solver).mean()
            - marginals.entropy().mean();
        let grads = loss.backward();
        let missing = crate::model::params_without_grad(&scorers, &grads);
        assert!(missing.is_empty(), "no gradient reaches {missing:?}");
    }
}
