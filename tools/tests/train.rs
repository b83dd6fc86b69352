//! The training stages on generated data whose answer is known.
//!
//! - Pairs: image tokens drawn around sub-centres of one cluster per class, and mel windows
//!   whose harmonic comb says the class (an aligned encoder must put out tokens distributed
//!   like its class's image tokens).
//! - Pictures: a block of the class's own colour in its own quadrant, captioned with the
//!   class's words; what is heard is said with other words than what is seen.

use std::collections::BTreeMap;
use std::path::Path;

use burn::backend::{Autodiff, NdArray};
use burn::prelude::*;
use burn::tensor::TensorData;
use earsight::bundle::SpecialTokens;
use earsight::ModelConfig;
use earsight_tools::data::Split;
use earsight_tools::model::image::{ImageConfig, ImageWeights};
use earsight_tools::model::weights::{read_config, Weights};
use earsight_tools::train::align::{
    align, validate, AlignConfig, AlignLoss, AttentiveConfig, Pair, Pairs, SolverConfig,
};
use earsight_tools::train::augment::Augment;
use earsight_tools::train::captioner::{
    train_captioner, CaptionedImage, CaptionedImages, CaptionerConfig, ImageCaptioner,
};
use earsight_tools::train::distill::{
    distill, pseudo_label, DistillConfig, Inputs, Labelled, MelWindows,
};
use earsight_tools::train::prefix::{train_prefix, PrefixConfig};
use earsight_tools::train::{Optim, Recipe, Report, Run};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

mod common;

use common::assert_contains;

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

impl MelWindows for Clusters {
    fn mel(&self, split: Split, index: usize) -> anyhow::Result<Vec<f32>> {
        Ok(self.pair(split, index)?.mel)
    }
}

/// Adam at betas 0.9/0.999, no weight decay, batches of 8, a constant rate.
fn optim(seed: u64, epochs: usize, lr: f64) -> Optim {
    Optim {
        seed,
        epochs,
        batch_size: 8,
        lr,
        betas: [0.9, 0.999],
        weight_decay: 0.0,
        halve_lr_at: vec![],
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
            halve_lr_at: vec![epochs * 3 / 4],
            ..optim(5, epochs, 1e-2)
        },
        solver: SolverConfig::Exact,
        attentive: Some(AttentiveConfig {
            heads: 2,
            temperature: 1.0,
            lr: 1e-3,
            entropy_weights: vec![0.0, 0.05],
        }),
        augment: Default::default(),
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
        &Run::new(dir.path()),
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

/// A recipe from the seed-4 start on 32 training pairs, and its uninterrupted run: what a stopped
/// and resumed run must end as.
struct Resumable {
    config: AlignConfig,
    start: Weights,
    data: Clusters,
    whole: tempfile::TempDir,
}

impl Resumable {
    fn new(config: AlignConfig) -> Resumable {
        let c = model_config();
        let start = Weights::init(&c, 4).unwrap();
        let data = Clusters::new(&c, c.decoder.dim, [32, 8, 8]);
        let whole = tempfile::tempdir().unwrap();
        let run = Run::new(whole.path());
        align::<Train>(&config, &start, &data, &run, &Default::default()).unwrap();
        Resumable {
            config,
            start,
            data,
            whole,
        }
    }

    /// Resumes the stopped run in `parts` to its end, which must be the whole run's, bitwise.
    fn resume_to_the_end(&self, parts: &Path) {
        let resume = Run {
            resume: true,
            ..Run::new(parts)
        };
        let report = align::<Train>(
            &self.config,
            &self.start,
            &self.data,
            &resume,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(report.steps, 12);
        let read = |d: &Path| std::fs::read(d.join("last/weights.safetensors")).unwrap();
        assert!(
            read(self.whole.path()) == read(parts),
            "stopping and resuming changed the final weights"
        );
    }
}

#[test]
fn a_resumed_run_ends_with_the_same_weights_bitwise() {
    let mut config = recipe(AlignLoss::OtAtt, 3);
    config.solver = SolverConfig::Sinkhorn {
        epsilon: 0.05,
        iterations: 50,
    };
    let r = Resumable::new(config);

    let parts = tempfile::tempdir().unwrap();
    let first = align::<Train>(
        &r.config,
        &r.start,
        &r.data,
        &Run {
            stop_after: Some(6),
            ..Run::new(parts.path())
        },
        &Default::default(),
    )
    .unwrap();
    assert!(first.stopped && first.steps == 6, "{first:?}");
    r.resume_to_the_end(parts.path());
}

/// Clusters whose training pairs give out after `left` of them: a run killed mid-epoch.
struct Killed<'a> {
    data: &'a Clusters,
    left: std::sync::atomic::AtomicUsize,
}

impl Pairs for Killed<'_> {
    fn len(&self, split: Split) -> usize {
        self.data.len(split)
    }

    fn image_shape(&self) -> (usize, usize) {
        self.data.image_shape()
    }

    fn pair(&self, split: Split, index: usize) -> anyhow::Result<Pair> {
        use std::sync::atomic::Ordering;
        if split == Split::Train && self.left.fetch_sub(1, Ordering::SeqCst) == 0 {
            anyhow::bail!("killed");
        }
        self.data.pair(split, index)
    }
}

