//! `earsight-tools eval`: a bundle's captions of a manifest's clips, scored.

use std::path::PathBuf;

use anyhow::Result;

use super::common::SplitArg;

#[derive(clap::Args)]
pub struct EvalArgs {
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
}

/// Runs `eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let EvalArgs {
        model,
        data,
        split,
        out,
        force,
    } = args;
    let manifest = earsight_tools::data::Manifest::read(&data, None)?;
    let (report, clips, items) =
        earsight_tools::score::eval::evaluate(&model, &manifest, split.map(Into::into))?;
    if let Some(dir) = out {
        earsight_tools::score::eval::write(&dir, &report, &clips, &items, force)?;
    }
    print!("{}", earsight_tools::score::eval::markdown(&report));
    Ok(())
}
