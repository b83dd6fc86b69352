//! The `earsight` command line: flags and what they resolve to, and one file per subcommand
//! (`caption`, `listen`, `devices`, `info`, `bench`).

mod bench;
mod caption;
mod devices;
mod info;
mod listen;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use earsight::bundle::MAX_BEAM_WIDTH;
use earsight::engine::Backend;
use earsight::stream::GateConfig;
use earsight::Captioner;

#[derive(Parser)]
#[command(
    name = "earsight",
    version,
    about = "Describe the sounds around you in plain words"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Caption audio files (WAV, FLAC, Ogg/Vorbis, MP3), one caption per model window.
    Caption {
        /// Model bundle directory (default: the installed default bundle).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Print one JSON object per caption.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        decoding: DecodingArgs,
        #[command(flatten)]
        gate: GateArgs,
        #[command(flatten)]
        compute: ComputeArgs,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Caption live audio (the microphone, a file, or raw PCM on stdin) until it ends or
    /// Ctrl-C; prints a summary on stderr.
    Listen(Box<listen::ListenArgs>),
    /// List the audio input devices `listen --device` can use.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// Describe a model bundle: manifest, file sizes, parameters, quantization.
    Info { dir: PathBuf },
    /// Time the frontend, encoder and decoder of a bundle on a synthetic 10 s clip.
    Bench {
        #[arg(long)]
        model: Option<PathBuf>,
        #[command(flatten)]
        compute: ComputeArgs,
        /// Decoder steps per caption.
        #[arg(long, default_value_t = 20)]
        tokens: usize,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 10)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
}

/// Where the graphs run, and on how many threads.
#[derive(clap::Args)]
struct ComputeArgs {
    /// Threads for tract's matrix products on the CPU (a board profile's `threads`).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Where the graphs run: the CPU, or an NVIDIA GPU through tract's CUDA runtime (a build
    /// with the `cuda` feature, as the Jetson's board package is; a board profile's `backend`).
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BackendArg {
    Cpu,
    Cuda,
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Backend {
        match arg {
            BackendArg::Cpu => Backend::Cpu,
            BackendArg::Cuda => Backend::Cuda,
        }
    }
}

impl ComputeArgs {
    /// Sets tract's threads and says where the graphs run.
    fn resolve(&self) -> Result<Backend> {
        use_threads(self.threads)?;
        Ok(self.backend.into())
    }
}

/// How captions are decoded, where it differs from the bundle's defaults.
#[derive(clap::Args)]
struct DecodingArgs {
    /// Beam width (1 = greedy); default from the bundle.
    #[arg(long)]
    beam: Option<usize>,
    /// Never say the words of a tag scored below this share of the window's best tag score
    /// (0 to 1; 0 forbids none); default from the bundle, which needs tags with words.
    #[arg(long)]
    tag_veto: Option<f32>,
}

impl DecodingArgs {
    /// Sets these overrides on `captioner`'s decoding, within what earsight searches.
    fn apply(&self, captioner: &mut Captioner) -> Result<()> {
        if let Some(width) = self.beam {
            if !(1..=MAX_BEAM_WIDTH).contains(&width) {
                bail!("--beam {width}: expected 1 (greedy) to {MAX_BEAM_WIDTH}");
            }
            captioner.decoding.beam_width = width;
        }
        if let Some(veto) = self.tag_veto {
            if !(0.0..=1.0).contains(&veto) {
                bail!("--tag-veto {veto}: expected 0 to 1");
            }
            if veto > 0.0 && !captioner.bundle().manifest().has_tag_words() {
                bail!(
                    "--tag-veto {veto}: the bundle has no tags with caption words to veto \
                     (`earsight-tools teacher guide` gives them)"
                );
            }
            captioner.decoding.tag_veto = veto;
        }
        Ok(())
    }
}

/// When a window is silence, which gets no caption.
#[derive(clap::Args)]
struct GateArgs {
    /// Frames quieter than this (dB relative to full scale) count as silence.
    #[arg(long, default_value_t = GateConfig::default().threshold_db, allow_negative_numbers = true)]
    gate_db: f32,
    /// Seconds of frames above --gate-db a window needs to be captioned.
    #[arg(long, default_value_t = GateConfig::default().min_active_s, allow_negative_numbers = true)]
    gate_active: f64,
}

impl From<&GateArgs> for GateConfig {
    fn from(args: &GateArgs) -> GateConfig {
        GateConfig {
            threshold_db: args.gate_db,
            min_active_s: args.gate_active,
        }
    }
}

pub fn run() -> Result<()> {
    let command = Cli::parse().command;
    if matches!(command, Command::Caption { .. } | Command::Listen(_)) && stdout_was_closed() {
        bail!(
            "standard output is closed (`>&-`), so every caption would be lost: send it to a \
             file, a pipe, or /dev/null to drop the captions on purpose"
        );
    }
    match command {
        Command::Caption {
            model,
            json,
            decoding,
            gate,
            compute,
            files,
        } => {
            let backend = compute.resolve()?;
            let dir = model_dir(model)?;
            caption::caption(&dir, backend, json, &decoding, (&gate).into(), &files)
        }
        Command::Listen(args) => {
            let backend = args.compute.resolve()?;
            listen::listen(*args, backend)
        }
        Command::Devices { json } => devices::devices(json),
        Command::Info { dir } => info::info(&dir),
        Command::Bench {
            model,
            compute,
            tokens,
            runs,
            json,
        } => {
            let backend = compute.resolve()?;
            let dir = model_dir(model)?;
            bench::bench(&dir, backend, compute.threads, tokens, runs, json)
        }
    }
}

/// Whether earsight started with its standard output closed. Rust's runtime opens `/dev/null`
/// in place of a closed standard stream before `main`, so writes would succeed and vanish; on
/// Linux a function in `.init_array` looks at the descriptor before that. (`/dev/null` opened
/// read-write, as Python's `subprocess.DEVNULL` and systemd's `StandardOutput=null` hand it
/// over, looks the same afterwards, and is a choice to drop the captions.) Other systems
/// answer no.
fn stdout_was_closed() -> bool {
    #[cfg(target_os = "linux")]
    return start::STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(target_os = "linux"))]
    false
}

