//! The candidates' numbers: a bundle evaluated audio-only, captions scored against what their
//! clips hold, and the choice of the candidate to ship.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::data::{read_json_lines, Manifest, Split};
use crate::score::eval::{self, names_source, SILENCE};
use crate::score::{score, ScoreSet};
use crate::text::tokenize;
use crate::train::align::AlignLoss;
use crate::train::pipeline;
use crate::train::{clear, read_json};
use crate::world;

/// Caption metrics and source naming on one set of clips.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measured {
    pub clips: usize,
    /// BLEU-4, METEOR (our proxy), ROUGE-L, CIDEr-D; absent without reference captions.
    pub captions: Option<BTreeMap<String, f64>>,
    pub source_recall: Option<f64>,
    /// Of the source classes the captions name, the share the clip has (absent from
    /// evaluations cached before it was measured).
    #[serde(default)]
    pub source_precision: Option<f64>,
    /// Captions naming a source class the clip does not have.
    pub false_source_captions: usize,
    /// Clips labelled silence that got a caption, of how many.
    pub false_captions_on_silence: usize,
    pub silent_clips: usize,
    /// Captions that speak of a picture rather than a sound (absent from evaluations cached
    /// before it was counted).
    #[serde(default)]
    pub picture_captions: Option<usize>,
}

impl Measured {
    pub(super) fn metric(&self, name: &str) -> f64 {
        self.captions
            .as_ref()
            .and_then(|c| c.get(name).copied())
            .unwrap_or(f64::NAN)
    }

    /// The F1 of naming sources: the harmonic mean of source recall and source precision,
    /// what a device that announces sounds is judged by. Naming every class in every caption
    /// scores low, as does naming nothing; CIDEr-D alone sees neither: on 5,000 scenes the
    /// best validation CIDEr-D was a model that named none of the held-out real recordings.
    /// NaN without labelled clips; 0 when no caption names a source.
    pub fn source_f1(&self) -> f64 {
        let Some(recall) = self.source_recall else {
            return f64::NAN;
        };
        let precision = self.source_precision.unwrap_or(0.0);
        if recall + precision > 0.0 {
            2.0 * recall * precision / (recall + precision)
        } else {
            0.0
        }
    }
}

/// The candidate to ship: the best validation source F1, then the best validation CIDEr-D,
/// then the first. `None` when there are no candidates.
pub(super) fn choose(candidates: &[Candidate]) -> Option<usize> {
    let key = |c: &Candidate| (c.val_audio.source_f1(), c.val_audio.metric("CIDEr-D"));
    candidates
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| {
            let ((a_f1, a_cider), (b_f1, b_cider)) = (key(a), key(b));
            a_f1.total_cmp(&b_f1)
                .then(a_cider.total_cmp(&b_cider))
                .then(j.cmp(i))
        })
        .map(|(i, _)| i)
}

/// One trained model of the comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    /// `LOSS` or `LOSS+distill`.
    pub name: String,
    pub loss: AlignLoss,
    pub distilled: bool,
    pub val_audio: Measured,
    pub test_audio: Measured,
    pub test_audio_visual: Measured,
    /// The held-out real recordings, audio only.
    pub held_out: Option<Measured>,
}

/// What a recipe measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecipeResults {
    /// The stage 0 captioner on world-test pictures alone: against the visual captions, and
    /// the share of pictured sources it names.
    pub captioner_pictures: Measured,
    pub candidates: Vec<Candidate>,
    pub chosen: String,
    /// World-test CIDEr-D of the chosen model exported in f32 and in int8.
    pub chosen_cider_f32: f64,
    pub chosen_cider_int8: f64,
    /// Wall seconds per step in the order they run, as first run (a step skipped on a later
    /// run keeps its time).
    pub seconds: Vec<(String, f64)>,
    pub world: serde_json::Value,
}

const METRICS: [&str; 4] = ["BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"];

/// A candidate model: its name, loss, whether it was distilled, its checkpoint, and its
/// captions from picture and audio.
pub(super) type Checkpoint = (String, AlignLoss, bool, PathBuf, PathBuf);

