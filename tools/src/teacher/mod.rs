//! A pretrained audio tagger as a teacher: the tools' one way to load it and ask it about a
//! clip, at training and evaluation time only (the runtime never sees a teacher).
//!
//! A teacher directory (`--teacher DIR`, e.g. `../shared/models/efficientat-mn04`) holds one
//! ONNX graph and one CSV of its classes (`index,mid,display_name`, one row per score, read at
//! run time: the project keeps no copy of a teacher's class list). The graph's input says
//! which frontend it needs; the tools know EfficientAT's ([`frontend`]): `mel [1, 1, 128, T]`
//! at 32 kHz. Its outputs, found by name, are `scores` (sigmoid), `logits` and `embedding`.
//!
//! Audio is decoded, downmixed and resampled by the runtime's reader ([`earsight::audio`]),
//! the log-mel is computed here, the graph runs in tract. [`tiny`] writes a small random
//! teacher of the same shape, for tests on a machine without the real ones. [`conv_net`] is the
//! convolutional student distilled from a teacher, and its tagger graph.
//!
//! The group uses the model group ([`crate::model`]) and clips ([`crate::data`]).

pub mod conv_net;
pub mod frontend;
pub mod tag_scorer;
pub mod tiny;
pub mod zero_shot;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::GenericFactoid;

use frontend::{EfficientAtMel, N_MELS, SAMPLE_RATE};

/// The graph input of an EfficientAT teacher.
pub const MEL_INPUT: &str = "mel";
/// The graph outputs a teacher must have.
pub const SCORES: &str = "scores";
pub const LOGITS: &str = "logits";
pub const EMBEDDING: &str = "embedding";

/// One of the teacher's classes, as its CSV names it.
#[derive(Clone, Debug, Deserialize)]
pub struct TeacherClass {
    pub index: usize,
    /// The AudioSet ontology id (`/m/...`).
    pub mid: String,
    pub display_name: String,
}

/// A clip's features: `[N_MELS][frames]` row-major.
pub struct Features {
    pub mel: Vec<f32>,
    pub frames: usize,
}

/// What the teacher says about one clip.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// Per class, in `[0, 1]`.
    pub scores: Vec<f32>,
    pub logits: Vec<f32>,
    pub embedding: Vec<f32>,
}

/// How many clip lengths keep an optimized plan (see [`Teacher::infer`]).
const PLANS_KEPT: usize = 8;

/// A loaded teacher: its frontend, its graph, its class names.
pub struct Teacher {
    graph_path: PathBuf,
    classes: Vec<TeacherClass>,
    frontend: EfficientAtMel,
    /// The graph as read, its time axis symbolic; optimized per clip length in `plans`.
    model: InferenceModel,
    /// Optimized plans by frame count, the most recently made last.
    plans: Mutex<Vec<(usize, Arc<TypedRunnableModel>)>>,
    /// Where `scores`, `logits` and `embedding` are among the graph's outputs.
    positions: [usize; 3],
    embedding_dim: usize,
}

impl Teacher {
    /// Loads the graph and class list of a teacher directory and checks that they fit: the
    /// input is EfficientAT's mel, the outputs are there, and there is one class per score.
    pub fn load(dir: &Path) -> Result<Teacher> {
        if !dir.is_dir() {
            bail!(
                "{}: no such teacher directory (a folder with one .onnx graph and one class \
                 .csv, e.g. ../shared/models/efficientat-mn04)",
                dir.display()
            );
        }
        let graph_path = only_file(dir, "onnx", "graph")?;
        let csv_path = only_file(dir, "csv", "class list")?;
        let classes = read_classes(&csv_path)?;
        let (model, positions, widths) = load_graph(&graph_path)?;
        let [n_scores, n_logits, embedding_dim] = widths;
        if n_scores != classes.len() || n_logits != classes.len() {
            bail!(
                "{}: the graph gives {n_scores} scores and {n_logits} logits, but {} lists {} \
                 classes",
                graph_path.display(),
                csv_path.display(),
                classes.len()
            );
        }
        Ok(Teacher {
            graph_path,
            classes,
            frontend: EfficientAtMel::new(),
            model,
            plans: Mutex::new(Vec::new()),
            positions,
            embedding_dim,
        })
    }

