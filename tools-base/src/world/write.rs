//! A world opened from its sources directory, to draw scenes from on the fly, and a world
//! written out as a dataset: audio, pictures, manifests and statistics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::audio::render;
use super::classes::SILENCE;
use super::draw::draw_scenes;
use super::scene::{Scene, RATE, SCENE_SECONDS};
use super::sources::{catalog, Recording};
use super::{phrases, picture, speech};
use crate::data::{Clip, Split};

/// What [`generate`] makes: how many scenes, which ESC-10 fold none of them uses, and which
/// UrbanSound8K folds they may use.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldShape {
    pub scenes: usize,
    /// The ESC-10 fold no stage sees: the real-recording validation set.
    pub held_out_fold: Option<u32>,
    /// The UrbanSound8K folds whose clips join the world's recordings (none by default, as in
    /// worlds made before; the teachers' fold 1 is for evaluation and stays out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urbansound8k_folds: Vec<u32>,
}

/// A world ready to draw scenes from, for writing a dataset or generating on the fly.
pub struct World {
    sources: PathBuf,
    seed: u64,
    pub recordings: Vec<Recording>,
    pub backgrounds: Vec<String>,
    book: phrases::Phrasebook,
}

impl World {
    /// Catalogs the sources directory (without the ESC-10 recordings of `shape.held_out_fold`,
    /// with the UrbanSound8K clips of `shape.urbansound8k_folds`), mines its caption corpora
    /// when present, and renders the speech variants into `speech_dir` when espeak-ng is
    /// installed.
    pub fn open(sources: &Path, seed: u64, shape: &WorldShape, speech_dir: &Path) -> Result<World> {
        let speech_dir = if speech::available() {
            std::fs::create_dir_all(speech_dir)
                .with_context(|| format!("creating {}", speech_dir.display()))?;
            Some(speech_dir)
        } else {
            log::warn!("espeak-ng is not installed: the world has no speech");
            None
        };
        let (recordings, backgrounds) = catalog(
            sources,
            8,
            speech_dir,
            shape.held_out_fold,
            &shape.urbansound8k_folds,
        )?;
        let corpora: Vec<PathBuf> = [
            "audiocaps-captions/v1/train.csv",
            "clotho-captions/clotho_v1_development_en.csv",
        ]
        .iter()
        .map(|p| sources.join(p))
        .filter(|p| p.is_file())
        .collect();
        let book = if corpora.is_empty() {
            phrases::Phrasebook::builtin()
        } else {
            phrases::Phrasebook::mine(&crate::text::vocab::read_captions(&corpora)?, 6, 3)
        };
        Ok(World {
            sources: sources.into(),
            seed,
            recordings,
            backgrounds,
            book,
        })
    }

    /// `count` scenes, 70 % train, 15 % val, 15 % test, each drawn from its split's recordings.
    pub fn scenes(&self, count: usize) -> Vec<Scene> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut all = Vec::new();
        for (split, share) in [
            (Split::Train, 0.70),
            (Split::Val, 0.15),
            (Split::Test, 0.15),
        ] {
            let n = if split == Split::Test {
                count - all.len()
            } else {
                ((count as f64) * share).round() as usize
            };
            let pool: Vec<&Recording> = self
                .recordings
                .iter()
                .filter(|r| r.split(self.seed) == split)
                .collect();
            all.extend(draw_scenes(
                &mut rng,
                split,
                all.len(),
                n,
                &pool,
                &self.backgrounds,
                &self.book,
            ));
        }
        all
    }

    /// A scene's audio: mono, [`RATE`] Hz, [`SCENE_SECONDS`] long.
    pub fn audio(&self, scene: &Scene) -> Result<Vec<f32>> {
        render(scene, &self.sources, &self.recordings, self.seed)
    }

    /// A scene's picture: RGB bytes, [`picture::SIZE`] square.
    pub fn picture(&self, scene: &Scene) -> Vec<u8> {
        picture::render(scene, self.seed)
    }
}

