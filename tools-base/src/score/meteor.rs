//! METEOR as pycocoevalcap runs it: METEOR 1.5 (Denkowski and Lavie, 2014) with `-l en -norm`,
//! each caption scored against its best reference, the corpus score computed from statistics
//! summed over all captions. Only two of METEOR 1.5's four matchers are here: exact words and
//! Snowball English stems. Its WordNet synonym matcher and its paraphrase table (60 MB) need
//! data that does not ship with earsight, and the function-word list is our own (METEOR's was
//! drawn from word frequencies in news text and holds words such as "said" and "year"), so at
//! METEOR's default parameters this is a proxy for METEOR 1.5, not METEOR 1.5.
//!
//! Measured against the METEOR 1.5 jar that pycocoevalcap 1.2 bundles, through the oracle fixture
//! (`tools-base/tests/fixtures/metrics_oracle.json`: its 104 caption sets, and 197 METEOR-only cases,
//! all captions the project wrote):
//!
//! - Restricted alike (`-m "exact stem" -w "1.0 0.6" -p "0.85 0.2 0.6 0.5"`; delta 0.5 weighs
//!   function and content words the same, so the function-word lists drop out), the scores are
//!   METEOR 1.5's per caption and per corpus: largest difference 5.6e-17, tested to 1e-12.
//! - At the default parameters against full METEOR 1.5, corpus 0.1972 against 0.2021 on the 104
//!   sets and 0.2845 against 0.2855 on the 197; per caption |difference| mean 0.021 and 0.027,
//!   largest 0.111 ("a car horn honks twice in heavy traffic" against "on a busy road a driver
//!   sounds the car horn a couple of times": words only its synonym and paraphrase matchers
//!   link) and 0.627 ("10-second" for "ten second", which its paraphrase table matches). The
//!   gap is those matchers: METEOR 1.5 with exact and stem only, its own function words and
//!   default parameters, scores 0.1962 and 0.2792, with synonyms added 0.1986 and 0.2801, and
//!   with paraphrases too (full METEOR 1.5) 0.2021 and 0.2855. The test holds the corpus gap
//!   within 0.008 and the mean per caption gap within 0.03.
//!
//! The alignment search follows METEOR 1.5's, quirks included, because they decide which of
//! equally long alignments wins and so the chunk count: see [`align`].

use std::cmp::Ordering;
use std::collections::HashSet;

use rust_stemmers::{Algorithm, Stemmer};

/// METEOR's parameters: the balance of precision and recall (alpha), the shape and weight of the
/// fragmentation penalty (beta, gamma), the weight of content against function words (delta),
/// and the credit of an exact and of a stem match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub delta: f64,
    pub weights: [f64; 2],
}

impl Params {
    /// METEOR 1.5's English defaults (its "rank" task), for the two matchers we have.
    pub const ENGLISH: Params = Params {
        alpha: 0.85,
        beta: 0.2,
        gamma: 0.6,
        delta: 0.75,
        weights: [1.0, 0.6],
    };
}

/// Corpus METEOR and per-item METEOR of PTB-tokenized captions at [`Params::ENGLISH`].
pub fn meteor(candidates: &[String], references: &[Vec<String>]) -> (f64, Vec<f64>) {
    meteor_with(&Params::ENGLISH, candidates, references)
}

/// Corpus METEOR and per-item METEOR of PTB-tokenized captions.
pub fn meteor_with(
    params: &Params,
    candidates: &[String],
    references: &[Vec<String>],
) -> (f64, Vec<f64>) {
    let stemmer = Stemmer::create(Algorithm::English);
    let function_words: HashSet<&str> = FUNCTION_WORDS.split_whitespace().collect();
    let mut total = Stats::default();
    let per_item = candidates
        .iter()
        .zip(references)
        .map(|(cand, refs)| {
            let test = normalize(cand);
            let mut best: Option<(f64, Stats)> = None;
            for r in refs {
                let stats = Stats::of(&test, &normalize(r), &stemmer, &function_words);
                let score = stats.score(params);
                // The first of equally good references, as METEOR keeps it.
                if best.as_ref().is_none_or(|(b, _)| score > *b) {
                    best = Some((score, stats));
                }
            }
            let (score, stats) = best.unwrap_or_default();
            total.add(&stats);
            score
        })
        .collect();
    (total.score(params), per_item)
}

