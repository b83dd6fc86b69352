//! Caption metrics against pycocoevalcap 1.2, through the committed oracle fixture written by
//! `tools/tests/oracle/metrics.py` (the Java PTB tokenizer and the Python scorers).

use earsight_tools::metrics::{bleu, cider_d, rouge_l, tokenize};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metrics_oracle.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tokenization_matches_the_ptb_tokenizer() {
    let f = fixture();
    let mut pairs: Vec<(String, String)> = f["tokenizer_cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
        .collect();
    for case in f["cases"].as_array().unwrap() {
        pairs.push((
            case["candidate"].as_str().unwrap().into(),
            case["candidate_tokens"].as_str().unwrap().into(),
        ));
        for (raw, tok) in strings(&case["references"])
            .into_iter()
            .zip(strings(&case["references_tokens"]))
        {
            pairs.push((raw, tok));
        }
    }
    assert!(pairs.len() > 1000);
    let wrong: Vec<String> = pairs
        .iter()
        .filter(|(raw, expected)| tokenize(raw) != *expected)
        .map(|(raw, expected)| format!("{raw:?}\n  ptb:  {expected}\n  ours: {}", tokenize(raw)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        pairs.len(),
        wrong.join("\n")
    );
}

#[test]
fn scores_match_pycocoevalcap() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 50);
    let ids: Vec<&str> = cases.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let cands: Vec<String> = cases
        .iter()
        .map(|c| tokenize(c["candidate"].as_str().unwrap()))
        .collect();
    let refs: Vec<Vec<String>> = cases
        .iter()
        .map(|c| {
            strings(&c["references"])
                .iter()
                .map(|r| tokenize(r))
                .collect()
        })
        .collect();
    let (b, b_items) = bleu(&cands, &refs);
    let (r, r_items) = rouge_l(&cands, &refs);
    let (c, c_items) = cider_d(&cands, &refs);
    let close = |name: &str, ours: f64, theirs: &Value| {
        let theirs = theirs.as_f64().unwrap();
        assert!(
            (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
            "{name}: {ours} vs {theirs}"
        );
    };
    let corpus = &f["corpus"];
    for k in 0..4 {
        close(
            &format!("BLEU-{}", k + 1),
            b[k],
            &corpus[format!("BLEU-{}", k + 1)],
        );
    }
    close("ROUGE-L", r, &corpus["ROUGE-L"]);
    close("CIDEr-D", c, &corpus["CIDEr-D"]);
    for (i, id) in ids.iter().enumerate() {
        let theirs = &f["per_case"][id];
        for k in 0..4 {
            close(
                &format!("{id} BLEU-{}", k + 1),
                b_items[i][k],
                &theirs[format!("BLEU-{}", k + 1)],
            );
        }
        close(&format!("{id} ROUGE-L"), r_items[i], &theirs["ROUGE-L"]);
        close(&format!("{id} CIDEr-D"), c_items[i], &theirs["CIDEr-D"]);
    }
}