/// What `generate` made.
#[derive(Debug, Serialize)]
pub struct WorldStats {
    /// What it was made from: the seed and the shape asked for.
    pub seed: u64,
    pub shape: WorldShape,
    pub scenes: usize,
    pub per_split: BTreeMap<String, usize>,
    pub recordings: usize,
    pub recordings_per_class: BTreeMap<&'static str, usize>,
    pub hours: f64,
    pub caption_vocabulary: usize,
    /// ESC-10 recordings held out of every scene ([`HELD_OUT_FILE`]).
    pub held_out_recordings: usize,
}

/// The manifest of the held-out real recordings in a generated world.
pub const HELD_OUT_FILE: &str = "held_out.jsonl";

/// Generates a world of `scenes` scenes into `out` (which must not exist): `audio/*.wav`,
/// `images/*.png`, `stats.json`, `manifest.jsonl` (one clip per scene: its picture as the
/// frame, audio captions as captions, heard classes as labels)
/// and `scenes.jsonl` (every scene in full: sources, roles, onsets, levels, visual captions).
/// With `held_out_fold`, no scene uses that ESC-10 fold, whose recordings are listed instead
/// in [`HELD_OUT_FILE`] (a labelled test manifest) for evaluation on real recordings.
pub fn generate(sources: &Path, seed: u64, shape: &WorldShape, out: &Path) -> Result<WorldStats> {
    if out.exists() {
        bail!("{}: exists; choose a new directory", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let world = World::open(sources, seed, shape, &out.join("speech"))?;
    let mut held_out = 0;
    if let Some(fold) = shape.held_out_fold {
        let esc = sources.join("esc10/metadata.csv");
        let clips = crate::data::esc_fold(&esc, fold).context("the fold to hold out")?;
        held_out = clips.len();
        crate::data::write_manifest(&out.join(HELD_OUT_FILE), &clips)?;
    }
    let all = world.scenes(shape.scenes);
    let recordings = &world.recordings;
    for sub in ["audio", "images"] {
        std::fs::create_dir_all(out.join(sub))
            .with_context(|| format!("creating {}", out.join(sub).display()))?;
    }
    let mut clips = Vec::with_capacity(all.len());
    let mut lines = String::new();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    for scene in &all {
        let audio = world.audio(scene)?;
        let path = out.join("audio").join(format!("{}.wav", scene.id));
        let mut w = hound::WavWriter::create(&path, spec)
            .with_context(|| format!("creating {}", path.display()))?;
        for x in audio {
            w.write_sample((x * 32767.0).round() as i16)?;
        }
        w.finalize()?;
        let image = out.join("images").join(format!("{}.png", scene.id));
        picture::write_png(&image, &world.picture(scene))?;
        let mut labels: Vec<String> = scene
            .sources
            .iter()
            .filter(|s| s.role.heard())
            .map(|s| s.class.to_string())
            .collect();
        if labels.is_empty() {
            labels.push(SILENCE.into());
        }
        clips.push(Clip {
            id: scene.id.clone(),
            audio: path,
            frames: vec![image],
            captions: scene.audio_captions.clone(),
            labels,
            split: scene.split,
        });
        lines.push_str(&serde_json::to_string(scene)?);
        lines.push('\n');
    }
    std::fs::write(out.join("scenes.jsonl"), lines)?;
    crate::data::write_manifest(&out.join("manifest.jsonl"), &clips)?;
    let mut per_split = BTreeMap::new();
    for s in &all {
        *per_split
            .entry(format!("{:?}", s.split).to_lowercase())
            .or_insert(0) += 1;
    }
    let mut recordings_per_class = BTreeMap::new();
    for r in recordings {
        *recordings_per_class.entry(r.class).or_insert(0) += 1;
    }
    let vocabulary: std::collections::BTreeSet<String> = all
        .iter()
        .flat_map(|s| s.audio_captions.iter().chain(&s.visual_captions))
        .flat_map(|c| {
            crate::text::tokenize(c)
                .split(' ')
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    let stats = WorldStats {
        seed,
        shape: shape.clone(),
        scenes: all.len(),
        per_split,
        recordings: recordings.len(),
        recordings_per_class,
        hours: all.len() as f64 * SCENE_SECONDS as f64 / 3600.0,
        caption_vocabulary: vocabulary.len(),
        held_out_recordings: held_out,
    };
    std::fs::write(
        out.join("stats.json"),
        serde_json::to_string_pretty(&stats)? + "\n",
    )?;
    Ok(stats)
}
