//! The teacher in the tools (`--teacher DIR`).
//!
//! On any machine: a tiny random teacher the tools write, loaded through the same path (its
//! shapes, determinism, its errors, the `teacher` commands), and the teacher's frontend on
//! tones decoded from files. In CI only (`-- --include-ignored`, with ../shared beside the
//! checkout and the Python oracles): EfficientAT mn04 against its numpy frontend and
//! onnxruntime on real clips, and its zero-shot accuracy on ESC-10 fold 4.

mod common;

use std::path::{Path, PathBuf};

use common::{
    argv, assert_contains, assert_failed, repo, run_python, shared, tools, tools_fails, tools_ok,
    write_label_map, write_npy, write_wav, Pcm,
};
use earsight_tools::teacher::frontend::{EfficientAtMel, N_MELS, SAMPLE_RATE};
use earsight_tools::teacher::tiny::{self, TinyShape};
use earsight_tools::teacher::zero_shot::{self, LabelMap};
use earsight_tools::teacher::Teacher;

/// Largest difference allowed between the Rust teacher and numpy + onnxruntime.
const TOLERANCE: f64 = 1e-4;

fn tiny_teacher(dir: &Path, seed: u64) -> PathBuf {
    tiny::write(
        &dir.join(format!("teacher-{seed}")),
        TinyShape::default(),
        seed,
    )
    .unwrap()
}

fn tone(hz: f32, rate: u32, seconds: f32) -> Vec<f32> {
    (0..(rate as f32 * seconds) as usize)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
        .collect()
}

/// A 16-bit WAV of [`tone`].
fn write_tone(path: &Path, hz: f32, rate: u32, seconds: f32) {
    write_wav(path, rate, 1, Pcm::I16, tone(hz, rate, seconds));
}

/// Loading the teacher in `dir` fails with an error that says each of `wanted`.
#[track_caller]
fn assert_refused(dir: &Path, wanted: &[&str]) {
    match Teacher::load(dir) {
        Ok(_) => panic!("the teacher in {} loaded", dir.display()),
        Err(e) => assert_contains(&format!("{e:#}"), wanted),
    }
}

#[test]
fn a_tiny_teacher_loads_and_answers_in_shape_and_deterministically() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_teacher(tmp.path(), 1);
    let teacher = Teacher::load(&dir).unwrap();
    // Distillation asks one teacher for targets from several threads.
    fn shared_by_threads<T: Send + Sync>(_: &T) {}
    shared_by_threads(&teacher);
    let shape = TinyShape::default();
    assert_eq!(teacher.classes().len(), shape.classes);
    assert_eq!(teacher.classes()[3].display_name, "tiny class 3");
    assert_eq!(teacher.embedding_dim(), shape.embedding);
    assert_eq!(teacher.sample_rate(), 32_000);
    // Any length: the graph's time axis is symbolic.
    for seconds in [0.05, 1.0, 5.0] {
        let clip = tone(700.0, SAMPLE_RATE, seconds);
        let out = teacher.clip(&clip).unwrap();
        assert_eq!(out.scores.len(), shape.classes);
        assert_eq!(out.logits.len(), shape.classes);
        assert_eq!(out.embedding.len(), shape.embedding);
        for (s, l) in out.scores.iter().zip(&out.logits) {
            assert!(
                (s - 1.0 / (1.0 + (-l).exp())).abs() < 1e-6,
                "scores are sigmoid(logits)"
            );
        }
        let again = teacher.clip(&clip).unwrap();
        assert_eq!(out.scores, again.scores);
        assert_eq!(out.embedding, again.embedding);
    }
    // The same seed writes the same teacher; another seed another one; another sound gets
    // another answer.
    let clip = tone(700.0, SAMPLE_RATE, 1.0);
    let twin = Teacher::load(&tiny::write(&tmp.path().join("twin"), shape, 1).unwrap()).unwrap();
    let other = Teacher::load(&tiny_teacher(tmp.path(), 2)).unwrap();
    let scores = teacher.clip(&clip).unwrap().scores;
    assert_eq!(twin.clip(&clip).unwrap().scores, scores);
    assert_ne!(other.clip(&clip).unwrap().scores, scores);
    let high = teacher.clip(&tone(6000.0, SAMPLE_RATE, 1.0)).unwrap();
    assert_ne!(high.scores, scores);
    // Features are [128][T], T one per hop.
    let f = teacher.features(&clip).unwrap();
    assert_eq!(f.frames, 1 + (clip.len() - 1) / 320);
    assert_eq!(f.mel.len(), N_MELS * f.frames);
    assert!(
        teacher.clip(&[0.5]).is_err(),
        "a one-sample clip has no frame"
    );
}

