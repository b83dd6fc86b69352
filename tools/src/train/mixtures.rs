//! Random mixtures of recorded audio, the inputs of teacher distillation ([`super::teach`]).
//!
//! Every clip of the recipe's sources is decoded once, at the teacher's rate, and kept in
//! memory; each training example is then a fresh mixture of 1 to `max_clips` of them, each at
//! its own gain, cropped and placed at a random offset, over a background soundscape half of
//! the time. A consistent teacher labels each mixture on the fly, so the student never sees
//! the same input twice (Beyer et al., "Knowledge distillation: a good teacher is patient and
//! consistent", CVPR 2022).
//!
//! ESC-10's test fold is never decoded here: it is held out of training and validation alike.
//! A share of the other clips is held out of training as the validation clips, which the
//! fixed validation mixtures are drawn from.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, ensure, Context, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{import_esc, Split};

/// File extensions read as audio when a source directory is listed.
const AUDIO_EXTENSIONS: &[&str] = &["wav", "ogg", "mp3", "flac"];

/// Where the clips come from, relative to the data directory (`--data`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// An ESC-style directory with `metadata.csv` (`path,label,fold`): its folds other than
    /// `test_fold` are foreground clips, drawn `mixture.esc_share` of the time.
    pub esc10: String,
    /// ESC-10's fold held out of everything, on which the stage reports zero-shot accuracy.
    pub test_fold: u32,
    /// Directories whose audio files (any depth) are foreground clips.
    pub foreground: Vec<String>,
    /// Directories whose audio files are background soundscapes.
    pub background: Vec<String>,
    /// The share of foreground clips held out of training for validation, in (0, 1).
    pub val_share: f64,
    /// Clips and soundscapes are cut to their first this many seconds when decoded, to bound
    /// memory.
    pub max_clip_seconds: f32,
}

impl Sources {
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.val_share > 0.0 && self.val_share < 1.0,
            "sources.val_share must be in (0, 1), found {}",
            self.val_share
        );
        ensure!(
            self.max_clip_seconds.is_finite() && self.max_clip_seconds > 0.0,
            "sources.max_clip_seconds must be positive, found {}",
            self.max_clip_seconds
        );
        Ok(())
    }
}

/// How a mixture is drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixtureConfig {
    /// The length of a mixture.
    pub seconds: f32,
    /// A mixture has 1 to this many foreground clips.
    pub max_clips: usize,
    /// Each clip, peak-normalised when decoded, at a gain drawn in this range (dB).
    pub gain_db: [f32; 2],
    /// The chance that a clip is drawn from ESC-10 rather than from all foreground clips.
    pub esc_share: f64,
    /// The chance that a mixture has a background soundscape.
    pub background_share: f64,
    /// The background's gain range (dB).
    pub background_db: [f32; 2],
}

