//! The patterns the token classes are written in, and their matcher: [`Pat`] as written,
//! [`Node`] compiled, matched from a set of start positions to every end position reachable.

/// A pattern over characters, as the rules are written; [`Node`] matches it.
pub(super) enum Pat {
    /// One character of a class.
    Class(fn(char) -> bool),
    /// A literal, compared case-insensitively (the Java lexer is caseless outside classes).
    Lit(&'static str),
    Seq(Vec<Pat>),
    Alt(Vec<Pat>),
    /// Between `min` and `max` repetitions (`None`: no upper bound).
    Rep(Box<Pat>, usize, Option<usize>),
}

use Pat::{Alt, Class, Lit, Seq};

pub(super) fn rep(p: Pat, min: usize, max: Option<usize>) -> Pat {
    Pat::Rep(Box::new(p), min, max)
}
pub(super) fn opt(p: Pat) -> Pat {
    rep(p, 0, Some(1))
}
pub(super) fn star(p: Pat) -> Pat {
    rep(p, 0, None)
}
pub(super) fn plus(p: Pat) -> Pat {
    rep(p, 1, None)
}
/// Any one of the literals.
pub(super) fn words(list: &[&'static str]) -> Pat {
    Alt(list.iter().map(|w| Lit(w)).collect())
}

impl Pat {
    /// Whether the pattern matches the empty text.
    fn nullable(&self) -> bool {
        match self {
            Class(_) => false,
            Lit(w) => w.is_empty(),
            Seq(parts) => parts.iter().all(Pat::nullable),
            Alt(options) => options.iter().any(Pat::nullable),
            Pat::Rep(p, min, _) => *min == 0 || p.nullable(),
        }
    }

    /// Whether a match can start with `c`.
    fn can_start(&self, c: char) -> bool {
        match self {
            Class(f) => f(c),
            Lit(w) => w.chars().next().is_some_and(|w| same_caseless(c, w)),
            Seq(parts) => {
                for p in parts {
                    if p.can_start(c) {
                        return true;
                    }
                    if !p.nullable() {
                        return false;
                    }
                }
                false
            }
            Alt(options) => options.iter().any(|p| p.can_start(c)),
            Pat::Rep(p, _, _) => p.can_start(c),
        }
    }

    /// The pattern ready to match: what it can start with and whether it can be empty worked
    /// out once.
    pub(super) fn compile(self) -> Node {
        let nullable = self.nullable();
        let ascii_first = (0..128u8).fold(0u128, |bits, b| {
            if self.can_start(b as char) {
                bits | 1 << b
            } else {
                bits
            }
        });
        let kind = match self {
            Class(f) => Kind::Class(f),
            Lit(w) => Kind::Lit(w),
            Seq(parts) => Kind::Seq(parts.into_iter().map(Pat::compile).collect()),
            Alt(options) => Kind::Alt(options.into_iter().map(Pat::compile).collect()),
            Pat::Rep(p, min, max) => Kind::Rep(Box::new(p.compile()), min, max),
        };
        Node {
            kind,
            nullable,
            ascii_first,
        }
    }
}

/// A compiled [`Pat`].
pub(super) struct Node {
    kind: Kind,
    nullable: bool,
    /// The ASCII characters a match can start with, one bit each.
    ascii_first: u128,
}

enum Kind {
    Class(fn(char) -> bool),
    Lit(&'static str),
    Seq(Vec<Node>),
    Alt(Vec<Node>),
    Rep(Box<Node>, usize, Option<usize>),
}

impl Node {
    pub(super) fn can_start(&self, c: char) -> bool {
        if c.is_ascii() {
            return self.ascii_first & (1 << c as u32) != 0;
        }
        match &self.kind {
            Kind::Class(f) => f(c),
            Kind::Lit(w) => w.chars().next().is_some_and(|w| same_caseless(c, w)),
            Kind::Seq(parts) => {
                for p in parts {
                    if p.can_start(c) {
                        return true;
                    }
                    if !p.nullable {
                        return false;
                    }
                }
                false
            }
            Kind::Alt(options) => options.iter().any(|p| p.can_start(c)),
            Kind::Rep(p, _, _) => p.can_start(c),
        }
    }

    /// End positions reachable from `starts` (sorted, without duplicates).
    pub(super) fn ends(&self, s: &[char], starts: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = match &self.kind {
            Kind::Class(f) => starts
                .iter()
                .filter(|&&i| i < s.len() && f(s[i]))
                .map(|&i| i + 1)
                .collect(),
            Kind::Lit(w) => starts
                .iter()
                .filter_map(|&i| {
                    let mut j = i;
                    for c in w.chars() {
                        if j >= s.len() || !same_caseless(s[j], c) {
                            return None;
                        }
                        j += 1;
                    }
                    Some(j)
                })
                .collect(),
            Kind::Seq(parts) => {
                let mut cur = starts.to_vec();
                for p in parts {
                    if cur.is_empty() {
                        break;
                    }
                    cur = p.ends(s, &cur);
                }
                cur
            }
            Kind::Alt(options) => options
                .iter()
                .filter(|p| p.nullable || starts.iter().any(|&i| i < s.len() && p.can_start(s[i])))
                .flat_map(|p| p.ends(s, starts))
                .collect(),
            Kind::Rep(p, min, max) => {
                let mut out = Vec::new();
                let mut cur = starts.to_vec();
                let mut seen: Vec<usize> = Vec::new();
                let mut n = 0;
                loop {
                    if n >= *min {
                        out.extend(&cur);
                    }
                    if cur.is_empty() || max.is_some_and(|m| n >= m) {
                        break;
                    }
                    // Positions already expanded at or past the minimum add nothing new.
                    if n >= *min {
                        cur.retain(|i| !seen.contains(i));
                        seen.extend(&cur);
                    }
                    cur = p.ends(s, &cur);
                    n += 1;
                }
                out
            }
        };
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn same_caseless(a: char, b: char) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(&b);
    }
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

pub(super) fn ch(c: fn(char) -> bool) -> Pat {
    Class(c)
}
