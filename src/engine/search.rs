//! Greedy and beam search over a one-step decoder. Deterministic: ties between equal scores are
//! broken by the smaller token id, then by the earlier beam.

use std::cmp::Ordering;

use crate::bundle::{DecodingConfig, SpecialTokens};

/// A decoder that takes one token at a time and keeps its own cache per hypothesis.
pub trait StepModel {
    type Cache: Clone;
    type Error;

    /// The cache before any token.
    fn start(&self) -> Self::Cache;

    /// Feeds `token`, extends `cache`, and returns the logits of the next token.
    fn step(&self, cache: &mut Self::Cache, token: u32) -> Result<Vec<f32>, Self::Error>;
}

/// A finished hypothesis.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    /// Generated ids, without the start token and without the end token.
    pub tokens: Vec<u32>,
    /// Sum of the log-probabilities of the generated ids (end token included when emitted).
    pub logprob: f32,
    /// Number of scored ids (`tokens.len()`, plus one when the end token was emitted).
    pub scored: usize,
}

impl Hypothesis {
    /// Mean log-probability per scored token: the caption's confidence score.
    pub fn mean_logprob(&self) -> f32 {
        self.logprob / self.scored.max(1) as f32
    }

    fn ranking(&self, length_penalty: f32) -> f32 {
        self.logprob / (self.scored.max(1) as f32).powf(length_penalty)
    }
}

/// Decodes one caption: greedy when `beam_width` is 1, beam search otherwise.
pub fn decode<M: StepModel>(
    model: &M,
    options: &DecodingConfig,
    special: &SpecialTokens,
) -> Result<Hypothesis, M::Error> {
    let width = options.beam_width.max(1);
    let mut live = vec![Beam {
        tokens: Vec::new(),
        logprob: 0.0,
        cache: model.start(),
    }];
    let mut finished: Vec<Hypothesis> = Vec::new();
    for _ in 0..options.max_tokens {
        let mut candidates: Vec<Candidate> = Vec::new();
        for (beam_index, beam) in live.iter_mut().enumerate() {
            let last = beam.tokens.last().copied().unwrap_or(special.bos);
            let mut logp = model.step(&mut beam.cache, last)?;
            log_softmax(&mut logp);
            ban_repeated_ngrams(&beam.tokens, options.no_repeat_ngram, &mut logp);
            for (token, lp) in top_k(&logp, 2 * width) {
                candidates.push(Candidate {
                    beam: beam_index,
                    token,
                    logprob: beam.logprob + lp,
                });
            }
        }
        candidates.sort_by(|a, b| {
            b.logprob
                .partial_cmp(&a.logprob)
                .unwrap_or(Ordering::Equal)
                .then(a.token.cmp(&b.token))
                .then(a.beam.cmp(&b.beam))
        });
        let mut next = Vec::with_capacity(width);
        for c in candidates {
            if c.logprob == f32::NEG_INFINITY {
                break;
            }
            let parent = &live[c.beam];
            if c.token == special.eos {
                finished.push(Hypothesis {
                    tokens: parent.tokens.clone(),
                    logprob: c.logprob,
                    scored: parent.tokens.len() + 1,
                });
            } else {
                let mut tokens = parent.tokens.clone();
                tokens.push(c.token);
                next.push(Beam {
                    tokens,
                    logprob: c.logprob,
                    cache: parent.cache.clone(),
                });
            }
            if next.len() == width || finished.len() >= width {
                break;
            }
        }
        live = next;
        if live.is_empty() || finished.len() >= width {
            break;
        }
    }
    // Hypotheses cut off by max_tokens compete with the finished ones.
    finished.extend(live.into_iter().map(|b| Hypothesis {
        scored: b.tokens.len(),
        tokens: b.tokens,
        logprob: b.logprob,
    }));
    let best = finished
        .into_iter()
        .enumerate()
        .max_by(|(ia, a), (ib, b)| {
            a.ranking(options.length_penalty)
                .partial_cmp(&b.ranking(options.length_penalty))
                .unwrap_or(Ordering::Equal)
                .then(ib.cmp(ia))
        })
        .map(|(_, h)| h)
        .unwrap_or(Hypothesis {
            tokens: Vec::new(),
            logprob: 0.0,
            scored: 0,
        });
    Ok(best)
}

struct Beam<C> {
    tokens: Vec<u32>,
    logprob: f32,
    cache: C,
}

struct Candidate {
    beam: usize,
    token: u32,
    logprob: f32,
}

fn log_softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = x.iter().map(|v| (v - max).exp()).sum();
    let log_z = max + sum.ln();
    for v in x.iter_mut() {
        *v -= log_z;
    }
}

