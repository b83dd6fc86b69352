//! `earsight-tools recipe`: DALI from real recordings to a shipped bundle in one command.
//!
//! The miniature world (one ESC-10 fold held out of it), stage 0 captioner (also measured on
//! the test pictures alone, so that a weak captioner is told apart from a weak alignment),
//! stage 1a prefix, then for every alignment loss of the recipe stage 1b, pseudo-labels and
//! stage 2. Every (loss, distillation) model is exported in int8 and evaluated audio-only (the runtime's
//! path) and audio-visual (image + audio + prefix, as the pseudo-labels are made). The default
//! is the best by validation source F1 audio-only ([`Measured::source_f1`]); it is
//! exported with a model card of every number.
//!
//! Each step writes into the work directory and is skipped when its result is already there,
//! so a recipe that was stopped goes on where it stopped (a training stage from its last
//! finished epoch).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use burn::tensor::backend::AutodiffBackend;
use earsight::bundle::{DecodingConfig, Quantization, MANIFEST_FILE};
use serde::{Deserialize, Serialize};

use crate::data::{read_json_lines, Manifest, Split};
use crate::eval::{self, names_source, SILENCE};
use crate::export::{export_bundle, ExportOptions, INT8_DECODER, INT8_ENCODER};
use crate::metrics::tokenize;
use crate::score::{score, ScoreSet};
use crate::train::align::{AlignConfig, AlignLoss};
use crate::train::captioner::CaptionerConfig;
use crate::train::distill::{DistillConfig, Inputs};
use crate::train::pipeline::{self, Common, Training, TRAINING_FILE};
use crate::train::prefix::PrefixConfig;
use crate::train::pretrain::PretrainConfig;
use crate::train::{clear, read_json, Recipe};
use crate::weights::{read_config, Weights, WEIGHTS_FILE};
use crate::world::{self, HELD_OUT_FILE};

/// What `recipe` runs. Paths are relative to the recipe file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeConfig {
    /// The model config (audio encoder, text decoder, frontend).
    pub model: PathBuf,
    /// The image encoder config of the captioner trained in stage 0.
    pub image: PathBuf,
    /// Seeds the world and the initial weights (each stage has its own in its recipe).
    pub seed: u64,
    pub world: world::WorldShape,
    pub captioner: PathBuf,
    pub prefix: PathBuf,
    /// (frame, audio caption) training pairs of stage 1a: the paper's 16.
    pub prefix_pairs: usize,
    /// Masked spectrogram pretraining of the audio backbone before alignment; none when
    /// absent, and then the recipe's fingerprint is what it was before the step existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain: Option<PathBuf>,
    pub align: PathBuf,
    pub distill: PathBuf,
    /// The alignment losses to compare; each gets its own alignment and distillation.
    pub losses: Vec<AlignLoss>,
    /// Longest pseudo-label, in tokens, and so the longest caption the bundles write.
    pub max_tokens: usize,
}

impl RecipeConfig {
    /// Reads a recipe and resolves its paths, naming any file that is not there.
    pub fn read(path: &Path) -> Result<RecipeConfig> {
        let mut recipe: RecipeConfig = read_json(path, "recipe")?;
        let base = path.parent().unwrap_or(Path::new("."));
        let pretrain = recipe.pretrain.as_mut().map(|file| ("pretrain", file));
        for (field, file) in [
            ("model", &mut recipe.model),
            ("image", &mut recipe.image),
            ("captioner", &mut recipe.captioner),
            ("prefix", &mut recipe.prefix),
            ("align", &mut recipe.align),
            ("distill", &mut recipe.distill),
        ]
        .into_iter()
        .chain(pretrain)
        {
            *file = base.join(&*file);
            ensure!(
                file.is_file(),
                "{}: field `{field}`: {} is not a file",
                path.display(),
                file.display()
            );
        }
        ensure!(
            !recipe.losses.is_empty(),
            "{}: field `losses` is empty: name at least one alignment loss",
            path.display()
        );
        ensure!(
            recipe.world.scenes > 0 && recipe.prefix_pairs > 0 && recipe.max_tokens > 0,
            "{}: `world.scenes`, `prefix_pairs` and `max_tokens` must be positive",
            path.display()
        );
        Ok(recipe)
    }
}

/// Where a recipe reads and writes.
pub struct RecipeRun<'a> {
    /// The recipe file; its directory's name names the bundle.
    pub recipe: &'a Path,
    /// The real recordings (esc10/, opensfx/, ...), for the world.
    pub sources: &'a Path,
    /// Every intermediate result: world, runs, labels, candidate bundles, evaluations.
    pub work: &'a Path,
    /// The chosen bundle.
    pub out: &'a Path,
    pub tokenizer: &'a Path,
    pub progress: bool,
    /// Replace a bundle already in `out`.
    pub force: bool,
    /// Training checkpoints inside an epoch this often (see [`crate::train::Run`]).
    pub checkpoint_every: Option<Duration>,
    /// How many losses' chains (alignment, pseudo-labels, distillation) run at once, each on
    /// a thread of its own: a CPU stage keeps one core busy, and the chains share nothing but
    /// the stages before them.
    pub jobs: usize,
}

