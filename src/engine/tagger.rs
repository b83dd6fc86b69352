//! The tagger graph of a bundle that has one: a window of log-mel frames -> a score per tag ->
//! the tags whose scores reach their thresholds.

use serde::Serialize;
use tract_onnx::prelude::*;

use super::{load_graph, plain_f32, run, run_err, Backend, EngineError, Plan};
use crate::bundle::{Bundle, TagSpec, TAGGER_FILE};

/// A tag heard in a window: its label and its score in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tag {
    pub label: String,
    pub score: f32,
}

/// The loaded tagger graph with its tags and thresholds.
pub struct Tagger {
    graph: Plan,
    frames: usize,
    n_mels: usize,
    tags: Vec<TagSpec>,
}

impl Tagger {
    /// Loads the tagger of a checked bundle for the CPU; `None` when the bundle has none.
    pub fn load(bundle: &Bundle) -> Result<Option<Tagger>, EngineError> {
        Self::load_on(bundle, Backend::Cpu)
    }

    /// Loads the tagger of a checked bundle to run on `backend`; `None` when the bundle has
    /// none.
    pub fn load_on(bundle: &Bundle, backend: Backend) -> Result<Option<Tagger>, EngineError> {
        let m = bundle.manifest();
        let Some(t) = &m.tagger else {
            return Ok(None);
        };
        Ok(Some(Tagger {
            graph: load_graph(&bundle.path(TAGGER_FILE), &t.graph, backend)?,
            frames: t.frames,
            n_mels: m.model.frontend.n_mels,
            tags: t.tags.clone(),
        }))
    }

    /// The tags the graph scores, with their thresholds.
    pub fn tag_specs(&self) -> &[TagSpec] {
        &self.tags
    }

    /// Each tag's best score over a window of `n_mels`-wide frames, taken in pieces of the
    /// tagger's window: every `frames` frames from the start, the last piece ending at the
    /// window's end. A window shorter than the tagger's is repeated to fill it.
    pub fn scores(&self, mel: &[f32]) -> Result<Vec<f32>, EngineError> {
        let (frames, n_mels) = (self.frames, self.n_mels);
        let available = mel.len() / n_mels;
        if available == 0 || !mel.len().is_multiple_of(n_mels) {
            return Err(EngineError::TaggerShape {
                found: mel.len(),
                mels: n_mels,
            });
        }
        let mut best = vec![0.0f32; self.tags.len()];
        // A window shorter than a piece is repeated to fill it; a longer one is cut in place.
        let repeated: Vec<f32>;
        let window = if available < frames {
            repeated = (0..frames)
                .flat_map(|i| mel[(i % available) * n_mels..][..n_mels].iter().copied())
                .collect();
            &repeated[..]
        } else {
            mel
        };
        for start in piece_starts(available, frames) {
            let piece = &window[start * n_mels..(start + frames) * n_mels];
            let input =
                Tensor::from_shape(&[1, frames, n_mels], piece).map_err(run_err("tagger"))?;
            let outputs = run(&self.graph, tvec![input.into()]).map_err(run_err("tagger"))?;
            for (b, s) in best.iter_mut().zip(plain_f32("tagger", &outputs[0])?) {
                *b = b.max(*s);
            }
        }
        Ok(best)
    }
}

/// The tags among `scores` that reach their thresholds, best first (ties in tag order).
pub fn fired(tags: &[TagSpec], scores: &[f32]) -> Vec<Tag> {
    fired_indices(tags.iter().map(|t| t.threshold), scores)
        .into_iter()
        .map(|(i, score)| Tag {
            label: tags[i].label.clone(),
            score,
        })
        .collect()
}

/// Which of `scores` reach their `thresholds` (`None`: never), as (index, score), best first
/// and ties in index order: the one rule by which the runtime reports tags and the tools
/// measure them.
pub fn fired_indices(
    thresholds: impl IntoIterator<Item = Option<f32>>,
    scores: &[f32],
) -> Vec<(usize, f32)> {
    let mut fired: Vec<(usize, f32)> = thresholds
        .into_iter()
        .zip(scores)
        .enumerate()
        .filter(|(_, (at, &s))| at.is_some_and(|at| s >= at))
        .map(|(i, (_, &s))| (i, s))
        .collect();
    fired.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fired
}

/// Where the tagger's pieces of a window of `available` frames start: every `frames` frames,
/// the last one moved back to end at the window's end (one piece when the window is shorter).
fn piece_starts(available: usize, frames: usize) -> Vec<usize> {
    if available <= frames {
        return vec![0];
    }
    let mut starts: Vec<usize> = (0..available - frames).step_by(frames).collect();
    starts.push(available - frames);
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_window_and_end_at_its_end() {
        assert_eq!(piece_starts(1024, 496), vec![0, 496, 528]);
        assert_eq!(piece_starts(992, 496), vec![0, 496]);
        assert_eq!(piece_starts(496, 496), vec![0]);
        assert_eq!(piece_starts(100, 496), vec![0]);
        assert_eq!(piece_starts(497, 496), vec![0, 1]);
    }

    #[test]
    fn tags_below_threshold_or_untuned_are_not_reported_and_the_rest_come_best_first() {
        let spec = |label: &str, threshold| TagSpec {
            label: label.into(),
            threshold,
            words: Vec::new(),
            typical_score: None,
        };
        let tags = [
            spec("doorbell", Some(0.5)),
            spec("dog barking", Some(0.2)),
            spec("kettle", None),
            spec("speech", Some(0.9)),
        ];
        let fired = fired(&tags, &[0.6, 0.7, 0.99, 0.89]);
        let labels: Vec<&str> = fired.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["dog barking", "doorbell"]);
        assert_eq!(fired[0].score, 0.7);
    }
}
