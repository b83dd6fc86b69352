//! The recipe file, where a run of it reads and writes, and the checks of every stage's recipe
//! it names, made before any step runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use earsight::bundle::DecodingConfig;
use earsight::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::model::weights::read_config;
use crate::train::align::{AlignConfig, AlignLoss};
use crate::train::captioner::CaptionerConfig;
use crate::train::distill::DistillConfig;
use crate::train::prefix::PrefixConfig;
use crate::train::pretrain::PretrainConfig;
use crate::train::{read_json, Recipe};
use crate::world;

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
    /// A distilled convolutional backbone (a bundle with a tagger, or a `train teach`
    /// checkpoint) grafted in place of the audio encoder before alignment, and kept frozen
    /// after (`earsight-tools graft`); the transformer of `model` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_backbone: Option<PathBuf>,
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
        if let Some(backbone) = &mut recipe.audio_backbone {
            *backbone = base.join(&*backbone);
            ensure!(
                backbone.is_dir(),
                "{}: field `audio_backbone`: {} is not a directory",
                path.display(),
                backbone.display()
            );
            ensure!(
                recipe.pretrain.is_none(),
                "{}: fields `pretrain` and `audio_backbone` both given: pretraining trains the \
                 transformer that a grafted backbone replaces; keep one",
                path.display()
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

/// A recipe with the model and every stage's recipe it names, read and checked together.
pub(super) struct Plan {
    pub(super) recipe: RecipeConfig,
    pub(super) model: ModelConfig,
    pub(super) captioner: CaptionerConfig,
    pub(super) prefix: PrefixConfig,
    pub(super) distill: DistillConfig,
    /// The pretraining recipe's file and the recipe, when the recipe names one.
    pub(super) pretrain: Option<(PathBuf, PretrainConfig)>,
    pub(super) align: AlignConfig,
    /// How the bundles decode: captions up to the pseudo-labels' length.
    pub(super) decoding: DecodingConfig,
}

impl Plan {
    /// Reads the recipe at `path` and every stage's recipe it names, and checks them.
    pub(super) fn read(path: &Path) -> Result<Plan> {
        let recipe = RecipeConfig::read(path)?;
        // Every stage's recipe is read now, so that a mistake in a late stage's is not found after
        // hours of the early ones.
        let model = read_config(&recipe.model)?;
        let captioner = CaptionerConfig::read(&recipe.captioner)?;
        let prefix = PrefixConfig::read(&recipe.prefix)?;
        let distill = DistillConfig::read(&recipe.distill)?;
        let pretrain = recipe
            .pretrain
            .as_deref()
            .map(|file| Ok::<_, anyhow::Error>((file.to_path_buf(), PretrainConfig::read(file)?)))
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
                path.display(),
                recipe.max_tokens,
                model.decoder.max_positions,
                model.decoder.max_positions - 1
            );
        }
        let align = AlignConfig::read(&recipe.align)?;
        for &loss in &recipe.losses {
            align.with_loss(loss).validate().with_context(|| {
                format!("{} for loss {}", recipe.align.display(), loss_name(loss))
            })?;
        }
        align
            .augment
            .validate(&model.frontend)
            .with_context(|| format!("{}: field `augment`", recipe.align.display()))?;
        distill
            .augment
            .validate(&model.frontend)
            .with_context(|| format!("{}: field `augment`", recipe.distill.display()))?;
        Ok(Plan {
            recipe,
            model,
            captioner,
            prefix,
            distill,
            pretrain,
            align,
            decoding,
        })
    }
}

/// A loss as recipes and the command line spell it.
pub(super) fn loss_name(loss: AlignLoss) -> String {
    serde_json::to_value(loss)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| format!("{loss:?}"))
}