/// Caption metrics and source naming on one set of clips.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measured {
    pub clips: usize,
    /// BLEU-4, METEOR (our proxy), ROUGE-L, CIDEr-D; absent without reference captions.
    pub captions: Option<BTreeMap<String, f64>>,
    pub source_recall: Option<f64>,
    /// Of the source classes the captions name, the share the clip has (absent from
    /// evaluations cached before it was measured).
    #[serde(default)]
    pub source_precision: Option<f64>,
    /// Captions naming a source class the clip does not have.
    pub false_source_captions: usize,
    /// Clips labelled silence that got a caption, of how many.
    pub false_captions_on_silence: usize,
    pub silent_clips: usize,
}

impl Measured {
    fn metric(&self, name: &str) -> f64 {
        self.captions
            .as_ref()
            .and_then(|c| c.get(name).copied())
            .unwrap_or(f64::NAN)
    }

    /// The F1 of naming sources: the harmonic mean of source recall and source precision,
    /// what a device that announces sounds is judged by. Naming every class in every caption
    /// scores low, as does naming nothing; CIDEr-D alone sees neither: on 5,000 scenes the
    /// best validation CIDEr-D was a model that named none of the held-out real recordings.
    /// NaN without labelled clips; 0 when no caption names a source.
    pub fn source_f1(&self) -> f64 {
        let Some(recall) = self.source_recall else {
            return f64::NAN;
        };
        let precision = self.source_precision.unwrap_or(0.0);
        if recall + precision > 0.0 {
            2.0 * recall * precision / (recall + precision)
        } else {
            0.0
        }
    }
}

/// The candidate to ship: the best validation source F1, then the best validation CIDEr-D,
/// then the first. `None` when there are no candidates.
fn choose(candidates: &[Candidate]) -> Option<usize> {
    let key = |c: &Candidate| (c.val_audio.source_f1(), c.val_audio.metric("CIDEr-D"));
    candidates
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| {
            let ((a_f1, a_cider), (b_f1, b_cider)) = (key(a), key(b));
            a_f1.total_cmp(&b_f1)
                .then(a_cider.total_cmp(&b_cider))
                .then(j.cmp(i))
        })
        .map(|(i, _)| i)
}

/// One trained model of the comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Candidate {
    /// `LOSS` or `LOSS+distill`.
    pub name: String,
    pub loss: AlignLoss,
    pub distilled: bool,
    pub val_audio: Measured,
    pub test_audio: Measured,
    pub test_audio_visual: Measured,
    /// The held-out real recordings, audio only.
    pub held_out: Option<Measured>,
}

/// What a recipe measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecipeResults {
    /// The stage 0 captioner on world-test pictures alone: against the visual captions, and
    /// the share of pictured sources it names.
    pub captioner_pictures: Measured,
    pub candidates: Vec<Candidate>,
    pub chosen: String,
    /// World-test CIDEr-D of the chosen model exported in f32 and in int8.
    pub chosen_cider_f32: f64,
    pub chosen_cider_int8: f64,
    /// Wall seconds per step in the order they run, as first run (a step skipped on a later
    /// run keeps its time).
    pub seconds: Vec<(String, f64)>,
    pub world: serde_json::Value,
}

const METRICS: [&str; 4] = ["BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"];

/// Wall time of each step, kept in the work directory across runs; shared by the chains that
/// run at once.
struct Clock {
    path: PathBuf,
    seconds: Mutex<BTreeMap<String, f64>>,
}

impl Clock {
    fn open(path: PathBuf) -> Result<Clock> {
        let seconds = if path.is_file() {
            read_json(&path, "recipe timings")?
        } else {
            BTreeMap::new()
        };
        Ok(Clock {
            path,
            seconds: Mutex::new(seconds),
        })
    }

    /// The time of each step named in `order`.
    fn times(&self, order: &[String]) -> Vec<(String, f64)> {
        let seconds = self.seconds.lock().unwrap_or_else(PoisonError::into_inner);
        order
            .iter()
            .map(|s| (s.clone(), seconds.get(s).copied().unwrap_or(f64::NAN)))
            .collect()
    }