#[test]
fn a_run_killed_mid_epoch_resumes_from_its_timed_checkpoint_with_the_same_weights_and_log() {
    let mut config = recipe(AlignLoss::Mmd, 3);
    config.optim.halve_lr_at = vec![];
    let r = Resumable::new(config);

    // 4 steps of 8 pairs an epoch: the 7th step (the 3rd of epoch 2) dies, after a checkpoint
    // at every step since none is older than zero seconds.
    let parts = tempfile::tempdir().unwrap();
    let killed = Killed {
        data: &r.data,
        left: (6 * 8).into(),
    };
    let every_step = Run {
        checkpoint_every: Some(std::time::Duration::ZERO),
        ..Run::new(parts.path())
    };
    let err = align::<Train>(
        &r.config,
        &r.start,
        &killed,
        &every_step,
        &Default::default(),
    );
    assert!(format!("{:#}", err.unwrap_err()).contains("killed"));
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(parts.path().join("last/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (state["step"].as_u64(), state["epoch"].as_u64()),
        (Some(6), Some(1))
    );

    r.resume_to_the_end(parts.path());
    // The same lines in the same order; only the measured speeds differ.
    let lines = |d: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("examples_per_s");
                v
            })
            .collect()
    };
    assert_eq!(lines(r.whole.path()), lines(parts.path()));
}

#[test]
fn bad_recipes_and_mismatched_runs_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("align.json");
    let mut json = serde_json::to_value(recipe(AlignLoss::Mmd, 1)).unwrap();
    json["loss"] = "wasserstein".into();
    std::fs::write(&path, json.to_string()).unwrap();
    let err = format!("{:#}", AlignConfig::read(&path).unwrap_err());
    assert_contains(&err, &["align.json", "wasserstein", "ot-att"]);

    let c = model_config();
    let start = Weights::init(&c, 3).unwrap();
    let config = recipe(AlignLoss::Mmd, 1);
    let wrong = Clusters::new(&c, c.decoder.dim + 8, [16, 8, 8]);
    let out = dir.path().join("run");
    let err = format!(
        "{:#}",
        align::<Train>(
            &config,
            &start,
            &wrong,
            &Run::new(&out),
            &Default::default()
        )
        .unwrap_err()
    );
    assert!(err.contains("decoder.dim") && err.contains("40"), "{err}");

    let data = Clusters::new(&c, c.decoder.dim, [16, 8, 8]);
    align::<Train>(&config, &start, &data, &Run::new(&out), &Default::default()).unwrap();
    let err = format!(
        "{:#}",
        align::<Train>(&config, &start, &data, &Run::new(&out), &Default::default()).unwrap_err()
    );
    assert!(err.contains("already holds a training run"), "{err}");
    let mut other = config.clone();
    other.optim.lr = 1e-3;
    let resume = Run {
        resume: true,
        ..Run::new(&out)
    };
    let err = format!(
        "{:#}",
        align::<Train>(&other, &start, &data, &resume, &Default::default()).unwrap_err()
    );
    assert!(err.contains("another config"), "{err}");
}

const SPECIAL: SpecialTokens = SpecialTokens {
    pad: 0,
    unk: 1,
    bos: 2,
    eos: 3,
};
const SIZE: usize = 16;
/// The block's colour per class.
const COLOURS: [[f32; 3]; 4] = [
    [0.9, 0.1, 0.1],
    [0.1, 0.9, 0.1],
    [0.1, 0.1, 0.9],
    [0.9, 0.9, 0.1],
];

