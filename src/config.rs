//! The model family: one configuration type shared by the tools (which build, train and export a
//! model) and the runtime (which checks a bundle against it and feeds it).

use serde::{Deserialize, Serialize};

/// Log-mel frontend parameters. The tools compute training features with the same code, so these
/// numbers are the whole contract between training and inference features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendConfig {
    /// Sample rate the model expects, in Hz. Audio at any other rate is resampled.
    pub sample_rate: u32,
    /// Analysis window length in samples (periodic Hann).
    pub win_length: usize,
    /// Hop between frames in samples.
    pub hop_length: usize,
    /// FFT size; the window is zero-padded to it.
    pub n_fft: usize,
    /// Number of mel bands (HTK mel scale, unnormalised triangles).
    pub n_mels: usize,
    /// Lowest band edge in Hz.
    pub fmin: f32,
    /// Highest band edge in Hz.
    pub fmax: f32,
    /// Mel power below this is clamped before the natural log.
    pub log_floor: f32,
    /// Features are `(ln(mel) - norm_mean) / norm_std`.
    pub norm_mean: f32,
    /// See `norm_mean`.
    pub norm_std: f32,
    /// Frames per model window: shorter clips are repeated to fill it, longer ones cut into
    /// windows.
    pub clip_frames: usize,
}

impl FrontendConfig {
    /// The feature value of a silent (all-zero) frame.
    pub fn silence_value(&self) -> f32 {
        (self.log_floor.ln() - self.norm_mean) / self.norm_std
    }

    /// Number of FFT bins kept (`n_fft / 2 + 1`).
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Samples covered by one model window of `clip_frames` frames.
    pub fn window_samples(&self) -> usize {
        (self.clip_frames - 1) * self.hop_length + self.win_length
    }

    /// Frames that `n` samples produce (frames never read past the end).
    pub fn frames_for(&self, n: usize) -> usize {
        if n < self.win_length {
            0
        } else {
            (n - self.win_length) / self.hop_length + 1
        }
    }
}

/// Audio encoder: log-mel patches -> transformer blocks -> projector into the captioner's token
/// space, optionally followed by learned prefix vectors. With `conv`, a convolutional backbone
/// takes the transformer's place in front of the same projector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderConfig {
    /// Width of the encoder's own tokens.
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    /// Hidden width of each MLP is `dim * mlp_ratio`.
    pub mlp_ratio: usize,
    /// Patch size along time, in frames.
    pub patch_time: usize,
    /// Patch size along frequency, in mel bands.
    pub patch_freq: usize,
    /// Learned prefix vectors appended to the audio tokens (DALI stage 1a); 0 for none.
    pub n_prefix: usize,
    /// A convolutional backbone instead of the transformer blocks: the CNN that an AudioSet
    /// teacher was distilled into (`earsight-tools train teach`), so that the captions start
    /// from what it learnt to hear. `dim` is then the width of its tokens and `patch_time` x
    /// `patch_freq` the window area each token covers (see [`ConvBackboneConfig`]); `depth`,
    /// `heads` and `mlp_ratio` are unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<ConvBackboneConfig>,
}

/// A convolutional audio backbone: the stem and each block a 3x3 convolution (its batch norm
/// folded into its kernel and bias), ReLU and 2x2 max-pooling, the stem with stride 2; then the
/// mean over frequency. Each token is `channels`' last width and covers `4 << channels.len()`
/// frames over all mel bands, so the config's `dim`, `patch_time` and `patch_freq` must say so.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvBackboneConfig {
    /// Output channels of the stem.
    pub stem: usize,
    /// Output channels of each block after the stem.
    pub channels: Vec<usize>,
}

impl ConvBackboneConfig {
    /// Frames (and mel bands) one token's time step (frequency step) spans after the stem and
    /// blocks have halved them.
    pub fn shrink(&self) -> usize {
        4 << self.channels.len()
    }

    /// Width of its tokens: the last block's channels.
    pub fn width(&self) -> usize {
        *self.channels.last().unwrap_or(&self.stem)
    }

    /// Each convolution's `(input, output)` channels, the stem's first.
    pub fn convolutions(&self) -> Vec<(usize, usize)> {
        let mut input = 1;
        std::iter::once(self.stem)
            .chain(self.channels.iter().copied())
            .map(|output| {
                let pair = (input, output);
                input = output;
                pair
            })
            .collect()
    }
}

