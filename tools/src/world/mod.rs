//! The miniature audio-visual world (DESIGN §6): scenes of 1-3 sound sources, some seen and
//! heard, some seen but silent, some heard but off-screen, mixed over real background
//! recordings, each with what is heard (audio captions) and what is seen (visual captions).
//!
//! Sources are real recordings found in a sources directory (ESC-10 by label, OpenSFX by title,
//! GCompris by file name; comic effects skipped) and sounds synthesized from their
//! specifications ([`synth`]). Splits are held out by recording: a recording heard in a test
//! scene never appears in a training scene. Everything is drawn from one seed, so a world is
//! the same bytes every time it is generated.
//!
//! Each scene has a picture ([`picture`]) of what is seen; what is heard is said with the
//! clauses human captioners use, mined from the AudioCaps and Clotho texts when the sources
//! directory has them ([`phrases`]). Speech is synthesized by espeak-ng when it is installed
//! ([`speech`]); without it the world has no speech class.

pub mod phrases;
pub mod picture;
pub mod speech;
pub mod synth;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use earsight::frontend::level_dbfs;

use crate::data::{Clip, Split};

/// Sample rate and length of every scene.
pub const RATE: u32 = 16_000;
pub const SCENE_SECONDS: f32 = 10.0;

/// The label of a scene in which nothing is heard.
pub const SILENCE: &str = crate::eval::SILENCE;

/// A kind of source: how it is heard and seen in words, and the words that name it (no other
/// class's phrases use them, so a caption's sources can be read back from it).
pub struct SourceClass {
    pub name: &'static str,
    pub heard: &'static [&'static str],
    /// Without colour or size words: the picture varies both from scene to scene.
    pub seen: &'static [&'static str],
    pub names: &'static [&'static str],
}

const fn class(
    name: &'static str,
    heard: &'static [&'static str],
    seen: &'static [&'static str],
    names: &'static [&'static str],
) -> SourceClass {
    SourceClass {
        name,
        heard,
        seen,
        names,
    }
}

