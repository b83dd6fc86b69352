//! Tag guidance: the tagger's scores steer the caption decoder's choice of the words that name
//! sources. Each guided word's log-probability gains `weight * ln(score / typical)` of the tag it
//! names, where `typical` is the tag's usual score on validation audio: a word for a sound the
//! tagger hears more than usual is pushed up, one for a sound it hears less than usual is pushed
//! down, and a tag the tagger scores alike on everything (a sound it cannot hear) steers nothing.
//! It is a product of the decoder's probabilities and the tagger's likelihood ratios, the latter
//! raised to `weight`. A veto goes further: the words of a tag scored far below the window's best
//! tag are never said, so a caption names only what the tagger hears most.

use super::search::StepModel;

/// The lowest score guidance takes the logarithm of: a tagger's zero would otherwise forbid a
/// word outright.
const SCORE_FLOOR: f32 = 1e-4;

/// One tag's words, as token ids, and its typical score.
#[derive(Clone, Debug)]
pub struct GuidedTag {
    /// The words the tokenizer has as one whole-word token each: steered and vetoed.
    pub tokens: Vec<u32>,
    /// The first pieces of the words it spells in several pieces ("jack" of "jack ##ham
    /// ##mer"): vetoed, not steered, since a first piece may begin other words.
    pub first_pieces: Vec<u32>,
    pub typical: f32,
}

/// How a token stands for a tag's word.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Spelling {
    Whole,
    FirstPiece,
}

/// The guided words of each tag, in the tagger's tag order.
#[derive(Clone, Debug, Default)]
pub struct TagWords {
    tags: Vec<GuidedTag>,
    /// Each guided token once, with the tags whose word it spells and how.
    token_tags: Vec<(u32, Vec<(usize, Spelling)>)>,
}

impl TagWords {
    /// From each tag's words and typical score, in tag order.
    pub fn new(tags: Vec<GuidedTag>) -> TagWords {
        let mut token_tags: Vec<(u32, Vec<(usize, Spelling)>)> = Vec::new();
        for (i, tag) in tags.iter().enumerate() {
            let whole = tag.tokens.iter().map(|&id| (id, Spelling::Whole));
            let pieces = tag
                .first_pieces
                .iter()
                .map(|&id| (id, Spelling::FirstPiece));
            for (id, spelling) in whole.chain(pieces) {
                match token_tags.iter_mut().find(|(t, _)| *t == id) {
                    // A first piece that is also a whole word of the same tag ("rain" of
                    // "rainy") is that word: steered as it is.
                    Some((_, of)) if of.contains(&(i, Spelling::Whole)) => {}
                    Some((_, of)) => of.push((i, spelling)),
                    None => token_tags.push((id, vec![(i, spelling)])),
                }
            }
        }
        TagWords { tags, token_tags }
    }

    /// Whether any tag has a word to steer.
    pub fn is_empty(&self) -> bool {
        self.token_tags.is_empty()
    }

    /// Each tag's steer for a window it scored `scores` on: `weight * ln(score / typical)`,
    /// both floored at [`SCORE_FLOOR`]. With `veto` above 0, a tag scored below `veto` times the
    /// best score of the tags with words steers its words to negative infinity: never said.
    pub fn steers(&self, scores: &[f32], weight: f32, veto: f32) -> Vec<f32> {
        let best = self
            .tags
            .iter()
            .zip(scores)
            .filter(|(tag, _)| !tag.tokens.is_empty() || !tag.first_pieces.is_empty())
            .map(|(_, &score)| score)
            .fold(0.0, f32::max);
        self.tags
            .iter()
            .zip(scores)
            .map(|(tag, &score)| {
                if veto > 0.0 && score < veto * best {
                    f32::NEG_INFINITY
                } else {
                    weight * (score.max(SCORE_FLOOR).ln() - tag.typical.max(SCORE_FLOOR).ln())
                }
            })
            .collect()
    }
}

/// A step model steered by tags: each word of a tag has the tag's steer added to its logit
/// (the largest over the tags a word names). A tag pushes its words up only until one of them
/// is said, so a heard source is named, not repeated; words pushed down (or vetoed) stay down.
/// The first piece of a word of several pieces is only ever vetoed, with its tag.
pub struct Guided<'a, M> {
    pub model: &'a M,
    pub words: &'a TagWords,
    /// One per tag, from [`TagWords::steers`].
    pub steers: &'a [f32],
}

