use super::tokens;

/// What the Java tokenizer (CoreNLP 3.4.1, `-preserveLines`) writes for each line.
#[test]
fn tokens_are_the_java_tokenizers() {
    for (text, java) in [
        (
            "It's the dogs' bowl: rock'n'roll at 5 o'clock, '90s music, y'all, ma'am.",
            "It 's the dogs ' bowl : rock 'n' roll at 5 o'clock , '90s music , y' all , ma'am .",
        ),
        (
            "I can't, won't -- cannot! Gonna 'tis d'ye",
            "I ca n't , wo n't -- can not ! Gon na 't is d'ye",
        ),
        (
            "A dog\u{2013}a cat \u{2014} a bird \u{2012} a cow (\u{201c}loud\u{201d}) [sic] {x}",
            "A dog -- a cat -- a bird a cow -LRB- `` loud '' -RRB- -LSB- sic -RSB- -LCB- x -RCB-",
        ),
        (
            "Caf\u{e9} 20\u{b0}C: 5\u{20ac}, \u{a3}3, \u{bd} and 5 1/2 cups; 50% of $20 #3",
            "Caf\u{e9} 20 \u{b0} C : 5 $ , # 3 , 1/2 and 5\u{a0}1/2 cups ; 50 % of $ 20 # 3",
        ),
        (
            "Wait... then.. more..... end. Mr. Smith vs. Dr. Who etc. at 6 a.m. plan B. The end",
            "Wait ... then . . more ... end . Mr. Smith vs. Dr. Who etc. at 6 a.m. plan B . The end",
        ),
        (
            "x-ray u.s.-based 9-to-5 1,000-strong and/or km/h AT&T =) :-( \u{bf}que?! c++ <b>",
            "x-ray u.s.-based 9-to-5 1,000-strong and/or km/h AT&T =-RRB- :--LRB- \u{bf} que ?! c++ <b>",
        ),
    ] {
        assert_eq!(tokens(text).join(" "), java, "{text:?}");
    }
    assert!(tokens("").is_empty());
}