/// The matchers, in the order METEOR runs them; their index is the weight's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Module {
    Exact = 0,
    Stem = 1,
}

/// METEOR's sufficient statistics of one caption against one reference, or of a corpus.
#[derive(Clone, Debug, Default)]
struct Stats {
    test_len: f64,
    ref_len: f64,
    test_function_words: f64,
    ref_function_words: f64,
    /// Matched words per module, content and function words apart.
    test_content: [f64; 2],
    ref_content: [f64; 2],
    test_function: [f64; 2],
    ref_function: [f64; 2],
    chunks: f64,
}

impl Stats {
    fn of(
        test: &[String],
        reference: &[String],
        stemmer: &Stemmer,
        function_words: &HashSet<&str>,
    ) -> Stats {
        let alignment = align(test, reference, &|w| stemmer.stem(w).into_owned());
        let is_function = |w: &String| function_words.contains(w.as_str());
        let mut stats = Stats {
            test_len: test.len() as f64,
            ref_len: reference.len() as f64,
            test_function_words: test.iter().filter(|w| is_function(w)).count() as f64,
            ref_function_words: reference.iter().filter(|w| is_function(w)).count() as f64,
            chunks: alignment.chunks as f64,
            ..Stats::default()
        };
        for (j, link) in alignment.links.iter().enumerate() {
            let Some(link) = link else { continue };
            let m = link.module as usize;
            if is_function(&test[link.test]) {
                stats.test_function[m] += 1.0;
            } else {
                stats.test_content[m] += 1.0;
            }
            if is_function(&reference[j]) {
                stats.ref_function[m] += 1.0;
            } else {
                stats.ref_content[m] += 1.0;
            }
        }
        stats
    }

    fn test_matches(&self) -> f64 {
        (0..2)
            .map(|m| self.test_content[m] + self.test_function[m])
            .sum()
    }

    fn ref_matches(&self) -> f64 {
        (0..2)
            .map(|m| self.ref_content[m] + self.ref_function[m])
            .sum()
    }

    /// Every word matched, in one chunk: METEOR charges no fragmentation for it.
    fn is_whole(&self) -> bool {
        self.test_matches() == self.test_len
            && self.ref_matches() == self.ref_len
            && self.chunks == 1.0
    }

    fn add(&mut self, other: &Stats) {
        self.test_len += other.test_len;
        self.ref_len += other.ref_len;
        self.test_function_words += other.test_function_words;
        self.ref_function_words += other.ref_function_words;
        for m in 0..2 {
            self.test_content[m] += other.test_content[m];
            self.ref_content[m] += other.ref_content[m];
            self.test_function[m] += other.test_function[m];
            self.ref_function[m] += other.ref_function[m];
        }
        // A whole match adds no fragmentation to the corpus either.
        if !other.is_whole() {
            self.chunks += other.chunks;
        }
    }

    /// The score, with METEOR's order of operations so that it agrees to the last bits.
    fn score(&self, p: &Params) -> f64 {
        let d = p.delta;
        let test_weighted_len =
            d * (self.test_len - self.test_function_words) + (1.0 - d) * self.test_function_words;
        let ref_weighted_len =
            d * (self.ref_len - self.ref_function_words) + (1.0 - d) * self.ref_function_words;
        let (mut test_weighted, mut ref_weighted) = (0.0, 0.0);
        for m in 0..2 {
            test_weighted += self.test_content[m] * p.weights[m] * d;
        }
        for m in 0..2 {
            ref_weighted += self.ref_content[m] * p.weights[m] * d;
        }
        for m in 0..2 {
            test_weighted += self.test_function[m] * p.weights[m] * (1.0 - d);
        }
        for m in 0..2 {
            ref_weighted += self.ref_function[m] * p.weights[m] * (1.0 - d);
        }
        let precision = test_weighted / test_weighted_len;
        let recall = ref_weighted / ref_weighted_len;
        let f_mean = 1.0 / ((1.0 - p.alpha) / precision + p.alpha / recall);
        let fragmentation = if self.is_whole() {
            0.0
        } else {
            self.chunks / ((self.test_matches() + self.ref_matches()) / 2.0)
        };
        let score = f_mean * (1.0 - p.gamma * fragmentation.powf(p.beta));
        // 0/0 where a side is empty or nothing matched: METEOR scores that 0.
        if score.is_nan() {
            0.0
        } else {
            score.max(0.0)
        }
    }
}

