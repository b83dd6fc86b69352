//! A distilled convolutional student as a captioner's audio backbone (issue 35, step 1): read
//! from a `train teach` checkpoint (its batch norms folded in) or from a bundle's tagger graph
//! (as the runtime runs it), and grafted onto a captioner checkpoint in place of its audio
//! encoder, with a new seeded projector. The decoder, the prefix vectors and the image encoder
//! stay as they were, so a stage-0 captioner and stage-1a prefix carry over.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use earsight::bundle::{Bundle, MANIFEST_FILE, TAGGER_FILE};
use earsight::config::{ConvBackboneConfig, FrontendConfig};
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

use super::graph::folded;
use super::{ConvCheckpoint, Downsample, CONV_CONFIG_FILE};
use crate::model::weights::{conv_name, Array, Weights};

/// A backbone ready to graft: its shape, the frontend it hears through, and each
/// convolution's kernel and bias under [`conv_name`], batch norms folded in.
#[derive(Debug)]
pub struct FoldedBackbone {
    pub config: ConvBackboneConfig,
    pub frontend: FrontendConfig,
    pub tensors: BTreeMap<String, Array>,
    /// Where it came from, for the checkpoint's record.
    pub source: String,
}

impl FoldedBackbone {
    /// The backbone of `source`: a bundle directory with a tagger, or a checkpoint of
    /// `train teach` with a convolutional student.
    pub fn load(source: &Path) -> Result<FoldedBackbone> {
        if source.join(MANIFEST_FILE).is_file() {
            from_bundle(source)
        } else if source.join(CONV_CONFIG_FILE).is_file() {
            from_checkpoint(source)
        } else {
            bail!(
                "{}: neither a bundle ({MANIFEST_FILE}) nor a checkpoint of `train teach` with \
                 a convolutional student ({CONV_CONFIG_FILE})",
                source.display()
            )
        }
    }
}

fn from_checkpoint(dir: &Path) -> Result<FoldedBackbone> {
    let checkpoint = ConvCheckpoint::load(dir)?;
    let shape = &checkpoint.student.backbone;
    ensure!(
        shape.downsample == Downsample::Pool,
        "{}: its student shrinks by strided convolutions; a captioner's convolutional backbone \
         pools (\"downsample\": \"pool\")",
        dir.display()
    );
    let config = ConvBackboneConfig {
        stem: shape.stem,
        channels: shape.channels.clone(),
    };
    let mut tensors = BTreeMap::new();
    let blocks = (0..shape.channels.len()).map(|i| format!("blocks.{i}"));
    for (i, block) in std::iter::once("stem".to_string())
        .chain(blocks)
        .enumerate()
    {
        let (kernel, bias) = folded(&checkpoint.backbone, &block)?;
        tensors.insert(conv_name(i, "w"), kernel);
        tensors.insert(conv_name(i, "b"), Array::new(vec![bias.len()], bias)?);
    }
    Ok(FoldedBackbone {
        config,
        frontend: checkpoint.student.frontend,
        tensors,
        source: format!("the student of `train teach` checkpoint {}", dir.display()),
    })
}

/// The initializers of an ONNX graph by name, as f32 arrays (int8 ones converted).
fn initializers(path: &Path) -> Result<(pb::GraphProto, BTreeMap<String, Array>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let model = pb::ModelProto::decode(bytes.as_slice())
        .with_context(|| format!("{}: not an ONNX model", path.display()))?;
    let graph = model
        .graph
        .with_context(|| format!("{}: holds no graph", path.display()))?;
    let mut out = BTreeMap::new();
    for t in &graph.initializer {
        let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        let data: Vec<f32> = match DataType::try_from(t.data_type) {
            Ok(DataType::Float) if !t.raw_data.is_empty() => t
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Ok(DataType::Float) => t.float_data.clone(),
            Ok(DataType::Int8) => t.raw_data.iter().map(|&b| b as i8 as f32).collect(),
            _ => continue,
        };
        let array = Array::new(shape, data)
            .with_context(|| format!("{}: initializer {}", path.display(), t.name))?;
        out.insert(t.name.clone(), array);
    }
    Ok((graph, out))
}

