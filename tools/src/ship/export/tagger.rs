//! A convolutional student's tags into a bundle (issue 34, step 3): its graph as the bundle's
//! tagger (`tagger.onnx`, one score per tag of the project's tag set), the tags' names and
//! thresholds in the manifest, and a section of the model card. The captioner's files are
//! copied unchanged; the student must hear through the captioner's frontend, so that the
//! runtime computes one log-mel for both.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{ensure, Context, Result};
use earsight::bundle::{
    sha256_file, Bundle, Manifest, Quantization, TagSpec, TaggerManifest, FORMAT_VERSION,
    MANIFEST_FILE, MODEL_CARD_FILE, TAGGER_FILE,
};

use super::{prepare_out_dir, write};
use crate::teacher::conv_net::graph::bundle_tagger;
use crate::teacher::conv_net::{ConvCheckpoint, Downsample};
use crate::teacher::zero_shot::LabelMap;
use crate::train::thresholds::Thresholds;

/// What goes into the bundle besides the captioner's files.
pub struct TaggerSource<'a> {
    /// A checkpoint of `train teach` with a convolutional student.
    pub checkpoint: &'a Path,
    /// The project's tags, each mapped to the classes of the student's head.
    pub tags: &'a LabelMap,
    /// `teacher thresholds` for that tag set.
    pub thresholds: &'a Thresholds,
    pub scheme: Quantization,
    /// Markdown appended to the model card after the generated table of tags: credits of the
    /// teacher and the data, and what was measured.
    pub card: &'a str,
}

/// Writes a copy of the bundle at `from` into `out` with `source`'s tagger (replacing any it
/// had); returns the new manifest.
pub fn attach(from: &Path, source: &TaggerSource, out: &Path, force: bool) -> Result<Manifest> {
    let bundle = Bundle::open(from).with_context(|| format!("checking {}", from.display()))?;
    let c = ConvCheckpoint::load(source.checkpoint)?;
    let m = bundle.manifest();
    let mut heard = c.student.frontend.clone();
    heard.clip_frames = m.model.frontend.clip_frames;
    ensure!(
        heard == m.model.frontend,
        "{}: the student hears through another frontend than the bundle's ({:?} against {:?}); \
         the runtime computes one log-mel for both",
        source.checkpoint.display(),
        c.student.frontend,
        m.model.frontend
    );
    let frames = c.student.backbone.clip_frames;
    ensure!(
        frames <= m.model.frontend.clip_frames,
        "the student's window ({frames} frames) is longer than the bundle's ({})",
        m.model.frontend.clip_frames
    );
    source.thresholds.check_tags(source.tags)?;
    let head_classes = c.head.get("tag_head.bias").map_or(0, |b| b.data.len());
    ensure!(
        head_classes == source.tags.teacher_classes,
        "the tag set maps {} teacher classes, the student's head scores {head_classes}",
        source.tags.teacher_classes
    );
    let in_dir = std::fs::canonicalize(from)?;
    ensure!(
        std::fs::canonicalize(out).map_or(true, |o| o != in_dir),
        "--out is the bundle read: write the tagged bundle elsewhere"
    );

    let classes: Vec<Vec<usize>> = source
        .tags
        .labels
        .iter()
        .map(|l| l.classes.clone())
        .collect();
    let graph = bundle_tagger(
        &c.student.backbone,
        m.model.frontend.n_mels,
        &c.backbone,
        &c.head,
        source.scheme,
        &classes,
    )?;
    let tags: Vec<TagSpec> = source
        .thresholds
        .tags
        .iter()
        .map(|t| TagSpec {
            label: t.label.clone(),
            threshold: t.threshold,
        })
        .collect();
    let tagger = TaggerManifest {
        frames,
        graph: TaggerManifest::graph_spec(frames, m.model.frontend.n_mels, tags.len()),
        quantization: source.scheme,
        tags,
        training: training(source, &c)?,
    };

    prepare_out_dir(out, force)?;
    let mut manifest = m.clone();
    for file in manifest.files() {
        if file != MODEL_CARD_FILE && file != TAGGER_FILE {
            std::fs::copy(bundle.path(file), out.join(file))
                .with_context(|| format!("copying {file} into {}", out.display()))?;
        }
    }
    write(
        &out.join(TAGGER_FILE),
        &crate::model::onnx::to_bytes(&graph),
    )?;
    let card = std::fs::read_to_string(bundle.path(MODEL_CARD_FILE))
        .with_context(|| format!("reading {}", bundle.path(MODEL_CARD_FILE).display()))?;
    write(
        &out.join(MODEL_CARD_FILE),
        (card_without_tags(&card) + &tags_section(&tagger, source)).as_bytes(),
    )?;
    manifest.format_version = FORMAT_VERSION;
    manifest.tagger = Some(tagger);
    manifest.sha256.clear();
    for file in manifest.files() {
        manifest
            .sha256
            .insert(file.to_string(), sha256_file(&out.join(file))?);
    }
    let json = serde_json::to_string_pretty(&manifest)? + "\n";
    write(&out.join(MANIFEST_FILE), json.as_bytes())?;
    Bundle::open(out).with_context(|| format!("checking what was written to {}", out.display()))?;
    Ok(manifest)
}

