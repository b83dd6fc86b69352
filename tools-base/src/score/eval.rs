//! Evaluating a bundle on a clip manifest: the runtime captions every clip through its
//! streaming path (one model window per clip, as the model was trained, with the runtime's
//! gate), then the captions are scored against the clips' references ([`crate::score`]); for
//! labelled clips, source recall (the share of audible sources the caption names, through the
//! world's class names and sound words) and, for clips labelled `silence`, false captions; and
//! for every clip, whether its caption speaks of a picture rather than of a sound.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use earsight::stream::{self, Event, GateConfig, Sink};
use earsight::Captioner;
use serde::Serialize;

use crate::data::{Manifest, Split};
use crate::score::{score, ItemScores, Report, ScoreSet};
use crate::text::tokenize;
use crate::world::classes::{class_named, class_of_esc_label, CLASSES};
use crate::world::phrases::sound_words;

/// The label of clips in which nothing should be heard.
pub use crate::world::classes::SILENCE;

/// Words that describe a picture, not a sound: an audio caption should have none (issue 35).
pub const PICTURE_WORDS: &[&str] = &[
    "picture",
    "pictures",
    "image",
    "images",
    "photo",
    "photos",
    "photograph",
    "photographs",
    "drawing",
    "drawings",
];

/// Whether `caption` (PTB-tokenized) has a word of [`PICTURE_WORDS`].
pub fn speaks_of_a_picture(caption: &str) -> bool {
    caption.split(' ').any(|w| PICTURE_WORDS.contains(&w))
}

/// Whether `caption` (PTB-tokenized) names `label`: by the names and sound words of the
/// world's class for it (ESC spellings included), or else by the label's own words.
pub fn names_source(caption: &str, label: &str) -> bool {
    let key = label.to_lowercase().replace([' ', '-'], "_");
    let words: Vec<String> = match class_of_esc_label(&key).and_then(class_named) {
        Some(class) => class
            .names
            .iter()
            .copied()
            .chain(sound_words(class))
            .map(String::from)
            .collect(),
        None => key
            .split('_')
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect(),
    };
    let padded = format!(" {caption} ");
    words.iter().any(|w| padded.contains(&format!(" {w} ")))
}

/// The world class a label stands for (an ESC spelling or a class name), else the label.
fn class_of_label(label: &str) -> String {
    let key = label.to_lowercase().replace([' ', '-'], "_");
    class_of_esc_label(&key).map_or(key, String::from)
}

/// How many world classes `caption` (PTB-tokenized) names, and how many of those one of
/// `labels` stands for: a caption's share in source precision. It names a source the clip
/// lacks when the first is larger.
pub fn named_classes(caption: &str, labels: &[String]) -> (usize, usize) {
    let heard: Vec<String> = labels.iter().map(|l| class_of_label(l)).collect();
    CLASSES
        .iter()
        .filter(|c| names_source(caption, c.name))
        .fold((0, 0), |(named, present), c| {
            (
                named + 1,
                present + usize::from(heard.iter().any(|h| h == c.name)),
            )
        })
}

/// One clip's result.
#[derive(Serialize)]
pub struct ClipResult {
    pub id: String,
    pub audio: PathBuf,
    /// Empty when the gate found the clip silent.
    pub caption: String,
    pub gated: bool,
    pub references: Vec<String>,
    pub labels: Vec<String>,
    /// The labels the caption names.
    pub named: Vec<String>,
    /// The caption names a source class the clip's labels do not have.
    pub names_absent: bool,
    /// World classes the caption names, and of those the ones the clip has.
    pub named_classes: usize,
    pub named_present: usize,
    pub latency_ms: f64,
}

/// What an evaluation found.
#[derive(Serialize)]
pub struct EvalReport {
    pub model: PathBuf,
    pub manifest: PathBuf,
    pub split: Option<Split>,
    pub clips: usize,
    /// Caption metrics over the clips with references (a gated clip counts as an empty
    /// caption).
    pub captions: Option<Report>,
    /// Named sources over audible sources, over clips with labels other than `silence`.
    pub source_recall: Option<f64>,
    /// Of the source classes the captions of labelled clips name (silent clips included), the
    /// share that the clip has; `None` when no caption names one.
    pub source_precision: Option<f64>,
    pub labelled_clips: usize,
    /// Clips labelled `silence` that were captioned anyway, and how many there were.
    pub false_captions_on_silence: usize,
    pub silent_clips: usize,
    /// Labelled clips whose caption names a source class they do not have.
    pub false_source_captions: usize,
    /// Captions, of every clip, that speak of a picture ([`speaks_of_a_picture`]).
    pub picture_captions: usize,
}

