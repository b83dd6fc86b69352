//! Writing captions: what is heard and what is seen in a scene, each said a few ways, the heard
//! sources in order of onset.

use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::classes::class_named;
use super::phrases;
use super::scene::Placed;

fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn join_phrases(rng: &mut ChaCha8Rng, parts: &[String], linkers: &[&str]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} {} {b}", linkers.choose(rng).expect("linkers")),
        _ => {
            let (last, rest) = parts.split_last().expect("three or more");
            format!("{}, and {last}", rest.join(", "))
        }
    }
}

/// Up to `n` distinct phrasings from `phrase` (a few draws each, as short scenes have few).
fn distinct(n: usize, mut phrase: impl FnMut() -> String) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    for _ in 0..4 * n {
        let p = phrase();
        if !out.contains(&p) {
            out.push(p);
        }
        if out.len() == n {
            break;
        }
    }
    out
}

/// Up to `n` phrasings of what is heard: the heard sources in order of onset.
pub(super) fn audio_captions(
    rng: &mut ChaCha8Rng,
    book: &phrases::Phrasebook,
    sources: &[Placed],
    n: usize,
) -> Vec<String> {
    let mut heard: Vec<&Placed> = sources.iter().filter(|s| s.role.heard()).collect();
    heard.sort_by(|a, b| a.onset.total_cmp(&b.onset));
    distinct(n, || {
        if heard.is_empty() {
            return sentence(
                [
                    "silence",
                    "a quiet room with no sound",
                    "nothing can be heard",
                ]
                .choose(rng)
                .expect("phrases"),
            );
        }
        let parts: Vec<String> = heard
            .iter()
            .map(|s| {
                let said = book.heard(class_named(s.class).expect("placed classes exist"));
                said.choose(rng).expect("phrases").clone()
            })
            .collect();
        sentence(&join_phrases(rng, &parts, &["while", "and", "followed by"]))
    })
}

/// Up to `n` phrasings of what is seen.
pub(super) fn visual_captions(rng: &mut ChaCha8Rng, sources: &[Placed], n: usize) -> Vec<String> {
    let seen: Vec<&Placed> = sources.iter().filter(|s| s.role.seen()).collect();
    distinct(n, || {
        if seen.is_empty() {
            return sentence(
                [
                    "an empty field",
                    "an empty scene outdoors",
                    "a quiet empty landscape",
                ]
                .choose(rng)
                .expect("phrases"),
            );
        }
        let parts: Vec<String> = seen
            .iter()
            .map(|s| {
                let c = class_named(s.class).expect("placed classes exist");
                c.seen.choose(rng).expect("phrases").to_string()
            })
            .collect();
        let prefix = ["", "a picture of ", "a photo of "]
            .choose(rng)
            .expect("prefixes");
        sentence(&format!(
            "{prefix}{}",
            join_phrases(rng, &parts, &["and", "next to", "near"])
        ))
    })
}