#[test]
fn a_tone_read_from_a_file_lands_in_its_mel_band_at_the_teachers_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let teacher = Teacher::load(&tiny_teacher(tmp.path(), 1)).unwrap();
    for (band, rate) in [(30, 44_100), (70, 16_000), (110, 48_000)] {
        let hz = EfficientAtMel::band_centre_hz(band) as f32;
        let path = tmp.path().join(format!("tone-{band}.wav"));
        write_tone(&path, hz, rate, 1.5);
        let samples = teacher.read_audio(&path).unwrap();
        let expected = (1.5 * SAMPLE_RATE as f32) as usize;
        assert!(
            samples.len().abs_diff(expected) <= 1,
            "{} samples",
            samples.len()
        );
        let f = teacher.features(&samples).unwrap();
        let t = f.frames / 2;
        let loudest = (0..N_MELS)
            .max_by(|&a, &b| f.mel[a * f.frames + t].total_cmp(&f.mel[b * f.frames + t]))
            .unwrap();
        assert_eq!(loudest, band, "{hz:.0} Hz read at {rate} Hz");
        // Far from the tone the bands are near the silent floor.
        let far = f.mel[(band / 4) * f.frames + t];
        assert!(
            far < f.mel[band * f.frames + t] - 1.0,
            "band {} at {far}",
            band / 4
        );
    }
}

#[test]
fn bad_teacher_directories_are_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere");
    assert_refused(&missing, &["nowhere", "no such teacher directory"]);

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_refused(&empty, &["empty", "no graph"]);

    let dir = tiny_teacher(tmp.path(), 1);
    std::fs::copy(dir.join(tiny::GRAPH_FILE), dir.join("second.onnx")).unwrap();
    assert_refused(&dir, &["several graphs", "second.onnx"]);

    let garbage = tmp.path().join("garbage");
    std::fs::create_dir(&garbage).unwrap();
    std::fs::copy(dir.join(tiny::CLASSES_FILE), garbage.join("classes.csv")).unwrap();
    std::fs::write(garbage.join("model.onnx"), b"not a graph").unwrap();
    assert_refused(&garbage, &["model.onnx", "cannot load"]);

    // A class list that does not fit the graph.
    let short = tiny_teacher(tmp.path(), 3);
    std::fs::write(
        short.join(tiny::CLASSES_FILE),
        "index,mid,display_name\n0,/a,A\n",
    )
    .unwrap();
    assert_refused(&short, &["12 scores", "1 classes"]);
    std::fs::write(short.join(tiny::CLASSES_FILE), "name\nA\n").unwrap();
    assert_refused(&short, &[tiny::CLASSES_FILE, "index,mid,display_name"]);
}

#[test]
fn a_graph_without_a_teachers_interface_is_refused_with_what_it_takes() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    common::export(
        &common::weights("tiny.json", 1),
        earsight::bundle::Quantization::F32,
        1,
        &bundle,
    );
    let dir = tmp.path().join("not-a-teacher");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(bundle.join("encoder.onnx"), dir.join("encoder.onnx")).unwrap();
    std::fs::write(dir.join("classes.csv"), "index,mid,display_name\n0,/a,A\n").unwrap();
    assert_refused(&dir, &["encoder.onnx", "`mel` [1, 1, 128, T]"]);
}

/// The seed-1 tiny teacher and `tone.wav`, a second of 440 Hz at 44.1 kHz, in `tmp`.
fn teacher_and_tone(tmp: &Path) -> (PathBuf, PathBuf) {
    let tone = tmp.join("tone.wav");
    write_tone(&tone, 440.0, 44_100, 1.0);
    (tiny_teacher(tmp, 1), tone)
}

