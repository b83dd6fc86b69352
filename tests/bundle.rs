//! A bundle that is not exactly what the manifest promises is refused, with a message that
//! names the file and the field.

use std::path::Path;

use earsight::bundle::{
    file_limit, sha256_file, Bundle, Manifest, TaggerManifest, ENCODER_FILE, MANIFEST_FILE,
    MODEL_CARD_FILE, TAGGER_FILE, TOKENIZER_FILE,
};
use earsight::Captioner;

mod common;
use common::{assert_contains, bundle as fixture, repo};

/// A private copy of a bundle that a test may damage.
fn copy_of(bundle: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(bundle).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// A private copy of the test bundle.
fn copy() -> tempfile::TempDir {
    copy_of(&fixture())
}

fn manifest(dir: &Path) -> Manifest {
    serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap()).unwrap()
}

fn write_manifest(dir: &Path, m: &Manifest) {
    std::fs::write(
        dir.join(MANIFEST_FILE),
        serde_json::to_string_pretty(m).unwrap(),
    )
    .unwrap();
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut Manifest)) {
    let mut m = manifest(dir);
    edit(&mut m);
    write_manifest(dir, &m);
}

/// Rewrites the text file `file` of the bundle in `dir` as `edit` makes it.
fn edit_text(dir: &Path, file: &str, edit: impl FnOnce(String) -> String) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

/// Records `file`'s checksum in the manifest of the bundle in `dir`, as if it had shipped so.
fn resign(dir: &Path, file: &str) {
    edit_manifest(dir, |m| {
        m.sha256
            .insert(file.into(), sha256_file(&dir.join(file)).unwrap());
    });
}

/// Opens a copy of the test bundle whose manifest `edit` changed; returns the refusal.
fn refusal_after(edit: impl FnOnce(&mut Manifest)) -> String {
    let dir = copy();
    edit_manifest(dir.path(), edit);
    open_err(dir.path())
}

/// Opens the copy of a bundle in `dir` without its `file`; returns the refusal.
fn refusal_without(dir: tempfile::TempDir, file: &str) -> String {
    std::fs::remove_file(dir.path().join(file)).unwrap();
    open_err(dir.path())
}

