//! The runtime (tract, KV cache) against the tools' reference forward pass (burn, full
//! recompute at every step), on seeded bundles and 20 inputs: 4 real recordings and 16
//! synthetic clips.

mod common;

use common::{cosine, export, recordings, relative_error, synthetic, weights};
use earsight::bundle::{Bundle, DecodingConfig, Quantization};
use earsight::engine::{decode, Engine, WindowDecoder};
use earsight::frontend::LogMel;
use earsight::ModelConfig;
use earsight_tools::model::reference::{argmax, Reference};

/// Relative tolerance of f32 logits (max abs difference over max abs logit).
const TOLERANCE: f32 = 1e-4;
const STEPS: usize = 20;

/// 20 mel windows: the fixture recordings, then synthetic clips.
fn inputs(config: &ModelConfig) -> Vec<Vec<f32>> {
    let f = &config.frontend;
    let mut frontend = LogMel::new(f);
    let mut windows: Vec<Vec<f32>> = recordings()
        .iter()
        .map(|p| frontend.window(&earsight::audio::read_all(p, f.sample_rate).unwrap()))
        .collect();
    let mut kind = 0;
    while windows.len() < 20 {
        windows.push(frontend.window(&synthetic(kind, f.sample_rate, 3.0 + kind as f32 * 0.5)));
        kind += 1;
    }
    windows
}

/// Top-1 minus top-2 logit.
fn margin(logits: &[f32]) -> f32 {
    let (mut a, mut b) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &v in logits {
        if v > a {
            b = a;
            a = v;
        } else if v > b {
            b = v;
        }
    }
    a - b
}

fn check_parity(config: &str, seed: u64) {
    let w = weights(config, seed);
    let dir = tempfile::tempdir().unwrap();
    export(&w, Quantization::F32, seed, dir.path());
    let bundle = Bundle::open(dir.path()).unwrap();
    let engine = Engine::load(&bundle).unwrap();
    let reference = Reference::new(&w);
    let special = bundle.manifest().tokens.clone();
    let greedy = DecodingConfig {
        beam_width: 1,
        length_penalty: 1.0,
        max_tokens: STEPS,
        no_repeat_ngram: 0,
        tag_guidance: 0.0,
        tag_veto: 0.0,
    };
    let (mut decided, mut near_ties, mut worst) = (0usize, 0usize, 0f32);
    for (i, mel) in inputs(&w.config).iter().enumerate() {
        let memory = engine.encode(mel).unwrap();
        let err = relative_error(memory.tokens().unwrap(), &reference.memory(mel));
        assert!(
            err <= TOLERANCE,
            "{config} input {i}: memory tokens differ by {err}"
        );

        let expected = reference.greedy(mel, special.bos, special.eos, STEPS);
        // Teacher-forced with the reference's tokens, so every step is compared even after a
        // near tie sends the two greedy searches different ways.
        let mut cache = engine.empty_cache();
        let mut token = special.bos;
        let mut agree_until = None;
        for (step, ref_logits) in expected.logits.iter().enumerate() {
            let logits = engine.step(&memory, &mut cache, token).unwrap();
            let err = relative_error(&logits, ref_logits);
            worst = worst.max(err);
            assert!(
                err <= TOLERANCE,
                "{config} input {i} step {step}: logits differ by {err}"
            );
            let scale = ref_logits.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            if margin(ref_logits) > 2.0 * TOLERANCE * scale {
                decided += 1;
                assert_eq!(
                    argmax(&logits),
                    expected.tokens[step],
                    "{config} input {i} step {step}: greedy ids differ with margin {}",
                    margin(ref_logits)
                );
            } else {
                near_ties += 1;
                agree_until.get_or_insert(step);
            }
            token = expected.tokens[step];
        }
        // The runtime's own greedy search follows the reference up to the first near tie.
        let found = decode(
            &WindowDecoder {
                engine: &engine,
                memory: &memory,
            },
            &greedy,
            &special,
        )
        .unwrap();
        let reference_ids: Vec<u32> = expected
            .tokens
            .iter()
            .copied()
            .filter(|&t| t != special.eos)
            .collect();
        let n = agree_until
            .unwrap_or(reference_ids.len())
            .min(reference_ids.len());
        assert_eq!(found.tokens[..n], reference_ids[..n], "{config} input {i}");
    }
    println!(
        "{config}: worst relative logit error {worst:.2e}; {decided} steps decided, {near_ties} near ties"
    );
    assert!(
        decided >= 20 * STEPS * 9 / 10,
        "too many near ties: {near_ties}"
    );
}

#[test]
fn tiny_bundle_logits_and_greedy_ids_match_the_full_recompute_reference() {
    check_parity("tiny.json", 7);
}

/// BERT's decoder layout (BLIP's): the runtime runs it unchanged, from the same graph inputs.
#[test]
fn post_norm_bundle_logits_and_greedy_ids_match_the_full_recompute_reference() {
    check_parity("tiny-post-norm.json", 7);
}

/// The convolutional audio backbone (`encoder.conv`) in front of the same projector and decoder.
#[test]
fn conv_bundle_logits_and_greedy_ids_match_the_full_recompute_reference() {
    check_parity("tiny-conv.json", 7);
}

#[test]
fn mini_bundle_logits_and_greedy_ids_match_the_full_recompute_reference() {
    check_parity("mini.json", 1);
}

#[test]
fn int8_first_step_logits_stay_close_to_f32() {
    let w = weights("mini.json", 1);
    let dirs: Vec<_> = [
        Quantization::F32,
        Quantization::Int8Dynamic,
        Quantization::Int8Weights,
    ]
    .into_iter()
    .map(|scheme| {
        let dir = tempfile::tempdir().unwrap();
        export(&w, scheme, 1, dir.path());
        let engine = Engine::load(&Bundle::open(dir.path()).unwrap()).unwrap();
        (scheme, engine, dir)
    })
    .collect();
    let bos = Bundle::open(dirs[0].2.path())
        .unwrap()
        .manifest()
        .tokens
        .bos;
    let first_step = |engine: &Engine, mel: &[f32]| {
        let memory = engine.encode(mel).unwrap();
        engine
            .step(&memory, &mut engine.empty_cache(), bos)
            .unwrap()
    };
    for (scheme, engine, _) in &dirs[1..] {
        let worst = inputs(&w.config)
            .iter()
            .map(|mel| cosine(&first_step(engine, mel), &first_step(&dirs[0].1, mel)))
            .fold(1.0f32, f32::min);
        println!(
            "{scheme}: lowest first-step cosine similarity with f32 over 20 inputs: {worst:.5}"
        );
        assert!(worst > 0.99, "{scheme}: cosine {worst}");
    }
}