/// A candidate's numbers: its int8 `bundle` audio-only on the world's validation and test
/// scenes and on the held-out recordings (each cached in `evals`), and its captions from
/// picture and audio on the test scenes.
pub(super) fn measure_candidate(
    checkpoint: &Checkpoint,
    bundle: &Path,
    evals: &Path,
    manifest: &Manifest,
    held_out: Option<&Manifest>,
) -> Result<Candidate> {
    let (cname, loss, distilled, _, av) = checkpoint;
    let measure = |set: &str, m: &Manifest, split| {
        measure_bundle(bundle, m, split, &evals.join(format!("{cname}-{set}.json")))
    };
    let began = Instant::now();
    let candidate = Candidate {
        name: cname.clone(),
        loss: *loss,
        distilled: *distilled,
        val_audio: measure("val", manifest, Some(Split::Val))?,
        test_audio: measure("test", manifest, Some(Split::Test))?,
        test_audio_visual: measure_captions(av, manifest, Split::Test)?,
        held_out: held_out.map(|m| measure("held-out", m, None)).transpose()?,
    };
    println!(
        "recipe: evaluated {cname} in {:.1} s: val source F1 {:.3}, CIDEr-D {:.3}",
        began.elapsed().as_secs_f64(),
        candidate.val_audio.source_f1(),
        candidate.val_audio.metric("CIDEr-D")
    );
    Ok(candidate)
}

/// Audio-only numbers of a bundle on `manifest`'s `split`, cached as JSON in `cache`.
pub(super) fn measure_bundle(
    bundle: &Path,
    manifest: &Manifest,
    split: Option<Split>,
    cache: &Path,
) -> Result<Measured> {
    if cache.is_file() {
        return read_json(cache, "cached evaluation");
    }
    let (report, clips, items) = eval::evaluate(bundle, manifest, split)?;
    let dir = cache.with_extension("d");
    clear(&dir)?;
    eval::write(&dir, &report, &clips, &items, false)?;
    let measured = Measured {
        clips: report.clips,
        captions: report.captions.as_ref().map(|c| pick_metrics(&c.scores)),
        source_recall: report.source_recall,
        source_precision: report.source_precision,
        false_source_captions: report.false_source_captions,
        false_captions_on_silence: report.false_captions_on_silence,
        silent_clips: report.silent_clips,
        picture_captions: Some(report.picture_captions),
    };
    std::fs::write(cache, serde_json::to_string_pretty(&measured)? + "\n")
        .with_context(|| format!("writing {}", cache.display()))?;
    Ok(measured)
}

fn pick_metrics(scores: &crate::score::Scores) -> BTreeMap<String, f64> {
    METRICS
        .iter()
        .filter_map(|m| scores.get(m).map(|v| (m.to_string(), *v)))
        .collect()
}

/// A clip to score a caption of: the sources the caption should name, and references.
struct Expected {
    id: String,
    sources: Vec<String>,
    references: Vec<String>,
}

/// The captions in `labels` (pseudo-label lines) of `expected`'s clips: caption metrics against
/// their references, the share of their sources named, the share of the classes they name
/// that are there, and captions naming a source class the clip lacks.
fn measure_expected(labels: &Path, expected: &[Expected]) -> Result<Measured> {
    let by_id = pipeline::read_pseudo_labels(labels)?;
    let mut set = ScoreSet {
        ids: Vec::new(),
        candidates: Vec::new(),
        references: Vec::new(),
    };
    let (mut named, mut sources, mut absent) = (0, 0, 0);
    let (mut classes_named, mut classes_present) = (0, 0);
    let mut pictures = 0;
    for clip in expected {
        let caption = by_id
            .get(&clip.id)
            .with_context(|| format!("{}: no caption for clip {}", labels.display(), clip.id))?;
        let tokens = tokenize(caption);
        pictures += usize::from(eval::speaks_of_a_picture(&tokens));
        let present: Vec<&String> = clip.sources.iter().filter(|l| *l != SILENCE).collect();
        sources += present.len();
        named += present.iter().filter(|l| names_source(&tokens, l)).count();
        let (n, p) = eval::named_classes(&tokens, &clip.sources);
        absent += usize::from(n > p);
        (classes_named, classes_present) = (classes_named + n, classes_present + p);
        if !clip.references.is_empty() {
            set.ids.push(clip.id.clone());
            set.candidates.push(caption.clone());
            set.references.push(clip.references.clone());
        }
    }
    let captions = (!set.ids.is_empty()).then(|| pick_metrics(&score(&set).0.scores));
    Ok(Measured {
        clips: expected.len(),
        captions,
        source_recall: (sources > 0).then(|| named as f64 / sources as f64),
        source_precision: eval::precision(classes_named, classes_present),
        false_source_captions: absent,
        false_captions_on_silence: 0,
        silent_clips: 0,
        picture_captions: Some(pictures),
    })
}

