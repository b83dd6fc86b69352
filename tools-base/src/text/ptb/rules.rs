//! The token classes in the order they are tried ([`rules`]), and what each makes of its match
//! ([`Make`]).

use std::sync::OnceLock;

use super::abbreviations::{
    ABBREVIATIONS_BEFORE_LOWER, ABBREVIATIONS_BEFORE_NUMBER, ABBREVIATIONS_BEFORE_UPPER,
    CAPITALIZED_BEFORE_LOWER, SENTENCE_STARTS,
};
use super::chars::{
    angle, any, apostrophe, ascii_letter, ascii_upper, before_nt, currency, dash, digit,
    in_sentence_punct, letter, letter_class, not_ascii_alnum, not_ascii_letter,
    not_space_after_quote, number_joiner, quote_mark, script_sign, skipped, smiley_eyes,
    smiley_mouth, smiley_nose, space_or_newline, subscript, superscript, symbol, uppercase,
    vulgar_fraction,
};
use super::pattern::Pat::{self, Alt, Class, Lit, Seq};
use super::pattern::{ch, opt, plus, rep, star, words, Node};
use super::shapes::{
    ampersand_word, apostrophe_word, capitalized, clitic, digits, email, hyphenated, initials,
    negation, sgml, slashed, thing, url, word,
};