fn from_bundle(dir: &Path) -> Result<FoldedBackbone> {
    let bundle = Bundle::open(dir).with_context(|| format!("opening bundle {}", dir.display()))?;
    ensure!(
        bundle.manifest().tagger.is_some(),
        "{}: the bundle has no tagger to take the backbone from",
        dir.display()
    );
    let path = dir.join(TAGGER_FILE);
    let (graph, arrays) = initializers(&path)?;
    ensure!(
        graph.node.iter().any(|n| n.op_type == "MaxPool"),
        "{}: its backbone shrinks by strided convolutions; a captioner's convolutional backbone \
         pools",
        path.display()
    );
    // Each convolution of the tagger is `{name}.w` (f32) or `{name}.w.q` times `{name}.w.scale`
    // (int8, a scale per output channel), with `{name}.b`: the stem, then blocks.0, blocks.1, ...
    let kernel = |name: &str| -> Result<Option<Array>> {
        if let Some(w) = arrays.get(&format!("{name}.w")) {
            return Ok(Some(w.clone()));
        }
        let (Some(q), Some(scale)) = (
            arrays.get(&format!("{name}.w.q")),
            arrays.get(&format!("{name}.w.scale")),
        ) else {
            return Ok(None);
        };
        let per_channel = q.data.len() / scale.data.len().max(1);
        ensure!(
            q.shape.len() == 4 && scale.data.len() == q.shape[0],
            "{}: {name}.w.scale has {} values for {name}.w.q {:?}",
            path.display(),
            scale.data.len(),
            q.shape
        );
        let data = q
            .data
            .iter()
            .enumerate()
            .map(|(i, &v)| v * scale.data[i / per_channel])
            .collect();
        Ok(Some(Array::new(q.shape.clone(), data)?))
    };
    let mut tensors = BTreeMap::new();
    let mut widths = Vec::new();
    let names = std::iter::once("stem".to_string()).chain((0..).map(|i| format!("blocks.{i}")));
    for (i, name) in names.enumerate() {
        let Some(w) = kernel(&name)? else { break };
        let b = arrays
            .get(&format!("{name}.b"))
            .with_context(|| format!("{}: {name} has a kernel and no bias", path.display()))?;
        let input = widths.last().copied().unwrap_or(1);
        ensure!(
            w.shape == [b.data.len(), input, 3, 3],
            "{}: {name}'s kernel is {:?}, not a 3x3 from {input} to {} channels",
            path.display(),
            w.shape,
            b.data.len()
        );
        widths.push(b.data.len());
        tensors.insert(conv_name(i, "w"), w);
        tensors.insert(conv_name(i, "b"), b.clone());
    }
    ensure!(
        widths.len() >= 2,
        "{}: found no stem and block convolutions",
        path.display()
    );
    Ok(FoldedBackbone {
        config: ConvBackboneConfig {
            stem: widths[0],
            channels: widths[1..].to_vec(),
        },
        frontend: bundle.manifest().model.frontend.clone(),
        tensors,
        source: format!("the tagger of bundle {}", dir.display()),
    })
}

/// `weights` with `backbone` as its audio backbone and a projector drawn from `seed`; the
/// decoder and prefix vectors are kept. The backbone must hear through the model's frontend
/// (the window length aside).
pub fn graft(weights: &Weights, backbone: &FoldedBackbone, seed: u64) -> Result<Weights> {
    let mut theirs = backbone.frontend.clone();
    theirs.clip_frames = weights.config.frontend.clip_frames;
    ensure!(
        theirs == weights.config.frontend,
        "{} hears through another frontend than the model's (the window length aside): {:?} \
         against {:?}",
        backbone.source,
        backbone.frontend,
        weights.config.frontend
    );
    let config = weights
        .config
        .clone()
        .with_conv_backbone(backbone.config.clone());
    config.validate().map_err(|err| {
        anyhow::anyhow!("{} cannot be this model's backbone: {err}", backbone.source)
    })?;
    let mut tensors = Weights::init(&config, seed)?.tensors().clone();
    for (name, array) in weights.tensors() {
        let audio = name.starts_with("enc.") || name.starts_with("proj.");
        if !audio {
            tensors.insert(name.clone(), array.clone());
        }
    }
    for (name, array) in &backbone.tensors {
        tensors.insert(name.clone(), array.clone());
    }
    Weights::from_tensors(&config, tensors)
}
