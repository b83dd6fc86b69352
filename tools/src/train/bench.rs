//! Step time and throughput of every stage at a model size, on generated data (seeded), on
//! one device: what `earsight-tools bench-train` prints and `tools/bench/train-device.sh`
//! compares between the CPU and a GPU. The first step's loss is reported too: the same data
//! and weights must give the same loss on every device, up to float rounding. Step times leave
//! out the first `warmup` steps, in which a GPU compiles and tunes its kernels (what the first
//! steps cost on a GPU: `tools/README.md`).

use std::collections::BTreeMap;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use earsight::bundle::SpecialTokens;
use earsight::ModelConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use super::align::{align, AlignConfig, AlignLoss, AttentiveConfig, Pair, Pairs, SolverConfig};
use super::captioner::{train_captioner, CaptionedImage, CaptionedImages, CaptionerConfig};
use super::distill::{distill, DistillConfig, Labelled, MelWindows};
use super::pipeline::Pictures;
use super::prefix::{train_prefix, PrefixConfig};
use super::{Optim, Report, Run};
use crate::data::Split;
use crate::model::image::{ImageConfig, ImageWeights};
use crate::model::weights::Weights;

/// One stage's measurement.
#[derive(Clone, Debug, Serialize)]
pub struct StageBench {
    pub stage: String,
    /// Steps timed, after the warm-up steps.
    pub steps: usize,
    pub warmup: usize,
    pub batch_size: usize,
    pub mean_step_ms: f64,
    pub examples_per_s: f64,
    pub first_loss: f64,
}

/// Seeded noise in the shapes the stages read.
struct Generated {
    model: ModelConfig,
    image: ImageConfig,
    counts: BTreeMap<Split, usize>,
}

impl Generated {
    fn rng(split: Split, index: usize, salt: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(salt ^ ((split as u64) << 32) ^ index as u64)
    }

    fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        let d = Normal::new(0.0f32, 1.0).expect("a normal");
        (0..n).map(|_| d.sample(rng)).collect()
    }

    fn ids(&self, rng: &mut ChaCha8Rng) -> Vec<u32> {
        // 12 ids past the special tokens: a caption of typical length.
        (0..12)
            .map(|_| rng.random_range(4..self.model.decoder.vocab_size as u32))
            .collect()
    }
}

impl Pairs for Generated {
    fn len(&self, split: Split) -> usize {
        self.counts[&split]
    }

    fn image_shape(&self) -> (usize, usize) {
        (self.image.n_tokens(), self.image.out_dim)
    }

    fn pair(&self, split: Split, index: usize) -> Result<Pair> {
        let mut rng = Generated::rng(split, index, 1);
        let f = &self.model.frontend;
        Ok(Pair {
            mel: Generated::normal(&mut rng, f.clip_frames * f.n_mels),
            image: Generated::normal(&mut rng, self.image.n_tokens() * self.image.out_dim),
        })
    }
}

impl CaptionedImages for Generated {
    fn len(&self, split: Split) -> usize {
        self.counts[&split]
    }

    fn item(&self, split: Split, index: usize) -> Result<CaptionedImage> {
        let mut rng = Generated::rng(split, index, 2);
        let size = self.image.image_size;
        let pixels = (0..size * size * 3).map(|_| rng.random::<f32>()).collect();
        Ok(CaptionedImage {
            pixels,
            ids: self.ids(&mut rng),
        })
    }
}

impl MelWindows for Generated {
    fn mel(&self, split: Split, index: usize) -> Result<Vec<f32>> {
        Ok(self.pair(split, index)?.mel)
    }
}

fn optim(batch_size: usize) -> Optim {
    Optim {
        seed: 1,
        epochs: 1,
        batch_size,
        lr: 1e-4,
        betas: [0.9, 0.999],
        weight_decay: 0.0,
        halve_lr_at: vec![],
    }
}

/// From a bench run's metrics log: the first step's loss, and the mean time in seconds of
/// the steps after `warmup`.
fn first_loss_and_step_time(
    run: &std::path::Path,
    warmup: usize,
    batch_size: usize,
) -> Result<(f64, f64)> {
    let log = std::fs::read_to_string(run.join("metrics.jsonl"))?;
    let (mut first_loss, mut seconds) = (f64::NAN, Vec::new());
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let Some(step) = v["step"].as_u64() else {
            continue;
        };
        if step == 1 {
            first_loss = v["loss"].as_f64().unwrap_or(f64::NAN);
        }
        if step as usize > warmup {
            // The log gives each step's own examples/s.
            seconds.push(batch_size as f64 / v["examples_per_s"].as_f64().unwrap_or(f64::NAN));
        }
    }
    let mean = seconds.iter().sum::<f64>() / seconds.len() as f64;
    Ok((first_loss, mean))
}

