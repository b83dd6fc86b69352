//! Zero-shot classification through a teacher: a label set of our own (here ESC-10's ten) is
//! mapped to the teacher's classes by index (`tools/configs/esc10-audioset.json`); a label's
//! score is the best score of its classes, the prediction the label with the best score. This
//! is how the teacher's knowledge of a label set is measured, before and after distillation.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::Teacher;

/// What scores an audio file over the teacher's classes: the teacher itself, or a student
/// that learnt its classes.
pub trait Tagger {
    /// The graph it runs, for the report.
    fn graph_path(&self) -> &Path;
    /// The scores of a whole file, and the time decoding, the frontend and the graph took.
    fn timed(&self, audio: &Path) -> Result<(Vec<f32>, [Duration; 3])>;
}

impl Tagger for Teacher {
    fn graph_path(&self) -> &Path {
        Teacher::graph_path(self)
    }

    fn timed(&self, audio: &Path) -> Result<(Vec<f32>, [Duration; 3])> {
        let t0 = Instant::now();
        let samples = self.read_audio(audio)?;
        let t1 = Instant::now();
        let features = self.features(&samples);
        let t2 = Instant::now();
        let outputs = features
            .and_then(|f| self.infer(&f))
            .with_context(|| format!("{}: the teacher could not run on it", audio.display()))?;
        Ok((outputs.scores, [t1 - t0, t2 - t1, t2.elapsed()]))
    }
}

/// Our labels, each with the teacher classes that stand for it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelMap {
    /// How many classes the teacher the map was written for has (its indices count them).
    pub teacher_classes: usize,
    pub labels: Vec<MappedLabel>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappedLabel {
    pub label: String,
    /// Indices into the teacher's class list (its CSV's `index` column).
    pub classes: Vec<usize>,
    /// Caption words that name the label's source: what tag guidance steers and a veto
    /// forbids in a bundle (each spelt by the bundle's tokenizer).
    #[serde(default)]
    pub words: Vec<String>,
}

impl LabelMap {
    /// Reads a map and checks it: labels are distinct, each has classes, every index is one of
    /// the teacher's.
    pub fn read(path: &Path) -> Result<LabelMap> {
        let map: LabelMap = crate::data::read_json(path, "label map")?;
        let mut seen = HashSet::new();
        if map.labels.is_empty() {
            bail!("{}: maps no labels", path.display());
        }
        for l in &map.labels {
            if !seen.insert(l.label.as_str()) {
                bail!("{}: label {:?} is mapped twice", path.display(), l.label);
            }
            if l.classes.is_empty() {
                bail!("{}: label {:?} has no classes", path.display(), l.label);
            }
            if let Some(i) = l.classes.iter().find(|&&i| i >= map.teacher_classes) {
                bail!(
                    "{}: label {:?} maps to class {i}, but the teacher has {} classes",
                    path.display(),
                    l.label,
                    map.teacher_classes
                );
            }
        }
        Ok(map)
    }

    /// Fails unless `teacher` has as many classes as the map was written for.
    pub fn check(&self, teacher: &Teacher) -> Result<()> {
        if teacher.classes().len() != self.teacher_classes {
            bail!(
                "the label map is for a teacher of {} classes; {} has {}",
                self.teacher_classes,
                teacher.graph_path().display(),
                teacher.classes().len()
            );
        }
        Ok(())
    }

