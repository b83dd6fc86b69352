//! What scores the project's tags on audio, for tuning and measuring thresholds: a student's
//! graph from its `train teach` checkpoint (its teacher classes grouped by the tag set), or the
//! tagger of a bundle exactly as `earsight caption` runs it. The second measures what ships, and
//! needs no training checkpoint.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use earsight::bundle::TagSpec;
use earsight::Captioner;

use super::conv_net::tagger::StudentTagger;
use super::zero_shot::LabelMap;

/// Scores every tag of a tag set on a clip.
pub trait TagScorer {
    /// The rate [`TagScorer::tag_scores`] hears at.
    fn sample_rate(&self) -> u32;

    /// Each tag's score, in the tag set's order, on mono `samples` at [`TagScorer::sample_rate`].
    fn tag_scores(&mut self, samples: &[f32]) -> Result<Vec<f32>>;
}

/// A student's graph, its first window of a clip, its teacher classes grouped by `tags`.
pub struct StudentTags<'a> {
    pub student: &'a StudentTagger,
    pub tags: &'a LabelMap,
}

impl TagScorer for StudentTags<'_> {
    fn sample_rate(&self) -> u32 {
        self.student.sample_rate()
    }

    fn tag_scores(&mut self, samples: &[f32]) -> Result<Vec<f32>> {
        Ok(self.tags.label_scores(&self.student.scores(samples)?))
    }
}

/// A bundle's tagger over the model window of a clip (cut, or repeated when shorter), in the
/// pieces the runtime cuts it into, as `earsight caption` tags a clip.
pub struct BundleTags {
    captioner: Captioner,
}

impl BundleTags {
    /// Opens the bundle in `dir`, which must have a tagger whose tags are those of `tags`, in
    /// the same order.
    pub fn open(dir: &Path, tags: &LabelMap) -> Result<BundleTags> {
        let captioner = Captioner::open(dir)
            .with_context(|| format!("{}: cannot open the bundle", dir.display()))?;
        let specs = captioner
            .tagger()
            .with_context(|| format!("{}: the bundle has no tagger", dir.display()))?
            .tag_specs();
        ensure!(
            specs.len() == tags.labels.len()
                && specs
                    .iter()
                    .zip(&tags.labels)
                    .all(|(s, l)| s.label == l.label),
            "{}: the bundle's tags are not those of the tag set",
            dir.display()
        );
        Ok(BundleTags { captioner })
    }

    /// The bundle's tags with the thresholds it ships.
    pub fn tag_specs(&self) -> &[TagSpec] {
        self.captioner
            .tagger()
            .expect("opened with a tagger")
            .tag_specs()
    }
}

impl TagScorer for BundleTags {
    fn sample_rate(&self) -> u32 {
        self.captioner
            .bundle()
            .manifest()
            .model
            .frontend
            .sample_rate
    }

    fn tag_scores(&mut self, samples: &[f32]) -> Result<Vec<f32>> {
        let mel = self.captioner.frontend_mut().window(samples);
        let tagger = self.captioner.tagger().expect("opened with a tagger");
        Ok(tagger.scores(&mel)?)
    }
}
