//! The log-mel frontend: the one implementation of the features, used by the runtime for
//! inference and by the tools for training.
//!
//! Frame `k` reads samples `[k * hop, k * hop + win)`, multiplies them by a periodic Hann
//! window, zero-pads to `n_fft`, and takes the power spectrum. Bands are HTK-mel triangles
//! without area normalisation (librosa's `mel(htk=True, norm=None)`), the log is natural and
//! clamped at `log_floor`, then `(x - mean) / std` is applied.
//!
//! The spectrum is computed in f64: in f32, bands 100 dB below a loud frame's peak are lost in
//! rounding, and their logs would be noise (the librosa oracle test measures this).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::config::FrontendConfig;

/// Computes normalised log-mel frames. Owns its FFT plan and scratch buffers so that computing a
/// frame never allocates.
pub struct LogMel {
    config: FrontendConfig,
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    /// Row-major `[n_mels][n_bins]`, stored sparsely as (first bin, weights) per band.
    bands: Vec<(usize, Vec<f64>)>,
    input: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
}

impl LogMel {
    /// Plans the FFT and builds the window and filterbank.
    pub fn new(config: &FrontendConfig) -> LogMel {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(config.n_fft);
        let window = (0..config.win_length)
            .map(|n| {
                let phase = 2.0 * std::f64::consts::PI * n as f64 / config.win_length as f64;
                0.5 - 0.5 * phase.cos()
            })
            .collect();
        LogMel {
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            power: vec![0.0; config.n_bins()],
            bands: mel_bands(config),
            window,
            fft,
            config: config.clone(),
        }
    }

    /// The parameters this frontend was built with.
    pub fn config(&self) -> &FrontendConfig {
        &self.config
    }

    /// Computes one frame from exactly `win_length` samples into `out` (`n_mels` values).
    pub fn frame(&mut self, samples: &[f32], out: &mut [f32]) {
        assert_eq!(
            samples.len(),
            self.config.win_length,
            "frame needs win_length samples"
        );
        assert_eq!(out.len(), self.config.n_mels, "frame writes n_mels values");
        // realfft clobbers its input, so the padded frame is rebuilt every time.
        self.input.fill(0.0);
        for ((dst, &x), &w) in self.input.iter_mut().zip(samples).zip(&self.window) {
            *dst = x as f64 * w;
        }
        self.fft
            .process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch)
            .expect("buffers come from the plan, so their lengths match");
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }
        let c = &self.config;
        for (o, (start, weights)) in out.iter_mut().zip(&self.bands) {
            let energy: f64 = weights
                .iter()
                .zip(&self.power[*start..])
                .map(|(w, p)| w * p)
                .sum();
            *o = ((energy.max(c.log_floor as f64).ln() as f32) - c.norm_mean) / c.norm_std;
        }
    }

    /// Computes every whole frame of `samples`, row-major `[frames][n_mels]`.
    pub fn frames(&mut self, samples: &[f32]) -> Vec<f32> {
        let n_frames = self.config.frames_for(samples.len());
        let (hop, win, n_mels) = (
            self.config.hop_length,
            self.config.win_length,
            self.config.n_mels,
        );
        let mut out = vec![0.0; n_frames * n_mels];
        for (k, row) in out.chunks_exact_mut(n_mels).enumerate() {
            self.frame(&samples[k * hop..k * hop + win], row);
        }
        out
    }

    /// The feature value of a silent (all-zero) frame.
    pub fn silence_value(&self) -> f32 {
        self.config.silence_value()
    }

    /// One model window: the frames of `samples`, cut to `clip_frames` or, when shorter,
    /// repeated to fill it (see [`fill_window`]).
    pub fn window(&mut self, samples: &[f32]) -> Vec<f32> {
        let end = samples.len().min(self.config.window_samples());
        let mut mel = self.frames(&samples[..end]);
        fill_window(&mut mel, &self.config);
        mel
    }
}

