//! Finding source recordings: the recordings of a sources directory by class (ESC-10 and
//! UrbanSound8K by label, OpenSFX by title, GCompris by file name; comic effects skipped), the
//! synthesized and spoken variants, the background soundscapes, and the split each recording
//! belongs to.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::classes::class_of_esc_label;
use super::{speech, synth};
use crate::data::Split;

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
    /// For clips cut from one longer recording (UrbanSound8K's, by Freesound id), what they
    /// share: they fall in one split, so no scene of the test split hears a recording that
    /// training heard. `None`: the id alone decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Recording {
    /// The recording's split in a world of `seed` ([`split_of`] its group, else its id).
    pub fn split(&self, seed: u64) -> Split {
        split_of(seed, self.group.as_deref().unwrap_or(&self.id))
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
/// `sources`. ESC-10 recordings of `held_out_fold` are left out; of UrbanSound8K, only the
/// clips of `urbansound8k_folds` are taken.
pub fn catalog(
    sources: &Path,
    synth_variants: u64,
    speech_dir: Option<&Path>,
    held_out_fold: Option<u32>,
    urbansound8k_folds: &[u32],
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
                    group: None,
                });
            }
        }
    }
    if !urbansound8k_folds.is_empty() {
        recordings.extend(urbansound8k(sources, urbansound8k_folds)?);
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
                        group: None,
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
                    group: None,
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
                group: None,
            });
        }
    }
    if let Some(dir) = speech_dir {
        for variant in 0..speech::VARIANTS {
            recordings.push(Recording {
                id: format!("speech/{variant}"),
                class: "speech",
                sound: Sound::File(speech::render(variant, dir)?),
                group: None,
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

/// The UrbanSound8K clips of `folds` (`urbansound8k/metadata.csv`: `path,label,fold,
/// freesound_id`), grouped by the Freesound recording they were cut from.
fn urbansound8k(sources: &Path, folds: &[u32]) -> Result<Vec<Recording>> {
    let metadata = sources.join("urbansound8k/metadata.csv");
    let clips = crate::data::import_urbansound8k(&metadata)?;
    for fold in folds {
        if !clips.iter().any(|c| c.fold == *fold) {
            bail!("{}: no clips in fold {fold}", metadata.display());
        }
    }
    Ok(clips
        .into_iter()
        .filter(|c| folds.contains(&c.fold))
        .filter_map(|c| {
            let class = class_of_esc_label(&c.label)?;
            Some(Recording {
                id: c
                    .audio
                    .strip_prefix(sources)
                    .unwrap_or(&c.audio)
                    .display()
                    .to_string(),
                class,
                sound: Sound::File(c.audio),
                group: Some(format!("freesound/{}", c.freesound_id)),
            })
        })
        .collect())
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

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a from `start`: a hash that is the same on every platform and run.
fn fnv1a(start: u64, id: &str) -> u64 {
    id.bytes()
        .fold(start, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

pub(super) fn hash_id(id: &str) -> u64 {
    fnv1a(FNV_OFFSET, id)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn cuts_of_one_recording_share_a_split() {
        let cut = |id: &str, group: Option<&str>| Recording {
            id: id.into(),
            class: "siren",
            sound: Sound::Synth { variant: 0 },
            group: group.map(String::from),
        };
        let mut apart = 0;
        for seed in 0..50 {
            let (a, b) = (
                cut("urbansound8k/audio/fold2/1-8-0-0.ogg", Some("freesound/1")),
                cut("urbansound8k/audio/fold2/1-8-0-7.ogg", Some("freesound/1")),
            );
            assert_eq!(a.split(seed), b.split(seed), "seed {seed}");
            let (c, d) = (cut(&a.id, None), cut(&b.id, None));
            apart += usize::from(c.split(seed) != d.split(seed));
        }
        // Without the group their ids alone would part them.
        assert!(apart > 0);
    }
}
