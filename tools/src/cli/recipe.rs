//! `earsight-tools recipe`: every stage of DALI from real recordings to a bundle, the best of
//! the recipe's losses chosen on validation.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use earsight_tools::recipe::{self, RecipeRun};

#[cfg(not(feature = "cuda"))]
use super::common::NO_CUDA;
use super::common::{
    checkpoint_every, in_checkout, CpuTrain, DeviceArg, CHECKOUT, DEFAULT_CHECKPOINT_MINUTES,
    DEFAULT_TOKENIZER,
};
#[cfg(feature = "cuda")]
use super::common::{cuda_device, CudaTrain};

#[derive(clap::Args)]
pub struct RecipeArgs {
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

/// Runs `recipe`.
pub fn run(args: RecipeArgs) -> Result<()> {
    let RecipeArgs {
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
    } = args;
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
