//! Stage 1b on generated pairs whose answer is known: image tokens drawn around sub-centres of
//! one cluster per class, and mel windows whose harmonic comb says the class. An aligned encoder
//! must put out tokens distributed like its class's image tokens.

use std::path::Path;

use burn::backend::{Autodiff, NdArray};
use earsight::ModelConfig;
use earsight_tools::data::Split;
use earsight_tools::train::align::{
    align, validate, AlignConfig, AlignLoss, AttentiveConfig, Pair, Pairs, SolverConfig,
};
use earsight_tools::train::{Optim, Run};
use earsight_tools::weights::{read_config, Weights};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

type Train = Autodiff<NdArray<f32>>;

const CLASSES: usize = 4;
const SUBCENTRES: usize = 3;
const IMAGE_TOKENS: usize = 6;

/// Known-answer pairs. Class `k` lights every `(k + 2)`-th mel bin (a comb any patch shows);
/// its image tokens sit around three sub-centres of a class centre.
struct Clusters {
    frames: usize,
    mels: usize,
    dim: usize,
    subcentres: Vec<Vec<Vec<f32>>>,
    counts: [usize; 3],
}

impl Clusters {
    fn new(config: &ModelConfig, dim: usize, counts: [usize; 3]) -> Clusters {
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        let normal = Normal::new(0.0f32, 1.0).unwrap();
        let subcentres = (0..CLASSES)
            .map(|_| {
                let centre: Vec<f32> = (0..dim).map(|_| normal.sample(&mut rng)).collect();
                (0..SUBCENTRES)
                    .map(|_| {
                        centre
                            .iter()
                            .map(|c| c + 0.4 * normal.sample(&mut rng))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Clusters {
            frames: config.frontend.clip_frames,
            mels: config.frontend.n_mels,
            dim,
            subcentres,
            counts,
        }
    }
}

fn split_index(split: Split) -> usize {
    match split {
        Split::Train => 0,
        Split::Val => 1,
        Split::Test => 2,
    }
}

impl Pairs for Clusters {
    fn len(&self, split: Split) -> usize {
        self.counts[split_index(split)]
    }

    fn image_shape(&self) -> (usize, usize) {
        (IMAGE_TOKENS, self.dim)
    }

    fn pair(&self, split: Split, index: usize) -> anyhow::Result<Pair> {
        let class = index % CLASSES;
        let mut rng = ChaCha8Rng::seed_from_u64((split_index(split) * 100_000 + index) as u64);
        let noise = Normal::new(0.0f32, 0.3).unwrap();
        let mut mel = Vec::with_capacity(self.frames * self.mels);
        for _ in 0..self.frames {
            for m in 0..self.mels {
                let lit = m % (class + 2) == 0;
                mel.push(noise.sample(&mut rng) + if lit { 1.5 } else { -0.5 });
            }
        }
        let mut image = Vec::with_capacity(IMAGE_TOKENS * self.dim);
        for t in 0..IMAGE_TOKENS {
            let sub = &self.subcentres[class][(t + rng.random_range(0..SUBCENTRES)) % SUBCENTRES];
            image.extend(sub.iter().map(|c| c + 0.1 * noise.sample(&mut rng)));
        }
        Ok(Pair { mel, image })
    }
}

fn model_config() -> ModelConfig {
    let mut c =
        read_config(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny.json")).unwrap();
    c.frontend.clip_frames = 64;
    c.encoder.n_prefix = 0;
    c.decoder.vocab_size = 64;
    c
}

fn recipe(loss: AlignLoss, epochs: usize) -> AlignConfig {
    AlignConfig {
        loss,
        optim: Optim {
            seed: 5,
            epochs,
            batch_size: 8,
            lr: 1e-2,
            betas: [0.9, 0.999],
            weight_decay: 0.0,
            halve_lr_at: vec![epochs * 3 / 4],
        },
        solver: SolverConfig::Exact,
        attentive: Some(AttentiveConfig {
            heads: 2,
            temperature: 1.0,
            lr: 1e-3,
            entropy_weights: vec![0.0, 0.05],
        }),
    }
}

fn run(out: &Path) -> Run<'_> {
    Run {
        out,
        resume: false,
        stop_after: None,
        progress: false,
    }
}

/// Held-out distance of the encoder in `dir` under `loss`'s own measure.
fn held_out(weights: &Weights, config: &AlignConfig, data: &Clusters) -> f64 {
    let model = earsight_tools::model::Captioner::<NdArray<f32>>::from_weights(
        weights,
        &Default::default(),
    );
    validate(
        &model.encoder,
        weights,
        config,
        data,
        Split::Test,
        &Default::default(),
    )
    .unwrap()
}

fn aligns_with(loss: AlignLoss, factor: f64) {
    let c = model_config();
    let start = Weights::init(&c, 3).unwrap();
    let data = Clusters::new(&c, c.decoder.dim, [64, 16, 16]);
    let dir = tempfile::tempdir().unwrap();
    let config = recipe(loss, 25);
    let report = align::<Train>(
        &config,
        &start,
        &data,
        &run(dir.path()),
        &Default::default(),
    )
    .unwrap();
    let before = held_out(&start, &config, &data);
    let trained = Weights::load(&dir.path().join("best")).unwrap();
    let after = held_out(&trained, &config, &data);
    eprintln!("{loss:?}: held-out distance {before:.4} -> {after:.4}, {report:?}");
    assert!(
        after * factor < before,
        "{loss:?}: held-out distance {before} -> {after}, expected a {factor}x drop"
    );
    // The captioner's decoder is not trained by alignment: byte-identical.
    for (name, array) in start.tensors() {
        if name.starts_with("dec.") {
            assert_eq!(
                trained.tensors()[name].data,
                array.data,
                "{name} changed during alignment"
            );
        }
    }
    let log = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let steps = log.lines().filter(|l| l.contains("\"step\"")).count();
    assert_eq!(steps, report.steps, "one log line per step");
}

#[test]
fn mmd_alignment_pulls_held_out_audio_tokens_to_their_image_tokens() {
    aligns_with(AlignLoss::Mmd, 3.0);
}

#[test]
fn ot_alignment_pulls_held_out_audio_tokens_to_their_image_tokens() {
    aligns_with(AlignLoss::Ot, 8.0);
}

#[test]
fn a_resumed_run_ends_with_the_same_weights_bitwise() {
    let c = model_config();
    let start = Weights::init(&c, 4).unwrap();
    let data = Clusters::new(&c, c.decoder.dim, [32, 8, 8]);
    let mut config = recipe(AlignLoss::OtAtt, 3);
    config.solver = SolverConfig::Sinkhorn {
        epsilon: 0.05,
        iterations: 50,
    };
    let whole = tempfile::tempdir().unwrap();
    align::<Train>(
        &config,
        &start,
        &data,
        &run(whole.path()),
        &Default::default(),
    )
    .unwrap();

    let parts = tempfile::tempdir().unwrap();
    let first = align::<Train>(
        &config,
        &start,
        &data,
        &Run {
            stop_after: Some(6),
            ..run(parts.path())
        },
        &Default::default(),
    )
    .unwrap();
    assert!(first.stopped && first.steps == 6, "{first:?}");
    let second = align::<Train>(
        &config,
        &start,
        &data,
        &Run {
            resume: true,
            ..run(parts.path())
        },
        &Default::default(),
    )
    .unwrap();
    assert_eq!(second.steps, 12);
    let read = |d: &Path| std::fs::read(d.join("last/weights.safetensors")).unwrap();
    assert!(
        read(whole.path()) == read(parts.path()),
        "stopping at step 6 and resuming changed the final weights"
    );
}

#[test]
fn bad_recipes_and_mismatched_runs_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("align.json");
    let mut json = serde_json::to_value(recipe(AlignLoss::Mmd, 1)).unwrap();
    json["loss"] = "wasserstein".into();
    std::fs::write(&path, json.to_string()).unwrap();
    let err = format!("{:#}", AlignConfig::read(&path).unwrap_err());
    assert!(
        err.contains("align.json") && err.contains("wasserstein") && err.contains("ot-att"),
        "{err}"
    );

    let c = model_config();
    let start = Weights::init(&c, 3).unwrap();
    let config = recipe(AlignLoss::Mmd, 1);
    let wrong = Clusters::new(&c, c.decoder.dim + 8, [16, 8, 8]);
    let out = dir.path().join("run");
    let err = format!(
        "{:#}",
        align::<Train>(&config, &start, &wrong, &run(&out), &Default::default()).unwrap_err()
    );
    assert!(err.contains("decoder.dim") && err.contains("40"), "{err}");

    let data = Clusters::new(&c, c.decoder.dim, [16, 8, 8]);
    align::<Train>(&config, &start, &data, &run(&out), &Default::default()).unwrap();
    let err = format!(
        "{:#}",
        align::<Train>(&config, &start, &data, &run(&out), &Default::default()).unwrap_err()
    );
    assert!(err.contains("already holds a training run"), "{err}");
    let mut other = config.clone();
    other.optim.lr = 1e-3;
    let resume = Run {
        resume: true,
        ..run(&out)
    };
    let err = format!(
        "{:#}",
        align::<Train>(&other, &start, &data, &resume, &Default::default()).unwrap_err()
    );
    assert!(err.contains("another config"), "{err}");
}
