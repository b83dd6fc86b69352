//! `earsight bench`: per-stage times of a bundle on a fixed signal.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use earsight::engine::Backend;

use super::open_captioner;

#[derive(Serialize)]
struct BenchReport {
    model: PathBuf,
    threads: usize,
    window_seconds: f64,
    load_ms: f64,
    frontend_ms: f64,
    encoder_ms: f64,
    decoder_token_ms: f64,
    /// None for a bundle without a tagger.
    tagger_ms: Option<f64>,
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

pub(super) fn bench(
    dir: &Path,
    backend: Backend,
    threads: usize,
    tokens: usize,
    runs: usize,
    json: bool,
) -> Result<()> {
    if runs == 0 || tokens == 0 {
        bail!("--runs and --tokens must be at least 1");
    }
    let t0 = Instant::now();
    let mut captioner = open_captioner(dir, backend)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let f = captioner.bundle().manifest().model.frontend.clone();
    let max_tokens = captioner.bundle().manifest().model.decoder.max_positions;
    if tokens >= max_tokens {
        bail!("--tokens must be below the decoder's {max_tokens} positions");
    }
    let bos = captioner.bundle().manifest().tokens.bos;
    let samples = bench_signal(f.sample_rate, f.window_samples());
    let (mut fe, mut enc, mut dec, mut tag) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
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
        if let Some(tagger) = captioner.tagger() {
            let t = Instant::now();
            tagger.scores(&mel)?;
            tag.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (frontend_ms, encoder_ms, decoder_token_ms) = (median(fe), median(enc), median(dec));
    let tagger_ms = (!tag.is_empty()).then(|| median(tag));
    let caption_ms =
        frontend_ms + encoder_ms + decoder_token_ms * tokens as f64 + tagger_ms.unwrap_or(0.0);
    let window_seconds = f.window_samples() as f64 / f.sample_rate as f64;
    let report = BenchReport {
        model: dir.into(),
        threads,
        window_seconds,
        load_ms,
        frontend_ms,
        encoder_ms,
        decoder_token_ms,
        tagger_ms,
        tokens,
        caption_ms,
        real_time_factor: caption_ms / 1e3 / window_seconds,
        peak_rss_mb: earsight::usage::peak_rss_mb(),
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
        match report.tagger_ms {
            Some(ms) => println!("tagger             {ms:9.2} ms per window"),
            None => println!("tagger             none"),
        }
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