/// Runs `warmup` untimed steps then `steps` timed steps of every stage at `model` / `image`
/// size with batches of `batch_size` (alignment with `loss`, its transport solved by Sinkhorn,
/// as on a GPU it would be).
pub fn bench<B: AutodiffBackend>(
    model: &ModelConfig,
    image: &ImageConfig,
    batch_size: usize,
    (warmup, steps): (usize, usize),
    loss: AlignLoss,
    device: &B::Device,
) -> Result<Vec<StageBench>> {
    anyhow::ensure!(steps > 0, "bench: no steps to time");
    let weights = Weights::init(model, 1)?;
    let image_weights = ImageWeights::init(image, 2)?;
    let n = batch_size * (warmup + steps);
    let data = Generated {
        model: model.clone(),
        image: image.clone(),
        counts: [
            (Split::Train, n),
            (Split::Val, batch_size),
            (Split::Test, 0),
        ]
        .into_iter()
        .collect(),
    };
    let special = SpecialTokens {
        pad: 0,
        unk: 1,
        bos: 2,
        eos: 3,
    };
    let scratch = tempfile::tempdir()?;
    let tmp = scratch.path();
    let mut out = Vec::new();
    // Runs one stage in its own directory under `tmp` and reads its step times back from there.
    let mut bench_stage = |stage: &str, train: &dyn Fn(&Run) -> Result<Report>| -> Result<()> {
        let dir = tmp.join(stage);
        let report = train(&Run::new(&dir))?;
        anyhow::ensure!(
            report.steps == warmup + steps,
            "bench {stage}: ran {} steps, not {}",
            report.steps,
            warmup + steps
        );
        let (first_loss, seconds) = first_loss_and_step_time(&dir, warmup, batch_size)?;
        out.push(StageBench {
            stage: stage.into(),
            steps,
            warmup,
            batch_size,
            mean_step_ms: seconds * 1e3,
            examples_per_s: batch_size as f64 / seconds,
            first_loss,
        });
        Ok(())
    };
    let captioner = CaptionerConfig {
        optim: optim(batch_size),
        picture_variants: 1,
        picture_scenes: 0,
    };
    let prefix = PrefixConfig {
        optim: optim(batch_size),
        n_prefix: 16,
        init_std: 1e-4,
        decoder: false,
    };
    let recipe = AlignConfig {
        loss,
        optim: optim(batch_size),
        solver: SolverConfig::Sinkhorn {
            epsilon: 0.05,
            iterations: 50,
        },
        attentive: Some(AttentiveConfig {
            heads: 4,
            temperature: 20.0,
            lr: 1e-4,
            entropy_weights: vec![100.0],
        }),
        augment: Default::default(),
    };
    let captions = [Split::Train, Split::Val]
        .into_iter()
        .map(|split| {
            let ids = (0..data.counts[&split])
                .map(|i| data.ids(&mut Generated::rng(split, i, 3)))
                .collect();
            (split, ids)
        })
        .collect();
    let labelled = Labelled {
        clips: &data,
        captions,
    };
    let distill_recipe = DistillConfig {
        optim: optim(batch_size),
        backbone: false,
        decoder: false,
        augment: Default::default(),
    };
    let pictures = Pictures::new(&weights, &image_weights, &data, &special);
    bench_stage("captioner", &|run| {
        pictures.train(train_captioner::<B>, &captioner, run, device)
    })?;
    bench_stage("prefix", &|run| {
        pictures.train(train_prefix::<B>, &prefix, run, device)
    })?;
    bench_stage("align", &|run| {
        align::<B>(&recipe, &weights, &data, run, device)
    })?;
    bench_stage("distill", &|run| {
        distill::<B>(&distill_recipe, &weights, &labelled, &special, run, device)
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_time_leaves_out_the_warm_up_steps() {
        let dir = tempfile::tempdir().unwrap();
        // Batches of 8: 2 s, then 100 ms and 300 ms a step; a validation line between.
        let log = [
            r#"{"epoch":0,"val_loss":9.0}"#,
            r#"{"step":1,"loss":8.5,"examples_per_s":4.0}"#,
            r#"{"step":2,"loss":8.0,"examples_per_s":80.0}"#,
            r#"{"step":3,"loss":7.5,"examples_per_s":26.666666666666668}"#,
            r#"{"epoch":1,"val_loss":7.0}"#,
        ];
        std::fs::write(dir.path().join("metrics.jsonl"), log.join("\n")).unwrap();
        let (first, seconds) = first_loss_and_step_time(dir.path(), 1, 8).unwrap();
        assert_eq!(first, 8.5);
        assert!((seconds - 0.2).abs() < 1e-9, "{seconds}");
        let (_, all) = first_loss_and_step_time(dir.path(), 0, 8).unwrap();
        assert!((all - 0.8).abs() < 1e-9, "{all}");
    }
}
