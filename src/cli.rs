use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde::Serialize;

use earsight::bundle::{Bundle, DECODER_FILE, ENCODER_FILE, TOKENIZER_FILE};
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
        /// Beam width (1 = greedy); default from the bundle.
        #[arg(long)]
        beam: Option<usize>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Describe a model bundle: manifest, file sizes, parameters, quantization.
    Info { dir: PathBuf },
    /// Time the frontend, encoder and decoder of a bundle on a synthetic 10 s clip.
    Bench {
        #[arg(long)]
        model: Option<PathBuf>,
        /// Threads for tract's matrix products.
        #[arg(long, default_value_t = 1)]
        threads: usize,
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

pub fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Caption {
            model,
            json,
            beam,
            files,
        } => caption(&model_dir(model)?, json, beam, &files),
        Command::Info { dir } => info(&dir),
        Command::Bench {
            model,
            threads,
            tokens,
            runs,
            json,
        } => {
            let dir = model_dir(model)?;
            if threads > 1 {
                use tract_linalg::multithread::{multithread_tract_scope, Executor};
                multithread_tract_scope(Executor::multithread(threads), || {
                    bench(&dir, threads, tokens, runs, json)
                })
            } else {
                bench(&dir, threads, tokens, runs, json)
            }
        }
    }
}

/// Where the default bundle is looked for, in order.
fn default_model_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(dir) = std::env::var("EARSIGHT_MODEL") {
        dirs.push(PathBuf::from(dir));
    }
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
         Pass --model DIR, set EARSIGHT_MODEL, or make a bundle with\n  \
         cargo run --release -p earsight-tools -- export --config tools/configs/mini.json --seed 1 --out models/mini\n\
         (a bundle exported without training has random weights and says so).",
        looked.join(", ")
    )
}

fn open_captioner(dir: &Path) -> Result<Captioner> {
    let captioner =
        Captioner::open(dir).with_context(|| format!("loading bundle {}", dir.display()))?;
    if !captioner.bundle().manifest().trained {
        eprintln!(
            "warning: {} is an untrained bundle (random weights); captions are not descriptions",
            dir.display()
        );
    }
    Ok(captioner)
}

