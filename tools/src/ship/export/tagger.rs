//! A convolutional student's tags into a bundle (issue 34, step 3): its graph as the bundle's
//! tagger (`tagger.onnx`, one score per tag of the project's tag set), the tags' names and
//! thresholds in the manifest, and a section of the model card. The captioner's files are
//! copied unchanged; the student must hear through the captioner's frontend, so that the
//! runtime computes one log-mel for both.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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
/// had, and with it any tag guidance: `guide` steers by a tagger's own typical scores);
/// returns the new manifest.
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
            words: Vec::new(),
            typical_score: None,
        })
        .collect();
    let tagger = TaggerManifest {
        frames,
        graph: TaggerManifest::graph_spec(frames, m.model.frontend.n_mels, tags.len()),
        quantization: source.scheme,
        tags,
        training: training(source, &c)?,
    };

    let section = tags_section(&tagger, source.thresholds, source.card);
    let graph = crate::model::onnx::to_bytes(&graph);
    write_tagged(&bundle, tagger, &graph, &section, out, force)
}

/// Writes a copy of the bundle at `from` into `out` with the tagger of the bundle at `tagged`:
/// its graph, its tags and thresholds, and its model card's section on tags. Its tag words and
/// typical scores are left behind with its decoding, as `attach` leaves them: `guide` writes
/// them anew for the captioner they steer. The two must hear through one frontend.
pub fn carry(from: &Path, tagged: &Path, out: &Path, force: bool) -> Result<Manifest> {
    let bundle = Bundle::open(from).with_context(|| format!("checking {}", from.display()))?;
    let donor = Bundle::open(tagged).with_context(|| format!("checking {}", tagged.display()))?;
    let tagger = unguided_tagger(&donor, tagged, "carry")?;
    let (ours, theirs) = (
        &bundle.manifest().model.frontend,
        &donor.manifest().model.frontend,
    );
    ensure!(
        ours == theirs,
        "{}: its tagger hears through another frontend than {}'s ({theirs:?} against {ours:?}); \
         the runtime computes one log-mel for both",
        tagged.display(),
        from.display()
    );
    let card = model_card(&donor)?;
    let section = match card.find(TAGS_HEADING) {
        Some(at) => card_without(&card[at..], GUIDANCE_HEADING),
        None => format!("{TAGS_HEADING}\nTagger: {}.\n", tagger.training),
    };
    write_tagged(
        &bundle,
        tagger,
        &tagger_graph(&donor)?,
        &section,
        out,
        force,
    )
}

/// Writes a copy of the tagged bundle at `from` into `out` with `thresholds` in place of its
/// tagger's (`teacher thresholds --bundle` tunes them for that tagger), the graph unchanged,
/// and the model card's section on tags written anew, `card` after its table. Tag words and
/// typical scores are left behind with the decoding, as `attach` leaves them.
pub fn retune(
    from: &Path,
    thresholds: &Thresholds,
    card: &str,
    out: &Path,
    force: bool,
) -> Result<Manifest> {
    let bundle = Bundle::open(from).with_context(|| format!("checking {}", from.display()))?;
    let mut tagger = unguided_tagger(&bundle, from, "tune")?;
    thresholds
        .check_labels(tagger.tags.iter().map(|t| t.label.as_str()))
        .with_context(|| format!("{}'s tagger", from.display()))?;
    for (tag, t) in tagger.tags.iter_mut().zip(&thresholds.tags) {
        tag.threshold = t.threshold;
    }
    let made = tagger
        .training
        .split(THRESHOLDS_CLAUSE)
        .next()
        .unwrap_or_default()
        .to_string();
    tagger.training = format!("{made}{}", thresholds_clause(thresholds));
    let section = tags_section(&tagger, thresholds, card);
    write_tagged(
        &bundle,
        tagger,
        &tagger_graph(&bundle)?,
        &section,
        out,
        force,
    )
}

/// The tagger of the bundle at `path`, without its tag words and typical scores (`guide`
/// writes them anew for the captioner they steer); an error saying there is none to `what`.
fn unguided_tagger(bundle: &Bundle, path: &Path, what: &str) -> Result<TaggerManifest> {
    let mut tagger = bundle
        .manifest()
        .tagger
        .clone()
        .with_context(|| format!("{}: has no tagger to {what}", path.display()))?;
    for tag in &mut tagger.tags {
        tag.words.clear();
        tag.typical_score = None;
    }
    Ok(tagger)
}