#[test]
fn teacher_tag_prints_top_classes_and_a_bad_file_does_not_end_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, good) = teacher_and_tone(tmp.path());
    let bad = tmp.path().join("bad.wav");
    std::fs::write(&bad, b"not audio").unwrap();

    let text = tools_ok(&argv("teacher tag --teacher {} --top 3 {}", &[&dir, &good]));
    let first = format!("{}: tiny class ", good.display());
    assert!(text.starts_with(&first), "{text}");
    assert_eq!(text.matches("tiny class").count(), 3, "{text}");

    // A bad file makes the run fail.
    let out = tools(&argv(
        "teacher tag --teacher {} --json {} {}",
        &[&dir, &bad, &good],
    ));
    assert_failed(&out, &["bad.wav", "1 of 2 files"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "the good file is still tagged: {stdout}");
    let top = lines[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    let scores: Vec<f64> = top.iter().map(|t| t["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(top[0]["name"].as_str().unwrap().starts_with("tiny class"));

    let args = argv("teacher tag --teacher no-such-teacher {}", &[&good]);
    tools_fails(&args, &["no-such-teacher"]);
}

#[test]
fn teacher_tag_with_tags_names_the_projects_labels_by_their_best_class() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, good) = teacher_and_tone(tmp.path());
    let map = tmp.path().join("tags.json");
    write_label_map(&map, &[("low", 0..4), ("mid", 4..8), ("high", 8..12)]);
    let tag = "teacher tag --teacher {} --tags {} --json {}";
    let text = tools_ok(&argv(tag, &[&dir, &map, &good]));
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let tags = line["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 3, "{text}");
    // Each tag's score is the best of its classes' scores.
    let teacher = Teacher::load(&dir).unwrap();
    let scores = teacher.file(&good).unwrap().scores;
    for tag in tags {
        let i = ["low", "mid", "high"]
            .iter()
            .position(|l| tag["label"] == *l)
            .unwrap();
        let best = scores[4 * i..4 * i + 4]
            .iter()
            .copied()
            .fold(f32::MIN, f32::max);
        assert!(
            (tag["score"].as_f64().unwrap() - best as f64).abs() < 1e-6,
            "{tag}"
        );
    }
    let scores: Vec<f64> = tags.iter().map(|t| t["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // The project's own tag set is for a teacher of 527 classes, not this one.
    let shipped = repo().join("tools/configs/tags.json");
    tools_fails(&argv(tag, &[&dir, &shipped, &good]), &["--tags", "527"]);
}

#[test]
fn the_projects_tag_set_covers_esc10s_teacher_classes_once_each() {
    let tags = LabelMap::read(&repo().join("tools/configs/tags.json")).unwrap();
    assert!(
        (50..=150).contains(&tags.labels.len()),
        "{} tags",
        tags.labels.len()
    );
    let esc10 = LabelMap::read(&repo().join("tools/configs/esc10-audioset.json")).unwrap();
    // Every teacher class that stands for an ESC-10 label stands for a tag.
    for label in &esc10.labels {
        for class in &label.classes {
            assert!(
                tags.labels.iter().any(|t| t.classes.contains(class)),
                "class {class} of ESC-10's {} is in no tag",
                label.label
            );
        }
    }
    // No teacher class stands for two tags, so that a sound gives one name.
    let mut seen = std::collections::HashMap::new();
    for tag in &tags.labels {
        for class in &tag.classes {
            if let Some(other) = seen.insert(class, &tag.label) {
                panic!("class {class} is in both {other:?} and {:?}", tag.label);
            }
        }
    }
}

#[test]
fn nearly_every_tag_has_words_the_tokenizer_spells_and_every_world_class_name_is_one() {
    let tags = LabelMap::read(&repo().join("tools/configs/tags.json")).unwrap();
    let tokenizer =
        tokenizers::Tokenizer::from_file(repo().join("models/tokenizer/tokenizer.json")).unwrap();
    let unk = tokenizer.token_to_id("[UNK]").unwrap();
    // A few sounds have no name in the world's captions (a blender, a toothbrush): they steer
    // nothing.
    let worded = tags.labels.iter().filter(|t| !t.words.is_empty()).count();
    assert!(
        worded * 10 >= tags.labels.len() * 9,
        "{worded} tags have words"
    );
    for tag in &tags.labels {
        for word in &tag.words {
            let ids = tokenizer.encode(word.as_str(), false).unwrap();
            assert!(
                !ids.get_ids().is_empty() && !ids.get_ids().contains(&unk),
                "{:?}: the tokenizer cannot spell {word:?}",
                tag.label
            );
        }
    }
    // Every name evaluation reads a world class by is some tag's word, so that a veto can
    // keep any class out of a caption.
    for class in earsight_tools::world::classes::CLASSES {
        for name in class.names {
            assert!(
                tags.labels
                    .iter()
                    .any(|t| t.words.iter().any(|w| w == name)),
                "{}: its name {name:?} is no tag's word",
                class.name
            );
        }
    }
}

/// A manifest of the samples as validation clips, and one with only silence in it.
fn sample_manifests(dir: &Path) -> (PathBuf, PathBuf) {
    let line = |file: &str, label: &str| {
        serde_json::json!({
            "id": file,
            "audio": repo().join("models/samples").join(file),
            "labels": [label],
            "split": "val",
        })
        .to_string()
    };
    let clips = [
        line("dog.ogg", "dog_bark"),
        line("rain.ogg", "rain"),
        line("cat.ogg", "cat"),
    ];
    let samples = dir.join("val.jsonl");
    std::fs::write(&samples, clips.join("\n") + "\n").unwrap();
    let silent = dir.join("silent.jsonl");
    std::fs::write(&silent, line("dog.ogg", "silence") + "\n").unwrap();
    (samples, silent)
}

#[test]
fn teacher_guide_writes_the_tag_sets_words_typical_scores_and_weight_into_a_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let (samples, _) = sample_manifests(tmp.path());
    let mini = repo().join("models/mini");
    let out = tmp.path().join("guided");
    let card = tmp.path().join("card.md");
    std::fs::write(&card, "Measured: nothing yet.\n").unwrap();
    let guide = "teacher guide --bundle {} --data {} --tag-guidance 1.5 --card {} --out {}";
    tools_ok(&argv(guide, &[&mini, &samples, &card, &out]));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format_version"], earsight::bundle::FORMAT_VERSION);
    assert_eq!(manifest["decoding"]["tag_guidance"], 1.5);
    let tag_set = LabelMap::read(&repo().join("tools/configs/tags.json")).unwrap();
    let tags = manifest["tagger"]["tags"].as_array().unwrap();
    assert_eq!(tags.len(), tag_set.labels.len());
    for (tag, mapped) in tags.iter().zip(&tag_set.labels) {
        let words: Vec<String> = match &tag["words"] {
            serde_json::Value::Null => Vec::new(),
            words => serde_json::from_value(words.clone()).unwrap(),
        };
        assert_eq!(words, mapped.words, "{tag}");
        let typical = tag["typical_score"].as_f64().unwrap();
        assert!((1e-4..=1.0).contains(&typical), "{tag}");
    }
    // Three clips, one of them dogs barking: the dog's typical score is far above the floor.
    let dog = tags.iter().find(|t| t["label"] == "dog barking").unwrap();
    assert!(dog["typical_score"].as_f64().unwrap() > 0.01, "{dog}");
    let written = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    assert_contains(
        &written,
        &[
            "## Tag guidance",
            "`decoding.tag_guidance` = 1.5",
            "over 3 validation recordings",
            "Measured: nothing yet.",
        ],
    );
    // The graphs are the bundle's own, byte for byte.
    for graph in ["encoder.onnx", "decoder.onnx", "tagger.onnx"] {
        assert_eq!(
            std::fs::read(out.join(graph)).unwrap(),
            std::fs::read(mini.join(graph)).unwrap(),
            "{graph}"
        );
    }
    assert!(!written.contains("tag_veto"), "no veto was asked for");
    assert!(manifest["decoding"].get("tag_veto").is_none());
    // Guided again, with a veto, the card keeps one section on it.
    let again = tmp.path().join("again");
    tools_ok(&argv(
        "teacher guide --bundle {} --data {} --tag-guidance 0.5 --tag-veto 0.1 --out {}",
        &[&out, &samples, &again],
    ));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(again.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["decoding"]["tag_guidance"], 0.5);
    assert!((manifest["decoding"]["tag_veto"].as_f64().unwrap() - 0.1).abs() < 1e-6);
    let twice = std::fs::read_to_string(again.join("MODEL_CARD.md")).unwrap();
    assert_eq!(twice.matches("## Tag guidance").count(), 1);
    assert!(!twice.contains("Measured: nothing yet."));
    assert_contains(&twice, &["below 0.1 times the window's best tag score"]);
    // A veto alone still has its section.
    let vetoed = tmp.path().join("vetoed");
    tools_ok(&argv(
        "teacher guide --bundle {} --data {} --tag-guidance 0 --tag-veto 0.3 --out {}",
        &[&out, &samples, &vetoed],
    ));
    let card = std::fs::read_to_string(vetoed.join("MODEL_CARD.md")).unwrap();
    assert_contains(
        &card,
        &[
            "`decoding.tag_guidance` = 0",
            "below 0.3 times the window's best tag score",
        ],
    );
}

#[test]
fn teacher_guide_refuses_what_it_cannot_steer_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (samples, silent) = sample_manifests(tmp.path());
    let mini = repo().join("models/mini");
    let out = tmp.path().join("out");
    let guide = "teacher guide --bundle {} --data {} --tag-guidance {} --out {}";
    tools_fails(
        &argv(guide, &[&mini, &samples, &"11", &out]),
        &["--tag-guidance", "from 0 to 10"],
    );
    tools_fails(
        &argv(
            "teacher guide --bundle {} --data {} --tag-guidance 1 --tag-veto 1.5 --out {}",
            &[&mini, &samples, &out],
        ),
        &["--tag-veto", "from 0 to 1"],
    );
    tools_fails(
        &argv(guide, &[&mini, &silent, &"1", &out]),
        &["silent.jsonl", "no clips with sound in the Val split"],
    );
    // A bundle without a tagger.
    let untagged = repo().join("tests/fixtures/tiny-bundle");
    tools_fails(
        &argv(guide, &[&untagged, &samples, &"1", &out]),
        &["has no tagger to guide its captions"],
    );
    // A tag set that is not the tagger's.
    let other = tmp.path().join("tags.json");
    write_label_map(&other, &[("dog", 0..1)]);
    tools_fails(
        &argv(
            "teacher guide --bundle {} --data {} --tag-guidance 1 --tags {} --out {}",
            &[&mini, &samples, &other, &out],
        ),
        &["its tagger's tags are not the tag set's"],
    );
    assert!(!out.exists());
}

/// Copies a bundle's captioner files (not its manifest or tagger) into `to`.
fn copy_captioner(from: &Path, to: &Path) {
    for file in [
        "encoder.onnx",
        "decoder.onnx",
        "tokenizer.json",
        "MODEL_CARD.md",
    ] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

/// A copy of `models/mini` without its tagger (and so without tag guidance).
fn untagged_mini(dir: &Path) -> PathBuf {
    let mini = repo().join("models/mini");
    let out = dir.join("untagged");
    std::fs::create_dir(&out).unwrap();
    copy_captioner(&mini, &out);
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mini.join("manifest.json")).unwrap())
            .unwrap();
    let m = manifest.as_object_mut().unwrap();
    m.remove("tagger");
    m["sha256"].as_object_mut().unwrap().remove("tagger.onnx");
    let decoding = m["decoding"].as_object_mut().unwrap();
    decoding.remove("tag_guidance");
    decoding.remove("tag_veto");
    std::fs::write(out.join("manifest.json"), manifest.to_string()).unwrap();
    out
}

#[test]
fn teacher_carry_gives_a_bundle_the_tagger_of_another_without_its_guidance() {
    let tmp = tempfile::tempdir().unwrap();
    let mini = repo().join("models/mini");
    let bare = untagged_mini(tmp.path());
    let out = tmp.path().join("carried");
    tools_ok(&argv(
        "teacher carry --bundle {} --tagger {} --out {}",
        &[&bare, &mini, &out],
    ));
    assert_eq!(
        std::fs::read(out.join("tagger.onnx")).unwrap(),
        std::fs::read(mini.join("tagger.onnx")).unwrap()
    );
    let carried = earsight::bundle::Bundle::open(&out).unwrap();
    let donor = earsight::bundle::Bundle::open(&mini).unwrap();
    let (m, d) = (carried.manifest(), donor.manifest());
    assert_eq!(m.format_version, earsight::bundle::FORMAT_VERSION);
    assert_eq!((m.decoding.tag_guidance, m.decoding.tag_veto), (0.0, 0.0));
    let (ours, theirs) = (m.tagger.as_ref().unwrap(), d.tagger.as_ref().unwrap());
    assert_eq!(
        (ours.frames, &ours.training),
        (theirs.frames, &theirs.training)
    );
    for (a, b) in ours.tags.iter().zip(&theirs.tags) {
        assert_eq!((&a.label, a.threshold), (&b.label, b.threshold));
        assert!(a.words.is_empty() && a.typical_score.is_none(), "{a:?}");
    }
    // The card keeps the donor's section on its tags, not its guidance.
    let card = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    let tags_at = card.find("\n## Tags\n").expect("a section on the tags");
    let donor_card = std::fs::read_to_string(mini.join("MODEL_CARD.md")).unwrap();
    assert!(donor_card.contains(&card[tags_at..]));
    assert_eq!(card.matches("\n## Tags\n").count(), 1);
    assert!(!card.contains("## Tag guidance"));
    // The carried tagger tags as it did in its own bundle.
    let dog = repo().join("models/samples/dog.ogg");
    let mut a = earsight::Captioner::open(&out).unwrap();
    let mut b = earsight::Captioner::open(&mini).unwrap();
    let samples = earsight::audio::read_all(&dog, 16_000).unwrap();
    assert_eq!(
        a.caption_samples(&samples).unwrap().tags,
        b.caption_samples(&samples).unwrap().tags
    );
    // Refused: a donor without a tagger, one that hears another frontend, and --out the bundle
    // read.
    let carry = "teacher carry --bundle {} --tagger {} --out {}";
    let nowhere = tmp.path().join("nowhere");
    tools_fails(
        &argv(carry, &[&mini, &bare, &nowhere]),
        &["has no tagger to carry"],
    );
    let deaf = tmp.path().join("deaf");
    std::fs::create_dir(&deaf).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bare.join("manifest.json")).unwrap())
            .unwrap();
    manifest["model"]["frontend"]["fmax"] = 4000.0.into();
    copy_captioner(&bare, &deaf);
    std::fs::write(deaf.join("manifest.json"), manifest.to_string()).unwrap();
    tools_fails(
        &argv(carry, &[&deaf, &mini, &nowhere]),
        &["its tagger hears through another frontend"],
    );
    tools_fails(
        &argv(carry, &[&out, &mini, &out]),
        &["--out is the bundle read"],
    );
    assert!(!nowhere.exists());
}

