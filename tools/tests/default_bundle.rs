//! The bundle the project ships as the CLI's default model (`models/mini`) and the samples
//! beside it (`models/samples`): it opens, its files are the ones its manifest hashes, it was
//! trained, it names the source of every shipped sample, and silence gets no caption.

use std::path::{Path, PathBuf};

use earsight::bundle::sha256_file;
use earsight::stream::GateConfig;
use earsight::{Bundle, Captioner};
use earsight_tools::eval::names_source;
use earsight_tools::metrics::tokenize;

mod common;

use common::{repo, write_silence};

fn bundle_dir() -> PathBuf {
    repo().join("models/mini")
}

/// `models/samples/labels.csv`: each sample's file and the ESC-10 class it was recorded as.
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

fn captions_of(captioner: &mut Captioner, file: &Path) -> Vec<String> {
    let mut captions = Vec::new();
    captioner
        .caption_file(file, &GateConfig::default(), |c| captions.push(c.caption))
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
        4,
        "encoder, decoder, tokenizer, card"
    );
    assert!(total < 10 << 20, "the bundle is {total} bytes, over 10 MiB");
}

#[test]
fn every_shipped_sample_is_captioned_with_its_source() {
    let mut captioner = Captioner::open(&bundle_dir()).unwrap();
    for (file, label) in samples() {
        let captions = captions_of(&mut captioner, &file);
        assert!(
            captions.iter().any(|c| names_source(&tokenize(c), &label)),
            "{}: {label} is not named in {captions:?}",
            file.display()
        );
    }
}

#[test]
fn silence_gets_no_caption() {
    let dir = tempfile::tempdir().unwrap();
    let silence = dir.path().join("silence.wav");
    write_silence(&silence, 5);
    let mut captioner = Captioner::open(&bundle_dir()).unwrap();
    assert_eq!(captions_of(&mut captioner, &silence), Vec::<String>::new());
}
