//! What a scene is: its sources, each with its part in the scene (seen, heard or both), onset
//! and level, its background and its captions; and how a scenes file holds them.

use serde::{Deserialize, Serialize};

use super::classes::{class_named, CLASSES};
use crate::data::Split;

/// Sample rate and length of every scene.
pub const RATE: u32 = 16_000;
pub const SCENE_SECONDS: f32 = 10.0;

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

#[cfg(test)]
mod tests {
    use super::*;

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