/// `models/mini`'s tag labels with `threshold` for `label` and none for the others, as
/// `teacher thresholds` writes them, at the teacher's score 0.3.
fn thresholds_for_mini(label: &str, threshold: f32) -> serde_json::Value {
    let mini = earsight::bundle::Bundle::open(repo().join("models/mini")).unwrap();
    let tags: Vec<serde_json::Value> = mini
        .manifest()
        .tagger
        .as_ref()
        .unwrap()
        .tags
        .iter()
        .map(|t| {
            let on = t.label == label;
            serde_json::json!({
                "label": t.label,
                "threshold": if on { Some(threshold) } else { None },
                "teacher_positives": if on { 12 } else { 0 },
                "precision": if on { 0.9 } else { 0.0 },
                "recall": if on { 0.5 } else { 0.0 },
            })
        })
        .collect();
    serde_json::json!({"teacher_at": 0.3, "precision": 0.9, "mixtures": 40, "tags": tags})
}

#[test]
fn teacher_retune_gives_a_bundles_tagger_other_thresholds_and_keeps_its_graph() {
    let tmp = tempfile::tempdir().unwrap();
    let mini = repo().join("models/mini");
    let dog = repo().join("models/samples/dog.ogg");
    let samples = earsight::audio::read_all(&dog, 16_000).unwrap();
    let tags_of = |bundle: &Path| -> Vec<String> {
        let mut c = earsight::Captioner::open(bundle).unwrap();
        let tags = c.caption_samples(&samples).unwrap().tags;
        tags.into_iter().map(|t| t.label).collect()
    };
    assert_eq!(tags_of(&mini), ["dog barking"]);
    let retune = "teacher retune --bundle {} --thresholds {} --out {}";
    for (threshold, heard) in [(0.5, vec!["dog barking"]), (0.99, vec![])] {
        let thresholds = tmp.path().join(format!("t{threshold}.json"));
        let json = thresholds_for_mini("dog barking", threshold);
        std::fs::write(&thresholds, json.to_string()).unwrap();
        let out = tmp.path().join(format!("retuned{threshold}"));
        tools_ok(&argv(retune, &[&mini, &thresholds, &out]));
        assert_eq!(
            std::fs::read(out.join("tagger.onnx")).unwrap(),
            std::fs::read(mini.join("tagger.onnx")).unwrap()
        );
        let retuned = earsight::bundle::Bundle::open(&out).unwrap();
        let m = retuned.manifest();
        assert_eq!((m.decoding.tag_guidance, m.decoding.tag_veto), (0.0, 0.0));
        let tagger = m.tagger.as_ref().unwrap();
        let with: Vec<&str> = tagger
            .tags
            .iter()
            .filter(|t| t.threshold.is_some())
            .map(|t| t.label.as_str())
            .collect();
        assert_eq!(with, ["dog barking"]);
        assert!(tagger.tags.iter().all(|t| t.words.is_empty()));
        assert!(
            tagger.training.starts_with("a convolutional student")
                && tagger.training.ends_with(
                    "thresholds tuned by `teacher thresholds` for precision 0.9 against the \
                     teacher's score 0.3 on 40 validation mixtures"
                ),
            "{}",
            tagger.training
        );
        let card = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
        assert_eq!(card.matches("\n## Tags\n").count(), 1);
        assert!(card.contains(&format!(
            "| dog barking | {threshold:.3} | 0.900 | 0.500 | 12 |"
        )));
        assert!(!card.contains("## Tag guidance"));
        assert_eq!(tags_of(&out), heard);
    }
    // Refused: thresholds for another tag set, and a bundle without a tagger.
    let mut other = thresholds_for_mini("dog barking", 0.5);
    other["tags"].as_array_mut().unwrap().pop();
    let other_file = tmp.path().join("other.json");
    std::fs::write(&other_file, other.to_string()).unwrap();
    let nowhere = tmp.path().join("nowhere");
    tools_fails(
        &argv(retune, &[&mini, &other_file, &nowhere]),
        &["tagger: the thresholds are not for this tag set (95 tags against 96)"],
    );
    let bare = untagged_mini(tmp.path());
    tools_fails(
        &argv(retune, &[&bare, &tmp.path().join("t0.5.json"), &nowhere]),
        &["has no tagger to tune"],
    );
    assert!(!nowhere.exists());
}

