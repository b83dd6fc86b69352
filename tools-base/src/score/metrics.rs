//! Captioning metrics as the field reports them: BLEU-1..4, ROUGE-L and CIDEr-D computed the way
//! pycocoevalcap 1.2 (the coco-caption code every paper uses) computes them, on text tokenized
//! the way its Stanford PTB tokenizer (CoreNLP 3.4.1, `-lowerCase`, punctuation removed) does.
//!
//! Parity with pycocoevalcap is tested against a committed oracle fixture
//! (`tools-base/tests/fixtures/metrics_oracle.json`, written by `tools-base/tests/oracle/metrics.py`).

use std::collections::{HashMap, HashSet};

type Ngram<'a> = &'a [&'a str];

fn ngram_counts<'a>(words: &'a [&'a str], n: usize) -> HashMap<Ngram<'a>, usize> {
    let mut counts = HashMap::new();
    for k in 1..=n {
        for gram in words.windows(k) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// Corpus BLEU-1..4 and per-item BLEU, as pycocoevalcap's `BleuScorer` with the `closest`
/// reference length.
pub fn bleu(candidates: &[String], references: &[Vec<String>]) -> ([f64; 4], Vec<[f64; 4]>) {
    const TINY: f64 = 1e-15;
    const SMALL: f64 = 1e-9;
    let mut total_guess = [0f64; 4];
    let mut total_correct = [0f64; 4];
    let (mut total_test, mut total_ref) = (0f64, 0f64);
    let mut per_item = Vec::with_capacity(candidates.len());
    for (cand, refs) in candidates.iter().zip(references) {
        let ref_words: Vec<Vec<&str>> = refs
            .iter()
            .map(|r| r.split_whitespace().collect())
            .collect();
        let mut max_counts: HashMap<Ngram, usize> = HashMap::new();
        for words in &ref_words {
            for (gram, count) in ngram_counts(words, 4) {
                let slot = max_counts.entry(gram).or_insert(0);
                *slot = (*slot).max(count);
            }
        }
        let words: Vec<&str> = cand.split_whitespace().collect();
        let test_len = words.len();
        // The reference length closest to the candidate's, the shorter on a tie.
        let ref_len = ref_words
            .iter()
            .map(|w| w.len())
            .min_by_key(|&l| (l.abs_diff(test_len), l))
            .unwrap_or(0);
        let mut correct = [0f64; 4];
        for (gram, count) in ngram_counts(&words, 4) {
            correct[gram.len() - 1] += count.min(*max_counts.get(gram).unwrap_or(&0)) as f64;
        }
        let guess: [f64; 4] = std::array::from_fn(|k| (test_len + 1).saturating_sub(k + 1) as f64);
        let mut item = [0f64; 4];
        let mut product = 1.0;
        for k in 0..4 {
            product *= (correct[k] + TINY) / (guess[k] + SMALL);
            item[k] = product.powf(1.0 / (k + 1) as f64);
            total_guess[k] += guess[k];
            total_correct[k] += correct[k];
        }
        let ratio = (test_len as f64 + TINY) / (ref_len as f64 + SMALL);
        if ratio < 1.0 {
            item.iter_mut()
                .for_each(|b| *b *= (1.0 - 1.0 / ratio).exp());
        }
        per_item.push(item);
        total_test += test_len as f64;
        total_ref += ref_len as f64;
    }
    let mut corpus = [0f64; 4];
    let mut product = 1.0;
    for k in 0..4 {
        product *= (total_correct[k] + TINY) / (total_guess[k] + SMALL);
        corpus[k] = product.powf(1.0 / (k + 1) as f64);
    }
    let ratio = (total_test + TINY) / (total_ref + SMALL);
    if ratio < 1.0 {
        corpus
            .iter_mut()
            .for_each(|b| *b *= (1.0 - 1.0 / ratio).exp());
    }
    (corpus, per_item)
}

fn lcs(a: &[&str], b: &[&str]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut diagonal = 0;
        for (j, y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y {
                diagonal + 1
            } else {
                row[j + 1].max(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// ROUGE-L per item (beta 1.2, best precision and best recall over the references taken
/// separately, as pycocoevalcap does); the corpus score is their mean.
pub fn rouge_l(candidates: &[String], references: &[Vec<String>]) -> (f64, Vec<f64>) {
    const BETA2: f64 = 1.2 * 1.2;
    // pycocoevalcap splits on single spaces, so an empty caption is one empty token.
    fn split(s: &str) -> Vec<&str> {
        s.split(' ').collect()
    }
    let per_item: Vec<f64> = candidates
        .iter()
        .zip(references)
        .map(|(cand, refs)| {
            let c = split(cand);
            let (mut prec, mut rec) = (0f64, 0f64);
            for r in refs {
                let r = split(r);
                let l = lcs(&r, &c) as f64;
                prec = prec.max(l / c.len() as f64);
                rec = rec.max(l / r.len() as f64);
            }
            if prec > 0.0 && rec > 0.0 {
                (1.0 + BETA2) * prec * rec / (rec + BETA2 * prec)
            } else {
                0.0
            }
        })
        .collect();
    (mean(&per_item), per_item)
}

/// CIDEr-D per item (n-grams to 4, sigma 6, clipped tf-idf, document frequencies from the
/// references of the whole set, x10), as pycocoevalcap's `CiderScorer`; the corpus score is the
/// mean. Like pycocoevalcap, the length penalty compares bigram counts.
pub fn cider_d(candidates: &[String], references: &[Vec<String>]) -> (f64, Vec<f64>) {
    const SIGMA: f64 = 6.0;
    let cand_words: Vec<Vec<&str>> = candidates
        .iter()
        .map(|c| c.split_whitespace().collect())
        .collect();
    let ref_words: Vec<Vec<Vec<&str>>> = references
        .iter()
        .map(|refs| {
            refs.iter()
                .map(|r| r.split_whitespace().collect())
                .collect()
        })
        .collect();
    let cand_counts: Vec<HashMap<Ngram, usize>> =
        cand_words.iter().map(|w| ngram_counts(w, 4)).collect();
    let ref_counts: Vec<Vec<HashMap<Ngram, usize>>> = ref_words
        .iter()
        .map(|refs| refs.iter().map(|w| ngram_counts(w, 4)).collect())
        .collect();
    let mut document_frequency: HashMap<Ngram, f64> = HashMap::new();
    for refs in &ref_counts {
        let seen: HashSet<Ngram> = refs.iter().flat_map(|r| r.keys().copied()).collect();
        for gram in seen {
            *document_frequency.entry(gram).or_insert(0.0) += 1.0;
        }
    }
    let log_items = (candidates.len() as f64).ln();
    let per_item: Vec<f64> = cand_counts
        .iter()
        .zip(&ref_counts)
        .map(|(cand, refs)| {
            let (vc, nc, lc) = tf_idf(cand, &document_frequency, log_items);
            let mut score = [0f64; 4];
            for r in refs {
                let (vr, nr, lr) = tf_idf(r, &document_frequency, log_items);
                let delta = lc as f64 - lr as f64;
                for n in 0..4 {
                    let mut val: f64 = vc[n]
                        .iter()
                        .map(|(gram, &w)| {
                            let wr = vr[n].get(gram).copied().unwrap_or(0.0);
                            w.min(wr) * wr
                        })
                        .sum();
                    if nc[n] != 0.0 && nr[n] != 0.0 {
                        val /= nc[n] * nr[n];
                    }
                    score[n] += val * (-(delta * delta) / (2.0 * SIGMA * SIGMA)).exp();
                }
            }
            mean(&score) / refs.len().max(1) as f64 * 10.0
        })
        .collect();
    (mean(&per_item), per_item)
}

type TfIdf<'a> = ([HashMap<Ngram<'a>, f64>; 4], [f64; 4], usize);

/// The tf-idf vectors of one caption per n-gram order, their norms, and its bigram count.
fn tf_idf<'a>(
    counts: &HashMap<Ngram<'a>, usize>,
    document_frequency: &HashMap<Ngram<'a>, f64>,
    log_items: f64,
) -> TfIdf<'a> {
    let mut vec: [HashMap<Ngram, f64>; 4] = Default::default();
    let mut norm = [0f64; 4];
    let mut bigrams = 0usize;
    for (gram, &tf) in counts {
        let df = document_frequency
            .get(gram)
            .copied()
            .unwrap_or(0.0)
            .max(1.0)
            .ln();
        let n = gram.len() - 1;
        let w = tf as f64 * (log_items - df);
        vec[n].insert(*gram, w);
        norm[n] += w * w;
        if n == 1 {
            bigrams += tf;
        }
    }
    (vec, norm.map(f64::sqrt), bigrams)
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_caption_scores_one_on_bleu_and_rouge() {
        let c = vec!["a dog barks at a cat".to_string()];
        let r = vec![vec!["a dog barks at a cat".to_string()]];
        let (b, _) = bleu(&c, &r);
        assert!(b.iter().all(|&x| (x - 1.0).abs() < 1e-9), "{b:?}");
        assert!((rouge_l(&c, &r).0 - 1.0).abs() < 1e-12);
    }
}