/// The two phrasings of class `k`: its noun, a verb, its place word (and sometimes a coda).
fn phrasings(class: usize) -> [Vec<u32>; 2] {
    let k = class as u32;
    [vec![10 + k, 20, 30 + k], vec![10 + k, 21, 30 + k, 40]]
}

/// What is heard from class `k`: its noun, a sound verb, a sound word.
fn heard(class: usize) -> Vec<u32> {
    let k = class as u32;
    vec![10 + k, 22, 50 + k]
}

struct Quadrants {
    counts: [usize; 3],
    /// Captioned with what is heard instead of what is seen.
    heard: bool,
}

fn picture(split: Split, index: usize) -> Vec<f32> {
    let class = index % 4;
    let mut rng = ChaCha8Rng::seed_from_u64((split_index(split) * 100_000 + index) as u64);
    let noise = Normal::new(0.0f32, 0.1).unwrap();
    let (qy, qx) = (class / 2, class % 2);
    let mut pixels = Vec::with_capacity(SIZE * SIZE * 3);
    for y in 0..SIZE {
        for x in 0..SIZE {
            let inside = y / (SIZE / 2) == qy && x / (SIZE / 2) == qx;
            for channel in COLOURS[class] {
                pixels.push(if inside { channel } else { 0.2 } + noise.sample(&mut rng));
            }
        }
    }
    pixels
}

impl CaptionedImages for Quadrants {
    fn len(&self, split: Split) -> usize {
        self.counts[split_index(split)]
    }

    fn item(&self, split: Split, index: usize) -> anyhow::Result<CaptionedImage> {
        let ids = if self.heard {
            heard(index % 4)
        } else {
            phrasings(index % 4)[(index / 4) % 2].clone()
        };
        Ok(CaptionedImage {
            pixels: picture(split, index),
            ids,
        })
    }
}

fn image_config(out_dim: usize) -> ImageConfig {
    ImageConfig {
        image_size: SIZE,
        patch: 4,
        dim: 32,
        depth: 1,
        heads: 2,
        mlp_ratio: 2,
        out_dim,
        cls_token: false,
        project: true,
    }
}

fn captioner_recipe(epochs: usize) -> CaptionerConfig {
    CaptionerConfig {
        optim: optim(9, epochs, 3e-3),
        picture_variants: 1,
        picture_scenes: 0,
    }
}

/// Stage 0 with [`captioner_recipe`] for `epochs`, from `start` and `image` on `data`, into `dir`.
fn captioner_stage(
    epochs: usize,
    start: &Weights,
    image: &ImageWeights,
    data: &Quadrants,
    dir: &Path,
) -> anyhow::Result<Report> {
    train_captioner::<Train>(
        &captioner_recipe(epochs),
        start,
        image,
        data,
        &SPECIAL,
        &Run::new(dir),
        &Default::default(),
    )
}

/// The best validation loss of `report`, the `what` of a stage, is below its first by `factor`.
#[track_caller]
fn assert_val_loss_drops(report: &Report, factor: f64, what: &str) {
    eprintln!("{what}: {report:?}");
    let (first, best) = (report.val_losses[0], report.val_losses[report.best_epoch]);
    assert!(
        best * factor < first,
        "{what} {first} -> {best}, expected a {factor}x drop"
    );
}

/// Stage 0's start: the seed-1 captioner, and a seed-2 image encoder whose tokens have `wider`
/// values more than the decoder's.
fn stage0_start(wider: usize) -> (Weights, ImageWeights) {
    let c = model_config();
    let image = ImageWeights::init(&image_config(c.decoder.dim + wider), 2).unwrap();
    (Weights::init(&c, 1).unwrap(), image)
}

/// 64 training, 16 validation and 16 test pictures, captioned with what is seen.
const SEEN: Quadrants = Quadrants {
    counts: [64, 16, 16],
    heard: false,
};

