//! `earsight-tools export` as a user runs it.

mod common;

use common::{argv, repo, tools, tools_fails, tools_ok};

#[test]
fn the_committed_test_bundle_is_what_the_exporter_writes_today() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("tiny-bundle");
    let config = repo().join("tools/configs/tiny.json");
    tools_ok(&argv(
        "export --config {} --seed 7 --name tiny-test-bundle --out {}",
        &[&config, &dir],
    ));
    let fixture = repo().join("tests/fixtures/tiny-bundle");
    for file in [
        "manifest.json",
        "encoder.onnx",
        "decoder.onnx",
        "tokenizer.json",
        "MODEL_CARD.md",
    ] {
        assert!(
            std::fs::read(dir.join(file)).unwrap() == std::fs::read(fixture.join(file)).unwrap(),
            "{file} differs: regenerate tests/fixtures/tiny-bundle (see tests/fixtures/README.md)"
        );
    }
}

#[test]
fn export_never_overwrites_what_the_user_has() {
    let out = tempfile::tempdir().unwrap();
    let config = repo().join("tools/configs/tiny.json");
    let dir = out.path().join("b");
    let args = argv("export --config {} --out {}", &[&config, &dir]);
    let forced = [&args[..], &["--force".into()]].concat();
    tools_ok(&args);
    tools_fails(&args, &["already holds a bundle; pass --force"]);
    tools_ok(&forced);

    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    tools_fails(&forced, &["holds `notes.txt`"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn max_tokens_sets_the_caption_length_within_the_decoder_positions() {
    let out = tempfile::tempdir().unwrap();
    let config = repo().join("tools/configs/tiny.json");
    let export = |max_tokens: &str, dir: &str| {
        let dir = out.path().join(dir);
        let template = "export --config {} --max-tokens {} --out {}";
        (argv(template, &[&config, &max_tokens, &dir]), dir)
    };
    let (args, dir) = export("31", "longest");
    tools_ok(&args);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["decoding"]["max_tokens"], 31);
    // The tiny decoder has 32 positions, one of them the start token's.
    let (args, dir) = export("32", "too-long");
    tools_fails(&args, &["decoding.max_tokens"]);
    assert!(!dir.join("manifest.json").exists());
}

#[test]
fn a_config_that_disagrees_with_the_tokenizer_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tools/configs/tiny.json")).unwrap(),
    )
    .unwrap();
    config["decoder"]["vocab_size"] = 3000.into();
    let path = out.path().join("c.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let args = argv(
        "export --config {} --out {}",
        &[&path, &out.path().join("b")],
    );
    tools_fails(&args, &["tokenizer has 4000 tokens", "vocab_size = 3000"]);
}

#[test]
fn a_checkpoint_exports_the_same_graphs_as_its_seed_and_stays_untrained() {
    let out = tempfile::tempdir().unwrap();
    let config = repo().join("tools/configs/tiny.json");
    let ckpt = out.path().join("ckpt");
    let (a, b) = (out.path().join("a"), out.path().join("b"));
    tools_ok(&argv(
        "init --config {} --seed 5 --out {}",
        &[&config, &ckpt],
    ));
    let again = argv("init --config {} --out {}", &[&config, &ckpt]);
    assert!(!tools(&again).status.success());
    tools_ok(&argv(
        "export --config {} --seed 5 --out {}",
        &[&config, &a],
    ));
    tools_ok(&argv("export --weights {} --out {}", &[&ckpt, &b]));
    for graph in ["encoder.onnx", "decoder.onnx"] {
        assert!(
            std::fs::read(a.join(graph)).unwrap() == std::fs::read(b.join(graph)).unwrap(),
            "{graph}"
        );
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["trained"], false);
    assert!(manifest["provenance"]["training"]
        .as_str()
        .unwrap()
        .contains("checkpoint"));
}
