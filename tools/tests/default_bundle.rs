//! The bundle the project ships as the CLI's default model (`models/mini`) and the samples
//! beside it (`models/samples`): it opens, its files are the ones its manifest hashes, it was
//! trained, it tags, the samples' README says what it says and tags about each sample (right or
//! wrong), its captions speak of sounds and never of a picture, and silence gets no caption.

use std::path::{Path, PathBuf};

use earsight::bundle::sha256_file;
use earsight::stream::GateConfig;
use earsight::{Bundle, Caption, Captioner};
use earsight_tools::data::esc_fold;
use earsight_tools::score::eval::{names_source, speaks_of_a_picture};
use earsight_tools::text::tokenize;

mod common;

use common::{repo, write_silence};

fn bundle_dir() -> PathBuf {
    repo().join("models/mini")
}

/// `models/samples/labels.csv`: each sample's file and the source it holds (a world class, or
/// words for one the world lacks).
fn samples() -> Vec<(PathBuf, String)> {
    let dir = repo().join("models/samples");
    let mut reader = csv::Reader::from_path(dir.join("labels.csv")).unwrap();
    let rows: Vec<(PathBuf, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (dir.join(&r[0]), r[1].to_string())
        })
        .collect();
    assert!(
        rows.len() >= 3,
        "a handful of samples ship, found {}",
        rows.len()
    );
    rows
}

fn captions_of(captioner: &mut Captioner, file: &Path) -> Vec<Caption> {
    let mut captions = Vec::new();
    earsight::stream::caption_file(captioner, file, &GateConfig::default(), |c| {
        captions.push(c)
    })
    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    captions
}

#[test]
fn the_default_bundle_is_trained_small_and_its_files_match_their_hashes() {
    let dir = bundle_dir();
    let bundle = Bundle::open(&dir).unwrap();
    let manifest = bundle.manifest();
    assert!(manifest.trained, "the shipped bundle must be a trained one");
    let mut total = 0;
    for (file, expected) in &manifest.sha256 {
        let path = dir.join(file);
        assert_eq!(&sha256_file(&path).unwrap(), expected, "{}", path.display());
        total += std::fs::metadata(&path).unwrap().len();
    }
    assert_eq!(
        manifest.sha256.len(),
        5,
        "encoder, decoder, tokenizer, card, tagger"
    );
    let tagger = manifest.tagger.as_ref().expect("the shipped bundle tags");
    assert!(
        tagger.tags.iter().any(|t| t.threshold.is_some()),
        "some tag is reported"
    );
    assert!(total < 10 << 20, "the bundle is {total} bytes, over 10 MiB");
}

/// The row of a markdown table in `doc` (named `name` in a failure) whose first cell is
/// `first`, split into its cells.
fn table_row<'a>(doc: &'a str, name: &str, first: &str) -> Vec<&'a str> {
    let start = format!("| {first} |");
    let row = doc
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("{name} has no row for {first}"));
    row.trim_matches('|').split(" | ").map(str::trim).collect()
}

#[test]
fn the_samples_readme_says_what_the_default_model_says_about_each() {
    let readme = std::fs::read_to_string(repo().join("models/samples/README.md")).unwrap();
    let mut captioner = Captioner::open(&bundle_dir()).unwrap();
    for (file, label) in samples() {
        let name = file.file_name().unwrap().to_str().unwrap();
        let captions = captions_of(&mut captioner, &file);
        let said: Vec<String> = captions
            .iter()
            .map(|c| format!("\"{}\"", c.caption))
            .collect();
        let tagged: Vec<String> = captions
            .iter()
            .map(|c| {
                let tags: Vec<String> = c
                    .tags
                    .iter()
                    .map(|t| format!("{} {:.2}", t.label, t.score))
                    .collect();
                if tags.is_empty() {
                    "none".into()
                } else {
                    tags.join(", ")
                }
            })
            .collect();
        let names_it = captions
            .iter()
            .any(|c| names_source(&tokenize(&c.caption), &label));
        let row = table_row(&readme, "models/samples/README.md", &format!("`{name}`"));
        let n = row.len();
        assert_eq!(
            row[n - 3],
            said.join(" / "),
            "{name}: the README's caption is not what the default model says today"
        );
        assert_eq!(
            row[n - 2],
            if names_it { "yes" } else { "no" },
            "{name}: does the caption name {label}?"
        );
        assert_eq!(
            row[n - 1],
            tagged.join(" / "),
            "{name}: the README's tags are not what the default model tags today"
        );
    }
}