pub const CLASSES: &[SourceClass] = &[
    class(
        "dog_bark",
        &["a dog barks", "a dog is barking", "a dog barking loudly"],
        &["a dog", "the dog", "a dog outdoors"],
        &["dog"],
    ),
    class(
        "baby_cry",
        &["a baby cries", "a baby is crying", "a baby wails"],
        &["a baby", "a baby in a crib"],
        &["baby"],
    ),
    class(
        "chainsaw",
        &[
            "a chainsaw runs",
            "a chainsaw is cutting wood",
            "a chainsaw buzzes",
        ],
        &["a chainsaw", "a chainsaw on a log"],
        &["chainsaw"],
    ),
    class(
        "clock_tick",
        &["a clock ticks", "a clock is ticking steadily"],
        &["a clock", "a wall clock"],
        &["clock"],
    ),
    class(
        "fire_crackling",
        &[
            "a fire crackles",
            "a campfire is crackling",
            "wood crackles in a fireplace",
        ],
        &["a campfire", "a fireplace"],
        &["fire", "campfire", "fireplace"],
    ),
    class(
        "helicopter",
        &["a helicopter flies overhead", "a helicopter hovers nearby"],
        &["a helicopter", "a helicopter in the sky"],
        &["helicopter"],
    ),
    class(
        "rain",
        &[
            "rain falls",
            "rain is falling steadily",
            "heavy rain pours down",
        ],
        &["rain on a window", "a rainy street"],
        &["rain", "rainy"],
    ),
    class(
        "rooster",
        &["a rooster crows", "a rooster is crowing"],
        &["a rooster", "a rooster on a fence"],
        &["rooster"],
    ),
    class(
        "sea_waves",
        &["waves crash on the shore", "ocean waves roll in"],
        &["ocean waves", "waves on a beach"],
        &["waves", "ocean"],
    ),
    class(
        "sneezing",
        &["a loud sneeze", "a sneeze", "sneezing"],
        &["a box of tissues"],
        &["sneeze", "sneezing", "tissues"],
    ),
    class(
        "speech",
        &[
            "a person speaks",
            "someone is talking",
            "a person is speaking",
        ],
        &["a person", "a person standing"],
        &["person", "someone"],
    ),
    class(
        "applause",
        &["a crowd applauds", "an audience claps and cheers"],
        &["a crowd", "an audience in a hall"],
        &["crowd", "audience"],
    ),
    class(
        "train",
        &["a train passes by", "a train rumbles along the tracks"],
        &["a train", "a train at a station"],
        &["train"],
    ),
    class(
        "door",
        &["a door opens", "a door slams shut", "a door creaks open"],
        &["a door", "a wooden door"],
        &["door"],
    ),
    class(
        "wind",
        &["wind blows", "strong wind gusts"],
        &["a windswept field"],
        &["wind", "windswept"],
    ),
    class(
        "horse",
        &["a horse neighs", "a horse is neighing"],
        &["a horse", "a horse in a paddock"],
        &["horse"],
    ),
    class(
        "cow",
        &["a cow moos", "a cow is mooing"],
        &["a cow", "a cow in a meadow"],
        &["cow"],
    ),
    class(
        "sheep",
        &["a sheep bleats", "sheep are bleating"],
        &["a sheep", "sheep on a hill"],
        &["sheep"],
    ),
    class(
        "jackhammer",
        &["a jackhammer pounds", "a jackhammer drills into concrete"],
        &["a jackhammer", "a worker with a jackhammer"],
        &["jackhammer"],
    ),
    class(
        "airplane",
        &["a jet takes off", "an airplane roars overhead"],
        &["an airplane", "a jet on a runway"],
        &["jet", "airplane"],
    ),
    class(
        "bird",
        &["a bird chirps", "a bird is singing"],
        &["a bird", "a bird on a branch"],
        &["bird"],
    ),
    class(
        "smoke_alarm",
        &["a smoke alarm beeps", "a smoke detector is beeping"],
        &["a smoke detector on the ceiling"],
        &["smoke"],
    ),
    class(
        "doorbell",
        &["a doorbell rings", "the doorbell chimes"],
        &["a doorbell", "a doorbell beside a front entrance"],
        &["doorbell"],
    ),
    class(
        "phone_ring",
        &["a phone rings", "a telephone is ringing"],
        &["a phone on a table", "a telephone"],
        &["phone", "telephone"],
    ),
    class(
        "microwave_beeps",
        &["a microwave beeps", "a microwave oven beeps three times"],
        &["a microwave", "a microwave oven"],
        &["microwave"],
    ),
    class(
        "kettle_whistle",
        &["a kettle whistles", "a kettle is whistling on the stove"],
        &["a kettle on a stove", "a kettle"],
        &["kettle"],
    ),
    class(
        "car_horn",
        &["a car horn honks", "a horn blares"],
        &["a car", "a car on a street"],
        &["horn", "car"],
    ),
];

pub fn class_named(name: &str) -> Option<&'static SourceClass> {
    CLASSES.iter().find(|c| c.name == name)
}

/// Where a source's sound comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Sound {
    File(PathBuf),
    Synth { variant: u64 },
}

/// One recording (or synthesized variant) of a class.
#[derive(Clone, Debug, Serialize)]
pub struct Recording {
    /// Stable across runs: the path relative to the sources directory, or `synth/CLASS/N`.
    pub id: String,
    pub class: &'static str,
    pub sound: Sound,
}

/// The class of an ESC-10 / ESC-50 label: the label itself, lower-cased, or its ESC-10 spelling.
pub fn class_of_esc_label(label: &str) -> Option<&'static str> {
    match label.to_lowercase().as_str() {
        "person_sneeze" => Some("sneezing"),
        other => class_named(other).map(|c| c.name),
    }
}

/// The class of an OpenSFX title or GCompris file name, if it is one we caption; comic and
/// unclear effects are skipped.
fn class_of_name(name: &str) -> Option<&'static str> {
    let n = name.to_lowercase();
    if ["toyland", "comedy", "weird", "breakdown", "oooh", "splat"]
        .iter()
        .any(|k| n.contains(k))
    {
        return None;
    }
    let rules: [(&str, &str); 17] = [
        ("car horn", "car_horn"),
        ("bark", "dog_bark"),
        ("applaus", "applause"),
        ("rain", "rain"),
        ("chainsaw", "chainsaw"),
        ("helicopter", "helicopter"),
        ("jackhammer", "jackhammer"),
        ("jet take off", "airplane"),
        ("door", "door"),
        ("train", "train"),
        ("horse", "horse"),
        ("cow", "cow"),
        ("sheep", "sheep"),
        ("bird", "bird"),
        ("heavy wind", "wind"),
        ("wind", "wind"),
        ("rooster", "rooster"),
    ];
    rules.iter().find(|(k, _)| n.contains(k)).map(|(_, c)| *c)
}

