//! Patterns for the token shapes several classes share or that take more than a line to write:
//! words, clitics, initials, SGML tags, apostrophe words, hyphenated and slashed words, URLs and
//! e-mail addresses.

use super::chars::{
    apostrophe, apostrophe_initial, apostrophe_like, ascii_alnum, ascii_letter, ascii_upper,
    bare_host_char, digit, elision_letter, email_char, email_host_char, french_letter, host_char,
    hyphen, letter, letter_class, letter_class_or_digit, letter_or_digit, not_double_quote,
    not_sgml_end, not_single_quote, sgml_decl_char, sgml_name_char, url_char, url_last_char,
    url_path_char, vowel_or_upper, vowel_y, word_joiner,
};
use super::pattern::Pat::{self, Alt, Class, Lit, Seq};
use super::pattern::{ch, opt, plus, rep, star, words};

/// Words: letters and digits, starting with a letter, perhaps joined by `.`, `!` or `?`.
pub(super) fn word() -> Pat {
    Seq(vec![
        ch(letter),
        star(ch(letter_or_digit)),
        star(Seq(vec![
            ch(word_joiner),
            ch(letter),
            star(ch(letter_or_digit)),
        ])),
    ])
}
/// `'s`, `'m`, `'d`, `'re`, `'ve`, `'ll`.
pub(super) fn clitic() -> Pat {
    Seq(vec![
        ch(apostrophe),
        words(&["m", "s", "d", "re", "ve", "ll"]),
    ])
}
/// `n't`.
pub(super) fn negation() -> Pat {
    Seq(vec![Lit("n"), ch(apostrophe_like), Lit("t")])
}
/// Letters separated by periods: `a`, `u.s`, `a.m`.
pub(super) fn initials() -> Pat {
    Seq(vec![
        ch(ascii_letter),
        star(Seq(vec![Lit("."), ch(ascii_letter)])),
    ])
}
fn dotted_initials() -> Pat {
    Seq(vec![
        ch(ascii_letter),
        plus(Seq(vec![Lit("."), ch(ascii_letter)])),
    ])
}
pub(super) fn digits(min: usize, max: usize) -> Pat {
    rep(ch(digit), min, Some(max))
}
/// A word whose first letter must be upper case and the rest in any case.
pub(super) fn capitalized(word: &'static str) -> Pat {
    let (first, rest) = word.split_at(1);
    let first = first.chars().next().expect("a word");
    let upper: fn(char) -> bool = match first {
        'A' => |c| c == 'A',
        'B' => |c| c == 'B',
        'D' => |c| c == 'D',
        'E' => |c| c == 'E',
        'H' => |c| c == 'H',
        'I' => |c| c == 'I',
        'L' => |c| c == 'L',
        'M' => |c| c == 'M',
        'N' => |c| c == 'N',
        'O' => |c| c == 'O',
        'P' => |c| c == 'P',
        'S' => |c| c == 'S',
        'T' => |c| c == 'T',
        'W' => |c| c == 'W',
        'Y' => |c| c == 'Y',
        _ => unreachable!("no such capital in the lists"),
    };
    Seq(vec![ch(upper), Lit(rest)])
}

/// An SGML/HTML tag: `<b>`, `</b>`, `<a href="x">`, `<!-- x >`.
pub(super) fn sgml() -> Pat {
    let name = || Seq(vec![ch(ascii_letter), star(ch(sgml_name_char))]);
    let spaces = || star(Lit(" "));
    let quoted = Alt(vec![
        Seq(vec![Lit("'"), star(ch(not_single_quote)), Lit("'")]),
        Seq(vec![Lit("\""), star(ch(not_double_quote)), Lit("\"")]),
    ]);
    let attribute = Alt(vec![
        name(),
        Seq(vec![name(), spaces(), Lit("="), spaces(), quoted]),
    ]);
    Seq(vec![
        Lit("<"),
        Alt(vec![
            Seq(vec![
                Alt(vec![Lit("!"), Lit("?")]),
                ch(sgml_decl_char),
                star(ch(not_sgml_end)),
            ]),
            Seq(vec![
                name(),
                star(Seq(vec![plus(Lit(" ")), attribute])),
                spaces(),
                opt(Lit("/")),
            ]),
            Seq(vec![Lit("/"), name()]),
        ]),
        spaces(),
        Lit(">"),
    ])
}