/// BLIP-style text decoder: causal self-attention, cross-attention to the audio tokens, MLP;
/// the output projection is tied to the token embeddings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderConfig {
    /// Width of the captioner's token space (D).
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_ratio: usize,
    pub vocab_size: usize,
    /// Longest token sequence (prompt included) the position table covers.
    pub max_positions: usize,
    /// Where the layer norms sit; absent in a file means earsight's own pre-norm decoder.
    #[serde(default, skip_serializing_if = "is_default")]
    pub style: DecoderStyle,
    /// Epsilon of the decoder's layer norms (BERT's is 1e-12); absent means [`LAYER_NORM_EPS`].
    #[serde(
        default = "default_norm_eps",
        skip_serializing_if = "is_default_norm_eps"
    )]
    pub norm_eps: f32,
}

/// The two decoder layouts of the family. Both take the same inputs and give the same outputs,
/// so the runtime runs either without knowing which it has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecoderStyle {
    /// earsight's own: each sub-layer normalises its input, one norm before the tied output.
    #[default]
    PreNorm,
    /// BERT's, as in BLIP's text decoder: each sub-layer's residual sum is normalised, the
    /// embeddings are normalised, and the tied output follows a dense + GELU + norm transform
    /// and adds a bias per token.
    PostNorm,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn default_norm_eps() -> f32 {
    LAYER_NORM_EPS
}

fn is_default_norm_eps(eps: &f32) -> bool {
    *eps == LAYER_NORM_EPS
}

/// The whole model family member: frontend, encoder and decoder shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub frontend: FrontendConfig,
    pub encoder: EncoderConfig,
    pub decoder: DecoderConfig,
}

/// Layer-norm epsilon used everywhere in the family.
pub const LAYER_NORM_EPS: f32 = 1e-5;

/// Bounds on [`ConvBackboneConfig`], so that a damaged manifest cannot ask for gigabytes.
const MAX_CONV_BLOCKS: usize = 8;
const MAX_CONV_CHANNELS: usize = 2048;

impl ModelConfig {
    /// Audio tokens per window (patch grid size).
    pub fn n_audio_tokens(&self) -> usize {
        (self.frontend.clip_frames / self.encoder.patch_time)
            * (self.frontend.n_mels / self.encoder.patch_freq)
    }

    /// Tokens the decoder attends to: audio tokens plus prefix vectors.
    pub fn n_memory_tokens(&self) -> usize {
        self.n_audio_tokens() + self.encoder.n_prefix
    }

    /// Width of one decoder attention head.
    pub fn decoder_head_dim(&self) -> usize {
        self.decoder.dim / self.decoder.heads
    }

    /// Parameters of the audio encoder and projector (and prefix), and of the text decoder
    /// (cross-attention keys/values included, although they run in the encoder graph).
    pub fn parameter_counts(&self) -> (usize, usize) {
        let (e, d) = (&self.encoder, &self.decoder);
        let linear = |i: usize, o: usize| i * o + o;
        let block = |w: usize, ratio: usize| {
            4 * w + 4 * linear(w, w) + linear(w, w * ratio) + linear(w * ratio, w)
        };
        let backbone = match &e.conv {
            None => {
                linear(e.patch_time * e.patch_freq, e.dim)
                    + self.n_audio_tokens() * e.dim
                    + e.depth * block(e.dim, e.mlp_ratio)
                    + 2 * e.dim
            }
            Some(conv) => conv
                .convolutions()
                .iter()
                .map(|&(i, o)| 9 * i * o + o)
                .sum(),
        };
        let encoder = backbone + linear(e.dim, d.dim) + linear(d.dim, d.dim) + e.n_prefix * d.dim;
        let post_norm = match d.style {
            DecoderStyle::PreNorm => 0,
            // The embedding norm, the output transform and the output bias.
            DecoderStyle::PostNorm => 2 * d.dim + linear(d.dim, d.dim) + d.vocab_size,
        };
        let decoder = (d.vocab_size + d.max_positions) * d.dim
            + d.depth * (block(d.dim, d.mlp_ratio) + 2 * d.dim + 4 * linear(d.dim, d.dim))
            + 2 * d.dim
            + post_norm;
        (encoder, decoder)
    }

