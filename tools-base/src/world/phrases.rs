//! How people say what they hear: for each class, the short clauses human captioners use for
//! it ("a dog barks", "a dog is barking", "a baby cries"), mined from caption corpora
//! (AudioCaps, Clotho) by frequency. A mined clause must use one of the sound words of the
//! class's written phrases (in any form), and a class the corpora say too little about keeps
//! the phrases written in [`super::CLASSES`].

use std::collections::{BTreeMap, HashMap};

use super::classes::{SourceClass, CLASSES};
use crate::text::tokenize;

/// Words that end a clause rather than describe the sound.
const NOT_A_SOUND: &[&str] = &[
    "is",
    "are",
    "was",
    "and",
    "in",
    "on",
    "the",
    "a",
    "an",
    "with",
    "while",
    "as",
    "of",
    "at",
    "then",
    "from",
    "to",
    "by",
    "that",
    "this",
    "its",
    "his",
    "her",
    "their",
    "some",
    "being",
    "has",
    "gets",
    "goes",
    "continues",
    "starts",
    "begins",
    "stops",
    "seems",
    "sounds",
    "makes",
    "passes",
    "comes",
    "nearby",
    "close",
    "far",
    "followed",
    "this",
    "there",
    "s",
];

/// Phrasings per class, best first.
pub struct Phrasebook {
    heard: HashMap<&'static str, Vec<String>>,
}

fn sound_word(w: &str) -> bool {
    !NOT_A_SOUND.contains(&w)
        && w.len() > 3
        && (w.ends_with('s') || w.ends_with("ing") || w.ends_with("ed"))
        && w.chars().all(|c| c.is_ascii_lowercase())
}

/// The sound words of a class's written phrases ("barks", "barking").
pub fn sound_words(class: &SourceClass) -> Vec<&'static str> {
    class
        .heard
        .iter()
        .flat_map(|p| p.split(' '))
        .filter(|w| sound_word(w))
        .collect()
}

/// The beginnings of a class's sound words ("bar" of "barks"): a mined clause must use one of
/// them, so that "a baby laughs" is not taken for a crying baby.
fn sound_stems(class: &SourceClass) -> Vec<&'static str> {
    sound_words(class).into_iter().map(|w| &w[..3]).collect()
}

fn names_other_class(phrase: &str, class: &SourceClass) -> bool {
    let padded = format!(" {phrase} ");
    CLASSES
        .iter()
        .filter(|c| c.name != class.name)
        .any(|c| c.names.iter().any(|n| padded.contains(&format!(" {n} "))))
}

impl Phrasebook {
    /// The built-in phrases only.
    pub fn builtin() -> Phrasebook {
        Phrasebook {
            heard: HashMap::new(),
        }
    }

    /// Mines up to `per_class` clauses per class, each said at least `min_count` times: a
    /// determiner, the class's name, then a sound verb (`a dog barks`) or `is`/`are` and one
    /// (`a dog is barking`).
    pub fn mine(captions: &[String], per_class: usize, min_count: usize) -> Phrasebook {
        let mut counts: HashMap<&'static str, BTreeMap<String, usize>> = HashMap::new();
        for caption in captions {
            let tokens: Vec<String> = tokenize(caption).split(' ').map(String::from).collect();
            for (i, word) in tokens.iter().enumerate() {
                let Some(class) = CLASSES.iter().find(|c| c.names.contains(&word.as_str())) else {
                    continue;
                };
                let det = match i.checked_sub(1).map(|j| tokens[j].as_str()) {
                    Some("the") => "the",
                    Some("a" | "an") if word.starts_with(['a', 'e', 'i', 'o', 'u']) => "an",
                    Some("a" | "an") => "a",
                    _ => continue,
                };
                let next = tokens.get(i + 1).map(String::as_str);
                let after = tokens.get(i + 2).map(String::as_str);
                let stems = sound_stems(class);
                let fits = |v: &str| {
                    sound_word(v)
                        && !class.names.contains(&v)
                        && stems.iter().any(|s| v.starts_with(s))
                };
                let phrase = match (next, after) {
                    (Some(aux @ ("is" | "are")), Some(v)) if v.ends_with("ing") && fits(v) => {
                        format!("{det} {word} {aux} {v}")
                    }
                    (Some(v), _) if fits(v) => format!("{det} {word} {v}"),
                    _ => continue,
                };
                if !names_other_class(&phrase, class) {
                    *counts
                        .entry(class.name)
                        .or_default()
                        .entry(phrase)
                        .or_insert(0) += 1;
                }
            }
        }
        let heard = counts
            .into_iter()
            .map(|(class, phrases)| {
                let mut ranked: Vec<(String, usize)> = phrases
                    .into_iter()
                    .filter(|(_, n)| *n >= min_count)
                    .collect();
                ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                (
                    class,
                    ranked.into_iter().take(per_class).map(|(p, _)| p).collect(),
                )
            })
            .collect();
        Phrasebook { heard }
    }

    /// How the class may be said to sound: mined phrases when there are any, else the
    /// built-in ones.
    pub fn heard(&self, class: &SourceClass) -> Vec<String> {
        match self.heard.get(class.name) {
            Some(mined) if !mined.is_empty() => mined.clone(),
            _ => class.heard.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_are_mined_by_frequency_and_keep_to_their_class() {
        let corpus: Vec<String> = [
            "A dog barks in the distance",
            "A dog barks while a man talks",
            "A dog is barking loudly.",
            "a dog is barking and a car horn honks",
            "The dog whimpers",
            "A dog and a cat",
            "A baby cries as a dog barks",
            "A baby cries",
            "A baby laughs",
            "A baby laughs and giggles",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let book = Phrasebook::mine(&corpus, 5, 2);
        let dog = CLASSES.iter().find(|c| c.name == "dog_bark").unwrap();
        assert_eq!(book.heard(dog), ["a dog barks", "a dog is barking"]);
        let baby = CLASSES.iter().find(|c| c.name == "baby_cry").unwrap();
        assert_eq!(book.heard(baby), ["a baby cries"]);
        let rain = CLASSES.iter().find(|c| c.name == "rain").unwrap();
        assert_eq!(book.heard(rain).len(), rain.heard.len(), "built-in phrases");
    }
}