/// The `k` best (id, value) pairs, best first, smaller id first among equals.
fn top_k(x: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..x.len() as u32).collect();
    let by_value = |a: &u32, b: &u32| {
        x[*b as usize]
            .partial_cmp(&x[*a as usize])
            .unwrap_or(Ordering::Equal)
            .then(a.cmp(b))
    };
    let k = k.min(idx.len());
    if k < idx.len() {
        idx.select_nth_unstable_by(k, by_value);
        idx.truncate(k);
    }
    idx.sort_by(by_value);
    idx.into_iter().map(|i| (i, x[i as usize])).collect()
}

/// Sets to -inf every token that would complete an n-gram already present in `tokens`.
fn ban_repeated_ngrams(tokens: &[u32], n: usize, logp: &mut [f32]) {
    if n == 0 || tokens.len() + 1 < n {
        return;
    }
    let prefix = &tokens[tokens.len() + 1 - n..];
    for window in tokens.windows(n) {
        if &window[..n - 1] == prefix {
            if let Some(v) = logp.get_mut(window[n - 1] as usize) {
                *v = f32::NEG_INFINITY;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy decoder whose next-token log-probabilities depend only on the previous token.
    struct Table(Vec<Vec<f32>>);

    impl StepModel for Table {
        type Cache = Vec<u32>;
        type Error = ();
        fn start(&self) -> Vec<u32> {
            Vec::new()
        }
        fn step(&self, cache: &mut Vec<u32>, token: u32) -> Result<Vec<f32>, ()> {
            cache.push(token);
            Ok(self.0[token as usize].iter().map(|p| p.ln()).collect())
        }
    }

    const SPECIAL: SpecialTokens = SpecialTokens {
        pad: 0,
        unk: 1,
        bos: 2,
        eos: 3,
    };

    fn options(beam_width: usize, no_repeat_ngram: usize) -> DecodingConfig {
        DecodingConfig {
            beam_width,
            length_penalty: 1.0,
            max_tokens: 8,
            no_repeat_ngram,
            tag_guidance: 0.0,
            tag_veto: 0.0,
        }
    }

    /// From bos, token 4 looks best (0.5) but leads to a poor continuation; token 5 (0.4) leads
    /// to a confident end. Greedy takes 4, beam search finds 5.
    fn garden_path() -> Table {
        let z = 1e-6;
        Table(vec![
            vec![z, z, z, 1.0, z, z],
            vec![z, z, z, 1.0, z, z],
            vec![z, z, z, 0.1, 0.5, 0.4],
            vec![z, z, z, 1.0, z, z],
            vec![z, z, z, 0.3, 0.35, 0.35],
            vec![z, z, z, 0.99, z, z],
        ])
    }

    #[test]
    fn greedy_takes_the_locally_best_token() {
        let h = decode(&garden_path(), &options(1, 0), &SPECIAL).unwrap();
        assert_eq!(h.tokens[0], 4);
    }

    #[test]
    fn beam_search_finds_the_better_sequence() {
        let h = decode(&garden_path(), &options(3, 0), &SPECIAL).unwrap();
        assert_eq!(h.tokens, vec![5]);
        // Logits are renormalised: row 5 puts (almost) all its mass on the end token.
        assert!((h.logprob - 0.4f32.ln()).abs() < 1e-4, "{h:?}");
    }

    #[test]
    fn no_repeat_ngram_blocks_loops() {
        let z = 1e-6;
        // 4 -> 4 -> 4 ... forever unless repeats are banned.
        let loop_model = Table(vec![
            vec![z; 6],
            vec![z; 6],
            vec![z, z, z, 0.1, 0.9, z],
            vec![z, z, z, 1.0, z, z],
            vec![z, z, z, 0.2, 0.8, z],
            vec![z, z, z, 1.0, z, z],
        ]);
        let free = decode(&loop_model, &options(1, 0), &SPECIAL).unwrap();
        assert_eq!(free.tokens, vec![4; 8]);
        let banned = decode(&loop_model, &options(1, 2), &SPECIAL).unwrap();
        assert_eq!(banned.tokens, vec![4, 4]);
    }

    #[test]
    fn log_softmax_matches_f64_across_a_wide_spread_of_logits() {
        // A confident decoder: most logits far below the best, some past exp's underflow.
        let logits: Vec<f32> = (0..4000).map(|i| 12.0 - (i % 500) as f32 * 0.4).collect();
        let max = logits
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, |m, v| m.max(v as f64));
        let log_z = max
            + logits
                .iter()
                .map(|&v| (v as f64 - max).exp())
                .sum::<f64>()
                .ln();
        let mut x = logits.clone();
        log_softmax(&mut x);
        for (got, v) in x.iter().zip(&logits) {
            let want = *v as f64 - log_z;
            assert!(
                (*got as f64 - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn top_k_breaks_ties_by_id() {
        assert_eq!(
            top_k(&[0.5, 1.0, 1.0, 0.2], 3),
            vec![(1, 1.0), (2, 1.0), (0, 0.5)]
        );
    }
}