/// Brings `mel` (whole frames of `n_mels` values) to exactly `clip_frames` frames: cut when
/// longer, and when shorter its frames are repeated from the first until the window is full.
/// A model learns from full windows of sound; a short clip padded with digital silence puts
/// the encoder far from anything it was trained on, while a loop of the clip does not (CLAP's
/// "repeatpad" does the same). No frames at all give a silent window.
pub fn fill_window(mel: &mut Vec<f32>, config: &FrontendConfig) {
    let wanted = config.clip_frames * config.n_mels;
    mel.truncate(wanted);
    let present = mel.len();
    if present == 0 {
        mel.resize(wanted, config.silence_value());
        return;
    }
    while mel.len() < wanted {
        mel.extend_from_within(..present.min(wanted - mel.len()));
    }
}

/// The level of a frame of raw samples in dB relative to full scale (RMS); digital silence is
/// `-inf`.
pub fn level_dbfs(samples: &[f32]) -> f32 {
    let power = samples
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        / samples.len().max(1) as f64;
    (10.0 * power.log10()) as f32
}

/// Log-mel frames computed as samples arrive: each frame exactly once, as soon as its last
/// sample is in, with the same values [`LogMel::frames`] gives for the whole signal. Only the
/// samples of the frame under way are kept.
pub struct StreamingLogMel {
    logmel: LogMel,
    /// Samples from absolute index `pending_start` on.
    pending: Vec<f32>,
    pending_start: u64,
    next_frame: u64,
    row: Vec<f32>,
}

impl StreamingLogMel {
    pub fn new(config: &FrontendConfig) -> StreamingLogMel {
        StreamingLogMel {
            logmel: LogMel::new(config),
            pending: Vec::with_capacity(config.win_length * 4),
            pending_start: 0,
            next_frame: 0,
            row: vec![0.0; config.n_mels],
        }
    }

    pub fn config(&self) -> &FrontendConfig {
        self.logmel.config()
    }

    /// Samples pushed so far.
    pub fn samples_seen(&self) -> u64 {
        self.pending_start + self.pending.len() as u64
    }

    /// Frames computed so far.
    pub fn frames_done(&self) -> u64 {
        self.next_frame
    }

    /// Feeds samples; `on_frame(index, mel, level_dbfs)` is called for every frame they
    /// complete, in order.
    pub fn push(&mut self, samples: &[f32], mut on_frame: impl FnMut(u64, &[f32], f32)) {
        let (hop, win) = (self.config().hop_length as u64, self.config().win_length);
        self.pending.extend_from_slice(samples);
        loop {
            let start = (self.next_frame * hop - self.pending_start) as usize;
            if start + win > self.pending.len() {
                break;
            }
            let frame = &self.pending[start..start + win];
            self.logmel.frame(frame, &mut self.row);
            on_frame(self.next_frame, &self.row, level_dbfs(frame));
            self.next_frame += 1;
        }
        let keep_from = ((self.next_frame * hop).saturating_sub(self.pending_start) as usize)
            .min(self.pending.len());
        self.pending.drain(..keep_from);
        self.pending_start += keep_from as u64;
    }
}

fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

/// Triangular HTK-mel filters over the FFT bins, computed in f64 as librosa does.
fn mel_bands(c: &FrontendConfig) -> Vec<(usize, Vec<f64>)> {
    let n_bins = c.n_bins();
    let bin_hz: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * c.sample_rate as f64 / c.n_fft as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(c.fmin as f64), hz_to_mel(c.fmax as f64));
    let edges: Vec<f64> = (0..c.n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (c.n_mels + 1) as f64))
        .collect();
    triangles(&bin_hz, &edges)
}

