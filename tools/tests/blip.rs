//! The BLIP name mapping against the `transformers` package: a tiny random BLIP saved as
//! Hugging Face saves BLIP-base, with the image tokens and decoder logits transformers computed
//! (tools/tests/oracle/blip.py wrote the fixture; this test needs no Python).

use std::path::{Path, PathBuf};

use burn::backend::NdArray;
use burn::prelude::*;
use burn::tensor::TensorData;
mod common;

use common::{argv, repo, tools_ok};
use earsight::config::DecoderStyle;
use earsight_tools::model::blip;
use earsight_tools::model::weights::read_config;
use earsight_tools::model::{Captioner, ImageEncoder};

type Cpu = NdArray<f32>;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blip-tiny")
}

/// The reference arrays: name -> (shape, values as f64).
fn reference() -> std::collections::BTreeMap<String, (Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(fixture().join("reference.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = match view.dtype() {
                safetensors::Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                safetensors::Dtype::I64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("{name}: {other:?}"),
            };
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

fn max_abs_diff(found: &[f32], want: &[f64]) -> f64 {
    assert_eq!(found.len(), want.len());
    found
        .iter()
        .zip(want)
        .map(|(f, w)| (*f as f64 - w).abs())
        .fold(0.0, f64::max)
}

#[test]
fn blip_weights_map_onto_the_family_and_reproduce_transformers() {
    let device = Default::default();
    let blip = blip::load(&fixture()).unwrap();
    let r = reference();

    let (shape, pixels) = &r["pixels"];
    let pixels: Vec<f32> = pixels.iter().map(|&x| x as f32).collect();
    let pixels = Tensor::<Cpu, 4>::from_data(TensorData::new(pixels, shape.clone()), &device);
    let encoder = ImageEncoder::<Cpu>::from_weights(&blip.image, &device);
    let tokens = encoder.forward(pixels, &blip.image.config);
    let (_, want) = &r["image_embeds"];
    let found: Vec<f32> = tokens
        .clone()
        .into_data()
        .convert::<f32>()
        .into_vec()
        .unwrap();
    let diff = max_abs_diff(&found, want);
    eprintln!("image tokens: max |difference| {diff:e}");
    assert!(
        diff < 1e-4,
        "image tokens differ from transformers by {diff}"
    );

    // BLIP's decoder as the decoder of an earsight model, behind a seeded audio encoder.
    let weights = blip
        .captioner(
            &read_config(&repo().join("tools/configs/tiny.json")).unwrap(),
            1,
        )
        .unwrap();
    assert_eq!(weights.config.decoder.style, DecoderStyle::PostNorm);
    let model = Captioner::<Cpu>::from_weights(&weights, &device);
    let (shape, ids) = &r["input_ids"];
    let ids: Vec<i64> = ids.iter().map(|&x| x as i64).collect();
    let ids = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(ids, shape.clone()), &device);
    let logits = model.decoder.forward(ids, tokens, &weights.config);
    let (_, want) = &r["logits"];
    let found: Vec<f32> = logits.into_data().convert::<f32>().into_vec().unwrap();
    let diff = max_abs_diff(&found, want);
    eprintln!("decoder logits: max |difference| {diff:e}");
    assert!(
        diff < 1e-4,
        "decoder logits differ from transformers by {diff}"
    );
}

#[test]
fn a_checkpoint_missing_a_tensor_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let mut tensors =
        earsight_tools::model::weights::read_safetensors(&fixture().join("model.safetensors"))
            .unwrap();
    tensors.remove("text_decoder.bert.encoder.layer.1.crossattention.self.key.weight");
    earsight_tools::model::weights::write_safetensors(
        &dir.path().join("model.safetensors"),
        &tensors,
    )
    .unwrap();
    let err = match blip::load(dir.path()) {
        Ok(_) => panic!("loaded a checkpoint without a tensor"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("layer.1.crossattention.self.key.weight"),
        "{err}"
    );
}

/// A word-level tokenizer for the fixture's 99 tokens, with BLIP's special tokens where the
/// fixture's config puts them (`[PAD]` 0, `[DEC]` 97 to start, `[SEP]` 98 to end).
fn fixture_tokenizer(path: &Path) {
    use tokenizers::models::wordlevel::WordLevel;
    let vocab = (0..99u32)
        .map(|i| {
            let token = match i {
                0 => "[PAD]".to_string(),
                1 => "[UNK]".to_string(),
                97 => "[DEC]".to_string(),
                98 => "[SEP]".to_string(),
                _ => format!("w{i}"),
            };
            (token, i)
        })
        .collect();
    let model = WordLevel::builder()
        .vocab(vocab)
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    tokenizers::Tokenizer::new(model).save(path, false).unwrap();
}

/// `init --blip` makes a checkpoint that the export turns into a bundle the runtime runs: the
/// runtime's first-step logits equal the tools' reference forward pass over BLIP's decoder.
#[test]
fn a_blip_checkpoint_becomes_a_bundle_the_runtime_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (ckpt, bundle, tokenizer) = (
        dir.path().join("init"),
        dir.path().join("bundle"),
        dir.path().join("tokenizer.json"),
    );
    fixture_tokenizer(&tokenizer);
    let config = repo().join("tools/configs/tiny.json");
    let said = tools_ok(&argv(
        "init --config {} --blip {} --seed 3 --out {}",
        &[&config, &fixture(), &ckpt],
    ));
    assert!(said.contains("post-norm"), "{said}");
    let weights = earsight_tools::model::weights::Weights::load(&ckpt).unwrap();
    let image = earsight_tools::model::image::ImageWeights::load(&ckpt).unwrap();
    assert_eq!(image.config, blip::load(&fixture()).unwrap().image.config);
    tools_ok(&argv(
        "export --weights {} --tokenizer {} --out {}",
        &[&ckpt, &tokenizer, &bundle],
    ));

    let bundle = earsight::Bundle::open(&bundle).unwrap();
    let special = bundle.manifest().tokens.clone();
    assert_eq!((special.bos, special.eos, special.pad), (97, 98, 0));
    let engine = earsight::engine::Engine::load(&bundle).unwrap();
    let c = &weights.config;
    let mut frontend = earsight::frontend::LogMel::new(&c.frontend);
    let audio = repo().join("tests/fixtures/audio/dog_bark.ogg");
    let mel = frontend.window(&earsight::audio::read_all(&audio, c.frontend.sample_rate).unwrap());
    let memory = engine.encode(&mel).unwrap();
    let mut cache = engine.empty_cache();
    let logits = engine.step(&memory, &mut cache, special.bos).unwrap();
    let reference = earsight_tools::model::reference::Reference::new(&weights);
    let want = &reference.greedy(&mel, special.bos, special.eos, 1).logits[0];
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = logits
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        diff <= 1e-4 * scale,
        "runtime and reference logits differ by {diff} (scale {scale})"
    );
}