#[test]
fn zero_shot_takes_the_best_mapped_class_and_counts_a_bad_clip_wrong() {
    let map: LabelMap = serde_json::from_value(serde_json::json!({
        "teacher_classes": 12,
        "labels": [
            {"label": "Low", "classes": [0, 1]},
            {"label": "High", "classes": [2]},
        ],
    }))
    .unwrap();
    let mut scores = vec![0.0; 12];
    scores[1] = 0.4;
    scores[2] = 0.3;
    scores[5] = 0.9; // not mapped: ignored
    assert_eq!(map.label_scores(&scores), vec![0.4, 0.3]);
    assert_eq!(map.predict(&scores), 0);
    scores[2] = 0.5;
    assert_eq!(map.predict(&scores), 1);

    // A whole fold through the CLI: the tiny teacher's own best label for each tone is the
    // truth, so every readable clip is right, and the unreadable one is counted wrong.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_teacher(tmp.path(), 1);
    let teacher = Teacher::load(&dir).unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("esc10/audio")).unwrap();
    let map_path = tmp.path().join("map.json");
    write_label_map(&map_path, &[("A", 0..6), ("B", 6..12)]);
    let map = LabelMap::read(&map_path).unwrap();
    let mut metadata = String::from("path,label,fold\n");
    for (i, hz) in [200.0, 900.0, 3000.0, 9000.0].into_iter().enumerate() {
        let rel = format!("audio/tone{i}.wav");
        write_tone(&data.join("esc10").join(&rel), hz, 44_100, 1.0);
        let heard = teacher.file(&data.join("esc10").join(&rel)).unwrap();
        let label = &map.labels[map.predict(&heard.scores)].label;
        metadata.push_str(&format!("{rel},{label},1\n"));
    }
    std::fs::write(data.join("esc10/audio/broken.wav"), b"RIFF").unwrap();
    metadata.push_str("audio/broken.wav,A,1\naudio/tone0.wav,A,2\n");
    std::fs::write(data.join("esc10/metadata.csv"), metadata).unwrap();

    let report = zero_shot::esc_fold(
        &teacher,
        &teacher,
        &map,
        &data.join("esc10/metadata.csv"),
        1,
    )
    .unwrap();
    assert_eq!(report.clips, 5, "fold 2 is left out");
    assert_eq!(report.correct, 4);
    assert_eq!(report.failures.len(), 1);
    assert!(report.failures[0].error.contains("broken.wav"));
    assert!((report.accuracy - 0.8).abs() < 1e-12);

    let args = argv(
        "teacher zero-shot --teacher {} --data {} --fold 1 --map {}",
        &[&dir, &data, &map_path],
    );
    let text = tools_ok(&args);
    assert!(text.contains("4/5 = 0.8000"), "{text}");
    assert!(text.contains("tiny class 0; tiny class 1"), "{text}");
    assert_contains(&text, &["failed: ", "broken.wav"]);
    let json = [&args[..], &["--json".into()]].concat();
    let json: serde_json::Value = serde_json::from_str(&tools_ok(&json)).unwrap();
    assert_eq!(json["predictions"].as_array().unwrap().len(), 5);

    // A map for another teacher is refused before anything runs.
    let esc10 = LabelMap::read(&repo().join("tools/configs/esc10-audioset.json")).unwrap();
    assert_eq!(esc10.labels.len(), 10);
    let e = zero_shot::esc_fold(
        &teacher,
        &teacher,
        &esc10,
        &data.join("esc10/metadata.csv"),
        1,
    )
    .err()
    .unwrap();
    assert!(format!("{e:#}").contains("527 classes"), "{e:#}");
}