/// Triangular filters sampled at `points`, one for each (left, centre, right) triple of
/// consecutive `edges` (on the same axis as the points), each as its first non-zero point and
/// its weights from there to its last: the shape of every mel filterbank, whatever its scale.
pub fn triangles(points: &[f64], edges: &[f64]) -> Vec<(usize, Vec<f64>)> {
    edges
        .windows(3)
        .map(|w| {
            let (left, centre, right) = (w[0], w[1], w[2]);
            let dense: Vec<f64> = points
                .iter()
                .map(|&p| {
                    let rising = (p - left) / (centre - left);
                    let falling = (right - p) / (right - centre);
                    rising.min(falling).max(0.0)
                })
                .collect();
            let first = dense.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last = dense.iter().rposition(|&w| w > 0.0).unwrap_or(first);
            (first, dense[first..=last].to_vec())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    #[test]
    fn streaming_frames_equal_offline_frames_bitwise() {
        let c = ModelConfig::mini(100).frontend;
        let mut state = 0x0123_4567_89ab_cdefu64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let samples: Vec<f32> = (0..c.sample_rate as usize * 3 + 123)
            .map(|i| 0.2 * (i as f32 * 0.031).sin() + (rand() >> 40) as f32 / 2e8 - 0.04)
            .collect();
        let offline = LogMel::new(&c).frames(&samples);
        let mut streaming = StreamingLogMel::new(&c);
        let (mut got, mut levels, mut indices) = (Vec::new(), Vec::new(), Vec::new());
        let mut rest = &samples[..];
        while !rest.is_empty() {
            let n = ((rand() % 700) as usize).min(rest.len());
            streaming.push(&rest[..n], |k, row, db| {
                indices.push(k);
                got.extend_from_slice(row);
                levels.push(db);
            });
            rest = &rest[n..];
        }
        assert_eq!(got, offline, "streamed frames differ from offline frames");
        assert_eq!(
            streaming.frames_done() as usize,
            c.frames_for(samples.len())
        );
        assert_eq!(streaming.samples_seen() as usize, samples.len());
        assert!(indices.iter().enumerate().all(|(i, &k)| i as u64 == k));
        let first = &samples[..c.win_length];
        assert_eq!(levels[0], level_dbfs(first));
        assert_eq!(level_dbfs(&[0.0; 400]), f32::NEG_INFINITY);
        assert!((level_dbfs(&[0.5; 400]) + 6.0206).abs() < 1e-3);
    }

    #[test]
    fn silence_maps_to_the_floor_and_a_tone_peaks_in_its_band() {
        let c = ModelConfig::mini(100).frontend;
        let mut mel = LogMel::new(&c);
        let zeros = vec![0.0; c.win_length];
        let mut out = vec![0.0; c.n_mels];
        mel.frame(&zeros, &mut out);
        assert!(out.iter().all(|&v| v == mel.silence_value()));

        let tone: Vec<f32> = (0..c.win_length)
            .map(|n| (2.0 * std::f32::consts::PI * 1000.0 * n as f32 / 16000.0).sin())
            .collect();
        mel.frame(&tone, &mut out);
        let peak = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        let centre = |m: usize| {
            let (lo, hi) = (hz_to_mel(c.fmin as f64), hz_to_mel(c.fmax as f64));
            mel_to_hz(lo + (hi - lo) * (m + 1) as f64 / (c.n_mels + 1) as f64)
        };
        assert!((centre(peak) - 1000.0).abs() < 100.0, "peak band {peak}");
    }

    #[test]
    fn a_short_clip_is_repeated_to_fill_the_window() {
        let c = ModelConfig::mini(100).frontend;
        let mut mel = LogMel::new(&c);
        let chirp: Vec<f32> = (0..3000)
            .map(|n| (0.001 * n as f32 * n as f32).sin() * 0.5)
            .collect();
        let frames = mel.frames(&chirp);
        let w = mel.window(&chirp);
        assert_eq!(w.len(), c.clip_frames * c.n_mels);
        for (k, row) in w.chunks_exact(c.n_mels).enumerate() {
            let source = k % (frames.len() / c.n_mels);
            assert_eq!(
                row,
                &frames[source * c.n_mels..(source + 1) * c.n_mels],
                "frame {k}"
            );
        }
        assert!(w.iter().all(|&v| v != mel.silence_value()));
    }

    #[test]
    fn a_long_clip_is_cut_and_no_audio_is_silence() {
        let c = ModelConfig::mini(100).frontend;
        let mut mel = LogMel::new(&c);
        let long = vec![0.1; c.window_samples() + 5000];
        assert_eq!(mel.window(&long), mel.frames(&long[..c.window_samples()]));
        let empty = mel.window(&[]);
        assert_eq!(empty.len(), c.clip_frames * c.n_mels);
        assert!(empty.iter().all(|&v| v == mel.silence_value()));
    }
}
