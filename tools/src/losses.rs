//! The alignment losses of DALI (DESIGN §1, reference/dali.md §2): each compares the SET of a
//! clip's projected audio tokens `a [b, n, d]` with the set of its frame's image tokens
//! `v [b, m, d]`, per pair over tokens, and gives one value per pair (`[b]`); the trainer
//! averages over the batch.
//!
//! Optimal transport is solved outside the autodiff graph (exactly by [`emd`], or by
//! [`Sinkhorn`]) and enters the loss through [`transport_loss`]: the transport value is linear
//! in the cost for a fixed plan and in the marginals for fixed dual potentials, so by the
//! envelope theorem those give the loss's gradient without differentiating through the solver,
//! which is how POT's `emd2` (the paper's code) gets its gradients too.

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::redrawn;

/// Multipliers of the MMD kernel's bandwidth: five RBF kernels at {1/4, 1/2, 1, 2, 4} x h.
pub const MMD_BANDWIDTHS: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

/// Temperature of the contrastive baseline.
pub const INFO_NCE_TEMPERATURE: f64 = 0.05;

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
fn sum_pairs<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 1> {
    let b = x.dims()[0];
    x.sum_dim(2).sum_dim(1).reshape([b])
}

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

/// An optimal transport solution per pair: the plan and the dual potentials.
pub struct Transport<B: Backend> {
    /// `[b, n, m]`, rows summing to the audio marginal, columns to the image marginal.
    pub plan: Tensor<B, 3>,
    /// Audio-side potentials `[b, n]`.
    pub f: Tensor<B, 2>,
    /// Image-side potentials `[b, m]`.
    pub g: Tensor<B, 2>,
}

/// The transport value `<plan, cost>` per pair, with the gradient of the optimal value: the
/// plan for the cost and the centred potentials for the marginals (pass `None` for marginals
/// that are constants). `cost`, `a` and `b` carry the gradient; `solution` does not.
pub fn transport_loss<B: Backend>(
    cost: Tensor<B, 3>,
    marginals: Option<(Tensor<B, 2>, Tensor<B, 2>)>,
    solution: &Transport<B>,
) -> Tensor<B, 1> {
    let value = sum_pairs(solution.plan.clone() * cost);
    match marginals {
        None => value,
        Some((a, b)) => {
            // A zero in value, a gradient of f (resp. g) on the marginal.
            let centred = |p: Tensor<B, 2>| p.clone() - p.mean_dim(1);
            let dual = |p: &Tensor<B, 2>, mu: Tensor<B, 2>| {
                (centred(p.clone()) * (mu.clone() - mu.detach())).sum_dim(1)
            };
            let k = value.dims()[0];
            value + dual(&solution.f, a).reshape([k]) + dual(&solution.g, b).reshape([k])
        }
    }
}

/// Uniform marginals `[b, n]`.
pub fn uniform<B: Backend>(b: usize, n: usize, device: &B::Device) -> Tensor<B, 2> {
    Tensor::ones([b, n], device) / n as f64
}

/// Entropic OT by Sinkhorn iterations in the log domain, batched over pairs.
#[derive(Clone, Copy, Debug)]
pub struct Sinkhorn {
    /// Entropic regularisation as a fraction of the pair's mean cost, so one setting holds
    /// while the token scale changes during training.
    pub epsilon: f64,
    pub iterations: usize,
}

/// `log(sum(exp(x)))` along `dim`, kept as a unit axis.
fn log_sum_exp<B: Backend>(x: Tensor<B, 3>, dim: usize) -> Tensor<B, 3> {
    let max = x.clone().max_dim(dim);
    (x - max.clone()).exp().sum_dim(dim).log() + max
}

