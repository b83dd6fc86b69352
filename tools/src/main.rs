//! The `earsight-tools` command.

mod cli;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::backend::AutodiffBackend;
use clap::{Parser, Subcommand, ValueEnum};
use earsight::bundle::{DecodingConfig, Quantization};
use earsight::frontend::LogMel;
use earsight_tools::data::Split;
use earsight_tools::export::{
    export_bundle, special_tokens, ExportOptions, INT8_DECODER, INT8_ENCODER,
};
use earsight_tools::image::ImageConfig;
use earsight_tools::recipe::{self, RecipeRun};
use earsight_tools::reference::Reference;
use earsight_tools::train::align::AlignLoss;
use earsight_tools::train::bench::bench;
use earsight_tools::train::distill::Inputs;
use earsight_tools::train::pipeline::{self, Common, Training};
use earsight_tools::train::Report;
use earsight_tools::weights::{read_config, Weights};

/// The earsight checkout these tools were built from, where the defaults below are.
const CHECKOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// The tokenizer shipped in the repository (trained on caption text, see its PROVENANCE.md).
const DEFAULT_TOKENIZER: &str = "models/tokenizer/tokenizer.json";
const MINI_CONFIG: &str = "tools/configs/mini.json";
const MINI_IMAGE_CONFIG: &str = "tools/configs/image-mini.json";
const ESC10_MAP: &str = "tools/configs/esc10-audioset.json";
const DEFAULT_TOKENIZER_PROVENANCE: &str = "models/tokenizer/tokenizer.json: WordPiece trained by \
     `earsight-tools tokenizer` on AudioCaps v1 train + Clotho v1 development captions";

#[derive(Parser)]
#[command(
    name = "earsight-tools",
    version,
    about = "Build, export and check earsight models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scheme {
    F32,
    Int8Weights,
    Int8Dynamic,
}

impl From<Scheme> for Quantization {
    fn from(s: Scheme) -> Quantization {
        match s {
            Scheme::F32 => Quantization::F32,
            Scheme::Int8Weights => Quantization::Int8Weights,
            Scheme::Int8Dynamic => Quantization::Int8Dynamic,
        }
    }
}

#[derive(clap::Args)]
struct ModelSource {
    /// Model config JSON (e.g. tools/configs/mini.json); with --seed, seeded random weights.
    #[arg(long, required_unless_present = "weights")]
    config: Option<PathBuf>,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A checkpoint directory (weights.safetensors + config.json) instead of random weights.
    #[arg(long, conflicts_with = "config")]
    weights: Option<PathBuf>,
}

impl ModelSource {
    /// The weights, whether a training stage made them, and what the manifest should say
    /// about how they were made (the stages recorded in the checkpoint's training.json).
    fn load(&self) -> Result<(Weights, bool, String)> {
        match (&self.weights, &self.config) {
            (Some(dir), _) => {
                let training = Training::read(dir)?;
                let trained = !training.stages.is_empty();
                let summary = if trained {
                    training.summary()
                } else {
                    format!("untrained: weights read from checkpoint {}", dir.display())
                };
                Ok((Weights::load(dir)?, trained, summary))
            }
            (None, Some(config)) => Ok((
                Weights::init(&read_config(config)?, self.seed)?,
                false,
                "untrained: seeded random weights".into(),
            )),
            (None, None) => bail!("give --config (random weights) or --weights DIR"),
        }
    }
}

/// What every training stage takes.
#[derive(clap::Args)]
struct StageArgs {
    /// The stage's recipe (JSON; tools/configs has one per stage).
    #[arg(long)]
    config: PathBuf,
    /// A dataset directory: manifest.jsonl and, for the captioner, scenes.jsonl (as `world`
    /// writes them).
    #[arg(long)]
    data: PathBuf,
    /// The starting checkpoint (`init`, or an earlier stage's best/).
    #[arg(long)]
    model: PathBuf,
    /// The run directory: best/, last/, metrics.jsonl.
    #[arg(long)]
    out: PathBuf,
    /// Go on from --out's last/ checkpoint.
    #[arg(long)]
    resume: bool,
    /// Stop after this many steps in all, with a checkpoint to resume from.
    #[arg(long)]
    stop_after: Option<usize>,
    /// Also checkpoint inside an epoch every this many minutes (0: at epoch ends only).
    #[arg(long, default_value_t = DEFAULT_CHECKPOINT_MINUTES)]
    checkpoint_minutes: u64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[arg(long, default_value = DEFAULT_TOKENIZER, value_parser = in_checkout)]
    tokenizer: PathBuf,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
}