/// The recordings of a sources directory plus `synth_variants` variants of every synthesized
/// class, sorted by id; and the background recordings (soundscapes), by path relative to
/// `sources`. ESC-10 recordings of `held_out_fold` are left out.
pub fn catalog(
    sources: &Path,
    synth_variants: u64,
    speech_dir: Option<&Path>,
    held_out_fold: Option<u32>,
) -> Result<(Vec<Recording>, Vec<String>)> {
    let mut recordings = Vec::new();
    let rel = |p: &Path| p.strip_prefix(sources).unwrap_or(p).display().to_string();
    let esc = sources.join("esc10/metadata.csv");
    if esc.is_file() {
        let kept = crate::data::import_esc(&esc, held_out_fold.unwrap_or(0))?
            .into_iter()
            .filter(|clip| clip.split != Split::Test);
        for clip in kept {
            if let Some(class) = class_of_esc_label(&clip.labels[0]) {
                recordings.push(Recording {
                    id: rel(&clip.audio),
                    class,
                    sound: Sound::File(clip.audio),
                });
            }
        }
    }
    let sfx = sources.join("opensfx/metadata.tsv");
    if sfx.is_file() {
        let text =
            std::fs::read_to_string(&sfx).with_context(|| format!("reading {}", sfx.display()))?;
        for (i, line) in text.lines().enumerate().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 2 {
                bail!(
                    "{}:{}: expected file and title columns",
                    sfx.display(),
                    i + 1
                );
            }
            if let Some(class) = class_of_name(cols[1]) {
                let path = sources.join("opensfx/audio").join(cols[0]);
                if path.is_file() {
                    recordings.push(Recording {
                        id: rel(&path),
                        class,
                        sound: Sound::File(path),
                    });
                }
            }
        }
    }
    let gcompris = sources.join("gcompris-sounds");
    if gcompris.is_dir() {
        for clip in crate::data::import_folder(&gcompris, Split::Train)? {
            if let Some(class) = class_of_name(&clip.id) {
                recordings.push(Recording {
                    id: rel(&clip.audio),
                    class,
                    sound: Sound::File(clip.audio),
                });
            }
        }
    }
    for class in synth::CLASSES {
        for variant in 0..synth_variants {
            recordings.push(Recording {
                id: format!("synth/{class}/{variant}"),
                class,
                sound: Sound::Synth { variant },
            });
        }
    }
    if let Some(dir) = speech_dir {
        for variant in 0..speech::VARIANTS {
            recordings.push(Recording {
                id: format!("speech/{variant}"),
                class: "speech",
                sound: Sound::File(speech::render(variant, dir)?),
            });
        }
    }
    recordings.sort_by(|a, b| a.id.cmp(&b.id));
    let soundscapes = sources.join("scikit-maad-soundscapes");
    let mut backgrounds: Vec<String> = if soundscapes.is_dir() {
        crate::data::import_folder(&soundscapes, Split::Train)?
            .into_iter()
            .map(|c| rel(&c.audio))
            .collect()
    } else {
        Vec::new()
    };
    backgrounds.sort();
    if backgrounds.is_empty() {
        bail!(
            "{}: no background recordings (expected scikit-maad-soundscapes/ with WAV files)",
            sources.display()
        );
    }
    Ok((recordings, backgrounds))
}

/// A recording's split: fixed by the seed and the recording's id alone, so it does not move
/// when other recordings come or go.
pub fn split_of(seed: u64, id: &str) -> Split {
    match fnv1a(FNV_OFFSET ^ seed, id) % 100 {
        0..70 => Split::Train,
        70..85 => Split::Val,
        _ => Split::Test,
    }
}

/// How a source takes part in a scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SeenAndHeard,
    SeenSilent,
    HeardOffscreen,
}

impl Role {
    pub fn heard(self) -> bool {
        self != Role::SeenSilent
    }

    pub fn seen(self) -> bool {
        self != Role::HeardOffscreen
    }
}

/// A source in a scene.
#[derive(Clone, Debug, Serialize)]
pub struct Placed {
    pub recording: String,
    pub class: &'static str,
    pub role: Role,
    /// Seconds from the start of the scene.
    pub onset: f32,
    /// RMS level of the source where it sounds, in dB relative to full scale (when heard).
    pub level_db: f32,
}