/// What a matched token becomes.
#[derive(Clone, Copy)]
pub(super) enum Make {
    /// The text as it is, soft hyphens removed.
    Text,
    /// A fixed token.
    Fixed(&'static str),
    /// Quotes as LaTeX writes them, a closing one for an ambiguous ASCII quote.
    Quote,
    /// An opening quote.
    OpenQuote,
    /// The first `n` characters less than the match; the rest is read again.
    Keep(usize),
    /// Spaces inside the token become no-break spaces (fractions, SGML tags).
    NoBreak,
    /// A vulgar fraction spelled with a slash.
    Fraction,
    /// Cents, pounds and euros as the old Wall Street Journal text wrote them.
    Currency,
    /// Brackets inside an emoticon escaped.
    Emoticon,
    /// An abbreviation with its period that also ends the sentence: the token, then the period
    /// read again.
    AgainPeriod,
    /// An acronym ending a sentence: a lone letter gives up its period, a longer one keeps it;
    /// the period is then read again.
    Acronym,
    /// Nothing (space).
    Skip,
}

pub(super) struct Rule {
    pub(super) token: Node,
    /// Text that must follow the token (not consumed).
    pub(super) context: Option<Node>,
    pub(super) make: Make,
}

fn rule(token: Pat, make: Make) -> Rule {
    Rule {
        token: token.compile(),
        context: None,
        make,
    }
}
fn rule_before(token: Pat, context: Pat, make: Make) -> Rule {
    Rule {
        token: token.compile(),
        context: Some(context.compile()),
        make,
    }
}

/// The token classes, first to last (see the module doc of `ptb`).
pub(super) fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        use Make::*;
        let number = || {
            Seq(vec![
                opt(Alt(vec![Lit("-"), Lit("+")])),
                Alt(vec![
                    plus(ch(digit)),
                    Seq(vec![
                        star(ch(digit)),
                        plus(Seq(vec![ch(number_joiner), plus(ch(digit))])),
                    ]),
                ]),
            ])
        };
        let before_lower = || {
            Seq(vec![
                Alt(vec![
                    words(ABBREVIATIONS_BEFORE_LOWER),
                    Alt(CAPITALIZED_BEFORE_LOWER
                        .iter()
                        .map(|w| capitalized(w))
                        .collect()),
                ]),
                Lit("."),
            ])
        };
        let period_before_punct = |p: Pat| Seq(vec![p, Lit(".")]);
        let sentence_end = || {
            Seq(vec![
                ch(space_or_newline),
                Alt(vec![ch(space_or_newline), ch(uppercase), sgml()]),
            ])
        };
        let quote_pair = || {
            Alt(vec![
                Lit("''"),
                ch(apostrophe),
                rep(ch(quote_mark), 1, Some(2)),
            ])
        };
        vec![
            rule(Alt(vec![Lit("c++"), Lit("c#"), Lit("f#")]), Text),
            rule(Lit("cannot"), Keep(3)),
            rule(Lit("'twas"), Keep(3)),
            rule(Lit("'tis"), Keep(2)),
            rule(
                words(&["gonna", "gotta", "lemme", "gimme", "wanna"]),
                Keep(2),
            ),
            rule(sgml(), NoBreak),
            rule(ch(dash), Fixed("--")),
            rule_before(word(), clitic(), Text),
            rule_before(
                Seq(vec![
                    star(Class(|c| c.is_ascii_alphabetic() || c == '\u{AD}')),
                    ch(before_nt),
                    star(Lit("\u{AD}")),
                ]),
                negation(),
                Text,
            ),
            rule(word(), Text),
            rule(apostrophe_word(), Text),
            rule_before(
                Seq(vec![Lit("y"), ch(apostrophe)]),
                Class(letter_class),
                Text,
            ),
            rule(url(), Text),
            rule(email(), Text),
            rule(
                Alt(vec![
                    Seq(vec![
                        Lit("@"),
                        Class(|c| c.is_ascii_alphabetic() || c == '_'),
                        star(Class(|c| c.is_ascii_alphanumeric() || c == '_')),
                    ]),
                    Seq(vec![Lit("#"), plus(ch(letter))]),
                ]),
                Text,
            ),
            rule_before(clitic(), ch(not_ascii_letter), Quote),
            rule_before(negation(), ch(not_ascii_letter), Quote),
            rule(
                Seq(vec![
                    digits(1, 2),
                    Alt(vec![Lit("-"), Lit("/")]),
                    digits(1, 2),
                    Alt(vec![Lit("-"), Lit("/")]),
                    digits(2, 4),
                ]),
                Text,
            ),
            rule(number(), Text),
            rule(
                Seq(vec![
                    opt(ch(script_sign)),
                    Alt(vec![plus(ch(superscript)), plus(ch(subscript))]),
                ]),
                Text,
            ),
            rule(
                Seq(vec![
                    opt(Seq(vec![
                        digits(1, 4),
                        Alt(vec![Lit("-"), Lit(" "), Lit("\u{A0}")]),
                    ])),
                    digits(1, 4),
                    Alt(vec![Seq(vec![opt(Lit("\\")), Lit("/")]), Lit("\u{2044}")]),
                    digits(1, 4),
                ]),
                NoBreak,
            ),
            rule(ch(vulgar_fraction), Fraction),
            rule(
                Alt(vec![
                    Seq(vec![
                        Lit("-"),
                        words(&["RRB", "LRB", "RCB", "LCB", "RSB", "LSB"]),
                        Lit("-"),
                    ]),
                    words(&["C.D.s", "pro-", "anti-", "S&P-500", "S&Ls"]),
                    Seq(vec![Lit("Cap"), ch(apostrophe), Lit("n")]),
                    Seq(vec![Lit("c"), ch(apostrophe), Lit("est")]),
                ]),
                Text,
            ),
            rule(slashed(), Text),
            rule(
                Alt(vec![Seq(vec![star(ch(ascii_upper)), Lit("$")]), Lit("#")]),
                Text,
            ),
            rule(ch(currency), Currency),
            rule_before(
                Seq(vec![initials(), Lit(".")]),
                Seq(vec![
                    plus(ch(space_or_newline)),
                    Alt(vec![
                        Alt(SENTENCE_STARTS.iter().map(|w| capitalized(w)).collect()),
                        sgml(),
                    ]),
                    ch(space_or_newline),
                ]),
                Acronym,
            ),
            rule_before(
                Seq(vec![words(ABBREVIATIONS_BEFORE_NUMBER), Lit(".")]),
                Seq(vec![opt(ch(space_or_newline)), ch(digit)]),
                Text,
            ),
            rule_before(before_lower(), sentence_end(), AgainPeriod),
            rule_before(before_lower(), Seq(vec![ch(any), ch(any)]), Text),
            rule(before_lower(), AgainPeriod),
            rule(
                Seq(vec![
                    Alt(vec![
                        words(ABBREVIATIONS_BEFORE_UPPER),
                        capitalized("Miss"),
                        initials(),
                    ]),
                    Lit("."),
                ]),
                Text,
            ),
            rule_before(
                Seq(vec![ch(apostrophe), digits(2, 2)]),
                ch(space_or_newline),
                Text,
            ),
            rule_before(period_before_punct(word()), ch(in_sentence_punct), Text),
            rule_before(
                Lit("\""),
                Class(|c| c.is_ascii_alphanumeric() || c == '$'),
                OpenQuote,
            ),
            rule(Lit("\""), Quote),
            rule(Lit("\u{7F}"), Skip),
            rule(ch(angle), Text),
            rule_before(
                Seq(vec![
                    opt(ch(angle)),
                    ch(smiley_eyes),
                    opt(ch(smiley_nose)),
                    ch(smiley_mouth),
                ]),
                ch(not_ascii_alnum),
                Emoticon,
            ),
            rule(Lit("{"), Fixed("-LCB-")),
            rule(Lit("}"), Fixed("-RCB-")),
            rule(Lit("["), Fixed("-LSB-")),
            rule(Lit("]"), Fixed("-RSB-")),
            rule(Lit("("), Fixed("-LRB-")),
            rule(Lit(")"), Fixed("-RRB-")),
            rule(plus(Lit("-")), Text), // three or four become "--" (see `make`)
            rule(
                Alt(vec![
                    rep(Lit("."), 3, Some(5)),
                    Seq(vec![
                        rep(
                            Seq(vec![Lit("."), Alt(vec![Lit(" "), Lit("\u{A0}")])]),
                            2,
                            Some(4),
                        ),
                        Lit("."),
                    ]),
                    Lit("\u{85}"),
                    Lit("\u{2026}"),
                ]),
                Fixed("..."),
            ),
            rule(
                Alt(vec![plus(Lit("@")), plus(Lit("#")), plus(Lit("_"))]),
                Text,
            ),
            rule(Alt(vec![plus(Lit("*")), rep(Lit("\\*"), 1, Some(3))]), Text),
            rule(ch(in_sentence_punct), Text),
            rule(plus(Class(|c| c == '?' || c == '!')), Text),
            rule(
                Class(|c| {
                    matches!(
                        c,
                        '.' | '\u{A1}'
                            | '\u{BF}'
                            | '\u{37E}'
                            | '\u{589}'
                            | '\u{61F}'
                            | '\u{6D4}'
                            | '\u{700}'
                            ..='\u{702}' | '\u{7FA}' | '\u{3002}'
                    )
                }),
                Text,
            ),
            rule(Lit("="), Text),
            rule(Lit("/"), Text),
            rule_before(
                period_before_punct(hyphenated()),
                ch(in_sentence_punct),
                Text,
            ),
            rule(hyphenated(), Text),
            rule_before(period_before_punct(thing()), ch(in_sentence_punct), Text),
            rule(thing(), Text),
            rule_before(
                period_before_punct(ampersand_word()),
                ch(in_sentence_punct),
                Text,
            ),
            rule(ampersand_word(), Text),
            rule_before(
                Lit("'"),
                Seq(vec![ch(ascii_letter), ch(not_space_after_quote)]),
                OpenQuote,
            ),
            rule(clitic(), Quote),
            rule(negation(), Quote),
            rule(quote_pair(), Quote),
            rule(Alt(vec![Lit("<<"), Lit(">>")]), Text),
            rule(ch(symbol), Text),
            rule(ch(skipped), Skip),
        ]
    })
}
