//! `earsight-tools import` and `eval` as a user runs them, on the runtime's fixture recordings
//! and seeded test bundle (random weights: the numbers are not the point, their bookkeeping is).

use std::path::Path;

mod common;

use common::{argv, repo, tools_fails, tools_ok, write_silence};

/// The captions that speak of a picture: a word "picture", "image" or "photo" (or plural).
fn picture_captions(clips: &[serde_json::Value]) -> usize {
    let words = ["picture", "pictures", "image", "images", "photo", "photos"];
    clips
        .iter()
        .filter(|c| {
            let caption = c["caption"].as_str().unwrap().to_lowercase();
            caption
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| words.contains(&w))
        })
        .count()
}

#[test]
fn a_bundle_is_evaluated_on_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let audio = repo().join("tests/fixtures/audio");
    let silence = d.join("silence.wav");
    write_silence(&silence, 3);
    let line = |id: &str, path: &Path, extra: &str| {
        format!(
            "{{\"id\":\"{id}\",\"audio\":{},\"split\":\"test\"{extra}}}",
            serde_json::to_string(path).unwrap()
        )
    };
    let manifest = d.join("clips.jsonl");
    let lines = [
        line(
            "dog",
            &audio.join("dog_bark.ogg"),
            ",\"labels\":[\"Dog_bark\"],\"captions\":[\"A dog barks\",\"a dog is barking twice\"]",
        ),
        line(
            "rain",
            &audio.join("rain.ogg"),
            ",\"labels\":[\"Rain\"],\"captions\":[\"Rain falls on a roof\"]",
        ),
        line("quiet", &silence, ",\"labels\":[\"silence\"]"),
    ];
    std::fs::write(&manifest, lines.join("\n")).unwrap();
    let bundle = repo().join("tests/fixtures/tiny-bundle");
    let out = d.join("eval");
    let args = argv(
        "eval --model {} --data {} --out {}",
        &[&bundle, &manifest, &out],
    );
    tools_ok(&args);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(report["clips"], 3);
    assert_eq!(report["captions"]["items"], 2);
    assert_eq!(report["labelled_clips"], 2);
    assert_eq!(report["silent_clips"], 1);
    assert_eq!(
        report["false_captions_on_silence"], 0,
        "the gate keeps silence quiet"
    );
    let recall = report["source_recall"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&recall));
    let clips: Vec<serde_json::Value> = std::fs::read_to_string(out.join("clips.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(clips.len(), 3);
    assert!(!clips[0]["caption"].as_str().unwrap().is_empty());
    assert!(clips[0]["scores"]["CIDEr-D"].is_number());
    assert_eq!(clips[2]["gated"], true);
    // Source precision is the clips' right class mentions over all of them.
    let count = |key: &str| clips.iter().map(|c| c[key].as_u64().unwrap()).sum::<u64>();
    let (named, present) = (count("named_classes"), count("named_present"));
    assert!(present <= named);
    match report["source_precision"].as_f64() {
        Some(precision) => assert_eq!(precision, present as f64 / named as f64),
        None => assert_eq!(named, 0, "{report}"),
    }
    assert_eq!(report["picture_captions"], picture_captions(&clips));
    // The shipped model's captions, too.
    let mini = d.join("eval-mini");
    tools_ok(&argv(
        "eval --model {} --data {} --out {}",
        &[&repo().join("models/mini"), &manifest, &mini],
    ));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mini.join("eval.json")).unwrap()).unwrap();
    let clips: Vec<serde_json::Value> = std::fs::read_to_string(mini.join("clips.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(report["picture_captions"], picture_captions(&clips));
    tools_fails(&args, &["exists; pass --force"]);
}

#[test]
fn import_writes_a_checked_manifest_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixtures.jsonl");
    let audio = repo().join("tests/fixtures/audio");
    let args = argv("import folder {} --split test --out {}", &[&audio, &out]);
    assert!(tools_ok(&args).contains("5 clips (5 test)"));
    tools_fails(&args, &["exists; choose a new path"]);
}