    /// The graph file the teacher was loaded from.
    pub fn graph_path(&self) -> &Path {
        &self.graph_path
    }

    /// The rate the teacher hears at.
    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    pub fn classes(&self) -> &[TeacherClass] {
        &self.classes
    }

    pub fn embedding_dim(&self) -> usize {
        self.embedding_dim
    }

    /// Decodes any audio file the runtime reads, mono at the teacher's rate.
    pub fn read_audio(&self, path: &Path) -> Result<Vec<f32>> {
        Ok(earsight::audio::read_all(path, SAMPLE_RATE)?)
    }

    /// The teacher's own features of a clip at its rate.
    pub fn features(&self, samples: &[f32]) -> Result<Features> {
        let Some(frames) = EfficientAtMel::frames_for(samples.len()) else {
            bail!(
                "a clip of {} samples is too short for the teacher's frontend (2 at least)",
                samples.len()
            );
        };
        Ok(Features {
            mel: self.frontend.compute(samples),
            frames,
        })
    }

    /// Runs the graph on features of any length. The graph is optimized for each length it
    /// meets, and the plans of the last few lengths are kept: tract runs a plan made for a
    /// known length several times faster than one for a symbolic length, and a teacher mostly
    /// hears clips or crops of one length.
    pub fn infer(&self, features: &Features) -> Result<Outputs> {
        let input = Tensor::from_shape(&[1, 1, N_MELS, features.frames], &features.mel)?;
        let outputs = self
            .plan(features.frames)?
            .run(tvec![input.into()])
            .with_context(|| format!("{}: running the graph", self.graph_path.display()))?;
        let take = |i: usize| -> Result<Vec<f32>> {
            Ok(outputs[self.positions[i]]
                .try_as_plain_ram()?
                .as_slice::<f32>()?
                .to_vec())
        };
        Ok(Outputs {
            scores: take(0)?,
            logits: take(1)?,
            embedding: take(2)?,
        })
    }

    /// The optimized plan for clips of `frames` frames.
    fn plan(&self, frames: usize) -> Result<Arc<TypedRunnableModel>> {
        // Each change to the list is whole, so a thread that panicked holding the lock cannot
        // have left it half-changed.
        let lock = || self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, plan)) = lock().iter().find(|(n, _)| *n == frames) {
            return Ok(plan.clone());
        }
        let plan = self
            .model
            .clone()
            .with_input_fact(0, f32::fact([1, 1, N_MELS, frames]).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .with_context(|| {
                format!(
                    "{}: optimizing the graph for {frames} frames",
                    self.graph_path.display()
                )
            })?;
        let mut plans = lock();
        if plans.len() == PLANS_KEPT {
            plans.remove(0);
        }
        plans.push((frames, plan.clone()));
        Ok(plan)
    }

    /// What the teacher says about a clip at its rate.
    pub fn clip(&self, samples: &[f32]) -> Result<Outputs> {
        self.infer(&self.features(samples)?)
    }

    /// What the teacher says about an audio file, read whole.
    pub fn file(&self, path: &Path) -> Result<Outputs> {
        let samples = self.read_audio(path)?;
        self.clip(&samples)
            .with_context(|| format!("{}: the teacher could not run on it", path.display()))
    }

    /// The `k` best-scored classes, best first, as (class index, score).
    pub fn top(&self, scores: &[f32], k: usize) -> Vec<(usize, f32)> {
        rank(scores, k)
    }
}

/// The `k` best of `scores` as (index, score), best first; equal scores in index order.
pub fn rank(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}

/// The one file of a kind in a teacher directory.
fn only_file(dir: &Path, extension: &str, what: &str) -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!(
            "{}: no {what} (*.{extension}) in the teacher directory",
            dir.display()
        ),
        _ => {
            let names: Vec<String> = found
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            bail!(
                "{}: several {what}s ({}); a teacher directory has one",
                dir.display(),
                names.join(", ")
            )
        }
    }
}

