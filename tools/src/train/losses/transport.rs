//! Optimal transport with uniform or given marginals: the solution a solver gives, the loss
//! it enters through ([`transport_loss`]), entropic Sinkhorn, the choice of solver, and the
//! plain OT loss ([`ot`]).

use burn::prelude::*;
use burn::tensor::TensorData;

use super::distance::{squared_distances, sum_pairs};
use super::exact::emd;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reference::Cpu;
    use crate::train::losses::test_support::{random, values};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

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
}
