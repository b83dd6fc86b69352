//! Stage 0 on generated pictures whose captions are known: each class draws a block of its own
//! colour in its own quadrant and is captioned with its own words.

use std::path::Path;

use burn::backend::{Autodiff, NdArray};
use burn::prelude::*;
use burn::tensor::TensorData;
use earsight::bundle::SpecialTokens;
use earsight::ModelConfig;
use earsight_tools::data::Split;
use earsight_tools::image::{ImageConfig, ImageWeights};
use earsight_tools::train::captioner::{
    train_captioner, CaptionedImage, CaptionedImages, CaptionerConfig, ImageCaptioner,
};
use earsight_tools::train::{Optim, Run};
use earsight_tools::weights::{read_config, Weights};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

type Train = Autodiff<NdArray<f32>>;

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

struct Quadrants {
    counts: [usize; 3],
}

fn split_index(split: Split) -> usize {
    match split {
        Split::Train => 0,
        Split::Val => 1,
        Split::Test => 2,
    }
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
        Ok(CaptionedImage {
            pixels: picture(split, index),
            ids: phrasings(index % 4)[(index / 4) % 2].clone(),
        })
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

fn image_config(out_dim: usize) -> ImageConfig {
    ImageConfig {
        image_size: SIZE,
        patch: 4,
        dim: 32,
        depth: 1,
        heads: 2,
        mlp_ratio: 2,
        out_dim,
    }
}

fn recipe(epochs: usize) -> CaptionerConfig {
    CaptionerConfig {
        optim: Optim {
            seed: 9,
            epochs,
            batch_size: 8,
            lr: 3e-3,
            betas: [0.9, 0.999],
            weight_decay: 0.0,
            halve_lr_at: vec![],
        },
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

#[test]
fn the_captioner_learns_to_say_what_is_in_the_picture() {
    let c = model_config();
    let start = Weights::init(&c, 1).unwrap();
    let image = ImageWeights::init(&image_config(c.decoder.dim), 2).unwrap();
    let data = Quadrants {
        counts: [64, 16, 16],
    };
    let dir = tempfile::tempdir().unwrap();
    let report = train_captioner::<Train>(
        &recipe(15),
        &start,
        &image,
        &data,
        &SPECIAL,
        &run(dir.path()),
        &Default::default(),
    )
    .unwrap();
    eprintln!("{report:?}");
    let (first, best) = (report.val_losses[0], report.val_losses[report.best_epoch]);
    assert!(
        best * 10.0 < first,
        "validation cross-entropy {first} -> {best}, expected a 10x drop"
    );

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
    let captions = model.caption(pixels, &trained_image.config, &c, &SPECIAL, 8);
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
    let c = model_config();
    let start = Weights::init(&c, 1).unwrap();
    let image = ImageWeights::init(&image_config(c.decoder.dim + 8), 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = train_captioner::<Train>(
        &recipe(1),
        &start,
        &image,
        &Quadrants { counts: [8, 4, 4] },
        &SPECIAL,
        &run(dir.path()),
        &Default::default(),
    )
    .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("image.out_dim") && err.contains("decoder.dim"),
        "{err}"
    );
}