fn open_err(dir: &Path) -> String {
    match Captioner::open(dir) {
        Ok(_) => panic!("{} was accepted", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_fixture_bundle_opens_and_is_marked_untrained() {
    let bundle = Bundle::open(fixture()).unwrap();
    assert!(!bundle.manifest().trained);
    Captioner::open(&fixture()).unwrap();
}

#[test]
fn missing_manifest_is_named() {
    let err = refusal_without(copy(), MANIFEST_FILE);
    assert_contains(&err, &["manifest.json", "No such file"]);
    assert_eq!(
        err.matches("No such file").count(),
        1,
        "the cause once: {err}"
    );
}

#[test]
fn corrupt_manifest_is_reported_as_json_error() {
    let dir = copy();
    std::fs::write(
        dir.path().join(MANIFEST_FILE),
        "{ \"format\": \"earsight-bundle\", ",
    )
    .unwrap();
    let err = open_err(dir.path());
    assert_contains(&err, &["manifest.json", "not valid JSON"]);
}

#[test]
fn a_newer_format_version_says_this_earsight_is_too_old() {
    let dir = copy();
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap())
            .unwrap();
    value["format_version"] = 6.into();
    value["a_field_from_the_future"] = true.into();
    std::fs::write(dir.path().join(MANIFEST_FILE), value.to_string()).unwrap();
    let err = open_err(dir.path());
    let wanted = [
        "bundle format version 6 is newer than this earsight reads (1 to 5)",
        "update earsight",
    ];
    assert_contains(&err, &wanted);
    let err = refusal_after(|m| m.format_version = 0);
    assert_contains(&err, &["`format_version`: expected 1 to 5, found 0"]);
}

#[test]
fn a_version_1_bundle_without_tags_still_loads_and_its_captions_carry_none() {
    let dir = copy();
    edit_manifest(dir.path(), |m| m.format_version = 1);
    let mut captioner = Captioner::open(dir.path()).unwrap();
    assert!(captioner.tagger().is_none());
    let caption = captioner.caption_samples(&vec![0.1; 16_000]).unwrap();
    assert!(caption.tags.is_empty());
}

/// A private copy of the shipped bundle, which has a tagger.
fn tagged_copy() -> tempfile::TempDir {
    copy_of(&repo().join("models/mini"))
}

/// Opens a copy of the shipped bundle whose manifest's tagger `edit` changed.
fn tagged_refusal_after(edit: impl FnOnce(&mut TaggerManifest)) -> String {
    let dir = tagged_copy();
    edit_manifest(dir.path(), |m| {
        edit(m.tagger.as_mut().expect("the shipped bundle has a tagger"))
    });
    open_err(dir.path())
}

#[test]
fn a_tagger_that_is_not_what_the_manifest_says_is_refused_by_name() {
    let err = tagged_refusal_after(|t| t.tags[1].threshold = Some(1.5));
    assert_contains(&err, &["`tagger.tags[1].threshold`", "found 1.5"]);
    let err = tagged_refusal_after(|t| t.tags[0].threshold = Some(0.0));
    assert_contains(&err, &["`tagger.tags[0].threshold`"]);
    let err = tagged_refusal_after(|t| t.tags[2].label = t.tags[0].label.clone());
    assert_contains(&err, &["`tagger.tags[2].label`", "a name no other tag has"]);
    let err = tagged_refusal_after(|t| {
        t.tags.pop();
    });
    assert_contains(&err, &["`tagger.graph.outputs[0]`"]);
    let err = tagged_refusal_after(|t| t.frames = 5000);
    assert_contains(&err, &["`tagger.frames`", "found 5000"]);
    // A version-1 manifest cannot have a tagger.
    let dir = tagged_copy();
    edit_manifest(dir.path(), |m| m.format_version = 1);
    let err = open_err(dir.path());
    assert_contains(&err, &["`tagger`: expected no tagger in format version 1"]);
    // Its graph is checksummed like the others.
    let err = refusal_without(tagged_copy(), TAGGER_FILE);
    assert_contains(&err, &["tagger.onnx", "No such file"]);
    let err = tagged_refusal_after(|t| t.tags[3].words = vec!["two words".into()]);
    assert_contains(&err, &["`tagger.tags[3].words[0]`", "one lower-case word"]);
}

#[test]
fn a_convolutional_audio_encoder_needs_format_version_4() {
    let err = refusal_after(|m| {
        m.format_version = 3;
        m.model.encoder.conv = Some(earsight::config::ConvBackboneConfig {
            stem: 4,
            channels: vec![8, 16],
        });
    });
    assert_contains(
        &err,
        &["`format_version`: expected 4 for a convolutional audio encoder (model.encoder.conv), found 3"],
    );
}

#[test]
fn tag_words_and_guidance_need_format_version_3_a_tagger_and_tokens_of_the_tokenizer() {
    let worded = |m: &mut Manifest| {
        let tag = &mut m.tagger.as_mut().unwrap().tags[0];
        tag.words = vec!["alarm".into()];
        tag.typical_score = Some(0.01);
    };
    // A version-2 bundle has neither words nor guidance.
    let dir = tagged_copy();
    edit_manifest(dir.path(), |m| {
        worded(m);
        m.format_version = 2;
    });
    assert_contains(
        &open_err(dir.path()),
        &["`format_version`: expected 3 for tag words or tag guidance, found 2"],
    );
    // Words steer by a ratio to the tag's typical score: every tag with words has one.
    let err = tagged_refusal_after(|t| {
        t.tags[3].words = vec!["door".into()];
        t.tags[3].typical_score = None;
    });
    assert_contains(
        &err,
        &[
            "`tagger.tags[3].typical_score`",
            "for a tag with words",
            "found none",
        ],
    );
    let err = tagged_refusal_after(|t| t.tags[3].typical_score = Some(0.0));
    assert_contains(&err, &["`tagger.tags[3].typical_score`", "found 0"]);
    let err = tagged_refusal_after(|t| {
        t.tags[3].words = vec!["two words".into()];
        t.tags[3].typical_score = Some(0.01);
    });
    assert_contains(&err, &["`tagger.tags[3].words[0]`", "one lower-case word"]);
    // Guidance steers tag words: none without them, and within the runtime's range.
    let err = refusal_after(|m| {
        m.format_version = 3;
        m.decoding.tag_guidance = 1.0;
    });
    assert_contains(
        &err,
        &[
            "`decoding.tag_guidance`",
            "without a tagger whose tags have words",
        ],
    );
    for weight in [-1.0, 11.0] {
        let err = refusal_after(|m| {
            m.format_version = 3;
            m.decoding.tag_guidance = weight;
        });
        assert_contains(&err, &["`decoding.tag_guidance`", "0 to 10"]);
    }
    // A word the tokenizer spells in pieces is taken; one it cannot spell cannot be steered,
    // and the error names the tag and the word.
    let dir = tagged_copy();
    edit_manifest(dir.path(), |m| {
        worded(m);
        m.tagger.as_mut().unwrap().tags[0].words = vec!["smoke".into(), "jackhammer".into()];
    });
    Captioner::open(dir.path()).unwrap();
    edit_manifest(dir.path(), |m| {
        m.tagger.as_mut().unwrap().tags[0].words = vec!["\u{2603}".into()];
    });
    let err = match Captioner::open(dir.path()) {
        Ok(_) => panic!("a bundle whose tag word the tokenizer cannot spell opened"),
        Err(e) => e.to_string(),
    };
    assert_contains(
        &err,
        &["\"smoke or fire alarm\"", "\"\u{2603}\"", "cannot spell"],
    );
}

/// The samples beside the default model (`models/samples`).
const SAMPLES: [&str; 7] = [
    "car_engine",
    "cat",
    "dog",
    "level_crossing_bell",
    "rain",
    "smoke_alarm",
    "speech",
];

/// Every tag's words, as the tools write them from the tag set.
fn tag_set_words() -> Vec<Vec<String>> {
    let tag_set: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tools/configs/tags.json")).unwrap(),
    )
    .unwrap();
    tag_set["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_value(l["words"].clone()).unwrap())
        .collect()
}

#[test]
fn guidance_keeps_words_of_unheard_tags_out_of_captions_and_weight_0_changes_nothing() {
    const TYPICAL: f32 = 0.01;
    let words = tag_set_words();
    // `None`: no words at all, as a version-2 bundle.
    let guided = |weight: Option<f32>| {
        let dir = tagged_copy();
        edit_manifest(dir.path(), |m| {
            for (tag, w) in m.tagger.as_mut().unwrap().tags.iter_mut().zip(&words) {
                tag.words = if weight.is_some() {
                    w.clone()
                } else {
                    Vec::new()
                };
                tag.typical_score = weight.map(|_| TYPICAL);
            }
            m.decoding.tag_guidance = weight.unwrap_or(0.0);
            m.decoding.tag_veto = 0.0;
        });
        dir
    };
    let (plain_dir, weak, strong) = (guided(None), guided(Some(0.0)), guided(Some(10.0)));
    let open = |dir: &Path| Captioner::open(dir).unwrap();
    let (mut plain, mut weak, mut strong) = (
        open(plain_dir.path()),
        open(weak.path()),
        open(strong.path()),
    );
    let said = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .map(String::from)
            .collect()
    };
    let tokenizer =
        tokenizers::Tokenizer::from_file(repo().join("models/mini/tokenizer.json")).unwrap();
    let mut plain_says_unheard = 0;
    for sample in SAMPLES {
        let path = repo().join(format!("models/samples/{sample}.ogg"));
        let samples = earsight::audio::read_all(&path, 16_000).unwrap();
        let mel = plain.frontend_mut().window(&samples);
        let scores = plain.tagger().unwrap().scores(&mel).unwrap();
        // A word is unheard when every tag it names scored under a tenth of its typical score:
        // at weight 10 that is a steer below 10 ln(0.1) = -23. Guidance steers the words that
        // are one token; the first pieces of the others only a veto forbids.
        let unheard = |word: &String| {
            if tokenizer.token_to_id(word).is_none() {
                return false;
            }
            let best = words
                .iter()
                .zip(&scores)
                .filter(|(w, _)| w.contains(word))
                .map(|(_, s)| *s)
                .fold(f32::NAN, f32::max);
            best < TYPICAL / 10.0
        };
        let before = plain.caption_samples(&samples).unwrap();
        // Weight 0 carries the words and decodes exactly as before.
        let same = weak.caption_samples(&samples).unwrap();
        assert_eq!(
            (&same.text, &same.tags),
            (&before.text, &before.tags),
            "{sample}"
        );
        let after = strong.caption_samples(&samples).unwrap();
        assert_eq!(after.tags, before.tags, "{sample}");
        for word in said(&after.text) {
            assert!(!unheard(&word), "{sample}: {:?} says {word:?}", after.text);
        }
        plain_says_unheard += usize::from(said(&before.text).iter().any(unheard));
    }
    // Without guidance, some of these captions do name what the tagger does not hear.
    assert!(
        plain_says_unheard > 0,
        "no plain caption names an unheard source"
    );
}

#[test]
fn a_tag_veto_needs_format_version_5_tag_words_and_a_ratio_from_0_to_1() {
    let err = refusal_after(|m| {
        m.format_version = 5;
        m.decoding.tag_veto = 0.5;
    });
    assert_contains(
        &err,
        &[
            "`decoding.tag_veto`",
            "without a tagger whose tags have words",
        ],
    );
    let dir = tagged_copy();
    edit_manifest(dir.path(), |m| {
        m.format_version = 4;
        m.decoding.tag_veto = 0.5;
    });
    assert_contains(
        &open_err(dir.path()),
        &["`format_version`: expected 5 for a tag veto (decoding.tag_veto), found 4"],
    );
    for veto in [-0.1, 1.5] {
        let dir = tagged_copy();
        edit_manifest(dir.path(), |m| {
            m.format_version = 5;
            m.decoding.tag_veto = veto;
        });
        assert_contains(&open_err(dir.path()), &["`decoding.tag_veto`", "0 to 1"]);
    }
}

#[test]
fn a_tag_veto_keeps_the_words_of_tags_far_below_the_best_out_of_captions() {
    const VETO: f32 = 0.5;
    let vetoed = tagged_copy();
    edit_manifest(vetoed.path(), |m| {
        m.format_version = 5;
        m.decoding.tag_veto = VETO;
    });
    let plain_dir = tagged_copy();
    edit_manifest(plain_dir.path(), |m| {
        m.decoding.tag_guidance = 0.0;
        m.decoding.tag_veto = 0.0;
    });
    let mut plain = Captioner::open(plain_dir.path()).unwrap();
    let mut vetoed = Captioner::open(vetoed.path()).unwrap();
    let specs = plain.tagger().unwrap().tag_specs().to_vec();
    let mut plain_says_vetoed = 0;
    for sample in SAMPLES {
        let path = repo().join(format!("models/samples/{sample}.ogg"));
        let samples = earsight::audio::read_all(&path, 16_000).unwrap();
        let mel = plain.frontend_mut().window(&samples);
        let scores = plain.tagger().unwrap().scores(&mel).unwrap();
        let best = specs
            .iter()
            .zip(&scores)
            .filter(|(t, _)| !t.words.is_empty())
            .map(|(_, &s)| s)
            .fold(0.0, f32::max);
        // A word is vetoed when every tag it names scored under VETO times the best.
        let is_vetoed = |word: &str| {
            let named: Vec<f32> = specs
                .iter()
                .zip(&scores)
                .filter(|(t, _)| t.words.iter().any(|w| w == word))
                .map(|(_, &s)| s)
                .collect();
            !named.is_empty() && named.iter().all(|&s| s < VETO * best)
        };
        let said = |text: &str| -> Vec<String> {
            text.split(|c: char| !c.is_alphanumeric())
                .map(String::from)
                .collect()
        };
        let after = vetoed.caption_samples(&samples).unwrap();
        for word in said(&after.text) {
            assert!(
                !is_vetoed(&word),
                "{sample}: {:?} says {word:?}",
                after.text
            );
        }
        let before = plain.caption_samples(&samples).unwrap();
        plain_says_vetoed += usize::from(said(&before.text).iter().any(|w| is_vetoed(w)));
    }
    assert!(
        plain_says_vetoed > 0,
        "no caption without the veto names a source it would veto"
    );
}

#[test]
fn the_tagger_scores_every_tag_in_0_1_and_reports_only_those_at_their_thresholds() {
    let dir = tagged_copy();
    let mut captioner = Captioner::open(dir.path()).unwrap();
    let f = captioner.bundle().manifest().model.frontend.clone();
    let tagger = captioner.tagger().unwrap();
    let n_tags = tagger.tag_specs().len();
    // A window of noise at a few levels, tagged in pieces.
    let mut seed = 1u32;
    let noise: Vec<f32> = (0..f.window_samples())
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        })
        .collect();
    let mel = earsight::frontend::LogMel::new(&f).window(&noise);
    let scores = tagger.scores(&mel).unwrap();
    assert_eq!(scores.len(), n_tags);
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{scores:?}");
    // The whole window's scores are each tag's best over its pieces: never below the first
    // piece's alone.
    let frames = captioner
        .bundle()
        .manifest()
        .tagger
        .as_ref()
        .unwrap()
        .frames;
    let first = tagger.scores(&mel[..frames * f.n_mels]).unwrap();
    assert!(scores.iter().zip(&first).all(|(w, p)| w >= p));
    let caption = captioner.caption_samples(&noise).unwrap();
    let specs = captioner.tagger().unwrap().tag_specs();
    for tag in &caption.tags {
        let spec = specs.iter().find(|s| s.label == tag.label).unwrap();
        assert!(spec.threshold.is_some_and(|at| tag.score >= at), "{tag:?}");
    }
    assert_eq!(
        caption.tags,
        earsight::engine::fired(specs, &scores),
        "the caption's tags are the window's fired tags"
    );
    // A bad window is an error that says what the tagger takes, not a panic.
    let err = captioner.tagger().unwrap().scores(&[0.0; 10]).unwrap_err();
    assert!(
        err.to_string()
            .contains("the tagger's mel has 10 values, not whole frames of 64 bands"),
        "{err}"
    );
}