    fn record(&self, name: &str, seconds: f64) -> Result<()> {
        let mut kept = self.seconds.lock().unwrap_or_else(PoisonError::into_inner);
        // Another recipe process may share the work directory: keep what it wrote.
        if self.path.is_file() {
            let written: BTreeMap<String, f64> = read_json(&self.path, "recipe timings")?;
            for (step, s) in written {
                kept.entry(step).or_insert(s);
            }
        }
        kept.insert(name.into(), seconds);
        std::fs::write(&self.path, serde_json::to_string_pretty(&*kept)? + "\n")
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// The steps of one line of work (the recipe's, or one loss's chain), in the order they ran
/// there, timed on the shared clock.
struct Steps<'c> {
    clock: &'c Clock,
    names: Vec<String>,
}

impl<'c> Steps<'c> {
    fn new(clock: &'c Clock) -> Steps<'c> {
        Steps {
            clock,
            names: Vec::new(),
        }
    }

    /// Runs `work` unless `done`, printing and keeping its wall time.
    fn step(&mut self, name: &str, done: bool, work: impl FnOnce() -> Result<()>) -> Result<()> {
        self.names.push(name.into());
        if done {
            println!("recipe: {name}: done before, kept");
            return Ok(());
        }
        println!("recipe: {name} ...");
        let began = Instant::now();
        work().with_context(|| format!("recipe step {name}"))?;
        let seconds = began.elapsed().as_secs_f64();
        println!("recipe: {name}: {seconds:.1} s");
        self.clock.record(name, seconds)
    }
}

/// A candidate model: its name, loss, whether it was distilled, its checkpoint, and its
/// captions from picture and audio.
type Checkpoint = (String, AlignLoss, bool, PathBuf, PathBuf);

/// Runs `chain` for every loss, up to `jobs` at once, and returns each chain's step names and
/// result in the order of `losses`, whatever order they finished in. After a chain fails no
/// other starts; the first failure in that order is returned, and any other is printed.
fn side_by_side<T: Send>(
    losses: &[AlignLoss],
    jobs: usize,
    clock: &Clock,
    chain: impl Fn(AlignLoss, &mut Steps) -> Result<T> + Sync,
) -> Result<Vec<(Vec<String>, T)>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let finished = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, losses.len().max(1)) {
            scope.spawn(|| {
                while !failed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&loss) = losses.get(i) else { break };
                    let mut steps = Steps::new(clock);
                    let result = chain(loss, &mut steps);
                    failed.fetch_or(result.is_err(), Ordering::SeqCst);
                    finished
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((i, steps.names, result));
                }
            });
        }
    });
    let mut finished = finished
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    finished.sort_by_key(|(i, _, _)| *i);
    let mut chains = Vec::new();
    let mut first_error = None;
    for (_, names, result) in finished {
        match (result, &first_error) {
            (Ok(t), _) => chains.push((names, t)),
            (Err(e), None) => first_error = Some(e),
            (Err(e), Some(_)) => eprintln!("recipe: another chain failed too: {e:#}"),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(chains),
    }
}

/// Whether `dir` holds a world made from `seed` and `shape` (one made from others is refused,
/// never silently kept: every stage after it would learn from the wrong scenes).
fn world_made(dir: &Path, seed: u64, shape: &world::WorldShape, file: &Path) -> Result<bool> {
    let stats = dir.join("stats.json");
    if !stats.is_file() {
        return Ok(false);
    }
    let made: serde_json::Value = read_json(&stats, "world statistics")?;
    let asked = serde_json::json!({ "seed": seed, "shape": shape });
    if made.get("seed") != asked.get("seed") || made.get("shape") != asked.get("shape") {
        bail!(
            "{} was made with another seed or world than {} says now ({} there, {} here): \
             remove it to make it again, or choose another --work",
            dir.display(),
            file.display(),
            serde_json::json!({ "seed": made.get("seed"), "shape": made.get("shape") }),
            asked
        );
    }
    Ok(true)
}

/// Whether a training stage's run directory holds its finished result, made with `recipe`
/// (a result made with another is refused, never silently kept).
fn trained<T: Serialize>(run: &Path, recipe: &T, file: &Path) -> Result<bool> {
    let best = run.join("best");
    if !best.join(TRAINING_FILE).is_file() {
        return Ok(false);
    }
    let made_with = Training::read(&best)?.stages.pop().map(|s| s.recipe);
    if made_with != Some(serde_json::to_value(recipe)?) {
        bail!(
            "{} was trained with another recipe than {} says now: remove it to train it again, \
             or choose another --work",
            run.display(),
            file.display()
        );
    }
    Ok(true)
}

impl RecipeRun<'_> {
    /// The bundles' name: that of the recipe's directory.
    fn bundle_name(&self) -> String {
        self.recipe
            .parent()
            .and_then(|d| d.file_name())
            .map_or("earsight".into(), |n| n.to_string_lossy().into_owned())
    }

    /// A stage's arguments, resuming its run from its last checkpoint when there is one.
    fn stage(&self, recipe: &Path, data: &Path, model: &Path, out: &Path) -> Result<Common> {
        crate::train::recover_checkpoints(out)?;
        let resume = out.join("last").is_dir();
        if !resume {
            clear(out)?;
        }
        Ok(Common {
            recipe: recipe.into(),
            data: data.into(),
            model: model.into(),
            out: out.into(),
            tokenizer: self.tokenizer.into(),
            resume,
            stop_after: None,
            checkpoint_every: self.checkpoint_every,
            progress: self.progress,
        })
    }

    fn export(
        &self,
        checkpoint: &Path,
        int8: bool,
        decoding: &DecodingConfig,
        card: &str,
        out: &Path,
    ) -> Result<()> {
        let training = Training::read(checkpoint)?;
        let quantization = |q| if int8 { q } else { Quantization::F32 };
        let options = ExportOptions {
            name: self.bundle_name(),
            encoder_quantization: quantization(INT8_ENCODER),
            decoder_quantization: quantization(INT8_DECODER),
            tokenizer: self.tokenizer.into(),
            tokenizer_provenance: self.tokenizer.display().to_string(),
            trained: !training.stages.is_empty(),
            training: training.summary(),
            seed: 0,
            decoding: decoding.clone(),
            card: card.into(),
            force: self.force,
        };
        export_bundle(&Weights::load(checkpoint)?, &options, out)?;
        Ok(())
    }

    /// A candidate's bundle in the work directory, as a timed step skipped when it is there.
    fn export_step(
        &self,
        steps: &mut Steps,
        step: &str,
        checkpoint: &Path,
        int8: bool,
        decoding: &DecodingConfig,
        dir: &Path,
    ) -> Result<()> {
        steps.step(step, dir.join(MANIFEST_FILE).is_file(), || {
            clear(dir)?;
            self.export(checkpoint, int8, decoding, "", dir)
        })
    }
}

