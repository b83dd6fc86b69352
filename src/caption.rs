//! Captions from audio: [`Captioner`] holds a loaded bundle and captions and tags a window of
//! samples or of log-mel frames. Files and live sources go through the streaming pipeline
//! ([`crate::stream`]), which runs it window by window.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::bundle::{Bundle, BundleError, DecodingConfig, TOKENIZER_FILE};
use crate::engine::{
    decode, fired, Backend, Engine, EngineError, Guided, GuidedTag, Tag, TagWords, Tagger,
    WindowDecoder,
};
use crate::frontend::LogMel;
use crate::text::{TextDecoder, TextError};

/// Anything that can stop a bundle from loading or a window from being captioned.
#[derive(Debug, thiserror::Error)]
pub enum CaptionError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(
        "tag {tag:?}: the bundle's tokenizer cannot spell its word {word:?} (no token for some \
         of it), so tag guidance cannot steer it"
    )]
    TagWord { tag: String, word: String },
}

/// Milliseconds spent in each stage for one window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    pub frontend: f64,
    pub encoder: f64,
    pub decoder: f64,
    /// Zero for a bundle without a tagger.
    pub tagger: f64,
    pub total: f64,
}

/// The caption of one window of samples.
#[derive(Clone, Debug)]
pub struct WindowCaption {
    pub text: String,
    /// Mean log-probability per generated token.
    pub score: f32,
    /// The tags that reach their thresholds, best first.
    pub tags: Vec<Tag>,
    pub timings: Timings,
}

/// A loaded bundle ready to caption audio.
pub struct Captioner {
    bundle: Bundle,
    engine: Engine,
    tagger: Option<Tagger>,
    tag_words: TagWords,
    text: TextDecoder,
    frontend: LogMel,
    /// Decoding settings; start as the bundle's defaults.
    pub decoding: DecodingConfig,
}

impl Captioner {
    /// Opens and checks a bundle, loads its graphs (for the CPU) and tokenizer.
    pub fn open(dir: &Path) -> Result<Captioner, CaptionError> {
        Self::open_on(dir, Backend::Cpu)
    }

    /// Opens and checks a bundle, loads its graphs to run on `backend`, and its tokenizer.
    pub fn open_on(dir: &Path, backend: Backend) -> Result<Captioner, CaptionError> {
        let bundle = Bundle::open(dir)?;
        Self::from_bundle(bundle, backend)
    }

    /// Loads the graphs, to run on `backend`, and the tokenizer of an already checked bundle.
    pub fn from_bundle(bundle: Bundle, backend: Backend) -> Result<Captioner, CaptionError> {
        let m = bundle.manifest();
        let engine = Engine::load_on(&bundle, backend)?;
        let tagger = Tagger::load_on(&bundle, backend)?;
        let text = TextDecoder::open(
            &bundle.path(TOKENIZER_FILE),
            m.model.decoder.vocab_size,
            &m.tokens,
        )?;
        let tag_words = match &tagger {
            Some(t) => tag_word_ids(t, &text)?,
            None => TagWords::default(),
        };
        let frontend = LogMel::new(&m.model.frontend);
        Ok(Captioner {
            decoding: m.decoding.clone(),
            bundle,
            engine,
            tagger,
            tag_words,
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

    /// The bundle's tagger, when it has one.
    pub fn tagger(&self) -> Option<&Tagger> {
        self.tagger.as_ref()
    }

    pub fn frontend_mut(&mut self) -> &mut LogMel {
        &mut self.frontend
    }

    /// Captions one window of samples at the model's rate (cut to the window, or repeated to
    /// fill it).
    pub fn caption_samples(&mut self, samples: &[f32]) -> Result<WindowCaption, CaptionError> {
        let t0 = Instant::now();
        let mel = self.frontend.window(samples);
        let frontend = t0.elapsed().as_secs_f64() * 1e3;
        let mut caption = self.caption_mel(&mel)?;
        caption.timings.frontend = frontend;
        caption.timings.total += frontend;
        Ok(caption)
    }

    /// Captions and tags one window of log-mel frames, `[clip_frames][n_mels]` row-major (the
    /// frontend time is left at zero).
    pub fn caption_mel(&mut self, mel: &[f32]) -> Result<WindowCaption, CaptionError> {
        let t1 = Instant::now();
        let scores = match &self.tagger {
            Some(tagger) => tagger.scores(mel)?,
            None => Vec::new(),
        };
        let t2 = Instant::now();
        let memory = self.engine.encode(mel)?;
        let t3 = Instant::now();
        let model = WindowDecoder {
            engine: &self.engine,
            memory: &memory,
        };
        let special = &self.bundle.manifest().tokens;
        let (weight, veto) = (self.decoding.tag_guidance, self.decoding.tag_veto);
        let hyp = if (weight > 0.0 || veto > 0.0) && !self.tag_words.is_empty() {
            let steers = self.tag_words.steers(&scores, weight, veto);
            let guided = Guided {
                model: &model,
                words: &self.tag_words,
                steers: &steers,
            };
            decode(&guided, &self.decoding, special)?
        } else {
            decode(&model, &self.decoding, special)?
        };
        let text = self.text.decode(&hyp.tokens)?;
        let t4 = Instant::now();
        let tags = match &self.tagger {
            Some(tagger) => fired(tagger.tag_specs(), &scores),
            None => Vec::new(),
        };
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        let timings = Timings {
            frontend: 0.0,
            encoder: ms(t2, t3),
            decoder: ms(t3, t4),
            tagger: ms(t1, t2),
            total: ms(t1, t4),
        };
        Ok(WindowCaption {
            text,
            score: hyp.mean_logprob(),
            tags,
            timings,
        })
    }
}

/// The token ids of each of the tagger's tags' words: whole-word tokens, and the first pieces
/// of the words the tokenizer spells in several.
fn tag_word_ids(tagger: &Tagger, text: &TextDecoder) -> Result<TagWords, CaptionError> {
    let tags = tagger
        .tag_specs()
        .iter()
        .map(|tag| {
            let (mut tokens, mut first_pieces) = (Vec::new(), Vec::new());
            for word in &tag.words {
                if let Some(id) = text.word_id(word) {
                    tokens.push(id);
                } else if let Some(id) = text.first_piece(word) {
                    first_pieces.push(id);
                } else {
                    return Err(CaptionError::TagWord {
                        tag: tag.label.clone(),
                        word: word.clone(),
                    });
                }
            }
            Ok(GuidedTag {
                tokens,
                first_pieces,
                // The manifest check gives every tag with words a typical score.
                typical: tag.typical_score.unwrap_or(1.0),
            })
        })
        .collect::<Result<_, CaptionError>>()?;
    Ok(TagWords::new(tags))
}
