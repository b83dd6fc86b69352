//! `earsight-fuzz`: runs the fuzz targets for a number of inputs or a time, and reports the
//! panics, hangs, slow inputs and peak memory it found (tools/bench/FINDINGS.md, "Fuzzing").

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;

use earsight_fuzz::{fuzz, targets, Budget};

#[derive(Parser)]
#[command(
    name = "earsight-fuzz",
    about = "Fuzz earsight's edges with a fixed seed"
)]
struct Args {
    /// Targets to run (manifest, audio-file, raw-pcm, listen-values); default: all.
    targets: Vec<String>,
    /// Inputs per target.
    #[arg(long, default_value_t = 1_000_000)]
    inputs: u64,
    /// Minutes per target, at most: whichever of --inputs and --minutes comes first ends it.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where inputs that panic or hang are written.
    #[arg(long, default_value = "target/fuzz-crashes")]
    crashes: PathBuf,
    /// Also write the reports as JSON lines here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !(args.minutes > 0.0 && args.minutes <= 24.0 * 60.0) {
        bail!(
            "--minutes {}: expected above 0 and at most a day",
            args.minutes
        );
    }
    std::fs::create_dir_all(&args.crashes)
        .with_context(|| format!("creating {}", args.crashes.display()))?;
    let all = targets::all();
    for name in &args.targets {
        if !all.iter().any(|t| t.name == name) {
            let names: Vec<&str> = all.iter().map(|t| t.name).collect();
            bail!("no target {name:?}; the targets are {}", names.join(", "));
        }
    }
    let budget = Budget {
        inputs: args.inputs,
        time: Duration::from_secs_f64(args.minutes * 60.0),
        slow: Duration::from_secs(1),
        hang: Duration::from_secs(60),
    };
    let mut failed = false;
    let mut lines = Vec::new();
    for target in all
        .iter()
        .filter(|t| args.targets.is_empty() || args.targets.iter().any(|n| n == t.name))
    {
        let report = fuzz(target, args.seed, &budget, Some(&args.crashes), |r| {
            eprint!(
                "\r{}: {} inputs, {:.0} s, {} outcomes, {} panics   ",
                r.target, r.inputs, r.seconds, r.outcomes, r.panics
            );
        });
        eprintln!();
        println!(
            "{:<14} {:>9} inputs in {:>6.0} s: {} panics, {} slower than 1 s (slowest {:.0} ms), \
             {} outcomes, peak RSS {:.0} MB",
            report.target,
            report.inputs,
            report.seconds,
            report.panics,
            report.slow,
            report.slowest_ms,
            report.outcomes,
            report.peak_rss_mb.unwrap_or(f64::NAN)
        );
        if let Some(first) = &report.first_panic {
            println!("  first panic: {first}");
        }
        failed |= report.panics > 0;
        lines.push(serde_json::to_string(&report)?);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, lines.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if failed {
        bail!(
            "panics found; their inputs are in {}",
            args.crashes.display()
        );
    }
    Ok(())
}