    /// This config with `conv` as its audio backbone, and the encoder's token grid and width
    /// made its own (see [`ConvBackboneConfig`]).
    pub fn with_conv_backbone(mut self, conv: ConvBackboneConfig) -> ModelConfig {
        let e = &mut self.encoder;
        e.dim = conv.width();
        e.patch_time = conv.shrink();
        e.patch_freq = self.frontend.n_mels;
        e.conv = Some(conv);
        self
    }

    /// Checks the shape constraints every component relies on, naming the offending field.
    pub fn validate(&self) -> Result<(), String> {
        let f = &self.frontend;
        let e = &self.encoder;
        let d = &self.decoder;
        // Upper bounds keep a damaged or hostile manifest from asking for gigabytes: each is far
        // above any model this family trains, BLIP-sized captioners included.
        let bounded = [
            (
                "frontend.sample_rate",
                f.sample_rate as usize,
                1_000,
                192_000,
            ),
            ("frontend.win_length", f.win_length, 1, 1 << 16),
            ("frontend.n_fft", f.n_fft, 1, 1 << 16),
            ("frontend.n_mels", f.n_mels, 1, 1 << 10),
            ("frontend.clip_frames", f.clip_frames, 1, 1 << 16),
            ("encoder.dim", e.dim, 1, 1 << 13),
            ("encoder.depth", e.depth, 1, 128),
            ("encoder.heads", e.heads, 1, 256),
            ("encoder.mlp_ratio", e.mlp_ratio, 1, 32),
            ("encoder.patch_time", e.patch_time, 1, 1 << 16),
            ("encoder.patch_freq", e.patch_freq, 1, 1 << 10),
            ("encoder.n_prefix", e.n_prefix, 0, 1 << 12),
            ("decoder.dim", d.dim, 1, 1 << 13),
            ("decoder.depth", d.depth, 1, 128),
            ("decoder.heads", d.heads, 1, 256),
            ("decoder.mlp_ratio", d.mlp_ratio, 1, 32),
            ("decoder.vocab_size", d.vocab_size, 1, 1 << 20),
            ("decoder.max_positions", d.max_positions, 2, 1 << 13),
            ("frontend.hop_length", f.hop_length, 1, f.win_length),
        ];
        for (name, value, min, max) in bounded {
            if !(min..=max).contains(&value) {
                return Err(format!("{name} ({value}) must be from {min} to {max}"));
            }
        }
        let window_values = f.clip_frames * f.n_mels;
        if window_values > 1 << 22 {
            return Err(format!(
                "frontend.clip_frames x frontend.n_mels ({window_values}) must be at most {} \
                 values per window",
                1 << 22
            ));
        }
        if f.n_mels > f.n_bins() {
            return Err(format!(
                "frontend.n_mels ({}) must be at most the FFT's {} bins (frontend.n_fft / 2 + 1)",
                f.n_mels,
                f.n_bins()
            ));
        }
        if f.n_fft < f.win_length {
            return Err(format!(
                "frontend.n_fft ({}) must be at least frontend.win_length ({})",
                f.n_fft, f.win_length
            ));
        }
        let nyquist = f.sample_rate as f32 / 2.0;
        if !(f.fmin >= 0.0 && f.fmin < f.fmax && f.fmax <= nyquist) {
            return Err(format!(
                "frontend.fmin/fmax ({}, {}) must satisfy 0 <= fmin < fmax <= {nyquist}",
                f.fmin, f.fmax
            ));
        }
        // Written so that NaN fails too.
        if !(d.norm_eps > 0.0 && d.norm_eps < 1.0) {
            return Err(format!(
                "decoder.norm_eps ({}) must be above 0 and below 1",
                d.norm_eps
            ));
        }
        let finite = [f.log_floor, f.norm_std, f.norm_mean]
            .iter()
            .all(|x| x.is_finite());
        if !(finite && f.log_floor > 0.0 && f.norm_std > 0.0) {
            return Err(
                "frontend.log_floor and frontend.norm_std must be positive and finite, and \
                 frontend.norm_mean finite"
                    .into(),
            );
        }
        let divides = [
            (
                "frontend.clip_frames",
                f.clip_frames,
                "encoder.patch_time",
                e.patch_time,
            ),
            (
                "frontend.n_mels",
                f.n_mels,
                "encoder.patch_freq",
                e.patch_freq,
            ),
            ("encoder.dim", e.dim, "encoder.heads", e.heads),
            ("decoder.dim", d.dim, "decoder.heads", d.heads),
        ];
        for (a, av, b, bv) in divides {
            if av % bv != 0 {
                return Err(format!("{a} ({av}) must be a multiple of {b} ({bv})"));
            }
        }
        e.conv
            .as_ref()
            .map_or(Ok(()), |conv| self.validate_conv(conv))
    }

