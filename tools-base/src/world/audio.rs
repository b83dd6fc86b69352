//! Mixing a scene's audio: the background at its level, then each heard source at its onset
//! and level.

use std::path::Path;

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use earsight::frontend::level_dbfs;

use super::scene::{Scene, RATE, SCENE_SECONDS};
use super::sources::{hash_id, Recording, Sound};
use super::synth;

/// The RMS level of the part of `x` where something sounds: the 100 ms blocks within 30 dB of
/// the loudest, so that a short bark and a long rain placed at the same level sound as loud.
fn active_db(x: &[f32]) -> f32 {
    let blocks: Vec<f32> = x.chunks(RATE as usize / 10).map(level_dbfs).collect();
    let loudest = blocks.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let active: Vec<f32> = x
        .chunks(RATE as usize / 10)
        .zip(&blocks)
        .filter(|(_, &db)| db > loudest - 30.0)
        .flat_map(|(c, _)| c.iter().copied())
        .collect();
    level_dbfs(&active)
}

/// Scales `x` so that its active level is `db`; digital silence stays as it is.
fn scaled_to(x: &mut [f32], db: f32) {
    let level = active_db(x);
    if level.is_finite() {
        let gain = 10f32.powf((db - level) / 20.0);
        x.iter_mut().for_each(|v| *v *= gain);
    }
}

/// Renders a scene's audio: the background, then each heard source at its onset and level.
pub fn render(
    scene: &Scene,
    sources: &Path,
    recordings: &[Recording],
    seed: u64,
) -> Result<Vec<f32>> {
    let n = (SCENE_SECONDS * RATE as f32) as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ hash_id(&scene.id));
    let mut background = earsight::audio::read_all(&sources.join(&scene.background), RATE)
        .with_context(|| format!("background {}", scene.background))?;
    let start = if background.len() > n {
        rng.random_range(0..background.len() - n)
    } else {
        0
    };
    let mut mix: Vec<f32> = (0..n)
        .map(|i| background[(start + i) % background.len()])
        .collect();
    background.clear();
    scaled_to(&mut mix, scene.background_db);
    for placed in scene.sources.iter().filter(|s| s.role.heard()) {
        let recording = recordings
            .iter()
            .find(|r| r.id == placed.recording)
            .with_context(|| format!("{}: unknown recording {}", scene.id, placed.recording))?;
        let first = (placed.onset * RATE as f32) as usize;
        let room = n - first.min(n);
        let mut sound = match &recording.sound {
            Sound::File(path) => earsight::audio::read_all(path, RATE)
                .with_context(|| format!("recording {}", recording.id))?,
            Sound::Synth { variant } => {
                synth::render(recording.class, *variant, RATE, room as f32 / RATE as f32)
                    .with_context(|| format!("no synthesizer for {}", recording.class))?
            }
        };
        if sound.len() > room {
            // Of a few excerpts that fit, the loudest: an excerpt must not miss the sound.
            let starts: Vec<usize> = (0..8)
                .map(|_| rng.random_range(0..=sound.len() - room))
                .collect();
            let energy = |s: usize| sound[s..s + room].iter().map(|x| x * x).sum::<f32>();
            let best = starts
                .into_iter()
                .max_by(|&a, &b| energy(a).total_cmp(&energy(b)))
                .expect("eight candidates");
            sound.drain(..best);
            sound.truncate(room);
        }
        scaled_to(&mut sound, placed.level_db);
        for (m, s) in mix[first..].iter_mut().zip(&sound) {
            *m += s;
        }
    }
    let peak = mix.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if peak > 0.99 {
        mix.iter_mut().for_each(|x| *x *= 0.99 / peak);
    }
    Ok(mix)
}
