//! Exact optimal transport of one pair on the host, by successive shortest paths.

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::losses::test_support::weights;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

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
}
