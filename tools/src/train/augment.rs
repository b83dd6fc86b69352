//! Stage 1b's changes to the train clips' log-mel windows, drawn again for every epoch and
//! clip. The mini world has at most 32 recordings of a class, and an audio encoder trained from
//! scratch on them can learn the recordings rather than the sources: louder or quieter, earlier
//! or later, with a band or a moment missing, a source should still give the same tokens.

use anyhow::{ensure, Result};
use earsight::config::FrontendConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What changes, and by how much; all off by default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Augment {
    /// A gain drawn uniformly within ±`gain_db` (values at the log floor, digital silence,
    /// stay there).
    pub gain_db: f32,
    /// Rotate the window by a uniform number of frames (its end wraps to its start).
    pub shift: bool,
    /// SpecAugment (Park et al., 2019): this many spans of up to `time_mask_frames` frames,
    /// and of up to `freq_mask_bins` mel bins, set to the normalisation mean (0).
    pub time_masks: usize,
    pub time_mask_frames: usize,
    pub freq_masks: usize,
    pub freq_mask_bins: usize,
}

impl Augment {
    pub fn is_off(&self) -> bool {
        *self == Augment::default()
    }

    pub fn validate(&self, frontend: &FrontendConfig) -> Result<()> {
        ensure!(
            self.gain_db.is_finite() && self.gain_db >= 0.0,
            "augment.gain_db must be 0 or more, found {}",
            self.gain_db
        );
        ensure!(
            self.time_mask_frames <= frontend.clip_frames,
            "augment.time_mask_frames is {} but a window has {} frames",
            self.time_mask_frames,
            frontend.clip_frames
        );
        ensure!(
            self.freq_mask_bins <= frontend.n_mels,
            "augment.freq_mask_bins is {} but a window has {} mel bins",
            self.freq_mask_bins,
            frontend.n_mels
        );
        Ok(())
    }

