//! Character classes: the single-character tests the token patterns are built from.

pub(super) fn letter(c: char) -> bool {
    // Letters in Java's sense: no Roman numerals (letter numbers), nothing beyond the BMP.
    (c.is_alphabetic() && (c as u32) <= 0xFFFF && !('\u{2160}'..='\u{2188}').contains(&c))
        || c == '\u{AD}'
}
pub(super) fn digit(c: char) -> bool {
    c.is_ascii_digit() || ('\u{FF10}'..='\u{FF19}').contains(&c)
}
pub(super) fn letter_or_digit(c: char) -> bool {
    letter(c) || digit(c)
}
pub(super) fn ascii_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
}
pub(super) fn ascii_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}
pub(super) fn not_ascii_letter(c: char) -> bool {
    !c.is_ascii_alphabetic()
}
pub(super) fn not_ascii_alnum(c: char) -> bool {
    !c.is_ascii_alphanumeric()
}
pub(super) fn any(_: char) -> bool {
    true
}
fn space(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\u{A0}' | '\u{2000}'..='\u{200A}' | '\u{3000}'
    )
}
fn newline(c: char) -> bool {
    matches!(
        c,
        '\r' | '\n' | '\u{2028}' | '\u{2029}' | '\u{B}' | '\u{C}' | '\u{85}'
    )
}
pub(super) fn space_or_newline(c: char) -> bool {
    space(c) || newline(c)
}
pub(super) fn uppercase(c: char) -> bool {
    c.is_uppercase()
}
/// Apostrophes proper.
pub(super) fn apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{92}' | '\u{2019}')
}
/// Apostrophes and the marks typed in their place inside words.
pub(super) fn apostrophe_like(c: char) -> bool {
    apostrophe(c) || matches!(c, '`' | '\u{91}' | '\u{2018}' | '\u{201B}')
}
pub(super) fn quote_mark(c: char) -> bool {
    matches!(
        c,
        '`' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{201C}' | '\u{201D}' | '\u{91}'
            ..='\u{94}' | '\u{201E}' | '\u{201F}' | '\u{2039}' | '\u{203A}' | '\u{AB}' | '\u{BB}'
    )
}
pub(super) fn dash(c: char) -> bool {
    matches!(
        c,
        '\u{96}' | '\u{97}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
    )
}
pub(super) fn hyphen(c: char) -> bool {
    matches!(c, '-' | '_' | '\u{58A}' | '\u{2010}' | '\u{2011}')
}
pub(super) fn word_joiner(c: char) -> bool {
    matches!(c, '.' | '!' | '?')
}
pub(super) fn in_sentence_punct(c: char) -> bool {
    matches!(c, ',' | ';' | ':' | '\u{3001}')
}
pub(super) fn number_joiner(c: char) -> bool {
    matches!(c, '.' | ':' | ',' | '\u{AD}' | '\u{66B}' | '\u{66C}')
}
pub(super) fn vowel_y(c: char) -> bool {
    "aeiouyAEIOUY".contains(c)
}
pub(super) fn vowel_or_upper(c: char) -> bool {
    "aeiou".contains(c) || c.is_ascii_uppercase()
}
/// Initials that may start an apostrophe word such as `O'Neill` (not I or Y).
pub(super) fn apostrophe_initial(c: char) -> bool {
    matches!(c, 'A'..='H' | 'J'..='X' | 'Z' | 'n')
}
pub(super) fn elision_letter(c: char) -> bool {
    "dDoOlL".contains(c)
}
pub(super) fn french_letter(c: char) -> bool {
    "lLdDjJ".contains(c)
}
/// Letters that can end the word before `n't` (not n).
pub(super) fn before_nt(c: char) -> bool {
    c.is_ascii_alphabetic() && c != 'n' && c != 'N'
}
pub(super) fn superscript(c: char) -> bool {
    matches!(
        c,
        '\u{2070}' | '\u{B9}' | '\u{B2}' | '\u{B3}' | '\u{2074}'..='\u{2079}'
    )
}
pub(super) fn subscript(c: char) -> bool {
    ('\u{2080}'..='\u{2089}').contains(&c)
}
pub(super) fn script_sign(c: char) -> bool {
    matches!(c, '\u{207A}' | '\u{207B}' | '\u{208A}' | '\u{208B}')
}
pub(super) fn vulgar_fraction(c: char) -> bool {
    matches!(c, '\u{BC}' | '\u{BD}' | '\u{BE}' | '\u{2153}'..='\u{215E}')
}
pub(super) fn currency(c: char) -> bool {
    matches!(
        c,
        '\u{A2}'
            | '\u{A3}'
            | '\u{A4}'
            | '\u{A5}'
            | '\u{80}'
            | '\u{20A0}'
            | '\u{20AC}'
            | '\u{60B}'
            | '\u{E3F}'
            | '\u{20A4}'
            | '\u{FFE0}'
            | '\u{FFE1}'
            | '\u{FFE5}'
            | '\u{FFE6}'
    )
}
pub(super) fn ascii_upper(c: char) -> bool {
    c.is_ascii_uppercase()
}
pub(super) fn sgml_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_:.-".contains(c)
}
pub(super) fn sgml_decl_char(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '-'
}
pub(super) fn not_sgml_end(c: char) -> bool {
    !matches!(c, '>' | '\r' | '\n')
}
pub(super) fn not_single_quote(c: char) -> bool {
    c != '\''
}
pub(super) fn not_double_quote(c: char) -> bool {
    c != '"'
}
pub(super) fn smiley_eyes(c: char) -> bool {
    matches!(c, ':' | ';' | '=')
}
pub(super) fn smiley_nose(c: char) -> bool {
    matches!(c, '-' | 'o' | '*' | '\'')
}
pub(super) fn smiley_mouth(c: char) -> bool {
    "()DPdpO\\{@|[]".contains(c)
}
pub(super) fn angle(c: char) -> bool {
    c == '<' || c == '>'
}
pub(super) fn not_space_after_quote(c: char) -> bool {
    !matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{A0}')
}
/// Symbols that stand alone as tokens.
pub(super) fn symbol(c: char) -> bool {
    matches!(c,
        '+' | '%' | '&' | '~' | '^' | '|' | '\\'
        | '\u{A6}'..='\u{A9}' | '\u{AC}' | '\u{AE}'..='\u{BA}' | '\u{D7}' | '\u{F7}'
        | '\u{387}' | '\u{1FBD}' | '\u{2016}' | '\u{2017}' | '\u{2020}'..='\u{2023}'
        | '\u{2030}'..='\u{2038}' | '\u{203B}' | '\u{203E}'..='\u{2042}' | '\u{2044}'
        | '\u{207A}'..='\u{207F}' | '\u{208A}'..='\u{208E}' | '\u{2100}'..='\u{214F}'
        | '\u{2190}'..='\u{21FF}' | '\u{2200}'..='\u{2BFF}' | '\u{3012}' | '\u{30FB}'
        | '\u{FF01}'..='\u{FF0F}' | '\u{FF1A}'..='\u{FF20}' | '\u{FF3B}'..='\u{FF40}'
        | '\u{FF5B}'..='\u{FF65}')
}
pub(super) fn skipped(c: char) -> bool {
    space_or_newline(c) || matches!(c, '\0' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{FEFF}')
}

/// Characters that end a URL or an e-mail address.
fn url_stop(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\u{C}' | '\r' | '"' | '<' | '>' | '|' | '(' | ')' | '{' | '}'
    )
}
pub(super) fn url_char(c: char) -> bool {
    !url_stop(c)
}
pub(super) fn url_last_char(c: char) -> bool {
    !url_stop(c) && !matches!(c, '.' | '!' | '?' | ',' | '-')
}
pub(super) fn url_path_char(c: char) -> bool {
    !matches!(
        c,
        ' ' | '\t' | '\n' | '\u{C}' | '\r' | '"' | '<' | '>' | '|' | '(' | ')'
    )
}
pub(super) fn host_char(c: char) -> bool {
    !url_stop(c) && !matches!(c, '.' | '!' | '?' | ',')
}
/// A host name part before `.com` and the like: no quotes, and (as the Java lexer has it) no
/// character from `,` to `_`, which leaves out digits and capitals.
pub(super) fn bare_host_char(c: char) -> bool {
    host_char(c) && !matches!(c, '`' | '\'' | '$' | ','..='_')
}
pub(super) fn email_char(c: char) -> bool {
    !url_stop(c) && c != '\u{A0}'
}
pub(super) fn email_host_char(c: char) -> bool {
    email_char(c) && c != '.'
}

/// Letters in the narrower sense of the apostrophe words and hyphenated things (no soft hyphen).
pub(super) fn letter_class(c: char) -> bool {
    c != '\u{AD}' && letter(c)
}
pub(super) fn letter_class_or_digit(c: char) -> bool {
    letter_class(c) || digit(c)
}