// ---- CI: the real teacher in ../shared ----

fn mn04() -> PathBuf {
    shared().join("models/efficientat-mn04")
}

/// Real clips of every kind in ../shared/data: ESC-10 (Vorbis, 44.1 kHz), UrbanSound8K (16
/// kHz), OpenSFX (a 0.06 s WAV and a longer one), GCompris, a 22 kHz soundscape.
const CLIPS: &[&str] = &[
    "esc10/audio/Chainsaw/4-149294-A.ogg",
    "esc10/audio/Clock_tick/4-175945-A.ogg",
    "esc10/audio/Rain/4-160999-A.ogg",
    "esc10/audio/Rooster/4-164021-A.ogg",
    "urbansound8k/audio/fold1/101415-3-0-2.ogg",
    "opensfx/audio/45.wav",
    "opensfx/audio/00.wav",
    "gcompris-sounds/memory_sound/LRBark_1_LA_cut.ogg",
    "gcompris-sounds/misc_effects/canal_lock__door_close.wav",
    "scikit-maad-soundscapes/indices/S4A03895_20190522_000000.wav",
];

#[test]
#[ignore = "ci: needs ../shared and the Python oracles"]
fn mn04_matches_its_numpy_frontend_and_onnxruntime_on_real_clips() {
    let dir = mn04();
    let teacher = Teacher::load(&dir).unwrap();
    let case = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for (i, rel) in CLIPS.iter().enumerate() {
        let path = shared().join("data").join(rel);
        let samples = teacher
            .read_audio(&path)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let features = teacher.features(&samples).unwrap();
        let out = teacher.infer(&features).unwrap();
        let name = format!("clip{i}");
        let at = |what: &str| case.path().join(format!("{name}_{what}.npy"));
        write_npy(&at("samples"), &[samples.len()], &samples);
        write_npy(&at("mel"), &[N_MELS, features.frames], &features.mel);
        write_npy(&at("scores"), &[out.scores.len()], &out.scores);
        write_npy(&at("logits"), &[out.logits.len()], &out.logits);
        write_npy(&at("embedding"), &[out.embedding.len()], &out.embedding);
        names.push(name);
    }
    std::fs::write(
        case.path().join("case.json"),
        serde_json::json!({ "clips": names }).to_string(),
    )
    .unwrap();
    let report = run_teacher_oracle(&dir, case.path());
    let mut worst = [0.0f64; 4];
    for (name, rel) in names.iter().zip(CLIPS) {
        let r = &report[name];
        assert_eq!(r["numpy_frames"], r["rust_frames"], "{rel}: frame count");
        for (k, what) in ["mel", "scores", "logits", "embedding"].iter().enumerate() {
            let d = r[what].as_f64().unwrap();
            assert!(d <= TOLERANCE, "{rel}: {what} differs by {d:e}\n{report:#}");
            worst[k] = worst[k].max(d);
        }
    }
    println!(
        "largest differences over {} clips: log-mel {:.2e}, scores {:.2e}, logits {:.2e}, \
         embedding {:.2e}",
        CLIPS.len(),
        worst[0],
        worst[1],
        worst[2],
        worst[3]
    );
}