struct FirstEvent(Option<Event>);

impl Sink for FirstEvent {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        if self.0.is_none() {
            self.0 = Some(event.clone());
        }
        Ok(())
    }
}

/// Captions every clip of `manifest` (of `split`, when given) with the bundle in `model`.
pub fn evaluate(
    model: &Path,
    manifest: &Manifest,
    split: Option<Split>,
) -> Result<(EvalReport, Vec<ClipResult>, Vec<ItemScores>)> {
    let mut captioner =
        Captioner::open(model).with_context(|| format!("loading bundle {}", model.display()))?;
    let frontend = captioner.bundle().manifest().model.frontend.clone();
    let mut results = Vec::new();
    for clip in manifest
        .clips
        .iter()
        .filter(|c| split.is_none_or(|s| c.split == s))
    {
        let mut first = FirstEvent(None);
        stream::file_windows(
            &mut captioner,
            &frontend,
            &clip.audio,
            &GateConfig::default(),
            f64::INFINITY,
            &mut first,
        )
        .with_context(|| format!("clip {:?}", clip.id))?;
        let (caption, latency_ms) = first
            .0
            .map_or((String::new(), 0.0), |e| (e.caption, e.latency_ms));
        let tokens = tokenize(&caption);
        let (classes, present) = named_classes(&tokens, &clip.labels);
        // Unlabelled clips say nothing of precision.
        let (named_classes, named_present) = if clip.labels.is_empty() {
            (0, 0)
        } else {
            (classes, present)
        };
        let named = clip
            .labels
            .iter()
            .filter(|l| l.as_str() != SILENCE && names_source(&tokens, l))
            .cloned()
            .collect();
        results.push(ClipResult {
            id: clip.id.clone(),
            audio: clip.audio.clone(),
            gated: caption.is_empty(),
            caption,
            references: clip.captions.clone(),
            labels: clip.labels.clone(),
            named,
            names_absent: classes > present,
            named_classes,
            named_present,
            latency_ms,
        });
    }
    if results.is_empty() {
        bail!(
            "{}: no clips in the {split:?} split",
            manifest.path.display()
        );
    }

    let with_refs: Vec<&ClipResult> = results
        .iter()
        .filter(|r| !r.references.is_empty())
        .collect();
    let (captions, items) = if with_refs.is_empty() {
        (None, Vec::new())
    } else {
        let set = ScoreSet {
            ids: with_refs.iter().map(|r| r.id.clone()).collect(),
            candidates: with_refs.iter().map(|r| r.caption.clone()).collect(),
            references: with_refs.iter().map(|r| r.references.clone()).collect(),
        };
        let (report, items) = score(&set);
        (Some(report), items)
    };
    let audible: Vec<&ClipResult> = results
        .iter()
        .filter(|r| r.labels.iter().any(|l| l != SILENCE))
        .collect();
    let (named, sources) = audible.iter().fold((0, 0), |(n, s), r| {
        (
            n + r.named.len(),
            s + r.labels.iter().filter(|l| l.as_str() != SILENCE).count(),
        )
    });
    let silent: Vec<&ClipResult> = results
        .iter()
        .filter(|r| r.labels.len() == 1 && r.labels[0] == SILENCE)
        .collect();
    let report = EvalReport {
        model: model.into(),
        manifest: manifest.path.clone(),
        split,
        clips: results.len(),
        captions,
        source_recall: (sources > 0).then(|| named as f64 / sources as f64),
        source_precision: precision(
            results.iter().map(|r| r.named_classes).sum(),
            results.iter().map(|r| r.named_present).sum(),
        ),
        labelled_clips: audible.len(),
        false_captions_on_silence: silent.iter().filter(|r| !r.gated).count(),
        silent_clips: silent.len(),
        false_source_captions: audible.iter().filter(|r| r.names_absent).count(),
        picture_captions: results
            .iter()
            .filter(|r| speaks_of_a_picture(&tokenize(&r.caption)))
            .count(),
    };
    Ok((report, results, items))
}

