//! Scoring captions from any system: candidates `{id, caption}` and references
//! `{id, references: [...]}` as JSON lines in; a report (JSON, a Markdown table, per-item
//! scores) out. The same report the evaluation of a bundle writes, so that earsight and other
//! captioners are compared on equal terms.
//!
//! The scoring group: the captioning metrics ([`metrics`], [`meteor`]), this report, and the
//! evaluation of a bundle on a manifest ([`eval`]). It uses caption text ([`crate::text`]),
//! clips ([`crate::data`]) and the world's class names ([`crate::world`]), and no model or
//! training code.

pub mod eval;
pub mod meteor;
pub mod metrics;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data::read_numbered_json_lines;

use crate::score::meteor::meteor;
use crate::score::metrics::{bleu, cider_d, rouge_l};
use crate::text::tokenize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidateLine {
    id: String,
    caption: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferenceLine {
    id: String,
    references: Vec<String>,
}

/// Reads JSON lines with their line numbers, in file order; an empty file is refused.
fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>> {
    let out = read_numbered_json_lines(path, "valid line")?;
    if out.is_empty() {
        bail!("{}: no lines", path.display());
    }
    Ok(out)
}

/// Candidates and their references, paired by id, in the candidates' order.
pub struct ScoreSet {
    pub ids: Vec<String>,
    pub candidates: Vec<String>,
    pub references: Vec<Vec<String>>,
}

impl ScoreSet {
    /// Reads both files; every candidate needs references and every reference set a candidate.
    pub fn read(candidates: &Path, references: &Path) -> Result<ScoreSet> {
        let mut refs: HashMap<String, (usize, Vec<String>)> = HashMap::new();
        for (line, r) in read_lines::<ReferenceLine>(references)? {
            if r.references.is_empty() {
                bail!(
                    "{}:{line}: id {:?} has no references",
                    references.display(),
                    r.id
                );
            }
            if let Some((first, _)) = refs.insert(r.id.clone(), (line, r.references)) {
                bail!(
                    "{}:{line}: id {:?} already has references on line {first}",
                    references.display(),
                    r.id
                );
            }
        }
        let mut set = ScoreSet {
            ids: Vec::new(),
            candidates: Vec::new(),
            references: Vec::new(),
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (line, c) in read_lines::<CandidateLine>(candidates)? {
            if let Some(first) = seen.insert(c.id.clone(), line) {
                bail!(
                    "{}:{line}: id {:?} already has a caption on line {first}",
                    candidates.display(),
                    c.id
                );
            }
            let Some((_, r)) = refs.remove(&c.id) else {
                bail!(
                    "{}:{line}: id {:?} has no references in {}",
                    candidates.display(),
                    c.id,
                    references.display()
                );
            };
            set.ids.push(c.id);
            set.candidates.push(c.caption);
            set.references.push(r);
        }
        if let Some((id, (line, _))) = refs.into_iter().min_by_key(|(_, (line, _))| *line) {
            bail!(
                "{}:{line}: id {id:?} has references but no caption in {}",
                references.display(),
                candidates.display()
            );
        }
        Ok(set)
    }
}

/// Metric name -> value, in a fixed order.
pub type Scores = BTreeMap<&'static str, f64>;

/// What a scoring run found.
#[derive(Serialize)]
pub struct Report {
    pub items: usize,
    pub scores: Scores,
    /// Metrics not computed, and why.
    pub not_computed: BTreeMap<&'static str, &'static str>,
    /// Metrics that differ from their usual reference implementation, and how.
    pub notes: BTreeMap<&'static str, &'static str>,
    /// How the numbers were computed.
    pub method: &'static str,
}

/// One item's caption and scores.
#[derive(Serialize)]
pub struct ItemScores {
    pub id: String,
    pub caption: String,
    pub scores: Scores,
}

const METHOD: &str = "pycocoevalcap 1.2 definitions: PTB tokenization (lower-cased, punctuation \
     removed), BLEU with the closest reference length over the corpus, ROUGE-L (beta 1.2), \
     CIDEr-D (sigma 6, document frequencies from this set's references); tested equal to \
     pycocoevalcap to 1e-9. METEOR: see its note";

const METEOR_NOTE: &str = "not METEOR 1.5 but a proxy for it: METEOR 1.5's exact and Snowball \
     stem matching, alignment search, scoring and English parameters, without its WordNet \
     synonym and paraphrase matching (their data does not ship) and with our own function-word \
     list; equal to METEOR 1.5 run with the same two matchers at delta 0.5 (where the \
     function-word lists drop out), and on the metric tests' captions 0.006 to 0.007 below full \
     METEOR 1.5 per corpus (per caption 0.03 apart on average, up to 0.57 where only a synonym \
     or paraphrase matches)";

/// Scores every candidate against its references.
pub fn score(set: &ScoreSet) -> (Report, Vec<ItemScores>) {
    let cands: Vec<String> = set.candidates.iter().map(|c| tokenize(c)).collect();
    let refs: Vec<Vec<String>> = set
        .references
        .iter()
        .map(|rs| rs.iter().map(|r| tokenize(r)).collect())
        .collect();
    let (b, b_items) = bleu(&cands, &refs);
    let (r, r_items) = rouge_l(&cands, &refs);
    let (c, c_items) = cider_d(&cands, &refs);
    let (m, m_items) = meteor(&cands, &refs);
    let named = |b: &[f64; 4], r: f64, c: f64, m: f64| -> Scores {
        BTreeMap::from([
            ("BLEU-1", b[0]),
            ("BLEU-2", b[1]),
            ("BLEU-3", b[2]),
            ("BLEU-4", b[3]),
            ("ROUGE-L", r),
            ("CIDEr-D", c),
            ("METEOR", m),
        ])
    };
    let items = set
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| ItemScores {
            id: id.clone(),
            caption: set.candidates[i].clone(),
            scores: named(&b_items[i], r_items[i], c_items[i], m_items[i]),
        })
        .collect();
    let report = Report {
        items: set.ids.len(),
        scores: named(&b, r, c, m),
        not_computed: BTreeMap::from([(
            "SPICE",
            "needs the Stanford CoreNLP models, which SPICE downloads at first use; not \
             available offline",
        )]),
        notes: BTreeMap::from([("METEOR", METEOR_NOTE)]),
        method: METHOD,
    };
    (report, items)
}

/// The report as a Markdown table.
pub fn markdown(report: &Report) -> String {
    let names: Vec<&str> = report.scores.keys().copied().collect();
    let mut md = format!("{} items\n\n| {} |\n|", report.items, names.join(" | "));
    md.push_str(&"---|".repeat(names.len()));
    md.push_str("\n|");
    for v in report.scores.values() {
        md.push_str(&format!(" {v:.4} |"));
    }
    md.push_str("\n\n");
    for (name, note) in &report.notes {
        md.push_str(&format!("- {name}: {note}\n"));
    }
    for (name, why) in &report.not_computed {
        md.push_str(&format!("- {name}: not computed ({why})\n"));
    }
    md.push_str(&format!("\nMethod: {}.\n", report.method));
    md
}

/// The files a report directory holds.
pub const REPORT_FILES: [&str; 3] = ["report.json", "report.md", "items.jsonl"];

/// Writes the report into `dir` (made if missing). Refuses to replace earlier reports unless
/// `force`.
pub fn write_report(dir: &Path, report: &Report, items: &[ItemScores], force: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in REPORT_FILES {
        let path = dir.join(name);
        if path.exists() && !force {
            bail!("{}: exists; pass --force to replace it", path.display());
        }
    }
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("report.json", serde_json::to_string_pretty(report)? + "\n")?;
    write("report.md", markdown(report))?;
    let mut lines = String::new();
    for item in items {
        lines.push_str(&serde_json::to_string(item)?);
        lines.push('\n');
    }
    write("items.jsonl", lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(cands: &str, refs: &str) -> (tempfile::TempDir, Result<ScoreSet>) {
        let dir = tempfile::tempdir().unwrap();
        let (c, r) = (dir.path().join("c.jsonl"), dir.path().join("r.jsonl"));
        std::fs::write(&c, cands).unwrap();
        std::fs::write(&r, refs).unwrap();
        let set = ScoreSet::read(&c, &r);
        (dir, set)
    }

    fn error(cands: &str, refs: &str) -> String {
        format!("{:#}", files(cands, refs).1.err().expect("should fail"))
    }

    #[test]
    fn faults_name_the_file_and_line() {
        let refs = "{\"id\": \"a\", \"references\": [\"a dog barks\"]}\n";
        let e = error("{\"id\": \"a\", \"caption\": \"x\"}\n{oops\n", refs);
        assert!(e.contains("c.jsonl:2: not a valid line"), "{e}");
        let e = error("{\"id\": \"b\", \"caption\": \"x\"}\n", refs);
        assert!(e.contains("c.jsonl:1: id \"b\" has no references"), "{e}");
        let e = error(
            "{\"id\": \"a\", \"caption\": \"x\"}\n{\"id\": \"a\", \"caption\": \"y\"}\n",
            refs,
        );
        assert!(
            e.contains("c.jsonl:2: id \"a\" already has a caption on line 1"),
            "{e}"
        );
        let two = format!("{refs}{{\"id\": \"z\", \"references\": [\"rain\"]}}\n");
        let e = error("{\"id\": \"a\", \"caption\": \"x\"}\n", &two);
        assert!(
            e.contains("r.jsonl:2: id \"z\" has references but no caption"),
            "{e}"
        );
        let e = error("{\"id\": \"a\", \"text\": \"x\"}\n", refs);
        assert!(e.contains("c.jsonl:1"), "{e}");
    }

    #[test]
    fn a_report_is_written_once_unless_forced() {
        let refs = "{\"id\": \"a\", \"references\": [\"A dog barks.\", \"a dog is barking\"]}\n";
        let (dir, set) = files("{\"id\": \"a\", \"caption\": \"a dog barks\"}\n", refs);
        let (report, items) = score(&set.unwrap());
        assert_eq!(report.items, 1);
        assert!((report.scores["BLEU-1"] - 1.0).abs() < 1e-9);
        let out = dir.path().join("report");
        write_report(&out, &report, &items, false).unwrap();
        let e = write_report(&out, &report, &items, false).unwrap_err();
        assert!(format!("{e:#}").contains("exists; pass --force"), "{e:#}");
        write_report(&out, &report, &items, true).unwrap();
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(md.contains("| BLEU-1 |"), "{md}");
    }
}
