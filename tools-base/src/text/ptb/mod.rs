//! The Penn Treebank tokenization that pycocoevalcap 1.2 runs before it scores: Stanford
//! CoreNLP 3.4.1's `PTBTokenizer -preserveLines -lowerCase` with its default options (PTB3
//! escaping of brackets, LaTeX-style quotes, `--` for dashes, `...` for ellipses, no
//! Americanization, `can not`, `gon na` and the like split).
//!
//! Written here from the tokenizer's observed behaviour, checked against the Java tokenizer on
//! every caption of the oracle fixture (`tools-base/tests/fixtures/metrics_oracle.json`). Like the
//! Java lexer, it reads the text left to right and at each point takes the longest token any
//! of its token classes matches, counting the text a class must see after the token (its
//! trailing context); of equally long matches the class listed first wins. The classes, in
//! that order, are in `rules::rules()`.
//!
//! Not covered, because captions do not have them: SGML entities (`&amp;`, `&mdash;`),
//! telephone numbers, file names, Asian emoticons, and the letters and symbols of scripts other
//! than Latin, Greek and Cyrillic beyond what `char::is_alphabetic` says. Digits are ASCII and
//! full-width digits.
//!
//! pycocoevalcap tokenizes all captions of a batch as one text, a caption a line, so a few of
//! the Java tokenizer's decisions at the end of a caption look at the start of the next: a
//! single letter with a period ending a caption (`plan B.`) stays `b.` here but becomes `b`
//! when the next caption starts with one of the words that mark a new sentence ("The", "A",
//! "It", ...); `no.` or `fig.` ending a caption keeps its period when the next caption starts
//! with a digit. Nothing else crosses captions.

mod abbreviations;
mod chars;
mod lexer;
mod pattern;
mod rules;
mod shapes;
#[cfg(test)]
mod tests;

pub use lexer::tokens;