/// Audio-visual numbers: the captions in `labels` of `split`'s clips, against the audible
/// sources and the audio captions.
fn measure_captions(labels: &Path, manifest: &Manifest, split: Split) -> Result<Measured> {
    let expected: Vec<Expected> = manifest
        .clips
        .iter()
        .filter(|c| c.split == split)
        .map(|c| Expected {
            id: c.id.clone(),
            sources: c.labels.clone(),
            references: c.captions.clone(),
        })
        .collect();
    measure_expected(labels, &expected)
}

#[derive(Deserialize)]
struct PicturedScene {
    id: String,
    split: Split,
    sources: Vec<PicturedSource>,
    visual_captions: Vec<String>,
}

#[derive(Deserialize)]
struct PicturedSource {
    class: String,
    role: world::Role,
}

/// The stage 0 captioner's numbers: the captions in `labels` of `split`'s pictures, against
/// the pictured sources and the visual captions of `scenes` (the world's scenes.jsonl).
pub(super) fn measure_pictures(labels: &Path, scenes: &Path, split: Split) -> Result<Measured> {
    let scenes: Vec<PicturedScene> = read_json_lines(scenes, "scene")?;
    let expected: Vec<Expected> = scenes
        .into_iter()
        .filter(|scene| scene.split == split)
        .map(|scene| Expected {
            id: scene.id,
            sources: scene
                .sources
                .into_iter()
                .filter(|s| s.role.seen())
                .map(|s| s.class)
                .collect(),
            references: scene.visual_captions,
        })
        .collect();
    measure_expected(labels, &expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(name: &str, recall: f64, precision: Option<f64>, cider: f64) -> Candidate {
        let measured = Measured {
            clips: 100,
            captions: Some(BTreeMap::from([("CIDEr-D".to_string(), cider)])),
            source_recall: Some(recall),
            source_precision: precision,
            false_source_captions: 0,
            false_captions_on_silence: 0,
            silent_clips: 20,
            picture_captions: None,
        };
        Candidate {
            name: name.into(),
            loss: AlignLoss::Contrastive,
            distilled: false,
            val_audio: measured.clone(),
            test_audio: measured.clone(),
            test_audio_visual: measured,
            held_out: None,
        }
    }

    #[test]
    fn the_shipped_candidate_names_what_is_there_not_what_scores_cider() {
        // The best CIDEr-D names few sources; naming every class everywhere is mostly wrong;
        // saying nothing names nothing; the chosen one names the most, rightly.
        let candidates = [
            candidate("fluent", 0.05, Some(0.5), 0.15),
            candidate("everything", 1.00, Some(0.06), 0.01),
            candidate("silent", 0.00, None, 0.0),
            candidate("namer", 0.40, Some(0.35), 0.10),
        ];
        assert_eq!(choose(&candidates), Some(3));
        let f1 = candidates[3].val_audio.source_f1();
        assert!((f1 - 2.0 * 0.40 * 0.35 / 0.75).abs() < 1e-12, "{f1}");
        assert_eq!(candidates[2].val_audio.source_f1(), 0.0);
        // Equal F1: CIDEr-D decides, then the order of the recipe.
        let tied = [
            candidate("first", 0.40, Some(0.35), 0.10),
            candidate("fluent", 0.40, Some(0.35), 0.12),
            candidate("again", 0.40, Some(0.35), 0.12),
        ];
        assert_eq!(choose(&tied), Some(1));
        assert_eq!(choose(&[]), None);
    }
}