/// Audio-only numbers of a bundle on `manifest`'s `split`, cached as JSON in `cache`.
fn measure_bundle(
    bundle: &Path,
    manifest: &Manifest,
    split: Option<Split>,
    cache: &Path,
) -> Result<Measured> {
    if cache.is_file() {
        return read_json(cache, "cached evaluation");
    }
    let (report, clips, items) = eval::evaluate(bundle, manifest, split)?;
    let dir = cache.with_extension("d");
    clear(&dir)?;
    eval::write(&dir, &report, &clips, &items, false)?;
    let measured = Measured {
        clips: report.clips,
        captions: report.captions.as_ref().map(|c| pick_metrics(&c.scores)),
        source_recall: report.source_recall,
        source_precision: report.source_precision,
        false_source_captions: report.false_source_captions,
        false_captions_on_silence: report.false_captions_on_silence,
        silent_clips: report.silent_clips,
    };
    std::fs::write(cache, serde_json::to_string_pretty(&measured)? + "\n")
        .with_context(|| format!("writing {}", cache.display()))?;
    Ok(measured)
}

fn pick_metrics(scores: &crate::score::Scores) -> BTreeMap<String, f64> {
    METRICS
        .iter()
        .filter_map(|m| scores.get(m).map(|v| (m.to_string(), *v)))
        .collect()
}

/// A clip to score a caption of: the sources the caption should name, and references.
struct Expected {
    id: String,
    sources: Vec<String>,
    references: Vec<String>,
}

/// The captions in `labels` (pseudo-label lines) of `expected`'s clips: caption metrics against
/// their references, the share of their sources named, the share of the classes they name
/// that are there, and captions naming a source class the clip lacks.
fn measure_expected(labels: &Path, expected: &[Expected]) -> Result<Measured> {
    let by_id = pipeline::read_pseudo_labels(labels)?;
    let mut set = ScoreSet {
        ids: Vec::new(),
        candidates: Vec::new(),
        references: Vec::new(),
    };
    let (mut named, mut sources, mut absent) = (0, 0, 0);
    let (mut classes_named, mut classes_present) = (0, 0);
    for clip in expected {
        let caption = by_id
            .get(&clip.id)
            .with_context(|| format!("{}: no caption for clip {}", labels.display(), clip.id))?;
        let tokens = tokenize(caption);
        let present: Vec<&String> = clip.sources.iter().filter(|l| *l != SILENCE).collect();
        sources += present.len();
        named += present.iter().filter(|l| names_source(&tokens, l)).count();
        let (n, p) = eval::named_classes(&tokens, &clip.sources);
        absent += usize::from(n > p);
        (classes_named, classes_present) = (classes_named + n, classes_present + p);
        if !clip.references.is_empty() {
            set.ids.push(clip.id.clone());
            set.candidates.push(caption.clone());
            set.references.push(clip.references.clone());
        }
    }
    let captions = (!set.ids.is_empty()).then(|| pick_metrics(&score(&set).0.scores));
    Ok(Measured {
        clips: expected.len(),
        captions,
        source_recall: (sources > 0).then(|| named as f64 / sources as f64),
        source_precision: eval::precision(classes_named, classes_present),
        false_source_captions: absent,
        false_captions_on_silence: 0,
        silent_clips: 0,
    })
}

/// Audio-visual numbers: the captions in `labels` of `split`'s clips, against the audible
/// sources and the audio captions.
fn measure_captions(labels: &Path, manifest: &Manifest, split: Split) -> Result<Measured> {
    let expected: Vec<Expected> = manifest
        .clips
        .iter()
        .filter(|c| c.split == split)
        .map(|c| Expected {
            id: c.id.clone(),
            sources: c.labels.clone(),
            references: c.captions.clone(),
        })
        .collect();
    measure_expected(labels, &expected)
}

#[derive(Deserialize)]
struct PicturedScene {
    id: String,
    split: Split,
    sources: Vec<PicturedSource>,
    visual_captions: Vec<String>,
}

#[derive(Deserialize)]
struct PicturedSource {
    class: String,
    role: world::Role,
}

/// The stage 0 captioner's numbers: the captions in `labels` of `split`'s pictures, against
/// the pictured sources and the visual captions of `scenes` (the world's scenes.jsonl).
fn measure_pictures(labels: &Path, scenes: &Path, split: Split) -> Result<Measured> {
    let scenes: Vec<PicturedScene> = read_json_lines(scenes, "scene")?;
    let expected: Vec<Expected> = scenes
        .into_iter()
        .filter(|scene| scene.split == split)
        .map(|scene| Expected {
            id: scene.id,
            sources: scene
                .sources
                .into_iter()
                .filter(|s| s.role.seen())
                .map(|s| s.class)
                .collect(),
            references: scene.visual_captions,
        })
        .collect();
    measure_expected(labels, &expected)
}

