//! The BLIP name mapping against the `transformers` package: a tiny random BLIP saved as
//! Hugging Face saves BLIP-base, with the image tokens and decoder logits transformers computed
//! (tools/tests/oracle/blip.py wrote the fixture; this test needs no Python).

use std::path::{Path, PathBuf};

use burn::backend::NdArray;
use burn::prelude::*;
use burn::tensor::TensorData;
use earsight_tools::blip;

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
    let model = blip::load::<Cpu>(&fixture(), &device).unwrap();
    let r = reference();

    let (shape, pixels) = &r["pixels"];
    let pixels: Vec<f32> = pixels.iter().map(|&x| x as f32).collect();
    let pixels = Tensor::<Cpu, 4>::from_data(TensorData::new(pixels, shape.clone()), &device);
    let tokens = model.encoder.forward(pixels, &model.image.config);
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

    let (shape, ids) = &r["input_ids"];
    let ids: Vec<i64> = ids.iter().map(|&x| x as i64).collect();
    let ids = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(ids, shape.clone()), &device);
    let logits = model.decoder.forward(ids, tokens);
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
        earsight_tools::weights::read_safetensors(&fixture().join("model.safetensors")).unwrap();
    tensors.remove("text_decoder.bert.encoder.layer.1.crossattention.self.key.weight");
    earsight_tools::weights::write_safetensors(&dir.path().join("model.safetensors"), &tensors)
        .unwrap();
    let err = match blip::load::<Cpu>(dir.path(), &Default::default()) {
        Ok(_) => panic!("loaded a checkpoint without a tensor"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("layer.1.crossattention.self.key.weight"),
        "{err}"
    );
}