impl MixtureConfig {
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.seconds.is_finite() && self.seconds > 0.0,
            "mixture.seconds must be positive, found {}",
            self.seconds
        );
        ensure!(
            (1..=8).contains(&self.max_clips),
            "mixture.max_clips must be 1 to 8, found {}",
            self.max_clips
        );
        for (name, [lo, hi]) in [
            ("mixture.gain_db", self.gain_db),
            ("mixture.background_db", self.background_db),
        ] {
            ensure!(
                lo.is_finite() && hi.is_finite() && lo <= hi && hi <= 20.0,
                "{name} must be [low, high] with low <= high <= 20, found [{lo}, {hi}]"
            );
        }
        for (name, p) in [
            ("mixture.esc_share", self.esc_share),
            ("mixture.background_share", self.background_share),
        ] {
            ensure!(
                (0.0..=1.0).contains(&p),
                "{name} must be in [0, 1], found {p}"
            );
        }
        Ok(())
    }

    /// Samples in a mixture at `rate`.
    pub fn samples(&self, rate: u32) -> usize {
        (self.seconds * rate as f32).round() as usize
    }

    /// Draws one mixture of `len` samples from `clips` and `backgrounds`.
    pub fn draw(
        &self,
        clips: &Clips,
        backgrounds: &[Vec<f32>],
        len: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<f32> {
        let mut mix = vec![0.0f32; len];
        let n = rng.random_range(1..=self.max_clips);
        for _ in 0..n {
            let pick = if !clips.esc.is_empty() && rng.random_bool(self.esc_share) {
                clips.esc[rng.random_range(0..clips.esc.len())]
            } else {
                rng.random_range(0..clips.audio.len())
            };
            let clip = &clips.audio[pick];
            let take = clip.len().min(len);
            let start = rng.random_range(0..=clip.len() - take);
            let offset = rng.random_range(0..=len - take);
            let gain = amplitude(rng.random_range(self.gain_db[0]..=self.gain_db[1]));
            for (m, &s) in mix[offset..offset + take]
                .iter_mut()
                .zip(&clip[start..start + take])
            {
                *m += gain * s;
            }
        }
        if !backgrounds.is_empty() && rng.random_bool(self.background_share) {
            let background = &backgrounds[rng.random_range(0..backgrounds.len())];
            let gain = amplitude(rng.random_range(self.background_db[0]..=self.background_db[1]));
            if !background.is_empty() {
                // A soundscape shorter than the mixture is looped.
                let start = rng.random_range(0..background.len());
                for (k, m) in mix.iter_mut().enumerate() {
                    *m += gain * background[(start + k) % background.len()];
                }
            }
        }
        // Clips that add up past full scale are scaled back rather than clipped.
        let peak = mix.iter().fold(0.0f32, |p, s| p.max(s.abs()));
        if peak > 1.0 {
            mix.iter_mut().for_each(|s| *s /= peak);
        }
        mix
    }
}

fn amplitude(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Foreground clips to draw from, and which of them are ESC-10's.
#[derive(Default)]
pub struct Clips {
    pub audio: Vec<Vec<f32>>,
    /// Indices into `audio`.
    pub esc: Vec<usize>,
}

/// Every clip of the sources, decoded.
pub struct Pool {
    /// The rate the clips were decoded at.
    pub rate: u32,
    pub train: Clips,
    pub val: Clips,
    /// Shared by training and validation: a background is never the sound to name.
    pub backgrounds: Vec<Vec<f32>>,
}

/// The audio files under `dir`, at any depth, sorted.
fn audio_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry
                .with_context(|| format!("reading {}", d.display()))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| e.eq_ignore_ascii_case(a)))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The audio files of the recipe's `what` directories under `data`; a directory that is not
/// there, or holds no audio, is an error naming it.
fn list(data: &Path, dirs: &[String], what: &str) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for name in dirs {
        let dir = data.join(name);
        if !dir.is_dir() {
            bail!(
                "{}: no such directory (sources.{what} in the recipe names directories of --data)",
                dir.display()
            );
        }
        let found = audio_files(&dir)?;
        if found.is_empty() {
            bail!(
                "{}: no audio files ({}) in this sources.{what} directory",
                dir.display(),
                AUDIO_EXTENSIONS.join(", ")
            );
        }
        files.extend(found);
    }
    Ok(files)
}

/// Decodes `files` at `rate` on `threads` threads, each cut to `max` samples and
/// peak-normalised (a silent clip stays silent); a file that cannot be read is an error
/// naming it.
pub fn decode_all(
    files: &[PathBuf],
    rate: u32,
    max: usize,
    threads: usize,
) -> Result<Vec<Vec<f32>>> {
    let next = AtomicUsize::new(0);
    let decoded: Mutex<Vec<Option<Vec<f32>>>> = Mutex::new(vec![None; files.len()]);
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else {
                            return Ok(());
                        };
                        let mut samples = earsight::audio::read_all(path, rate)
                            .with_context(|| format!("{}: cannot decode it", path.display()))?;
                        samples.truncate(max);
                        let peak = samples.iter().fold(0.0f32, |p, s| p.max(s.abs()));
                        if peak > 0.0 {
                            samples.iter_mut().for_each(|s| *s /= peak);
                        }
                        decoded.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(samples);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a decoding thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(decoded
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|d| d.expect("every file was decoded"))
        .collect())
}