/// A hypothesis's decoder cache, and which tags it has named.
#[derive(Clone)]
pub struct GuidedCache<C> {
    inner: C,
    named: Vec<bool>,
}

impl<M: StepModel> StepModel for Guided<'_, M> {
    type Cache = GuidedCache<M::Cache>;
    type Error = M::Error;

    fn start(&self) -> Self::Cache {
        GuidedCache {
            inner: self.model.start(),
            named: vec![false; self.words.tags.len()],
        }
    }

    fn step(&self, cache: &mut Self::Cache, token: u32) -> Result<Vec<f32>, Self::Error> {
        let mut logits = self.model.step(&mut cache.inner, token)?;
        if let Some((_, tags)) = self.words.token_tags.iter().find(|(id, _)| *id == token) {
            for &(t, spelling) in tags {
                if spelling == Spelling::Whole {
                    cache.named[t] = true;
                }
            }
        }
        for (id, tags) in &self.words.token_tags {
            let steer = tags
                .iter()
                .map(|&(t, spelling)| {
                    // The tagger scores every tag; a shorter list steers the rest by nothing.
                    let steer = self.steers.get(t).copied().unwrap_or(0.0);
                    match spelling {
                        Spelling::FirstPiece if steer == f32::NEG_INFINITY => steer,
                        Spelling::FirstPiece => 0.0,
                        Spelling::Whole if cache.named[t] => steer.min(0.0),
                        Spelling::Whole => steer,
                    }
                })
                .fold(f32::NEG_INFINITY, f32::max);
            if let Some(l) = logits.get_mut(*id as usize) {
                *l += steer;
            }
        }
        Ok(logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(tokens: Vec<u32>, typical: f32) -> GuidedTag {
        GuidedTag {
            tokens,
            first_pieces: Vec::new(),
            typical,
        }
    }

    /// Always the same logits, whatever came before.
    struct Fixed(Vec<f32>);

    impl StepModel for Fixed {
        type Cache = ();
        type Error = ();
        fn start(&self) {}
        fn step(&self, _: &mut (), _: u32) -> Result<Vec<f32>, ()> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn a_tag_steers_by_its_log_ratio_and_a_typical_score_steers_nothing() {
        let words = TagWords::new(vec![
            tag(vec![1], 0.1),
            tag(vec![2], 0.5),
            tag(vec![3], 0.3),
        ]);
        let steers = words.steers(&[0.5, 0.01, 0.3], 2.0, 0.0);
        assert!((steers[0] - 2.0 * 5f32.ln()).abs() < 1e-5, "{steers:?}");
        assert!((steers[1] - 2.0 * 0.02f32.ln()).abs() < 1e-5, "{steers:?}");
        assert!(steers[2].abs() < 1e-6, "{steers:?}");
        // Zeros are floored, not infinite.
        let steers = words.steers(&[0.0, 1.0, 0.0], 1.0, 0.0);
        assert!(
            (steers[0] - (SCORE_FLOOR / 0.1).ln()).abs() < 1e-5,
            "{steers:?}"
        );
    }

    #[test]
    fn a_veto_silences_the_tags_scored_far_below_the_best_worded_one() {
        // Tag 3 has no words: its high score is not the best a caption could name.
        let words = TagWords::new(vec![
            tag(vec![1], 0.1),
            tag(vec![2], 0.1),
            tag(vec![3], 0.1),
            tag(vec![], 0.1),
        ]);
        let scores = [0.5, 0.2, 0.04, 0.9];
        let steers = words.steers(&scores, 1.0, 0.3);
        assert!((steers[0] - 5f32.ln()).abs() < 1e-5, "{steers:?}");
        assert!((steers[1] - 2f32.ln()).abs() < 1e-5, "{steers:?}");
        assert_eq!(steers[2], f32::NEG_INFINITY);
        // Without guidance a veto still silences, and steers nothing else.
        assert_eq!(
            words.steers(&scores, 0.0, 0.3)[..3],
            [0.0, 0.0, f32::NEG_INFINITY]
        );
        // A word of a vetoed tag and of a heard one stays sayable.
        let shared = TagWords::new(vec![tag(vec![1], 0.1), tag(vec![1, 2], 0.1)]);
        let steers = shared.steers(&[0.5, 0.01], 0.0, 0.3);
        let model = Fixed(vec![0.0; 3]);
        let guided = Guided {
            model: &model,
            words: &shared,
            steers: &steers,
        };
        let logits = guided.step(&mut guided.start(), 0).unwrap();
        assert_eq!(logits, vec![0.0, 0.0, f32::NEG_INFINITY]);
    }

    #[test]
    fn a_first_piece_is_vetoed_with_its_tag_and_otherwise_left_alone() {
        // Tag 0 spells a word as token 1 and another from token 2 on; tag 1 has token 3, and
        // token 2 is also the first piece of a word of tag 1.
        let words = TagWords::new(vec![
            GuidedTag {
                tokens: vec![1],
                first_pieces: vec![2],
                typical: 0.1,
            },
            GuidedTag {
                tokens: vec![3],
                first_pieces: vec![2],
                typical: 0.1,
            },
        ]);
        let model = Fixed(vec![0.0; 4]);
        let logits = |steers: &[f32]| {
            let guided = Guided {
                model: &model,
                words: &words,
                steers,
            };
            guided.step(&mut guided.start(), 0).unwrap()
        };
        // Pushed up or down, a first piece is not steered.
        assert_eq!(logits(&[2.0, -1.0]), vec![0.0, 2.0, 0.0, -1.0]);
        // Vetoed with one tag, it stays sayable for the other; with both, it is never said.
        let never = f32::NEG_INFINITY;
        assert_eq!(logits(&[never, 1.0]), vec![0.0, never, 0.0, 1.0]);
        assert_eq!(logits(&[never, never]), vec![0.0, never, never, never]);
        // A first piece that is a whole word of its own tag too is steered as that word.
        let same = TagWords::new(vec![GuidedTag {
            tokens: vec![1],
            first_pieces: vec![1, 2],
            typical: 0.1,
        }]);
        let steers = [-2.0];
        let guided = Guided {
            model: &model,
            words: &same,
            steers: &steers,
        };
        assert_eq!(
            guided.step(&mut guided.start(), 0).unwrap(),
            vec![0.0, -2.0, 0.0, 0.0]
        );
    }

    #[test]
    fn a_word_of_two_tags_takes_the_larger_steer_and_other_words_none() {
        // Tag 0 names tokens 1 and 2, tag 1 names tokens 2 and 3.
        let words = TagWords::new(vec![tag(vec![1, 2], 0.1), tag(vec![2, 3], 0.1)]);
        let steers = [1.0, -3.0];
        let model = Fixed(vec![0.0; 5]);
        let guided = Guided {
            model: &model,
            words: &words,
            steers: &steers,
        };
        let mut cache = guided.start();
        let logits = guided.step(&mut cache, 0).unwrap();
        assert_eq!(logits, vec![0.0, 1.0, 1.0, -3.0, 0.0]);
    }

    #[test]
    fn a_heard_tag_pushes_its_words_up_until_one_is_said_and_an_unheard_one_always_down() {
        let words = TagWords::new(vec![tag(vec![1, 2], 0.1), tag(vec![3], 0.1)]);
        let steers = [2.0, -2.0];
        let model = Fixed(vec![0.0; 4]);
        let guided = Guided {
            model: &model,
            words: &words,
            steers: &steers,
        };
        let mut cache = guided.start();
        assert_eq!(
            guided.step(&mut cache, 0).unwrap(),
            vec![0.0, 2.0, 2.0, -2.0]
        );
        // Token 2 names tag 0: neither of its words is pushed up any more.
        assert_eq!(
            guided.step(&mut cache, 2).unwrap(),
            vec![0.0, 0.0, 0.0, -2.0]
        );
        assert_eq!(
            guided.step(&mut cache, 3).unwrap(),
            vec![0.0, 0.0, 0.0, -2.0]
        );
        // Another hypothesis keeps its own account.
        let mut other = guided.start();
        assert_eq!(
            guided.step(&mut other, 0).unwrap(),
            vec![0.0, 2.0, 2.0, -2.0]
        );
    }
}
