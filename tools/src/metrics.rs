//! Captioning metrics as the field reports them: BLEU-1..4, ROUGE-L and CIDEr-D computed the way
//! pycocoevalcap 1.2 (the coco-caption code every paper uses) computes them, on text tokenized
//! the way its Stanford PTB tokenizer (CoreNLP 3.4.1, `-lowerCase`, punctuation removed) does.
//!
//! Parity with pycocoevalcap is tested against a committed oracle fixture
//! (`tools/tests/fixtures/metrics_oracle.json`, written by `tools/tests/oracle/metrics.py`).

use std::collections::{HashMap, HashSet};

/// Tokens pycocoevalcap drops after tokenizing. The comparison is case-sensitive and happens
/// after lower-casing, so `-lrb-` (a lower-cased `-LRB-`) stays, as it does there.
const PUNCTUATION: [&str; 17] = [
    "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--",
    "...", ";",
];

/// Abbreviations whose final period PTB keeps.
const ABBREVIATIONS: [&str; 12] = [
    "mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "sr.", "vs.", "etc.", "approx.", "no.", "ft.",
];

/// Lower-cased PTB tokens of a caption, punctuation removed, joined by single spaces.
pub fn tokenize(text: &str) -> String {
    let mut tokens: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        split_word(word, &mut tokens);
    }
    tokens
        .into_iter()
        .map(|t| t.to_lowercase())
        .filter(|t| !PUNCTUATION.contains(&t.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn bracket(c: char) -> Option<&'static str> {
    Some(match c {
        '(' => "-LRB-",
        ')' => "-RRB-",
        '[' => "-LSB-",
        ']' => "-RSB-",
        '{' => "-LCB-",
        '}' => "-RCB-",
        _ => return None,
    })
}

/// Splits one whitespace-separated chunk into PTB tokens.
fn split_word(word: &str, out: &mut Vec<String>) {
    let chars: Vec<char> = word
        .chars()
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            c => c,
        })
        .collect();
    let mut i = 0;
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<String>| {
        if !current.is_empty() {
            split_clitics(&std::mem::take(current), out);
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let prev_alnum = i > 0 && chars[i - 1].is_alphanumeric();
        let next_alnum = chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if let Some(b) = bracket(c) {
            flush(&mut current, out);
            out.push(b.into());
        } else if c == '"' {
            flush(&mut current, out);
            out.push(
                if current.is_empty() && i == 0 {
                    "``"
                } else {
                    "''"
                }
                .into(),
            );
        } else if c == '!' || c == '?' {
            flush(&mut current, out);
            let start = i;
            while chars.get(i + 1).is_some_and(|&n| n == '!' || n == '?') {
                i += 1;
            }
            out.push(chars[start..=i].iter().collect());
        } else if c == '.' {
            if prev_alnum && next_alnum {
                current.push(c);
            } else {
                let start = i;
                while chars.get(i + 1) == Some(&'.') {
                    i += 1;
                }
                let dots: String = chars[start..=i].iter().collect();
                let with_dot = format!("{current}.").to_lowercase();
                if dots == "."
                    && (ABBREVIATIONS.contains(&with_dot.as_str()) || is_initials(&current))
                {
                    current.push('.');
                    flush(&mut current, out);
                } else {
                    flush(&mut current, out);
                    out.push(if dots.len() >= 3 { "...".into() } else { dots });
                }
            }
        } else if c == ',' || c == ':' {
            if prev_alnum && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()) {
                current.push(c);
            } else {
                flush(&mut current, out);
                out.push(c.to_string());
            }
        } else if c == ';' {
            flush(&mut current, out);
            out.push(";".into());
        } else if c == '-' {
            if prev_alnum && next_alnum {
                current.push(c);
            } else {
                flush(&mut current, out);
                let start = i;
                while chars.get(i + 1) == Some(&'-') {
                    i += 1;
                }
                out.push(if i > start { "--".into() } else { "-".into() });
            }
        } else if c == '\'' {
            if prev_alnum {
                current.push(c);
            } else {
                flush(&mut current, out);
                out.push("`".into());
            }
        } else if c.is_alphanumeric() || c == '/' || c == '&' || c == '_' {
            current.push(c);
        } else {
            flush(&mut current, out);
            out.push(c.to_string());
        }
        i += 1;
    }
    flush(&mut current, out);
}

/// `a.m`, `u.s`: letters separated by periods, whose final period is kept.
fn is_initials(stem: &str) -> bool {
    stem.contains('.')
        && stem
            .split('.')
            .all(|part| part.chars().count() == 1 && part.chars().all(char::is_alphabetic))
}

/// Splits English clitics off a word: `man's` -> `man 's`, `won't` -> `wo n't`, `dogs'` ->
/// `dogs '`.
fn split_clitics(word: &str, out: &mut Vec<String>) {
    let lower = word.to_lowercase();
    if lower.len() > 3 && lower.ends_with("n't") {
        let cut = word.len() - 3;
        out.push(word[..cut].into());
        out.push(word[cut..].into());
        return;
    }
    for suffix in ["'s", "'re", "'ve", "'ll", "'d", "'m"] {
        if lower.len() > suffix.len() && lower.ends_with(suffix) {
            let cut = word.len() - suffix.len();
            out.push(word[..cut].into());
            out.push(word[cut..].into());
            return;
        }
    }
    if lower.len() > 1 && lower.ends_with('\'') {
        out.push(word[..word.len() - 1].into());
        out.push("'".into());
        return;
    }
    out.push(word.into());
}

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
    fn tokens_follow_ptb() {
        assert_eq!(
            tokenize("A dog's bark, and rain."),
            "a dog 's bark and rain"
        );
        assert_eq!(tokenize("It won't STOP!!"), "it wo n't stop !!");
        assert_eq!(
            tokenize("water (stream) flows"),
            "water -lrb- stream -rrb- flows"
        );
        assert_eq!(
            tokenize("high-pitched audio/video -- 1,000 times"),
            "high-pitched audio/video 1,000 times"
        );
        assert_eq!(tokenize(""), "");
    }

    #[test]
    fn a_perfect_caption_scores_one_on_bleu_and_rouge() {
        let c = vec!["a dog barks at a cat".to_string()];
        let r = vec![vec!["a dog barks at a cat".to_string()]];
        let (b, _) = bleu(&c, &r);
        assert!(b.iter().all(|&x| (x - 1.0).abs() < 1e-9), "{b:?}");
        assert!((rouge_l(&c, &r).0 - 1.0).abs() < 1e-12);
    }
}