/// The bytes of a bundle's tagger graph.
fn tagger_graph(bundle: &Bundle) -> Result<Vec<u8>> {
    let path = bundle.path(TAGGER_FILE);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// Writes into `out` a copy of `bundle`'s captioner with `tagger` (its graph `graph`) and no
/// tag guidance, its model card ending in `section` on the tags.
fn write_tagged(
    bundle: &Bundle,
    tagger: TaggerManifest,
    graph: &[u8],
    section: &str,
    out: &Path,
    force: bool,
) -> Result<Manifest> {
    let read = std::fs::canonicalize(bundle.path(MANIFEST_FILE))?;
    ensure!(
        std::fs::canonicalize(out.join(MANIFEST_FILE)).map_or(true, |o| o != read),
        "--out is the bundle read: write the tagged bundle elsewhere"
    );
    prepare_out_dir(out, force)?;
    let mut manifest = bundle.manifest().clone();
    copy_files(bundle, &manifest, &[MODEL_CARD_FILE, TAGGER_FILE], out)?;
    write(&out.join(TAGGER_FILE), graph)?;
    let card = model_card(bundle)?;
    write(
        &out.join(MODEL_CARD_FILE),
        (card_without(&card, TAGS_HEADING) + section).as_bytes(),
    )?;
    manifest.format_version = FORMAT_VERSION;
    manifest.tagger = Some(tagger);
    manifest.decoding.tag_guidance = 0.0;
    manifest.decoding.tag_veto = 0.0;
    finish(out, manifest)
}

/// The text of `bundle`'s model card.
fn model_card(bundle: &Bundle) -> Result<String> {
    let path = bundle.path(MODEL_CARD_FILE);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Copies into `out` the files of `bundle` that `manifest` lists, but those in `except` (the
/// ones the caller writes anew).
fn copy_files(bundle: &Bundle, manifest: &Manifest, except: &[&str], out: &Path) -> Result<()> {
    for file in manifest.files() {
        if !except.contains(&file) {
            std::fs::copy(bundle.path(file), out.join(file))
                .with_context(|| format!("copying {file} into {}", out.display()))?;
        }
    }
    Ok(())
}

/// Writes `manifest` into `out` with the hashes of the files there, and loads the bundle as the
/// runtime does (its graphs, and its tag words in the tokenizer).
fn finish(out: &Path, mut manifest: Manifest) -> Result<Manifest> {
    manifest.sha256.clear();
    for file in manifest.files() {
        manifest
            .sha256
            .insert(file.to_string(), sha256_file(&out.join(file))?);
    }
    let json = serde_json::to_string_pretty(&manifest)? + "\n";
    write(&out.join(MANIFEST_FILE), json.as_bytes())?;
    earsight::Captioner::open(out)
        .with_context(|| format!("checking what was written to {}", out.display()))?;
    Ok(manifest)
}

/// How `guide` steers a bundle's captions.
pub struct Guidance<'a> {
    /// The tag set the tagger was made with (the same labels in the same order), with words.
    pub tags: &'a LabelMap,
    /// `decoding.tag_guidance`: 0 carries the words and decodes as before.
    pub weight: f32,
    /// `decoding.tag_veto`: 0 forbids no words.
    pub veto: f32,
    /// Validation recordings: each tag's typical score is its geometric mean over their first
    /// model windows.
    pub clips: &'a [PathBuf],
    /// Markdown for the model card after the section on guidance (what was measured).
    pub card: &'a str,
}

/// Writes a copy of the tagged bundle at `from` into `out` whose tags carry the caption words
/// of `guidance.tags` and their typical scores, and whose captions are steered by them with
/// `guidance.weight` and `guidance.veto`. Nothing is trained: the graphs are copied unchanged, and the model card
/// says how decoding is steered, followed by `guidance.card` (a tagger attached later drops
/// the section with the guidance).
pub fn guide(from: &Path, guidance: &Guidance, out: &Path, force: bool) -> Result<Manifest> {
    let bundle = Bundle::open(from).with_context(|| format!("checking {}", from.display()))?;
    let mut manifest = bundle.manifest().clone();
    let tagger = manifest
        .tagger
        .as_mut()
        .with_context(|| format!("{}: has no tagger to guide its captions", from.display()))?;
    let theirs: Vec<&str> = tagger.tags.iter().map(|t| t.label.as_str()).collect();
    let ours: Vec<&str> = guidance
        .tags
        .labels
        .iter()
        .map(|l| l.label.as_str())
        .collect();
    ensure!(
        theirs == ours,
        "{}: its tagger's tags are not the tag set's (the same labels in the same order)",
        from.display()
    );
    let typical = typical_scores(from, guidance.clips)?;
    for ((tag, mapped), typical) in tagger
        .tags
        .iter_mut()
        .zip(&guidance.tags.labels)
        .zip(typical)
    {
        tag.words = mapped.words.clone();
        tag.typical_score = Some(typical);
    }
    manifest.decoding.tag_guidance = guidance.weight;
    manifest.decoding.tag_veto = guidance.veto;
    manifest.format_version = FORMAT_VERSION;
    prepare_out_dir(out, force)?;
    copy_files(&bundle, &manifest, &[MODEL_CARD_FILE], out)?;
    let card = model_card(&bundle)?;
    let mut card = card_without(&card, GUIDANCE_HEADING);
    if guidance.weight > 0.0 || guidance.veto > 0.0 {
        card += &guidance_section(guidance);
    }
    write(&out.join(MODEL_CARD_FILE), card.as_bytes())?;
    finish(out, manifest)
}

/// Each tag's geometric-mean score over the first model window of every clip, through the
/// runtime's frontend and tagger (scores floored at 1e-4, as guidance floors them).
fn typical_scores(bundle: &Path, clips: &[PathBuf]) -> Result<Vec<f32>> {
    ensure!(
        !clips.is_empty(),
        "no validation clips to find the tags' typical scores on"
    );
    let mut captioner = earsight::Captioner::open(bundle)
        .with_context(|| format!("loading {}", bundle.display()))?;
    let rate = captioner.bundle().manifest().model.frontend.sample_rate;
    let mut sums: Vec<f64> = Vec::new();
    for clip in clips {
        let samples = earsight::audio::read_all(clip, rate)
            .with_context(|| format!("reading {}", clip.display()))?;
        let mel = captioner.frontend_mut().window(&samples);
        let tagger = captioner
            .tagger()
            .with_context(|| format!("{}: has no tagger", bundle.display()))?;
        let scores = tagger.scores(&mel)?;
        sums.resize(scores.len(), 0.0);
        for (sum, s) in sums.iter_mut().zip(scores) {
            *sum += f64::from(s.max(1e-4)).ln();
        }
    }
    Ok(sums
        .into_iter()
        .map(|sum| (sum / clips.len() as f64).exp() as f32)
        .collect())
}

/// The heading of the model card's section on tag guidance, replaced when guided again.
const GUIDANCE_HEADING: &str = "\n## Tag guidance\n";

/// Text the user gave for a section of the card, after a blank line; nothing when blank.
fn appended(text: &str) -> String {
    if text.trim().is_empty() {
        String::new()
    } else {
        format!("\n{}\n", text.trim())
    }
}

fn guidance_section(guidance: &Guidance) -> String {
    let (weight, veto) = (guidance.weight, guidance.veto);
    let steer = if weight > 0.0 {
        format!(
            "The captions are steered by the tagger (`decoding.tag_guidance` = {weight}): each \
             word that names a tag's source (the manifest's `words` of each tag) has {weight} \
             times the logarithm of the ratio of that tag's score to its typical score \
             (`typical_score`, its geometric mean over {} validation recordings) added to its \
             log-probability at every step, a push up lasting until one word of the tag is \
             said, so the decoder names what the tagger hears more than usual, once, rather \
             than what it hears less.",
            guidance.clips.len()
        )
    } else {
        "The tagger does not steer the captions' words (`decoding.tag_guidance` = 0).".into()
    };
    let forbid = if veto > 0.0 {
        format!(
            " The words of a tag scored below {veto} times the window's best tag score \
             (`decoding.tag_veto`) are never said, so a caption names only what the tagger \
             hears most."
        )
    } else {
        String::new()
    };
    format!(
        "{GUIDANCE_HEADING}\n{steer}{forbid} The graphs are those above, unchanged.\n{}",
        appended(guidance.card)
    )
}

/// The heading of the model card's tags section: a card already holding one (a bundle tagged
/// before) loses it, so that tagging again replaces it.
const TAGS_HEADING: &str = "\n## Tags\n";

/// The card without its section under `heading` (and what follows it), ending in one newline.
fn card_without(card: &str, heading: &str) -> String {
    match card.find(heading) {
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
         distilled by `earsight-tools train teach`{}{}",
        b.clip_frames,
        b.stem,
        b.channels,
        match b.downsample {
            Downsample::Pool => "max-pooling",
            Downsample::Stride => "strided convolutions",
        },
        steps.map_or(String::new(), |s| format!(" for {s} steps")),
        thresholds_clause(t)
    ))
}

/// How the manifest's account of the tagger begins to say how its thresholds were tuned.
const THRESHOLDS_CLAUSE: &str = "; thresholds tuned by";

/// The end of the manifest's account of the tagger: how its thresholds were tuned.
fn thresholds_clause(t: &Thresholds) -> String {
    format!(
        "{THRESHOLDS_CLAUSE} `teacher thresholds` for precision {} against the teacher's score \
         {} on {} validation mixtures",
        t.precision, t.teacher_at, t.mixtures
    )
}

/// The model card's section on the tags: how they were made, then every tag with its threshold
/// and validation precision and recall, then the card text the user gave.
fn tags_section(tagger: &TaggerManifest, thresholds: &Thresholds, card: &str) -> String {
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
    for t in &thresholds.tags {
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
    s.push_str(&appended(card));
    s
}