    /// Each label's score: the best score of its classes.
    pub fn label_scores(&self, scores: &[f32]) -> Vec<f32> {
        self.labels
            .iter()
            .map(|l| {
                l.classes
                    .iter()
                    .map(|&i| scores[i])
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .collect()
    }

    /// The `n` best labels of `scores` as (index in the map, score), best first.
    pub fn top(&self, scores: &[f32], n: usize) -> Vec<(usize, f32)> {
        super::rank(&self.label_scores(scores), n)
    }

    /// The index of the predicted label (the first of equals).
    pub fn predict(&self, scores: &[f32]) -> usize {
        let s = self.label_scores(scores);
        (0..s.len()).fold(0, |best, i| if s[i] > s[best] { i } else { best })
    }

    /// The index of `label` in the map.
    pub fn position(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l.label == label)
    }
}

/// One clip's prediction.
#[derive(Serialize)]
pub struct ClipPrediction {
    pub audio: PathBuf,
    pub label: String,
    /// Empty when the clip could not be read or run.
    pub predicted: String,
    /// Every label's score, in the map's order.
    pub label_scores: Vec<f32>,
}

/// A clip that could not be classified; it counts as wrong.
#[derive(Serialize)]
pub struct Failure {
    pub audio: PathBuf,
    pub error: String,
}

#[derive(Serialize)]
pub struct LabelAccuracy {
    pub label: String,
    /// The names of the teacher classes mapped to the label, from the teacher's class list.
    pub teacher_classes: Vec<String>,
    pub clips: usize,
    pub correct: usize,
}

/// Mean time per clip of each part, in milliseconds.
#[derive(Serialize)]
pub struct Timing {
    pub decode_ms: f64,
    pub frontend_ms: f64,
    pub graph_ms: f64,
}

/// Zero-shot accuracy on one fold.
#[derive(Serialize)]
pub struct ZeroShotReport {
    pub teacher: PathBuf,
    pub fold: u32,
    pub clips: usize,
    pub correct: usize,
    /// Correct over all clips of the fold, failures included.
    pub accuracy: f64,
    pub per_label: Vec<LabelAccuracy>,
    pub timing: Timing,
    pub failures: Vec<Failure>,
    pub predictions: Vec<ClipPrediction>,
}

/// Classifies every clip of one fold of an ESC-style `metadata.csv` (`path,label,fold`) with
/// `tagger`, which scores the classes of `teacher`, through `map`. A clip that cannot be read
/// or run is reported and counted wrong; the others still run.
pub fn esc_fold(
    tagger: &dyn Tagger,
    teacher: &Teacher,
    map: &LabelMap,
    metadata: &Path,
    fold: u32,
) -> Result<ZeroShotReport> {
    map.check(teacher)?;
    let clips = crate::data::esc_fold(metadata, fold)?;
    let labels: Vec<usize> = clips
        .iter()
        .map(|c| {
            let label = &c.labels[0];
            map.position(label).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: label {label:?} of {} is not in the label map",
                    metadata.display(),
                    c.id
                )
            })
        })
        .collect::<Result<_>>()?;
    let mut per_label: Vec<LabelAccuracy> = map
        .labels
        .iter()
        .map(|l| LabelAccuracy {
            label: l.label.clone(),
            teacher_classes: l
                .classes
                .iter()
                .map(|&i| teacher.classes()[i].display_name.clone())
                .collect(),
            clips: 0,
            correct: 0,
        })
        .collect();
    let (mut decode, mut frontend, mut graph) = (0.0, 0.0, 0.0);
    let (mut failures, mut predictions) = (Vec::new(), Vec::new());
    for (clip, &truth) in clips.iter().zip(&labels) {
        per_label[truth].clips += 1;
        let run = tagger.timed(&clip.audio);
        let (predicted, label_scores) = match run {
            Ok((scores, [d, f, g])) => {
                decode += d.as_secs_f64();
                frontend += f.as_secs_f64();
                graph += g.as_secs_f64();
                let p = map.predict(&scores);
                if p == truth {
                    per_label[truth].correct += 1;
                }
                (map.labels[p].label.clone(), map.label_scores(&scores))
            }
            Err(e) => {
                failures.push(Failure {
                    audio: clip.audio.clone(),
                    error: format!("{e:#}"),
                });
                (String::new(), Vec::new())
            }
        };
        predictions.push(ClipPrediction {
            audio: clip.audio.clone(),
            label: map.labels[truth].label.clone(),
            predicted,
            label_scores,
        });
    }
    let correct: usize = per_label.iter().map(|l| l.correct).sum();
    let ran = (clips.len() - failures.len()).max(1) as f64;
    Ok(ZeroShotReport {
        teacher: tagger.graph_path().to_path_buf(),
        fold,
        clips: clips.len(),
        correct,
        accuracy: correct as f64 / clips.len() as f64,
        per_label,
        timing: Timing {
            decode_ms: 1e3 * decode / ran,
            frontend_ms: 1e3 * frontend / ran,
            graph_ms: 1e3 * graph / ran,
        },
        failures,
        predictions,
    })
}

/// The report as Markdown: accuracy, per label, timing, failures.
pub fn markdown(report: &ZeroShotReport) -> String {
    let mut s = format!(
        "zero-shot on fold {} with {}: {}/{} = {:.4}\n\n\
         | label | clips | correct | teacher classes |\n|---|---|---|---|\n",
        report.fold,
        report.teacher.display(),
        report.correct,
        report.clips,
        report.accuracy
    );
    for l in &report.per_label {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            l.label,
            l.clips,
            l.correct,
            l.teacher_classes.join("; ")
        ));
    }
    let t = &report.timing;
    s.push_str(&format!(
        "\nper clip: decode {:.1} ms, frontend {:.1} ms, graph {:.1} ms\n",
        t.decode_ms, t.frontend_ms, t.graph_ms
    ));
    for f in &report.failures {
        s.push_str(&format!("failed: {}\n", f.error));
    }
    s
}
