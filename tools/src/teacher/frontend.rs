//! EfficientAT's log-mel frontend (its `AugmentMelSTFT` in eval mode), the input the mn04 teacher
//! was trained on, computed exactly as the numpy copy beside the teacher does
//! (`mel_frontend_numpy.py`): at 32 kHz, pre-emphasis `x[n] - 0.97 x[n-1]`, reflect-padding by
//! half an FFT on both sides (centred frames), a symmetric 800-sample Hann window centred in
//! a 1024-point FFT, hop 320, the power spectrum, 128 Kaldi-style mel triangles from 0 to
//! 15 kHz, `ln(x + 1e-5)`, then `(x + 4.5) / 5`.
//!
//! This is not the runtime's frontend ([`earsight::frontend`], the student's): the teacher's
//! differs in rate, window, padding, mel scale and scaling, and a teacher fed anything but its
//! own features gives targets that are not its own. Like the runtime's, it computes in f64 so
//! that quiet bands keep their value instead of rounding noise.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// The rate the frontend reads audio at.
pub const SAMPLE_RATE: u32 = 32_000;
/// Mel bands per frame.
pub const N_MELS: usize = 128;
/// Samples between frame starts.
pub const HOP: usize = 320;
const N_FFT: usize = 1024;
const WIN: usize = 800;
const PRE_EMPHASIS: f64 = 0.97;
const F_MAX: f64 = 15_000.0;
const LOG_OFFSET: f64 = 1e-5;
const SHIFT: f64 = 4.5;
const SCALE: f64 = 5.0;

/// The frontend's fixed parts: the FFT plan, the window and the mel filterbank. Computing
/// features takes `&self`, so one frontend serves several threads.
pub struct EfficientAtMel {
    fft: Arc<dyn RealToComplex<f64>>,
    /// `N_FFT` values: the Hann window of `WIN` samples with `(N_FFT - WIN) / 2` zeros each side.
    window: Vec<f64>,
    /// Per band, its first FFT bin and the weights from there on (the triangles are sparse).
    bands: Vec<(usize, Vec<f64>)>,
}

impl Default for EfficientAtMel {
    fn default() -> Self {
        Self::new()
    }
}

impl EfficientAtMel {
    /// Plans the FFT and builds the window and filterbank.
    pub fn new() -> EfficientAtMel {
        let offset = (N_FFT - WIN) / 2;
        let mut window = vec![0.0; N_FFT];
        for (n, w) in window[offset..offset + WIN].iter_mut().enumerate() {
            let phase = 2.0 * std::f64::consts::PI * n as f64 / (WIN - 1) as f64;
            *w = 0.5 - 0.5 * phase.cos();
        }
        EfficientAtMel {
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT),
            window,
            bands: kaldi_bands(),
        }
    }

    /// Frames the frontend makes of `samples` samples: one per hop, centred, the first on
    /// sample 0 (pre-emphasis takes one sample). None for fewer than two samples.
    pub fn frames_for(samples: usize) -> Option<usize> {
        (samples >= 2).then(|| 1 + (samples - 1) / HOP)
    }

    /// The features of a clip at [`SAMPLE_RATE`], row-major `[N_MELS][frames]` (the teacher's
    /// `[1, 1, 128, T]` input), with `frames` from [`Self::frames_for`]; empty for fewer than two
    /// samples.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let Some(frames) = Self::frames_for(samples.len()) else {
            return Vec::new();
        };
        let emphasised: Vec<f64> = samples
            .windows(2)
            .map(|p| p[1] as f64 - PRE_EMPHASIS * p[0] as f64)
            .collect();
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0; spectrum.len()];
        let mut out = vec![0.0f32; N_MELS * frames];
        let half = (N_FFT / 2) as isize;
        for t in 0..frames {
            let start = (t * HOP) as isize - half;
            for (k, (x, w)) in input.iter_mut().zip(&self.window).enumerate() {
                *x = reflected(&emphasised, start + k as isize) * w;
            }
            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("buffers come from the plan, so their lengths match");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (b, (first, weights)) in self.bands.iter().enumerate() {
                let energy: f64 = weights
                    .iter()
                    .zip(&power[*first..])
                    .map(|(w, p)| w * p)
                    .sum();
                out[b * frames + t] = (((energy + LOG_OFFSET).ln() + SHIFT) / SCALE) as f32;
            }
        }
        out
    }

    /// The value every band takes in a silent frame.
    pub fn silence_value() -> f32 {
        ((LOG_OFFSET.ln() + SHIFT) / SCALE) as f32
    }

    /// The centre frequency of band `b`, in Hz.
    pub fn band_centre_hz(b: usize) -> f64 {
        let step = kaldi_mel(F_MAX) / (N_MELS + 1) as f64;
        700.0 * (((b + 1) as f64 * step / 1127.0).exp() - 1.0)
    }
}