/// A bundle whose tokenizer names its special tokens as BLIP's does (`[DEC]` to start a
/// caption, `[SEP]` to end it) opens and captions: the contract (`earsight::text`) accepts
/// both namings, so a bundle exported with BLIP's tokenizer runs.
#[test]
fn a_tokenizer_with_blips_names_for_start_and_end_opens_and_captions() {
    let dir = copy();
    edit_text(dir.path(), TOKENIZER_FILE, |t| {
        t.replace("\"[BOS]\"", "\"[DEC]\"")
            .replace("\"[EOS]\"", "\"[SEP]\"")
    });
    resign(dir.path(), TOKENIZER_FILE);
    let path = dir.path().join(TOKENIZER_FILE);
    let (_, read) = earsight::text::read_special_tokens(&path, 4000).unwrap();
    assert_eq!(
        read,
        manifest(dir.path()).tokens,
        "the same ids under BLIP's names"
    );
    let mut captioner = Captioner::open(dir.path()).unwrap();
    captioner.caption_samples(&vec![0.1; 16_000]).unwrap();
    // A tokenizer with neither name for the end token is refused by name.
    edit_text(dir.path(), TOKENIZER_FILE, |t| {
        t.replace("\"[SEP]\"", "\"[END]\"")
    });
    resign(dir.path(), TOKENIZER_FILE);
    let err = open_err(dir.path());
    assert_contains(&err, &["has no special token [EOS] or [SEP]"]);
}

