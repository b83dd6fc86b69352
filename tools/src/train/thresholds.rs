//! A threshold per tag for a convolutional student (issue 34, step 3). A tag fires when the
//! student's score for it (the best of its teacher classes) reaches its threshold. Each
//! threshold is the lowest at which the student's firings are, on fresh mixtures of held-out
//! clips, the teacher's own positives at least `precision` of the time: tuned for precision, as
//! an announcement of a sound that is not there costs a user more than one missed. Tags the
//! validation mixtures cannot tune never fire.
//!
//! [`evaluate`] then measures the tags on labelled clips held out of training (ESC-10's test
//! fold, an UrbanSound8K fold): each label stands for the tags that share its teacher classes.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::mixtures::{MixtureConfig, Pool, Sources};
use crate::teacher::tag_scorer::TagScorer;
use crate::teacher::zero_shot::LabelMap;
use crate::teacher::Teacher;

/// One tag's threshold and how it was chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagThreshold {
    pub label: String,
    /// The student's score at which the tag fires; `None`: it never fires.
    pub threshold: Option<f32>,
    /// Validation mixtures the teacher found the tag in.
    pub teacher_positives: usize,
    /// Of the student's firings at the threshold, the share the teacher agrees with.
    pub precision: f64,
    /// Of the teacher's positives, the share the student fires on.
    pub recall: f64,
}

/// The thresholds of a tag set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// The teacher's score from which a tag counts as present in a mixture.
    pub teacher_at: f32,
    /// The precision each threshold was tuned for.
    pub precision: f64,
    pub mixtures: usize,
    pub tags: Vec<TagThreshold>,
}

impl Thresholds {
    /// Refuses thresholds tuned for another tag set than `tags` (other labels or order).
    pub fn check_tags(&self, tags: &LabelMap) -> Result<()> {
        self.check_labels(tags.labels.iter().map(|l| l.label.as_str()))
    }

    /// Refuses thresholds tuned for other labels than `labels`, in that order.
    pub fn check_labels<'a>(&self, labels: impl ExactSizeIterator<Item = &'a str>) -> Result<()> {
        let found = labels.len();
        ensure!(
            self.tags.len() == found && self.tags.iter().zip(labels).all(|(t, l)| t.label == l),
            "the thresholds are not for this tag set ({} tags against {found})",
            self.tags.len()
        );
        Ok(())
    }
}

/// Tunes one tag: `pairs` are (student score, teacher positive) over the validation mixtures.
/// The threshold is the lowest student score such that the firings at or above it reach
/// `precision`, with at least `min_hits` of them right.
pub fn tune_one(
    label: &str,
    pairs: &mut [(f32, bool)],
    precision: f64,
    min_hits: usize,
) -> TagThreshold {
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = pairs.iter().filter(|p| p.1).count();
    let (mut hits, mut best) = (0usize, None);
    for (k, &(score, positive)) in pairs.iter().enumerate() {
        hits += positive as usize;
        // A cut between equal scores is no cut: decide after the last of them.
        if pairs.get(k + 1).is_some_and(|next| next.0 == score) {
            continue;
        }
        let p = hits as f64 / (k + 1) as f64;
        if p >= precision && hits >= min_hits {
            best = Some((score, p, hits));
        }
    }
    match best {
        Some((score, p, hits)) => TagThreshold {
            label: label.into(),
            threshold: Some(score),
            teacher_positives: positives,
            precision: p,
            recall: hits as f64 / positives.max(1) as f64,
        },
        None => TagThreshold {
            label: label.into(),
            threshold: None,
            teacher_positives: positives,
            precision: 0.0,
            recall: 0.0,
        },
    }
}

/// How thresholds are tuned.
pub struct TuneOptions<'a> {
    pub sources: &'a Sources,
    pub mixture: &'a MixtureConfig,
    pub mixtures: usize,
    pub seed: u64,
    pub teacher_at: f32,
    pub precision: f64,
    /// Fewest right firings a threshold must rest on.
    pub min_hits: usize,
    pub threads: usize,
}

