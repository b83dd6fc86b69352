//! Files to captions: audio is read in chunks, cut into model windows of `clip_frames` frames,
//! and each window is encoded and decoded. Memory stays bounded by one window whatever the
//! file's length.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::audio::{AudioError, AudioFile};
use crate::bundle::{Bundle, BundleError, DecodingConfig, TOKENIZER_FILE};
use crate::engine::{decode, Engine, EngineError, WindowDecoder};
use crate::frontend::LogMel;
use crate::text::{TextDecoder, TextError};

/// Anything that can stop a file from being captioned.
#[derive(Debug, thiserror::Error)]
pub enum CaptionError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Audio(#[from] AudioError),
}

/// Milliseconds spent in each stage for one window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    pub frontend: f64,
    pub encoder: f64,
    pub decoder: f64,
    pub total: f64,
}

/// The caption of one window of a file.
#[derive(Clone, Debug, Serialize)]
pub struct Caption {
    pub file: PathBuf,
    /// Window start, seconds from the beginning of the file.
    pub start: f64,
    /// Window end (the end of the audio for the last window).
    pub end: f64,
    pub caption: String,
    /// Mean log-probability per generated token.
    pub score: f32,
    #[serde(rename = "timings_ms")]
    pub timings: Timings,
}

/// The caption of one window of samples.
#[derive(Clone, Debug)]
pub struct WindowCaption {
    pub text: String,
    /// Mean log-probability per generated token.
    pub score: f32,
    pub timings: Timings,
}

/// A loaded bundle ready to caption audio.
pub struct Captioner {
    bundle: Bundle,
    engine: Engine,
    text: TextDecoder,
    frontend: LogMel,
    /// Decoding settings; start as the bundle's defaults.
    pub decoding: DecodingConfig,
}

/// The trailing part of a file is captioned only when it holds at least this much audio (or is
/// the only window): a fraction of a second padded with silence says little.
const MIN_TAIL_SECONDS: f64 = 1.0;

impl Captioner {
    /// Opens and checks a bundle, loads its graphs and tokenizer.
    pub fn open(dir: &Path) -> Result<Captioner, CaptionError> {
        let bundle = Bundle::open(dir)?;
        Self::from_bundle(bundle)
    }

    /// Loads the graphs and tokenizer of an already checked bundle.
    pub fn from_bundle(bundle: Bundle) -> Result<Captioner, CaptionError> {
        let m = bundle.manifest();
        let engine = Engine::load(&bundle)?;
        let text = TextDecoder::open(
            &bundle.path(TOKENIZER_FILE),
            m.model.decoder.vocab_size,
            &m.tokens,
        )?;
        let frontend = LogMel::new(&m.model.frontend);
        Ok(Captioner {
            decoding: m.decoding.clone(),
            bundle,
            engine,
            text,
            frontend,
        })
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn frontend_mut(&mut self) -> &mut LogMel {
        &mut self.frontend
    }

    /// Captions one window of samples at the model's rate (cut or padded to the window).
    pub fn caption_samples(&mut self, samples: &[f32]) -> Result<WindowCaption, CaptionError> {
        let t0 = Instant::now();
        let mel = self.frontend.window(samples);
        let frontend = t0.elapsed().as_secs_f64() * 1e3;
        let mut caption = self.caption_mel(&mel)?;
        caption.timings.frontend = frontend;
        caption.timings.total += frontend;
        Ok(caption)
    }

    /// Captions one window of log-mel frames, `[clip_frames][n_mels]` row-major (the frontend
    /// time is left at zero).
    pub fn caption_mel(&mut self, mel: &[f32]) -> Result<WindowCaption, CaptionError> {
        let t1 = Instant::now();
        let memory = self.engine.encode(mel)?;
        let t2 = Instant::now();
        let model = WindowDecoder {
            engine: &self.engine,
            memory: &memory,
        };
        let hyp = decode(&model, &self.decoding, &self.bundle.manifest().tokens)?;
        let text = self.text.decode(&hyp.tokens)?;
        let t3 = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        let timings = Timings {
            frontend: 0.0,
            encoder: ms(t1, t2),
            decoder: ms(t2, t3),
            total: ms(t1, t3),
        };
        Ok(WindowCaption {
            text,
            score: hyp.mean_logprob(),
            timings,
        })
    }

    /// Captions a file window by window, handing each caption to `sink` as soon as it is ready.
    pub fn caption_file(
        &mut self,
        path: &Path,
        mut sink: impl FnMut(Caption),
    ) -> Result<usize, CaptionError> {
        let f = self.frontend.config().clone();
        let rate = f.sample_rate as f64;
        let window = f.window_samples();
        let advance = f.clip_frames * f.hop_length;
        let mut file = AudioFile::open(path, f.sample_rate)?;
        let mut buffer: Vec<f32> = Vec::with_capacity(window + 8192);
        let mut offset = 0usize;
        let mut count = 0usize;
        let mut more = true;
        while more {
            more = file.read_into(&mut buffer)?;
            while buffer.len() >= window || (!more && !buffer.is_empty()) {
                let tail = buffer.len() < window;
                let available = buffer.len().min(window);
                if tail && count > 0 && (available as f64) < MIN_TAIL_SECONDS * rate {
                    buffer.clear();
                    break;
                }
                let window = self.caption_samples(&buffer[..available])?;
                sink(Caption {
                    file: path.into(),
                    start: offset as f64 / rate,
                    end: (offset + available) as f64 / rate,
                    caption: window.text,
                    score: window.score,
                    timings: window.timings,
                });
                count += 1;
                let drop = advance.min(buffer.len());
                buffer.drain(..drop);
                offset += drop;
                if tail {
                    buffer.clear();
                }
            }
        }
        Ok(count)
    }
}