/// A reference word's match: the test word and the module that matched them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    test: usize,
    module: Module,
}

/// The chosen alignment: a link or none for each reference word, and its chunk count (runs of
/// links adjacent and in order on both sides).
#[derive(Debug, PartialEq)]
struct Alignment {
    links: Vec<Option<Link>>,
    chunks: usize,
}

/// METEOR 1.5's beam width.
const BEAM: usize = 40;

/// What a link adds to each side's match count in METEOR 1.5's search. Its aligner weighs exact
/// links 1 and all others 0.5 but keeps the counts in integers, so each 0.5 truncates away and
/// only exact links count when partial alignments are ranked; stem links still count in the
/// score.
fn search_credit(module: Module) -> i32 {
    match module {
        Module::Exact => 1,
        Module::Stem => 0,
    }
}

/// A partial alignment in the beam, filled in reference order.
#[derive(Clone)]
struct Path {
    links: Vec<Option<Link>>,
    test_used: Vec<bool>,
    credit: i32,
    chunks: i32,
    /// One past the test word of the last link while a chunk is open.
    open: Option<usize>,
    distance: i32,
}

impl Path {
    fn take(&mut self, j: usize, link: Link) {
        self.links[j] = Some(link);
        self.test_used[link.test] = true;
        self.credit += 2 * search_credit(link.module);
        if self.open.is_some_and(|end| end != link.test) {
            self.chunks += 1;
        }
        self.open = Some(link.test + 1);
    }

    fn close(&mut self) {
        if self.open.take().is_some() {
            self.chunks += 1;
        }
    }

    /// More credit first, then fewer chunks, then less distance.
    fn rank(&self, other: &Path) -> Ordering {
        other
            .credit
            .cmp(&self.credit)
            .then(self.chunks.cmp(&other.chunks))
            .then(self.distance.cmp(&other.distance))
    }
}

/// Aligns test words to reference words as METEOR 1.5 does. Every exact and stem match is a
/// candidate link; a reference word whose only candidate is also its test word's only one is
/// linked outright; the rest are resolved left to right over the reference with a beam of
/// [`BEAM`] paths, ranked by [`Path::rank`] with a stable sort. Three quirks of METEOR 1.5 are
/// kept because they decide ties: the credit of [`search_credit`]; that a link's distance is
/// charged not to the path that takes it but to its parent, which carries it into the paths
/// branched after it (the parent's later choices and its own "leave this word unlinked" path);
/// and that the last ranking before the final one sees each path's last chunk still open.
/// Equal captions are matched on exact words only, as METEOR does.
fn align(test: &[String], reference: &[String], stem: &dyn Fn(&str) -> String) -> Alignment {
    let mut candidates: Vec<Vec<Link>> = reference
        .iter()
        .map(|r| {
            (0..test.len())
                .filter(|&i| test[i] == *r)
                .map(|test| Link {
                    test,
                    module: Module::Exact,
                })
                .collect()
        })
        .collect();
    if test != reference {
        let test_stems: Vec<String> = test.iter().map(|w| stem(w)).collect();
        for (j, r) in reference.iter().enumerate() {
            let r_stem = stem(r);
            for (i, t) in test.iter().enumerate() {
                if test_stems[i] == r_stem && t != r {
                    candidates[j].push(Link {
                        test: i,
                        module: Module::Stem,
                    });
                }
            }
        }
    }
    let mut test_cover = vec![0usize; test.len()];
    for link in candidates.iter().flatten() {
        test_cover[link.test] += 1;
    }
    let mut start = Path {
        links: vec![None; reference.len()],
        test_used: vec![false; test.len()],
        credit: 0,
        chunks: 0,
        open: None,
        distance: 0,
    };
    for (j, c) in candidates.iter().enumerate() {
        if let [link] = c[..] {
            if test_cover[link.test] == 1 {
                start.links[j] = Some(link);
                start.test_used[link.test] = true;
            }
        }
    }
    let distance = |j: usize, link: Link| (j as i32 - link.test as i32).abs();
    let mut paths = vec![start];
    for (j, links) in candidates.iter().enumerate() {
        paths.sort_by(Path::rank);
        let mut next = Vec::new();
        for mut path in paths.into_iter().take(BEAM) {
            if let Some(link) = path.links[j] {
                // Linked outright before the search.
                path.take(j, link);
                path.distance += distance(j, link);
                next.push(path);
                continue;
            }
            for &link in links {
                if path.test_used[link.test] {
                    continue;
                }
                let mut branch = path.clone();
                branch.take(j, link);
                path.distance += distance(j, link);
                next.push(branch);
            }
            path.close();
            next.push(path);
        }
        paths = next;
    }
    paths.sort_by(Path::rank);
    let mut finished: Vec<Path> = paths
        .into_iter()
        .take(BEAM)
        .map(|mut p| {
            p.close();
            p
        })
        .collect();
    finished.sort_by(Path::rank);
    let best = finished.swap_remove(0);
    Alignment {
        links: best.links,
        chunks: best.chunks as usize,
    }
}