/// The heading of the model card's tags section: a card already holding one (a bundle tagged
/// before) loses it, so that tagging again replaces it.
const TAGS_HEADING: &str = "\n## Tags\n";

fn card_without_tags(card: &str) -> String {
    match card.find(TAGS_HEADING) {
        Some(at) => card[..at].to_string(),
        None => card.trim_end().to_string() + "\n",
    }
}

/// The manifest's one-line account of how the tagger was made.
fn training(source: &TaggerSource, c: &ConvCheckpoint) -> Result<String> {
    let t = source.thresholds;
    let b = &c.student.backbone;
    let steps = std::fs::read_to_string(source.checkpoint.join("state.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["step"].as_u64());
    Ok(format!(
        "a convolutional student ({} frames, stem {} and blocks {:?}, downsampling by {}) \
         distilled by `earsight-tools train teach`{}; thresholds tuned by `teacher thresholds` \
         for precision {} against the teacher's score {} on {} validation mixtures",
        b.clip_frames,
        b.stem,
        b.channels,
        match b.downsample {
            Downsample::Pool => "max-pooling",
            Downsample::Stride => "strided convolutions",
        },
        steps.map_or(String::new(), |s| format!(" for {s} steps")),
        t.precision,
        t.teacher_at,
        t.mixtures
    ))
}

/// The model card's section on the tags: how they were made, then every tag with its threshold
/// and validation precision and recall, then the card text the user gave.
fn tags_section(tagger: &TaggerManifest, source: &TaggerSource) -> String {
    let mut s = String::from(TAGS_HEADING);
    let reported = tagger.tags.iter().filter(|t| t.threshold.is_some()).count();
    let _ = writeln!(
        s,
        "\nTagger: {}. Stored {}; {} tags, {reported} of them with a threshold (a tag without \
         one is never reported).\n",
        tagger.training,
        tagger.quantization,
        tagger.tags.len()
    );
    s.push_str(
        "| tag | threshold | validation precision | validation recall | teacher positives |\n",
    );
    s.push_str("|---|---|---|---|---|\n");
    for t in &source.thresholds.tags {
        let _ = match t.threshold {
            Some(at) => writeln!(
                s,
                "| {} | {at:.3} | {:.3} | {:.3} | {} |",
                t.label, t.precision, t.recall, t.teacher_positives
            ),
            None => writeln!(
                s,
                "| {} | never reported | | | {} |",
                t.label, t.teacher_positives
            ),
        };
    }
    if !source.card.trim().is_empty() {
        s.push('\n');
        s.push_str(source.card.trim());
        s.push('\n');
    }
    s
}