/// The class CSV: `index,mid,display_name`, row `i` naming score `i`.
fn read_classes(path: &Path) -> Result<Vec<TeacherClass>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut classes = Vec::new();
    for (row, record) in reader.deserialize::<TeacherClass>().enumerate() {
        let class = record.with_context(|| {
            format!(
                "{}: row {}: expected index,mid,display_name",
                path.display(),
                row + 1
            )
        })?;
        if class.index != row {
            bail!(
                "{}: row {} has index {}; rows must be in score order from 0",
                path.display(),
                row + 1,
                class.index
            );
        }
        classes.push(class);
    }
    if classes.is_empty() {
        bail!("{}: lists no classes", path.display());
    }
    Ok(classes)
}

/// Loads a teacher graph and checks its interface; returns it, where its `scores`, `logits`
/// and `embedding` outputs are, and their widths.
fn load_graph(path: &Path) -> Result<(InferenceModel, [usize; 3], [usize; 3])> {
    let at = || format!("{}: cannot load the teacher graph", path.display());
    let model = tract_onnx::onnx().model_for_path(path).with_context(at)?;
    let inputs = model.input_outlets().with_context(at)?;
    let input_name = |i: usize| model.node(inputs[i].node).name.clone();
    let dims: Vec<Option<TDim>> = match inputs {
        [only] => model
            .outlet_fact(*only)
            .with_context(at)?
            .shape
            .dims()
            .map(|d| match d {
                GenericFactoid::Only(t) => Some(t.clone()),
                GenericFactoid::Any => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let fixed = |d: &Option<TDim>, n: i64| d.as_ref().and_then(TDim::as_i64) == Some(n);
    let is_efficientat = inputs.len() == 1
        && input_name(0) == MEL_INPUT
        && dims.len() == 4
        && fixed(&dims[0], 1)
        && fixed(&dims[1], 1)
        && fixed(&dims[2], N_MELS as i64)
        && dims[3].as_ref().is_some_and(|t| t.as_i64().is_none());
    if !is_efficientat {
        let found: Vec<String> = (0..inputs.len())
            .map(|i| {
                let shape: Vec<String> = if inputs.len() == 1 {
                    dims.iter()
                        .map(|d| d.as_ref().map_or("?".into(), TDim::to_string))
                        .collect()
                } else {
                    Vec::new()
                };
                format!("`{}` [{}]", input_name(i), shape.join(", "))
            })
            .collect();
        bail!(
            "{}: the graph takes {}; the tools know one teacher frontend, EfficientAT's \
             log-mel at 32 kHz, for a graph taking `{MEL_INPUT}` [1, 1, {N_MELS}, T]",
            path.display(),
            found.join(", ")
        );
    }
    let typed = model.clone().into_typed().with_context(at)?;
    let outlets = typed.output_outlets().with_context(at)?;
    let names = earsight::engine::output_names(&typed).with_context(at)?;
    let mut positions = [0; 3];
    let mut widths = [0; 3];
    for (k, wanted) in [SCORES, LOGITS, EMBEDDING].into_iter().enumerate() {
        let Some(p) = names.iter().position(|n| n == wanted) else {
            bail!(
                "{}: the graph has no output `{wanted}` (its outputs: {}); a teacher gives \
                 `{SCORES}`, `{LOGITS}` and `{EMBEDDING}`",
                path.display(),
                names.join(", ")
            );
        };
        let shape = &typed.outlet_fact(outlets[p]).with_context(at)?.shape;
        let width = match shape.as_concrete() {
            Some([1, n]) => *n,
            _ => bail!(
                "{}: output `{wanted}` has shape {shape:?}; a teacher's outputs are [1, N]",
                path.display()
            ),
        };
        positions[k] = p;
        widths[k] = width;
    }
    Ok((model, positions, widths))
}