/// Runs the recipe; see the module's documentation.
pub fn run<B: AutodiffBackend>(r: &RecipeRun, device: &B::Device) -> Result<RecipeResults> {
    let recipe = RecipeConfig::read(r.recipe)?;
    // Every stage's recipe is read now, so that a mistake in a late stage's is not found after
    // hours of the early ones.
    let model = read_config(&recipe.model)?;
    let captioner_recipe = CaptionerConfig::read(&recipe.captioner)?;
    let prefix_recipe = PrefixConfig::read(&recipe.prefix)?;
    let distill_recipe = DistillConfig::read(&recipe.distill)?;
    let pretrain = recipe
        .pretrain
        .as_deref()
        .map(|file| Ok::<_, anyhow::Error>((file, PretrainConfig::read(file)?)))
        .transpose()?;
    if let Some((file, pretrain_recipe)) = &pretrain {
        pretrain_recipe
            .augment
            .validate(&model.frontend)
            .with_context(|| format!("{}: field `augment`", file.display()))?;
    }
    // The students learn captions of up to the labels' length; a shorter limit would cut
    // theirs off mid-phrase.
    let decoding = DecodingConfig {
        max_tokens: recipe.max_tokens,
        ..DecodingConfig::default()
    };
    if decoding.check(&model).is_err() {
        bail!(
            "{}: field `max_tokens` is {} but the model's decoder has {} positions (at most {} \
             tokens after the start token)",
            r.recipe.display(),
            recipe.max_tokens,
            model.decoder.max_positions,
            model.decoder.max_positions - 1
        );
    }
    let align_recipe = AlignConfig::read(&recipe.align)?;
    for &loss in &recipe.losses {
        align_recipe
            .with_loss(loss)
            .validate()
            .with_context(|| format!("{} for loss {}", recipe.align.display(), loss_name(loss)))?;
    }
    align_recipe
        .augment
        .validate(&model.frontend)
        .with_context(|| format!("{}: field `augment`", recipe.align.display()))?;
    distill_recipe
        .augment
        .validate(&model.frontend)
        .with_context(|| format!("{}: field `augment`", recipe.distill.display()))?;
    if r.out.join(MANIFEST_FILE).exists() && !r.force {
        bail!(
            "{}: already holds a bundle; pass --force to replace it",
            r.out.display()
        );
    }
    std::fs::create_dir_all(r.work).with_context(|| format!("creating {}", r.work.display()))?;
    let clock = Clock::open(r.work.join("timings.json"))?;
    let mut steps = Steps::new(&clock);
    let work = |p: &str| r.work.join(p);

    let world_dir = work("world");
    let done = world_made(&world_dir, recipe.seed, &recipe.world, r.recipe)?;
    steps.step("world", done, || {
        clear(&world_dir)?;
        world::generate(r.sources, recipe.seed, &recipe.world, &world_dir).map(drop)
    })?;
    let init = work("init");
    steps.step("init", init.join(WEIGHTS_FILE).is_file(), || {
        Weights::init(&model, recipe.seed)?.save(&init)
    })?;
    let captioner = work("captioner");
    let done = trained(&captioner, &captioner_recipe, &recipe.captioner)?;
    steps.step("captioner", done, || {
        let common = r.stage(&recipe.captioner, &world_dir, &init, &captioner)?;
        pipeline::captioner::<B>(&common, Some(&recipe.image), device).map(drop)
    })?;
    let captioner = captioner.join("best");
    let prefix = work("prefix");
    let done = trained(&prefix, &prefix_recipe, &recipe.prefix)?;
    steps.step("prefix", done, || {
        let common = r.stage(&recipe.prefix, &world_dir, &captioner, &prefix)?;
        pipeline::prefix::<B>(&common, recipe.prefix_pairs, device).map(drop)
    })?;
    let prefix = prefix.join("best");
    // Alignment starts from the pretrained backbone, with the captioner as it was.
    let align_start = match &pretrain {
        Some((file, pretrain_recipe)) => {
            let pretrained = work("pretrain");
            let done = trained(&pretrained, pretrain_recipe, file)?;
            steps.step("pretrain", done, || {
                let common = r.stage(file, &world_dir, &captioner, &pretrained)?;
                pipeline::pretrain_stage::<B>(&common, device).map(drop)
            })?;
            pretrained.join("best")
        }
        None => captioner.clone(),
    };

    let captions_of = |model: &Path, prefix: &Path, splits: &[Split], inputs, out: &Path| {
        let partial = out.with_extension("partial");
        clear(&partial)?;
        pipeline::pseudo_labels::<B::InnerBackend>(
            model,
            prefix,
            &world_dir,
            r.tokenizer,
            recipe.max_tokens,
            splits,
            inputs,
            &partial,
            device,
        )?;
        std::fs::rename(&partial, out)
            .with_context(|| format!("renaming {} to {}", partial.display(), out.display()))
    };
    let pictures = work("pictures.jsonl");
    steps.step("captioner on pictures", pictures.is_file(), || {
        captions_of(
            &captioner,
            &captioner,
            &[Split::Test],
            Inputs::Picture,
            &pictures,
        )
    })?;
    let captions = |model: &Path, splits: &[Split], out: &Path| {
        captions_of(model, &prefix, splits, Inputs::PictureAndAudio, out)
    };
    let all_splits = [Split::Train, Split::Val, Split::Test];
    // With chains side by side their progress bars would draw over each other.
    let chain_run = RecipeRun {
        progress: r.progress && r.jobs <= 1,
        ..*r
    };
    let chain = |loss: AlignLoss, steps: &mut Steps| -> Result<[Checkpoint; 2]> {
        let r = &chain_run;
        let tag = loss_name(loss);
        let aligned = work(&format!("align-{tag}"));
        let with_loss = align_recipe.with_loss(loss);
        let done = trained(&aligned, &with_loss, &recipe.align)?;
        steps.step(&format!("align {tag}"), done, || {
            let common = r.stage(&recipe.align, &world_dir, &align_start, &aligned)?;
            pipeline::align_stage::<B>(&common, Some(loss), device).map(drop)
        })?;
        let aligned = aligned.join("best");
        let labels = work(&format!("labels-{tag}.jsonl"));
        steps.step(&format!("pseudo-label {tag}"), labels.is_file(), || {
            captions(&aligned, &all_splits, &labels)
        })?;
        let distilled = work(&format!("distill-{tag}"));
        let done = trained(&distilled, &distill_recipe, &recipe.distill)?;
        steps.step(&format!("distill {tag}"), done, || {
            let common = r.stage(&recipe.distill, &world_dir, &aligned, &distilled)?;
            pipeline::distill_stage::<B>(&common, &labels, device).map(drop)
        })?;
        let distilled = distilled.join("best");
        let av = work(&format!("audio-visual-{tag}+distill.jsonl"));
        steps.step(&format!("audio-visual {tag}+distill"), av.is_file(), || {
            captions(&distilled, &[Split::Val, Split::Test], &av)
        })?;
        Ok([
            (tag.clone(), loss, false, aligned, labels),
            (format!("{tag}+distill"), loss, true, distilled, av),
        ])
    };
    let mut checkpoints = Vec::new();
    for (names, chained) in side_by_side(&recipe.losses, r.jobs, &clock, chain)? {
        steps.names.extend(names);
        checkpoints.extend(chained);
    }

    let manifest = Manifest::read(&world_dir.join("manifest.jsonl"), None)?;
    let held_out_path = world_dir.join(HELD_OUT_FILE);
    let held_out = if held_out_path.is_file() {
        Some(Manifest::read(&held_out_path, None)?)
    } else {
        None
    };
    let bundles = work("bundles");
    let evals = work("eval");
    std::fs::create_dir_all(&evals)?;
    let mut candidates = Vec::new();
    for (cname, loss, distilled, checkpoint, av) in &checkpoints {
        let bundle = bundles.join(format!("{cname}-int8"));
        r.export_step(
            &mut steps,
            &format!("export {cname}"),
            checkpoint,
            true,
            &decoding,
            &bundle,
        )?;
        let measure = |set: &str, m: &Manifest, split| {
            measure_bundle(
                &bundle,
                m,
                split,
                &evals.join(format!("{cname}-{set}.json")),
            )
        };
        let began = Instant::now();
        let candidate = Candidate {
            name: cname.clone(),
            loss: *loss,
            distilled: *distilled,
            val_audio: measure("val", &manifest, Some(Split::Val))?,
            test_audio: measure("test", &manifest, Some(Split::Test))?,
            test_audio_visual: measure_captions(av, &manifest, Split::Test)?,
            held_out: held_out
                .as_ref()
                .map(|m| measure("held-out", m, None))
                .transpose()?,
        };
        println!(
            "recipe: evaluated {cname} in {:.1} s: val source F1 {:.3}, CIDEr-D {:.3}",
            began.elapsed().as_secs_f64(),
            candidate.val_audio.source_f1(),
            candidate.val_audio.metric("CIDEr-D")
        );
        candidates.push(candidate);
    }
    let chosen = choose(&candidates).context("no candidate model")?;
    let (chosen_name, _, _, chosen_checkpoint, _) = &checkpoints[chosen];
    let f32_bundle = bundles.join(format!("{chosen_name}-f32"));
    r.export_step(
        &mut steps,
        &format!("export {chosen_name} f32"),
        chosen_checkpoint,
        false,
        &decoding,
        &f32_bundle,
    )?;
    let f32_test = measure_bundle(
        &f32_bundle,
        &manifest,
        Some(Split::Test),
        &evals.join(format!("{chosen_name}-f32-test.json")),
    )?;
    let world_stats: serde_json::Value =
        read_json(&world_dir.join("stats.json"), "world statistics")?;
    let results = RecipeResults {
        captioner_pictures: measure_pictures(
            &pictures,
            &world_dir.join("scenes.jsonl"),
            Split::Test,
        )?,
        chosen_cider_f32: f32_test.metric("CIDEr-D"),
        chosen_cider_int8: candidates[chosen].test_audio.metric("CIDEr-D"),
        chosen: chosen_name.clone(),
        candidates,
        seconds: clock.times(&steps.names),
        world: world_stats,
    };
    let card = model_card(&recipe, &distill_recipe, r, &results);
    std::fs::write(
        r.work.join("results.json"),
        serde_json::to_string_pretty(&results)? + "\n",
    )?;
    std::fs::write(r.work.join("results.md"), &card)?;
    r.export(chosen_checkpoint, true, &decoding, &card, r.out)?;
    println!(
        "recipe: chose {chosen_name} (validation source F1 audio-only); wrote {}",
        r.out.display()
    );
    Ok(results)
}