#[test]
fn the_captioner_learns_to_say_what_is_in_the_picture() {
    let (start, image) = stage0_start(0);
    let data = SEEN;
    let dir = tempfile::tempdir().unwrap();
    let report = captioner_stage(15, &start, &image, &data, dir.path()).unwrap();
    assert_val_loss_drops(&report, 10.0, "validation cross-entropy");

    let best_dir = dir.path().join("best");
    let weights = Weights::load(&best_dir).unwrap();
    let trained_image = ImageWeights::load(&best_dir).unwrap();
    // Stage 0 trains the captioner only: the audio encoder is untouched.
    for (name, array) in start.tensors() {
        if name.starts_with("enc.") || name.starts_with("proj.") {
            assert_eq!(weights.tensors()[name].data, array.data, "{name} changed");
        }
    }

    let device = Default::default();
    let model = ImageCaptioner::<NdArray<f32>>::new(&trained_image, &weights, &device);
    let n = data.len(Split::Test);
    let pixels: Vec<f32> = (0..n).flat_map(|i| picture(Split::Test, i)).collect();
    let pixels = Tensor::from_data(TensorData::new(pixels, [n, SIZE, SIZE, 3]), &device);
    let captions = model.caption(pixels, &trained_image.config, &start.config, &SPECIAL, 8);
    let right = captions
        .iter()
        .enumerate()
        .filter(|(i, ids)| phrasings(i % 4).contains(ids))
        .count();
    assert!(
        right * 10 >= n * 9,
        "{right} of {n} held-out pictures captioned with one of their phrasings: {captions:?}"
    );
}

#[test]
fn mismatched_token_spaces_are_refused_by_name() {
    let (start, image) = stage0_start(8);
    let dir = tempfile::tempdir().unwrap();
    let data = Quadrants {
        counts: [8, 4, 4],
        heard: false,
    };
    let err = captioner_stage(1, &start, &image, &data, dir.path()).unwrap_err();
    assert_contains(&format!("{err:#}"), &["image.out_dim", "decoder.dim"]);
}

/// A captioner trained briefly on what is seen, in `dir/best`.
fn seeing_captioner(dir: &Path) -> (Weights, ImageWeights) {
    let (start, image) = stage0_start(0);
    captioner_stage(6, &start, &image, &SEEN, dir).unwrap();
    let best = dir.join("best");
    (
        Weights::load(&best).unwrap(),
        ImageWeights::load(&best).unwrap(),
    )
}

fn image_only_captions(weights: &Weights, image: &ImageWeights) -> Vec<Vec<u32>> {
    let device = Default::default();
    let model = ImageCaptioner::<NdArray<f32>>::new(image, weights, &device);
    let pixels: Vec<f32> = (0..8).flat_map(|i| picture(Split::Test, i)).collect();
    let pixels = Tensor::from_data(TensorData::new(pixels, [8, SIZE, SIZE, 3]), &device);
    model.caption(pixels, &image.config, &weights.config, &SPECIAL, 8)
}

/// Stage 1a from `captioner` and `image` into `out`: 4 vectors (and the decoder, with
/// `decoder`) learnt at `lr` from the paper's handful, 16 pictures captioned with what is heard.
fn prefix_stage(
    captioner: &Weights,
    image: &ImageWeights,
    decoder: bool,
    lr: f64,
    out: &Path,
) -> Report {
    let config = PrefixConfig {
        optim: optim(3, 50, lr),
        n_prefix: 4,
        init_std: 1e-2,
        decoder,
    };
    let data = Quadrants {
        counts: [16, 8, 8],
        heard: true,
    };
    train_prefix::<Train>(
        &config,
        captioner,
        image,
        &data,
        &SPECIAL,
        &Run::new(out),
        &Default::default(),
    )
    .unwrap()
}

#[test]
fn prefix_tuning_lowers_caption_loss_and_leaves_the_captioner_as_it_was() {
    let work = tempfile::tempdir().unwrap();
    let (captioner, image) = seeing_captioner(&work.path().join("captioner"));
    let before = image_only_captions(&captioner, &image);
    let out = work.path().join("prefix");
    let report = prefix_stage(&captioner, &image, false, 1e-1, &out);
    assert_val_loss_drops(&report, 2.0, "held-out caption loss");
    let tuned = Weights::load(&out.join("best")).unwrap();
    assert_eq!(tuned.config.encoder.n_prefix, 4);
    for (name, array) in captioner.tensors() {
        assert_eq!(
            &tuned.tensors()[name],
            array,
            "{name} changed in prefix tuning"
        );
    }
    let tuned_image = ImageWeights::load(&out.join("best")).unwrap();
    assert_eq!(tuned_image.tensors(), image.tensors());
    assert_eq!(
        image_only_captions(&tuned, &tuned_image),
        before,
        "image-only captioning changed"
    );
}