    fn validate_conv(&self, conv: &ConvBackboneConfig) -> Result<(), String> {
        let (f, e) = (&self.frontend, &self.encoder);
        if !(1..=MAX_CONV_BLOCKS).contains(&conv.channels.len()) {
            return Err(format!(
                "encoder.conv.channels must list 1 to {MAX_CONV_BLOCKS} blocks, found {}",
                conv.channels.len()
            ));
        }
        for (i, &c) in std::iter::once(&conv.stem)
            .chain(&conv.channels)
            .enumerate()
        {
            if !(1..=MAX_CONV_CHANNELS).contains(&c) {
                let name = match i {
                    0 => "encoder.conv.stem".to_string(),
                    i => format!("encoder.conv.channels[{}]", i - 1),
                };
                return Err(format!(
                    "{name} ({c}) must be from 1 to {MAX_CONV_CHANNELS} channels"
                ));
            }
        }
        let shrink = conv.shrink();
        let grid = [
            (
                "encoder.dim",
                e.dim,
                conv.width(),
                "the last block's channels",
            ),
            (
                "encoder.patch_time",
                e.patch_time,
                shrink,
                "the frames the stem and blocks shrink a token to",
            ),
            (
                "encoder.patch_freq",
                e.patch_freq,
                f.n_mels,
                "frontend.n_mels: a token spans every band",
            ),
        ];
        for (name, found, wanted, why) in grid {
            if found != wanted {
                return Err(format!(
                    "{name} ({found}) must be {wanted} with encoder.conv ({why})"
                ));
            }
        }
        if f.n_mels % shrink != 0 {
            return Err(format!(
                "frontend.n_mels ({}) must be a multiple of {shrink}, what encoder.conv's stem \
                 and {} blocks halve it by",
                f.n_mels,
                conv.channels.len()
            ));
        }
        Ok(())
    }