impl Sinkhorn {
    /// Solves every pair of `cost [b, n, m]` between marginals `a [b, n]` and `b [b, m]`
    /// (each summing to one). Nothing here is differentiated.
    pub fn solve<B: Backend>(
        &self,
        cost: Tensor<B, 3>,
        a: Tensor<B, 2>,
        b: Tensor<B, 2>,
    ) -> Transport<B> {
        let cost = cost.detach();
        let [k, n, m] = cost.dims();
        let eps = (cost.clone().sum_dim(2).sum_dim(1) / (n * m) as f64)
            .mul_scalar(self.epsilon)
            .clamp_min(1e-12);
        let log_a = a.detach().log().reshape([k, n, 1]);
        let log_b = b.detach().log().reshape([k, 1, m]);
        let mut f = Tensor::<B, 3>::zeros([k, n, 1], &cost.device());
        let mut g = Tensor::<B, 3>::zeros([k, 1, m], &cost.device());
        for _ in 0..self.iterations {
            f = (log_a.clone() - log_sum_exp((g.clone() - cost.clone()) / eps.clone(), 2))
                * eps.clone();
            g = (log_b.clone() - log_sum_exp((f.clone() - cost.clone()) / eps.clone(), 1))
                * eps.clone();
        }
        let plan = ((f.clone() + g.clone() - cost) / eps).exp();
        Transport {
            plan,
            f: f.reshape([k, n]),
            g: g.reshape([k, m]),
        }
    }
}

/// Exact optimal transport of one pair (the reference the paper's code uses): `cost` row-major
/// `[n, m]`, marginals `a [n]` and `b [m]` with equal sums. Returns the plan (row-major) and
/// optimal dual potentials `f`, `g` (`f_i + g_j <= cost_ij`, equal where the plan is positive).
///
/// Successive shortest paths on the residual bipartite graph, by Bellman-Ford: cubic-ish in
/// the number of tokens, meant for the sizes the miniature model and the tests use.
pub fn emd(cost: &[f64], a: &[f64], b: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    const TOL: f64 = 1e-12;
    let (n, m) = (a.len(), b.len());
    assert_eq!(cost.len(), n * m, "cost is [n, m]");
    let mut plan = vec![0.0; n * m];
    let mut supply = a.to_vec();
    let mut demand = b.to_vec();
    loop {
        let sources: Vec<bool> = supply.iter().map(|&s| s > TOL).collect();
        if !sources.contains(&true) || demand.iter().all(|&d| d <= TOL) {
            break;
        }
        let (_, col_dist, col_parent, row_parent) = shortest_paths(cost, &plan, n, m, &sources);
        let Some(j) = (0..m)
            .filter(|&j| demand[j] > TOL && col_dist[j].is_finite())
            .min_by(|&x, &y| col_dist[x].total_cmp(&col_dist[y]))
        else {
            break;
        };
        // Walk back to the source row, finding the bottleneck.
        let mut amount = demand[j];
        let mut col = j;
        loop {
            let i = col_parent[col];
            match row_parent[i] {
                Some(prev) => {
                    amount = amount.min(plan[i * m + prev]);
                    col = prev;
                }
                None => {
                    amount = amount.min(supply[i]);
                    break;
                }
            }
        }
        demand[j] -= amount;
        let mut col = j;
        loop {
            let i = col_parent[col];
            plan[i * m + col] += amount;
            match row_parent[i] {
                Some(prev) => {
                    plan[i * m + prev] -= amount;
                    col = prev;
                }
                None => {
                    supply[i] -= amount;
                    break;
                }
            }
        }
    }
    // Potentials: shortest distances from every row at once on the final residual graph;
    // with no negative cycle left they satisfy the dual constraints.
    let (row_dist, col_dist, _, _) = shortest_paths(cost, &plan, n, m, &vec![true; n]);
    let f = row_dist.iter().map(|d| -d).collect();
    (plan, f, col_dist)
}