#[test]
fn tuning_the_decoder_with_the_prefix_teaches_it_words_no_picture_caption_had() {
    let work = tempfile::tempdir().unwrap();
    let (captioner, image) = seeing_captioner(&work.path().join("captioner"));
    // What is heard has a verb and a word that stage 0 never wrote.
    let (alone_dir, tuned_dir) = (work.path().join("alone"), work.path().join("tuned"));
    let alone = prefix_stage(&captioner, &image, false, 1e-1, &alone_dir);
    let tuned = prefix_stage(&captioner, &image, true, 1e-2, &tuned_dir);
    let best = tuned_dir.join("best");
    let best_loss = |r: &Report| r.val_losses[r.best_epoch];
    assert!(
        best_loss(&tuned) * 50.0 < best_loss(&alone),
        "held-out caption loss: prefix alone {alone:?}, with the decoder {tuned:?}"
    );
    let weights = Weights::load(&best).unwrap();
    for (name, array) in captioner.tensors() {
        let same = &weights.tensors()[name] == array;
        assert_eq!(same, !name.starts_with("dec."), "{name}");
    }
    assert_eq!(
        ImageWeights::load(&best).unwrap().tensors(),
        image.tensors()
    );
}

#[test]
fn captions_of_the_picture_alone_ignore_the_audio_side() {
    let c = model_config();
    let start = Weights::init(&c, 6).unwrap();
    let other = Weights::init(&c, 7).unwrap();
    // The decoder of seed 6 with the audio encoder of seed 7.
    let tensors = start
        .tensors()
        .iter()
        .map(|(name, array)| {
            let array = if name.starts_with("enc.") {
                other.get(name).clone()
            } else {
                array.clone()
            };
            (name.clone(), array)
        })
        .collect();
    let swapped = Weights::from_tensors(&c, tensors).unwrap();
    assert!(start.tensors().keys().any(|n| n.starts_with("enc.")));
    let pairs = Clusters::new(&c, c.decoder.dim, [32, 8, 8]);
    let caption = |weights: &Weights, inputs| val_pseudo_labels(weights, &pairs, 6, inputs);
    let pictured = caption(&start, Inputs::Picture);
    assert_eq!(pictured.len(), 8);
    assert_eq!(pictured, caption(&swapped, Inputs::Picture));
    // With the audio tokens in the memory, the audio side is read.
    assert_ne!(
        caption(&start, Inputs::PictureAndAudio),
        caption(&swapped, Inputs::PictureAndAudio)
    );
}

/// The pseudo-labels of the validation clips of `pairs`, of at most `max_tokens`, in batches of 4.
fn val_pseudo_labels(
    weights: &Weights,
    pairs: &Clusters,
    max_tokens: usize,
    inputs: Inputs,
) -> Vec<Vec<u32>> {
    pseudo_label::<NdArray<f32>>(
        weights,
        pairs,
        Split::Val,
        &SPECIAL,
        max_tokens,
        4,
        inputs,
        &Default::default(),
    )
    .unwrap()
}

/// Distils `start` on captions that say each clip's class, from audio alone, with `train` and
/// `val` clips: the report and the best checkpoint.
fn distil_on_class_captions(
    start: &Weights,
    pairs: &Clusters,
    (train, val): (usize, usize),
    config: &DistillConfig,
) -> (Report, Weights) {
    let captions: BTreeMap<Split, Vec<Vec<u32>>> = [(Split::Train, train), (Split::Val, val)]
        .into_iter()
        .map(|(split, n)| (split, (0..n).map(|i| heard(i % 4)).collect()))
        .collect();
    let data = Labelled {
        clips: pairs,
        captions,
    };
    let dir = tempfile::tempdir().unwrap();
    let report = distill::<Train>(
        config,
        start,
        &data,
        &SPECIAL,
        &Run::new(dir.path()),
        &Default::default(),
    )
    .unwrap();
    (report, Weights::load(&dir.path().join("best")).unwrap())
}

