//! The miniature world, generated from the fixture recordings (never from ../shared): the same
//! bytes for a seed, splits disjoint by recording, captions naming only the scene's sources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod common;

use earsight_tools::world::{self, CLASSES};
use serde_json::Value;

fn read_dir_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["", "audio", "images"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                out.insert(
                    format!("{sub}/{}", p.file_name().unwrap().to_string_lossy()),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn scenes(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("scenes.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn shape(scenes: usize) -> world::WorldShape {
    world::WorldShape {
        scenes,
        held_out_fold: None,
        urbansound8k_folds: Vec::new(),
    }
}

fn named_classes(caption: &str) -> BTreeSet<&'static str> {
    let tokens = format!(" {} ", earsight_tools::text::tokenize(caption));
    CLASSES
        .iter()
        .filter(|c| c.names.iter().any(|n| tokens.contains(&format!(" {n} "))))
        .map(|c| c.name)
        .collect()
}

#[test]
fn a_world_is_the_same_bytes_for_a_seed_and_holds_its_promises() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::world_sources(dir.path());
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let stats = world::generate(&src, 7, &shape(24), &a).unwrap();
    world::generate(&src, 7, &shape(24), &b).unwrap();
    world::generate(&src, 8, &shape(24), &c).unwrap();
    let (bytes_a, bytes_b) = (read_dir_bytes(&a), read_dir_bytes(&b));
    assert_eq!(bytes_a.len(), 24 + 24 + 3);
    assert!(bytes_a == bytes_b, "the same seed must give the same bytes");
    assert!(
        bytes_a != read_dir_bytes(&c),
        "another seed gives another world"
    );
    assert_eq!(stats.scenes, 24);
    // The toyland effect and the unmapped whistle are not sources; the three ESC clips are.
    let speech = if world::speech::available() {
        world::speech::VARIANTS as usize
    } else {
        0
    };
    assert_eq!(
        stats.recordings,
        3 + 8 * world::synth::CLASSES.len() + speech
    );
    assert!(
        world::generate(&src, 7, &shape(24), &a).is_err(),
        "an existing world is not replaced"
    );

    let scenes = scenes(&a);
    let mut split_of: BTreeMap<String, String> = BTreeMap::new();
    // Mined phrasings replace the written ones: the corpus says "the rooster is crowing" and
    // "the rain is falling" (three times each), never "a rooster crows" or "heavy rain pours
    // down".
    let said: Vec<String> = scenes
        .iter()
        .flat_map(|s| s["audio_captions"].as_array().unwrap())
        .map(|c| c.as_str().unwrap().to_lowercase())
        .collect();
    let mined = said
        .iter()
        .filter(|c| c.contains("the rooster is crowing") || c.contains("the rain is falling"))
        .count();
    assert!(mined > 0, "seed 7 has scenes with a heard rooster or rain");
    for written in [
        "a rooster crows",
        "a rooster is crowing",
        "rain falls",
        "heavy rain",
        "laughs",
    ] {
        assert!(
            !said.iter().any(|c| c.contains(written)),
            "{written:?} is said"
        );
    }
    for scene in &scenes {
        let split = scene["split"].as_str().unwrap().to_string();
        let (mut heard, mut seen) = (BTreeSet::new(), BTreeSet::new());
        for s in scene["sources"].as_array().unwrap() {
            let rec = s["recording"].as_str().unwrap().to_string();
            let previous = split_of.insert(rec.clone(), split.clone());
            assert!(
                previous.is_none_or(|p| p == split),
                "{rec} is in two splits"
            );
            let class = CLASSES.iter().find(|c| c.name == s["class"]).unwrap().name;
            match s["role"].as_str().unwrap() {
                "seen_and_heard" => {
                    heard.insert(class);
                    seen.insert(class);
                }
                "seen_silent" => {
                    seen.insert(class);
                }
                "heard_offscreen" => {
                    heard.insert(class);
                }
                other => panic!("role {other}"),
            }
        }
        for caption in scene["audio_captions"].as_array().unwrap() {
            assert_eq!(named_classes(caption.as_str().unwrap()), heard, "{scene}");
        }
        for caption in scene["visual_captions"].as_array().unwrap() {
            assert_eq!(named_classes(caption.as_str().unwrap()), seen, "{scene}");
        }
    }

    let manifest = earsight_tools::data::Manifest::read(&a.join("manifest.jsonl"), None).unwrap();
    assert_eq!(manifest.clips.len(), 24);
    for (clip, scene) in manifest.clips.iter().zip(&scenes) {
        let audio = earsight::audio::read_all(&clip.audio, world::RATE).unwrap();
        assert_eq!(
            audio.len(),
            (world::SCENE_SECONDS * world::RATE as f32) as usize
        );
        let loudest = audio
            .chunks(world::RATE as usize / 10)
            .map(|b| 10.0 * (b.iter().map(|x| x * x).sum::<f32>() / b.len() as f32).log10())
            .fold(f32::NEG_INFINITY, f32::max);
        if clip.labels == ["silence"] {
            assert!(
                loudest < -50.0,
                "{}: a silent scene peaks at {loudest} dBFS",
                clip.id
            );
        } else {
            assert!(
                loudest > -30.0,
                "{}: a sounding scene peaks at {loudest} dBFS",
                clip.id
            );
        }
        assert_eq!(
            clip.captions.len(),
            scene["audio_captions"].as_array().unwrap().len()
        );
        assert!(clip.frames[0].ends_with(format!("images/{}.png", clip.id)));
    }
}

#[test]
fn urbansound8k_joins_the_world_only_by_the_folds_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::world_sources(dir.path());
    let plain = world::generate(&src, 7, &shape(24), &dir.path().join("plain")).unwrap();
    let with = world::WorldShape {
        urbansound8k_folds: vec![2],
        ..shape(24)
    };
    let out = dir.path().join("with");
    let stats = world::generate(&src, 7, &with, &out).unwrap();
    // Fold 2's three clips join; fold 1's siren does not.
    assert_eq!(stats.recordings, plain.recordings + 3);
    assert_eq!(stats.recordings_per_class.get("siren"), Some(&1));
    assert_eq!(
        stats.recordings_per_class["dog_bark"],
        plain.recordings_per_class["dog_bark"] + 2
    );
    let used: Vec<String> = scenes(&out)
        .iter()
        .flat_map(|s| s["sources"].as_array().unwrap().clone())
        .map(|s| s["recording"].as_str().unwrap().to_string())
        .collect();
    assert!(!used.iter().any(|r| r.contains("fold1")), "{used:?}");
    // The shape says what was taken; a world made without it says nothing new.
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(
        written["shape"]["urbansound8k_folds"],
        serde_json::json!([2])
    );
    let plain: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("plain/stats.json")).unwrap(),
    )
    .unwrap();
    assert!(plain["shape"].get("urbansound8k_folds").is_none());
    // A fold the metadata does not have is named.
    let missing = world::WorldShape {
        urbansound8k_folds: vec![5],
        ..shape(4)
    };
    let err = world::generate(&src, 7, &missing, &dir.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("urbansound8k/metadata.csv: no clips in fold 5"),
        "{err}"
    );
}