#[cfg(target_os = "linux")]
mod start {
    use std::sync::atomic::{AtomicBool, Ordering};

    pub(super) static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

    /// Run by the C runtime before `main` and before Rust's own set-up.
    #[used]
    #[link_section = ".init_array"]
    static NOTE_CLOSED_STDOUT: extern "C" fn() = note_closed_stdout;

    extern "C" fn note_closed_stdout() {
        // SAFETY: F_GETFD only reads the descriptor's flags; it fails on a closed descriptor.
        if unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFD) } == -1 {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
    }
}

/// Makes tract's matrix products use `threads` threads, in every thread of the process: `listen`
/// runs the model on a worker thread of its own.
fn use_threads(threads: usize) -> Result<()> {
    use tract_linalg::multithread::{set_default_executor, Executor};
    if !(1..=MAX_THREADS).contains(&threads) {
        bail!("--threads {threads}: expected 1 to {MAX_THREADS}");
    }
    if threads > 1 {
        set_default_executor(Executor::multithread(threads));
    }
    Ok(())
}

/// The most threads `--threads` gives tract: more than any board has cores, where each thread
/// past the cores only adds start-up time and memory.
const MAX_THREADS: usize = 64;

/// Where the default bundle is looked for, in order: beside the binary as a board tarball or
/// `make install` lays it out, then in the source tree it was built from (a checkout, or
/// cargo's copy of the package after `cargo install`).
fn default_model_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(bin) = exe.parent() {
            dirs.push(bin.join("../share/earsight/models/mini"));
        }
    }
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/mini"));
    dirs
}

fn model_dir(model: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = model {
        return Ok(dir);
    }
    // An empty variable is an unset one, as the shell's `EARSIGHT_MODEL= earsight ...` means.
    if let Some(dir) = std::env::var_os("EARSIGHT_MODEL").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.join("manifest.json").is_file() {
            bail!(
                "EARSIGHT_MODEL is {}, which holds no bundle (no manifest.json); unset it to use \
                 the default model",
                dir.display()
            );
        }
        return Ok(dir);
    }
    let candidates = default_model_candidates();
    if let Some(found) = candidates
        .iter()
        .find(|d| d.join("manifest.json").is_file())
    {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    bail!(
        "no default model is installed (looked in: {}).\n\
         Pass --model DIR, set EARSIGHT_MODEL, or train the default model from real recordings \
         with\n  \
         cargo run --release -p earsight-tools -- recipe mini --data DIR --out models/mini",
        looked.join(", ")
    )
}

fn open_captioner(dir: &Path, backend: Backend) -> Result<Captioner> {
    let captioner = Captioner::open_on(dir, backend)
        .with_context(|| format!("loading bundle {}", dir.display()))?;
    release_loading_leftovers();
    if !captioner.bundle().manifest().trained {
        eprintln!(
            "warning: {} is an untrained bundle (random weights); captions are not descriptions",
            dir.display()
        );
    }
    Ok(captioner)
}

/// Hands back to the kernel the heap pages that loading freed (the protobuf's copies of the
/// weights, tract's graphs before optimisation), which malloc keeps (`main`'s tunables) and
/// which the first window's activations mostly do not fit.
fn release_loading_leftovers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How to get a build that captures from a microphone: the feature links ALSA.
#[cfg(not(feature = "mic"))]
pub(super) const MIC_HINT: &str =
    "build it with the `mic` feature: `sudo apt-get install libasound2-dev \
     pkg-config`, then `cargo install --path . --features mic` in the earsight checkout (or \
     `cargo run --release --features mic -- listen`)";