    /// Changes one normalised `[frames, mels]` window, drawing from (`seed`, `epoch`, `clip`)
    /// so that a resumed run draws what an uninterrupted one would.
    pub fn apply(&self, mel: &mut [f32], f: &FrontendConfig, seed: u64, epoch: usize, clip: usize) {
        if self.is_off() {
            return;
        }
        let (frames, mels) = (f.clip_frames, f.n_mels);
        let mut rng = ChaCha8Rng::seed_from_u64(
            seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (clip as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
        );
        if self.gain_db > 0.0 {
            // A power gain of g dB adds g·ln(10)/10 to the natural log of every mel energy.
            let db = rng.random_range(-self.gain_db..=self.gain_db);
            let step = db * std::f32::consts::LN_10 / 10.0 / f.norm_std;
            let floor = f.silence_value();
            for v in mel.iter_mut() {
                if *v > floor {
                    *v = (*v + step).max(floor);
                }
            }
        }
        if self.shift {
            let by = rng.random_range(0..frames);
            mel.rotate_right(by * mels);
        }
        for _ in 0..self.time_masks {
            let width = rng.random_range(0..=self.time_mask_frames);
            let start = rng.random_range(0..=frames - width);
            mel[start * mels..(start + width) * mels].fill(0.0);
        }
        for _ in 0..self.freq_masks {
            let width = rng.random_range(0..=self.freq_mask_bins);
            let start = rng.random_range(0..=mels - width);
            for frame in mel.chunks_exact_mut(mels) {
                frame[start..start + width].fill(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontend() -> FrontendConfig {
        let mut f = crate::model::weights::test_config().frontend;
        (f.clip_frames, f.n_mels) = (20, 6);
        f
    }

    /// A window of distinct values, its first frame digitally silent.
    fn window(f: &FrontendConfig) -> Vec<f32> {
        let mut mel: Vec<f32> = (0..f.clip_frames * f.n_mels)
            .map(|i| 0.01 * i as f32 - 0.3)
            .collect();
        mel[..f.n_mels].fill(f.silence_value());
        mel
    }

    #[test]
    fn off_changes_nothing_and_each_draw_is_repeatable() {
        let f = frontend();
        let mut mel = window(&f);
        Augment::default().apply(&mut mel, &f, 1, 1, 0);
        assert_eq!(mel, window(&f));
        let all = Augment {
            gain_db: 6.0,
            shift: true,
            time_masks: 1,
            time_mask_frames: 4,
            freq_masks: 1,
            freq_mask_bins: 2,
        };
        let draw = |epoch, clip| {
            let mut mel = window(&f);
            all.apply(&mut mel, &f, 7, epoch, clip);
            mel
        };
        assert_eq!(draw(1, 3), draw(1, 3));
        assert_ne!(draw(1, 3), draw(2, 3));
        assert_ne!(draw(1, 3), draw(1, 4));
    }

    #[test]
    fn gain_moves_every_sound_by_one_step_and_leaves_silence() {
        let f = frontend();
        let gain = Augment {
            gain_db: 6.0,
            ..Augment::default()
        };
        let most = 6.0 * std::f32::consts::LN_10 / 10.0 / f.norm_std;
        let mut steps = Vec::new();
        for clip in 0..20 {
            let (before, mut after) = (window(&f), window(&f));
            gain.apply(&mut after, &f, 1, 1, clip);
            assert_eq!(after[..f.n_mels], before[..f.n_mels], "silence moved");
            let step = after[f.n_mels] - before[f.n_mels];
            assert!(step.abs() <= most + 1e-6, "{step} beyond ±6 dB");
            for (a, b) in after.iter().zip(&before).skip(f.n_mels) {
                assert!((a - b - step).abs() < 1e-5);
            }
            steps.push(step);
        }
        assert!(steps.iter().any(|&s| s > most / 2.0) && steps.iter().any(|&s| s < -most / 2.0));
    }

    #[test]
    fn shift_rotates_whole_frames_and_masks_blank_spans() {
        let f = frontend();
        let before = window(&f);
        let mut after = before.clone();
        Augment {
            shift: true,
            ..Augment::default()
        }
        .apply(&mut after, &f, 1, 1, 5);
        let by = (0..f.clip_frames)
            .find(|&k| {
                let mut r = before.clone();
                r.rotate_right(k * f.n_mels);
                r == after
            })
            .expect("a rotation by whole frames");
        assert_ne!(by, 0, "this draw happens to shift");

        let masks = Augment {
            time_masks: 1,
            time_mask_frames: f.clip_frames,
            freq_masks: 1,
            freq_mask_bins: f.n_mels,
            ..Augment::default()
        };
        for clip in 0..10 {
            let mut mel = window(&f);
            masks.apply(&mut mel, &f, 1, 1, clip);
            // Every blanked value lies in whole blank frames or whole blank bins.
            for (i, &v) in mel.iter().enumerate() {
                if v == 0.0 && window(&f)[i] != 0.0 {
                    let (frame, bin) = (i / f.n_mels, i % f.n_mels);
                    let frame_blank = mel[frame * f.n_mels..(frame + 1) * f.n_mels]
                        .iter()
                        .all(|&x| x == 0.0);
                    let bin_blank = mel.chunks_exact(f.n_mels).all(|fr| fr[bin] == 0.0);
                    assert!(frame_blank || bin_blank, "value {i} blanked alone");
                }
            }
        }
    }

    #[test]
    fn settings_beyond_the_window_are_refused_by_name() {
        let f = frontend();
        let too_long = Augment {
            time_mask_frames: 21,
            ..Augment::default()
        };
        let err = too_long.validate(&f).unwrap_err().to_string();
        assert!(
            err.contains("time_mask_frames is 21") && err.contains("20 frames"),
            "{err}"
        );
        let negative = Augment {
            gain_db: -1.0,
            ..Augment::default()
        };
        assert!(negative
            .validate(&f)
            .unwrap_err()
            .to_string()
            .contains("gain_db"));
        let json = r#"{"gain_db": 3, "shfit": true}"#;
        let err = serde_json::from_str::<Augment>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("shfit"), "{err}");
    }
}
