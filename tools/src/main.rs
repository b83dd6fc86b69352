//! The `earsight-tools` command: its parser, and each subcommand's run in `cli/`.

mod cli;

use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Command {
    /// Write a model bundle (ONNX graphs, tokenizer, manifest, model card).
    Export(cli::export::ExportArgs),
    /// Write seeded random weights as a checkpoint (weights.safetensors + config.json), the
    /// starting point of training.
    Init(cli::init::InitArgs),
    /// Put a distilled convolutional backbone (a bundle's tagger, or a `train teach`
    /// student) in place of a checkpoint's audio encoder, with a new seeded projector; the
    /// stages after it keep the backbone frozen.
    Graft(cli::graft::GraftArgs),
    /// Reference greedy decode in burn (full recompute, no cache), for parity checks.
    Decode(cli::decode::DecodeArgs),
    /// Generate the miniature audio-visual world: scenes of real and synthesized sources over
    /// real backgrounds, with audio and visual captions, split by recording.
    World(cli::world::WorldArgs),
    /// Write a clip manifest (JSON lines) from a public dataset layout, then check it.
    Import(cli::import::ImportArgs),
    /// Caption every clip of a manifest with a bundle and score it: caption metrics against
    /// the clips' references, source recall on labelled clips, false captions on silent ones,
    /// and captions that speak of a picture.
    Eval(cli::eval::EvalArgs),
    /// Score captions from any system against references: BLEU-1..4, ROUGE-L, CIDEr-D as
    /// pycocoevalcap computes them. Prints the Markdown table; --out also writes report.json,
    /// report.md and items.jsonl.
    Score(cli::score::ScoreArgs),
    /// Train a DALI stage (tools/configs has the recipes; README: "Training").
    #[command(subcommand)]
    Train(cli::train::TrainStage),
    /// Stage 2's labels: caption every clip of a dataset from its frame's image tokens, its
    /// aligned audio tokens and the prefix; JSON lines {id, split, caption}.
    PseudoLabel(cli::pseudo_label::PseudoLabelArgs),
    /// A pretrained tagger as a teacher, with its own frontend: what it hears in files, and
    /// its zero-shot accuracy on ESC-10.
    #[command(subcommand)]
    Teacher(cli::teacher::TeacherCommand),
    /// Board profiles (boards/NAME.toml) and the package for one board.
    #[command(subcommand)]
    Board(cli::board::BoardCommand),
    /// Every stage of DALI from real recordings to a bundle: the world, captioner, prefix,
    /// alignment with each loss of the recipe, pseudo-labels, distillation, int8 export,
    /// evaluation; the bundle with the best validation source F1 goes to --out. A stopped run
    /// goes on where it stopped when run again with the same --work.
    Recipe(cli::recipe::RecipeArgs),
    /// Step time and examples/s of every training stage on generated data at a model size, on
    /// one device, with each stage's first loss (tools/bench/train-device.sh compares devices).
    BenchTrain(cli::bench_train::BenchTrainArgs),
    /// Train the caption tokenizer (WordPiece) on caption CSV files.
    Tokenizer(cli::tokenizer::TokenizerArgs),
}

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,earsight_tools=info"),
    )
    .init();
    let done = match Cli::parse().command {
        Command::Export(args) => cli::export::run(args),
        Command::Init(args) => cli::init::run(args),
        Command::Graft(args) => cli::graft::run(args),
        Command::Decode(args) => cli::decode::run(args),
        Command::World(args) => cli::world::run(args),
        Command::Import(args) => cli::import::run(args),
        Command::Eval(args) => cli::eval::run(args),
        Command::Score(args) => cli::score::run(args),
        Command::Train(stage) => cli::train::run(stage),
        Command::PseudoLabel(args) => cli::pseudo_label::run(args),
        Command::Teacher(command) => cli::teacher::run(command),
        Command::Board(command) => cli::board::run(command),
        Command::Recipe(args) => cli::recipe::run(args),
        Command::BenchTrain(args) => cli::bench_train::run(args),
        Command::Tokenizer(args) => cli::tokenizer::run(args),
    };
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("earsight-tools: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
