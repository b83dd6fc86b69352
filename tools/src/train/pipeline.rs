//! The stages as commands run them: checkpoints and dataset directories in, a run directory
//! out, and in every checkpoint a `training.json` that carries the chain of stages that made
//! it (recipe, data, starting checkpoint, validation), which the exporter writes into the
//! bundle's manifest.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;
use earsight::bundle::SpecialTokens;
use serde::{Deserialize, Serialize};

use super::align::{align, AlignConfig, AlignLoss};
use super::captioner::{train_captioner, CaptionedImages, CaptionerConfig};
use super::dataset::{Captioned, Dataset, ImagePairs};
use super::distill::{distill, pseudo_label, without_prefix, DistillConfig, Inputs, Labelled};
use super::prefix::{train_prefix, PrefixConfig};
use super::pretrain::{pretrain, PretrainConfig};
use super::teach::{teach, TeachConfig, TeachInputs};
use super::{read_json, Recipe, Report, Run};
use crate::data::{read_json_lines, Split};
use crate::model::image::{ImageConfig, ImageWeights, IMAGE_CONFIG_FILE};
use crate::model::weights::{Weights, WEIGHTS_FILE};
use crate::teacher::conv_net::backbone::{graft, FoldedBackbone};
use crate::teacher::zero_shot::LabelMap;
use crate::teacher::Teacher;

/// The provenance file of a checkpoint.
pub const TRAINING_FILE: &str = "training.json";

/// One stage of a checkpoint's history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: String,
    pub recipe: serde_json::Value,
    pub data: String,
    pub start: String,
    /// Validation loss before training and at the best epoch.
    pub val_before: f64,
    pub val_best: f64,
    pub steps: usize,
}

/// The stages that made a checkpoint, first to last.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Training {
    pub stages: Vec<StageRecord>,
}

impl Training {
    /// The history in `dir`, empty for a checkpoint no stage wrote (seeded weights).
    pub fn read(dir: &Path) -> Result<Training> {
        let path = dir.join(TRAINING_FILE);
        if !path.exists() {
            return Ok(Training::default());
        }
        read_json(&path, "training record")
    }

    /// Whether a stage trained the weights (a graft alone takes no step).
    pub fn trained(&self) -> bool {
        self.stages.iter().any(|s| s.steps > 0)
    }