/// A [`Placed`] as a scenes file holds it, with the class by name.
#[derive(Deserialize)]
struct PlacedRecord {
    recording: String,
    class: String,
    role: Role,
    onset: f32,
    level_db: f32,
}

/// A class must be one of [`CLASSES`], so that a scenes file written by another version of
/// the world is refused rather than drawn wrongly.
impl<'de> Deserialize<'de> for Placed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Placed, D::Error> {
        let p = PlacedRecord::deserialize(d)?;
        let class = class_named(&p.class).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown class {:?}; expected one of the world's {} classes",
                p.class,
                CLASSES.len()
            ))
        })?;
        Ok(Placed {
            recording: p.recording,
            class: class.name,
            role: p.role,
            onset: p.onset,
            level_db: p.level_db,
        })
    }
}

/// What [`generate`] makes: how many scenes, and which ESC-10 fold none of them uses.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldShape {
    pub scenes: usize,
    /// The ESC-10 fold no stage sees: the real-recording validation set.
    pub held_out_fold: Option<u32>,
}

/// A scene: its sources, background and captions; the audio is rendered from it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Scene {
    pub id: String,
    pub split: Split,
    pub sources: Vec<Placed>,
    /// The background recording, relative to the sources directory.
    pub background: String,
    pub background_db: f32,
    pub audio_captions: Vec<String>,
    pub visual_captions: Vec<String>,
}

fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn join_phrases(rng: &mut ChaCha8Rng, parts: &[String], linkers: &[&str]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} {} {b}", linkers.choose(rng).expect("linkers")),
        _ => {
            let (last, rest) = parts.split_last().expect("three or more");
            format!("{}, and {last}", rest.join(", "))
        }
    }
}

/// Up to `n` distinct phrasings from `phrase` (a few draws each, as short scenes have few).
fn distinct(n: usize, mut phrase: impl FnMut() -> String) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    for _ in 0..4 * n {
        let p = phrase();
        if !out.contains(&p) {
            out.push(p);
        }
        if out.len() == n {
            break;
        }
    }
    out
}

/// Up to `n` phrasings of what is heard: the heard sources in order of onset.
fn audio_captions(
    rng: &mut ChaCha8Rng,
    book: &phrases::Phrasebook,
    sources: &[Placed],
    n: usize,
) -> Vec<String> {
    let mut heard: Vec<&Placed> = sources.iter().filter(|s| s.role.heard()).collect();
    heard.sort_by(|a, b| a.onset.total_cmp(&b.onset));
    distinct(n, || {
        if heard.is_empty() {
            return sentence(
                [
                    "silence",
                    "a quiet room with no sound",
                    "nothing can be heard",
                ]
                .choose(rng)
                .expect("phrases"),
            );
        }
        let parts: Vec<String> = heard
            .iter()
            .map(|s| {
                let said = book.heard(class_named(s.class).expect("placed classes exist"));
                said.choose(rng).expect("phrases").clone()
            })
            .collect();
        sentence(&join_phrases(rng, &parts, &["while", "and", "followed by"]))
    })
}

/// Up to `n` phrasings of what is seen.
fn visual_captions(rng: &mut ChaCha8Rng, sources: &[Placed], n: usize) -> Vec<String> {
    let seen: Vec<&Placed> = sources.iter().filter(|s| s.role.seen()).collect();
    distinct(n, || {
        if seen.is_empty() {
            return sentence(
                [
                    "an empty field",
                    "an empty scene outdoors",
                    "a quiet empty landscape",
                ]
                .choose(rng)
                .expect("phrases"),
            );
        }
        let parts: Vec<String> = seen
            .iter()
            .map(|s| {
                let c = class_named(s.class).expect("placed classes exist");
                c.seen.choose(rng).expect("phrases").to_string()
            })
            .collect();
        let prefix = ["", "a picture of ", "a photo of "]
            .choose(rng)
            .expect("prefixes");
        sentence(&format!(
            "{prefix}{}",
            join_phrases(rng, &parts, &["and", "next to", "near"])
        ))
    })
}