/// A loss as recipes and the command line spell it.
fn loss_name(loss: AlignLoss) -> String {
    serde_json::to_value(loss)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| format!("{loss:?}"))
}

fn cell(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or("–".into(), |v| format!("{v:.3}"))
}

/// The measured part of the model card, in Markdown.
pub fn model_card(
    recipe: &RecipeConfig,
    distill: &DistillConfig,
    r: &RecipeRun,
    results: &RecipeResults,
) -> String {
    let mut md = String::new();
    if let Some(chosen) = results.candidates.iter().find(|c| c.name == results.chosen) {
        let audio = &chosen.test_audio;
        md.push_str(&format!(
            "\n## In short\n\n{}: from audio alone it names {} of the sources in the world's \
             test scenes and {} of the held-out real ESC-10 recordings, which no stage saw \
             (the project's target is 0.7); {} of its {} world-test captions name a source the \
             scene does not have, and {} of {} silent scenes get a caption.\n",
            results.chosen,
            cell(audio.source_recall),
            cell(chosen.held_out.as_ref().and_then(|h| h.source_recall)),
            audio.false_source_captions,
            audio.clips,
            audio.false_captions_on_silence,
            audio.silent_clips,
        ));
    }
    md.push_str("\n## How it was made\n\n");
    md.push_str(&format!(
        "`earsight-tools recipe {} --data {} --out {}` ({}): the miniature world of {} scenes \
         from the real recordings, stage 0 captioner on its pictures and visual captions, \
         stage 1a prefix on {} (picture, audio caption) pairs, {}stage 1b alignment (losses: \
         {}), pseudo-labels, stage 2 distillation ({} on them, audio only). No stage trains on \
         audio captions beyond the prefix pairs, and none on labels of the audio: what it knows \
         of sounds comes from the pictures and their visual captions, as a pretrained \
         captioner's would.\n\n",
        r.recipe.display(),
        r.sources.display(),
        r.out.display(),
        recipe.model.display(),
        recipe.world.scenes,
        recipe.prefix_pairs,
        if recipe.pretrain.is_some() {
            "the audio backbone pretrained on the world's audio alone (masked spectrogram \
             modelling), "
        } else {
            ""
        },
        recipe
            .losses
            .iter()
            .map(|&l| loss_name(l))
            .collect::<Vec<_>>()
            .join(", "),
        match (distill.backbone, distill.decoder) {
            (false, false) => "the audio projector trained",
            (true, false) => "the audio encoder and projector trained",
            (false, true) => "the audio projector and the caption decoder trained",
            (true, true) => "the audio encoder, projector and caption decoder trained",
        },
    ));
    // A step done by a run from before the recipe kept its times has none.
    let timed: Vec<f64> = results
        .seconds
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| s.is_finite())
        .collect();
    let untimed = results.seconds.len() - timed.len();
    md.push_str(&format!(
        "Wall time of the whole recipe: {:.1} min on the machine that ran it{}; per step:\n\n",
        timed.iter().sum::<f64>() / 60.0,
        if untimed > 0 {
            format!(", not counting {untimed} step(s) an earlier run made without keeping the time")
        } else {
            String::new()
        }
    ));
    md.push_str("| step | seconds |\n|---|---|\n");
    for (step, s) in &results.seconds {
        let seconds = if s.is_finite() {
            format!("{s:.1}")
        } else {
            "–".into()
        };
        md.push_str(&format!("| {step} | {seconds} |\n"));
    }
    md.push_str("\n## What it hears\n\nRecordings per source class in the world:\n\n");
    if let Some(per_class) = results.world["recordings_per_class"].as_object() {
        let list: Vec<String> = per_class
            .iter()
            .map(|(c, n)| format!("{c} ({n})"))
            .collect();
        md.push_str(&list.join(", "));
        md.push_str("\n\n");
    }
    md.push_str(
        "## Data and licences\n\n\
         The world's sounds are real recordings, mixed into scenes: ESC-10 (K. J. Piczak, ACM MM \
         2015; Freesound clips under CC BY 3.0 or CC0, credited per clip in its README), OpenSFX \
         (CC BY 3.0, CC BY-SA 3.0 or CC0 per clip), GCompris sounds (GPL-3 and Free Art \
         License) and scikit-maad soundscapes (BSD-3-Clause) as backgrounds; its speech is \
         espeak-ng's. Its pictures and visual captions are drawn by the tools from the scenes. \
         The tokenizer's vocabulary (word pieces only, no caption) comes from AudioCaps v1 \
         train (academic use) and Clotho v1 development (non-commercial research). The weights \
         were trained by this project from that data alone.\n\n",
    );
    md.push_str(&format!(
        "## Measured\n\nChosen: **{}**, the best validation source F1 audio-only (int8): the \
         harmonic mean of source recall and source precision (of the source classes its \
         captions name, the share that are there), validation CIDEr-D breaking ties. \
         World-test CIDEr-D of the chosen model: {:.3} in int8, {:.3} in f32.\n\n\
         World-test scenes (audio-only: the int8 bundle through the runtime; audio-visual: \
         picture + audio + prefix through the captioner, as the pseudo-labels are made), and the \
         held-out real ESC-10 fold (audio-only). METEOR is our proxy (exact and stem matching; \
         see `earsight-tools score`).\n\n",
        results.chosen, results.chosen_cider_int8, results.chosen_cider_f32
    ));
    let pictures = &results.captioner_pictures;
    md.push_str(&format!(
        "The stage 0 captioner alone, on the {} world-test pictures: CIDEr-D {} against their \
         visual captions, BLEU-4 {}; it names {} of the pictured sources, and {} captions name \
         a source the picture lacks.\n\n",
        pictures.clips,
        cell(Some(pictures.metric("CIDEr-D"))),
        cell(Some(pictures.metric("BLEU-4"))),
        cell(pictures.source_recall),
        pictures.false_source_captions,
    ));
    md.push_str(
        "| model | input | val source F1 | val CIDEr-D | BLEU-4 | METEOR | ROUGE-L | CIDEr-D | \
         source recall | false captions | real: source recall | real: false captions |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in &results.candidates {
        for (input, m) in [
            ("audio", &c.test_audio),
            ("audio+visual", &c.test_audio_visual),
        ] {
            let audio = input == "audio";
            let real = c.held_out.as_ref().filter(|_| audio);
            md.push_str(&format!(
                "| {} | {input} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.name,
                if audio {
                    cell(Some(c.val_audio.source_f1()))
                } else {
                    "–".into()
                },
                if audio {
                    cell(Some(c.val_audio.metric("CIDEr-D")))
                } else {
                    "–".into()
                },
                cell(Some(m.metric("BLEU-4"))),
                cell(Some(m.metric("METEOR"))),
                cell(Some(m.metric("ROUGE-L"))),
                cell(Some(m.metric("CIDEr-D"))),
                cell(m.source_recall),
                if audio {
                    format!(
                        "{} of {} (silent: {} of {})",
                        m.false_source_captions,
                        m.clips,
                        m.false_captions_on_silence,
                        m.silent_clips
                    )
                } else {
                    format!("{} of {}", m.false_source_captions, m.clips)
                },
                cell(real.and_then(|h| h.source_recall)),
                real.map_or("–".into(), |h| format!(
                    "{} of {}",
                    h.false_source_captions, h.clips
                )),
            ));
        }
    }
    md.push_str(
        "\nSource recall: the share of audible sources the caption names (by the class's names \
         and sound words). False captions: captions naming a source class the clip does not \
         have; on silent scenes, any caption.\n",
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOSSES: [AlignLoss; 4] = [
        AlignLoss::Mmd,
        AlignLoss::Ot,
        AlignLoss::OtAtt,
        AlignLoss::Contrastive,
    ];

    fn candidate(name: &str, recall: f64, precision: Option<f64>, cider: f64) -> Candidate {
        let measured = Measured {
            clips: 100,
            captions: Some(BTreeMap::from([("CIDEr-D".to_string(), cider)])),
            source_recall: Some(recall),
            source_precision: precision,
            false_source_captions: 0,
            false_captions_on_silence: 0,
            silent_clips: 20,
        };
        Candidate {
            name: name.into(),
            loss: AlignLoss::Contrastive,
            distilled: false,
            val_audio: measured.clone(),
            test_audio: measured.clone(),
            test_audio_visual: measured,
            held_out: None,
        }
    }

    #[test]
    fn the_shipped_candidate_names_what_is_there_not_what_scores_cider() {
        // The best CIDEr-D names few sources; naming every class everywhere is mostly wrong;
        // saying nothing names nothing; the chosen one names the most, rightly.
        let candidates = [
            candidate("fluent", 0.05, Some(0.5), 0.15),
            candidate("everything", 1.00, Some(0.06), 0.01),
            candidate("silent", 0.00, None, 0.0),
            candidate("namer", 0.40, Some(0.35), 0.10),
        ];
        assert_eq!(choose(&candidates), Some(3));
        let f1 = candidates[3].val_audio.source_f1();
        assert!((f1 - 2.0 * 0.40 * 0.35 / 0.75).abs() < 1e-12, "{f1}");
        assert_eq!(candidates[2].val_audio.source_f1(), 0.0);
        // Equal F1: CIDEr-D decides, then the order of the recipe.
        let tied = [
            candidate("first", 0.40, Some(0.35), 0.10),
            candidate("fluent", 0.40, Some(0.35), 0.12),
            candidate("again", 0.40, Some(0.35), 0.12),
        ];
        assert_eq!(choose(&tied), Some(1));
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn chains_side_by_side_come_back_in_the_losses_order() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = Clock::open(tmp.path().join("timings.json")).unwrap();
        // The first chain finishes last.
        let chains = side_by_side(&LOSSES, 4, &clock, |loss, steps| {
            let wait = if loss == AlignLoss::Mmd { 300 } else { 0 };
            steps.step(&loss_name(loss), false, || {
                std::thread::sleep(Duration::from_millis(wait));
                Ok(())
            })?;
            Ok(loss)
        })
        .unwrap();
        let names: Vec<String> = chains.iter().map(|(n, _)| n.concat()).collect();
        assert_eq!(names, ["mmd", "ot", "ot-att", "contrastive"]);
        let losses: Vec<AlignLoss> = chains.iter().map(|(_, loss)| *loss).collect();
        assert_eq!(losses, LOSSES);
        let timed = clock.times(&names);
        assert!(timed[0].1 >= 0.3, "{timed:?}");
    }

    #[test]
    fn after_a_chain_fails_no_other_starts() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = Clock::open(tmp.path().join("timings.json")).unwrap();
        let started = Mutex::new(Vec::new());
        let err = side_by_side(&LOSSES, 1, &clock, |loss, _| {
            started.lock().unwrap().push(loss);
            ensure!(loss != AlignLoss::Ot, "ot broke");
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "ot broke");
        assert_eq!(*started.lock().unwrap(), [AlignLoss::Mmd, AlignLoss::Ot]);
    }
}