/// The captions of `files` that speak of a picture ("a picture of ...", "an image of ..."),
/// each with its file: an audio caption describes what is heard (issue 35).
fn picture_captions(files: &[PathBuf]) -> Vec<String> {
    let mut captioner = Captioner::open(&bundle_dir()).unwrap();
    let mut found = Vec::new();
    for file in files {
        for caption in captions_of(&mut captioner, file) {
            if speaks_of_a_picture(&tokenize(&caption.caption)) {
                found.push(format!("{}: \"{}\"", file.display(), caption.caption));
            }
        }
    }
    found
}

#[test]
fn the_samples_captions_speak_of_sounds_not_pictures() {
    let files: Vec<PathBuf> = samples().into_iter().map(|(file, _)| file).collect();
    let found = picture_captions(&files);
    assert!(found.is_empty(), "captions of pictures: {found:#?}");
}

#[test]
#[ignore = "ci: needs ../shared"]
fn the_held_out_real_folds_captions_speak_of_sounds_not_pictures() {
    let metadata = common::shared().join("data/esc10/metadata.csv");
    let files: Vec<PathBuf> = esc_fold(&metadata, 4)
        .unwrap()
        .into_iter()
        .map(|clip| clip.audio)
        .collect();
    assert_eq!(files.len(), 80, "ESC-10 fold 4 has 80 clips");
    let found = picture_captions(&files);
    assert!(found.is_empty(), "captions of pictures: {found:#?}");
}

#[test]
fn silence_gets_no_caption() {
    let dir = tempfile::tempdir().unwrap();
    let silence = dir.path().join("silence.wav");
    write_silence(&silence, 5);
    let mut captioner = Captioner::open(&bundle_dir()).unwrap();
    assert!(captions_of(&mut captioner, &silence).is_empty());
}

#[test]
#[ignore = "ci: needs ../shared"]
fn the_model_cards_tag_measures_are_what_the_bundle_does_on_the_held_out_folds() {
    let card = std::fs::read_to_string(bundle_dir().join("MODEL_CARD.md")).unwrap();
    let data = common::shared().join("data");
    let us8k = [
        "--metadata",
        "urbansound8k/metadata.csv",
        "--map",
        "tools/configs/us8k-audioset.json",
        "--fold",
        "1",
    ];
    for (name, fold) in [
        ("ESC-10 fold 4", &[][..]),
        ("UrbanSound8K fold 1", &us8k[..]),
    ] {
        let mut args = vec![
            "teacher".to_string(),
            "tag-eval".into(),
            "--bundle".into(),
            bundle_dir().display().to_string(),
            "--data".into(),
            data.display().to_string(),
        ];
        args.extend(fold.iter().map(|a| a.to_string()));
        let report: serde_json::Value =
            serde_json::from_str(&common::tools_ok(&args)).expect("tag-eval prints JSON");
        let row = table_row(&card, "models/mini/MODEL_CARD.md", name);
        // | held out | clips | top tag names the clip's class | teacher, the same way | tags
        // reported | right | precision | clips with their tag |
        let number = |key: &str| report[key].as_f64().unwrap();
        let measured = [
            (1, format!("{}", report["clips"])),
            (2, format!("{:.3}", number("top_tag_accuracy"))),
            (4, format!("{}", report["fired"])),
            (5, format!("{}", report["right"])),
            (6, format!("{:.3}", number("precision"))),
            (7, format!("{:.4}", number("recall"))),
        ];
        for (cell, value) in measured {
            assert_eq!(
                row[cell], value,
                "{name}, cell {cell} of the card's row: {report}"
            );
        }
        for key in ["fired_on_silence", "fired_on_quiet_noise"] {
            assert_eq!(report[key], serde_json::json!([]), "{name}: {key}");
        }
    }
}