/// Draws `count` scenes for one split from that split's recordings.
pub fn draw_scenes(
    rng: &mut ChaCha8Rng,
    split: Split,
    first_index: usize,
    count: usize,
    recordings: &[&Recording],
    backgrounds: &[String],
    book: &phrases::Phrasebook,
) -> Vec<Scene> {
    let mut by_class: BTreeMap<&str, Vec<&Recording>> = BTreeMap::new();
    for r in recordings {
        by_class.entry(r.class).or_default().push(r);
    }
    let classes: Vec<&str> = by_class.keys().copied().collect();
    (0..count)
        .map(|k| {
            let silent_scene = classes.is_empty() || rng.random_bool(0.1);
            let n = if silent_scene {
                0
            } else {
                rng.random_range(1..=3.min(classes.len()))
            };
            let mut chosen = classes.clone();
            chosen.shuffle(rng);
            let mut sources: Vec<Placed> = chosen[..n]
                .iter()
                .map(|class| {
                    let recording = by_class[class]
                        .choose(rng)
                        .expect("classes have recordings");
                    let role = match rng.random_range(0..10) {
                        0..6 => Role::SeenAndHeard,
                        6..8 => Role::SeenSilent,
                        _ => Role::HeardOffscreen,
                    };
                    Placed {
                        recording: recording.id.clone(),
                        class: recording.class,
                        role,
                        onset: rng.random_range(0.0..SCENE_SECONDS * 0.6),
                        level_db: rng.random_range(-28.0..-16.0),
                    }
                })
                .collect();
            // A scene of only silent sources is a silent scene: say so by its background.
            if !sources.is_empty()
                && !sources.iter().any(|s| s.role.heard())
                && rng.random_bool(0.5)
            {
                sources[0].role = Role::SeenAndHeard;
            }
            let quiet = !sources.iter().any(|s| s.role.heard());
            let background = backgrounds.choose(rng).expect("backgrounds").clone();
            // A quiet scene stays under the runtime's default gate (-50 dBFS) everywhere.
            let background_db = if quiet {
                rng.random_range(-72.0..-64.0)
            } else {
                rng.random_range(-48.0..-36.0)
            };
            let audio_captions = audio_captions(rng, book, &sources, 3);
            let visual_captions = visual_captions(rng, &sources, 3);
            Scene {
                id: format!("scene_{:05}", first_index + k),
                split,
                sources,
                background,
                background_db,
                audio_captions,
                visual_captions,
            }
        })
        .collect()
}

