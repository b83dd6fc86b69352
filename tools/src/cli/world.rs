//! `earsight-tools world`: the miniature audio-visual world, scenes mixed from real and
//! synthesized sources with their audio and visual captions.

use std::path::PathBuf;

use anyhow::Result;

#[derive(clap::Args)]
pub struct WorldArgs {
    /// The sources directory (esc10/, opensfx/, gcompris-sounds/,
    /// scikit-maad-soundscapes/, and urbansound8k/ with --urbansound8k-folds; here
    /// ../shared/data).
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
    /// Take the clips of these UrbanSound8K folds (urbansound8k/ under --sources) into the
    /// world as well, comma-separated (here 2,3: fold 1 is the teachers' held-out fold).
    #[arg(long, value_delimiter = ',')]
    urbansound8k_folds: Vec<u32>,
    /// A new directory for audio/, manifest.jsonl and scenes.jsonl.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `world`.
pub fn run(args: WorldArgs) -> Result<()> {
    let WorldArgs {
        sources,
        seed,
        scenes,
        hold_out_fold,
        urbansound8k_folds,
        out,
    } = args;
    let t = std::time::Instant::now();
    let shape = earsight_tools::world::WorldShape {
        scenes,
        held_out_fold: hold_out_fold,
        urbansound8k_folds,
    };
    let stats = earsight_tools::world::generate(&sources, seed, &shape, &out)?;
    println!("{}", serde_json::to_string_pretty(&stats)?);
    println!("generated in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}