/// The ESC metadata file of the sources.
pub fn esc_metadata(data: &Path, sources: &Sources) -> PathBuf {
    data.join(&sources.esc10).join("metadata.csv")
}

impl Pool {
    /// Lists and decodes the sources under `data` at `rate`: ESC-10 without its test fold,
    /// the foreground directories, the backgrounds. Every `1 / val_share`-th foreground clip
    /// (in file order) is a validation clip.
    pub fn load(data: &Path, sources: &Sources, rate: u32, threads: usize) -> Result<Pool> {
        sources.validate()?;
        let metadata = esc_metadata(data, sources);
        if !metadata.is_file() {
            bail!(
                "{}: no ESC metadata (sources.esc10 names a directory of --data with \
                 metadata.csv)",
                metadata.display()
            );
        }
        let esc: Vec<PathBuf> = import_esc(&metadata, sources.test_fold)?
            .into_iter()
            .filter(|c| c.split == Split::Train)
            .map(|c| c.audio)
            .collect();
        let mut files: Vec<(PathBuf, bool)> = esc.into_iter().map(|p| (p, true)).collect();
        files.extend(
            list(data, &sources.foreground, "foreground")?
                .into_iter()
                .map(|p| (p, false)),
        );
        let backgrounds = list(data, &sources.background, "background")?;
        let max = (sources.max_clip_seconds * rate as f32) as usize;
        let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
        let audio = decode_all(&paths, rate, max, threads)?;
        let every = ((1.0 / sources.val_share).round() as usize).max(2);
        let (mut train, mut val) = (Clips::default(), Clips::default());
        for (i, (clip, (_, is_esc))) in audio.into_iter().zip(&files).enumerate() {
            let side = if i % every == every - 1 {
                &mut val
            } else {
                &mut train
            };
            if *is_esc {
                side.esc.push(side.audio.len());
            }
            side.audio.push(clip);
        }
        ensure!(
            !train.audio.is_empty() && !val.audio.is_empty(),
            "{} foreground clips leave none for {} at sources.val_share {}",
            files.len(),
            if train.audio.is_empty() {
                "training"
            } else {
                "validation"
            },
            sources.val_share
        );
        Ok(Pool {
            rate,
            train,
            val,
            backgrounds: decode_all(&backgrounds, rate, max, threads)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn config() -> MixtureConfig {
        MixtureConfig {
            seconds: 1.0,
            max_clips: 3,
            gain_db: [-12.0, 0.0],
            esc_share: 0.5,
            background_share: 1.0,
            background_db: [-20.0, -6.0],
        }
    }

    #[test]
    fn mixtures_are_seeded_within_full_scale_and_cover_short_and_long_clips() {
        let clips = Clips {
            audio: vec![vec![0.9; 100], vec![-1.0; 5000], vec![0.5; 1000]],
            esc: vec![1],
        };
        let backgrounds = vec![vec![0.3; 70]];
        let c = config();
        let draw = |seed| {
            c.draw(
                &clips,
                &backgrounds,
                1000,
                &mut ChaCha8Rng::seed_from_u64(seed),
            )
        };
        let a = draw(3);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, draw(3));
        assert_ne!(a, draw(4));
        for seed in 0..50 {
            let m = draw(seed);
            assert!(m.iter().all(|s| s.abs() <= 1.0 + 1e-6));
            // The looped background reaches every sample.
            assert!(m.iter().all(|&s| s != 0.0), "seed {seed}");
        }
    }

    #[test]
    fn bad_mixture_settings_are_refused_by_name() {
        let mut c = config();
        c.gain_db = [0.0, -12.0];
        assert!(format!("{}", c.validate().unwrap_err()).contains("mixture.gain_db"));
        let mut c = config();
        c.max_clips = 0;
        assert!(format!("{}", c.validate().unwrap_err()).contains("mixture.max_clips"));
        let mut c = config();
        c.background_share = 1.5;
        assert!(format!("{}", c.validate().unwrap_err()).contains("background_share"));
    }
}