/// Words with an apostrophe inside that stay whole (`'n'`, `ma'am`, `'90s`, `O'Neill`).
pub(super) fn apostrophe_word() -> Pat {
    let apos = || ch(apostrophe);
    Alt(vec![
        Seq(vec![apos(), Lit("n"), opt(apos())]),
        Seq(vec![ch(french_letter), apos()]),
        Seq(vec![Lit("Dunkin"), apos()]),
        Seq(vec![Lit("somethin"), apos()]),
        Seq(vec![Lit("ol"), apos()]),
        Seq(vec![apos(), Lit("em")]),
        Seq(vec![
            ch(apostrophe_initial),
            ch(apostrophe_like),
            rep(Class(letter_class), 2, None),
        ]),
        Seq(vec![apos(), Class(|c| ('2'..='9').contains(&c)), Lit("0s")]),
        Seq(vec![apos(), Lit("til"), opt(Lit("l"))]),
        Seq(vec![
            plus(Class(letter_class)),
            ch(vowel_y),
            ch(apostrophe_like),
            ch(vowel_or_upper),
            star(Class(letter_class)),
        ]),
        Seq(vec![apos(), Lit("cause")]),
        Seq(vec![Lit("cont'd"), opt(Lit("."))]),
        words(&[
            "'twas",
            "nor'easter",
            "c'mon",
            "e'er",
            "s'mores",
            "ev'ry",
            "li'l",
            "nat'l",
        ]),
        Seq(vec![Lit("O"), ch(apostrophe_like), Lit("o")]),
    ])
}

/// Letters and digits, hyphenated, perhaps with an elided `o'`, `d'` or `l'` (`o'clock`).
pub(super) fn thing() -> Pat {
    let elided = || {
        opt(Seq(vec![
            ch(elision_letter),
            ch(apostrophe_like),
            ch(letter_class_or_digit),
        ]))
    };
    Seq(vec![
        elided(),
        plus(ch(letter_class_or_digit)),
        star(Seq(vec![
            ch(hyphen),
            elided(),
            plus(ch(letter_class_or_digit)),
        ])),
    ])
}
/// ASCII letters and digits with hyphens, the first part perhaps with periods and commas
/// (`9-to-5`, `1,000-strong`, `u.s.-based`).
pub(super) fn hyphenated() -> Pat {
    Seq(vec![
        ch(ascii_alnum),
        star(Class(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | ',' | '\u{AD}')
        })),
        plus(Seq(vec![
            Lit("-"),
            Alt(vec![
                plus(Class(|c| c.is_ascii_alphanumeric() || c == '\u{AD}')),
                Seq(vec![dotted_initials(), Lit(".")]),
            ]),
        ])),
    ])
}
/// Slashed words: `and/or`, `km/h`, `on-off/in-out`.
pub(super) fn slashed() -> Pat {
    let part = || {
        Seq(vec![
            plus(ch(ascii_alnum)),
            rep(Seq(vec![Lit("-"), plus(ch(ascii_letter))]), 0, Some(2)),
        ])
    };
    Seq(vec![
        part(),
        rep(Seq(vec![opt(Lit("\\")), Lit("/"), part()]), 1, Some(2)),
    ])
}
/// `http://...`, `www.x.org`, `x.com/path`.
pub(super) fn url() -> Pat {
    let path = || {
        opt(Seq(vec![
            Lit("/"),
            plus(ch(url_path_char)),
            ch(url_last_char),
        ]))
    };
    Alt(vec![
        Seq(vec![
            Lit("http"),
            opt(Lit("s")),
            Lit("://"),
            plus(ch(url_char)),
            ch(url_last_char),
        ]),
        Seq(vec![
            Alt(vec![
                Seq(vec![
                    Lit("www."),
                    plus(Seq(vec![plus(ch(host_char)), Lit(".")])),
                    rep(ch(ascii_letter), 2, Some(4)),
                ]),
                Seq(vec![
                    plus(Seq(vec![plus(ch(bare_host_char)), Lit(".")])),
                    words(&["com", "net", "org", "edu"]),
                ]),
            ]),
            path(),
        ]),
    ])
}
/// `someone@example.org`.
pub(super) fn email() -> Pat {
    Seq(vec![
        opt(Lit("<")),
        ch(ascii_alnum),
        star(ch(email_char)),
        Lit("@"),
        star(Seq(vec![plus(ch(email_host_char)), Lit(".")])),
        plus(ch(email_host_char)),
        opt(Lit(">")),
    ])
}
/// Upper-case words joined by `&` or `+`: `AT&T`, `R&B`.
pub(super) fn ampersand_word() -> Pat {
    Seq(vec![
        plus(ch(ascii_upper)),
        plus(Seq(vec![
            Alt(vec![Lit("&"), Lit("+")]),
            plus(ch(ascii_upper)),
        ])),
    ])
}
