//! A convolutional student's graph run in tract as the runtime would run it: a file is decoded
//! at the student's rate and its first window (repeated when shorter) goes through the
//! project's log-mel frontend and the graph. It scores the teacher's classes, so the teacher's
//! zero-shot measures ([`crate::teacher::zero_shot`]) measure the student the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use earsight::bundle::Quantization;
use earsight::config::FrontendConfig;
use earsight::frontend::LogMel;
use tract_onnx::prelude::{
    tvec, Framework, InferenceModelExt, IntoRunnable, Tensor, TypedRunnableModel,
};

use super::graph::tagger;
use super::ConvCheckpoint;
use crate::model::onnx::to_bytes;
use crate::teacher::zero_shot::Tagger;

/// A student's graph, loaded.
pub struct StudentTagger {
    checkpoint: PathBuf,
    frontend: FrontendConfig,
    model: Arc<TypedRunnableModel>,
}

impl StudentTagger {
    /// Builds the graph of the student in checkpoint `dir` in `scheme` and loads it.
    pub fn load(dir: &Path, scheme: Quantization) -> Result<StudentTagger> {
        let c = ConvCheckpoint::load(dir)?;
        let n_mels = c.student.frontend.n_mels;
        let graph = tagger(&c.student.backbone, n_mels, &c.backbone, &c.head, scheme)?;
        let bytes = to_bytes(&graph);
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .with_context(|| format!("{}: loading the student's graph", dir.display()))?;
        Ok(StudentTagger {
            checkpoint: dir.to_path_buf(),
            frontend: c.student.frontend,
            model,
        })
    }

    /// The rate the student hears at.
    pub fn sample_rate(&self) -> u32 {
        self.frontend.sample_rate
    }

    /// The tag scores of the first window of `samples` at the student's rate.
    pub fn scores(&self, samples: &[f32]) -> Result<Vec<f32>> {
        self.run(&LogMel::new(&self.frontend).window(samples))
    }

    fn run(&self, window: &[f32]) -> Result<Vec<f32>> {
        let f = &self.frontend;
        let input = Tensor::from_shape(&[1, f.clip_frames, f.n_mels], window)?;
        let outputs = self.model.run(tvec![input.into()])?;
        Ok(outputs[1].try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
    }
}

impl Tagger for StudentTagger {
    fn graph_path(&self) -> &Path {
        &self.checkpoint
    }

    fn timed(&self, audio: &Path) -> Result<(Vec<f32>, [Duration; 3])> {
        let t0 = Instant::now();
        let samples = earsight::audio::read_all(audio, self.frontend.sample_rate)
            .with_context(|| format!("{}: cannot decode it", audio.display()))?;
        let t1 = Instant::now();
        let window = LogMel::new(&self.frontend).window(&samples);
        let t2 = Instant::now();
        let scores = self
            .run(&window)
            .with_context(|| format!("{}: the student could not run on it", audio.display()))?;
        Ok((scores, [t1 - t0, t2 - t1, t2.elapsed()]))
    }
}
