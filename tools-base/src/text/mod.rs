//! Caption text, shared by the world's captions and the metrics: the Stanford PTB tokenizer
//! ([`ptb`]) and the words it leaves once lower-cased and stripped of punctuation
//! ([`tokenize`]), and the caption vocabulary the runtime's tokenizer reads ([`vocab`]).
//! Uses nothing else of the crate.

pub mod ptb;
pub mod vocab;

/// Tokens pycocoevalcap drops after tokenizing. The comparison is case-sensitive and happens
/// after lower-casing, so `-lrb-` (a lower-cased `-LRB-`) stays, as it does there.
const PUNCTUATION: [&str; 17] = [
    "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--",
    "...", ";",
];

/// Lower-cased PTB tokens of a caption, punctuation removed, joined by single spaces (see
/// [`ptb`]).
pub fn tokenize(text: &str) -> String {
    ptb::tokens(text)
        .into_iter()
        // As the Java tokenizer's `-lowerCase` does (`toLowerCase(Locale.ENGLISH)`).
        .map(|t| t.to_lowercase())
        .filter(|t| !PUNCTUATION.contains(&t.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
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
}