/// Bellman-Ford from the rows marked `start` over the residual graph: row -> column at
/// `cost`, column -> row at `-cost` where the plan carries mass. Returns the distances of rows
/// and columns, each column's predecessor row, and each reached row's predecessor column.
fn shortest_paths(
    cost: &[f64],
    plan: &[f64],
    n: usize,
    m: usize,
    start: &[bool],
) -> (Vec<f64>, Vec<f64>, Vec<usize>, Vec<Option<usize>>) {
    const IMPROVE: f64 = 1e-12;
    let mut row_dist: Vec<f64> = start
        .iter()
        .map(|&s| if s { 0.0 } else { f64::INFINITY })
        .collect();
    let mut row_parent = vec![None; n];
    let mut col_dist = vec![f64::INFINITY; m];
    let mut col_parent = vec![0; m];
    for _ in 0..=(n + m) {
        let mut changed = false;
        for i in 0..n {
            if !row_dist[i].is_finite() {
                continue;
            }
            for j in 0..m {
                let d = row_dist[i] + cost[i * m + j];
                if d < col_dist[j] - IMPROVE {
                    col_dist[j] = d;
                    col_parent[j] = i;
                    changed = true;
                }
            }
        }
        for j in 0..m {
            if !col_dist[j].is_finite() {
                continue;
            }
            for i in 0..n {
                if plan[i * m + j] > 1e-15 {
                    let d = col_dist[j] - cost[i * m + j];
                    if d < row_dist[i] - IMPROVE {
                        row_dist[i] = d;
                        row_parent[i] = Some(j);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    (row_dist, col_dist, col_parent, row_parent)
}

/// How the optimal transport of a batch is solved.
#[derive(Clone, Copy, Debug)]
pub enum Solver {
    /// [`emd`] per pair on the host.
    Exact,
    Sinkhorn(Sinkhorn),
}

impl Solver {
    /// Solves every pair of `cost [b, n, m]` between marginals `a [b, n]`, `b [b, m]`.
    pub fn solve<B: Backend>(
        &self,
        cost: Tensor<B, 3>,
        a: Tensor<B, 2>,
        b: Tensor<B, 2>,
    ) -> Transport<B> {
        match self {
            Solver::Sinkhorn(s) => s.solve(cost, a, b),
            Solver::Exact => {
                let device = cost.device();
                let [k, n, m] = cost.dims();
                let host = |t: TensorData| -> Vec<f64> {
                    t.convert::<f64>()
                        .into_vec::<f64>()
                        .expect("converted to f64")
                };
                let c = host(cost.detach().into_data());
                let a = host(a.detach().into_data());
                let b = host(b.detach().into_data());
                let (mut plan, mut f, mut g) = (Vec::new(), Vec::new(), Vec::new());
                for p in 0..k {
                    let (pp, pf, pg) = emd(
                        &c[p * n * m..(p + 1) * n * m],
                        &a[p * n..(p + 1) * n],
                        &b[p * m..(p + 1) * m],
                    );
                    plan.extend(pp);
                    f.extend(pf);
                    g.extend(pg);
                }
                let tensor = |v: Vec<f64>, shape: Vec<usize>| {
                    let v: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
                    TensorData::new(v, shape)
                };
                Transport {
                    plan: Tensor::from_data(tensor(plan, vec![k, n, m]), &device),
                    f: Tensor::from_data(tensor(f, vec![k, n]), &device),
                    g: Tensor::from_data(tensor(g, vec![k, m]), &device),
                }
            }
        }
    }
}

/// OT between the audio and image tokens of each pair, uniform marginals: `[b]`.
pub fn ot<B: Backend>(a: Tensor<B, 3>, v: Tensor<B, 3>, solver: &Solver) -> Tensor<B, 1> {
    let [k, n, _] = a.dims();
    let m = v.dims()[1];
    let device = a.device();
    let cost = squared_distances(a, v);
    let solution = solver.solve(cost.clone(), uniform(k, n, &device), uniform(k, m, &device));
    transport_loss(cost, None, &solution)
}

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
    use crate::reference::Cpu;
    use burn::backend::Autodiff;

    type Grad = Autodiff<Cpu>;

    fn random(rng: &mut ChaCha8Rng, shape: [usize; 3]) -> (Vec<f64>, Tensor<Cpu, 3>) {
        let v: Vec<f64> = (0..shape.iter().product())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let data = TensorData::new(v.iter().map(|&x| x as f32).collect(), shape.to_vec());
        (v, Tensor::from_data(data, &Default::default()))
    }

    fn values<const D: usize>(t: Tensor<Cpu, D>) -> Vec<f64> {
        t.into_data().convert::<f64>().into_vec().unwrap()
    }

    fn sq(x: &[f64], y: &[f64]) -> f64 {
        x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
    }

    /// Tokens `[n, d]` of pair `p` from a flat `[b, n, d]` buffer.
    fn tokens(flat: &[f64], p: usize, n: usize, d: usize) -> Vec<&[f64]> {
        (0..n)
            .map(|i| &flat[(p * n + i) * d..(p * n + i + 1) * d])
            .collect()
    }

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

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for k in 0..n {
                let mut q = p.clone();
                q.insert(k, n - 1);
                out.push(q);
            }
        }
        out
    }

    fn check_duals(cost: &[f64], a: &[f64], b: &[f64], plan: &[f64], f: &[f64], g: &[f64]) {
        let m = b.len();
        let primal: f64 = plan.iter().zip(cost).map(|(p, c)| p * c).sum();
        let dual: f64 = f.iter().zip(a).map(|(x, y)| x * y).sum::<f64>()
            + g.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        assert!((primal - dual).abs() < 1e-9, "primal {primal} dual {dual}");
        for (i, fi) in f.iter().enumerate() {
            for (j, gj) in g.iter().enumerate() {
                assert!(
                    fi + gj <= cost[i * m + j] + 1e-9,
                    "dual infeasible at {i},{j}"
                );
            }
        }
        for (i, ai) in a.iter().enumerate() {
            let row: f64 = plan[i * m..(i + 1) * m].iter().sum();
            assert!((row - ai).abs() < 1e-9, "row {i}: {row} vs {ai}");
        }
        for (j, bj) in b.iter().enumerate() {
            let col: f64 = (0..a.len()).map(|i| plan[i * m + j]).sum();
            assert!((col - bj).abs() < 1e-9, "column {j}: {col} vs {bj}");
        }
    }

    #[test]
    fn emd_with_equal_sizes_is_the_best_assignment() {
        // Birkhoff: with n uniform tokens on each side an optimal plan is a permutation.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let n = 6;
        for _ in 0..5 {
            let cost: Vec<f64> = (0..n * n).map(|_| rng.random_range(0.0..4.0)).collect();
            let best = permutations(n)
                .iter()
                .map(|p| {
                    p.iter()
                        .enumerate()
                        .map(|(i, &j)| cost[i * n + j])
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min)
                / n as f64;
            let u = vec![1.0 / n as f64; n];
            let (plan, f, g) = emd(&cost, &u, &u);
            let got: f64 = plan.iter().zip(&cost).map(|(p, c)| p * c).sum();
            assert!((got - best).abs() < 1e-9, "{got} vs {best}");
            check_duals(&cost, &u, &u, &plan, &f, &g);
        }
    }

    /// In one dimension with a convex cost the monotone (north-west corner) plan between the
    /// sorted points is optimal.
    fn monotone_cost(x: &[f64], a: &[f64], y: &[f64], b: &[f64]) -> f64 {
        let mut xs: Vec<(f64, f64)> = x.iter().copied().zip(a.iter().copied()).collect();
        let mut ys: Vec<(f64, f64)> = y.iter().copied().zip(b.iter().copied()).collect();
        xs.sort_by(|p, q| p.0.total_cmp(&q.0));
        ys.sort_by(|p, q| p.0.total_cmp(&q.0));
        let (mut i, mut j, mut total) = (0, 0, 0.0);
        while i < xs.len() && j < ys.len() {
            let mass = xs[i].1.min(ys[j].1);
            total += mass * (xs[i].0 - ys[j].0).powi(2);
            xs[i].1 -= mass;
            ys[j].1 -= mass;
            if xs[i].1 <= 1e-15 {
                i += 1;
            } else {
                j += 1;
            }
        }
        total
    }

    fn weights(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
        let w: Vec<f64> = (0..n).map(|_| rng.random_range(0.1..1.0)).collect();
        let s: f64 = w.iter().sum();
        w.iter().map(|x| x / s).collect()
    }

    #[test]
    fn emd_in_one_dimension_is_the_monotone_plan() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (n, m) in [(4, 7), (9, 3), (5, 5)] {
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
            let y: Vec<f64> = (0..m).map(|_| rng.random_range(-2.0..2.0)).collect();
            let (a, b) = (weights(&mut rng, n), weights(&mut rng, m));
            let cost: Vec<f64> = (0..n * m).map(|k| (x[k / m] - y[k % m]).powi(2)).collect();
            let (plan, f, g) = emd(&cost, &a, &b);
            let got: f64 = plan.iter().zip(&cost).map(|(p, c)| p * c).sum();
            let want = monotone_cost(&x, &a, &y, &b);
            assert!((got - want).abs() < 1e-9, "{n}x{m}: {got} vs {want}");
            check_duals(&cost, &a, &b, &plan, &f, &g);
        }
    }

    #[test]
    fn sinkhorn_approaches_emd_as_epsilon_shrinks() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let (fa, a) = random(&mut rng, [2, 5, 3]);
        let (fv, v) = random(&mut rng, [2, 7, 3]);
        let device = Default::default();
        let cost = squared_distances(a, v);
        let exact = values(ot(
            Tensor::<Cpu, 3>::from_data(
                TensorData::new(fa.iter().map(|&x| x as f32).collect(), vec![2, 5, 3]),
                &device,
            ),
            Tensor::<Cpu, 3>::from_data(
                TensorData::new(fv.iter().map(|&x| x as f32).collect(), vec![2, 7, 3]),
                &device,
            ),
            &Solver::Exact,
        ));
        let mut gaps = Vec::new();
        for epsilon in [0.1, 0.01, 0.001] {
            let s = Sinkhorn {
                epsilon,
                iterations: 3000,
            };
            let t = s.solve(cost.clone(), uniform(2, 5, &device), uniform(2, 7, &device));
            let rows = values(t.plan.clone().sum_dim(2));
            let cols = values(t.plan.clone().sum_dim(1));
            assert!(rows.iter().all(|r| (r - 0.2).abs() < 1e-4), "{rows:?}");
            assert!(
                cols.iter().all(|c| (c - 1.0 / 7.0).abs() < 1e-4),
                "{cols:?}"
            );
            let value = values(transport_loss(cost.clone(), None, &t));
            let gap = (0..2)
                .map(|p| (value[p] - exact[p]) / exact[p])
                .fold(0.0, f64::max);
            assert!(
                gap >= -1e-5,
                "entropic plans cannot beat the exact one: {gap}"
            );
            gaps.push(gap);
        }
        assert!(gaps[0] > gaps[1] && gaps[1] > gaps[2], "{gaps:?}");
        assert!(gaps[2] < 2e-3, "relative gap at epsilon 0.001: {}", gaps[2]);
    }

    #[test]
    fn transport_gradients_match_finite_differences_of_the_exact_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (n, m, d) = (4, 6, 3);
        let (fa, _) = random(&mut rng, [1, n, d]);
        let (fv, _) = random(&mut rng, [1, m, d]);
        let mu_a = weights(&mut rng, n);
        let mu_b = weights(&mut rng, m);
        let device = Default::default();
        let tensor3 = |v: &[f64], shape: [usize; 3]| {
            Tensor::<Grad, 3>::from_data(
                TensorData::new(v.iter().map(|&x| x as f32).collect(), shape.to_vec()),
                &device,
            )
        };
        let tensor2 = |v: &[f64]| {
            Tensor::<Grad, 2>::from_data(
                TensorData::new(v.iter().map(|&x| x as f32).collect(), vec![1, v.len()]),
                &device,
            )
        };
        let a = tensor3(&fa, [1, n, d]).require_grad();
        let ma = tensor2(&mu_a).require_grad();
        let v = tensor3(&fv, [1, m, d]);
        let marginals = Marginals {
            audio: ma.clone(),
            image: tensor2(&mu_b),
        };
        let loss = attentive_ot(a.clone(), v, &marginals, &Solver::Exact).sum();
        let grads = loss.backward();
        let ga: Vec<f64> = a
            .grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f64>()
            .into_vec()
            .unwrap();
        let gm: Vec<f64> = ma
            .grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f64>()
            .into_vec()
            .unwrap();

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

    #[test]
    fn scorer_marginals_are_distributions_with_a_uniform_floor_and_train() {
        let device = Default::default();
        let scorers = Scorers::<Grad>::new(8, 2, 9, &device);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (fa, _) = random(&mut rng, [2, 5, 8]);
        let (fv, _) = random(&mut rng, [2, 3, 8]);
        let t = |v: &[f64], shape: [usize; 3]| {
            Tensor::<Grad, 3>::from_data(
                TensorData::new(v.iter().map(|&x| x as f32).collect(), shape.to_vec()),
                &device,
            )
        };
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
        let missing = crate::train::params_without_grad(&scorers, &grads);
        assert!(missing.is_empty(), "no gradient reaches {missing:?}");
    }
}
