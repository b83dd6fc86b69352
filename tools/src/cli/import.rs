//! `earsight-tools import`: a clip manifest from a public dataset's layout.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::ValueEnum;
use earsight_tools::data;

use super::common::SplitArg;

#[derive(Clone, Copy, ValueEnum)]
enum ImportFormat {
    Audiocaps,
    Clotho,
    Esc,
    Cavmae,
    Folder,
}

#[derive(clap::Args)]
pub struct ImportArgs {
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
}

/// Runs `import`.
pub fn run(args: ImportArgs) -> Result<()> {
    let ImportArgs {
        format,
        src,
        audio_dir,
        labels,
        split,
        test_fold,
        out,
    } = args;
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
