//! The lexer: the longest match of the token classes at each point of the text, turned into
//! tokens.

use super::chars::skipped;
use super::rules::{rules, Make};

/// LaTeX-style quotes: `` ` `` and ``` `` ``` open, `'` and `''` close.
fn latex_quotes(token: &str, open: bool) -> String {
    let mut out = String::new();
    for c in token.chars() {
        match c {
            '\'' => out.push(if open { '`' } else { '\'' }),
            '"' => out.push_str(if open { "``" } else { "''" }),
            '\u{91}' | '\u{2018}' | '\u{201B}' | '\u{2039}' => out.push('`'),
            '\u{92}' | '\u{2019}' | '\u{203A}' => out.push('\''),
            '\u{93}' | '\u{201C}' | '\u{AB}' => out.push_str("``"),
            '\u{94}' | '\u{201D}' | '\u{BB}' => out.push_str("''"),
            c => out.push(c),
        }
    }
    out
}

/// The PTB tokens of a text, in their original case.
pub fn tokens(text: &str) -> Vec<String> {
    // pycocoevalcap puts each caption on a line of its own; the newline ends it.
    let mut s: Vec<char> = text
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    s.push('\n');
    let rules = rules();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        // Quick paths for what most of a caption is: spaces, and plain words followed by one.
        // Every class that could match more than the letters of such a word needs a character
        // other than a letter before the space, except the words `Keep` splits.
        if skipped(s[i]) {
            i += 1;
            continue;
        }
        if s[i].is_ascii_alphabetic() {
            let j = i + s[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            if matches!(s.get(j), Some(' ' | '\n')) {
                let word: String = s[i..j].iter().collect();
                let lower = word.to_ascii_lowercase();
                if !["cannot", "gonna", "gotta", "lemme", "gimme", "wanna"]
                    .contains(&lower.as_str())
                {
                    out.push(word);
                    i = j;
                    continue;
                }
            }
        }
        // The longest match, counting trailing context; the first rule of equals.
        let mut best: Option<(usize, usize, usize)> = None; // (total, rule, token length)
        for (r, rule) in rules.iter().enumerate() {
            if !rule.token.can_start(s[i]) {
                continue;
            }
            let ends = rule.token.ends(&s, &[i]);
            let found = match &rule.context {
                None => ends.last().map(|&e| (e - i, e - i)),
                Some(context) => ends
                    .iter()
                    .rev()
                    .filter_map(|&e| context.ends(&s, &[e]).last().map(|&t| (t - i, e - i)))
                    .max_by_key(|&(total, token)| (total, token)),
            };
            if let Some((total, len)) = found {
                if len > 0 && best.is_none_or(|(t, _, _)| total > t) {
                    best = Some((total, r, len));
                }
            }
        }
        let Some((_, r, len)) = best else {
            // A character no class takes is dropped, as the Java tokenizer drops it.
            i += 1;
            continue;
        };
        let text: String = s[i..i + len].iter().collect();
        let mut next = i + len;
        match rules[r].make {
            Make::Text => {
                if text.chars().all(|c| c == '-') && (3..=4).contains(&len) {
                    out.push("--".into());
                } else {
                    let kept: String = text.chars().filter(|&c| c != '\u{AD}').collect();
                    out.push(if kept.is_empty() { "-".into() } else { kept });
                }
            }
            Make::Fixed(t) => out.push(t.into()),
            Make::Quote => out.push(latex_quotes(&text, false)),
            Make::OpenQuote => out.push(latex_quotes(&text, true)),
            Make::Keep(n) => {
                next = i + len - n;
                out.push(s[i..next].iter().collect());
            }
            Make::NoBreak => out.push(text.replace(' ', "\u{A0}")),
            Make::Fraction => out.push(
                text.replace('\u{BC}', "1/4")
                    .replace('\u{BD}', "1/2")
                    .replace('\u{BE}', "3/4")
                    .replace('\u{2153}', "1/3")
                    .replace('\u{2154}', "2/3"),
            ),
            Make::Currency => out.push(
                text.replace('\u{A2}', "cents")
                    .replace('\u{A3}', "#")
                    .replace(['\u{80}', '\u{A4}', '\u{20A0}', '\u{20AC}'], "$"),
            ),
            Make::Emoticon => out.push(text.replace('(', "-LRB-").replace(')', "-RRB-")),
            Make::AgainPeriod => {
                out.push(text);
                next -= 1;
            }
            Make::Acronym => {
                next -= 1;
                out.push(if len == 2 {
                    s[i..i + 1].iter().collect()
                } else {
                    text
                });
            }
            Make::Skip => {}
        }
        i = next;
    }
    out
}