fn caption(dir: &Path, json: bool, beam: Option<usize>, files: &[PathBuf]) -> Result<()> {
    let mut captioner = open_captioner(dir)?;
    if let Some(width) = beam {
        if width == 0 {
            bail!("--beam must be at least 1");
        }
        captioner.decoding.beam_width = width;
    }
    let mut failures = 0;
    for file in files {
        let result = captioner.caption_file(file, |c| {
            if json {
                println!("{}", serde_json::to_string(&c).expect("captions serialise"));
            } else if files.len() > 1 || c.start > 0.0 {
                println!(
                    "{} [{:.2}-{:.2}s] {}",
                    c.file.display(),
                    c.start,
                    c.end,
                    c.caption
                );
            } else {
                println!("{}", c.caption);
            }
        });
        if let Err(e) = result {
            eprintln!("earsight: {e}");
            failures += 1;
        }
    }
    if failures > 0 {
        bail!("{failures} of {} files could not be captioned", files.len());
    }
    Ok(())
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

fn info(dir: &Path) -> Result<()> {
    let bundle = Bundle::open(dir).with_context(|| format!("checking bundle {}", dir.display()))?;
    let m = bundle.manifest();
    let (enc_params, dec_params) = m.model.parameter_counts();
    let f = &m.model.frontend;
    println!("bundle      {}", dir.display());
    println!("name        {}", m.name);
    println!(
        "trained     {}",
        if m.trained {
            "yes"
        } else {
            "NO (random weights: captions are meaningless)"
        }
    );
    println!("training    {}", m.provenance.training);
    println!(
        "written by  {} (seed {})",
        m.provenance.tool, m.provenance.seed
    );
    println!(
        "frontend    {} Hz, {} mels, window {} / hop {} / fft {}, {} frames = {:.2} s per window",
        f.sample_rate,
        f.n_mels,
        f.win_length,
        f.hop_length,
        f.n_fft,
        f.clip_frames,
        f.window_samples() as f64 / f.sample_rate as f64
    );
    println!(
        "encoder     {} blocks x {} wide, {} audio tokens + {} prefix -> D={}, {:.2} M params, {}",
        m.model.encoder.depth,
        m.model.encoder.dim,
        m.model.n_audio_tokens(),
        m.model.encoder.n_prefix,
        m.model.decoder.dim,
        enc_params as f64 / 1e6,
        m.encoder_quantization
    );
    println!(
        "decoder     {} blocks x {} wide, vocab {}, {:.2} M params, {}",
        m.model.decoder.depth,
        m.model.decoder.dim,
        m.model.decoder.vocab_size,
        dec_params as f64 / 1e6,
        m.decoder_quantization
    );
    println!(
        "decoding    beam {}, length penalty {}, max {} tokens, no-repeat {}-gram",
        m.decoding.beam_width,
        m.decoding.length_penalty,
        m.decoding.max_tokens,
        m.decoding.no_repeat_ngram
    );
    for file in [ENCODER_FILE, DECODER_FILE, TOKENIZER_FILE] {
        println!(
            "{:<11} {:.2} MB",
            file,
            file_size(&bundle.path(file))? as f64 / 1e6
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct BenchReport {
    model: PathBuf,
    threads: usize,
    window_seconds: f64,
    load_ms: f64,
    frontend_ms: f64,
    encoder_ms: f64,
    decoder_token_ms: f64,
    tokens: usize,
    caption_ms: f64,
    real_time_factor: f64,
    peak_rss_mb: Option<f64>,
}

/// A deterministic 10 s test signal: a chirp over pseudo-random noise.
fn bench_signal(rate: u32, n: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let t = i as f32 / rate as f32;
            0.3 * (2.0 * std::f32::consts::PI * (200.0 + 150.0 * t) * t).sin() + 0.1 * noise
        })
        .collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn bench(dir: &Path, threads: usize, tokens: usize, runs: usize, json: bool) -> Result<()> {
    if runs == 0 || tokens == 0 {
        bail!("--runs and --tokens must be at least 1");
    }
    let t0 = Instant::now();
    let mut captioner = open_captioner(dir)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let f = captioner.bundle().manifest().model.frontend.clone();
    let max_tokens = captioner.bundle().manifest().model.decoder.max_positions;
    if tokens >= max_tokens {
        bail!("--tokens must be below the decoder's {max_tokens} positions");
    }
    let bos = captioner.bundle().manifest().tokens.bos;
    let samples = bench_signal(f.sample_rate, f.window_samples());
    let (mut fe, mut enc, mut dec) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let mel = captioner.frontend_mut().window(&samples);
        fe.push(t.elapsed().as_secs_f64() * 1e3);
        let engine = captioner.engine();
        let t = Instant::now();
        let memory = engine.encode(&mel)?;
        enc.push(t.elapsed().as_secs_f64() * 1e3);
        // Forced-length greedy: always `tokens` steps, whatever the model predicts.
        let t = Instant::now();
        let mut cache = engine.empty_cache();
        let mut token = bos;
        for _ in 0..tokens {
            let logits = engine.step(&memory, &mut cache, token)?;
            token = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as u32)
                .unwrap_or(bos);
        }
        dec.push(t.elapsed().as_secs_f64() * 1e3 / tokens as f64);
    }
    let (frontend_ms, encoder_ms, decoder_token_ms) = (median(fe), median(enc), median(dec));
    let caption_ms = frontend_ms + encoder_ms + decoder_token_ms * tokens as f64;
    let window_seconds = f.window_samples() as f64 / f.sample_rate as f64;
    let report = BenchReport {
        model: dir.into(),
        threads,
        window_seconds,
        load_ms,
        frontend_ms,
        encoder_ms,
        decoder_token_ms,
        tokens,
        caption_ms,
        real_time_factor: caption_ms / 1e3 / window_seconds,
        peak_rss_mb: peak_rss_mb(),
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("model              {}", report.model.display());
        println!("threads            {}", report.threads);
        println!("load               {:9.2} ms", report.load_ms);
        println!(
            "frontend           {:9.2} ms per {:.2} s window",
            report.frontend_ms, report.window_seconds
        );
        println!("encoder            {:9.2} ms", report.encoder_ms);
        println!(
            "decoder            {:9.3} ms per token",
            report.decoder_token_ms
        );
        println!(
            "caption            {:9.2} ms ({} tokens)",
            report.caption_ms, report.tokens
        );
        println!("real-time factor   {:9.5}", report.real_time_factor);
        match report.peak_rss_mb {
            Some(mb) => println!("peak RSS           {mb:9.1} MB"),
            None => println!("peak RSS           unavailable on this platform"),
        }
    }
    Ok(())
}