#[test]
fn sha256_mismatch_names_the_file() {
    let dir = copy();
    edit_text(dir.path(), TOKENIZER_FILE, |t| t + "\n");
    let err = open_err(dir.path());
    assert_contains(&err, &["SHA-256 mismatch for tokenizer.json"]);
}

#[test]
fn truncated_onnx_is_a_load_error_naming_the_graph() {
    let dir = copy();
    let path = dir.path().join(ENCODER_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    // Re-sign it, so that the graph loader (not the checksum) has to catch it.
    resign(dir.path(), ENCODER_FILE);
    let err = open_err(dir.path());
    assert_contains(&err, &["encoder.onnx: cannot load ONNX graph"]);
}

#[test]
fn special_token_ids_out_of_range_are_refused() {
    let err = refusal_after(|m| {
        m.tokens.eos = m.model.decoder.vocab_size as u32;
    });
    assert_contains(&err, &["`tokens.eos`", "4000"]);
}

#[test]
fn decoding_the_decoder_cannot_do_is_refused() {
    let positions = manifest(copy().path()).model.decoder.max_positions;
    let err = refusal_after(|m| m.decoding.max_tokens = positions);
    let (most, found) = (
        format!("1..={}", positions - 1),
        format!("found {positions}"),
    );
    assert_contains(&err, &["`decoding.max_tokens`", &most, &found]);
    for width in [0, 1_000_000] {
        let err = refusal_after(|m| m.decoding.beam_width = width);
        assert_contains(
            &err,
            &["`decoding.beam_width`", "1..=32", &format!("found {width}")],
        );
    }
}

#[test]
fn generated_ids_out_of_range_are_an_error_not_garbage() {
    let bundle = Bundle::open(fixture()).unwrap();
    let m = bundle.manifest();
    let text = earsight::text::TextDecoder::open(
        &bundle.path(TOKENIZER_FILE),
        m.model.decoder.vocab_size,
        &m.tokens,
    )
    .unwrap();
    let err = text.decode(&[10, 4000]).unwrap_err().to_string();
    assert_contains(&err, &["token id 4000 is outside the vocabulary"]);
    assert!(!text.decode(&[10, 11, m.tokens.eos, 4]).unwrap().is_empty());
}

#[test]
fn graph_interface_that_disagrees_with_the_config_is_refused() {
    let err = refusal_after(|m| {
        m.decoder.inputs.swap(0, 1);
    });
    assert_contains(&err, &["`decoder.inputs[0]`: expected input_ids"]);
}

#[test]
fn graphs_whose_shapes_disagree_with_the_manifest_are_refused() {
    let err = refusal_after(|m| {
        // A manifest for a model without prefix vectors, in front of graphs that have two.
        m.model.encoder.n_prefix = 0;
        m.encoder = m.model.encoder_spec();
        m.decoder = m.model.decoder_spec();
    });
    assert_contains(
        &err,
        &["encoder.onnx: graph output shape 0", "[1, 258, 32]"],
    );
}

#[test]
fn tokenizer_that_disagrees_with_the_vocabulary_is_refused() {
    let err = refusal_after(|m| {
        m.tokens.bos = 5;
    });
    assert_contains(
        &err,
        &["special token `[BOS]` is id 5 in the manifest but 2"],
    );
}

#[test]
fn a_file_instead_of_a_bundle_directory_is_refused() {
    let err = open_err(&fixture().join(MANIFEST_FILE));
    assert_contains(&err, &["not a bundle directory"]);
}

#[test]
fn manifest_sizes_that_would_take_gigabytes_are_refused_by_name() {
    type Edit = fn(&mut Manifest);
    let cases: [(&str, Edit); 4] = [
        ("frontend.n_fft (1073741824) must be from 1 to 65536", |m| {
            m.model.frontend.n_fft = 1 << 30
        }),
        ("frontend.win_length (1000000000)", |m| {
            m.model.frontend.win_length = 1_000_000_000
        }),
        ("frontend.sample_rate (4000000000)", |m| {
            m.model.frontend.sample_rate = 4_000_000_000
        }),
        ("frontend.hop_length (1000000000) must be from 1 to", |m| {
            m.model.frontend.hop_length = 1_000_000_000
        }),
    ];
    for (expected, edit) in cases {
        let err = refusal_after(edit);
        assert_contains(&err, &["manifest.json", "field `model`", expected]);
    }
}

#[test]
fn bundle_files_must_be_plain_files_within_their_size_limits() {
    // A manifest or model card that is a link to /dev/zero or a FIFO would be read forever.
    for file in [MANIFEST_FILE, MODEL_CARD_FILE] {
        let dir = copy();
        let path = dir.path().join(file);
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        assert_contains(
            &open_err(dir.path()),
            &[file, "is a device, but a bundle holds plain files only"],
        );
        std::fs::remove_file(&path).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        assert_contains(&open_err(dir.path()), &[file, "is a FIFO"]);
    }
    let dir = copy();
    let card = dir.path().join(MODEL_CARD_FILE);
    std::fs::write(
        &card,
        vec![b'#'; (file_limit(MODEL_CARD_FILE) + 1) as usize],
    )
    .unwrap();
    assert_contains(
        &open_err(dir.path()),
        &[
            MODEL_CARD_FILE,
            "is 1048577 bytes, but a bundle's MODEL_CARD.md is at most 1048576 bytes",
        ],
    );
}