#[test]
#[ignore = "ci: needs ../shared and the Python oracles"]
fn mn04_names_esc10_fold_4_zero_shot() {
    let teacher = Teacher::load(&mn04()).unwrap();
    let map = LabelMap::read(&repo().join("tools/configs/esc10-audioset.json")).unwrap();
    let metadata = shared().join("data/esc10/metadata.csv");
    let report = zero_shot::esc_fold(&teacher, &teacher, &map, &metadata, 4).unwrap();
    print!("{}", zero_shot::markdown(&report));
    assert_eq!(report.clips, 80);
    assert!(report.failures.is_empty());
    // onnxruntime with the numpy frontend names 0.975; the runtime's resampler differs from
    // scipy's, so a clip near a tie may go either way.
    assert!(report.accuracy >= 0.95, "accuracy {}", report.accuracy);
}

/// Runs tools/tests/oracle/teacher.py and returns its JSON report.
fn run_teacher_oracle(teacher: &Path, case: &Path) -> serde_json::Value {
    let out = run_python(
        "tools/tests/oracle/teacher.py",
        &[teacher.as_ref(), case.as_ref()],
    );
    assert!(
        out.status.success(),
        "the teacher oracle failed (needs numpy and onnxruntime: `pip install -r \
         tests/oracle/requirements.txt`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the oracle prints JSON")
}