#[test]
fn distillation_trains_the_projector_alone_to_caption_from_audio() {
    let c = model_config();
    let start = Weights::init(&c, 6).unwrap();
    let pairs = Clusters::new(&c, c.decoder.dim, [32, 8, 8]);
    // Pseudo-labels are what the captioner says; they are reproducible and bounded.
    let pseudo = val_pseudo_labels(&start, &pairs, 5, Inputs::PictureAndAudio);
    assert_eq!(pseudo.len(), 8);
    assert!(pseudo.iter().all(|p| p.len() <= 5), "{pseudo:?}");
    let again = val_pseudo_labels(&start, &pairs, 5, Inputs::PictureAndAudio);
    assert_eq!(pseudo, again);

    let config = DistillConfig {
        optim: optim(4, 30, 3e-2),
        backbone: false,
        decoder: false,
        augment: Default::default(),
    };
    let (report, trained) = distil_on_class_captions(&start, &pairs, (32, 8), &config);
    assert_val_loss_drops(&report, 2.0, "audio-only caption loss");
    assert_only_these_changed(&start, &trained, &["proj."]);
}

#[test]
fn distillation_augments_the_train_clips_and_leaves_validation_alone() {
    let c = model_config();
    let start = Weights::init(&c, 7).unwrap();
    let pairs = Clusters::new(&c, c.decoder.dim, [16, 4, 4]);
    let plain = DistillConfig {
        optim: optim(4, 1, 3e-3),
        backbone: false,
        decoder: false,
        augment: Default::default(),
    };
    let augmented = DistillConfig {
        augment: Augment {
            gain_db: 6.0,
            shift: true,
            ..Default::default()
        },
        ..plain.clone()
    };
    let (plain_report, plain_weights) = distil_on_class_captions(&start, &pairs, (16, 4), &plain);
    let (report, weights) = distil_on_class_captions(&start, &pairs, (16, 4), &augmented);
    assert_eq!(report.val_losses[0], plain_report.val_losses[0]);
    assert!(
        weights
            .tensors()
            .iter()
            .any(|(name, a)| name.starts_with("proj.") && &plain_weights.tensors()[name] != a),
        "the augmented run trained the projector as the plain one did"
    );
    // Off, it stays out of the recipe, so that older runs keep matching.
    assert!(!serde_json::to_string(&plain).unwrap().contains("augment"));
}

/// A convolutional backbone stays as it was unless stage 2 is told to train it.
#[test]
fn distillation_keeps_a_convolutional_backbone_frozen_unless_told_to_train_it() {
    let c = model_config().with_conv_backbone(earsight::config::ConvBackboneConfig {
        stem: 4,
        channels: vec![8],
    });
    let start = Weights::init(&c, 7).unwrap();
    let pairs = Clusters::new(&c, c.decoder.dim, [16, 4, 4]);
    for (backbone, trains) in [(false, vec!["proj."]), (true, vec!["proj.", "enc.conv."])] {
        let config = DistillConfig {
            optim: optim(4, 2, 3e-3),
            backbone,
            decoder: false,
            augment: Default::default(),
        };
        let (_, trained) = distil_on_class_captions(&start, &pairs, (16, 4), &config);
        assert_only_these_changed(&start, &trained, &trains);
    }
}

/// Every tensor whose name starts with one of `trained_prefixes` changed, and no other.
fn assert_only_these_changed(start: &Weights, trained: &Weights, trained_prefixes: &[&str]) {
    for (name, array) in start.tensors() {
        let changed = &trained.tensors()[name] != array;
        let trains = trained_prefixes.iter().any(|p| name.starts_with(p));
        assert_eq!(changed, trains, "{name}: changed {changed}");
    }
}

#[test]
fn distillation_with_backbone_or_decoder_also_fine_tunes_that_part() {
    let c = model_config();
    let start = Weights::init(&c, 7).unwrap();
    let pairs = Clusters::new(&c, c.decoder.dim, [16, 4, 4]);
    for (backbone, decoder, field, trains) in [
        (true, false, "backbone", ["proj.", "enc."]),
        (false, true, "decoder", ["proj.", "dec."]),
    ] {
        let config = DistillConfig {
            optim: optim(4, 2, 3e-3),
            backbone,
            decoder,
            augment: Default::default(),
        };
        let (_, trained) = distil_on_class_captions(&start, &pairs, (16, 4), &config);
        assert_only_these_changed(&start, &trained, &trains);
        // The field stays out of a recipe that leaves it false, so older runs keep matching.
        let frozen = DistillConfig {
            backbone: false,
            decoder: false,
            ..config
        };
        assert!(!serde_json::to_string(&frozen).unwrap().contains(field));
    }
}
