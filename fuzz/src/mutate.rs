//! Ways to change an input: byte by byte for any format, field by field for the little-endian
//! numbers of binary headers, and value by value for JSON.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::Value;

/// Values at the edges of what 16- and 32-bit fields hold.
const EDGE_U32: [u32; 12] = [
    0,
    1,
    2,
    7,
    8_000,
    44_100,
    0x7FFF,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
];

/// Numbers at the edges of what a manifest field may hold.
const EDGE_NUMBERS: [f64; 14] = [
    0.0,
    -1.0,
    1.0,
    2.0,
    0.5,
    1e-300,
    65_537.0,
    4_294_967_296.0,
    9_007_199_254_740_993.0,
    18_446_744_073_709_551_615.0,
    1e308,
    -1e308,
    1e9,
    1_099_511_627_776.0,
];

/// One to four byte-level changes: bit flips, edge values written as 16- or 32-bit fields,
/// insertions, deletions, duplications, truncation, or a splice with another corpus input.
/// Offsets favour the first 64 bytes, where headers live.
pub fn bytes(rng: &mut StdRng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let offset = |rng: &mut StdRng, len: usize| -> usize {
            if len == 0 {
                0
            } else if rng.random_bool(0.5) {
                rng.random_range(0..len.min(64))
            } else {
                rng.random_range(0..len)
            }
        };
        match rng.random_range(0..8) {
            0 if !out.is_empty() => {
                let at = offset(rng, out.len());
                out[at] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let value = *EDGE_U32.choose(rng).unwrap();
                let width = if rng.random_bool(0.5) { 2 } else { 4 };
                let at = offset(rng, out.len());
                let bytes = value.to_le_bytes();
                for (i, b) in bytes[..width].iter().enumerate() {
                    if let Some(slot) = out.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            2 => {
                let at = offset(rng, out.len() + 1).min(out.len());
                let n = rng.random_range(1..=64);
                let fresh: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                out.splice(at..at, fresh);
            }
            3 if !out.is_empty() => {
                let at = offset(rng, out.len());
                let end = (at + rng.random_range(1..=256)).min(out.len());
                out.drain(at..end);
            }
            4 if !out.is_empty() => {
                let at = offset(rng, out.len());
                let end = (at + rng.random_range(1..=1024)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.random_range(0..=out.len());
                out.splice(to..to, copy);
            }
            5 if !out.is_empty() => {
                let keep = rng.random_range(0..out.len());
                out.truncate(keep);
            }
            6 => {
                let other = corpus.choose(rng).unwrap();
                let cut = rng.random_range(0..=out.len());
                let from = rng.random_range(0..=other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ if !out.is_empty() => {
                let at = offset(rng, out.len());
                out[at] = *[0u8, 0xFF, 0x7F, 0x80, 1].choose(rng).unwrap();
            }
            _ => out.push(rng.random()),
        }
    }
    out
}

/// JSON inputs: mostly one value replaced by an edge value (or a key removed, or a type
/// changed), sometimes the bytes as [`bytes`] changes them.
pub fn json(rng: &mut StdRng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(input) else {
        return bytes(rng, input, corpus);
    };
    if rng.random_bool(0.15) {
        return bytes(rng, input, corpus);
    }
    for _ in 0..rng.random_range(1..=3) {
        change_one(rng, &mut value);
    }
    serde_json::to_vec(&value).expect("a JSON value serialises")
}

fn change_one(rng: &mut StdRng, value: &mut Value) {
    // Walk down to a random place, stopping early now and then.
    let mut here = value;
    loop {
        let len = match &*here {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if len == 0 || rng.random_bool(0.15) {
            break;
        }
        let i = rng.random_range(0..len);
        if rng.random_bool(0.1) {
            match here {
                Value::Object(m) => {
                    let key = m.keys().nth(i).cloned().unwrap();
                    m.remove(&key);
                }
                Value::Array(a) => {
                    a.remove(i);
                }
                _ => {}
            }
            return;
        }
        here = match here {
            Value::Object(m) => m.values_mut().nth(i).unwrap(),
            Value::Array(a) => &mut a[i],
            _ => unreachable!("only objects and arrays have children"),
        };
    }
    *here = match rng.random_range(0..10) {
        0..=5 => serde_json::json!(*EDGE_NUMBERS.choose(rng).unwrap()),
        6 => serde_json::json!(rng.random_range(-3i64..70_000)),
        7 => Value::String(
            ["", "x", "f32", "int8-dynamic", "[BOS]"]
                .choose(rng)
                .unwrap()
                .to_string(),
        ),
        8 => Value::Null,
        _ => match &*here {
            Value::Array(a) if !a.is_empty() => {
                let mut longer = a.clone();
                longer.push(a[0].clone());
                Value::Array(longer)
            }
            _ => serde_json::json!([]),
        },
    };
}
