//! `earsight info`: what a bundle holds.

use std::path::Path;

use anyhow::{Context, Result};

use earsight::bundle::{Bundle, MODEL_CARD_FILE};

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

pub(super) fn info(dir: &Path) -> Result<()> {
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
    let e = &m.model.encoder;
    let backbone = match &e.conv {
        None => format!("{} blocks x {} wide", e.depth, e.dim),
        Some(conv) => format!(
            "convolutional, {} stem + {:?} channels",
            conv.stem, conv.channels
        ),
    };
    println!(
        "encoder     {backbone}, {} audio tokens + {} prefix -> D={}, {:.2} M params, {}",
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
        "decoding    beam {}, length penalty {}, max {} tokens, no-repeat {}-gram, tag guidance {}, tag veto {}",
        m.decoding.beam_width,
        m.decoding.length_penalty,
        m.decoding.max_tokens,
        m.decoding.no_repeat_ngram,
        m.decoding.tag_guidance,
        m.decoding.tag_veto
    );
    match &m.tagger {
        Some(t) => {
            let reported: Vec<&str> = t
                .tags
                .iter()
                .filter(|tag| tag.threshold.is_some())
                .map(|tag| tag.label.as_str())
                .collect();
            println!(
                "tagger      {} tags, {} with thresholds; {} frames = {:.2} s per piece, {}",
                t.tags.len(),
                reported.len(),
                t.frames,
                t.frames as f64 * f.hop_length as f64 / f.sample_rate as f64,
                t.quantization
            );
            println!("reported    {}", reported.join(", "));
            println!("tagger from {}", t.training);
        }
        None => println!("tagger      none (events carry no tags)"),
    }
    for file in m.files() {
        if file == MODEL_CARD_FILE {
            continue;
        }
        println!(
            "{:<11} {:.2} MB",
            file,
            file_size(&bundle.path(file))? as f64 / 1e6
        );
    }
    Ok(())
}