/// `x[i]` for any `i`, the signal mirrored about its ends without repeating them (numpy's
/// `pad(mode="reflect")`, which reflects again as often as the padding needs).
fn reflected(x: &[f64], i: isize) -> f64 {
    let n = x.len() as isize;
    if n == 1 {
        return x[0];
    }
    let period = 2 * (n - 1);
    let j = i.rem_euclid(period);
    x[(if j >= n { period - j } else { j }) as usize]
}

fn kaldi_mel(hz: f64) -> f64 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

/// Kaldi's mel triangles (torchaudio's `kaldi.get_mel_banks`): equal steps on the mel scale
/// from 0 to `F_MAX`, weights computed on the mel axis, the Nyquist bin left out.
fn kaldi_bands() -> Vec<(usize, Vec<f64>)> {
    let bin_hz = SAMPLE_RATE as f64 / N_FFT as f64;
    let bin_mel: Vec<f64> = (0..N_FFT / 2)
        .map(|k| kaldi_mel(bin_hz * k as f64))
        .collect();
    let (lo, hi) = (kaldi_mel(0.0), kaldi_mel(F_MAX));
    let step = (hi - lo) / (N_MELS + 1) as f64;
    let edges: Vec<f64> = (0..N_MELS + 2).map(|i| lo + i as f64 * step).collect();
    earsight::frontend::triangles(&bin_mel, &edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, seconds: f64, amplitude: f64) -> Vec<f32> {
        let n = (SAMPLE_RATE as f64 * seconds) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / SAMPLE_RATE as f64;
                (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32
            })
            .collect()
    }

    fn loudest_band(mel: &[f32], frames: usize, t: usize) -> usize {
        (0..N_MELS)
            .max_by(|&a, &b| mel[a * frames + t].total_cmp(&mel[b * frames + t]))
            .unwrap()
    }

    #[test]
    fn frames_are_centred_one_per_hop() {
        assert_eq!(EfficientAtMel::frames_for(0), None);
        assert_eq!(EfficientAtMel::frames_for(1), None);
        assert_eq!(EfficientAtMel::frames_for(2), Some(1));
        assert_eq!(EfficientAtMel::frames_for(321), Some(2));
        // Pre-emphasis leaves 159,999 of a 5 s clip's samples: 500 frames, 501 from one more.
        assert_eq!(EfficientAtMel::frames_for(160_000), Some(500));
        assert_eq!(EfficientAtMel::frames_for(160_001), Some(501));
        let mel = EfficientAtMel::new().compute(&tone(1000.0, 0.5, 0.5));
        assert_eq!(mel.len(), N_MELS * 50);
    }

    #[test]
    fn a_pure_tone_lands_in_the_band_centred_on_it() {
        let frontend = EfficientAtMel::new();
        for band in [10, 40, 80, 120] {
            let hz = EfficientAtMel::band_centre_hz(band);
            let clip = tone(hz, 1.0, 0.5);
            let mel = frontend.compute(&clip);
            let frames = mel.len() / N_MELS;
            for t in [5, frames / 2, frames - 5] {
                assert_eq!(loudest_band(&mel, frames, t), band, "{hz:.0} Hz, frame {t}");
            }
        }
    }

    #[test]
    fn silence_is_the_floor_and_level_moves_every_band_by_its_log() {
        let frontend = EfficientAtMel::new();
        let silent = frontend.compute(&vec![0.0; 3200]);
        assert!(silent.iter().all(|&v| v == EfficientAtMel::silence_value()));
        // Far above the floor, doubling the amplitude adds ln(4) / 5 to the loud band.
        let hz = EfficientAtMel::band_centre_hz(64);
        let quiet = frontend.compute(&tone(hz, 0.5, 0.1));
        let loud = frontend.compute(&tone(hz, 0.5, 0.2));
        let frames = quiet.len() / N_MELS;
        let at = 64 * frames + frames / 2;
        let step = loud[at] - quiet[at];
        assert!((step - (4.0f32).ln() / 5.0).abs() < 1e-4, "step {step}");
    }

    #[test]
    fn reflection_matches_numpy_pad_reflect() {
        let x = [1.0, 2.0, 3.0];
        let padded: Vec<f64> = (-5..8).map(|i| reflected(&x, i)).collect();
        // numpy.pad([1, 2, 3], 5, mode="reflect")
        let numpy = [2., 1., 2., 3., 2., 1., 2., 3., 2., 1., 2., 3., 2.];
        assert_eq!(padded, numpy);
        assert_eq!(reflected(&[7.0], -3), 7.0);
    }

    #[test]
    fn the_filterbank_has_kaldi_triangles_peaking_at_one() {
        let bands = kaldi_bands();
        assert_eq!(bands.len(), N_MELS);
        for (first, weights) in &bands {
            assert!(weights.iter().all(|&w| (0.0..=1.0).contains(&w)));
            assert!(first + weights.len() <= N_FFT / 2);
        }
        // Bands are wider than a bin from some point up; there the peak is close to 1.
        let peak = bands[100].1.iter().cloned().fold(0.0, f64::max);
        assert!(peak > 0.9, "peak {peak}");
    }
}
