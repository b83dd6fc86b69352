//! Independent oracles (Python, see tests/oracle): the exported graphs pass the `onnx` checker
//! and onnxruntime computes what tract computes; the log-mel frontend matches librosa.

mod common;

use common::{export, recordings, run_oracle, synthetic, weights, write_npy};
use earsight::bundle::{Bundle, Quantization};
use earsight::config::FrontendConfig;
use earsight::engine::Engine;
use earsight::frontend::LogMel;
use earsight_tools::model::reference::argmax;

const INPUTS: usize = 5;
const STEPS: usize = 8;

#[test]
#[ignore = "ci: needs the Python oracles (pip install -r tests/oracle/requirements.txt)"]
fn onnx_checker_passes_and_onnxruntime_agrees_with_tract() {
    let w = weights("mini.json", 1);
    let case = tempfile::tempdir().unwrap();
    let f = &w.config.frontend;
    let mut frontend = LogMel::new(f);
    let mels: Vec<Vec<f32>> = (0..INPUTS)
        .map(|k| frontend.window(&synthetic(k, f.sample_rate, 4.0)))
        .collect();
    for (i, mel) in mels.iter().enumerate() {
        write_npy(
            &case.path().join(format!("mel_{i}.npy")),
            &[1, f.clip_frames, f.n_mels],
            mel,
        );
    }
    // f32 must agree within 1e-4, and so must int8-weights, whose maths after the cast is f32.
    // The int8 graphs are fed the f32 run's tokens; onnxruntime's x86 u8*s8 kernels differ from
    // tract's in rounding, so for int8-dynamic both are held to the f32 logits instead (cosine
    // similarity).
    let bundles = [
        ("bundle_f32", Quantization::F32),
        ("bundle_int8_weights", Quantization::Int8Weights),
        ("bundle_int8", Quantization::Int8Dynamic),
    ];
    let mut forced: Vec<Vec<i64>> = Vec::new();
    for (name, scheme) in bundles {
        let dir = case.path().join(name);
        export(&w, scheme, 1, &dir);
        let bundle = Bundle::open(&dir).unwrap();
        let engine = Engine::load(&bundle).unwrap();
        let bos = bundle.manifest().tokens.bos;
        let d = w.config.decoder.dim;
        for (i, mel) in mels.iter().enumerate() {
            let memory = engine.encode(mel).unwrap();
            let tokens = memory.tokens().unwrap();
            write_npy(
                &dir.join(format!("memory_{i}.npy")),
                &[1, tokens.len() / d, d],
                tokens,
            );
            let mut cache = engine.empty_cache();
            let (mut fed, mut logits) = (vec![bos as i64], Vec::new());
            for step in 0..STEPS {
                let token = forced.get(i).map_or(*fed.last().unwrap(), |f| f[step]);
                let out = engine.step(&memory, &mut cache, token as u32).unwrap();
                fed.push(argmax(&out) as i64);
                logits.extend(out);
            }
            fed.pop();
            let fed = forced.get(i).cloned().unwrap_or(fed);
            write_npy(&dir.join(format!("tokens_{i}.npy")), &[STEPS], &fed);
            write_npy(
                &dir.join(format!("logits_{i}.npy")),
                &[STEPS, w.config.decoder.vocab_size],
                &logits,
            );
            if forced.len() <= i {
                forced.push(fed);
            }
        }
    }
    let spec = serde_json::json!({
        "inputs": INPUTS,
        "bundles": [
            {"dir": "bundle_f32", "tolerance": 1e-4},
            {"dir": "bundle_int8_weights", "tolerance": 1e-4},
            {"dir": "bundle_int8", "reference": "bundle_f32", "min_cosine": 0.99},
        ],
    });
    std::fs::write(case.path().join("case.json"), spec.to_string()).unwrap();
    println!("{}", run_oracle("onnx", case.path()));
}

#[test]
#[ignore = "ci: needs the Python oracles (pip install -r tests/oracle/requirements.txt)"]
fn frontend_matches_librosa_on_real_recordings() {
    let mut f: FrontendConfig = weights("mini.json", 1).config.frontend;
    // Compare the natural log itself.
    f.norm_mean = 0.0;
    f.norm_std = 1.0;
    let case = tempfile::tempdir().unwrap();
    let mut frontend = LogMel::new(&f);
    let mut clips = Vec::new();
    for path in recordings() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let samples = earsight::audio::read_all(&path, f.sample_rate).unwrap();
        let mel = frontend.frames(&samples);
        write_npy(
            &case.path().join(format!("{name}_samples.npy")),
            &[samples.len()],
            &samples,
        );
        write_npy(
            &case.path().join(format!("{name}_mel.npy")),
            &[mel.len() / f.n_mels, f.n_mels],
            &mel,
        );
        clips.push(name);
    }
    let spec = serde_json::json!({ "frontend": f, "clips": clips });
    std::fs::write(case.path().join("case.json"), spec.to_string()).unwrap();
    println!("{}", run_oracle("frontend", case.path()));
}