/// `count` scenes that are only pictures, for the captioner: one to three sources of any of
/// [`CLASSES`], all seen, over the settings of `backgrounds`, with visual captions and no
/// recordings or audio captions. A pretrained captioner has seen pictures of every class, also
/// of those whose few recordings the world keeps for val or test (bird and cow in the mini
/// world): these scenes give the stage 0 captioner that knowledge. Ids are `picture_NNNNN`.
pub fn picture_scenes(seed: u64, count: usize, backgrounds: &[String]) -> Vec<Scene> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7069_6374_7572_6573);
    (0..count)
        .map(|k| {
            let n = rng.random_range(1..=3);
            let sources: Vec<Placed> = CLASSES
                .choose_multiple(&mut rng, n)
                .map(|class| Placed {
                    recording: String::new(),
                    class: class.name,
                    role: Role::SeenSilent,
                    onset: 0.0,
                    level_db: f32::NEG_INFINITY,
                })
                .collect();
            let background = backgrounds.choose(&mut rng).cloned().unwrap_or_default();
            let visual_captions = visual_captions(&mut rng, &sources, 3);
            Scene {
                id: format!("picture_{k:05}"),
                split: Split::Train,
                sources,
                background,
                background_db: f32::NEG_INFINITY,
                audio_captions: Vec::new(),
                visual_captions,
            }
        })
        .collect()
}

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

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a from `start`: a hash that is the same on every platform and run.
fn fnv1a(start: u64, id: &str) -> u64 {
    id.bytes()
        .fold(start, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn hash_id(id: &str) -> u64 {
    fnv1a(FNV_OFFSET, id)
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
    /// Catalogs the sources directory (without the ESC-10 recordings of `held_out_fold`),
    /// mines its caption corpora when present, and renders the speech variants into
    /// `speech_dir` when espeak-ng is installed.
    pub fn open(
        sources: &Path,
        seed: u64,
        held_out_fold: Option<u32>,
        speech_dir: &Path,
    ) -> Result<World> {
        let speech_dir = if speech::available() {
            std::fs::create_dir_all(speech_dir)
                .with_context(|| format!("creating {}", speech_dir.display()))?;
            Some(speech_dir)
        } else {
            log::warn!("espeak-ng is not installed: the world has no speech");
            None
        };
        let (recordings, backgrounds) = catalog(sources, 8, speech_dir, held_out_fold)?;
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
            phrases::Phrasebook::mine(&crate::vocab::read_captions(&corpora)?, 6, 3)
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
                .filter(|r| split_of(self.seed, &r.id) == split)
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
    let world = World::open(sources, seed, shape.held_out_fold, &out.join("speech"))?;
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
            crate::metrics::tokenize(c)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_unique_to_their_class() {
        for c in CLASSES {
            for phrase in c.heard.iter().chain(c.seen) {
                let tokens = format!(" {} ", crate::metrics::tokenize(phrase));
                assert!(
                    c.names.iter().any(|n| tokens.contains(&format!(" {n} "))),
                    "{}: {phrase:?} does not name it",
                    c.name
                );
                for other in CLASSES.iter().filter(|o| o.name != c.name) {
                    for n in other.names {
                        assert!(
                            !tokens.contains(&format!(" {n} ")),
                            "{}: {phrase:?} names {}",
                            c.name,
                            other.name
                        );
                    }
                }
            }
        }
        for s in synth::CLASSES {
            assert!(class_named(s).is_some(), "{s}");
        }
    }

    #[test]
    fn every_esc10_label_is_a_class() {
        for label in [
            "Baby_cry",
            "Chainsaw",
            "Clock_tick",
            "Dog_bark",
            "Fire_crackling",
            "Helicopter",
            "Person_sneeze",
            "Rain",
            "Rooster",
            "Sea_waves",
        ] {
            assert!(class_of_esc_label(label).is_some(), "{label}");
        }
    }

    #[test]
    fn titles_map_to_classes_and_comic_effects_are_skipped() {
        assert_eq!(class_of_name("Modern car horn"), Some("car_horn"));
        assert_eq!(
            class_of_name("memory_sound/LRBark_1_LA_cut.ogg"),
            Some("dog_bark")
        );
        assert_eq!(class_of_name("Toyland: Comedy bus start (1)"), None);
        assert_eq!(class_of_name("Train/ship breakdown"), None);
        assert_eq!(class_of_name("Cash till"), None);
    }

    #[test]
    fn picture_scenes_show_every_class_and_say_what_they_show() {
        let backgrounds = vec!["dawn.ogg".to_string(), "street.wav".to_string()];
        let scenes = picture_scenes(5, 400, &backgrounds);
        assert_eq!(scenes.len(), 400);
        let shown: std::collections::BTreeSet<&str> = scenes
            .iter()
            .flat_map(|s| s.sources.iter().map(|p| p.class))
            .collect();
        assert_eq!(shown.len(), CLASSES.len(), "{shown:?}");
        for scene in &scenes {
            assert!((1..=3).contains(&scene.sources.len()), "{scene:?}");
            assert!(backgrounds.contains(&scene.background));
            assert!(scene.audio_captions.is_empty());
            assert!(!scene.visual_captions.is_empty());
            for caption in &scene.visual_captions {
                let tokens = format!(" {} ", crate::metrics::tokenize(caption));
                for placed in &scene.sources {
                    let class = class_named(placed.class).unwrap();
                    assert!(
                        class
                            .names
                            .iter()
                            .any(|n| tokens.contains(&format!(" {n} "))),
                        "{caption:?} does not name {}",
                        class.name
                    );
                }
            }
        }
        assert_eq!(
            serde_json::to_string(&scenes).unwrap(),
            serde_json::to_string(&picture_scenes(5, 400, &backgrounds)).unwrap()
        );
        assert_eq!(scenes[0].id, "picture_00000");
    }

    #[test]
    fn scenes_read_back_as_written_and_unknown_classes_are_refused() {
        let line = r#"{"id":"scene_00007","split":"val","sources":[{"recording":"esc10/audio/Dog/1.ogg","class":"dog_bark","role":"seen_and_heard","onset":1.5,"level_db":-20.0}],"background":"bg.wav","background_db":-40.0,"audio_captions":["A dog barks"],"visual_captions":["A dog"]}"#;
        let scene: Scene = serde_json::from_str(line).unwrap();
        assert_eq!(scene.sources[0].class, "dog_bark");
        assert_eq!(scene.sources[0].role, Role::SeenAndHeard);
        assert_eq!(serde_json::to_string(&scene).unwrap(), line);
        let err = serde_json::from_str::<Scene>(&line.replace("dog_bark", "dragon"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown class \"dragon\""), "{err}");
    }
}