impl StageArgs {
    fn common(&self) -> Common {
        Common {
            recipe: self.config.clone(),
            data: self.data.clone(),
            model: self.model.clone(),
            out: self.out.clone(),
            tokenizer: self.tokenizer.clone(),
            resume: self.resume,
            stop_after: self.stop_after,
            checkpoint_every: checkpoint_every(self.checkpoint_minutes),
            progress: !self.quiet,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LossArg {
    Mmd,
    Ot,
    OtAtt,
    Contrastive,
}

impl From<LossArg> for AlignLoss {
    fn from(l: LossArg) -> AlignLoss {
        match l {
            LossArg::Mmd => AlignLoss::Mmd,
            LossArg::Ot => AlignLoss::Ot,
            LossArg::OtAtt => AlignLoss::OtAtt,
            LossArg::Contrastive => AlignLoss::Contrastive,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DeviceArg {
    Cpu,
    /// An NVIDIA GPU (a build with `--features cuda`).
    Cuda,
}

#[derive(Subcommand)]
enum TrainStage {
    /// Stage 0: the image captioner (image encoder + text decoder) on pictures and their
    /// visual captions; only for a captioner trained from scratch, as the miniature world's.
    Captioner {
        #[command(flatten)]
        args: StageArgs,
        /// Image encoder config, when --model has no image encoder yet.
        #[arg(long)]
        image_config: Option<PathBuf>,
    },
    /// Stage 1a: prefix vectors on a handful of (frame, audio caption) pairs, captioner frozen.
    Prefix {
        #[command(flatten)]
        args: StageArgs,
        /// Training pairs (the paper's 16); as many again for validation.
        #[arg(long, default_value_t = 16)]
        pairs: usize,
    },
    /// Before stage 1b: the audio backbone pretrained on the clips' audio alone by
    /// reconstructing hidden patches of their log-mel windows (masked spectrogram modelling);
    /// no captions, images or labels.
    Pretrain {
        #[command(flatten)]
        args: StageArgs,
    },
    /// Stage 1b: the audio encoder and projector aligned to the frozen captioner's image tokens
    /// on (audio, frame) pairs, no captions (loss: mmd, ot, ot-att or contrastive, in the
    /// recipe).
    Align {
        #[command(flatten)]
        args: StageArgs,
        /// Overrides the recipe's loss (ot-att needs the recipe's "attentive" section).
        #[arg(long, value_enum)]
        loss: Option<LossArg>,
    },
    /// Stage 2: the audio projector (and with `"backbone": true` the backbone) fine-tuned, audio
    /// only, on pseudo-labels.
    Distill {
        #[command(flatten)]
        args: StageArgs,
        /// Pseudo-labels (`pseudo-label`), JSON lines {id, split, caption}.
        #[arg(long)]
        labels: PathBuf,
    },
    /// A pretrained tagger distilled into the audio backbone and a new tag head, on fresh
    /// random mixtures of the audio under --data (here ../shared/data), labelled by the teacher
    /// as they are drawn; ESC-10's test fold is held out and reported after every epoch.
    Teach {
        #[command(flatten)]
        args: StageArgs,
        /// The teacher directory (here ../shared/models/efficientat-mn04).
        #[arg(long)]
        teacher: PathBuf,
        /// ESC-10's labels mapped to the teacher's class indices, for the test fold.
        #[arg(long, default_value = ESC10_MAP, value_parser = in_checkout)]
        map: PathBuf,
        /// Threads that decode the clips and run the teacher (default: every core).
        #[arg(long)]
        threads: Option<usize>,
    },
}

impl TrainStage {
    fn args(&self) -> &StageArgs {
        match self {
            TrainStage::Captioner { args, .. }
            | TrainStage::Prefix { args, .. }
            | TrainStage::Pretrain { args }
            | TrainStage::Align { args, .. }
            | TrainStage::Distill { args, .. }
            | TrainStage::Teach { args, .. } => args,
        }
    }

    fn run<B: AutodiffBackend>(&self, device: &B::Device) -> Result<Report> {
        let common = self.args().common();
        match self {
            TrainStage::Captioner { image_config, .. } => {
                pipeline::captioner::<B>(&common, image_config.as_deref(), device)
            }
            TrainStage::Prefix { pairs, .. } => pipeline::prefix::<B>(&common, *pairs, device),
            TrainStage::Pretrain { .. } => pipeline::pretrain_stage::<B>(&common, device),
            TrainStage::Align { loss, .. } => {
                pipeline::align_stage::<B>(&common, loss.map(Into::into), device)
            }
            TrainStage::Distill { labels, .. } => {
                pipeline::distill_stage::<B>(&common, labels, device)
            }
            TrainStage::Teach {
                teacher,
                map,
                threads,
                ..
            } => {
                let threads = threads.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
                });
                pipeline::teach_stage::<B>(&common, teacher, map, threads, device)
            }
        }
    }
}

#[cfg(not(feature = "cuda"))]
const NO_CUDA: &str = "this earsight-tools was built without CUDA: build it with \
                       `cargo build --release -p earsight-tools --features cuda`";

type CpuTrain = burn::backend::Autodiff<burn::backend::Flex>;

#[cfg(feature = "cuda")]
type CudaTrain = burn::backend::Autodiff<burn::backend::Cuda>;

/// The first NVIDIA GPU, once its driver and NVRTC are known to be there: burn's CUDA runtime
/// panics in a worker thread without them, with a message that names neither.
#[cfg(feature = "cuda")]
fn cuda_device() -> Result<burn::backend::cuda::CudaDevice> {
    use cudarc::driver::result as driver;
    // SAFETY: both only try to open the libraries by their usual names.
    let (has_driver, has_nvrtc) = unsafe {
        (
            cudarc::driver::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
        )
    };
    anyhow::ensure!(
        has_driver,
        "--device cuda: no NVIDIA driver library (libcuda.so.1) on the library path; \
         add the driver's folder to LD_LIBRARY_PATH"
    );
    anyhow::ensure!(
        has_nvrtc,
        "--device cuda: no NVRTC (libnvrtc.so), which compiles burn's kernels at run time, on \
         the library path; it comes with the CUDA toolkit (lib64) or the nvidia-cuda-nvrtc wheel"
    );
    driver::init().map_err(|e| {
        anyhow::anyhow!(
            "--device cuda: the NVIDIA driver did not start ({e:?}); CUDA_ERROR_STUB_LIBRARY \
             means a toolkit's stubs/libcuda.so comes before the driver's on LD_LIBRARY_PATH"
        )
    })?;
    let gpus = driver::device::get_count()
        .map_err(|e| anyhow::anyhow!("--device cuda: counting GPUs: {e:?}"))?;
    anyhow::ensure!(gpus > 0, "--device cuda: the NVIDIA driver sees no GPU");
    Ok(Default::default())
}

fn train(stage: &TrainStage) -> Result<Report> {
    match stage.args().device {
        DeviceArg::Cpu => stage.run::<CpuTrain>(&Default::default()),
        #[cfg(feature = "cuda")]
        DeviceArg::Cuda => stage.run::<CudaTrain>(&cuda_device()?),
        #[cfg(not(feature = "cuda"))]
        DeviceArg::Cuda => bail!(NO_CUDA),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Write a model bundle (ONNX graphs, tokenizer, manifest, model card).
    Export {
        #[command(flatten)]
        source: ModelSource,
        #[arg(long)]
        out: PathBuf,
        /// int8 weights (the scheme per graph that measured best: see models/README.md).
        #[arg(long)]
        int8: bool,
        /// Override the encoder's weight scheme.
        #[arg(long, value_enum)]
        encoder_quant: Option<Scheme>,
        /// Override the decoder's weight scheme.
        #[arg(long, value_enum)]
        decoder_quant: Option<Scheme>,
        #[arg(long, default_value = DEFAULT_TOKENIZER, value_parser = in_checkout)]
        tokenizer: PathBuf,
        #[arg(long)]
        name: Option<String>,
        /// The most tokens a caption may have (the manifest's decoding.max_tokens); a model
        /// that learnt longer captions than this is cut off mid-phrase.
        #[arg(long, default_value_t = DecodingConfig::default().max_tokens)]
        max_tokens: usize,
        /// Replace an existing bundle in --out.
        #[arg(long)]
        force: bool,
    },
    /// Write seeded random weights as a checkpoint (weights.safetensors + config.json), the
    /// starting point of training.
    Init {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Take the captioner from a pretrained BLIP (a directory in the Hugging Face layout of
        /// Salesforce/blip-image-captioning-base: config.json + model.safetensors): its text
        /// decoder replaces the config's decoder, and its ViT is written as the checkpoint's
        /// image encoder. Only the audio encoder is seeded. Stage 0 is then not needed.
        #[arg(long)]
        blip: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Reference greedy decode in burn (full recompute, no cache), for parity checks.
    Decode {
        #[command(flatten)]
        source: ModelSource,
        #[arg(long, default_value = DEFAULT_TOKENIZER, value_parser = in_checkout)]
        tokenizer: PathBuf,
        #[arg(long, default_value_t = 20)]
        max_tokens: usize,
        /// Print token ids and every step's logits as JSON.
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Generate the miniature audio-visual world: scenes of real and synthesized sources over
    /// real backgrounds, with audio and visual captions, split by recording.
    World {
        /// The sources directory (esc10/, opensfx/, gcompris-sounds/,
        /// scikit-maad-soundscapes/; here ../shared/data).
        #[arg(long)]
        sources: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 2000)]
        scenes: usize,
        /// Leave this ESC-10 fold out of every scene and list it in held_out.jsonl, for
        /// evaluation on real recordings no stage saw.
        #[arg(long)]
        hold_out_fold: Option<u32>,
        /// A new directory for audio/, manifest.jsonl and scenes.jsonl.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a clip manifest (JSON lines) from a public dataset layout, then check it.
    Import {
        #[arg(value_enum)]
        format: ImportFormat,
        /// The layout's index: the caption CSV (audiocaps, clotho), metadata.csv (esc), the
        /// JSON data list (cavmae), or the directory (folder).
        src: PathBuf,
        /// Where the audio files are (audiocaps, clotho).
        #[arg(long)]
        audio_dir: Option<PathBuf>,
        /// The label list, `index,mid,display_name` (cavmae).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// The split of every clip (all formats but esc, which splits by fold).
        #[arg(long, value_enum, default_value_t = SplitArg::Train)]
        split: SplitArg,
        /// The ESC fold held out as the test split.
        #[arg(long, default_value_t = 5)]
        test_fold: u32,
        /// The manifest to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Caption every clip of a manifest with a bundle and score it: caption metrics against
    /// the clips' references, source recall on labelled clips, false captions on silent ones.
    Eval {
        #[arg(long)]
        model: PathBuf,
        /// A clip manifest (see `import`).
        #[arg(long)]
        data: PathBuf,
        /// Only clips of this split.
        #[arg(long, value_enum)]
        split: Option<SplitArg>,
        /// Also write eval.json, eval.md and clips.jsonl here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace earlier results in --out.
        #[arg(long)]
        force: bool,
    },
    /// Score captions from any system against references: BLEU-1..4, ROUGE-L, CIDEr-D as
    /// pycocoevalcap computes them. Prints the Markdown table; --out also writes report.json,
    /// report.md and items.jsonl.
    Score {
        /// JSON lines `{"id": ..., "caption": ...}`.
        #[arg(long)]
        candidates: PathBuf,
        /// JSON lines `{"id": ..., "references": [...]}`.
        #[arg(long)]
        references: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the reports in --out.
        #[arg(long)]
        force: bool,
    },
    /// Train a DALI stage (tools/configs has the recipes; README: "Training").
    Train {
        #[command(subcommand)]
        stage: TrainStage,
    },
    /// Stage 2's labels: caption every clip of a dataset from its frame's image tokens, its
    /// aligned audio tokens and the prefix; JSON lines {id, split, caption}.
    PseudoLabel {
        /// The aligned checkpoint (`train align`'s best/).
        #[arg(long)]
        model: PathBuf,
        /// The prefix checkpoint (`train prefix`'s best/).
        #[arg(long)]
        prefix: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 20)]
        max_tokens: usize,
        #[arg(long, default_value = DEFAULT_TOKENIZER, value_parser = in_checkout)]
        tokenizer: PathBuf,
        /// Caption the pictures alone (image tokens only), with --model and --prefix both the
        /// stage 0 captioner: does it name what is pictured?
        #[arg(long)]
        pictures: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// A pretrained tagger as a teacher, with its own frontend: what it hears in files, and
    /// its zero-shot accuracy on ESC-10.
    Teacher {
        #[command(subcommand)]
        command: cli::teacher::TeacherCommand,
    },
    /// Board profiles (boards/NAME.toml) and the package for one board.
    Board {
        #[command(subcommand)]
        command: cli::board::BoardCommand,
    },
    /// Every stage of DALI from real recordings to a bundle: the world, captioner, prefix,
    /// alignment with each loss of the recipe, pseudo-labels, distillation, int8 export,
    /// evaluation; the bundle with the best validation source F1 goes to --out. A stopped run
    /// goes on where it stopped when run again with the same --work.
    Recipe {
        /// A recipe name (tools/configs/NAME/recipe.json) or a recipe file.
        recipe: String,
        /// The real recordings (esc10/, opensfx/, gcompris-sounds/, scikit-maad-soundscapes/;
        /// here ../shared/data).
        #[arg(long)]
        data: PathBuf,
        /// Where the chosen bundle goes.
        #[arg(long)]
        out: PathBuf,
        /// Intermediate results [default: runs/NAME].
        #[arg(long)]
        work: Option<PathBuf>,
        #[arg(long, default_value = DEFAULT_TOKENIZER, value_parser = in_checkout)]
        tokenizer: PathBuf,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
        /// Replace a bundle already in --out.
        #[arg(long)]
        force: bool,
        /// Also checkpoint training inside an epoch every this many minutes (0: at epoch ends
        /// only); running the recipe again goes on from there.
        #[arg(long, default_value_t = DEFAULT_CHECKPOINT_MINUTES)]
        checkpoint_minutes: u64,
        /// Run this many losses' chains (alignment, pseudo-labels, distillation) at once, each
        /// on a core of its own; their progress bars are hidden, their steps still printed.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        jobs: u64,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
    },
    /// Step time and examples/s of every training stage on generated data at a model size, on
    /// one device, with each stage's first loss (tools/bench/train-device.sh compares devices).
    BenchTrain {
        #[arg(long, default_value = MINI_CONFIG, value_parser = in_checkout)]
        config: PathBuf,
        #[arg(long, default_value = MINI_IMAGE_CONFIG, value_parser = in_checkout)]
        image_config: PathBuf,
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
        /// Steps timed per stage.
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Steps run before the timed ones (a GPU compiles its kernels in its first steps).
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        #[arg(long, value_enum, default_value_t = LossArg::OtAtt)]
        loss: LossArg,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Train the caption tokenizer (WordPiece) on caption CSV files.
    Tokenizer {
        #[arg(long, default_value_t = 4000)]
        vocab_size: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(required = true)]
        captions: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ImportFormat {
    Audiocaps,
    Clotho,
    Esc,
    Cavmae,
    Folder,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    Train,
    Val,
    Test,
}

impl From<SplitArg> for earsight_tools::data::Split {
    fn from(s: SplitArg) -> Self {
        match s {
            SplitArg::Train => Self::Train,
            SplitArg::Val => Self::Val,
            SplitArg::Test => Self::Test,
        }
    }
}

/// A training run loses at most this much work when it is killed mid-epoch.
const DEFAULT_CHECKPOINT_MINUTES: u64 = 15;

fn checkpoint_every(minutes: u64) -> Option<std::time::Duration> {
    (minutes > 0).then(|| std::time::Duration::from_secs(60 * minutes))
}

/// A path as given, except that a relative one that is not there is looked for in the checkout
/// the tools were built from: the defaults are written relative to the checkout and work from
/// any directory.
fn in_checkout_path(path: &str) -> PathBuf {
    let given = PathBuf::from(path);
    if given.is_relative() && !given.exists() {
        let there = Path::new(CHECKOUT).join(&given);
        if there.exists() {
            return there;
        }
    }
    given
}

/// [`in_checkout_path`] as a clap value parser.
fn in_checkout(path: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(in_checkout_path(path))
}

/// A recipe file, or the recipe of that name in tools/configs (of the working directory, else
/// of the source tree this binary was built from).
fn recipe_file(recipe: &str) -> Result<PathBuf> {
    let path = PathBuf::from(recipe);
    if path.is_file() {
        return Ok(path);
    }
    let named = |root: &Path| root.join("configs").join(recipe).join("recipe.json");
    let candidates = [
        named(Path::new("tools")),
        named(&Path::new(CHECKOUT).join("tools")),
    ];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    bail!(
        "no recipe {recipe:?}: not a file, and neither {} nor {} exists",
        candidates[0].display(),
        candidates[1].display()
    )
}

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,earsight_tools=info"),
    )
    .init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("earsight-tools: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Export {
            source,
            out,
            int8,
            encoder_quant,
            decoder_quant,
            tokenizer,
            name,
            max_tokens,
            force,
        } => {
            let (weights, trained, training) = source.load()?;
            let (enc_default, dec_default) = if int8 {
                (INT8_ENCODER, INT8_DECODER)
            } else {
                (Quantization::F32, Quantization::F32)
            };
            let options = ExportOptions {
                name: name.unwrap_or_else(|| {
                    out.file_name()
                        .map_or("earsight".into(), |n| n.to_string_lossy().into_owned())
                }),
                encoder_quantization: encoder_quant.map_or(enc_default, Into::into),
                decoder_quantization: decoder_quant.map_or(dec_default, Into::into),
                tokenizer_provenance: if tokenizer == in_checkout_path(DEFAULT_TOKENIZER) {
                    DEFAULT_TOKENIZER_PROVENANCE.into()
                } else {
                    tokenizer.display().to_string()
                },
                tokenizer,
                trained,
                training,
                seed: source.seed,
                decoding: DecodingConfig {
                    max_tokens,
                    ..DecodingConfig::default()
                },
                card: String::new(),
                force,
            };
            let m = export_bundle(&weights, &options, &out)?;
            println!(
                "wrote {} (encoder {}, decoder {}, trained: {})",
                out.display(),
                m.encoder_quantization,
                m.decoder_quantization,
                m.trained
            );
            Ok(())
        }
        Command::Decode {
            source,
            tokenizer,
            max_tokens,
            json,
            files,
        } => {
            let (weights, _, _) = source.load()?;
            let c = &weights.config;
            let special = special_tokens(&tokenizer, c.decoder.vocab_size)?;
            let text = tokenizers::Tokenizer::from_file(&tokenizer)
                .map_err(|e| anyhow::anyhow!("{}: {e}", tokenizer.display()))?;
            let reference = Reference::new(&weights);
            let mut frontend = LogMel::new(&c.frontend);
            for file in files {
                let samples = earsight::audio::read_all(&file, c.frontend.sample_rate)
                    .with_context(|| format!("reading {}", file.display()))?;
                let mel = frontend.window(&samples);
                let out = reference.greedy(&mel, special.bos, special.eos, max_tokens);
                let words: Vec<u32> = out
                    .tokens
                    .iter()
                    .copied()
                    .filter(|&t| t != special.eos)
                    .collect();
                let caption = text
                    .decode(&words, true)
                    .map_err(|e| anyhow::anyhow!("decoding tokens: {e}"))?;
                if json {
                    let value = serde_json::json!({
                        "file": file, "caption": caption, "tokens": out.tokens, "logits": out.logits,
                    });
                    println!("{value}");
                } else {
                    println!("{}: {caption}", file.display());
                }
            }
            Ok(())
        }
        Command::Init {
            config,
            seed,
            blip,
            out,
        } => {
            if out.join(earsight_tools::weights::WEIGHTS_FILE).exists() {
                bail!(
                    "{}: already holds a checkpoint; choose a new directory",
                    out.display()
                );
            }
            let config = read_config(&config)?;
            match blip {
                None => {
                    Weights::init(&config, seed)?.save(&out)?;
                    println!("wrote seeded checkpoint {} (seed {seed})", out.display());
                }
                Some(dir) => {
                    let blip = earsight_tools::blip::load(&dir)?;
                    blip.captioner(&config, seed)?.save(&out)?;
                    blip.image.save(&out)?;
                    let d = &blip.decoder;
                    println!(
                        "wrote {}: BLIP's captioner from {} ({}-layer post-norm decoder, \
                         {} tokens; {}-layer ViT) with a seeded audio encoder (seed {seed})",
                        out.display(),
                        dir.display(),
                        d.depth,
                        d.vocab_size,
                        blip.image.config.depth
                    );
                }
            }
            Ok(())
        }
        Command::World {
            sources,
            seed,
            scenes,
            hold_out_fold,
            out,
        } => {
            let t = std::time::Instant::now();
            let shape = earsight_tools::world::WorldShape {
                scenes,
                held_out_fold: hold_out_fold,
            };
            let stats = earsight_tools::world::generate(&sources, seed, &shape, &out)?;
            println!("{}", serde_json::to_string_pretty(&stats)?);
            println!("generated in {:.1} s", t.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Import {
            format,
            src,
            audio_dir,
            labels,
            split,
            test_fold,
            out,
        } => {
            use earsight_tools::data;
            let split = split.into();
            let audio_dir = || {
                audio_dir
                    .clone()
                    .context("--audio-dir is needed: where the audio files are")
            };
            let clips = match format {
                ImportFormat::Audiocaps => data::import_audiocaps(&src, &audio_dir()?, split)?,
                ImportFormat::Clotho => data::import_clotho(&src, &audio_dir()?, split)?,
                ImportFormat::Esc => data::import_esc(&src, test_fold)?,
                ImportFormat::Cavmae => {
                    let labels = labels.context("--labels is needed: the label list CSV")?;
                    data::import_cavmae(&src, &labels, split)?
                }
                ImportFormat::Folder => data::import_folder(&src, split)?,
            };
            data::write_manifest(&out, &clips)?;
            let manifest = data::Manifest::read(&out, None)?;
            let counts: Vec<String> = manifest
                .counts()
                .iter()
                .map(|(s, n)| format!("{n} {s:?}").to_lowercase())
                .collect();
            println!(
                "{}: {} clips ({})",
                out.display(),
                manifest.clips.len(),
                counts.join(", ")
            );
            Ok(())
        }
        Command::Eval {
            model,
            data,
            split,
            out,
            force,
        } => {
            let manifest = earsight_tools::data::Manifest::read(&data, None)?;
            let (report, clips, items) =
                earsight_tools::eval::evaluate(&model, &manifest, split.map(Into::into))?;
            if let Some(dir) = out {
                earsight_tools::eval::write(&dir, &report, &clips, &items, force)?;
            }
            print!("{}", earsight_tools::eval::markdown(&report));
            Ok(())
        }
        Command::Score {
            candidates,
            references,
            out,
            force,
        } => {
            let set = earsight_tools::score::ScoreSet::read(&candidates, &references)?;
            let (report, items) = earsight_tools::score::score(&set);
            if let Some(dir) = out {
                earsight_tools::score::write_report(&dir, &report, &items, force)?;
            }
            print!("{}", earsight_tools::score::markdown(&report));
            Ok(())
        }
        Command::Train { stage } => {
            let report = train(&stage)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::PseudoLabel {
            model,
            prefix,
            data,
            max_tokens,
            tokenizer,
            pictures,
            out,
        } => {
            let n = pipeline::pseudo_labels::<burn::backend::NdArray<f32>>(
                &model,
                &prefix,
                &data,
                &tokenizer,
                max_tokens,
                &[Split::Train, Split::Val, Split::Test],
                if pictures {
                    Inputs::Picture
                } else {
                    Inputs::PictureAndAudio
                },
                &out,
                &Default::default(),
            )?;
            println!("wrote {n} pseudo-labels to {}", out.display());
            Ok(())
        }
        Command::Teacher { command } => cli::teacher::run(command),
        Command::Board { command } => cli::board::run(command),
        Command::Recipe {
            recipe,
            data,
            out,
            work,
            tokenizer,
            quiet,
            force,
            checkpoint_minutes,
            jobs,
            device,
        } => {
            let file = recipe_file(&recipe)?;
            let name = file
                .parent()
                .and_then(|d| d.file_name())
                .map_or("recipe".into(), |n| n.to_string_lossy().into_owned());
            let work = work.unwrap_or_else(|| Path::new("runs").join(name));
            let run = RecipeRun {
                recipe: &file,
                sources: &data,
                work: &work,
                out: &out,
                tokenizer: &tokenizer,
                progress: !quiet,
                force,
                checkpoint_every: checkpoint_every(checkpoint_minutes),
                jobs: jobs as usize,
            };
            let began = std::time::Instant::now();
            let results = match device {
                DeviceArg::Cpu => recipe::run::<CpuTrain>(&run, &Default::default())?,
                #[cfg(feature = "cuda")]
                DeviceArg::Cuda => recipe::run::<CudaTrain>(&run, &cuda_device()?)?,
                #[cfg(not(feature = "cuda"))]
                DeviceArg::Cuda => bail!(NO_CUDA),
            };
            println!(
                "recipe done in {:.1} min; the comparison is in {}",
                began.elapsed().as_secs_f64() / 60.0,
                work.join("results.md").display()
            );
            println!("chosen: {}", results.chosen);
            Ok(())
        }
        Command::BenchTrain {
            config,
            image_config,
            batch_size,
            steps,
            warmup,
            loss,
            device,
            json,
        } => {
            let model = read_config(&config)?;
            let image: ImageConfig =
                earsight_tools::train::read_json(&image_config, "image encoder config")?;
            let loss = AlignLoss::from(loss);
            let results = match device {
                DeviceArg::Cpu => bench::<CpuTrain>(
                    &model,
                    &image,
                    batch_size,
                    (warmup, steps),
                    loss,
                    &Default::default(),
                )?,
                #[cfg(feature = "cuda")]
                DeviceArg::Cuda => bench::<CudaTrain>(
                    &model,
                    &image,
                    batch_size,
                    (warmup, steps),
                    loss,
                    &cuda_device()?,
                )?,
                #[cfg(not(feature = "cuda"))]
                DeviceArg::Cuda => bail!(NO_CUDA),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                println!(
                    "| stage | warm-up + timed steps | batch | ms/step | examples/s | first loss |"
                );
                println!("|---|---|---|---|---|---|");
                for r in &results {
                    println!(
                        "| {} | {} + {} | {} | {:.1} | {:.1} | {:.6} |",
                        r.stage,
                        r.warmup,
                        r.steps,
                        r.batch_size,
                        r.mean_step_ms,
                        r.examples_per_s,
                        r.first_loss
                    );
                }
            }
            Ok(())
        }
        Command::Tokenizer {
            vocab_size,
            out,
            captions,
        } => {
            if out.exists() {
                bail!("{}: exists; choose a new path", out.display());
            }
            let texts = earsight_tools::vocab::read_captions(&captions)?;
            let tokenizer = earsight_tools::vocab::train(&texts, vocab_size)?;
            tokenizer
                .save(&out, true)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
            println!(
                "trained on {} captions: {} tokens -> {}",
                texts.len(),
                tokenizer.get_vocab_size(true),
                out.display()
            );
            Ok(())
        }
    }
}