/// `present` of `named` class mentions right, or `None` when nothing was named.
pub fn precision(named: usize, present: usize) -> Option<f64> {
    (named > 0).then(|| present as f64 / named as f64)
}

/// The report as Markdown.
pub fn markdown(report: &EvalReport) -> String {
    let mut md = format!(
        "# Evaluation of {}\n\non {} ({} clips{})\n\n",
        report.model.display(),
        report.manifest.display(),
        report.clips,
        report
            .split
            .map_or(String::new(), |s| format!(", {s:?} split").to_lowercase())
    );
    match &report.captions {
        Some(c) => md.push_str(&crate::score::markdown(c)),
        None => md.push_str("No clip has reference captions: no caption metrics.\n"),
    }
    if let Some(recall) = report.source_recall {
        md.push_str(&format!(
            "\nSource recall: {recall:.3} over {} labelled clips; {} captions name a source \
             the clip does not have.\n",
            report.labelled_clips, report.false_source_captions
        ));
    }
    if let Some(precision) = report.source_precision {
        md.push_str(&format!(
            "\nSource precision: {precision:.3} of the source classes the captions name are \
             in their clips.\n"
        ));
    }
    if report.silent_clips > 0 {
        md.push_str(&format!(
            "\nFalse captions on silent clips: {} of {}.\n",
            report.false_captions_on_silence, report.silent_clips
        ));
    }
    md.push_str(&format!(
        "\nCaptions that speak of a picture ({}): {} of {}.\n",
        PICTURE_WORDS.join(", "),
        report.picture_captions,
        report.clips
    ));
    md
}

/// Writes `eval.json`, `eval.md` and `clips.jsonl` (per clip, with its scores) into `dir`,
/// refusing to replace earlier results unless `force`.
pub fn write(
    dir: &Path,
    report: &EvalReport,
    clips: &[ClipResult],
    items: &[ItemScores],
    force: bool,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in ["eval.json", "eval.md", "clips.jsonl"] {
        if dir.join(name).exists() && !force {
            bail!(
                "{}: exists; pass --force to replace it",
                dir.join(name).display()
            );
        }
    }
    let scores: HashMap<&str, &BTreeMap<&str, f64>> =
        items.iter().map(|i| (i.id.as_str(), &i.scores)).collect();
    let mut lines = String::new();
    for clip in clips {
        let mut value = serde_json::to_value(clip)?;
        if let Some(s) = scores.get(clip.id.as_str()) {
            value["scores"] = serde_json::to_value(s)?;
        }
        lines.push_str(&value.to_string());
        lines.push('\n');
    }
    let put = |name: &str, text: String| {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("writing {}", dir.join(name).display()))
    };
    put("eval.json", serde_json::to_string_pretty(report)? + "\n")?;
    put("eval.md", markdown(report))?;
    put("clips.jsonl", lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_named_by_their_class_words_or_their_own() {
        assert!(names_source("a dog is barking loudly", "Dog_bark"));
        assert!(names_source("a smoke alarm beeps", "smoke_alarm"));
        assert!(
            !names_source("a doggy door creaks", "dog_bark"),
            "whole words only"
        );
        assert!(names_source("a tractor engine runs", "tractor"));
        assert!(!names_source("rain falls", "Baby_cry"));
    }

    #[test]
    fn named_classes_count_each_class_once_and_the_ones_that_are_there() {
        let labels = ["Dog_bark".to_string(), "rain".to_string()];
        assert_eq!(
            named_classes("a dog barks while rain falls", &labels),
            (2, 2)
        );
        assert_eq!(
            named_classes("a dog barks and a dog barks near a helicopter", &labels),
            (2, 1)
        );
        assert_eq!(named_classes("a street at night", &labels), (0, 0));
        let silence = ["silence".to_string()];
        assert_eq!(named_classes("a baby cries", &silence), (1, 0));
        assert_eq!(precision(3, 2), Some(2.0 / 3.0));
        assert_eq!(precision(0, 0), None);
    }

    #[test]
    fn a_caption_speaks_of_a_picture_by_whole_words() {
        assert!(speaks_of_a_picture("a picture of a dog"));
        assert!(speaks_of_a_picture("a photo of rain on a window"));
        assert!(!speaks_of_a_picture("a dog barks while rain falls"));
        assert!(
            !speaks_of_a_picture("a photographer speaks"),
            "whole words only"
        );
    }
}