    /// The `mini` size (`tools/configs/mini.json`): small enough to train on two CPU cores and
    /// ship in the repo.
    pub fn mini(vocab_size: usize) -> ModelConfig {
        ModelConfig {
            frontend: FrontendConfig {
                sample_rate: 16_000,
                win_length: 400,
                hop_length: 160,
                n_fft: 512,
                n_mels: 64,
                fmin: 0.0,
                fmax: 8_000.0,
                log_floor: 1e-10,
                norm_mean: -6.0,
                norm_std: 4.0,
                clip_frames: 1024,
            },
            encoder: EncoderConfig {
                dim: 192,
                depth: 2,
                heads: 4,
                mlp_ratio: 4,
                patch_time: 16,
                patch_freq: 16,
                n_prefix: 0,
                conv: None,
            },
            decoder: DecoderConfig {
                dim: 256,
                depth: 2,
                heads: 4,
                mlp_ratio: 4,
                vocab_size,
                max_positions: 64,
                style: DecoderStyle::PreNorm,
                norm_eps: LAYER_NORM_EPS,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mini_is_valid_and_has_the_expected_token_grid() {
        let c = ModelConfig::mini(4000);
        c.validate().unwrap();
        assert_eq!(c.n_audio_tokens(), 64 * 4);
        assert_eq!(c.frontend.window_samples(), 1023 * 160 + 400);
        assert_eq!(c.frontend.frames_for(c.frontend.window_samples()), 1024);
    }

    #[test]
    fn a_config_without_a_decoder_style_is_pre_norm_and_is_written_back_the_same() {
        let c = ModelConfig::mini(4000);
        let text = serde_json::to_string(&c).unwrap();
        assert!(
            !text.contains("style") && !text.contains("norm_eps"),
            "{text}"
        );
        let mut post = c.clone();
        post.decoder.style = DecoderStyle::PostNorm;
        post.decoder.norm_eps = 1e-12;
        let text = serde_json::to_string(&post).unwrap();
        assert!(text.contains(r#""style":"post-norm""#), "{text}");
        assert_eq!(serde_json::from_str::<ModelConfig>(&text).unwrap(), post);
    }

    #[test]
    fn sizes_that_would_take_gigabytes_are_refused_by_name() {
        type Damage = fn(&mut ModelConfig);
        let cases: [(&str, Damage); 6] = [
            ("frontend.n_fft (1073741824)", |c| {
                c.frontend.n_fft = 1 << 30
            }),
            ("frontend.win_length (1000000000)", |c| {
                c.frontend.win_length = 1_000_000_000
            }),
            ("frontend.sample_rate (4000000000)", |c| {
                c.frontend.sample_rate = 4_000_000_000
            }),
            (
                "frontend.hop_length (1000000000) must be from 1 to 400",
                |c| c.frontend.hop_length = 1_000_000_000,
            ),
            ("decoder.vocab_size", |c| c.decoder.vocab_size = usize::MAX),
            (
                "frontend.n_mels (300) must be at most the FFT's 257 bins",
                |c| c.frontend.n_mels = 300,
            ),
        ];
        for (expected, damage) in cases {
            let mut c = ModelConfig::mini(4000);
            damage(&mut c);
            let err = c.validate().unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    /// The mini config with the convolutional backbone of the shipped tagger's shape.
    fn conv_mini() -> ModelConfig {
        let c = ModelConfig::mini(4000).with_conv_backbone(ConvBackboneConfig {
            stem: 24,
            channels: vec![64, 128, 256],
        });
        assert_eq!(
            (c.encoder.dim, c.encoder.patch_time, c.encoder.patch_freq),
            (256, 32, 64)
        );
        c
    }

    #[test]
    fn a_conv_backbone_gives_one_token_per_32_frames_and_counts_its_kernels() {
        let c = conv_mini();
        c.validate().unwrap();
        assert_eq!(c.n_audio_tokens(), 1024 / 32);
        let kernels = 9 * (24 + 24 * 64 + 64 * 128 + 128 * 256) + (24 + 64 + 128 + 256);
        let (vit_encoder, decoder) = ModelConfig::mini(4000).parameter_counts();
        let (encoder, same_decoder) = c.parameter_counts();
        assert_eq!(same_decoder, decoder);
        let projector = 256 * 256 + 256 + 256 * 256 + 256;
        assert_eq!(encoder, kernels + projector);
        assert!(vit_encoder > encoder);
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<ModelConfig>(&text).unwrap(), c);
        let plain = serde_json::to_string(&ModelConfig::mini(4000)).unwrap();
        assert!(!plain.contains("conv"), "{plain}");
    }

    #[test]
    fn a_conv_backbone_whose_grid_disagrees_is_refused_by_name() {
        type Damage = fn(&mut ModelConfig);
        let cases: [(&str, Damage); 5] = [
            ("encoder.dim (192) must be 256", |c| c.encoder.dim = 192),
            ("encoder.patch_time (16) must be 32", |c| {
                c.encoder.patch_time = 16
            }),
            ("encoder.patch_freq (16) must be 64", |c| {
                c.encoder.patch_freq = 16
            }),
            ("encoder.conv.channels[1] (0) must be from 1", |c| {
                c.encoder.conv.as_mut().unwrap().channels[1] = 0
            }),
            ("encoder.conv.channels must list 1 to 8 blocks", |c| {
                c.encoder.conv.as_mut().unwrap().channels = vec![]
            }),
        ];
        for (expected, damage) in cases {
            let mut c = conv_mini();
            damage(&mut c);
            let err = c.validate().unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn validate_names_the_bad_field() {
        let mut c = ModelConfig::mini(4000);
        c.decoder.heads = 3;
        let err = c.validate().unwrap_err();
        assert!(
            err.contains("decoder.dim") && err.contains("decoder.heads"),
            "{err}"
        );
    }
}
