//! Drawing scenes: for each, one to three sources from a split's recordings, their roles,
//! onsets and levels, a background and its level, and the captions; or scenes that are only
//! pictures, for the captioner.

use std::collections::BTreeMap;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::captions::{audio_captions, visual_captions};
use super::classes::CLASSES;
use super::phrases;
use super::scene::{Placed, Role, Scene, SCENE_SECONDS};
use super::sources::Recording;
use crate::data::Split;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::classes::class_named;

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
                let tokens = format!(" {} ", crate::text::tokenize(caption));
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
}
