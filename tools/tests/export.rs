//! `earsight-tools export` as a user runs it.

mod common;

use common::{repo, tools};

#[test]
fn the_committed_test_bundle_is_what_the_exporter_writes_today() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("tiny-bundle");
    let config = repo().join("tools/configs/tiny.json");
    let o = tools(&[
        "export",
        "--config",
        config.to_str().unwrap(),
        "--seed",
        "7",
        "--name",
        "tiny-test-bundle",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
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
    let args = |force: bool| {
        let mut a = vec![
            "export",
            "--config",
            config.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
        ];
        if force {
            a.push("--force");
        }
        a
    };
    assert!(tools(&args(false)).status.success());
    let again = tools(&args(false));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a bundle; pass --force"));
    assert!(tools(&args(true)).status.success());

    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let foreign = tools(&args(true));
    assert!(!foreign.status.success());
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("holds `notes.txt`"));
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
        let o = tools(&[
            "export",
            "--config",
            config.to_str().unwrap(),
            "--max-tokens",
            max_tokens,
            "--out",
            dir.to_str().unwrap(),
        ]);
        (o, dir)
    };
    let (o, dir) = export("31", "longest");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["decoding"]["max_tokens"], 31);
    // The tiny decoder has 32 positions, one of them the start token's.
    let (o, dir) = export("32", "too-long");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("decoding.max_tokens"),
        "{stderr}"
    );
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
    let o = tools(&[
        "export",
        "--config",
        path.to_str().unwrap(),
        "--out",
        out.path().join("b").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("tokenizer has 4000 tokens") && err.contains("vocab_size = 3000"),
        "{err}"
    );
}

#[test]
fn a_checkpoint_exports_the_same_graphs_as_its_seed_and_stays_untrained() {
    let out = tempfile::tempdir().unwrap();
    let config = repo().join("tools/configs/tiny.json");
    let config = config.to_str().unwrap();
    let ckpt = out.path().join("ckpt");
    let (a, b) = (out.path().join("a"), out.path().join("b"));
    let init = tools(&[
        "init",
        "--config",
        config,
        "--seed",
        "5",
        "--out",
        ckpt.to_str().unwrap(),
    ]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(
        !tools(&["init", "--config", config, "--out", ckpt.to_str().unwrap()])
            .status
            .success()
    );
    assert!(tools(&[
        "export",
        "--config",
        config,
        "--seed",
        "5",
        "--out",
        a.to_str().unwrap()
    ])
    .status
    .success());
    assert!(tools(&[
        "export",
        "--weights",
        ckpt.to_str().unwrap(),
        "--out",
        b.to_str().unwrap()
    ])
    .status
    .success());
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