    /// One line per stage, for a model card. A stage's data is named by its directory's own
    /// name ("world"), not by where it was on the machine that trained.
    pub fn summary(&self) -> String {
        self.stages
            .iter()
            .map(|s| {
                let data = Path::new(&s.data);
                if s.steps == 0 {
                    return format!("{} from {}", s.stage, s.data);
                }
                format!(
                    "{} on {} ({} steps, validation loss {:.4} -> {:.4})",
                    s.stage,
                    data.file_name()
                        .unwrap_or(data.as_os_str())
                        .to_string_lossy(),
                    s.steps,
                    s.val_before,
                    s.val_best
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What every stage command takes.
pub struct Common {
    pub recipe: PathBuf,
    pub data: PathBuf,
    /// The starting checkpoint.
    pub model: PathBuf,
    pub out: PathBuf,
    pub tokenizer: PathBuf,
    pub resume: bool,
    pub stop_after: Option<usize>,
    pub checkpoint_every: Option<Duration>,
    pub progress: bool,
}

impl Common {
    fn run(&self) -> Run<'_> {
        Run {
            out: &self.out,
            resume: self.resume,
            stop_after: self.stop_after,
            checkpoint_every: self.checkpoint_every,
            progress: self.progress,
        }
    }

    /// The starting checkpoint's weights and the dataset, read with its tokenizer.
    fn open(&self) -> Result<(Weights, Dataset)> {
        let start = Weights::load(&self.model)?;
        let dataset = Dataset::open(&self.data, &start.config, &self.tokenizer)?;
        Ok((start, dataset))
    }

    /// The starting checkpoint's image encoder, when it has one.
    fn image(&self) -> Result<Option<ImageWeights>> {
        if self.model.join(IMAGE_CONFIG_FILE).exists() {
            ImageWeights::load(&self.model).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Appends this stage to the start checkpoint's history in `best/` and `last/`.
    fn record<T: Serialize>(&self, stage: &str, recipe: &T, report: &Report) -> Result<()> {
        let mut training = Training::read(&self.model)?;
        training.stages.push(StageRecord {
            stage: stage.into(),
            recipe: serde_json::to_value(recipe)?,
            data: self.data.display().to_string(),
            start: self.model.display().to_string(),
            val_before: report.val_losses[0],
            val_best: report.val_losses[report.best_epoch],
            steps: report.steps,
        });
        let json = serde_json::to_string_pretty(&training)? + "\n";
        for dir in ["best", "last"] {
            let dir = self.out.join(dir);
            if dir.is_dir() {
                std::fs::write(dir.join(TRAINING_FILE), &json)
                    .with_context(|| format!("writing {}", dir.join(TRAINING_FILE).display()))?;
            }
        }
        Ok(())
    }
}

/// What the picture-captioning stages ([`train_captioner`], [`train_prefix`]) train from
/// besides their recipe and run: the start checkpoint, its image encoder, the captioned
/// pictures and the special tokens. The two stages take these alike, so one call runs either.
pub struct Pictures<'a> {
    start: &'a Weights,
    image: &'a ImageWeights,
    data: &'a dyn CaptionedImages,
    special: &'a SpecialTokens,
}

/// A picture-captioning stage with recipe `C` on a backend's device `D`: [`train_captioner`] or
/// [`train_prefix`].
pub type PictureStage<C, D> = fn(
    &C,
    &Weights,
    &ImageWeights,
    &dyn CaptionedImages,
    &SpecialTokens,
    &Run,
    &D,
) -> Result<Report>;

impl<'a> Pictures<'a> {
    pub fn new(
        start: &'a Weights,
        image: &'a ImageWeights,
        data: &'a dyn CaptionedImages,
        special: &'a SpecialTokens,
    ) -> Pictures<'a> {
        Pictures {
            start,
            image,
            data,
            special,
        }
    }

    /// Trains `stage` with `recipe` on these pictures.
    pub fn train<C, D>(
        &self,
        stage: PictureStage<C, D>,
        recipe: &C,
        run: &Run,
        device: &D,
    ) -> Result<Report> {
        stage(
            recipe,
            self.start,
            self.image,
            self.data,
            self.special,
            run,
            device,
        )
    }
}

/// Stage 0. The image encoder starts from the checkpoint's own (a run to continue) or, when it
/// has none, from `image_config` seeded by the recipe.
pub fn captioner<B: AutodiffBackend>(
    common: &Common,
    image_config: Option<&Path>,
    device: &B::Device,
) -> Result<Report> {
    let recipe = CaptionerConfig::read(&common.recipe)?;
    let (start, dataset) = common.open()?;
    let image = match common.image()? {
        Some(image) => image,
        None => {
            let Some(path) = image_config else {
                bail!(
                    "{} has no image encoder ({IMAGE_CONFIG_FILE}): give --image-config to start one",
                    common.model.display()
                );
            };
            let config: ImageConfig = read_json(path, "image encoder config")?;
            ImageWeights::init(&config, recipe.optim.seed)
                .with_context(|| format!("{}", path.display()))?
        }
    };
    let data = Captioned::seen(
        &dataset,
        image.config.image_size,
        recipe.picture_variants,
        recipe.picture_scenes,
        recipe.optim.seed,
    )?;
    let pictures = Pictures::new(&start, &image, &data, &dataset.special);
    let report = pictures.train(train_captioner::<B>, &recipe, &common.run(), device)?;
    common.record("captioner", &recipe, &report)?;
    Ok(report)
}

/// Stage 1a on the first `pairs` training clips with audio captions (and as many for
/// validation).
pub fn prefix<B: AutodiffBackend>(
    common: &Common,
    pairs: usize,
    device: &B::Device,
) -> Result<Report> {
    let recipe = PrefixConfig::read(&common.recipe)?;
    let (start, dataset) = common.open()?;
    let image = ImageWeights::load(&common.model)?;
    let data = Captioned::heard(&dataset, image.config.image_size, pairs);
    let pictures = Pictures::new(&start, &image, &data, &dataset.special);
    let report = pictures.train(train_prefix::<B>, &recipe, &common.run(), device)?;
    common.record("prefix", &recipe, &report)?;
    Ok(report)
}

/// The record a graft leaves in its checkpoint's history: where the backbone came from, the
/// SHA-256 of its kernels and biases, and the projector's seed (what makes a graft the same as
/// another).
pub fn graft_recipe(backbone: &FoldedBackbone, seed: u64) -> serde_json::Value {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (name, array) in &backbone.tensors {
        hash.update(name.as_bytes());
        for v in &array.data {
            hash.update(v.to_le_bytes());
        }
    }
    let sha256: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({ "backbone": backbone.source, "sha256": sha256, "seed": seed })
}

/// Writes into `out` the checkpoint `model` with the backbone of `source` grafted on
/// ([`graft`]), its image encoder, and its history with the graft appended.
pub fn graft_stage(model: &Path, source: &Path, seed: u64, out: &Path) -> Result<Weights> {
    let backbone = FoldedBackbone::load(source)?;
    let grafted = graft(&Weights::load(model)?, &backbone, seed)?;
    grafted.save(out)?;
    if model.join(IMAGE_CONFIG_FILE).exists() {
        ImageWeights::load(model)?.save(out)?;
    }
    let mut training = Training::read(model)?;
    training.stages.push(StageRecord {
        stage: "graft".into(),
        recipe: graft_recipe(&backbone, seed),
        data: source.display().to_string(),
        start: model.display().to_string(),
        val_before: 0.0,
        val_best: 0.0,
        steps: 0,
    });
    let path = out.join(TRAINING_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&training)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(grafted)
}

/// Writes into `out` the captioner of the prefix checkpoint `prefixed` without its prefix:
/// after a stage 1a that tuned the decoder ([`PrefixConfig::decoder`]), the captioner every
/// later stage starts from, so that the students learn the decoder that speaks of sounds. Its
/// image encoder and history travel with it.
pub fn tuned_captioner_stage(prefixed: &Path, out: &Path) -> Result<()> {
    without_prefix(&Weights::load(prefixed)?)?.save(out)?;
    ImageWeights::load(prefixed)?.save(out)?;
    let path = out.join(TRAINING_FILE);
    std::fs::copy(prefixed.join(TRAINING_FILE), &path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Whether `out` holds [`tuned_captioner_stage`]'s captioner of `prefixed` (one from another
/// prefix is refused, never silently kept).
pub fn tuned_captioner_made(prefixed: &Path, out: &Path) -> Result<bool> {
    if !out.join(WEIGHTS_FILE).is_file() {
        return Ok(false);
    }
    if Weights::load(out)?.tensors() != without_prefix(&Weights::load(prefixed)?)?.tensors() {
        bail!(
            "{} holds a captioner from another prefix than {}: remove it, and what was trained \
             from it, to go on",
            out.display(),
            prefixed.display()
        );
    }
    Ok(true)
}

/// Masked spectrogram pretraining of the audio backbone on the dataset's clips; the
/// checkpoint's image encoder, when it has one, is carried into the run's checkpoints.
pub fn pretrain_stage<B: AutodiffBackend>(common: &Common, device: &B::Device) -> Result<Report> {
    let recipe = PretrainConfig::read(&common.recipe)?;
    let (start, dataset) = common.open()?;
    let image = common.image()?;
    let report = pretrain::<B>(
        &recipe,
        &start,
        image.as_ref(),
        &dataset,
        &common.run(),
        device,
    )?;
    common.record("pretrain", &recipe, &report)?;
    Ok(report)
}

/// Teacher distillation into the checkpoint's audio backbone, on the audio of `common.data`
/// (`../shared/data`), with the teacher in `teacher` and its label map `map` for ESC-10's test
/// fold; `threads` decode the clips and label the mixtures.
pub fn teach_stage<B: AutodiffBackend>(
    common: &Common,
    teacher: &Path,
    map: &Path,
    threads: usize,
    device: &B::Device,
) -> Result<Report> {
    let recipe = TeachConfig::read(&common.recipe)?;
    let start = Weights::load(&common.model)?;
    let image = common.image()?;
    let teacher = Teacher::load(teacher)?;
    let map = LabelMap::read(map)?;
    let inputs = TeachInputs {
        teacher: &teacher,
        map: &map,
        data: &common.data,
        threads,
    };
    let report = teach::<B>(
        &recipe,
        &start,
        image.as_ref(),
        &inputs,
        &common.run(),
        device,
    )?;
    common.record("teach", &recipe, &report)?;
    Ok(report)
}

/// Stage 1b: the checkpoint's frozen image encoder gives each frame's tokens; `loss`
/// overrides the recipe's.
pub fn align_stage<B: AutodiffBackend>(
    common: &Common,
    loss: Option<AlignLoss>,
    device: &B::Device,
) -> Result<Report> {
    let file = AlignConfig::read(&common.recipe)?;
    let recipe = file.with_loss(loss.unwrap_or(file.loss));
    if loss.is_some() {
        recipe
            .validate()
            .with_context(|| format!("{} with --loss", common.recipe.display()))?;
    }
    let (start, dataset) = common.open()?;
    let image = ImageWeights::load(&common.model)?;
    let pairs =
        ImagePairs::new::<B::InnerBackend>(&dataset, &image, recipe.optim.batch_size, device)?;
    let report = align::<B>(&recipe, &start, &pairs, &common.run(), device)?;
    common.record("align", &recipe, &report)?;
    Ok(report)
}

/// One pseudo-label line.
#[derive(Serialize, Deserialize)]
pub struct PseudoLabel {
    pub id: String,
    pub split: Split,
    pub caption: String,
}

/// Stage 2's labels: captions of every clip of `splits` from image tokens, the aligned audio
/// tokens of `aligned` and the prefix of `prefixed`, written as JSON lines to `out` (never
/// replaced). They are also the audio-visual captions the paper evaluates. With
/// [`Inputs::Picture`], the captions of the pictures alone.
#[allow(clippy::too_many_arguments)]
pub fn pseudo_labels<B: burn::prelude::Backend>(
    aligned: &Path,
    prefixed: &Path,
    data: &Path,
    tokenizer: &Path,
    max_tokens: usize,
    splits: &[Split],
    inputs: Inputs,
    out: &Path,
    device: &B::Device,
) -> Result<usize> {
    if out.exists() {
        bail!("{}: exists; choose a new file", out.display());
    }
    let weights = Weights::load(aligned)?;
    let prefix = Weights::load(prefixed)?;
    let mut config = weights.config.clone();
    config.encoder.n_prefix = prefix.config.encoder.n_prefix;
    let mut tensors = weights.tensors().clone();
    if let Some(p) = prefix.tensors().get("prefix") {
        tensors.insert("prefix".into(), p.clone());
    }
    let weights = Weights::from_tensors(&config, tensors)
        .with_context(|| format!("the prefix of {}", prefixed.display()))?;
    // The frozen captioner's image encoder travels with the prefix; `aligned` may be a
    // distilled checkpoint, which holds the audio side only.
    let image = ImageWeights::load(prefixed)?;
    let dataset = Dataset::open(data, &weights.config, tokenizer)?;
    let pairs = ImagePairs::new::<B>(&dataset, &image, 16, device)?;
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    let mut count = 0;
    for &split in splits {
        let captions = pseudo_label::<B>(
            &weights,
            &pairs,
            split,
            &dataset.special,
            max_tokens,
            16,
            inputs,
            device,
        )?;
        for (clip, ids) in dataset.clips(split).iter().zip(captions) {
            let line = PseudoLabel {
                id: clip.id.clone(),
                split,
                caption: dataset.text(&ids)?,
            };
            serde_json::to_writer(&mut file, &line)?;
            file.write_all(b"\n")?;
            count += 1;
        }
    }
    file.flush()?;
    Ok(count)
}

/// Pseudo-label lines (as [`pseudo_labels`] writes them): caption by clip id.
pub fn read_pseudo_labels(path: &Path) -> Result<BTreeMap<String, String>> {
    let labels: Vec<PseudoLabel> = read_json_lines(path, "pseudo-label")?;
    Ok(labels.into_iter().map(|l| (l.id, l.caption)).collect())
}

/// Stage 2 on pseudo-labels (or any captions of the clips, by id).
pub fn distill_stage<B: AutodiffBackend>(
    common: &Common,
    labels: &Path,
    device: &B::Device,
) -> Result<Report> {
    let recipe = DistillConfig::read(&common.recipe)?;
    let (start, dataset) = common.open()?;
    let by_id = read_pseudo_labels(labels)?;
    let mut captions = BTreeMap::new();
    for split in [Split::Train, Split::Val] {
        let ids = dataset
            .clips(split)
            .iter()
            .map(|clip| {
                let caption = by_id.get(&clip.id).with_context(|| {
                    format!("{}: no label for clip {}", labels.display(), clip.id)
                })?;
                dataset.ids(caption)
            })
            .collect::<Result<Vec<_>>>()?;
        captions.insert(split, ids);
    }
    let data = Labelled {
        clips: &dataset,
        captions,
    };
    let report = distill::<B>(
        &recipe,
        &start,
        &data,
        &dataset.special,
        &common.run(),
        device,
    )?;
    common.record("distill", &recipe, &report)?;
    Ok(report)
}
