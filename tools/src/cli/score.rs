//! `earsight-tools score`: any system's captions scored against references.

use std::path::PathBuf;

use anyhow::Result;

#[derive(clap::Args)]
pub struct ScoreArgs {
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
}

/// Runs `score`.
pub fn run(args: ScoreArgs) -> Result<()> {
    let ScoreArgs {
        candidates,
        references,
        out,
        force,
    } = args;
    let set = earsight_tools::score::ScoreSet::read(&candidates, &references)?;
    let (report, items) = earsight_tools::score::score(&set);
    if let Some(dir) = out {
        earsight_tools::score::write_report(&dir, &report, &items, force)?;
    }
    print!("{}", earsight_tools::score::markdown(&report));
    Ok(())
}
