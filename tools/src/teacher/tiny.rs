//! A tiny random teacher with the interface of the real ones, written by the tools' own ONNX
//! writer: `mel [1, 1, 128, T]` -> `scores`, `embedding`, `logits`, and a class CSV of made-up
//! names. The tests load it through the same `--teacher` path on any machine; it knows nothing.
//!
//! Its network: the mean of each mel band over time, a tanh layer (the embedding), a linear
//! head (the logits) and a sigmoid (the scores), so that what it says depends on the spectrum.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use earsight::bundle::{DType, Dim, GraphSpec, Quantization, TensorSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::frontend::N_MELS;
use super::{EMBEDDING, LOGITS, MEL_INPUT, SCORES};
use crate::model::onnx::{to_bytes, Attr, Graph};

/// The graph's file name in the directory [`write`] makes.
pub const GRAPH_FILE: &str = "tiny-teacher.onnx";
/// The class list's file name.
pub const CLASSES_FILE: &str = "classes.csv";

/// The tiny teacher's size.
#[derive(Clone, Copy, Debug)]
pub struct TinyShape {
    pub classes: usize,
    pub embedding: usize,
}

impl Default for TinyShape {
    fn default() -> Self {
        TinyShape {
            classes: 12,
            embedding: 16,
        }
    }
}

fn spec(name: &str, shape: Vec<Dim>) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: DType::F32,
        shape,
    }
}

/// Writes a seeded tiny teacher into `dir` (created if needed) and returns the directory.
pub fn write(dir: &Path, shape: TinyShape, seed: u64) -> Result<PathBuf> {
    let (c, e) = (shape.classes, shape.embedding);
    let interface = GraphSpec {
        inputs: vec![spec(
            MEL_INPUT,
            vec![
                Dim::Fixed(1),
                Dim::Fixed(1),
                Dim::Fixed(N_MELS),
                Dim::Symbol("T".into()),
            ],
        )],
        outputs: vec![
            spec(SCORES, vec![Dim::Fixed(1), Dim::Fixed(c)]),
            spec(EMBEDDING, vec![Dim::Fixed(1), Dim::Fixed(e)]),
            spec(LOGITS, vec![Dim::Fixed(1), Dim::Fixed(c)]),
        ],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uniform = |n: usize, bound: f32| -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-bound..bound)).collect()
    };
    let mut g = Graph::new(Quantization::F32, &interface);
    let x = g.node(
        "ReduceMean",
        &[MEL_INPUT],
        vec![("axes", Attr::Ints(vec![3])), ("keepdims", Attr::Int(0))],
    );
    let x = g.reshape(&x, &[1, N_MELS as i64]);
    let w1 = g.f32s("w1", &[N_MELS, e], &uniform(N_MELS * e, 0.3));
    let b1 = g.f32s("b1", &[e], &uniform(e, 0.5));
    let h = g.node("MatMul", &[&x, &w1], vec![]);
    let h = g.node("Add", &[&h, &b1], vec![]);
    let embedding = g.node("Tanh", &[&h], vec![]);
    let w2 = g.f32s("w2", &[e, c], &uniform(e * c, 1.0));
    let b2 = g.f32s("b2", &[c], &uniform(c, 0.5));
    let y = g.node("MatMul", &[&embedding, &w2], vec![]);
    let logits = g.node("Add", &[&y, &b2], vec![]);
    let scores = g.node("Sigmoid", &[&logits], vec![]);
    g.output(&scores, SCORES);
    g.output(&embedding, EMBEDDING);
    g.output(&logits, LOGITS);
    let model = g.finish("tiny-teacher");

    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let graph = dir.join(GRAPH_FILE);
    std::fs::write(&graph, to_bytes(&model))
        .with_context(|| format!("writing {}", graph.display()))?;
    let mut csv = String::from("index,mid,display_name\n");
    for i in 0..c {
        csv.push_str(&format!("{i},/tiny/{i},\"tiny class {i}\"\n"));
    }
    let classes = dir.join(CLASSES_FILE);
    std::fs::write(&classes, csv).with_context(|| format!("writing {}", classes.display()))?;
    Ok(dir.to_path_buf())
}