/// English function words: determiners, pronouns, prepositions, conjunctions, auxiliaries and
/// modals, negation, and the pieces METEOR's normalizer makes of clitics ("'s" -> "' s", "n't"
/// -> "n 't") and of punctuation PTB tokenization leaves. Written for earsight; METEOR 1.5's
/// own list differs (see the top), which matters only where delta is not 0.5.
const FUNCTION_WORDS: &str =
    "a about above across after against all along also although am among an and another any are \
    around as at be because been before behind being below beneath beside between beyond both \
    but by ca can could did do does doing down during each either every for from had has have \
    having he her here hers herself him himself his how i if in inside into is it its itself \
    may me might must my myself neither no nor not of off on onto or our ours ourselves out \
    outside over shall she should since so some such than that the their theirs them \
    themselves then there these they this those though through throughout till to toward \
    towards under underneath unless until up upon us via was we were what whatever when \
    whenever where whereas whether which while whilst who whom whose why will with within \
    without wo would yet you your yours yourself yourselves ' 't d ll m n re s ve ! \" # $ % & \
    * + , - . / : ; ? @ -lrb- -rrb- -lsb- -rsb- -lcb- -rcb-";

/// Letters as METEOR's normalizer counts them: ASCII, Latin-1 and Latin Extended-A, Cyrillic.
fn is_alpha(c: char) -> bool {
    matches!(c,
        'A'..='Z' | 'a'..='z' | '\u{c0}'..='\u{d6}' | '\u{d8}'..='\u{f6}' | '\u{f8}'..='\u{17e}'
        | '\u{400}'..='\u{527}' | '\u{a640}'..='\u{a66e}' | '\u{a67e}'..='\u{a697}'
        | '\u{1d00}'..='\u{1d7f}')
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_alnum(c: char) -> bool {
    is_alpha(c) || is_digit(c)
}

/// Replaces every `before mid after` triple, scanning left to right without overlaps as a
/// regular expression's replace-all does, by `before`, `with`, `after`.
fn replace_around(
    s: &[char],
    mid: char,
    before: impl Fn(char) -> bool,
    after: impl Fn(char) -> bool,
    with: &str,
) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < s.len() {
        if i + 2 < s.len() && before(s[i]) && s[i + 1] == mid && after(s[i + 2]) {
            out.push(s[i]);
            out.extend(with.chars());
            out.push(s[i + 2]);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Abbreviations whose final period METEOR's normalizer keeps: the lower-case entries of the
/// Moses English non-breaking prefix list it reads (the others are capitalised and never meet
/// a lower-cased caption), and those it keeps only before a number.
const NONBREAKING: [&str; 3] = ["rev", "v", "vs"];
const NONBREAKING_BEFORE_NUMBER: [&str; 1] = ["pp"];

/// METEOR 1.5's `-norm` for English (its tokenizer after Moses', punctuation kept) and its
/// lower-casing, giving the words it aligns. For lower-cased text, as PTB-tokenized captions
/// are: of the abbreviations whose period METEOR keeps, only the lower-case ones are known here.
pub fn normalize(line: &str) -> Vec<String> {
    let mut s = vec![' '];
    for c in line.chars() {
        if is_alnum(c) || c.is_whitespace() || ".'`,-\u{2018}\u{2019}".contains(c) {
            s.push(c);
        } else {
            s.extend([' ', c, ' ']);
        }
    }
    s.push(' ');
    // Runs of dots become words of their own, which the rule for final periods leaves alone.
    let mut spaced = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let run = s[i..].iter().take_while(|&&c| c == '.').count();
        if run >= 2 {
            spaced.push(' ');
            spaced.extend(&s[i..i + run]);
            spaced.push(' ');
            i += run;
        } else {
            spaced.push(s[i]);
            i += 1;
        }
    }
    // Commas split off unless between digits.
    let s = replace_around(&spaced, ',', |a| !is_digit(a), |b| !is_digit(b), " , ");
    let s = replace_around(&s, ',', is_digit, |b| !is_digit(b), " , ");
    let s = replace_around(&s, ',', |a| !is_digit(a), is_digit, " , ");
    // Single quotes become an apostrophe, an en dash a hyphen; double quotes a lone '"' below.
    let s: Vec<char> = s
        .into_iter()
        .map(|c| match c {
            '`' | '\u{2018}' | '\u{2019}' => '\'',
            '\u{2013}' => '-',
            c => c,
        })
        .collect();
    let mut quoted = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == '\u{201c}' || s[i] == '\u{201d}' {
            quoted.extend([' ', '"', ' ']);
            i += 1;
        } else if s[i] == '\'' && s.get(i + 1) == Some(&'\'') {
            quoted.extend([' ', '"', ' ']);
            i += 2;
        } else {
            quoted.push(s[i]);
            i += 1;
        }
    }
    // A double hyphen is one, and a hyphen inside a word splits it, so that "high-pitched" can
    // match "high pitched".
    let mut dashed = Vec::with_capacity(quoted.len());
    let mut i = 0;
    while i < quoted.len() {
        if quoted[i] == '-' && quoted.get(i + 1) == Some(&'-') {
            i += 1;
        }
        dashed.push(quoted[i]);
        i += 1;
    }
    let s = replace_around(&dashed, '-', |a| is_alnum(a) || a == '.', is_alnum, " ");
    // Apostrophes: English clitics split to the right ("n't" -> "n 't"), others stand alone.
    let s = replace_around(&s, '\'', |a| !is_alpha(a), |b| !is_alpha(b), " ' ");
    let s = replace_around(&s, '\'', |a| !is_alnum(a), is_alpha, " ' ");
    let s = replace_around(&s, '\'', is_alpha, |b| !is_alpha(b), " ' ");
    let s = replace_around(&s, '\'', is_alpha, is_alpha, " '");
    let s = replace_around(&s, '\'', is_digit, |b| b == 's', " '");
    let text: String = s.into_iter().collect();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, &word) in words.iter().enumerate() {
        let next = words.get(i + 1);
        let Some(stem) = word
            .strip_suffix('.')
            .filter(|stem| !stem.is_empty() && !word.chars().all(|c| c == '.'))
        else {
            out.push(word.to_lowercase());
            continue;
        };
        if stem.contains('.') && stem.chars().any(is_alpha) {
            // "u.s." -> "us"
            out.push(word.replace('.', "").to_lowercase());
        } else if NONBREAKING.contains(&stem)
            || next.is_some_and(|n| n.starts_with(|c: char| c.is_ascii_lowercase()))
            || (NONBREAKING_BEFORE_NUMBER.contains(&stem)
                && next.is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit())))
        {
            out.push(word.to_lowercase());
        } else {
            out.push(stem.to_lowercase());
            out.push(".".into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    /// A toy stemmer: drops a final "s".
    fn toy_stem(w: &str) -> String {
        w.strip_suffix('s').unwrap_or(w).to_string()
    }

    fn aligned(test: &str, reference: &str) -> Alignment {
        align(&words(test), &words(reference), &toy_stem)
    }

    fn exact(test: usize) -> Option<Link> {
        Some(Link {
            test,
            module: Module::Exact,
        })
    }

    fn stem(test: usize) -> Option<Link> {
        Some(Link {
            test,
            module: Module::Stem,
        })
    }

    #[test]
    fn chunks_are_runs_in_order_on_both_sides() {
        let a = aligned("a dog barks", "a dog barks");
        assert_eq!((a.links, a.chunks), (vec![exact(0), exact(1), exact(2)], 1));
        // Swapped halves: two runs.
        let a = aligned("rain falls a dog barks", "a dog barks rain falls");
        assert_eq!(a.chunks, 2);
        // An unmatched reference word between matches breaks the run, as does a gap in the test.
        assert_eq!(aligned("a dog barks", "a big dog barks").chunks, 2);
        assert_eq!(aligned("a big dog barks", "a dog barks").chunks, 2);
        // Reversed order: every word its own chunk.
        assert_eq!(aligned("c b a", "a b c").chunks, 3);
        assert_eq!(aligned("", "a b").chunks, 0);
    }

    #[test]
    fn stems_link_words_that_differ() {
        let a = aligned("dogs bark", "dog barks");
        assert_eq!((a.links, a.chunks), (vec![stem(0), stem(1)], 1));
    }

    #[test]
    fn ties_go_to_fewer_chunks_then_to_the_earlier_candidate() {
        // Expected links as METEOR 1.5 writes them (`-writeAlignments`).
        let a = aligned("the dog dog", "the dog");
        assert_eq!((a.links, a.chunks), (vec![exact(0), exact(1)], 1));
        // The later "dog" keeps the run "dog barks" whole: one chunk beats the nearer word.
        let a = aligned("dog x dog barks", "dog barks");
        assert_eq!((a.links, a.chunks), (vec![exact(2), exact(3)], 1));
        // Equal chunks and credit: the first candidate in METEOR's order wins.
        let a = aligned("dog x dog", "dog");
        assert_eq!(a.links, vec![exact(0)]);
        let a = aligned("x dog y dog", "z dog");
        assert_eq!(a.links, vec![None, exact(1)]);
    }

    #[test]
    fn stem_links_earn_no_credit_in_the_search() {
        // "bark" ~ "barks" would add a match but also a chunk; with no credit for it, fewer
        // chunks win and "bark" stays unlinked, as in METEOR 1.5.
        let a = aligned("a dog barks and barks", "a bark dog");
        assert_eq!((a.links, a.chunks), (vec![exact(0), None, exact(1)], 2));
    }

    #[test]
    fn the_last_ranking_comes_before_the_last_chunk_is_closed() {
        // [dog->dog, unlinked] and [dog->dogs, dog->dog] tie on credit (stems earn none) and
        // finish with one chunk each; METEOR 1.5 ranks them while the second's chunk is still
        // open, so the second, with both words linked, wins.
        let a = aligned("dogs dog", "dog dog");
        assert_eq!((a.links, a.chunks), (vec![stem(0), exact(1)], 1));
    }

    #[test]
    fn the_normalizer_splits_as_meteor_does() {
        let n = |s: &str| normalize(s).join(" ");
        assert_eq!(n("a man 's dog wo n't bark"), "a man ' s dog wo n 't bark");
        assert_eq!(
            n("high-pitched a-b-c u.s.-based"),
            "high pitched a b-c us based"
        );
        assert_eq!(n("x...y 1,000 a,b 5:30"), "x ... y 1,000 a , b 5 : 30");
        assert_eq!(n("mr. smith talks to mr."), "mr. smith talks to mr .");
        assert_eq!(n("Rain !! -lrb- x -rrb-"), "rain ! ! -lrb- x -rrb-");
    }

    #[test]
    fn scores_follow_meteor_on_small_cases() {
        let s = |c: &str, r: &[&str]| {
            let refs = vec![r.iter().map(|x| x.to_string()).collect()];
            meteor(&[c.to_string()], &refs).0
        };
        assert_eq!(s("a dog barks", &["a dog barks"]), 1.0);
        assert_eq!(s("", &["a dog barks"]), 0.0);
        assert_eq!(s("cats", &["a dog barks"]), 0.0);
        // The better reference counts.
        assert!(s("a dog barks", &["rain", "a dog barks"]) == 1.0);
    }
}