/// Tunes a threshold for every tag of `tags` (which `student` scores) on `options.mixtures`
/// fresh mixtures of the validation clips under `data` (the clips `train teach` holds out of
/// training).
pub fn tune(
    student: &mut dyn TagScorer,
    teacher: &Teacher,
    tags: &LabelMap,
    data: &Path,
    options: &TuneOptions,
) -> Result<Thresholds> {
    tags.check(teacher)?;
    ensure!(options.mixtures > 0, "--mixtures must be at least 1");
    ensure!(
        options.precision > 0.0 && options.precision <= 1.0,
        "--precision must be in (0, 1], found {}",
        options.precision
    );
    let pool = Pool::load(
        data,
        options.sources,
        teacher.sample_rate(),
        options.threads,
    )?;
    let len = options.mixture.samples(pool.rate);
    let mut pairs = vec![Vec::with_capacity(options.mixtures); tags.labels.len()];
    for i in 0..options.mixtures {
        let mut rng =
            ChaCha8Rng::seed_from_u64(options.seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
        let mix = options
            .mixture
            .draw(&pool.val, &pool.backgrounds, len, &mut rng);
        let teacher_tags = tags.label_scores(&teacher.clip(&mix)?.scores);
        let heard =
            earsight::audio::MonoResampler::resample_all(&mix, pool.rate, student.sample_rate())?;
        let student_tags = student.tag_scores(&heard)?;
        for (k, p) in pairs.iter_mut().enumerate() {
            p.push((student_tags[k], teacher_tags[k] >= options.teacher_at));
        }
    }
    let thresholds = tags
        .labels
        .iter()
        .zip(&mut pairs)
        .map(|(l, p)| tune_one(&l.label, p, options.precision, options.min_hits))
        .collect();
    Ok(Thresholds {
        teacher_at: options.teacher_at,
        precision: options.precision,
        mixtures: options.mixtures,
        tags: thresholds,
    })
}

/// How a student's tags did on labelled clips.
#[derive(Debug, Serialize)]
pub struct TagReport {
    pub clips: usize,
    /// Clips whose best tag, among the tags the labels stand for, is their label's.
    pub top_tag_accuracy: f64,
    /// Firings of the tags the labels stand for.
    pub fired: usize,
    /// Of those, the firings of a clip's own label's tag.
    pub right: usize,
    pub precision: f64,
    /// Clips on which a tag of their label fired.
    pub recall: f64,
    /// Tags fired on a silent window and on -70 dBFS white noise, of all tags.
    pub fired_on_silence: Vec<String>,
    pub fired_on_quiet_noise: Vec<String>,
}

/// The tags each label of `labels` stands for: those sharing a teacher class with it.
fn tags_of(labels: &LabelMap, tags: &LabelMap) -> Vec<Vec<usize>> {
    labels
        .labels
        .iter()
        .map(|l| {
            (0..tags.labels.len())
                .filter(|&t| tags.labels[t].classes.iter().any(|c| l.classes.contains(c)))
                .collect()
        })
        .collect()
}

/// Measures the tags of `tags` that `student` scores, each at its threshold of `thresholds`
/// (`None`: never reported), on one fold of a labelled `metadata.csv` whose labels `labels`
/// maps to teacher classes, and on silence and quiet noise.
pub fn evaluate(
    student: &mut dyn TagScorer,
    tags: &LabelMap,
    thresholds: &[Option<f32>],
    labels: &LabelMap,
    metadata: &Path,
    fold: u32,
) -> Result<TagReport> {
    ensure!(
        thresholds.len() == tags.labels.len(),
        "{} thresholds for {} tags",
        thresholds.len(),
        tags.labels.len()
    );
    let reported =
        |scores: &[f32]| earsight::engine::fired_indices(thresholds.iter().copied(), scores);
    let own = tags_of(labels, tags);
    let judged: Vec<usize> = {
        let mut all: Vec<usize> = own.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let clips = crate::data::esc_fold(metadata, fold)?;
    let (mut top_right, mut fired, mut right, mut found) = (0, 0, 0, 0);
    for clip in &clips {
        let label = labels.position(&clip.labels[0]).with_context(|| {
            format!(
                "{}: label {:?} is not in the label map",
                metadata.display(),
                clip.labels[0]
            )
        })?;
        let samples = earsight::audio::read_all(&clip.audio, student.sample_rate())
            .with_context(|| format!("{}: cannot decode it", clip.audio.display()))?;
        let scores = student.tag_scores(&samples)?;
        let best = judged
            .iter()
            .copied()
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)));
        top_right += best.is_some_and(|b| own[label].contains(&b)) as usize;
        let on: Vec<usize> = reported(&scores)
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| judged.contains(t))
            .collect();
        fired += on.len();
        let hits = on.iter().filter(|t| own[label].contains(t)).count();
        right += hits;
        found += (hits > 0) as usize;
    }
    let seconds = 5 * student.sample_rate() as usize;
    let names = |scores: Vec<f32>| -> Vec<String> {
        reported(&scores)
            .into_iter()
            .map(|(t, _)| tags.labels[t].label.clone())
            .collect()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(70);
    let amplitude = 10f32.powf(-70.0 / 20.0) * 3f32.sqrt();
    let noise: Vec<f32> = (0..seconds)
        .map(|_| amplitude * rand::Rng::random_range(&mut rng, -1.0f32..1.0))
        .collect();
    Ok(TagReport {
        clips: clips.len(),
        top_tag_accuracy: top_right as f64 / clips.len() as f64,
        fired,
        right,
        precision: right as f64 / fired.max(1) as f64,
        recall: found as f64 / clips.len() as f64,
        fired_on_silence: names(student.tag_scores(&vec![0.0; seconds])?),
        fired_on_quiet_noise: names(student.tag_scores(&noise)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_the_lowest_score_that_keeps_the_precision() {
        // Scores with whether the teacher found the tag: the top three are right, then one
        // wrong, then one right, then wrong ones.
        let mut pairs = vec![
            (0.9, true),
            (0.8, true),
            (0.7, true),
            (0.6, false),
            (0.5, true),
            (0.4, false),
            (0.3, false),
        ];
        let t = tune_one("knock", &mut pairs, 0.8, 1);
        // At 0.5: 4 right of 5 = 0.8; at 0.4: 4 of 6 < 0.8.
        assert_eq!(t.threshold, Some(0.5));
        assert_eq!(t.teacher_positives, 4);
        assert!((t.precision - 0.8).abs() < 1e-12 && (t.recall - 1.0).abs() < 1e-12);
        let strict = tune_one("knock", &mut pairs, 1.0, 1);
        assert_eq!(strict.threshold, Some(0.7));
    }

    #[test]
    fn a_tag_the_mixtures_cannot_tune_never_fires() {
        let mut none_found = vec![(0.9, false), (0.2, false)];
        let t = tune_one("doorbell", &mut none_found, 0.9, 1);
        assert_eq!(t.threshold, None);
        let tags = [t, tune_one("dog", &mut [(0.7, true)], 0.9, 1)];
        let fired = |scores: &[f32]| {
            earsight::engine::fired_indices(tags.iter().map(|t| t.threshold), scores)
        };
        assert_eq!(fired(&[1.0, 0.7]), vec![(1, 0.7)]);
        assert!(fired(&[1.0, 0.69]).is_empty());
    }

    #[test]
    fn equal_scores_are_cut_together() {
        // Two equal scores, one right and one wrong: a threshold there fires on both.
        let mut pairs = vec![(0.9, true), (0.5, true), (0.5, false)];
        let t = tune_one("cat", &mut pairs, 0.7, 1);
        assert_eq!(t.threshold, Some(0.9));
        let fewest = tune_one("cat", &mut pairs, 0.5, 2);
        assert_eq!(fewest.threshold, Some(0.5));
    }
}
